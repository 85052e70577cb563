// Property tests with generated hostile input for the parsers that read what clients and operators
// write: strict base64, the envelope parser, the configuration loader. Each checks an invariant that a
// wrong parser would break (round trips, idempotent canonical forms, "a result or an error, never
// neither"), not only the absence of a crash; under the sanitizer presets a crash or an out-of-bounds
// read fails them too. Fixed seeds and counts: the same inputs every run, no clock involved.
#include "../hostile_input_generator.hpp"

#include <relayguard/policy/base64.hpp>
#include <relayguard/policy/config_loader.hpp>
#include <relayguard/policy/envelope.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using namespace relayguard::policy;

namespace hostile_policy_input_test {

using relayguard_test::HostileInput;

// An address-like string: pieces that the envelope grammar gives meaning to, mixed with noise.
std::string address_like(HostileInput& generate) {
    static constexpr std::string_view pieces[] = {
        "user",
        "a.b",
        ".",
        "..",
        "@",
        "@@",
        "example.com",
        "ex-ample.org",
        "-bad",
        "[192.0.2.1]",
        "[IPv6:2001:db8::1]",
        "[IPv6:::ffff:192.0.2.1]",
        "[300.1.1.1]",
        "[",
        "]",
        "\"",
        "\"q uoted\"",
        "\"es\\\"c\"",
        "\\",
        "%",
        "!",
        ":",
        ",",
        "@relay.test,@b.test:",
        "postmaster",
        "PostMaster",
        " ",
        "\t",
        "<",
        ">",
        "(",
        ")",
        "xn--bcher-kva.test",
        "b\xC3\xBC"
        "cher.test",
        "\xFF",
        "\xC3",
        "=",
        "SIZE=100",
        "very-long-label-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq"};
    return generate.joined(pieces, 8, 10);
}

bool has_line_break_or_nul(std::string_view text) {
    return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

} // namespace hostile_policy_input_test

TEST_CASE("Strict base64 decodes only what it would itself have encoded", "[base64][hostile]") {
    hostile_policy_input_test::HostileInput generate(20261130);
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    std::size_t decoded_count = 0;
    for (int round = 0; round < 20000; ++round) {
        const Padding padding = generate.chance(50) ? Padding::required : Padding::forbidden;
        const std::string text = generate.octets_from(alphabet, generate.below(13), 3);
        const auto decoded = base64_decode(text, padding);
        if (decoded) {
            ++decoded_count;
            // Strictness: one text per octet string, so decoding then encoding gives the text back.
            REQUIRE(base64_encode(decoded->data(), decoded->size(), padding) == text);
        }
        // And every octet string survives the round trip.
        std::string octets;
        for (std::size_t index = generate.below(10); index > 0; --index) {
            octets += generate.any_octet();
        }
        const auto back = base64_decode(base64_encode(octets, padding), padding);
        REQUIRE(back);
        REQUIRE(std::string(back->begin(), back->end()) == octets);
    }
    // The generator must reach the accepting paths too, or the first property says nothing.
    CHECK(decoded_count > 500);
}

TEST_CASE("The envelope parser's canonical forms parse again to themselves", "[envelope][hostile]") {
    hostile_policy_input_test::HostileInput generate(5321);
    std::size_t accepted_rcpt = 0;
    std::size_t accepted_mail = 0;
    for (int round = 0; round < 30000; ++round) {
        const bool smtputf8 = generate.chance(50);
        std::string argument = generate.chance(90)
                                   ? "<" + hostile_policy_input_test::address_like(generate) + ">"
                                   : hostile_policy_input_test::address_like(generate);
        if (generate.chance(20)) {
            argument += generate.chance(50) ? " NOTIFY=SUCCESS,FAILURE" : " SIZE=10 BODY=8BITMIME";
        }

        const ParseResult<RcptCommand> rcpt = parse_rcpt_to(argument, smtputf8);
        if (rcpt) {
            ++accepted_rcpt;
            const std::string canonical = rcpt.value->path.canonical();
            INFO("RCPT argument: " << argument << " canonical: " << canonical);
            REQUIRE_FALSE(hostile_policy_input_test::has_line_break_or_nul(canonical));
            const ParseResult<RcptCommand> again = parse_rcpt_to(canonical, smtputf8);
            REQUIRE(again);
            REQUIRE(again.value->path.canonical() == canonical);
            REQUIRE(again.value->path.postmaster == rcpt.value->path.postmaster);
        } else {
            // A refusal is a whole SMTP reply line a client can be sent as is.
            const std::string line = rcpt.error.line();
            REQUIRE(line.size() > 4);
            REQUIRE((line[0] == '5' || line[0] == '4'));
            REQUIRE_FALSE(hostile_policy_input_test::has_line_break_or_nul(line));
        }

        const ParseResult<MailCommand> mail = parse_mail_from(argument);
        if (mail) {
            ++accepted_mail;
            const std::string canonical = mail.value->path.canonical();
            INFO("MAIL argument: " << argument << " canonical: " << canonical);
            REQUIRE_FALSE(hostile_policy_input_test::has_line_break_or_nul(canonical));
            // The transaction's SMTPUTF8 flag comes from MAIL itself; an address with UTF-8 needs it.
            const ParseResult<MailCommand> again =
                parse_mail_from(mail.value->smtputf8 ? canonical + " SMTPUTF8" : canonical);
            REQUIRE(again);
            REQUIRE(again.value->path.canonical() == canonical);
        } else {
            REQUIRE_FALSE(hostile_policy_input_test::has_line_break_or_nul(mail.error.line()));
        }
    }
    CHECK(accepted_rcpt > 1000);
    CHECK(accepted_mail > 1000);
}

TEST_CASE("A damaged configuration file gives a configuration or errors, never neither",
          "[config][hostile]") {
    const std::string valid = R"xml(<relayguard>
  <listen address="127.0.0.1" port="2525"/>
  <upstream host="127.0.0.1" port="25" connect-timeout="30s"/>
  <identity hostname="mx.example.com"/>
  <clients default="allow"><deny network="192.0.2.0/24"/></clients>
  <relay><allow network="10.0.0.0/8"/><domain name="example.com"/><domain name="*.example.org"/></relay>
  <limits max-connections="64" max-connections-per-client="8" max-errors="5" client-ipv6-prefix="56"/>
  <data bare-newline="reject"/>
  <log target="stderr" level="info"/>
</relayguard>
)xml";
    {
        const ConfigLoadResult baseline = load_config_text(valid, "fuzz.xml");
        INFO(baseline.errors.size() << " errors in the undamaged file");
        REQUIRE(baseline.config);
    }
    hostile_policy_input_test::HostileInput generate(4096);
    std::size_t refused = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string damaged = valid;
        for (std::size_t edits = 1 + generate.below(4); edits > 0; --edits) {
            if (damaged.empty()) {
                break;
            }
            const std::size_t at = generate.below(damaged.size() + 1);
            switch (generate.below(5)) {
            case 0: // cut a piece out
                damaged.erase(at, generate.below(12));
                break;
            case 1: // a character that means something in XML or in a value
                damaged.insert(at, 1, generate.one_of("<>\"'&=/ \n-.:*0\xFF"));
                break;
            case 2: // any octet
                damaged.insert(at, 1, generate.any_octet());
                break;
            case 3: // repeat a piece (duplicate attributes and elements)
                damaged.insert(at, damaged.substr(generate.below(damaged.size()), generate.below(40)));
                break;
            default: // stop early (a truncated file)
                damaged.resize(at);
                break;
            }
        }
        const ConfigLoadResult result = load_config_text(damaged, "fuzz.xml");
        INFO("damaged file:\n" << damaged);
        REQUIRE((result.config != nullptr) == result.errors.empty());
        if (!result.config) {
            ++refused;
            for (const auto& error : result.errors) {
                // Every error names the file, so an operator can find it.
                REQUIRE(error.to_string().rfind("fuzz.xml", 0) == 0);
            }
        }
    }
    CHECK(refused > 1000);
}
