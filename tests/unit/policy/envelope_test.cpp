#include <relayguard/policy/envelope.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace relayguard::policy;

namespace envelope_test {

RcptCommand rcpt(std::string_view argument, bool smtputf8 = false) {
    ParseResult<RcptCommand> result = parse_rcpt_to(argument, smtputf8);
    INFO("RCPT TO:" << std::string(argument) << " -> " << result.error.line());
    REQUIRE(result);
    return *result.value;
}

MailCommand mail(std::string_view argument) {
    ParseResult<MailCommand> result = parse_mail_from(argument);
    INFO("MAIL FROM:" << std::string(argument) << " -> " << result.error.line());
    REQUIRE(result);
    return *result.value;
}

std::string rcpt_error(std::string_view argument, bool smtputf8 = false) {
    const ParseResult<RcptCommand> result = parse_rcpt_to(argument, smtputf8);
    return result ? "accepted " + result.value->path.canonical() : result.error.line();
}

std::string mail_error(std::string_view argument) {
    const ParseResult<MailCommand> result = parse_mail_from(argument);
    return result ? "accepted " + result.value->path.canonical() : result.error.line();
}

struct ErrorCase {
    std::string argument;
    std::string reply;
};

} // namespace envelope_test

TEST_CASE("envelope parses a plain forward path", "[envelope]") {
    const RcptCommand command = envelope_test::rcpt("<alice@example.com>");
    CHECK(command.path.mailbox.local_part == "alice");
    CHECK(command.path.mailbox.domain == "example.com");
    CHECK_FALSE(command.path.mailbox.local_part_was_quoted);
    CHECK_FALSE(command.path.mailbox.is_literal());
    CHECK_FALSE(command.path.postmaster);
    CHECK(command.path.source_route.empty());
    CHECK(command.parameters.empty());
    CHECK(command.path.canonical() == "<alice@example.com>");
}

TEST_CASE("envelope lower-cases the domain and drops one trailing dot but keeps the local part case",
          "[envelope]") {
    const RcptCommand command = envelope_test::rcpt("<Alice.Smith@Mail.EXAMPLE.com.>");
    CHECK(command.path.mailbox.local_part == "Alice.Smith");
    CHECK(command.path.mailbox.domain == "mail.example.com");
    CHECK(command.path.canonical() == "<Alice.Smith@mail.example.com>");
    CHECK(envelope_test::rcpt_error("<a@example.com..>") ==
          "501 5.1.3 Bad recipient address syntax: bad domain");
}

TEST_CASE("envelope accepts spaces after the colon and a path without angle brackets", "[envelope]") {
    CHECK(envelope_test::rcpt("   <bob@example.org>").path.canonical() == "<bob@example.org>");
    CHECK(envelope_test::rcpt("bob@example.org").path.canonical() == "<bob@example.org>");
    const MailCommand command = envelope_test::mail(" bob@example.org SIZE=42");
    CHECK(command.path.canonical() == "<bob@example.org>");
    REQUIRE(command.size.has_value());
    CHECK(*command.size == 42);
    CHECK(envelope_test::rcpt("\"bob smith\"@example.org NOTIFY=NEVER").path.mailbox.local_part ==
          "bob smith");
    // Runs of spaces between parameters and at the end are tolerated.
    CHECK(envelope_test::mail("<a@b.test>   SIZE=1    BODY=7BIT  ").parameters.size() == 2);
}

TEST_CASE("envelope parses the null reverse path and refuses an empty forward path", "[envelope]") {
    const MailCommand command = envelope_test::mail("<>");
    CHECK(command.path.null);
    CHECK(command.path.canonical() == "<>");
    CHECK(envelope_test::mail("<> SIZE=10").size == std::optional<std::uint64_t>(10));
    CHECK(envelope_test::rcpt_error("<>") == "501 5.1.3 Bad recipient address syntax: empty address");
}

TEST_CASE("envelope dequotes quoted local parts and re-quotes only when needed", "[envelope]") {
    const RcptCommand spaced = envelope_test::rcpt("<\"john doe\"@example.com>");
    CHECK(spaced.path.mailbox.local_part == "john doe");
    CHECK(spaced.path.mailbox.local_part_was_quoted);
    CHECK(spaced.path.canonical() == "<\"john doe\"@example.com>");

    const RcptCommand pairs = envelope_test::rcpt(R"(<"a\"b\\c"@example.com>)");
    CHECK(pairs.path.mailbox.local_part == R"(a"b\c)");
    CHECK(pairs.path.canonical() == R"(<"a\"b\\c"@example.com>)");

    // Quoting that changes nothing disappears, quoted-pairs of ordinary characters included.
    CHECK(envelope_test::rcpt("<\"john\"@example.com>").path.canonical() == "<john@example.com>");
    CHECK(envelope_test::rcpt(R"(<"jo\hn"@example.com>)").path.mailbox.local_part == "john");
}

TEST_CASE("envelope appends canonical forms to a buffer and measures them without writing", "[envelope]") {
    for (const char* path : {"<bob@example.org>", "<\"john doe\"@example.com>", R"(<"a\"b\\c"@example.com>)",
                             "<postmaster>", "<@relay.example:bob@example.org>"}) {
        const RcptCommand command = envelope_test::rcpt(path);
        INFO(path);
        CHECK(command.path.mailbox.canonical_length() == command.path.mailbox.canonical().size());
        // Appended after what the buffer holds, never replacing it.
        std::string line = "RCPT TO:";
        command.path.append_canonical(line);
        CHECK(line == "RCPT TO:" + command.path.canonical());
    }
    const MailCommand null_sender = envelope_test::mail("<>");
    std::string line = "MAIL FROM:";
    null_sender.path.append_canonical(line);
    CHECK(line == "MAIL FROM:<>");
}

TEST_CASE("envelope takes the domain after the last at sign of an unquoted local part", "[envelope]") {
    const RcptCommand command = envelope_test::rcpt("<to@domain.test@host.test>");
    CHECK(command.path.mailbox.local_part == "to@domain.test");
    CHECK_FALSE(command.path.mailbox.local_part_was_quoted);
    CHECK(command.path.mailbox.domain == "host.test");
    CHECK(command.path.canonical() == "<\"to@domain.test\"@host.test>");

    const RcptCommand quoted = envelope_test::rcpt("<\"to@domain.test\"@host.test>");
    CHECK(quoted.path.mailbox.local_part == "to@domain.test");
    CHECK(quoted.path.canonical() == "<\"to@domain.test\"@host.test>");
    CHECK(envelope_test::rcpt_error("<to@@host.test>") ==
          "501 5.1.3 Bad recipient address syntax: bad character in local part");
}

TEST_CASE("envelope accepts forward and reverse paths without a domain", "[envelope]") {
    const RcptCommand bang = envelope_test::rcpt("<domain.test!user>");
    CHECK(bang.path.mailbox.local_part == "domain.test!user");
    CHECK_FALSE(bang.path.mailbox.has_domain());
    CHECK(bang.path.canonical() == "<domain.test!user>");

    const RcptCommand quoted = envelope_test::rcpt("<\"user@domain.test\">");
    CHECK_FALSE(quoted.path.mailbox.has_domain());
    CHECK(quoted.path.canonical() == "<\"user@domain.test\">");

    const MailCommand bare = envelope_test::mail(" <nessus>");
    CHECK_FALSE(bare.path.null);
    CHECK(bare.path.mailbox.local_part == "nessus");
    CHECK(bare.path.canonical() == "<nessus>");
}

TEST_CASE("envelope parses source routes and drops them from the canonical form", "[envelope]") {
    const RcptCommand command =
        envelope_test::rcpt("<@Relay.A.test,@[192.0.2.1],@[IPv6:2001:db8::1]:user@c.test>");
    CHECK(command.path.source_route ==
          std::vector<std::string>{"relay.a.test", "[192.0.2.1]", "[IPv6:2001:db8::1]"});
    CHECK(command.path.mailbox.domain == "c.test");
    CHECK(command.path.canonical() == "<user@c.test>");

    const MailCommand sender = envelope_test::mail("<@a.test:user@c.test>");
    CHECK(sender.path.had_source_route);
    CHECK(sender.path.canonical() == "<user@c.test>");

    const std::string bad = "501 5.1.3 Bad recipient address syntax: bad source route";
    CHECK(envelope_test::rcpt_error("<@a.test>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test:>") == bad);
    CHECK(envelope_test::rcpt_error("<@:user@c.test>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test,:user@c.test>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test,b.test:user@c.test>") == bad);
    CHECK(envelope_test::rcpt_error("<@a..test:user@c.test>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test:user>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test,@b.test:PostMaster>") == bad);
    CHECK(envelope_test::rcpt_error("<@a.test:@b.test>") ==
          "501 5.1.3 Bad recipient address syntax: empty local part");
}

TEST_CASE("envelope resolves address literals to a canonical form", "[envelope]") {
    const RcptCommand v4 = envelope_test::rcpt("<user@[192.0.2.1]>");
    REQUIRE(v4.path.mailbox.is_literal());
    CHECK(v4.path.mailbox.literal->is_v4());
    CHECK(v4.path.mailbox.domain == "[192.0.2.1]");

    const RcptCommand v6 = envelope_test::rcpt("<user@[ipv6:2001:DB8:0:0:0:0:0:1]>");
    REQUIRE(v6.path.mailbox.is_literal());
    CHECK_FALSE(v6.path.mailbox.literal->is_v4());
    CHECK(v6.path.mailbox.domain == "[IPv6:2001:db8::1]");
    CHECK(v6.path.canonical() == "<user@[IPv6:2001:db8::1]>");

    // A mapped address stays a literal; it is written as the IPv4 literal it denotes.
    const RcptCommand mapped = envelope_test::rcpt("<user@[IPv6:::ffff:192.0.2.1]>");
    REQUIRE(mapped.path.mailbox.is_literal());
    CHECK(mapped.path.mailbox.literal->is_v4());
    CHECK(mapped.path.mailbox.domain == "[192.0.2.1]");

    const std::string bad = "501 5.1.3 Bad recipient address syntax: bad address literal";
    for (const char* argument :
         {"<u@[192.0.2.256]>", "<u@[2001:db8::1]>", "<u@[IPv6:192.0.2.1]>", "<u@[192.0.2.1>",
          "<u@[IPv4:192.0.2.1]>", "<u@[]>", "<u@[x:y]>", "<u@[192.0.2.1]x>", "<u@[192.0.2.01]>"}) {
        INFO(argument);
        CHECK(envelope_test::rcpt_error(argument) == bad);
    }
}

TEST_CASE("envelope recognises the special postmaster recipient in any case", "[envelope]") {
    for (const char* argument : {"<postmaster>", "<Postmaster>", "<POSTMASTER>", "postmaster",
                                 "<\"PostMaster\">", "<\"post\\master\">"}) {
        INFO(argument);
        const RcptCommand command = envelope_test::rcpt(argument);
        CHECK(command.path.postmaster);
        CHECK(command.path.mailbox.local_part == "postmaster");
        CHECK_FALSE(command.path.mailbox.has_domain());
        CHECK(command.path.canonical() == "<postmaster>");
    }
    CHECK_FALSE(envelope_test::rcpt("<postmaster@example.com>").path.postmaster);
    CHECK_FALSE(envelope_test::rcpt("<postmaster.x>").path.postmaster);
    CHECK(envelope_test::rcpt_error("<@a.test:postmaster>") ==
          "501 5.1.3 Bad recipient address syntax: bad source route");
    CHECK(envelope_test::mail("<postmaster>").path.canonical() == "<postmaster>");
}

TEST_CASE("envelope rejects malformed recipient paths with precise replies", "[envelope]") {
    const std::vector<envelope_test::ErrorCase> cases = {
        {"", "501 5.5.4 Syntax: RCPT TO:<address>"},
        {"   ", "501 5.5.4 Syntax: RCPT TO:<address>"},
        {"<a@b.test", "501 5.1.3 Bad recipient address syntax: unbalanced angle brackets"},
        {"<a@b.test>>", "501 5.1.3 Bad recipient address syntax: unbalanced angle brackets"},
        {"a@b.test>", "501 5.1.3 Bad recipient address syntax: unbalanced angle brackets"},
        {"<<a@b.test>>", "501 5.1.3 Bad recipient address syntax: unbalanced angle brackets"},
        {"<a<b@c.test>", "501 5.1.3 Bad recipient address syntax: unbalanced angle brackets"},
        {"<\"a@b.test>", "501 5.1.3 Bad recipient address syntax: unterminated quoted string"},
        {"\"a@b.test", "501 5.1.3 Bad recipient address syntax: unterminated quoted string"},
        {R"(<"a\"@b.test>)", "501 5.1.3 Bad recipient address syntax: unterminated quoted string"},
        {"<a@b.test>x", "501 5.1.3 Bad recipient address syntax: text after the address"},
        {"<a@b.test>NOTIFY=NEVER", "501 5.1.3 Bad recipient address syntax: text after the address"},
        {"<.a@b.test>", "501 5.1.3 Bad recipient address syntax: misplaced dot in local part"},
        {"<a.@b.test>", "501 5.1.3 Bad recipient address syntax: misplaced dot in local part"},
        {"<a..b@b.test>", "501 5.1.3 Bad recipient address syntax: misplaced dot in local part"},
        {"<a b@b.test>", "501 5.1.3 Bad recipient address syntax: bad character in local part"},
        {"<a(b)@b.test>", "501 5.1.3 Bad recipient address syntax: bad character in local part"},
        {"<a\"b\"@b.test>", "501 5.1.3 Bad recipient address syntax: bad character in local part"},
        {"<\"a\"b@b.test>", "501 5.1.3 Bad recipient address syntax: bad character in local part"},
        {"<\"a\".\"b\"@b.test>", "501 5.1.3 Bad recipient address syntax: bad character in local part"},
        {"<\"\"@b.test>", "501 5.1.3 Bad recipient address syntax: empty local part"},
        {"<@>", "501 5.1.3 Bad recipient address syntax: bad source route"},
        {"<a@>", "501 5.1.3 Bad recipient address syntax: missing domain after @"},
        {"<a@b.test@>", "501 5.1.3 Bad recipient address syntax: missing domain after @"},
        {"<a@b..test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@-b.test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@b_c.test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@b.test:c.test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@b.test%c.test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@\"b\".test>", "501 5.1.3 Bad recipient address syntax: bad domain"},
        {"<a@b.test\x01>", "501 5.5.2 Syntax error: control character in command"},
        {std::string("<a@b.test\0>", 11), "501 5.5.2 Syntax error: control character in command"},
        {std::string("<a\0@b.test>", 11), "501 5.5.2 Syntax error: control character in command"},
        {"<a@b.test>\r", "501 5.5.2 Syntax error: control character in command"},
        {"<\"a\tb\"@b.test>", "501 5.5.2 Syntax error: control character in command"},
        {"<a@b.test>\tNOTIFY=NEVER", "501 5.5.2 Syntax error: control character in command"},
        {"<a\x7f@b.test>", "501 5.5.2 Syntax error: control character in command"},
        {"<a@b.test\xc3\x28>", "501 5.1.3 Bad recipient address syntax: malformed UTF-8"},
        {"<a\xff@b.test>", "501 5.1.3 Bad recipient address syntax: malformed UTF-8"},
        {"<a\xc0\xaf@b.test>", "501 5.1.3 Bad recipient address syntax: malformed UTF-8"},
    };
    for (const envelope_test::ErrorCase& error_case : cases) {
        INFO(error_case.argument);
        CHECK(envelope_test::rcpt_error(error_case.argument) == error_case.reply);
    }
}

TEST_CASE("envelope reports sender syntax errors with 5.1.7", "[envelope]") {
    CHECK(envelope_test::mail_error("") == "501 5.5.4 Syntax: MAIL FROM:<address>");
    CHECK(envelope_test::mail_error("<a@b.test") ==
          "501 5.1.7 Bad sender address syntax: unbalanced angle brackets");
    CHECK(envelope_test::mail_error("<a@>") == "501 5.1.7 Bad sender address syntax: missing domain after @");
    CHECK(envelope_test::mail_error("<\"\">") == "501 5.1.7 Bad sender address syntax: empty local part");
    CHECK(envelope_test::mail_error("<a@b.test\n>") ==
          "501 5.5.2 Syntax error: control character in command");
    CHECK(envelope_test::mail_error("<a@[1.2.3]>") ==
          "501 5.1.7 Bad sender address syntax: bad address literal");
    CHECK(envelope_test::mail_error(std::string(65, 'a') + "@b.test") ==
          "553 5.1.7 Sender address rejected: local part longer than 64 octets");
}

TEST_CASE("envelope enforces the RFC 5321 length limits", "[envelope]") {
    const std::string local64(64, 'l');
    const std::string label63(63, 'd');
    const std::string domain191 = label63 + "." + label63 + "." + label63;
    const std::string domain252 = domain191 + "." + std::string(60, 'd');
    CHECK(envelope_test::rcpt("<" + local64 + "@example.com>").path.mailbox.local_part == local64);
    CHECK(envelope_test::rcpt_error("<" + local64 + "l@example.com>") ==
          "553 5.1.3 Recipient address rejected: local part longer than 64 octets");
    // The quotes count: 63 octets that need quoting are 65 on the wire.
    CHECK(envelope_test::rcpt_error("<\"" + std::string(62, 'q') + " \"@example.com>") ==
          "553 5.1.3 Recipient address rejected: local part longer than 64 octets");
    CHECK(envelope_test::rcpt_error("<a@" + domain252 + "dddd>") ==
          "553 5.1.3 Recipient address rejected: domain longer than 255 octets");
    // "<a@" + 252 + ">" is exactly 256 octets; one more is too many.
    CHECK(envelope_test::rcpt("<a@" + domain252 + ">").path.mailbox.domain == domain252);
    CHECK(envelope_test::rcpt_error("<ab@" + domain252 + ">") ==
          "553 5.1.3 Recipient address rejected: path longer than 256 octets");
    // A source route counts towards the path as sent, although the upstream never sees it.
    const std::string hop = "@" + label63 + ".test";
    CHECK(envelope_test::rcpt_error("<" + hop + "," + hop + ":a@" + domain191 + ">") ==
          "553 5.1.3 Recipient address rejected: path longer than 256 octets");
    // Re-quoting "x@y" for the upstream must not push the path past the limit either: 256 octets as
    // sent, 258 once quoted.
    const std::string local62 = std::string(30, 'x') + "@" + std::string(31, 'y');
    CHECK(envelope_test::rcpt_error("<" + local62 + "@" + domain191 + ">") ==
          "553 5.1.3 Recipient address rejected: path longer than 256 octets");
    CHECK(envelope_test::rcpt("<" + local62 + "@" + domain191.substr(2) + ">").path.canonical().size() ==
          256);
}

TEST_CASE("envelope requires SMTPUTF8 for non-ASCII addresses", "[envelope]") {
    CHECK(envelope_test::rcpt_error("<j\xc3\xbcrgen@example.com>") ==
          "553 5.6.7 Non-ASCII address requires SMTPUTF8");
    const RcptCommand command = envelope_test::rcpt("<j\xc3\xbcrgen@B\xc3\xbc"
                                                    "cher.example>",
                                                    true);
    CHECK(command.path.mailbox.local_part == "j\xc3\xbcrgen");
    CHECK(command.path.mailbox.domain == "b\xc3\xbc"
                                         "cher.example");
    CHECK(command.path.canonical() == "<j\xc3\xbcrgen@b\xc3\xbc"
                                      "cher.example>");

    CHECK(envelope_test::mail_error("<j\xc3\xbcrgen@example.com>") ==
          "553 5.6.7 Non-ASCII address requires SMTPUTF8");
    const MailCommand sender = envelope_test::mail("<j\xc3\xbcrgen@example.com> SMTPUTF8");
    CHECK(sender.smtputf8);
    CHECK(sender.path.mailbox.local_part == "j\xc3\xbcrgen");
}

TEST_CASE("envelope validates the MAIL FROM parameters", "[envelope]") {
    const MailCommand command =
        envelope_test::mail("<a@b.test> size=12345 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B1 AUTH=<>");
    REQUIRE(command.size.has_value());
    CHECK(*command.size == 12345);
    CHECK(command.body == BodyType::eight_bit_mime);
    CHECK(command.smtputf8);
    REQUIRE(command.parameters.size() == 6);
    CHECK(command.parameters[0].keyword == "SIZE");
    CHECK(command.parameters[0].value == "12345");
    CHECK(command.parameters[1].value == "8bitmime");
    CHECK(command.parameters[2].keyword == "SMTPUTF8");
    CHECK_FALSE(command.parameters[2].has_value);
    CHECK(command.parameters[3].keyword == "RET");
    CHECK(command.parameters[4].value == "QQ+2B1");
    CHECK(command.parameters[5].value == "<>");
    CHECK(envelope_test::mail("<a@b.test> BODY=7BIT").body == BodyType::seven_bit);
    CHECK(envelope_test::mail("<a@b.test> SIZE=18446744073709551615").size ==
          std::optional<std::uint64_t>(18446744073709551615ull));
    CHECK(envelope_test::mail("<a@b.test> AUTH=alice+40example.com").parameters.size() == 1);

    const std::vector<envelope_test::ErrorCase> cases = {
        {"<a@b.test> SIZE=abc", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE=", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE=-1", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE=18446744073709551616", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE=000000000000000000001", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> SIZE=1=2", "501 5.5.4 Invalid SIZE value"},
        {"<a@b.test> BODY=BINARYMIME", "501 5.5.4 Invalid BODY value"},
        {"<a@b.test> BODY", "501 5.5.4 Invalid BODY value"},
        {"<a@b.test> SMTPUTF8=yes", "501 5.5.4 Invalid SMTPUTF8 value"},
        {"<a@b.test> RET=NONE", "501 5.5.4 Invalid RET value"},
        {"<a@b.test> ENVID=", "501 5.5.4 Invalid ENVID value"},
        {"<a@b.test> ENVID=a+2", "501 5.5.4 Invalid ENVID value"},
        {"<a@b.test> ENVID=a+2b", "501 5.5.4 Invalid ENVID value"},
        {"<a@b.test> ENVID=" + std::string(101, 'e'), "501 5.5.4 Invalid ENVID value"},
        {"<a@b.test> AUTH=a=b", "501 5.5.4 Invalid AUTH value"},
        {"<a@b.test> AUTH", "501 5.5.4 Invalid AUTH value"},
        {"<a@b.test> SIZE=1 size=2", "501 5.5.4 Duplicate SIZE parameter"},
        {"<a@b.test> SMTPUTF8 SMTPUTF8", "501 5.5.4 Duplicate SMTPUTF8 parameter"},
        {"<a@b.test> =1", "501 5.5.4 Bad parameter syntax"},
        {"<a@b.test> -X=1", "501 5.5.4 Bad parameter syntax"},
        {"<a@b.test> X_Y=1", "501 5.5.4 Bad parameter syntax"},
        {"<a@b.test> NOTIFY=NEVER", "555 5.5.4 Unsupported option: NOTIFY"},
        {"<a@b.test> x-foo=1", "555 5.5.4 Unsupported option: X-FOO"},
        {"<a@b.test> " + std::string(100, 'k'), "555 5.5.4 Unsupported option: " + std::string(64, 'K')},
    };
    for (const envelope_test::ErrorCase& error_case : cases) {
        INFO(error_case.argument);
        CHECK(envelope_test::mail_error(error_case.argument) == error_case.reply);
    }
    const ParseResult<MailCommand> longest_envid =
        parse_mail_from("<a@b.test> ENVID=" + std::string(100, 'e'));
    CHECK(static_cast<bool>(longest_envid));
}

TEST_CASE("envelope validates the RCPT TO parameters", "[envelope]") {
    const RcptCommand command =
        envelope_test::rcpt("<a@b.test> notify=success,Delay ORCPT=rfc822;a+40b.test");
    REQUIRE(command.parameters.size() == 2);
    CHECK(command.parameters[0].keyword == "NOTIFY");
    CHECK(command.parameters[0].value == "success,Delay");
    CHECK(command.parameters[1].keyword == "ORCPT");
    CHECK(command.parameters[1].value == "rfc822;a+40b.test");
    CHECK(envelope_test::rcpt("<a@b.test> NOTIFY=NEVER").parameters.size() == 1);
    CHECK(envelope_test::rcpt("<a@b.test> NOTIFY=FAILURE,SUCCESS,DELAY").parameters.size() == 1);
    CHECK(envelope_test::rcpt("<a@b.test> ORCPT=utf-8;j\xc3\xbcrgen@b.test", true).parameters.size() == 1);

    const std::vector<envelope_test::ErrorCase> cases = {
        {"<a@b.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> NOTIFY=SUCCESS,SUCCESS", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> NOTIFY=SUCCESS,", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> NOTIFY=ALWAYS", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> NOTIFY=", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> NOTIFY", "501 5.5.4 Invalid NOTIFY value"},
        {"<a@b.test> ORCPT=rfc822", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=rfc822;", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=;a@b.test", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=rfc822;a+4", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=rfc822;a+4b", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=rfc822;j\xc3\xbcrgen@b.test", "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> ORCPT=rfc822;" + std::string(500, 'o'), "501 5.5.4 Invalid ORCPT value"},
        {"<a@b.test> NOTIFY=NEVER notify=never", "501 5.5.4 Duplicate NOTIFY parameter"},
        {"<a@b.test> SIZE=100", "555 5.5.4 Unsupported option: SIZE"},
        {"<a@b.test> SMTPUTF8", "555 5.5.4 Unsupported option: SMTPUTF8"},
    };
    for (const envelope_test::ErrorCase& error_case : cases) {
        INFO(error_case.argument);
        CHECK(envelope_test::rcpt_error(error_case.argument) == error_case.reply);
    }
}

TEST_CASE("envelope writes hand-built mailboxes canonically", "[envelope]") {
    Mailbox mailbox;
    mailbox.local_part = "a\"b\\c";
    mailbox.domain = "example.com";
    CHECK(mailbox.canonical() == R"("a\"b\\c"@example.com)");
    mailbox.local_part = "x.y+tag";
    CHECK(mailbox.canonical() == "x.y+tag@example.com");
    mailbox.domain.clear();
    CHECK(mailbox.canonical() == "x.y+tag");

    ReversePath sender;
    sender.null = true;
    CHECK(sender.canonical() == "<>");
    ForwardPath recipient;
    recipient.postmaster = true;
    CHECK(recipient.canonical() == "<postmaster>");
}

TEST_CASE("envelope recognises Dot-strings", "[envelope]") {
    CHECK(is_dot_string("alice"));
    CHECK(is_dot_string("a.b.c"));
    CHECK(is_dot_string("a!b%c/d"));
    CHECK(is_dot_string("j\xc3\xbcrgen"));
    CHECK_FALSE(is_dot_string(""));
    CHECK_FALSE(is_dot_string(".a"));
    CHECK_FALSE(is_dot_string("a."));
    CHECK_FALSE(is_dot_string("a..b"));
    CHECK_FALSE(is_dot_string("a@b"));
    CHECK_FALSE(is_dot_string("a b"));
    CHECK_FALSE(is_dot_string("a:b"));
    CHECK_FALSE(is_dot_string("a\"b"));
}

TEST_CASE("envelope replaces control characters before text reaches a reply", "[envelope]") {
    CHECK(without_control_characters("a\r\nb\x7f\t") == "a??b??");
    CHECK(without_control_characters(std::string("x\0y", 3)) == "x?y");
    CHECK(without_control_characters("plain <text>") == "plain <text>");
}
