#pragma once
// Envelope paths of MAIL FROM and RCPT TO (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1), parsed into resolved
// values the policy can decide on, and written back in one canonical form for the upstream.
//
// What is accepted, beyond the strict grammar, and why:
// - optional spaces between the colon and the path, and a path without angle brackets, as Postfix does
//   by default (old clients send both);
// - several "@" in an unquoted local part ("to@domain@host"): the domain is what follows the last "@",
//   the rest is the local part. Such an address is never local, but a trusted client may relay it;
// - a forward path without a domain ("domain!user", "\"user@domain\""): never local, for the same reason;
// - a reverse path without a domain ("MAIL FROM:<nessus>"): Postfix accepts unqualified senders by
//   default, and scanners send them; it is never a local-domain sender;
// - source routes ("@a,@b:user@c"): parsed, remembered, and dropped from the canonical form (§3.6.1).
//   An address literal is accepted as a route hop ("@[192.0.2.1]:user@c"), as scanners send it;
// - runs of spaces between parameters and at the end of the line (harmless, and common).
// An IPv4-mapped IPv6 literal ("[IPv6:::ffff:192.0.2.1]") stays an address literal; its canonical form
// is the IPv4 literal it denotes ("[192.0.2.1]").
//
// Replies (S = "5.1.7 Bad sender address syntax" for MAIL, "5.1.3 Bad recipient address syntax" for
// RCPT; L = "5.1.7 Sender address rejected" / "5.1.3 Recipient address rejected"):
//   501 5.5.4 Syntax: MAIL FROM:<address>      nothing after the colon (RCPT TO:<address> for RCPT)
//   501 5.5.2 Syntax error: control character in command   any octet 0–31 or 127, NUL included
//   501 S: unbalanced angle brackets | unterminated quoted string | empty address | empty local part
//        | bad character in local part | misplaced dot in local part | missing domain after @
//        | bad domain | bad address literal | bad source route | malformed UTF-8
//        | text after the address
//   553 L: local part longer than 64 octets | domain longer than 255 octets
//        | path longer than 256 octets
//   553 5.6.7 Non-ASCII address requires SMTPUTF8   (X.6.7 is registered by RFC 6531 for this case)
//   501 5.5.4 Bad parameter syntax             a parameter that is not keyword[=value]
//   501 5.5.4 Invalid SIZE value               likewise BODY, SMTPUTF8, RET, ENVID, AUTH, NOTIFY, ORCPT
//   501 5.5.4 Duplicate SIZE parameter         any parameter given twice
//   555 5.5.4 Unsupported option: FOO          an unknown keyword, in upper case, at most 64 octets
// Over-long parts are named, not echoed: the client already has its own text, and an echo would only
// stretch the reply line. No reply ever contains a control character.
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/policy/reply.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy {

// RFC 5321 §4.5.3.1 limits, in octets.
inline constexpr std::size_t max_local_part_length = 64;
inline constexpr std::size_t max_domain_length = 255;
inline constexpr std::size_t max_path_length = 256; // including the angle brackets

struct Mailbox {
    std::string local_part; // dequoted: quotes removed, quoted-pairs resolved
    bool local_part_was_quoted = false;
    // Lower case without a trailing dot; an address literal in canonical form ("[192.0.2.1]",
    // "[IPv6:2001:db8::1]"); empty when the address has no domain.
    std::string domain;
    std::optional<IpAddress> literal; // set when the domain is an address literal

    bool has_domain() const { return !domain.empty(); }
    bool is_literal() const { return literal.has_value(); }
    // local@domain, the local part re-quoted when it is not a plain Dot-string.
    std::string canonical() const;
    // The same appended to `out` (whose capacity a caller reuses), and its length without writing it.
    void append_canonical(std::string& out) const;
    std::size_t canonical_length() const;
};

struct EsmtpParameter {
    std::string keyword; // upper case
    std::string value;   // as given
    bool has_value = false;
};

enum class BodyType : std::uint8_t { unspecified, seven_bit, eight_bit_mime };

struct ReversePath {
    bool null = false; // <>
    Mailbox mailbox;
    bool had_source_route = false;
    // "<>" or "<local@domain>"; appended to `out`.
    std::string canonical() const;
    void append_canonical(std::string& out) const;
};

struct ForwardPath {
    // <postmaster> without a domain or route (RFC 5321 §4.1.1.3), in any case, quoted or not.
    bool postmaster = false;
    Mailbox mailbox;                       // for postmaster: local_part "postmaster", no domain
    std::vector<std::string> source_route; // the normalised domains of "@a,@b:", in order
    // "<local@domain>" without any source route; "<postmaster>" for the special recipient; appended to
    // `out`.
    std::string canonical() const;
    void append_canonical(std::string& out) const;
};

struct MailCommand {
    ReversePath path;
    std::vector<EsmtpParameter> parameters; // every parameter, validated, in order
    std::optional<std::uint64_t> size;      // SIZE=
    BodyType body = BodyType::unspecified;  // BODY=
    bool smtputf8 = false;                  // SMTPUTF8
};

struct RcptCommand {
    ForwardPath path;
    std::vector<EsmtpParameter> parameters; // NOTIFY=, ORCPT=, validated, in order
};

// Either a value or the reply that explains why there is none.
template <typename T>
struct ParseResult {
    std::optional<T> value;
    SmtpReply error;
    explicit operator bool() const { return value.has_value(); }
};

// `argument` is everything after "MAIL FROM:" (the verb and colon matched case-insensitively by the
// command parser), without the line end. Parameters accepted: SIZE, BODY (7BIT, 8BITMIME), SMTPUTF8,
// RET, ENVID, AUTH. Errors: see the table above.
ParseResult<MailCommand> parse_mail_from(std::string_view argument);

// `argument` is everything after "RCPT TO:". `smtputf8` is whether the transaction's MAIL FROM carried
// SMTPUTF8; without it, non-ASCII octets in the address are an error. Parameters accepted: NOTIFY,
// ORCPT. Errors: see the table above.
ParseResult<RcptCommand> parse_rcpt_to(std::string_view argument, bool smtputf8);

// Whether `local_part` (dequoted) is an RFC 5321 Dot-string: atoms of atext (UTF-8 octets count as
// atext, RFC 6531) joined by single dots. Anything else needs quoting to reach the upstream unchanged.
bool is_dot_string(std::string_view local_part);

// `text` with every control character (0–31, 127) replaced by '?', for reply texts and log reasons
// that include client-supplied text.
std::string without_control_characters(std::string_view text);

} // namespace relayguard::policy
