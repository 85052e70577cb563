#include <relayguard/proxy/command_parser.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace relayguard::proxy;

namespace command_parser_test {

using Status = LineFrame::Status;

// Frames every complete line of `buffered` in turn, as the session does with one read.
std::vector<std::string> frame_all(std::string_view buffered, std::size_t& left_over) {
    std::vector<std::string> lines;
    for (LineFrame frame = frame_line(buffered); frame.status == Status::complete;
         frame = frame_line(buffered)) {
        lines.emplace_back(frame.line);
        buffered.remove_prefix(frame.consumed);
    }
    left_over = buffered.size();
    return lines;
}

constexpr Verb all_verbs[] = {
    Verb::helo, Verb::ehlo, Verb::mail,    Verb::rcpt,    Verb::data,     Verb::rset, Verb::noop,
    Verb::quit, Verb::vrfy, Verb::expn,    Verb::help,    Verb::starttls, Verb::auth, Verb::etrn,
    Verb::turn, Verb::bdat, Verb::xclient, Verb::unknown, Verb::invalid,
};

} // namespace command_parser_test

TEST_CASE("command parser frames a CRLF line", "[command_parser]") {
    const LineFrame frame = frame_line("EHLO client.example\r\n");
    CHECK(frame.status == LineFrame::Status::complete);
    CHECK(frame.line == "EHLO client.example");
    CHECK(frame.consumed == 21);
}

TEST_CASE("command parser frames a line ended by a bare LF", "[command_parser]") {
    const LineFrame frame = frame_line("NOOP\nQUIT\r\n");
    CHECK(frame.status == LineFrame::Status::complete);
    CHECK(frame.line == "NOOP");
    CHECK(frame.consumed == 5);
}

TEST_CASE("command parser frames empty lines", "[command_parser]") {
    const LineFrame crlf = frame_line("\r\nNOOP\r\n");
    CHECK(crlf.status == LineFrame::Status::complete);
    CHECK(crlf.line.empty());
    CHECK(crlf.consumed == 2);
    const LineFrame lf = frame_line("\n");
    CHECK(lf.status == LineFrame::Status::complete);
    CHECK(lf.line.empty());
    CHECK(lf.consumed == 1);
}

TEST_CASE("command parser waits for the end of a partial line", "[command_parser]") {
    const std::string_view partial[] = {"", "N", "NOOP", "NOOP\r", "MAIL FROM:<a@b.example> SIZE=10", "\r"};
    for (const std::string_view buffered : partial) {
        CAPTURE(buffered);
        const LineFrame frame = frame_line(buffered);
        CHECK(frame.status == LineFrame::Status::incomplete);
        CHECK(frame.consumed == 0);
        CHECK(frame.line.empty());
    }
}

TEST_CASE("command parser keeps a CR that no LF follows inside the line", "[command_parser]") {
    const LineFrame frame = frame_line("NO\rOP\r\nQUIT\r\n");
    CHECK(frame.status == LineFrame::Status::complete);
    CHECK(frame.line == "NO\rOP");
    CHECK(frame.consumed == 7);
    CHECK(parse_command(frame.line).verb == Verb::invalid);

    // Smuggling shapes: only the last CR before the LF belongs to the terminator.
    const LineFrame doubled = frame_line(".\r\r\n");
    CHECK(doubled.status == LineFrame::Status::complete);
    CHECK(doubled.line == ".\r");
    CHECK(doubled.consumed == 4);
    CHECK(parse_command(doubled.line).verb == Verb::invalid);
}

TEST_CASE("command parser frames a pipelined group line by line", "[command_parser]") {
    std::size_t left_over = 0;
    const auto lines = command_parser_test::frame_all(
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\nRCPT TO:<c@example.org>\r\nDATA\r\nSubj",
        left_over);
    CHECK(lines == std::vector<std::string>{"MAIL FROM:<a@example.com>", "RCPT TO:<b@example.net>",
                                            "RCPT TO:<c@example.org>", "DATA"});
    CHECK(left_over == 4);
}

TEST_CASE("command parser accepts a line that fills max_command_line_length with CRLF", "[command_parser]") {
    REQUIRE(max_command_line_length == 2048);
    const std::string text(max_command_line_length - 2, 'a');
    const std::string buffered = text + "\r\nNOOP\r\n";
    const LineFrame frame = frame_line(buffered);
    CHECK(frame.status == LineFrame::Status::complete);
    CHECK(frame.line == text);
    CHECK(frame.consumed == 2048);
}

TEST_CASE("command parser accepts a line that fills max_command_line_length with a bare LF",
          "[command_parser]") {
    const std::string text(max_command_line_length - 1, 'a');
    const std::string buffered = text + "\n";
    const LineFrame frame = frame_line(buffered);
    CHECK(frame.status == LineFrame::Status::complete);
    CHECK(frame.line == text);
    CHECK(frame.consumed == 2048);
}

TEST_CASE("command parser refuses a line one octet over max_command_line_length", "[command_parser]") {
    const std::string buffered = std::string(max_command_line_length - 1, 'a') + "\r\n";
    const LineFrame frame = frame_line(buffered);
    CHECK(frame.status == LineFrame::Status::too_long);
    CHECK(frame.consumed == 0);
    CHECK(frame.line.empty());
}

TEST_CASE("command parser decides too_long as soon as the limit is buffered", "[command_parser]") {
    using Status = LineFrame::Status;
    CHECK(frame_line(std::string(2047, 'a')).status == Status::incomplete);
    CHECK(frame_line(std::string(2046, 'a') + "\r").status == Status::incomplete);
    CHECK(frame_line(std::string(2047, 'a') + "\r").status == Status::too_long);
    CHECK(frame_line(std::string(2048, 'a')).status == Status::too_long);
    CHECK(frame_line(std::string(100'000, 'a')).status == Status::too_long);
    // An LF beyond the limit does not rescue the line.
    CHECK(frame_line(std::string(2048, 'a') + "\n").status == Status::too_long);
}

TEST_CASE("command parser honours a smaller max_length exactly", "[command_parser]") {
    using Status = LineFrame::Status;
    CHECK(frame_line("NOOP\r\n", 6).status == Status::complete);
    CHECK(frame_line("NOOP\r\n", 6).consumed == 6);
    CHECK(frame_line("NOOP\r\n", 5).status == Status::too_long);
    CHECK(frame_line("NOOP\n", 5).status == Status::complete);
    CHECK(frame_line("NOOP", 5).status == Status::incomplete);
    CHECK(frame_line("NOOPX", 5).status == Status::too_long);
    CHECK(frame_line("\n", 1).status == Status::complete);
    CHECK(frame_line("", 1).status == Status::incomplete);
}

TEST_CASE("command parser skips the rest of an over-long line", "[command_parser]") {
    bool found_end = false;
    CHECK(skip_rest_of_line("tail\r\nNOOP\r\n", found_end) == 6);
    CHECK(found_end);
    CHECK(skip_rest_of_line("\nNOOP\r\n", found_end) == 1);
    CHECK(found_end);
    found_end = true;
    CHECK(skip_rest_of_line("still the same line\r", found_end) == 20);
    CHECK_FALSE(found_end);
    found_end = true;
    CHECK(skip_rest_of_line("", found_end) == 0);
    CHECK_FALSE(found_end);
}

TEST_CASE("command parser resumes after an over-long line split across reads", "[command_parser]") {
    // What the session does: too_long, answer, drop what is buffered until the LF turns up.
    const std::string first_read(max_command_line_length, 'x');
    CHECK(frame_line(first_read).status == LineFrame::Status::too_long);
    bool found_end = true;
    CHECK(skip_rest_of_line(first_read, found_end) == first_read.size());
    CHECK_FALSE(found_end);
    const std::string second_read = std::string(500, 'y') + "\r";
    CHECK(skip_rest_of_line(second_read, found_end) == second_read.size());
    CHECK_FALSE(found_end);
    const std::string_view third_read = "\nNOOP\r\n";
    const std::size_t skipped = skip_rest_of_line(third_read, found_end);
    CHECK(found_end);
    CHECK(skipped == 1);
    const LineFrame next = frame_line(third_read.substr(skipped));
    CHECK(next.status == LineFrame::Status::complete);
    CHECK(parse_command(next.line).verb == Verb::noop);
}

TEST_CASE("command parser recognises every verb in any case", "[command_parser]") {
    struct Expected {
        std::string_view text;
        Verb verb;
    };
    const Expected expected[] = {
        {"HELO", Verb::helo}, {"ehlo", Verb::ehlo},       {"Mail", Verb::mail},
        {"rCpT", Verb::rcpt}, {"data", Verb::data},       {"RSET", Verb::rset},
        {"NoOp", Verb::noop}, {"quit", Verb::quit},       {"VRFY", Verb::vrfy},
        {"expn", Verb::expn}, {"Help", Verb::help},       {"StartTLS", Verb::starttls},
        {"auth", Verb::auth}, {"ETRN", Verb::etrn},       {"turn", Verb::turn},
        {"BDAT", Verb::bdat}, {"xclient", Verb::xclient}, {"STARTTLS", Verb::starttls},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.text);
        const Command command = parse_command(entry.text);
        CHECK(command.verb == entry.verb);
        CHECK(command.name == entry.text);
        CHECK(command.argument.empty());
    }
}

TEST_CASE("command parser splits the argument from the verb", "[command_parser]") {
    const Command ehlo = parse_command("EHLO client.example");
    CHECK(ehlo.verb == Verb::ehlo);
    CHECK(ehlo.name == "EHLO");
    CHECK(ehlo.argument == "client.example");
    CHECK_FALSE(ehlo.missing_keyword);

    const Command padded = parse_command("helo   \t [192.0.2.1] \t ");
    CHECK(padded.verb == Verb::helo);
    CHECK(padded.name == "helo");
    CHECK(padded.argument == "[192.0.2.1]");

    const Command inner = parse_command("VRFY  John  Smith ");
    CHECK(inner.verb == Verb::vrfy);
    CHECK(inner.argument == "John  Smith");

    const Command auth = parse_command("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
    CHECK(auth.verb == Verb::auth);
    CHECK(auth.argument == "PLAIN AGFsaWNlAHNlY3JldA==");

    const Command tab = parse_command("HELO\tclient.example");
    CHECK(tab.verb == Verb::helo);
    CHECK(tab.name == "HELO");
    CHECK(tab.argument == "client.example");

    const Command trailing = parse_command("NOOP \t");
    CHECK(trailing.verb == Verb::noop);
    CHECK(trailing.name == "NOOP");
    CHECK(trailing.argument.empty());
}

TEST_CASE("command parser returns slices of the line", "[command_parser]") {
    const std::string line = "RCPT TO:<b@example.net> NOTIFY=NEVER";
    const Command command = parse_command(line);
    CHECK(command.name.data() == line.data());
    CHECK(command.argument.data() == line.data() + 8);
    CHECK(command.argument == "<b@example.net> NOTIFY=NEVER");
}

TEST_CASE("command parser takes the path after MAIL FROM", "[command_parser]") {
    struct Expected {
        std::string_view line;
        std::string_view argument;
    };
    const Expected expected[] = {
        {"MAIL FROM:<a@example.com>", "<a@example.com>"},
        {"mail from:<a@example.com>", "<a@example.com>"},
        {"MAIL From:<>", "<>"},
        {"MAIL FROM: <a@example.com>", " <a@example.com>"},
        {"MAIL FROM:  <a@example.com> SIZE=1000 BODY=8BITMIME  ",
         "  <a@example.com> SIZE=1000 BODY=8BITMIME"},
        {"MAIL \t FROM:<a@example.com>", "<a@example.com>"},
        {"MAIL FROM:a@example.com", "a@example.com"},
        {"MAIL FROM:", ""},
        {"MAIL FROM:   ", ""},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.line);
        const Command command = parse_command(entry.line);
        CHECK(command.verb == Verb::mail);
        CHECK_FALSE(command.missing_keyword);
        CHECK(command.argument == entry.argument);
    }
}

TEST_CASE("command parser takes the path after RCPT TO", "[command_parser]") {
    struct Expected {
        std::string_view line;
        std::string_view argument;
    };
    const Expected expected[] = {
        {"RCPT TO:<b@example.net>", "<b@example.net>"},
        {"rcpt to:<Postmaster>", "<Postmaster>"},
        {"RCPT tO: <b@example.net> NOTIFY=SUCCESS,FAILURE", " <b@example.net> NOTIFY=SUCCESS,FAILURE"},
        {"RCPT TO:<@a.example,@b.example:c@d.example>", "<@a.example,@b.example:c@d.example>"},
        {"RCPT TO:", ""},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.line);
        const Command command = parse_command(entry.line);
        CHECK(command.verb == Verb::rcpt);
        CHECK_FALSE(command.missing_keyword);
        CHECK(command.argument == entry.argument);
    }
}

TEST_CASE("command parser flags MAIL and RCPT without their keyword", "[command_parser]") {
    struct Expected {
        std::string_view line;
        Verb verb;
        std::string_view argument;
    };
    const Expected expected[] = {
        {"MAIL", Verb::mail, ""},
        {"MAIL  ", Verb::mail, ""},
        {"MAIL <a@example.com>", Verb::mail, "<a@example.com>"},
        {"MAIL FROM <a@example.com>", Verb::mail, "FROM <a@example.com>"},
        {"MAIL FROM :<a@example.com>", Verb::mail, "FROM :<a@example.com>"},
        {"MAIL FRO", Verb::mail, "FRO"},
        {"MAIL TO:<a@example.com>", Verb::mail, "TO:<a@example.com>"},
        {"RCPT", Verb::rcpt, ""},
        {"RCPT FROM:<b@example.net>", Verb::rcpt, "FROM:<b@example.net>"},
        {"RCPT T:<b@example.net>", Verb::rcpt, "T:<b@example.net>"},
        {"RCPT TO <b@example.net>", Verb::rcpt, "TO <b@example.net>"},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.line);
        const Command command = parse_command(entry.line);
        CHECK(command.verb == entry.verb);
        CHECK(command.missing_keyword);
        CHECK(command.argument == entry.argument);
    }
}

TEST_CASE("command parser ignores FROM and TO after other verbs", "[command_parser]") {
    const Command command = parse_command("VRFY FROM:<a@example.com>");
    CHECK(command.verb == Verb::vrfy);
    CHECK_FALSE(command.missing_keyword);
    CHECK(command.argument == "FROM:<a@example.com>");
}

TEST_CASE("command parser names verbs it does not know", "[command_parser]") {
    struct Expected {
        std::string_view line;
        std::string_view name;
        std::string_view argument;
    };
    const Expected expected[] = {
        {"FOO bar", "FOO", "bar"},
        {"HELO1 x", "HELO1", "x"},
        {"H-LO x", "H-LO", "x"},
        {"MAIL:FROM:<a@b>", "MAIL:FROM:<a@b>", ""},
        {"MAILFROM:<a@b>", "MAILFROM:<a@b>", ""},
        {"STARTTLSX", "STARTTLSX", ""},
        {"HEL", "HEL", ""},
        {"", "", ""},
        {" HELO x", "", "HELO x"},
        {"GET / HTTP/1.1", "GET", "/ HTTP/1.1"},
        {"ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP", ""},
        {"ABCDEFGHIJKLMNOPQ rest", "ABCDEFGHIJKLMNOP", "rest"},
    };
    for (const Expected& entry : expected) {
        CAPTURE(entry.line);
        const Command command = parse_command(entry.line);
        CHECK(command.verb == Verb::unknown);
        CHECK(command.name == entry.name);
        CHECK(command.argument == entry.argument);
        CHECK_FALSE(command.missing_keyword);
    }
}

TEST_CASE("command parser shows at most 16 octets of a very long verb", "[command_parser]") {
    const std::string line = "EHLO" + std::string(5000, 'O') + " x";
    const Command command = parse_command(line);
    CHECK(command.verb == Verb::unknown);
    CHECK(command.name == "EHLOOOOOOOOOOOOO");
    CHECK(command.argument == "x");
}

TEST_CASE("command parser refuses control characters anywhere in the line", "[command_parser]") {
    using namespace std::string_view_literals;
    const std::string_view hostile[] = {
        "NOOP\0"sv,
        "\0NOOP"sv,
        "MAIL FROM:<a\0@example.com>"sv,
        "RCPT TO:<b@example.net>\r"sv,
        "RCPT TO:<b@exa\rmple.net>"sv,
        "DATA\r"sv,
        "\r"sv,
        ".\r"sv,
        "EHLO x\x1b[31m"sv,
        "EHLO x\x7f"sv,
        "HELO \x01"sv,
        "QU\x08IT"sv,
        "NOOP\n"sv,
        "XYZ\x1f"sv,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ\0"sv,
    };
    for (const std::string_view line : hostile) {
        CAPTURE(line);
        const Command command = parse_command(line);
        CHECK(command.verb == Verb::invalid);
        CHECK(command.name.empty());
        CHECK(command.argument.empty());
        CHECK_FALSE(command.missing_keyword);
    }
}

TEST_CASE("command parser refuses 8-bit octets in the verb", "[command_parser]") {
    const std::string_view hostile[] = {
        "H\xc3\x89LO x", "\xff\xfe", "NOOP\xa0", "\xd0\x95HLO client.example", "EHLO\xc0\xaf x",
    };
    for (const std::string_view line : hostile) {
        CAPTURE(line);
        const Command command = parse_command(line);
        CHECK(command.verb == Verb::invalid);
        CHECK(command.name.empty());
        CHECK(command.argument.empty());
    }
}

TEST_CASE("command parser keeps 8-bit octets in the argument", "[command_parser]") {
    const Command rcpt = parse_command("RCPT TO:<j\xc3\xb6rg@b\xc3\xbc"
                                       "cher.example>");
    CHECK(rcpt.verb == Verb::rcpt);
    CHECK(rcpt.argument == "<j\xc3\xb6rg@b\xc3\xbc"
                           "cher.example>");
    const Command helo = parse_command("HELO \xff\xfe");
    CHECK(helo.verb == Verb::helo);
    CHECK(helo.argument == "\xff\xfe");
}

TEST_CASE("command parser allows TAB inside the argument", "[command_parser]") {
    const Command command = parse_command("HELP\tMAIL\tRCPT");
    CHECK(command.verb == Verb::help);
    CHECK(command.argument == "MAIL\tRCPT");
}

TEST_CASE("command parser lets only RSET MAIL and RCPT lead a pipelined group", "[command_parser]") {
    for (const Verb verb : command_parser_test::all_verbs) {
        CAPTURE(static_cast<int>(verb));
        const bool expected = verb == Verb::rset || verb == Verb::mail || verb == Verb::rcpt;
        CHECK(may_be_followed_in_group(verb) == expected);
    }
}

TEST_CASE("command parser names exactly the control characters", "[command_parser]") {
    int control_count = 0;
    for (int value = 0; value < 256; ++value) {
        if (is_control_character(static_cast<char>(value))) {
            ++control_count;
            CHECK(((value < 0x20 && value != '\t') || value == 0x7f));
        }
    }
    CHECK(control_count == 32);
    CHECK_FALSE(is_control_character('\t'));
    CHECK_FALSE(is_control_character(' '));
    CHECK(is_control_character('\0'));
    CHECK(is_control_character('\r'));
    CHECK(is_control_character('\n'));
    using namespace std::string_view_literals;
    CHECK(contains_control_character("EHLO x\0"sv));
    CHECK(contains_control_character("\x7f"));
    CHECK_FALSE(contains_control_character("EHLO\tx \xc3\xa9"));
    CHECK_FALSE(contains_control_character(""));
}
