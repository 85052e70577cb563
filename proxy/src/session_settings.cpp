#include "session_settings.hpp"

namespace relayguard::proxy {

std::string_view mechanism_name(policy::AuthMechanism mechanism) {
    return mechanism == policy::AuthMechanism::plain ? "PLAIN" : "LOGIN";
}

SessionTexts make_session_texts(const policy::Config& config, std::string_view hostname) {
    const std::string host(hostname);
    SessionTexts texts;
    texts.greeting = "220 " + host + " ESMTP\r\n";
    texts.helo = "250 " + host + "\r\n";
    texts.ehlo_head = "250-" + host + "\r\n250-PIPELINING\r\n250-SIZE " +
                      std::to_string(config.limits.max_message_size) + "\r\n250-8BITMIME\r\n";
    if (!config.auth.users.empty()) {
        texts.ehlo_auth = "250-AUTH";
        for (const policy::AuthMechanism mechanism : config.auth.mechanisms) {
            texts.ehlo_auth += ' ';
            texts.ehlo_auth += mechanism_name(mechanism);
        }
        texts.ehlo_auth += "\r\n";
    }
    texts.shutting_down = "421 4.3.2 " + host + " Service shutting down\r\n";
    texts.timeout = "421 4.4.2 " + host + " Error: timeout exceeded\r\n";
    texts.too_many_errors = "421 4.7.0 " + host + " Error: too many errors\r\n";
    texts.auth_lockout = "421 4.7.0 " + host + " Too many authentication failures\r\n";
    texts.too_many_connections = "421 4.7.0 " + host + " Too many connections\r\n";
    return texts;
}

SessionSettings::SessionSettings(std::shared_ptr<const policy::Config> session_config,
                                 std::shared_ptr<const TlsServerContext> listener_tls,
                                 std::shared_ptr<const TlsClientContext> upstream_tls_context,
                                 std::string host_name)
    : config(std::move(session_config)), tls(std::move(listener_tls)),
      upstream_tls(std::move(upstream_tls_context)), hostname(std::move(host_name)),
      texts(make_session_texts(*config, hostname)) {
}

} // namespace relayguard::proxy
