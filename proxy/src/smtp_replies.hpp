#pragma once
// relayguard's own fixed replies, in one place with their enhanced status codes (RFC 3463), as nginx's
// mail module keeps them. Replies that carry the host name or a client's text are built in the session.
#include <string_view>

namespace relayguard::proxy::replies {

inline constexpr std::string_view ok = "250 2.0.0 Ok\r\n";
inline constexpr std::string_view bye = "221 2.0.0 Bye\r\n";
inline constexpr std::string_view start_data = "354 End data with <CR><LF>.<CR><LF>\r\n";
inline constexpr std::string_view vrfy =
    "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n";
inline constexpr std::string_view help =
    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n";

inline constexpr std::string_view line_too_long = "500 5.5.2 Line too long\r\n";
inline constexpr std::string_view bad_syntax = "500 5.5.2 Error: bad syntax\r\n";
inline constexpr std::string_view unknown_command = "500 5.5.2 Error: command not recognized\r\n";
inline constexpr std::string_view not_implemented = "502 5.5.1 Error: command not implemented\r\n";
inline constexpr std::string_view xclient_refused = "550 5.7.0 Error: insufficient authorization\r\n";
inline constexpr std::string_view helo_syntax = "501 5.5.4 Syntax: HELO hostname\r\n";
inline constexpr std::string_view ehlo_syntax = "501 5.5.4 Syntax: EHLO hostname\r\n";
inline constexpr std::string_view mail_syntax = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n";
inline constexpr std::string_view rcpt_syntax = "501 5.5.4 Syntax: RCPT TO:<address>\r\n";
inline constexpr std::string_view no_argument_expected = "501 5.5.4 Syntax: no parameters allowed\r\n";
inline constexpr std::string_view send_helo_first = "503 5.5.1 Error: send HELO/EHLO first\r\n";
inline constexpr std::string_view nested_mail = "503 5.5.1 Error: nested MAIL command\r\n";
inline constexpr std::string_view need_mail = "503 5.5.1 Error: need MAIL command\r\n";
inline constexpr std::string_view need_rcpt = "503 5.5.1 Error: need RCPT command\r\n";
inline constexpr std::string_view no_valid_recipients = "554 5.5.1 Error: no valid recipients\r\n";
inline constexpr std::string_view auth_not_enabled = "503 5.5.1 Error: authentication not enabled\r\n";
inline constexpr std::string_view too_many_recipients = "452 4.5.3 Too many recipients\r\n";
inline constexpr std::string_view message_too_big = "552 5.3.4 Message size exceeds fixed limit\r\n";
inline constexpr std::string_view bare_lf = "550 5.5.2 Error: bare <LF> received\r\n";
inline constexpr std::string_view bare_cr = "550 5.5.2 Error: bare <CR> received\r\n";
inline constexpr std::string_view smtputf8_not_offered = "555 5.5.4 Unsupported option: SMTPUTF8\r\n";
// RFC 6531 §3.5's code for an address that needs SMTPUTF8 on its way to a server without it.
inline constexpr std::string_view upstream_lacks_smtputf8 =
    "553 5.6.7 Non-ASCII address not accepted: the mail server does not support SMTPUTF8\r\n";
inline constexpr std::string_view pregreet = "554 5.5.0 Error: SMTP protocol synchronization\r\n";
inline constexpr std::string_view access_denied = "554 5.7.1 Access denied\r\n";

// STARTTLS (RFC 3207) and AUTH (RFC 4954).
inline constexpr std::string_view ready_to_start_tls = "220 2.0.0 Ready to start TLS\r\n";
inline constexpr std::string_view tls_already_active = "554 5.5.1 Error: TLS already active\r\n";
inline constexpr std::string_view starttls_syntax = "501 5.5.4 Syntax: STARTTLS\r\n";
inline constexpr std::string_view already_authenticated = "503 5.5.1 Error: already authenticated\r\n";
inline constexpr std::string_view auth_in_transaction = "503 5.5.1 Error: MAIL transaction in progress\r\n";
inline constexpr std::string_view encryption_required =
    "538 5.7.11 Encryption required for requested authentication mechanism\r\n";
inline constexpr std::string_view auth_successful = "235 2.7.0 Authentication successful\r\n";
inline constexpr std::string_view auth_failed =
    "535 5.7.8 Error: authentication failed: authentication failure\r\n";
inline constexpr std::string_view auth_temporary_failure = "454 4.7.0 Temporary authentication failure\r\n";

// Temporary failures for upstream faults: the client keeps the message and tries again later.
inline constexpr std::string_view upstream_unavailable =
    "451 4.4.1 Upstream server unavailable, try again later\r\n";
inline constexpr std::string_view upstream_lost = "451 4.4.2 Upstream connection lost, try again later\r\n";
inline constexpr std::string_view upstream_timeout =
    "451 4.4.2 Upstream server timed out, try again later\r\n";
inline constexpr std::string_view upstream_invalid =
    "451 4.4.0 Upstream server sent an invalid reply, try again later\r\n";
inline constexpr std::string_view upstream_tls_failed =
    "451 4.7.5 Upstream server TLS unavailable, try again later\r\n";

} // namespace relayguard::proxy::replies
