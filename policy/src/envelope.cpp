#include "utf8.hpp"

#include <relayguard/policy/ascii.hpp>
#include <relayguard/policy/domain_set.hpp>
#include <relayguard/policy/envelope.hpp>

#include <cstddef>
#include <limits>
#include <utility>

namespace relayguard::policy {
namespace envelope_detail {

// RFC 1870 §3: size-value ::= 1*20DIGIT.
constexpr std::size_t max_size_digits = 20;
// RFC 3461 §4.4 and §4.2.
constexpr std::size_t max_envid_length = 100;
constexpr std::size_t max_orcpt_length = 500;
// An unknown keyword is echoed in the 555 reply; this keeps that reply line short whatever is sent.
constexpr std::size_t max_echoed_keyword_length = 64;

enum class Verb : std::uint8_t { mail, rcpt };

struct VerbTexts {
    const char* usage;
    const char* syntax;
    const char* rejected;
};

const VerbTexts& texts_of(Verb verb) {
    static const VerbTexts mail{"5.5.4 Syntax: MAIL FROM:<address>", "5.1.7 Bad sender address syntax",
                                "5.1.7 Sender address rejected"};
    static const VerbTexts rcpt{"5.5.4 Syntax: RCPT TO:<address>", "5.1.3 Bad recipient address syntax",
                                "5.1.3 Recipient address rejected"};
    return verb == Verb::mail ? mail : rcpt;
}

SmtpReply syntax_error(Verb verb, std::string_view detail) {
    return {501, std::string(texts_of(verb).syntax) + ": " + std::string(detail)};
}

SmtpReply length_error(Verb verb, std::string_view detail) {
    return {553, std::string(texts_of(verb).rejected) + ": " + std::string(detail)};
}

SmtpReply parameter_syntax_error() {
    return {501, "5.5.4 Bad parameter syntax"};
}

SmtpReply invalid_value(std::string_view keyword) {
    return {501, "5.5.4 Invalid " + std::string(keyword) + " value"};
}

bool is_control(unsigned char c) {
    return c < 0x20 || c == 0x7f;
}
bool is_ascii_letter(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_ascii_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_upper_hex_digit(unsigned char c) {
    return is_ascii_digit(c) || (c >= 'A' && c <= 'F');
}

char to_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string upper_case(std::string_view text) {
    std::string upper(text);
    for (char& c : upper) {
        c = to_upper(c);
    }
    return upper;
}

bool has_control_character(std::string_view text) {
    for (const char c : text) {
        if (is_control(static_cast<unsigned char>(c))) {
            return true;
        }
    }
    return false;
}

bool has_non_ascii(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return true;
        }
    }
    return false;
}

// RFC 5321 atext; octets above 127 are UTF8-non-ascii (RFC 6531 §3.3), validated as a whole elsewhere.
bool is_atext(unsigned char c) {
    static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return is_ascii_letter(c) || is_ascii_digit(c) || c >= 0x80 ||
           specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 5321 qtextSMTP (%d32-33 / %d35-91 / %d93-126), extended by RFC 6531 with UTF-8.
bool is_qtext(unsigned char c) {
    return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80;
}

// RFC 3461 §4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and "=", hexchar = "+" 2HEX.
bool is_xtext(std::string_view text) {
    for (std::size_t index = 0; index < text.size(); ++index) {
        const auto c = static_cast<unsigned char>(text[index]);
        if (c == '+') {
            if (text.size() - index < 3 || !is_upper_hex_digit(static_cast<unsigned char>(text[index + 1])) ||
                !is_upper_hex_digit(static_cast<unsigned char>(text[index + 2]))) {
                return false;
            }
            index += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
    }
    return true;
}

// Appends the local part as a path writes it: as it is when it is a Dot-string, quoted otherwise.
void append_local_part(std::string& out, std::string_view local_part) {
    if (is_dot_string(local_part)) {
        out.append(local_part);
        return;
    }
    out += '"';
    for (const char c : local_part) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
}

// The length of what append_local_part() writes, without writing it.
std::size_t local_part_length(std::string_view local_part) {
    if (is_dot_string(local_part)) {
        return local_part.size();
    }
    std::size_t length = local_part.size() + 2;
    for (const char c : local_part) {
        length += c == '"' || c == '\\' ? 1 : 0;
    }
    return length;
}

enum class DomainProblem : std::uint8_t { none, missing, bad_domain, bad_literal, too_long };

// Resolves a domain or an address literal to its canonical text.
DomainProblem resolve_domain(std::string_view text, std::string& canonical,
                             std::optional<IpAddress>& literal) {
    static constexpr std::string_view ipv6_tag = "IPv6:";
    if (text.empty()) {
        return DomainProblem::missing;
    }
    if (text.front() == '[') {
        if (text.size() < 2 || text.back() != ']') {
            return DomainProblem::bad_literal;
        }
        const std::string_view inner = text.substr(1, text.size() - 2);
        // RFC 5321 §4.1.3: IPv4 literals are bare dotted quads, IPv6 ones carry the tag; general
        // address literals name protocols nobody routes mail over.
        const bool tagged = starts_with_ignoring_ascii_case(inner, ipv6_tag);
        const std::string_view address_text = tagged ? inner.substr(ipv6_tag.size()) : inner;
        const bool looks_v6 = address_text.find(':') != std::string_view::npos;
        if (tagged != looks_v6) {
            return DomainProblem::bad_literal;
        }
        literal = IpAddress::parse(address_text);
        if (!literal) {
            return DomainProblem::bad_literal;
        }
        canonical =
            literal->is_v4() ? "[" + literal->to_string() + "]" : "[IPv6:" + literal->to_string() + "]";
        return DomainProblem::none;
    }
    literal.reset();
    const std::size_t length = text.back() == '.' ? text.size() - 1 : text.size();
    if (length > max_domain_length) {
        return DomainProblem::too_long;
    }
    canonical = normalise_domain(text);
    return canonical.empty() ? DomainProblem::bad_domain : DomainProblem::none;
}

std::optional<SmtpReply> domain_error(Verb verb, DomainProblem problem) {
    switch (problem) {
    case DomainProblem::none:
        return std::nullopt;
    case DomainProblem::missing:
        return syntax_error(verb, "missing domain after @");
    case DomainProblem::bad_domain:
        return syntax_error(verb, "bad domain");
    case DomainProblem::bad_literal:
        return syntax_error(verb, "bad address literal");
    case DomainProblem::too_long:
        return length_error(verb, "domain longer than 255 octets");
    }
    return syntax_error(verb, "bad domain");
}

struct ParsedPath {
    bool null = false;
    bool postmaster = false;
    Mailbox mailbox;
    std::vector<std::string> source_route;
    bool non_ascii = false;
};

// Finds where the path ends: at the closing '>' when it began with '<', else at the first space;
// quoted strings are skipped either way. Returns the index of that end, or an error.
std::optional<SmtpReply> find_path_end(std::string_view text, bool bracketed, Verb verb, std::size_t& end) {
    bool in_quotes = false;
    for (std::size_t index = bracketed ? 1 : 0; index < text.size(); ++index) {
        const char c = text[index];
        if (in_quotes) {
            if (c == '\\') {
                ++index; // a quoted-pair: the next octet is never a delimiter
            } else if (c == '"') {
                in_quotes = false;
            }
            continue;
        }
        if (c == '"') {
            in_quotes = true;
        } else if (c == '<' || (c == '>' && !bracketed)) {
            return syntax_error(verb, "unbalanced angle brackets");
        } else if ((c == '>' && bracketed) || (c == ' ' && !bracketed)) {
            end = index;
            return std::nullopt;
        }
    }
    if (in_quotes) {
        return syntax_error(verb, "unterminated quoted string");
    }
    if (bracketed) {
        return syntax_error(verb, "unbalanced angle brackets");
    }
    end = text.size();
    return std::nullopt;
}

// "@a,@b:" — every hop a domain or an address literal.
std::optional<SmtpReply> parse_source_route(std::string_view route, Verb verb,
                                            std::vector<std::string>& hops) {
    std::size_t start = 0;
    while (start <= route.size()) {
        std::size_t comma = route.find(',', start);
        if (comma == std::string_view::npos) {
            comma = route.size();
        }
        const std::string_view hop = route.substr(start, comma - start);
        std::string canonical;
        std::optional<IpAddress> literal;
        if (hop.size() < 2 || hop.front() != '@' ||
            resolve_domain(hop.substr(1), canonical, literal) != DomainProblem::none) {
            return syntax_error(verb, "bad source route");
        }
        hops.push_back(std::move(canonical));
        start = comma + 1;
    }
    return std::nullopt;
}

// The index of the ':' that ends a source route; colons inside "[IPv6:…]" hops do not count.
std::size_t source_route_end(std::string_view text) {
    bool in_literal = false;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '[') {
            in_literal = true;
        } else if (c == ']') {
            in_literal = false;
        } else if (c == ':' && !in_literal) {
            return index;
        }
    }
    return std::string_view::npos;
}

// The index of the last '@' outside quoted strings, or npos.
std::size_t last_at_sign(std::string_view text) {
    std::size_t found = std::string_view::npos;
    bool in_quotes = false;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (in_quotes) {
            if (c == '\\') {
                ++index;
            } else if (c == '"') {
                in_quotes = false;
            }
        } else if (c == '"') {
            in_quotes = true;
        } else if (c == '@') {
            found = index;
        }
    }
    return found;
}

std::optional<SmtpReply> parse_quoted_local_part(std::string_view text, Verb verb, Mailbox& mailbox) {
    std::string dequoted;
    std::size_t index = 1;
    for (; index < text.size() && text[index] != '"'; ++index) {
        const auto c = static_cast<unsigned char>(text[index]);
        if (c == '\\') {
            // RFC 5321 quoted-pairSMTP: a backslash and one printable ASCII octet.
            if (index + 1 >= text.size()) {
                return syntax_error(verb, "unterminated quoted string");
            }
            const auto escaped = static_cast<unsigned char>(text[index + 1]);
            if (escaped < 32 || escaped > 126) {
                return syntax_error(verb, "bad character in local part");
            }
            dequoted += static_cast<char>(escaped);
            ++index;
        } else if (is_qtext(c)) {
            dequoted += static_cast<char>(c);
        } else {
            return syntax_error(verb, "bad character in local part");
        }
    }
    if (index >= text.size()) {
        return syntax_error(verb, "unterminated quoted string");
    }
    if (index + 1 != text.size()) {
        return syntax_error(verb, "bad character in local part"); // text after the closing quote
    }
    if (dequoted.empty()) {
        return syntax_error(verb, "empty local part");
    }
    mailbox.local_part = std::move(dequoted);
    mailbox.local_part_was_quoted = true;
    return std::nullopt;
}

// A Dot-string in which '@' may also separate atoms ("to@domain" of "to@domain@host").
std::optional<SmtpReply> parse_unquoted_local_part(std::string_view text, Verb verb, Mailbox& mailbox) {
    bool after_separator = true;
    for (const char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        if (c == '.' || c == '@') {
            if (after_separator) {
                return syntax_error(verb,
                                    c == '.' ? "misplaced dot in local part" : "bad character in local part");
            }
            after_separator = true;
        } else if (is_atext(octet)) {
            after_separator = false;
        } else {
            return syntax_error(verb, "bad character in local part");
        }
    }
    if (after_separator) {
        return syntax_error(verb, text.back() == '.' ? "misplaced dot in local part"
                                                     : "bad character in local part");
    }
    mailbox.local_part = std::string(text);
    mailbox.local_part_was_quoted = false;
    return std::nullopt;
}

std::optional<SmtpReply> parse_local_part(std::string_view text, Verb verb, Mailbox& mailbox) {
    if (text.empty()) {
        return syntax_error(verb, "empty local part");
    }
    if (text.front() == '"') {
        return parse_quoted_local_part(text, verb, mailbox);
    }
    return parse_unquoted_local_part(text, verb, mailbox);
}

// Parses what stood between the angle brackets.
std::optional<SmtpReply> parse_path_text(std::string_view text, Verb verb, ParsedPath& path) {
    if (text.empty()) {
        if (verb == Verb::mail) {
            path.null = true;
            return std::nullopt;
        }
        return syntax_error(verb, "empty address");
    }
    if (!is_well_formed_utf8(text)) {
        return syntax_error(verb, "malformed UTF-8");
    }
    path.non_ascii = has_non_ascii(text);

    std::string_view mailbox_text = text;
    if (text.front() == '@') {
        const std::size_t colon = source_route_end(text);
        if (colon == std::string_view::npos || colon + 1 == text.size()) {
            return syntax_error(verb, "bad source route");
        }
        if (auto error = parse_source_route(text.substr(0, colon), verb, path.source_route)) {
            return error;
        }
        mailbox_text = text.substr(colon + 1);
    }

    const std::size_t at = last_at_sign(mailbox_text);
    if (!path.source_route.empty() && at == std::string_view::npos) {
        // RFC 5321 §4.1.2: a route is followed by a whole Mailbox, domain included. Without the check,
        // <@a.test:PostMaster> would reach the upstream as <PostMaster>, which means something else.
        return syntax_error(verb, "bad source route");
    }
    const std::string_view local_text = mailbox_text.substr(0, at);
    if (auto error = parse_local_part(local_text, verb, path.mailbox)) {
        return error;
    }
    // Quoting does not change a local part, so <"Postmaster"> is the special recipient as well: the
    // upstream will read our canonical <postmaster> that way.
    if (verb == Verb::rcpt && at == std::string_view::npos && path.source_route.empty() &&
        equals_ignoring_ascii_case(path.mailbox.local_part, "postmaster")) {
        path.postmaster = true;
        path.mailbox.local_part = "postmaster";
        path.mailbox.local_part_was_quoted = false;
        return std::nullopt;
    }
    if (at != std::string_view::npos) {
        const DomainProblem problem =
            resolve_domain(mailbox_text.substr(at + 1), path.mailbox.domain, path.mailbox.literal);
        if (auto error = domain_error(verb, problem)) {
            return error;
        }
    }
    if (local_part_length(path.mailbox.local_part) > max_local_part_length) {
        return length_error(verb, "local part longer than 64 octets");
    }
    // Re-quoting may lengthen what the upstream receives; it must still fit.
    if (path.mailbox.canonical_length() + 2 > max_path_length) {
        return length_error(verb, "path longer than 256 octets");
    }
    return std::nullopt;
}

// Reads the path from the start of `argument` and leaves the parameter text in `parameters`.
std::optional<SmtpReply> read_path(std::string_view argument, Verb verb, ParsedPath& path,
                                   std::string_view& parameters) {
    if (has_control_character(argument)) {
        return SmtpReply{501, "5.5.2 Syntax error: control character in command"};
    }
    const std::size_t start = argument.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        return SmtpReply{501, texts_of(verb).usage};
    }
    const std::string_view text = argument.substr(start);
    const bool bracketed = text.front() == '<';
    std::size_t end = 0;
    if (auto error = find_path_end(text, bracketed, verb, end)) {
        return error;
    }
    const std::string_view inner = bracketed ? text.substr(1, end - 1) : text.substr(0, end);
    parameters = text.substr(bracketed ? end + 1 : end);
    if (!parameters.empty() && parameters.front() != ' ') {
        return syntax_error(verb, parameters.front() == '>' ? "unbalanced angle brackets"
                                                            : "text after the address");
    }
    if (auto error = parse_path_text(inner, verb, path)) {
        return error;
    }
    // Checked after parsing, so that an over-long local part or domain is named as such.
    if (inner.size() + 2 > max_path_length) {
        return length_error(verb, "path longer than 256 octets");
    }
    return std::nullopt;
}

bool is_keyword(std::string_view keyword) {
    if (keyword.empty() || !(is_ascii_letter(static_cast<unsigned char>(keyword.front())) ||
                             is_ascii_digit(static_cast<unsigned char>(keyword.front())))) {
        return false;
    }
    for (const char c : keyword) {
        const auto octet = static_cast<unsigned char>(c);
        if (!is_ascii_letter(octet) && !is_ascii_digit(octet) && c != '-') {
            return false;
        }
    }
    return true;
}

SmtpReply unsupported(std::string_view keyword) {
    return {555, "5.5.4 Unsupported option: " + std::string(keyword.substr(0, max_echoed_keyword_length))};
}

bool parse_size(std::string_view text, std::uint64_t& size) {
    if (text.empty() || text.size() > max_size_digits) {
        return false;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        if (!is_ascii_digit(static_cast<unsigned char>(c))) {
            return false;
        }
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    size = value;
    return true;
}

// RFC 3461 §4.1: NOTIFY=NEVER, or a comma-separated list of SUCCESS, FAILURE and DELAY.
bool is_notify_value(std::string_view text) {
    if (equals_ignoring_ascii_case(text, "NEVER")) {
        return true;
    }
    static constexpr std::string_view conditions[] = {"SUCCESS", "FAILURE", "DELAY"};
    bool seen[3] = {false, false, false};
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string_view::npos) {
            comma = text.size();
        }
        const std::string_view item = text.substr(start, comma - start);
        bool known = false;
        for (std::size_t index = 0; index < 3; ++index) {
            if (equals_ignoring_ascii_case(item, conditions[index])) {
                if (seen[index]) {
                    return false;
                }
                seen[index] = known = true;
            }
        }
        if (!known) {
            return false;
        }
        start = comma + 1;
    }
    return true;
}

// RFC 3461 §4.2: ORCPT=addr-type ";" xtext. RFC 6533 §3 lets the "utf-8" type carry raw UTF-8 when
// the transaction is SMTPUTF8.
bool is_orcpt_value(std::string_view text, bool smtputf8) {
    if (text.size() > max_orcpt_length) {
        return false;
    }
    const std::size_t semicolon = text.find(';');
    if (semicolon == std::string_view::npos || semicolon + 1 == text.size()) {
        return false;
    }
    const std::string_view type = text.substr(0, semicolon);
    const std::string_view address = text.substr(semicolon + 1);
    if (!is_keyword(type)) {
        return false;
    }
    if (smtputf8 && equals_ignoring_ascii_case(type, "utf-8") && has_non_ascii(address)) {
        if (!is_well_formed_utf8(address)) {
            return false;
        }
        for (const char c : address) {
            const auto octet = static_cast<unsigned char>(c);
            if (octet < 0x80 && (octet < 33 || octet > 126 || c == '=')) {
                return false;
            }
        }
        return true;
    }
    return is_xtext(address);
}

std::optional<SmtpReply> apply_parameter(const EsmtpParameter& parameter, MailCommand& command, bool) {
    const std::string& keyword = parameter.keyword;
    const std::string_view value = parameter.value;
    bool valid = parameter.has_value;
    if (keyword == "SIZE") {
        std::uint64_t size = 0;
        valid = valid && parse_size(value, size);
        if (valid) {
            command.size = size;
        }
    } else if (keyword == "BODY") {
        if (valid && equals_ignoring_ascii_case(value, "7BIT")) {
            command.body = BodyType::seven_bit;
        } else if (valid && equals_ignoring_ascii_case(value, "8BITMIME")) {
            command.body = BodyType::eight_bit_mime;
        } else {
            valid = false;
        }
    } else if (keyword == "SMTPUTF8") {
        valid = !parameter.has_value;
        command.smtputf8 = valid;
    } else if (keyword == "RET") {
        valid =
            valid && (equals_ignoring_ascii_case(value, "FULL") || equals_ignoring_ascii_case(value, "HDRS"));
    } else if (keyword == "ENVID") {
        valid = valid && !value.empty() && value.size() <= max_envid_length && is_xtext(value);
    } else if (keyword == "AUTH") {
        // RFC 4954 §5: "<>" or the xtext of the original submitter's mailbox.
        valid = valid && (value == "<>" || (!value.empty() && is_xtext(value)));
    } else {
        return unsupported(keyword);
    }
    if (!valid) {
        return invalid_value(keyword);
    }
    return std::nullopt;
}

std::optional<SmtpReply> apply_parameter(const EsmtpParameter& parameter, RcptCommand&, bool smtputf8) {
    const std::string& keyword = parameter.keyword;
    bool valid = parameter.has_value;
    if (keyword == "NOTIFY") {
        valid = valid && is_notify_value(parameter.value);
    } else if (keyword == "ORCPT") {
        valid = valid && is_orcpt_value(parameter.value, smtputf8);
    } else {
        return unsupported(keyword);
    }
    if (!valid) {
        return invalid_value(keyword);
    }
    return std::nullopt;
}

// Splits "KEY=value KEY2" on spaces, checks each keyword's syntax and uniqueness, and lets the
// command's apply_parameter validate the value.
template <typename Command>
std::optional<SmtpReply> read_parameters(std::string_view text, Command& command, bool smtputf8) {
    std::size_t start = 0;
    while (true) {
        start = text.find_first_not_of(' ', start);
        if (start == std::string_view::npos) {
            return std::nullopt;
        }
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view token = text.substr(start, end - start);
        const std::size_t equals = token.find('=');
        const std::string_view keyword = token.substr(0, equals);
        if (!is_keyword(keyword)) {
            return parameter_syntax_error();
        }
        EsmtpParameter parameter;
        parameter.keyword = upper_case(keyword);
        parameter.has_value = equals != std::string_view::npos;
        if (parameter.has_value) {
            parameter.value = std::string(token.substr(equals + 1));
        }
        for (const EsmtpParameter& earlier : command.parameters) {
            if (earlier.keyword == parameter.keyword) {
                return SmtpReply{501, "5.5.4 Duplicate " + parameter.keyword + " parameter"};
            }
        }
        if (auto error = apply_parameter(parameter, command, smtputf8)) {
            return error;
        }
        command.parameters.push_back(std::move(parameter));
        start = end;
    }
}

SmtpReply non_ascii_error() {
    return {553, "5.6.7 Non-ASCII address requires SMTPUTF8"};
}

} // namespace envelope_detail

bool is_dot_string(std::string_view local_part) {
    bool after_dot = true;
    for (const char c : local_part) {
        if (c == '.') {
            if (after_dot) {
                return false;
            }
            after_dot = true;
        } else if (envelope_detail::is_atext(static_cast<unsigned char>(c))) {
            after_dot = false;
        } else {
            return false;
        }
    }
    return !after_dot;
}

std::string without_control_characters(std::string_view text) {
    std::string printable(text);
    for (char& c : printable) {
        if (envelope_detail::is_control(static_cast<unsigned char>(c))) {
            c = '?';
        }
    }
    return printable;
}

void Mailbox::append_canonical(std::string& out) const {
    envelope_detail::append_local_part(out, local_part);
    if (has_domain()) {
        out += '@';
        out += domain;
    }
}

std::size_t Mailbox::canonical_length() const {
    return envelope_detail::local_part_length(local_part) + (has_domain() ? domain.size() + 1 : 0);
}

std::string Mailbox::canonical() const {
    std::string text;
    append_canonical(text);
    return text;
}

namespace envelope_detail {

// The canonical form of `path` (a ReversePath or a ForwardPath) as a new string.
template <typename Path>
std::string canonical_of(const Path& path) {
    std::string text;
    path.append_canonical(text);
    return text;
}

} // namespace envelope_detail

void ReversePath::append_canonical(std::string& out) const {
    if (null) {
        out += "<>";
        return;
    }
    out += '<';
    mailbox.append_canonical(out);
    out += '>';
}

std::string ReversePath::canonical() const {
    return envelope_detail::canonical_of(*this);
}

void ForwardPath::append_canonical(std::string& out) const {
    out += '<';
    if (postmaster) {
        out += "postmaster";
    } else {
        mailbox.append_canonical(out);
    }
    out += '>';
}

std::string ForwardPath::canonical() const {
    return envelope_detail::canonical_of(*this);
}

ParseResult<MailCommand> parse_mail_from(std::string_view argument) {
    using envelope_detail::Verb;
    ParseResult<MailCommand> result;
    envelope_detail::ParsedPath path;
    std::string_view parameters;
    if (auto error = envelope_detail::read_path(argument, Verb::mail, path, parameters)) {
        result.error = std::move(*error);
        return result;
    }
    MailCommand command;
    if (auto error = envelope_detail::read_parameters(parameters, command, false)) {
        result.error = std::move(*error);
        return result;
    }
    if (path.non_ascii && !command.smtputf8) {
        result.error = envelope_detail::non_ascii_error();
        return result;
    }
    command.path.null = path.null;
    command.path.mailbox = std::move(path.mailbox);
    command.path.had_source_route = !path.source_route.empty();
    result.value = std::move(command);
    return result;
}

ParseResult<RcptCommand> parse_rcpt_to(std::string_view argument, bool smtputf8) {
    using envelope_detail::Verb;
    ParseResult<RcptCommand> result;
    envelope_detail::ParsedPath path;
    std::string_view parameters;
    if (auto error = envelope_detail::read_path(argument, Verb::rcpt, path, parameters)) {
        result.error = std::move(*error);
        return result;
    }
    RcptCommand command;
    if (auto error = envelope_detail::read_parameters(parameters, command, smtputf8)) {
        result.error = std::move(*error);
        return result;
    }
    if (path.non_ascii && !smtputf8) {
        result.error = envelope_detail::non_ascii_error();
        return result;
    }
    command.path.postmaster = path.postmaster;
    command.path.mailbox = std::move(path.mailbox);
    command.path.source_route = std::move(path.source_route);
    result.value = std::move(command);
    return result;
}

} // namespace relayguard::policy
