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
// - source routes ("@a,@b:user@c"): parsed, remembered, and dropped from the canonical form (§3.6.1).
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
    // "<>" or "<local@domain>".
    std::string canonical() const;
};

struct ForwardPath {
    bool postmaster = false; // <postmaster> without a domain (RFC 5321 §4.1.1.3), any case
    Mailbox mailbox;         // for postmaster: local_part "postmaster", no domain
    std::vector<std::string> source_route; // the normalised domains of "@a,@b:", in order
    // "<local@domain>" without any source route; "<postmaster>" for the special recipient.
    std::string canonical() const;
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
// RET, ENVID, AUTH. Errors: 501 5.1.7 (bad sender syntax), 501 5.5.4 (bad parameter value),
// 555 5.5.4 (unsupported parameter), 553 5.1.7 / 501 5.1.7 for over-long parts.
ParseResult<MailCommand> parse_mail_from(std::string_view argument);

// `argument` is everything after "RCPT TO:". `smtputf8` is whether the transaction's MAIL FROM carried
// SMTPUTF8; without it, non-ASCII octets in the address are a syntax error. Parameters accepted:
// NOTIFY, ORCPT. Errors: 501 5.1.3 (bad recipient syntax), 501 5.5.4, 555 5.5.4, 553 5.1.3 for over-long
// parts.
ParseResult<RcptCommand> parse_rcpt_to(std::string_view argument, bool smtputf8);

} // namespace relayguard::policy
