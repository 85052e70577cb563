#include <relayguard/proxy/reply_parser.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

using namespace relayguard::proxy;

namespace reply_parser_test {

using Status = ParsedReply::Status;

std::vector<std::string> texts_of(const ParsedReply& reply) {
    std::vector<std::string> texts;
    for (std::size_t index = 0; index < reply.line_count; ++index) {
        texts.emplace_back(reply.lines[index]);
    }
    return texts;
}

std::string problem_of(std::string_view buffered) {
    const ParsedReply reply = parse_reply(buffered);
    return reply.status == Status::malformed ? reply.problem : "(not malformed)";
}

// Same shape as a complete reply, or the same non-result.
void check_same(const ParsedReply& actual, const ParsedReply& expected) {
    CHECK(actual.status == expected.status);
    CHECK(actual.code == expected.code);
    CHECK(actual.line_count == expected.line_count);
    CHECK(actual.consumed == expected.consumed);
    CHECK(texts_of(actual) == texts_of(expected));
    CHECK(std::string_view(actual.problem) == expected.problem);
}

// A reply of `count` lines: "250-line 1" ... "250 line <count>".
std::string reply_of_lines(std::size_t count, const char* ending = "\r\n") {
    std::string reply;
    for (std::size_t number = 1; number <= count; ++number) {
        reply +=
            std::string("250") + (number == count ? " " : "-") + "line " + std::to_string(number) + ending;
    }
    return reply;
}

const std::string postfix_ehlo = "250-mail.example.com\r\n"
                                 "250-PIPELINING\r\n"
                                 "250-SIZE 10240000\r\n"
                                 "250-VRFY\r\n"
                                 "250-ETRN\r\n"
                                 "250-STARTTLS\r\n"
                                 "250-AUTH PLAIN LOGIN\r\n"
                                 "250-AUTH=PLAIN LOGIN\r\n"
                                 "250-ENHANCEDSTATUSCODES\r\n"
                                 "250-8BITMIME\r\n"
                                 "250-DSN\r\n"
                                 "250-SMTPUTF8\r\n"
                                 "250 CHUNKING\r\n";

UpstreamCapabilities capabilities_of(std::string_view buffered) {
    const ParsedReply reply = parse_reply(buffered);
    REQUIRE(reply.status == Status::complete);
    return parse_ehlo_capabilities(reply);
}

} // namespace reply_parser_test

TEST_CASE("reply parser reads a one-line reply", "[reply_parser]") {
    const ParsedReply reply = parse_reply("250 2.1.0 Ok\r\n");
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply.code == 250);
    CHECK(reply.code_class() == 2);
    CHECK(reply.line_count == 1);
    CHECK(reply.lines[0] == "2.1.0 Ok");
    CHECK(reply.consumed == 14);
    CHECK(std::string_view(reply.problem).empty());
}

TEST_CASE("reply parser reads a line ended by a bare LF", "[reply_parser]") {
    const ParsedReply reply = parse_reply("354 End data with <CR><LF>.<CR><LF>\n");
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply.code == 354);
    CHECK(reply.code_class() == 3);
    CHECK(reply.lines[0] == "End data with <CR><LF>.<CR><LF>");
    CHECK(reply.consumed == 36);
}

TEST_CASE("reply parser reads a bare code as a final line with empty text", "[reply_parser]") {
    const ParsedReply crlf = parse_reply("250\r\n");
    CHECK(crlf.status == ParsedReply::Status::complete);
    CHECK(crlf.code == 250);
    CHECK(crlf.line_count == 1);
    CHECK(crlf.lines[0].empty());
    CHECK(crlf.consumed == 5);

    const ParsedReply lf = parse_reply("421\n");
    CHECK(lf.status == ParsedReply::Status::complete);
    CHECK(lf.code == 421);
    CHECK(lf.code_class() == 4);
    CHECK(lf.consumed == 4);

    const ParsedReply space = parse_reply("550 \r\n");
    CHECK(space.status == ParsedReply::Status::complete);
    CHECK(space.code == 550);
    CHECK(space.lines[0].empty());
    CHECK(space.consumed == 6);
}

TEST_CASE("reply parser reads a multi-line EHLO reply", "[reply_parser]") {
    const std::string buffered = reply_parser_test::postfix_ehlo + "250 2.1.0 Ok\r\n";
    const ParsedReply reply = parse_reply(buffered);
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply.code == 250);
    CHECK(reply.line_count == 13);
    CHECK(reply_parser_test::texts_of(reply) ==
          std::vector<std::string>{"mail.example.com", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN",
                                   "STARTTLS", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES",
                                   "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"});
    CHECK(reply.consumed == reply_parser_test::postfix_ehlo.size());
}

TEST_CASE("reply summary is the code and the last line's text", "[reply_parser]") {
    CHECK(reply_summary(parse_reply(reply_parser_test::postfix_ehlo)) == "250 CHUNKING");
    CHECK(reply_summary(parse_reply("550 5.7.1 <a@b.example>: Relay access denied\r\n")) ==
          "550 5.7.1 <a@b.example>: Relay access denied");
    CHECK(reply_summary(parse_reply("250\r\n")) == "250");
    CHECK(reply_summary(parse_reply("421-first\r\n421 \r\n")) == "421");
}

TEST_CASE("reply parser reads pipelined replies one at a time", "[reply_parser]") {
    std::string_view buffered = "250 2.1.0 Ok\r\n554 5.7.1 <x@elsewhere.test>: Relay access denied\r\n"
                                "250-2.1.5 Ok\n250 2.1.5 still ok\r\n354 go ahead\r\n";
    std::vector<int> codes;
    std::vector<std::string> last_lines;
    for (ParsedReply reply = parse_reply(buffered); reply.status == ParsedReply::Status::complete;
         reply = parse_reply(buffered)) {
        codes.push_back(reply.code);
        last_lines.emplace_back(reply.lines[reply.line_count - 1]);
        buffered.remove_prefix(reply.consumed);
    }
    CHECK(codes == std::vector<int>{250, 554, 250, 354});
    CHECK(last_lines == std::vector<std::string>{"2.1.0 Ok", "5.7.1 <x@elsewhere.test>: Relay access denied",
                                                 "2.1.5 still ok", "go ahead"});
    CHECK(buffered.empty());
}

TEST_CASE("reply parser keeps continuation lines with empty text", "[reply_parser]") {
    const ParsedReply reply = parse_reply("220-\r\n220-\r\n220 ready\r\n");
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply_parser_test::texts_of(reply) == std::vector<std::string>{"", "", "ready"});
    CHECK(reply.consumed == 23);
}

TEST_CASE("reply parser waits for the final line", "[reply_parser]") {
    const std::string_view partial[] = {
        "",
        "2",
        "25",
        "250",
        "250 ",
        "250 Ok",
        "250 Ok\r",
        "250-a\r\n",
        "250-a\r\n250",
        "250-a\r\n250 b\r",
        "250-a\n250-b\n",
    };
    for (const std::string_view buffered : partial) {
        CAPTURE(buffered);
        const ParsedReply reply = parse_reply(buffered);
        CHECK(reply.status == ParsedReply::Status::incomplete);
        CHECK(reply.code == 0);
        CHECK(reply.line_count == 0);
        CHECK(reply.consumed == 0);
    }
}

TEST_CASE("reply parser gives the same reply whatever the split", "[reply_parser]") {
    const std::string replies[] = {
        reply_parser_test::postfix_ehlo,
        "250 2.1.0 Ok\r\n",
        "250\r\n",
        "221 2.0.0 Bye\n",
        "220-first\n220-second\r\n220 third\n",
        reply_parser_test::reply_of_lines(max_reply_lines),
        std::string("250-") + std::string(max_reply_line_length - 6, 'a') + "\r\n250 " +
            std::string(max_reply_line_length - 5, 'b') + "\n",
    };
    const std::string next_reply = "354 go ahead\r\n";
    for (const std::string& whole : replies) {
        CAPTURE(whole);
        const ParsedReply expected = parse_reply(whole);
        REQUIRE(expected.status == ParsedReply::Status::complete);
        REQUIRE(expected.consumed == whole.size());
        for (std::size_t split = 0; split < whole.size(); ++split) {
            CAPTURE(split);
            const ParsedReply partial = parse_reply(std::string_view(whole).substr(0, split));
            CHECK(partial.status == ParsedReply::Status::incomplete);
            CHECK(partial.consumed == 0);
            // The rest arrives, with the start of the next reply behind it.
            const std::string later =
                whole.substr(0, split) + whole.substr(split) + next_reply.substr(0, split % 7);
            reply_parser_test::check_same(parse_reply(later), expected);
        }
    }
}

TEST_CASE("reply parser accepts a line that fills the length limit", "[reply_parser]") {
    REQUIRE(max_reply_line_length == 512);
    const std::string text(max_reply_line_length - 6, 'x'); // "250 " + text + CRLF = 512
    const std::string with_crlf = "250 " + text + "\r\n";
    const ParsedReply crlf = parse_reply(with_crlf);
    CHECK(crlf.status == ParsedReply::Status::complete);
    CHECK(crlf.lines[0] == text);
    CHECK(crlf.consumed == 512);

    const std::string with_lf = "250 " + text + "x\n";
    const ParsedReply lf = parse_reply(with_lf);
    CHECK(lf.status == ParsedReply::Status::complete);
    CHECK(lf.lines[0] == text + "x");
    CHECK(lf.consumed == 512);
}

TEST_CASE("reply parser refuses a line one octet over the length limit", "[reply_parser]") {
    const std::string text(max_reply_line_length - 5, 'x'); // "250 " + text + CRLF = 513
    CHECK(reply_parser_test::problem_of("250 " + text + "\r\n") == "reply line too long");
    CHECK(reply_parser_test::problem_of("250 " + text + "x\n") == "reply line too long");
    CHECK(reply_parser_test::problem_of("250-ok\r\n250 " + text + "\r\n") == "reply line too long");
}

TEST_CASE("reply parser refuses an over-long line before its end arrives", "[reply_parser]") {
    const std::string start = "250 " + std::string(max_reply_line_length - 5, 'x'); // 511 octets
    CHECK(parse_reply(start).status == ParsedReply::Status::incomplete);
    CHECK(reply_parser_test::problem_of(start + "x") == "reply line too long");
    CHECK(reply_parser_test::problem_of(start + "\r") == "reply line too long");
    CHECK(reply_parser_test::problem_of(std::string(100'000, '2')) == "reply line too long");
    CHECK(parse_reply("250-ok\r\n" + start).status == ParsedReply::Status::incomplete);
    CHECK(reply_parser_test::problem_of("250-ok\r\n" + start + "x") == "reply line too long");
}

TEST_CASE("reply parser accepts max_reply_lines lines", "[reply_parser]") {
    REQUIRE(max_reply_lines == 32);
    const std::string buffered = reply_parser_test::reply_of_lines(max_reply_lines);
    const ParsedReply reply = parse_reply(buffered);
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply.line_count == 32);
    CHECK(reply.lines[0] == "line 1");
    CHECK(reply.lines[31] == "line 32");
    CHECK(reply.consumed == buffered.size());
}

TEST_CASE("reply parser refuses more than max_reply_lines lines", "[reply_parser]") {
    CHECK(reply_parser_test::problem_of(reply_parser_test::reply_of_lines(max_reply_lines + 1)) ==
          "too many reply lines");
    CHECK(reply_parser_test::problem_of(reply_parser_test::reply_of_lines(1000, "\n")) ==
          "too many reply lines");
    // Line 32 as a continuation already rules out a valid reply: no need to wait for line 33.
    std::string continuations;
    for (std::size_t number = 1; number <= max_reply_lines; ++number) {
        continuations += "250-more\r\n";
    }
    CHECK(reply_parser_test::problem_of(continuations) == "too many reply lines");
    const std::string_view one_short(continuations.data(), continuations.size() - 10);
    CHECK(parse_reply(one_short).status == ParsedReply::Status::incomplete);
}

TEST_CASE("reply parser refuses bad reply codes", "[reply_parser]") {
    using namespace std::string_view_literals;
    const std::string_view bad[] = {
        "25 Ok\r\n"sv,
        "25\r\n"sv,
        "2\r\n"sv,
        "\r\n"sv,
        "\n"sv,
        "abc Ok\r\n"sv,
        "150 Ok\r\n"sv,
        "650 Ok\r\n"sv,
        "050 Ok\r\n"sv,
        "260 Ok\r\n"sv,
        "2a0 Ok\r\n"sv,
        "25a Ok\r\n"sv,
        " 250 Ok\r\n"sv,
        "\0"
        "250 Ok\r\n"sv,
        "HTTP/1.1 400 Bad Request\r\n"sv,
        "+OK POP3 ready\r\n"sv,
        "-250 Ok\r\n"sv,
        "\xb2"
        "50 Ok\r\n"sv,
    };
    for (const std::string_view buffered : bad) {
        CAPTURE(buffered);
        CHECK(reply_parser_test::problem_of(buffered) == "bad reply code");
    }
}

TEST_CASE("reply parser accepts every code of the RFC grammar", "[reply_parser]") {
    int accepted = 0;
    for (int code = 0; code <= 999; ++code) {
        const ParsedReply reply = parse_reply(std::to_string(code + 1000).substr(1) + " x\r\n");
        const bool expected = code / 100 >= 2 && code / 100 <= 5 && code / 10 % 10 <= 5;
        CAPTURE(code);
        CHECK((reply.status == ParsedReply::Status::complete) == expected);
        if (expected) {
            ++accepted;
            CHECK(reply.code == code);
        }
    }
    CHECK(accepted == 240);
}

TEST_CASE("reply parser refuses a code that changes between lines", "[reply_parser]") {
    CHECK(reply_parser_test::problem_of("250-a\r\n251 b\r\n") == "reply code changed");
    CHECK(reply_parser_test::problem_of("250-a\r\n250-b\r\n550 c\r\n") == "reply code changed");
    CHECK(reply_parser_test::problem_of("220-a\n250-b\n") == "reply code changed");
}

TEST_CASE("reply parser refuses a bad separator after the code", "[reply_parser]") {
    const std::string_view bad[] = {
        "2500 Ok\r\n", "250Ok\r\n",          "250_Ok\r\n",   "250\tOk\r\n",
        "250.Ok\r\n",  "250-a\r\n250:b\r\n", "250\xa0x\r\n",
    };
    for (const std::string_view buffered : bad) {
        CAPTURE(buffered);
        CHECK(reply_parser_test::problem_of(buffered) == "bad reply separator");
    }
}

TEST_CASE("reply parser refuses control characters in the text", "[reply_parser]") {
    using namespace std::string_view_literals;
    const std::string_view bad[] = {
        "250 a\0b\r\n"sv,           "250 \0\r\n"sv,      "250 a\rb\r\n"sv, "250 Ok\r\r\n"sv,
        "250 a\x1b[2Jb\r\n"sv,      "250 del\x7f\r\n"sv, "250 \x01\n"sv,   "250-ok\r\n250 a\x08\r\n"sv,
        "250-\x1f\r\n250 ok\r\n"sv,
    };
    for (const std::string_view buffered : bad) {
        CAPTURE(buffered);
        CHECK(reply_parser_test::problem_of(buffered) == "control character in reply");
    }
}

TEST_CASE("reply parser keeps TAB and 8-bit octets in the text", "[reply_parser]") {
    const ParsedReply reply = parse_reply("550-5.1.1 unknown\tuser\r\n550 5.1.1 J\xc3\xb6rg unknown\r\n");
    CHECK(reply.status == ParsedReply::Status::complete);
    CHECK(reply.code == 550);
    CHECK(reply.code_class() == 5);
    CHECK(reply_parser_test::texts_of(reply) ==
          std::vector<std::string>{"5.1.1 unknown\tuser", "5.1.1 J\xc3\xb6rg unknown"});
}

TEST_CASE("reply parser reports a malformed line even when later lines are fine", "[reply_parser]") {
    using namespace std::string_view_literals;
    const ParsedReply reply = parse_reply("250-ok\r\n250-\0\r\n250 ok\r\n"sv);
    CHECK(std::string_view(reply.problem) == "control character in reply");
    CHECK(reply.status == ParsedReply::Status::malformed);
    CHECK(reply.code == 0);
    CHECK(reply.line_count == 0);
    CHECK(reply.consumed == 0);
}

TEST_CASE("reply parser reads every capability of a Postfix EHLO reply", "[reply_parser]") {
    const UpstreamCapabilities capabilities =
        reply_parser_test::capabilities_of(reply_parser_test::postfix_ehlo);
    CHECK(capabilities.pipelining);
    CHECK(capabilities.eight_bit_mime);
    CHECK(capabilities.smtputf8);
    CHECK(capabilities.starttls);
    CHECK(capabilities.enhanced_status_codes);
    CHECK(capabilities.chunking);
    CHECK(capabilities.dsn);
    CHECK(capabilities.auth);
    CHECK(capabilities.size_given);
    CHECK(capabilities.size_limit == 10'240'000);
    CHECK_FALSE(capabilities.xclient);
    CHECK_FALSE(capabilities.xclient_addr);
}

TEST_CASE("reply parser reads an EHLO reply that offers nothing", "[reply_parser]") {
    const UpstreamCapabilities capabilities = reply_parser_test::capabilities_of("250 legacy.example\r\n");
    CHECK_FALSE(capabilities.pipelining);
    CHECK_FALSE(capabilities.eight_bit_mime);
    CHECK_FALSE(capabilities.smtputf8);
    CHECK_FALSE(capabilities.starttls);
    CHECK_FALSE(capabilities.enhanced_status_codes);
    CHECK_FALSE(capabilities.chunking);
    CHECK_FALSE(capabilities.dsn);
    CHECK_FALSE(capabilities.auth);
    CHECK_FALSE(capabilities.size_given);
    CHECK(capabilities.size_limit == 0);
    CHECK_FALSE(capabilities.xclient);
}

TEST_CASE("reply parser ignores keywords in the EHLO greeting line", "[reply_parser]") {
    const UpstreamCapabilities capabilities =
        reply_parser_test::capabilities_of("250-PIPELINING STARTTLS SIZE 10\r\n250 8BITMIME\r\n");
    CHECK_FALSE(capabilities.pipelining);
    CHECK_FALSE(capabilities.starttls);
    CHECK_FALSE(capabilities.size_given);
    CHECK(capabilities.eight_bit_mime);
}

TEST_CASE("reply parser reads EHLO keywords in any case", "[reply_parser]") {
    const UpstreamCapabilities capabilities = reply_parser_test::capabilities_of(
        "250-mx\r\n250-pipelining\r\n250-Size 52428800\r\n250-8bitmime\r\n250-SmtpUtf8\r\n250-starttls\r\n"
        "250-enhancedStatusCodes\r\n250-chunking\r\n250-dsn\r\n250-auth cram-md5\r\n250 xclient addr "
        "name\r\n");
    CHECK(capabilities.pipelining);
    CHECK(capabilities.size_given);
    CHECK(capabilities.size_limit == 52'428'800);
    CHECK(capabilities.eight_bit_mime);
    CHECK(capabilities.smtputf8);
    CHECK(capabilities.starttls);
    CHECK(capabilities.enhanced_status_codes);
    CHECK(capabilities.chunking);
    CHECK(capabilities.dsn);
    CHECK(capabilities.auth);
    CHECK(capabilities.xclient);
    CHECK(capabilities.xclient_addr);
    CHECK(capabilities.xclient_name);
    CHECK_FALSE(capabilities.xclient_helo);
}

TEST_CASE("reply parser matches whole EHLO keywords only", "[reply_parser]") {
    const UpstreamCapabilities capabilities = reply_parser_test::capabilities_of(
        "250-mx\r\n250-PIPELININGX\r\n250-SIZEX 100\r\n250-8BITMIMES\r\n250-XSTARTTLS\r\n250-AUTH=LOGIN\r\n"
        "250-DSNX\r\n250-XCLIENTS ADDR\r\n250-X-CHUNKING\r\n250 SMTP UTF8\r\n");
    CHECK_FALSE(capabilities.pipelining);
    CHECK_FALSE(capabilities.size_given);
    CHECK_FALSE(capabilities.eight_bit_mime);
    CHECK_FALSE(capabilities.starttls);
    CHECK_FALSE(capabilities.auth);
    CHECK_FALSE(capabilities.dsn);
    CHECK_FALSE(capabilities.xclient);
    CHECK_FALSE(capabilities.xclient_addr);
    CHECK_FALSE(capabilities.chunking);
    CHECK_FALSE(capabilities.smtputf8);
}

TEST_CASE("reply parser reads the SIZE limit", "[reply_parser]") {
    struct Expected {
        std::string_view line;
        std::uint64_t limit;
    };
    constexpr std::uint64_t largest = std::numeric_limits<std::uint64_t>::max();
    const Expected expected[] = {
        {"SIZE", 0},
        {"SIZE 0", 0},
        {"SIZE 10240000", 10'240'000},
        {"SIZE   1000  ", 1'000},
        {"SIZE\t2000", 2'000},
        {"SIZE 007", 7},
        {"SIZE 18446744073709551615", largest},
        {"SIZE 18446744073709551616", largest},
        {"SIZE 99999999999999999999999999999999", largest},
        {"SIZE 10M", 0},
        {"SIZE -1", 0},
        {"SIZE 0x100", 0},
        {"SIZE 1.5", 0},
        {"SIZE 100 200", 100},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.line);
        const UpstreamCapabilities capabilities =
            reply_parser_test::capabilities_of("250-mx.example\r\n250 " + std::string(entry.line) + "\r\n");
        CHECK(capabilities.size_given);
        CHECK(capabilities.size_limit == entry.limit);
    }
}

TEST_CASE("reply parser reads the XCLIENT attributes", "[reply_parser]") {
    const UpstreamCapabilities all = reply_parser_test::capabilities_of(
        "250-mx\r\n250 XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n");
    CHECK(all.xclient);
    CHECK(all.xclient_addr);
    CHECK(all.xclient_name);
    CHECK(all.xclient_helo);
    CHECK(all.xclient_proto);
    CHECK(all.xclient_login);

    const UpstreamCapabilities bare = reply_parser_test::capabilities_of("250-mx\r\n250 XCLIENT\r\n");
    CHECK(bare.xclient);
    CHECK_FALSE(bare.xclient_addr);
    CHECK_FALSE(bare.xclient_name);
    CHECK_FALSE(bare.xclient_helo);
    CHECK_FALSE(bare.xclient_proto);
    CHECK_FALSE(bare.xclient_login);

    const UpstreamCapabilities odd =
        reply_parser_test::capabilities_of("250-mx\r\n250 XCLIENT ADDRESS NAMES helo\r\n");
    CHECK(odd.xclient);
    CHECK_FALSE(odd.xclient_addr);
    CHECK_FALSE(odd.xclient_name);
    CHECK(odd.xclient_helo);
}

TEST_CASE("reply parser reads no capabilities from a refused or partial EHLO", "[reply_parser]") {
    const UpstreamCapabilities refused =
        reply_parser_test::capabilities_of("550-mx\r\n550-PIPELINING\r\n550 SIZE 100\r\n");
    CHECK_FALSE(refused.pipelining);
    CHECK_FALSE(refused.size_given);

    const ParsedReply partial = parse_reply("250-mx\r\n250-PIPELINING\r\n");
    REQUIRE(partial.status == ParsedReply::Status::incomplete);
    CHECK_FALSE(parse_ehlo_capabilities(partial).pipelining);

    using namespace std::string_view_literals;
    const ParsedReply malformed = parse_reply("250-mx\r\n250-PIPELINING\r\n250 SIZE\0\r\n"sv);
    REQUIRE(malformed.status == ParsedReply::Status::malformed);
    CHECK_FALSE(parse_ehlo_capabilities(malformed).pipelining);
}
