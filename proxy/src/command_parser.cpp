#include <relayguard/proxy/command_parser.hpp>

namespace relayguard::proxy {
namespace command_parser_detail {

// No SMTP verb is longer ("STARTTLS" is 8); the log shows no more of an unknown one than this.
constexpr std::size_t max_verb_length = 16;

struct KnownVerb {
    std::string_view name;
    Verb verb;
};

constexpr KnownVerb known_verbs[] = {
    {"HELO", Verb::helo},       {"EHLO", Verb::ehlo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},       {"RSET", Verb::rset}, {"NOOP", Verb::noop}, {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},       {"EXPN", Verb::expn}, {"HELP", Verb::help}, {"STARTTLS", Verb::starttls},
    {"AUTH", Verb::auth},       {"ETRN", Verb::etrn}, {"TURN", Verb::turn}, {"BDAT", Verb::bdat},
    {"XCLIENT", Verb::xclient},
};

bool is_blank(char octet) {
    return octet == ' ' || octet == '\t';
}

bool is_ascii_letter(char octet) {
    return (octet >= 'a' && octet <= 'z') || (octet >= 'A' && octet <= 'Z');
}

bool has_eight_bit_octet(std::string_view text) {
    for (const char octet : text) {
        if (static_cast<unsigned char>(octet) > 0x7f) {
            return true;
        }
    }
    return false;
}

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

Verb lookup_verb(std::string_view verb_text) {
    if (verb_text.size() > max_verb_length) {
        return Verb::unknown;
    }
    for (const char octet : verb_text) {
        if (!is_ascii_letter(octet)) {
            return Verb::unknown;
        }
    }
    for (const KnownVerb& known : known_verbs) {
        if (equals_ignoring_ascii_case(verb_text, known.name)) {
            return known.verb;
        }
    }
    return Verb::unknown;
}

// MAIL and RCPT carry their keyword in the argument: "MAIL FROM:<a@b>", "RCPT TO:<c@d>".
std::string_view path_keyword_of(Verb verb) {
    if (verb == Verb::mail) {
        return "FROM:";
    }
    if (verb == Verb::rcpt) {
        return "TO:";
    }
    return {};
}

} // namespace command_parser_detail

LineFrame frame_line(std::string_view buffered, std::size_t max_length) {
    LineFrame frame;
    const std::string_view window = buffered.substr(0, max_length);
    const std::size_t line_feed = window.find('\n');
    if (line_feed != std::string_view::npos) {
        frame.status = LineFrame::Status::complete;
        frame.line = window.substr(0, line_feed);
        if (!frame.line.empty() && frame.line.back() == '\r') {
            frame.line.remove_suffix(1);
        }
        frame.consumed = line_feed + 1;
    } else if (!buffered.empty() && buffered.size() >= max_length) {
        frame.status = LineFrame::Status::too_long;
    }
    return frame;
}

std::size_t skip_rest_of_line(std::string_view buffered, bool& found_end) {
    const std::size_t line_feed = buffered.find('\n');
    found_end = line_feed != std::string_view::npos;
    return found_end ? line_feed + 1 : buffered.size();
}

Command parse_command(std::string_view line) {
    using namespace command_parser_detail;
    Command command;
    std::size_t verb_end = 0;
    while (verb_end < line.size() && !is_blank(line[verb_end])) {
        ++verb_end;
    }
    const std::string_view verb_text = line.substr(0, verb_end);
    if (contains_control_character(line) || has_eight_bit_octet(verb_text)) {
        command.verb = Verb::invalid;
        return command;
    }
    command.verb = lookup_verb(verb_text);
    command.name = verb_text.substr(0, max_verb_length);
    std::string_view argument = trim_blanks(line.substr(verb_end));
    const std::string_view keyword = path_keyword_of(command.verb);
    if (!keyword.empty()) {
        if (argument.size() >= keyword.size() &&
            equals_ignoring_ascii_case(argument.substr(0, keyword.size()), keyword)) {
            argument.remove_prefix(keyword.size());
        } else {
            command.missing_keyword = true;
        }
    }
    command.argument = argument;
    return command;
}

bool may_be_followed_in_group(Verb verb) {
    return verb == Verb::rset || verb == Verb::mail || verb == Verb::rcpt;
}

} // namespace relayguard::proxy
