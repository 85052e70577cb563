#pragma once
// What every client session of one configuration shares, built once when the configuration is loaded
// (as nginx's mail module keeps cscf->smtp_capability): the configuration itself, its TLS contexts, and
// the fixed reply texts that carry the host name, so a session copies a ready line instead of building
// it per use. A session holds its SessionSettings for its whole life, so a reload never mixes two
// configurations (or two host names) in one session.
#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/tls_context.hpp>

#include <memory>
#include <string>

namespace relayguard::proxy {

// Whole reply lines, CRLF included.
struct SessionTexts {
    std::string greeting;             // "220 host ESMTP"
    std::string helo;                 // "250 host"
    std::string ehlo_head;            // "250-host", PIPELINING, SIZE, 8BITMIME: what every EHLO offers
    std::string ehlo_auth;            // "250-AUTH PLAIN LOGIN"; empty without users
    std::string shutting_down;        // 421 4.3.2: the server is draining
    std::string timeout;              // 421 4.4.2: <limits command-timeout> and the other clocks
    std::string too_many_errors;      // 421 4.7.0: <limits max-errors>
    std::string auth_lockout;         // 421 4.7.0: <auth max-failures>
    std::string too_many_connections; // 421 4.7.0: the connection limits, at connect
};

// The lines an EHLO reply may add between ehlo_head and the last line, and that last line.
inline constexpr std::string_view ehlo_smtputf8 = "250-SMTPUTF8\r\n";
inline constexpr std::string_view ehlo_starttls = "250-STARTTLS\r\n";
inline constexpr std::string_view ehlo_last = "250 ENHANCEDSTATUSCODES\r\n";

SessionTexts make_session_texts(const policy::Config& config, std::string_view hostname);

struct SessionSettings {
    SessionSettings(std::shared_ptr<const policy::Config> session_config,
                    std::shared_ptr<const TlsServerContext> listener_tls,
                    std::shared_ptr<const TlsClientContext> upstream_tls_context, std::string host_name);

    std::shared_ptr<const policy::Config> config;
    std::shared_ptr<const TlsServerContext> tls;          // <tls>; null when not configured
    std::shared_ptr<const TlsClientContext> upstream_tls; // null with <upstream tls="none">
    std::string hostname;                                 // the name relayguard greets with
    SessionTexts texts;
};

std::string_view mechanism_name(policy::AuthMechanism mechanism);

} // namespace relayguard::proxy
