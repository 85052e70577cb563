// What `relayguard probe --json` prints must be valid JSON whatever the server said.
#include "probe/probe_report.hpp"
#include "text_output.hpp"

#include <catch2/catch.hpp>

TEST_CASE("JSON strings escape quotes, backslashes and control characters", "[probe]") {
    using relayguard::firmware::json_string;
    CHECK(json_string("plain") == "\"plain\"");
    CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json_string("line\r\nnext\t") == "\"line\\r\\nnext\\t\"");
    CHECK(json_string(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
    CHECK(json_string("\x7f") == "\"\\u007f\"");
}

TEST_CASE("JSON strings keep valid UTF-8 and replace invalid octets", "[probe]") {
    using relayguard::firmware::json_string;
    CHECK(json_string("gr\xc3\xbc\xc3\x9f") == "\"gr\xc3\xbc\xc3\x9f\"");
    CHECK(json_string("bad \xff end") == "\"bad \\ufffd end\"");
    CHECK(json_string("cut \xe2\x82") == "\"cut \\ufffd\\ufffd\"");
    CHECK(json_string("overlong \xc0\xaf") == "\"overlong \\ufffd\\ufffd\"");
}

TEST_CASE("The JSON report has one record per attempt and the exit status", "[probe]") {
    relayguard::firmware::ProbeReport report;
    report.target = "192.0.2.1:25";
    report.exit_status = 1;
    report.checks.push_back({"relay (unauthenticated)", 2, "OPEN RELAY (1 forms)", "250 Ok", true});
    report.attempts.push_back(
        {"relay", "nmap-plain", "nmap", "<a@b.test>", "<c@d.test>", "250 Ok", "250 Ok", "", "", "relayed"});
    report.attempts.push_back({"relay", "nmap-bang-path", "nmap", "<a@b.test>", "<d.test!c>", "250 Ok",
                               "554 5.7.1 \"no\"", "", "", "refused"});
    relayguard::firmware::StringOutput out;
    relayguard::firmware::print_json(report, out);
    const std::string json = out.str();
    CHECK_THAT(json, Catch::Contains("\"exit_status\": 1"));
    CHECK_THAT(json, Catch::Contains("\"result\": \"relay\""));
    CHECK_THAT(json, Catch::Contains("\"rcpt_reply\": \"554 5.7.1 \\\"no\\\"\""));
    std::size_t records = 0;
    for (std::size_t at = json.find("\"check\": "); at != std::string::npos;
         at = json.find("\"check\": ", at + 1)) {
        ++records;
    }
    CHECK(records == 2);
}
