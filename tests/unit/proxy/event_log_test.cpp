#include "log_pipe.hpp"

#include <relayguard/proxy/event_log.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <regex>
#include <string>
#include <unistd.h>
#include <utility>

using relayguard::proxy::EventLog;

namespace event_log_test {

using log_pipe::Pipe;

// Everything after "relayguard/smtpd[<pid>]: ", once the line's prefix has been checked exactly. Only
// the prefix goes through std::regex, which is slow on long lines.
std::string text_of(const std::string& line) {
    static const std::regex prefix_shape(
        R"(^20\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d\.\d{3}[+-][01]\d:[0-5]\d )"
        R"(relayguard/smtpd\[(\d+)\]: $)");
    const std::size_t tag_end = line.find("]: ");
    REQUIRE(tag_end != std::string::npos);
    const std::string prefix = line.substr(0, tag_end + 3);
    std::smatch parts;
    REQUIRE(std::regex_match(prefix, parts, prefix_shape));
    CHECK(parts[1].str() == std::to_string(::getpid()));
    REQUIRE(line.back() == '\n');
    const std::string text = line.substr(prefix.size(), line.size() - prefix.size() - 1);
    REQUIRE(text.find('\n') == std::string::npos);
    return text;
}

} // namespace event_log_test

TEST_CASE("EventLog reject_line matches Postfix for a relay-denied RCPT", "[log]") {
    CHECK(relayguard::proxy::reject_line("RCPT", "192.0.2.7",
                                         "554 5.7.1 <victim@elsewhere.test>: Relay access denied",
                                         "spoof@example.com", "victim@elsewhere.test", "ESMTP", "test.com") ==
          "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <victim@elsewhere.test>: Relay access "
          "denied; "
          "from=<spoof@example.com> to=<victim@elsewhere.test> proto=ESMTP helo=<test.com>");
}

TEST_CASE("EventLog reject_line for MAIL omits to= and keeps the null sender", "[log]") {
    CHECK(relayguard::proxy::reject_line(
              "MAIL", "2001:db8::25", "553 5.7.1 <boss@example.com>: Sender address rejected: not logged in",
              "boss@example.com", "", "ESMTP", "mx.test") ==
          "NOQUEUE: reject: MAIL from unknown[2001:db8::25]: 553 5.7.1 <boss@example.com>: Sender address "
          "rejected: not logged in; from=<boss@example.com> proto=ESMTP helo=<mx.test>");
    CHECK(relayguard::proxy::reject_line("RCPT", "192.0.2.7", "554 5.7.1 <a@b.test>: Relay access denied", "",
                                         "a@b.test", "SMTP", "") ==
          "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <a@b.test>: Relay access denied; from=<> "
          "to=<a@b.test> proto=SMTP");
}

TEST_CASE("EventLog client notation and the connect and auth lines", "[log]") {
    CHECK(relayguard::proxy::client_notation("192.0.2.7") == "unknown[192.0.2.7]");
    CHECK(relayguard::proxy::client_notation("::1") == "unknown[::1]");
    CHECK(relayguard::proxy::connect_reject_line("198.51.100.9", "554 5.7.1 Access denied") ==
          "reject: connect from unknown[198.51.100.9]: 554 5.7.1 Access denied");
    CHECK(relayguard::proxy::connect_reject_line("2001:db8::9", "421 4.7.0 Too many connections") ==
          "reject: connect from unknown[2001:db8::9]: 421 4.7.0 Too many connections");
    CHECK(relayguard::proxy::connection_rate_line("192.0.2.7", 31) ==
          "Connection rate limit exceeded: 31 from unknown[192.0.2.7] for service smtp");
    CHECK(relayguard::proxy::auth_failure_line("192.0.2.7", "LOGIN") ==
          "unknown[192.0.2.7]: SASL LOGIN authentication failed: authentication failure");
}

TEST_CASE("EventLog writes timestamped lines with Postfix level prefixes", "[log]") {
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::debug);
    log.info("connect from unknown[192.0.2.7]");
    CHECK(event_log_test::text_of(pipe.drain()) == "connect from unknown[192.0.2.7]");
    log.warning("unknown[192.0.2.7]: SASL PLAIN authentication failed: authentication failure");
    CHECK(event_log_test::text_of(pipe.drain()) ==
          "warning: unknown[192.0.2.7]: SASL PLAIN authentication failed: authentication failure");
    log.error("upstream 127.0.0.1:25 refused the connection");
    CHECK(event_log_test::text_of(pipe.drain()) == "error: upstream 127.0.0.1:25 refused the connection");
    log.debug("session 7 idle");
    CHECK(event_log_test::text_of(pipe.drain()) == "debug: session 7 idle");
}

TEST_CASE("EventLog drops lines below its threshold", "[log]") {
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::warning, "relayguard/smtpd");
    CHECK_FALSE(log.enabled(EventLog::Level::info));
    CHECK(log.enabled(EventLog::Level::error));
    log.debug("not shown");
    log.info("not shown either");
    CHECK(pipe.drain().empty());
    log.set_threshold(EventLog::Level::info);
    log.info("shown");
    CHECK(event_log_test::text_of(pipe.drain()) == "shown");
}

TEST_CASE("EventLog turns control characters into question marks and keeps UTF-8", "[log]") {
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::info);
    using namespace std::string_literals; // the text holds a NUL
    log.info("helo=<a\r\nNOQUEUE: reject: forged\x1b[31m\x7f\t\0end>"s);
    CHECK(event_log_test::text_of(pipe.drain()) == "helo=<a??NOQUEUE: reject: forged?[31m???end>");
    log.info("from=<j\xc3\xbcrgen@b\xc3\xbc"
             "cher.test>");
    CHECK(event_log_test::text_of(pipe.drain()) == "from=<j\xc3\xbcrgen@b\xc3\xbc"
                                                   "cher.test>");
}

TEST_CASE("EventLog caps long text with a visible marker", "[log]") {
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::info);

    const std::string exactly(EventLog::max_line_length, 'x');
    log.info(exactly);
    CHECK(event_log_test::text_of(pipe.drain()) == exactly);

    log.info(std::string(5000, 'y'));
    CHECK(event_log_test::text_of(pipe.drain()) == std::string(EventLog::max_line_length - 3, 'y') + "...");

    // The cut would fall after the first octet of "é": the whole character goes instead.
    const std::size_t before = EventLog::max_line_length - 4;
    log.info(std::string(before, 'z') + "\xc3\xa9" + std::string(100, 'z'));
    CHECK(event_log_test::text_of(pipe.drain()) == std::string(before, 'z') + "...");
}

TEST_CASE("EventLog cuts an overlong program tag", "[log]") {
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::info, std::string(200, 'p'));
    log.info("hello");
    const std::string line = pipe.drain();
    CHECK(line.find(" " + std::string(EventLog::max_program_length, 'p') + "[") != std::string::npos);
    CHECK(line.find(std::string(EventLog::max_program_length + 1, 'p')) == std::string::npos);
}

TEST_CASE("EventLog hands over a line whole or not at all", "[log]") {
    // A line written in pieces could be cut short by a full pipe and then glued to the next line,
    // which a log reader would take for one line: one write(2) of at most PIPE_BUF octets is
    // all or nothing. Fill the pipe to just under its capacity, so that a piece would still fit.
    const event_log_test::Pipe pipe(true);
    const int capacity = ::fcntl(pipe.write_end(), F_GETPIPE_SZ);
    REQUIRE(capacity > 4096);
    const std::string filler(static_cast<std::size_t>(capacity) - 100, 'f');
    REQUIRE(::write(pipe.write_end(), filler.data(), filler.size()) == static_cast<ssize_t>(filler.size()));

    EventLog log(pipe.write_end(), EventLog::Level::info);
    log.info(
        "NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <v@elsewhere.test>: Relay access denied");
    CHECK(pipe.drain() == filler);
    log.info("connect from unknown[192.0.2.8]");
    CHECK(event_log_test::text_of(pipe.drain()) == "connect from unknown[192.0.2.8]");
}

TEST_CASE("EventLog time stamps carry the local offset in RFC 3339 form", "[log]") {
    // POSIX TZ strings need no zone database: "<+0530>-5:30" is five and a half hours east of UTC.
    const char* const saved = std::getenv("TZ");
    const std::string saved_zone = saved != nullptr ? saved : "";
    const event_log_test::Pipe pipe;
    EventLog log(pipe.write_end(), EventLog::Level::info);
    for (const auto& [zone, offset] : {std::pair<const char*, const char*>{"UTC0", "+00:00 "},
                                       {"<+0530>-5:30", "+05:30 "},
                                       {"<-0330>3:30", "-03:30 "}}) {
        ::setenv("TZ", zone, 1);
        ::tzset();
        log.info("tick");
        const std::string line = pipe.drain();
        CHECK(event_log_test::text_of(line) == "tick");
        CHECK(line.substr(23, 7) == offset);
    }
    if (saved != nullptr) {
        ::setenv("TZ", saved_zone.c_str(), 1);
    } else {
        ::unsetenv("TZ");
    }
    ::tzset();
}
