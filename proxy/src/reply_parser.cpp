#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <algorithm>
#include <limits>

namespace relayguard::proxy {
namespace reply_parser_detail {

constexpr std::size_t reply_code_length = 3;

ParsedReply malformed(const char* problem) {
    ParsedReply reply;
    reply.status = ParsedReply::Status::malformed;
    reply.problem = problem;
    return reply;
}

bool is_digit_between(char octet, char lowest, char highest) {
    return octet >= lowest && octet <= highest;
}

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39.
bool starts_with_reply_code(std::string_view line) {
    return line.size() >= reply_code_length && is_digit_between(line[0], '2', '5') &&
           is_digit_between(line[1], '0', '5') && is_digit_between(line[2], '0', '9');
}

int reply_code_of(std::string_view line) {
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

bool is_blank(char octet) {
    return octet == ' ' || octet == '\t';
}

// Splits off the next word of a capability line; empty when none is left.
std::string_view next_word(std::string_view& text) {
    while (!text.empty() && is_blank(text.front())) {
        text.remove_prefix(1);
    }
    std::size_t length = 0;
    while (length < text.size() && !is_blank(text[length])) {
        ++length;
    }
    const std::string_view word = text.substr(0, length);
    text.remove_prefix(length);
    return word;
}

// RFC 1870: "SIZE" [SP 1*20DIGIT]. Anything but digits reads as "no known limit"; a number too large
// for 64 bits saturates rather than wrapping into a small, wrong limit.
std::uint64_t size_limit_of(std::string_view value) {
    constexpr std::uint64_t largest = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t limit = 0;
    for (const char octet : value) {
        if (!is_digit_between(octet, '0', '9')) {
            return 0;
        }
        const auto digit = static_cast<std::uint64_t>(octet - '0');
        limit = limit > (largest - digit) / 10 ? largest : limit * 10 + digit;
    }
    return limit;
}

void read_xclient_attributes(std::string_view parameters, UpstreamCapabilities& capabilities) {
    for (std::string_view name = next_word(parameters); !name.empty(); name = next_word(parameters)) {
        capabilities.xclient_addr = capabilities.xclient_addr || equals_ignoring_ascii_case(name, "ADDR");
        capabilities.xclient_name = capabilities.xclient_name || equals_ignoring_ascii_case(name, "NAME");
        capabilities.xclient_helo = capabilities.xclient_helo || equals_ignoring_ascii_case(name, "HELO");
        capabilities.xclient_proto = capabilities.xclient_proto || equals_ignoring_ascii_case(name, "PROTO");
        capabilities.xclient_login = capabilities.xclient_login || equals_ignoring_ascii_case(name, "LOGIN");
    }
}

struct FlagKeyword {
    std::string_view keyword;
    bool UpstreamCapabilities::*flag;
};

constexpr FlagKeyword flag_keywords[] = {
    {"PIPELINING", &UpstreamCapabilities::pipelining},
    {"8BITMIME", &UpstreamCapabilities::eight_bit_mime},
    {"SMTPUTF8", &UpstreamCapabilities::smtputf8},
    {"STARTTLS", &UpstreamCapabilities::starttls},
    {"ENHANCEDSTATUSCODES", &UpstreamCapabilities::enhanced_status_codes},
    {"CHUNKING", &UpstreamCapabilities::chunking},
    {"DSN", &UpstreamCapabilities::dsn},
    {"AUTH", &UpstreamCapabilities::auth},
};

void read_capability_line(std::string_view line, UpstreamCapabilities& capabilities) {
    const std::string_view keyword = next_word(line);
    if (equals_ignoring_ascii_case(keyword, "SIZE")) {
        capabilities.size_given = true;
        capabilities.size_limit = size_limit_of(next_word(line));
    } else if (equals_ignoring_ascii_case(keyword, "XCLIENT")) {
        capabilities.xclient = true;
        read_xclient_attributes(line, capabilities);
    } else {
        for (const FlagKeyword& known : flag_keywords) {
            if (equals_ignoring_ascii_case(keyword, known.keyword)) {
                capabilities.*known.flag = true;
            }
        }
    }
}

} // namespace reply_parser_detail

ParsedReply parse_reply(std::string_view buffered) {
    using namespace reply_parser_detail;
    ParsedReply reply;
    std::size_t position = 0;
    for (;;) {
        const std::string_view rest = buffered.substr(position);
        const std::size_t line_feed = rest.substr(0, max_reply_line_length).find('\n');
        if (line_feed == std::string_view::npos) {
            if (rest.size() >= max_reply_line_length) {
                return malformed("reply line too long");
            }
            return ParsedReply{};
        }
        std::string_view line = rest.substr(0, line_feed);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        position += line_feed + 1;

        if (!starts_with_reply_code(line)) {
            return malformed("bad reply code");
        }
        const int code = reply_code_of(line);
        if (reply.line_count > 0 && code != reply.code) {
            return malformed("reply code changed");
        }
        const bool is_final = line.size() == reply_code_length || line[reply_code_length] == ' ';
        if (!is_final && line[reply_code_length] != '-') {
            return malformed("bad reply separator");
        }
        const std::string_view text = line.substr(std::min(line.size(), reply_code_length + 1));
        if (contains_control_character(text)) {
            return malformed("control character in reply");
        }
        reply.code = code;
        reply.lines[reply.line_count] = text;
        ++reply.line_count;
        if (is_final) {
            reply.status = ParsedReply::Status::complete;
            reply.consumed = position;
            return reply;
        }
        // The final line would be one more than the limit, so there is no use waiting for it.
        if (reply.line_count == max_reply_lines) {
            return malformed("too many reply lines");
        }
    }
}

std::string reply_summary(const ParsedReply& reply) {
    std::string summary = std::to_string(reply.code);
    const std::string_view last = reply.line_count ? reply.lines[reply.line_count - 1] : std::string_view();
    if (!last.empty()) {
        summary.append(" ").append(last);
    }
    return summary;
}

UpstreamCapabilities parse_ehlo_capabilities(const ParsedReply& ehlo_reply) {
    UpstreamCapabilities capabilities;
    if (ehlo_reply.status != ParsedReply::Status::complete || ehlo_reply.code != 250) {
        return capabilities;
    }
    for (std::size_t index = 1; index < ehlo_reply.line_count && index < max_reply_lines; ++index) {
        reply_parser_detail::read_capability_line(ehlo_reply.lines[index], capabilities);
    }
    return capabilities;
}

} // namespace relayguard::proxy
