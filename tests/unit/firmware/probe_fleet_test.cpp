// `relayguard probe --targets FILE`: reading the file, and the line printed per target.
#include "probe/probe_fleet.hpp"

#include <catch2/catch.hpp>

using relayguard::firmware::parse_probe_targets;
using relayguard::firmware::ProbeOptions;

TEST_CASE("A targets file lists one server per line, with comments", "[probe][fleet]") {
    ProbeOptions base;
    base.source = "192.0.2.99";
    base.port = 587; // the ports come from the file, 25 when it names none
    std::string error;
    const auto targets = parse_probe_targets("# edge boxes, row 4\n"
                                             "192.0.2.1\n"
                                             "  192.0.2.2:2525   # the test box\r\n"
                                             "\n"
                                             "[2001:db8::3]:25\n"
                                             "2001:db8::4\n"
                                             "mx.example.com:587",
                                             base, error);
    INFO(error);
    REQUIRE(targets);
    REQUIRE(targets->size() == 5);
    CHECK((*targets)[0].host == "192.0.2.1");
    CHECK((*targets)[0].port == 25);
    CHECK((*targets)[1].host == "192.0.2.2");
    CHECK((*targets)[1].port == 2525);
    CHECK((*targets)[2].host == "2001:db8::3");
    CHECK((*targets)[3].host == "2001:db8::4");
    CHECK((*targets)[3].port == 25);
    CHECK((*targets)[4].host == "mx.example.com");
    CHECK((*targets)[4].port == 587);
    for (const ProbeOptions& target : *targets) {
        CHECK(target.source == "192.0.2.99"); // every other option is the command line's
    }
}

TEST_CASE("A targets file that cannot be used says which line", "[probe][fleet]") {
    const ProbeOptions base;
    std::string error;
    CHECK_FALSE(parse_probe_targets("192.0.2.1\n192.0.2.2 192.0.2.3\n", base, error));
    CHECK(error == "line 2: \"192.0.2.2 192.0.2.3\" is not HOST, HOST:PORT or [IPv6]:PORT");
    CHECK_FALSE(parse_probe_targets("192.0.2.1:99999\n", base, error));
    CHECK_THAT(error, Catch::StartsWith("line 1: "));
    CHECK_FALSE(parse_probe_targets("[2001:db8::1\n", base, error));
    CHECK_FALSE(parse_probe_targets("# nothing\n\n", base, error));
    CHECK(error == "no targets (one HOST[:PORT] per line)");
}

TEST_CASE("Each target is one JSON line: result, what got through, what to act on", "[probe][fleet]") {
    relayguard::firmware::ProbeReport report;
    report.target = "192.0.2.1:25";
    report.exit_status = 1;
    report.checks.push_back({"relay (unauthenticated)", 31, "OPEN RELAY (1 forms)", "250 Ok", true});
    report.checks.push_back({"STARTTLS injection", 1, "not vulnerable", "", false});
    report.attempts.push_back(
        {"relay", "nmap-plain", "nmap", "<a@b.test>", "<c@d.test>", "250 Ok", "250 Ok", "", "", "relayed"});
    report.attempts.push_back(
        {"relay", "nmap-percent", "nmap", "<a@b.test>", "<c%d@e>", "250 Ok", "554 no", "", "", "refused"});
    CHECK(relayguard::firmware::json_summary_line(report) ==
          "{\"target\": \"192.0.2.1:25\", \"source\": \"\", \"result\": \"open\", \"relayed\": "
          "[\"nmap-plain\"], "
          "\"findings\": [\"relay (unauthenticated): OPEN RELAY (1 forms)\"], \"failure\": \"\"}\n");
    report.exit_status = 2;
    report.failure = "connect: Connection refused";
    report.attempts.clear();
    report.checks.clear();
    CHECK(relayguard::firmware::json_summary_line(report) ==
          "{\"target\": \"192.0.2.1:25\", \"source\": \"\", \"result\": \"failed\", \"relayed\": [], "
          "\"findings\": [], \"failure\": \"connect: Connection refused\"}\n");
}
