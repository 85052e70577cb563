// Property tests with generated hostile input for the session engine's parsers: command framing and
// parsing (what a client sends), reply parsing (what an upstream sends), the AUTH exchange. Each checks
// invariants that a wrong parser would break — slices stay inside the buffer, nothing with a control
// character is ever accepted for repeating, a reply split anywhere parses the same — besides surviving
// the input; the sanitizer presets turn any out-of-bounds read into a failure. Fixed seeds and counts.
#include "../hostile_input_generator.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/auth_exchange.hpp>
#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using namespace relayguard::proxy;

namespace hostile_proxy_input_test {

using relayguard_test::HostileInput;

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() ||
           (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// A command-like line: verbs, keywords and separators mixed with noise.
std::string command_like(HostileInput& generate) {
    static constexpr std::string_view pieces[] = {"EHLO",       "helo",
                                                  "MAIL",       "FROM:",
                                                  "RCPT",       "TO:",
                                                  "DATA",       "BDAT",
                                                  "AUTH",       "PLAIN",
                                                  "STARTTLS",   "XCLIENT",
                                                  "NAME=x",     "QUIT",
                                                  " ",          "\t",
                                                  "<a@b.test>", ":",
                                                  "\r",         "\n",
                                                  "\r\n",       "\0",
                                                  "\x7f",       "\xC3\xA9",
                                                  "=",          "verylongverbthatisnotone",
                                                  "*",          "AHVzZXIAcGFzcw=="};
    return generate.joined(pieces, 10, 8);
}

// A well-formed reply of 1 to 4 lines with code `code`.
std::string valid_reply(HostileInput& generate, const std::string& code) {
    std::string reply;
    const std::size_t lines = 1 + generate.below(4);
    for (std::size_t line = 1; line <= lines; ++line) {
        reply += code;
        reply += line == lines ? " " : "-";
        reply += generate.octets_from("abcdefgh ijkl.0123456789-=", generate.below(40), 0);
        reply += generate.chance(80) ? "\r\n" : "\n";
    }
    return reply;
}

} // namespace hostile_proxy_input_test

TEST_CASE("Command framing and parsing keep to the buffer and refuse control characters",
          "[command_parser][hostile]") {
    hostile_proxy_input_test::HostileInput generate(2920);
    std::size_t complete = 0;
    for (int round = 0; round < 30000; ++round) {
        std::string buffered = hostile_proxy_input_test::command_like(generate);
        if (generate.chance(5)) {
            buffered.append(max_command_line_length + generate.below(10) - 5, 'A');
        }
        const LineFrame frame = frame_line(buffered);
        INFO("buffered: " << buffered);
        if (frame.status == LineFrame::Status::complete) {
            ++complete;
            REQUIRE(frame.consumed <= buffered.size());
            REQUIRE(frame.consumed <= max_command_line_length);
            REQUIRE(frame.line.size() < frame.consumed);
            REQUIRE(hostile_proxy_input_test::inside(frame.line, buffered));
            REQUIRE(buffered[frame.consumed - 1] == '\n');
            REQUIRE(frame.line.find('\n') == std::string_view::npos);

            const Command command = parse_command(frame.line);
            REQUIRE(hostile_proxy_input_test::inside(command.name, frame.line));
            REQUIRE(hostile_proxy_input_test::inside(command.argument, frame.line));
            if (contains_control_character(frame.line)) {
                // Never echoed, logged or forwarded: no part of the line comes back.
                REQUIRE(command.verb == Verb::invalid);
                REQUIRE(command.name.empty());
                REQUIRE(command.argument.empty());
            }
            if (command.verb != Verb::invalid) {
                REQUIRE_FALSE(contains_control_character(command.argument));
            }
        } else if (frame.status == LineFrame::Status::too_long) {
            REQUIRE(buffered.size() >= max_command_line_length);
            bool found_end = false;
            const std::size_t skipped = skip_rest_of_line(buffered, found_end);
            REQUIRE(skipped <= buffered.size());
            REQUIRE(found_end == (buffered.find('\n') != std::string::npos));
        } else {
            REQUIRE(buffered.find('\n') == std::string::npos);
            REQUIRE(buffered.size() < max_command_line_length);
        }
    }
    CHECK(complete > 5000);
}

TEST_CASE("A reply parses the same however it is split, and noise never passes as a reply",
          "[reply_parser][hostile]") {
    hostile_proxy_input_test::HostileInput generate(5321);
    for (int round = 0; round < 5000; ++round) {
        const std::string code = std::string(1, generate.one_of("2345")) + generate.one_of("012345") +
                                 generate.one_of("0123456789");
        const std::string reply = hostile_proxy_input_test::valid_reply(generate, code);
        const std::string buffered = reply + (generate.chance(50) ? code + " next\r\n" : std::string());
        INFO("reply: " << reply);
        const ParsedReply whole = parse_reply(buffered);
        REQUIRE(whole.status == ParsedReply::Status::complete);
        REQUIRE(whole.consumed == reply.size());
        REQUIRE(whole.code == std::stoi(code));
        // Every strict prefix of the reply is incomplete: nothing is taken before the final line ends.
        for (std::size_t cut = 0; cut < reply.size(); ++cut) {
            const ParsedReply part = parse_reply(std::string_view(reply).substr(0, cut));
            REQUIRE(part.status == ParsedReply::Status::incomplete);
            REQUIRE(part.consumed == 0);
        }
    }
    std::size_t accepted_noise = 0;
    for (int round = 0; round < 30000; ++round) {
        const std::string noise = generate.octets_from("250- \r\n4", generate.below(60), 15);
        const ParsedReply parsed = parse_reply(noise);
        INFO("noise: " << noise);
        if (parsed.status == ParsedReply::Status::complete) {
            ++accepted_noise;
            REQUIRE(parsed.consumed <= noise.size());
            REQUIRE(parsed.line_count >= 1);
            REQUIRE(parsed.line_count <= max_reply_lines);
            REQUIRE(parsed.code >= 200);
            REQUIRE(parsed.code <= 559);
            for (std::size_t line = 0; line < parsed.line_count; ++line) {
                // What a client may be sent: no control character but TAB.
                REQUIRE_FALSE(contains_control_character(parsed.lines[line]));
                REQUIRE(hostile_proxy_input_test::inside(parsed.lines[line], noise));
            }
        } else {
            REQUIRE(parsed.consumed == 0);
        }
    }
    CHECK(accepted_noise > 100);
}

TEST_CASE("The AUTH exchange answers any client line with a step and never takes a bad login",
          "[auth_exchange][hostile]") {
    hostile_proxy_input_test::HostileInput generate(4954);
    static constexpr std::string_view responses[] = {"*",
                                                     "=",
                                                     "",
                                                     "AGFsaWNlAHNlY3JldA==",
                                                     "YWxpY2U=",
                                                     "c2VjcmV0",
                                                     "AA==",
                                                     "AGFsaWNlAA==",
                                                     "!!!!",
                                                     " ",
                                                     "YWxpY2UAYWxpY2UAc2VjcmV0",
                                                     "Ym9i"};
    std::size_t logins = 0;
    for (int round = 0; round < 20000; ++round) {
        AuthExchange exchange;
        const auto mechanism = generate.chance(50) ? relayguard::policy::AuthMechanism::plain
                                                   : relayguard::policy::AuthMechanism::login;
        const bool initial = generate.chance(50);
        AuthStep step =
            exchange.begin(mechanism, initial ? generate.joined(responses, 2, 5) : std::string(), initial);
        for (int turn = 0; turn < 4 && step.kind == AuthStep::Kind::challenge; ++turn) {
            REQUIRE(step.line.rfind("334 ", 0) == 0);
            REQUIRE(exchange.in_progress());
            step = exchange.respond(generate.joined(responses, 2, 5));
        }
        if (step.kind == AuthStep::Kind::credentials) {
            ++logins;
            // A login always names someone, and never carries a NUL into the password check.
            REQUIRE_FALSE(step.username.empty());
            REQUIRE_FALSE(step.password.empty());
            REQUIRE(step.username.find('\0') == std::string::npos);
            REQUIRE(step.password.find('\0') == std::string::npos);
        } else if (step.kind == AuthStep::Kind::reply) {
            REQUIRE((step.line[0] == '5' || step.line[0] == '4'));
            REQUIRE_FALSE(exchange.in_progress());
        }
    }
    CHECK(logins > 100);
}
