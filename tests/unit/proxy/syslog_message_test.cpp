// RFC 5424 messages for <log server>: the header fields, and the structured data read off each of
// relayguard's decision lines.
#include <relayguard/proxy/syslog_message.hpp>

#include <catch2/catch.hpp>

#include <regex>

using relayguard::proxy::decision_structured_data;

TEST_CASE("A message has RFC 5424's header, the decision's event as MSGID, and the line", "[syslog]") {
    const relayguard::proxy::SyslogHeader header{"mx1.example.com", "relayguard/smtpd", 9352};
    const std::string line =
        "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <v@elsewhere.test>: Relay "
        "access denied; from=<s@example.com> to=<v@elsewhere.test> proto=ESMTP helo=<x>";
    CHECK(
        relayguard::proxy::rfc5424_message(6, "2026-12-03T14:01:22.835+01:00", header, line) ==
        "<22>1 2026-12-03T14:01:22.835+01:00 mx1.example.com relayguard/smtpd 9352 reject [relayguard@32473 "
        "event=\"reject\" command=\"RCPT\" client=\"192.0.2.7\" code=\"554\" status=\"5.7.1\"] " +
            line);
    // Facility mail: 16 + severity. A line that decides nothing has no MSGID and no structured data.
    CHECK(
        relayguard::proxy::rfc5424_message(4, "2026-12-03T14:01:22.835Z", header,
                                           "warning: stress: entering") ==
        "<20>1 2026-12-03T14:01:22.835Z mx1.example.com relayguard/smtpd 9352 - - warning: stress: entering");
    // The level prefix does not hide a decision.
    CHECK_THAT(
        relayguard::proxy::rfc5424_message(4, "t", header,
                                           "warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: "
                                           "authentication failure"),
        Catch::StartsWith("<20>1 t mx1.example.com relayguard/smtpd 9352 auth-failure [relayguard@32473 "
                          "event=\"auth-failure\" client=\"192.0.2.9\" mechanism=\"LOGIN\"] warning: "));
}

TEST_CASE("Each decision line gets its structured data", "[syslog]") {
    CHECK(decision_structured_data(
              "NOQUEUE: reject: MAIL from unknown[2001:db8::7]: 553 5.7.1 <a@b>: Sender "
              "address rejected: not owned by user alice; from=<a@b> proto=ESMTP helo=<x>") ==
          "[relayguard@32473 event=\"reject\" command=\"MAIL\" client=\"2001:db8::7\" code=\"553\" "
          "status=\"5.7.1\"]");
    CHECK(decision_structured_data("reject: connect from unknown[192.0.2.7]: 554 5.7.1 Access denied") ==
          "[relayguard@32473 event=\"connect-reject\" command=\"CONNECT\" client=\"192.0.2.7\" code=\"554\" "
          "status=\"5.7.1\"]");
    CHECK(decision_structured_data("relay: RCPT from unknown[10.1.2.3]: relay allowed: allowlisted network "
                                   "10.0.0.0/8; from=<a@b> to=<c@d> proto=ESMTP helo=<x>") ==
          "[relayguard@32473 event=\"relay\" command=\"RCPT\" client=\"10.1.2.3\" basis=\"network\" "
          "network=\"10.0.0.0/8\"]");
    CHECK(decision_structured_data("relay: RCPT from unknown[203.0.113.9]: relay allowed: authenticated as "
                                   "alice; from=<a@b> to=<c@d> proto=ESMTP helo=<x>") ==
          "[relayguard@32473 event=\"relay\" command=\"RCPT\" client=\"203.0.113.9\" basis=\"auth\" "
          "login=\"alice\"]");
    CHECK(decision_structured_data("relay: RCPT from unknown[10.1.2.3]: relay allowed: allowlisted network "
                                   "10.0.0.0/8 and authenticated as bob; from=<a@b> to=<c@d>") ==
          "[relayguard@32473 event=\"relay\" command=\"RCPT\" client=\"10.1.2.3\" basis=\"network_and_auth\" "
          "network=\"10.0.0.0/8\" login=\"bob\"]");
    CHECK(decision_structured_data("message accepted from unknown[192.0.2.7]: from=<a@b> to=<c@d> size=10") ==
          "[relayguard@32473 event=\"accepted\" client=\"192.0.2.7\"]");
    CHECK(decision_structured_data(
              "Connection rate limit exceeded: 31 from unknown[192.0.2.7] for service smtp") ==
          "[relayguard@32473 event=\"rate-limit\" client=\"192.0.2.7\"]");
    // A 4xx reply without an enhanced code keeps its code alone.
    CHECK(decision_structured_data("NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 try later; from=<>") ==
          "[relayguard@32473 event=\"reject\" command=\"RCPT\" client=\"192.0.2.7\" code=\"450\"]");
}

TEST_CASE("Lines that decide nothing, or only look like it, get no structured data", "[syslog]") {
    for (const char* line : {"connect from unknown[192.0.2.7]", "boot: serving", "",
                             "NOQUEUE: reject: RCPT from 192.0.2.7: 554", "relay: RCPT from unknown[x",
                             "unknown[192.0.2.7]: authenticated: sasl_method=PLAIN, sasl_username=alice",
                             "reject: connect from unknown[]: 554 5.7.1 Access denied"}) {
        CAPTURE(line);
        CHECK(decision_structured_data(line) == "-");
    }
}

TEST_CASE("Parameter values are escaped and bounded", "[syslog]") {
    const std::string hostile = "relay: RCPT from unknown[10.0.0.1]: relay allowed: authenticated as "
                                "a\"]b\\c" +
                                std::string(500, 'x');
    const std::string element = decision_structured_data(hostile);
    CHECK_THAT(element, Catch::Contains("login=\"a\\\"\\]b\\\\c"));
    CHECK(element.size() < 300);
    // Whatever the line, the element is well formed: it ends at its only unescaped ']'.
    const std::regex shape(R"(\[relayguard@32473( [a-z]+="([^"\\\]]|\\["\\\]])*")+\])");
    CHECK(std::regex_match(element, shape));
}

TEST_CASE("Octet counting, host names and timestamps as the RFCs write them", "[syslog]") {
    CHECK(relayguard::proxy::octet_counted("<22>1 - - - - - hi") == "18 <22>1 - - - - - hi");
    CHECK(relayguard::proxy::syslog_hostname("mx1.example.com") == "mx1.example.com");
    CHECK(relayguard::proxy::syslog_hostname("bad host\x01") == "bad-host-");
    CHECK(relayguard::proxy::syslog_hostname("") == "-");
    CHECK(relayguard::proxy::syslog_hostname(std::string(300, 'h')).size() == 255);
    char text[40];
    const std::size_t length = relayguard::proxy::rfc3339_local_time(
        std::chrono::system_clock::time_point(std::chrono::seconds(0)), text);
    CHECK(std::regex_match(
        std::string(text, length),
        std::regex(
            R"(19(69|70)-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.000([+-][0-9]{2}:[0-9]{2}|Z))")));
}
