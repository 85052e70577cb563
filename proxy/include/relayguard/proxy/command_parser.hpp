#pragma once
// Client command lines: framing (where does the next line end?) and parsing (which verb, which
// argument?). Pure functions of bytes, like nginx's ngx_mail_parse: they copy nothing and return slices
// into the caller's buffer, so the session can parse straight from its fixed input buffer.
#include <relayguard/policy/ascii.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace relayguard::proxy {

// Longest command line accepted, terminator included. RFC 5321 §4.5.3.1.4 says 512, and lets each
// extension add to it (SIZE, DSN's ORCPT/ENVID, AUTH); Postfix accepts 2048 (line_length_limit).
inline constexpr std::size_t max_command_line_length = 2048;

struct LineFrame {
    enum class Status : std::uint8_t {
        incomplete, // no terminator yet and still within the limit: read more
        complete,   // `line` is a whole line without its terminator
        too_long,   // max_length octets and no terminator: answer "500 5.5.2 Line too long" and skip
    };
    Status status = Status::incomplete;
    std::string_view line;    // complete: the line without CRLF / LF
    std::size_t consumed = 0; // complete: octets to drop from the buffer, terminator included
};

// Finds the first line in `buffered`. A line ends at CRLF, or at a bare LF (accepted in commands, as
// Postfix does: commands are re-written before anything reaches the upstream, so it cannot smuggle).
// A CR not followed by LF stays in the line, where parse_command refuses it as a control character.
// A line may occupy at most `max_length` octets terminator included, so with the default 2046 octets
// of text fit before CRLF (2047 before a bare LF); once `max_length` octets are buffered without an LF
// among them the line is too_long, whatever follows.
LineFrame frame_line(std::string_view buffered, std::size_t max_length = max_command_line_length);

// After a too_long line: how many octets of `buffered` to drop to skip the rest of it, terminator
// included; `found_end` tells whether the end of the line was in `buffered`. When it was not, the
// session drops everything and calls this again on the next read.
std::size_t skip_rest_of_line(std::string_view buffered, bool& found_end);

enum class Verb : std::uint8_t {
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    rset,
    noop,
    quit,
    vrfy,
    expn,
    help,
    starttls,
    auth,
    etrn,
    turn,
    bdat,
    xclient,
    // A verb that is none of the above: longer than 16 octets, not all ASCII letters, or not listed.
    unknown,
    // A line with a control character (octets 0-31 except TAB, and 127) anywhere, or an octet above
    // 127 in the verb (no verb has one, and it may be broken UTF-8): answered with a syntax error and
    // never echoed or logged; `name` and `argument` stay empty.
    invalid,
};

// The verb is the text up to the first space or TAB (Postfix splits on both); verbs are matched
// case-insensitively.
struct Command {
    Verb verb = Verb::unknown;
    std::string_view name; // the verb as sent (for log lines), at most 16 octets shown
    // HELO/EHLO/VRFY/EXPN/HELP/AUTH/ETRN/...: the text after the verb and its separating spaces and
    // TABs, with trailing spaces and TABs removed. MAIL/RCPT: the text after "FROM:" / "TO:" (checked
    // case-insensitively, as in "MAIL FROM:<a@b>"; spaces after the colon are kept, the envelope parser
    // tolerates them); when that keyword is missing, verb stays mail/rcpt, `missing_keyword` is set and
    // `argument` is the whole text after the verb, so the session can answer
    // "501 5.5.4 Syntax: MAIL FROM:<address>".
    std::string_view argument;
    bool missing_keyword = false;
};

// Copies nothing: `name` and `argument` point into `line`.
Command parse_command(std::string_view line);

// Verbs that RFC 2920 §3.1 allows anywhere in a pipelined group (RSET, MAIL, RCPT); every other
// verb must be the last of its group.
bool may_be_followed_in_group(Verb verb);

// Octets 0-31 other than TAB, and 127: never accepted in a command or reply line, so never repeated.
constexpr bool is_control_character(char octet) {
    const auto value = static_cast<unsigned char>(octet);
    return (value < 0x20 && octet != '\t') || value == 0x7f;
}

constexpr bool contains_control_character(std::string_view text) {
    for (const char octet : text) {
        if (is_control_character(octet)) {
            return true;
        }
    }
    return false;
}

// SMTP compares verbs, keywords and parameters in ASCII only (RFC 5321 §2.4): octets above 127 are
// compared exactly, never folded. One definition for the tree, in policy.
using policy::equals_ignoring_ascii_case;

} // namespace relayguard::proxy
