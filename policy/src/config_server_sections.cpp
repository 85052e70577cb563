#include "config_element.hpp"
#include "config_sections.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

namespace relayguard::policy {
namespace config_server_sections_detail {

using std::chrono::milliseconds;

// Each listener is a socket and a line in every log; a router appliance has a handful of interfaces.
constexpr std::size_t max_listeners = 32;

constexpr milliseconds min_timeout{100}; // short enough for tests, long enough to be deliberate
constexpr milliseconds max_connect_timeout = std::chrono::minutes(5);
constexpr milliseconds max_session_timeout = std::chrono::hours(1);
// postscreen's pregreet wait is 6s; much longer makes honest clients give up.
constexpr milliseconds max_greet_delay = std::chrono::seconds(30);
constexpr milliseconds max_shutdown_timeout = std::chrono::minutes(10);

constexpr unsigned max_connections_limit = 65535;
// Idle upstream connections: each is a descriptor and a process on a legacy server that forks per
// connection, so a handful; and a bound on how long one connection carries mail before it is renewed.
constexpr unsigned max_upstream_pool_size = 64;
constexpr unsigned max_pool_transactions = 100'000;
constexpr unsigned max_recipients_limit = 100'000;
constexpr unsigned max_connection_rate_limit = 1'000'000;
// TLS ticket keys: rotated at least daily (each key is also accepted for one more lifetime); a
// TLS 1.3 ticket may not live longer than 7 days (RFC 8446 §4.6.1) anyway.
constexpr milliseconds min_ticket_lifetime = std::chrono::minutes(1);
constexpr milliseconds max_ticket_lifetime = std::chrono::hours(24);
constexpr unsigned max_mail_rate_limit = 10'000'000;
constexpr unsigned max_lockout_after = 100;
constexpr milliseconds max_mail_rate_window = std::chrono::hours(24);
constexpr milliseconds max_login_lockout = std::chrono::hours(24 * 7);
// Windows are counted from a client's first connection, so a window much shorter than a second would
// measure bursts, not rates; an hour is the longest Postfix's anvil is usually given.
constexpr milliseconds min_rate_window = std::chrono::seconds(1);
constexpr milliseconds max_rate_window = std::chrono::hours(1);
constexpr unsigned max_errors_limit = 1000;
// Shorter than a /32 (a provider's whole allocation) would lump unrelated networks together.
constexpr unsigned min_client_ipv6_prefix = 32;
constexpr unsigned max_client_ipv6_prefix = 128;
constexpr std::uint64_t min_message_size = 1024;
// Message sizes are counted in size_t on 32-bit boards too, so the ceiling stays far below 4 GiB.
constexpr std::uint64_t max_message_size_limit = 1024ull * 1024 * 1024;

std::optional<std::string> parse_listen_address(std::string_view text, std::string& why) {
    const std::optional<IpAddress> address = config_detail::parse_ip_address_value(text, why);
    if (!address) {
        return std::nullopt;
    }
    return address->to_string();
}

// <metrics listen>: "127.0.0.1:9125", "[::1]:9125", or ":9125" for every address of its interface.
struct MetricsAddress {
    std::string address; // empty for ":9125"
    std::uint16_t port = 0;
};
std::optional<MetricsAddress> parse_metrics_listen(std::string_view text, std::string& why) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        why = "\"" + std::string(text) +
              "\" is not ADDRESS:PORT (\"127.0.0.1:9125\", \"[::1]:9125\", or \":9125\" with an "
              "interface)";
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    MetricsAddress parsed;
    const std::optional<std::uint16_t> port = config_detail::parse_port_value(text.substr(colon + 1), why);
    if (!port) {
        return std::nullopt;
    }
    parsed.port = *port;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        why = "an IPv6 address needs brackets: \"[" + std::string(host) + "]:" + std::to_string(parsed.port) +
              "\"";
        return std::nullopt;
    }
    if (!host.empty()) {
        const std::optional<std::string> address = parse_listen_address(host, why);
        if (!address) {
            return std::nullopt;
        }
        parsed.address = *address;
    }
    return parsed;
}

// "udp://ADDRESS[:PORT]" or "tcp://ADDRESS[:PORT]", the address literal (IPv6 in brackets), the port
// 514 unless given.
std::optional<SyslogServer> parse_syslog_server(std::string_view text, std::string& why) {
    SyslogServer server;
    const auto malformed = [&] {
        why = "\"" + std::string(text) + "\": a server is udp://ADDRESS[:PORT] or tcp://ADDRESS[:PORT]";
        return std::nullopt;
    };
    if (text.substr(0, 6) == "udp://") {
        server.transport = SyslogServer::Transport::udp;
    } else if (text.substr(0, 6) == "tcp://") {
        server.transport = SyslogServer::Transport::tcp;
    } else {
        return malformed();
    }
    const std::string_view rest = text.substr(6);
    std::string_view host = rest;
    std::optional<std::string_view> port;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string_view::npos || (close + 1 < rest.size() && rest[close + 1] != ':')) {
            return malformed();
        }
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            port = rest.substr(close + 2);
        }
    } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
        if (rest.find(':', colon + 1) != std::string_view::npos) {
            why = "an IPv6 address needs brackets: \"" + std::string(text.substr(0, 6)) + "[" +
                  std::string(rest) + "]\"";
            return std::nullopt;
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    const std::optional<std::string> address = parse_listen_address(host, why);
    if (!address) {
        why = "the server must be a literal address (relayguard resolves no names at run time): " + why;
        return std::nullopt;
    }
    server.address = *address;
    if (port) {
        const std::optional<std::uint16_t> number = config_detail::parse_port_value(*port, why);
        if (!number) {
            return std::nullopt;
        }
        server.port = *number;
    }
    return server;
}

} // namespace config_server_sections_detail

std::string SyslogServer::to_string() const {
    const std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
    return std::string(transport == Transport::tcp ? "tcp://" : "udp://") + host + ":" + std::to_string(port);
}

namespace config_detail {

void read_listen_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const std::size_t errors_before = log.error_count();
    const ConfigElement element(xml, log, {"address", "port", "interface", "tls"});
    element.reject_children();
    if (++draft.listen_elements > local::max_listeners) {
        element.error("more than " + std::to_string(local::max_listeners) + " listeners");
        return;
    }

    ListenConfig listener;
    listener.line = element.line();
    element.read("address", listener.address, local::parse_listen_address);
    element.read("port", listener.port, parse_port_value);
    element.read("interface", listener.interface, parse_interface_name_value);
    if (!element.attribute("address") && !element.attribute("interface")) {
        element.error("needs an address, an interface, or both (interface alone: every address it has)");
    }
    const bool tls_given = element.read("tls", listener.tls,
                                        one_of<ListenTls>({{"none", ListenTls::none},
                                                           {"starttls", ListenTls::starttls},
                                                           {"implicit", ListenTls::implicit}}));
    if (log.error_count() == errors_before) {
        draft.config.listeners.push_back(std::move(listener));
        draft.listener_tls_given.push_back(tls_given);
    }
}

void read_metrics_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const std::size_t errors_before = log.error_count();
    const ConfigElement element(xml, log, {"listen", "interface"});
    element.reject_children();
    ListenConfig endpoint;
    endpoint.line = element.line();
    local::MetricsAddress address;
    const bool listen_read = element.read("listen", address, local::parse_metrics_listen, true);
    element.read("interface", endpoint.interface, parse_interface_name_value);
    if (listen_read && address.address.empty() && endpoint.interface.empty()) {
        element.error("listen",
                      "\":" + std::to_string(address.port) +
                          "\" needs an interface=\"...\" to take the addresses of; or name an address "
                          "(\"127.0.0.1:" +
                          std::to_string(address.port) + "\")");
    }
    if (log.error_count() == errors_before) {
        endpoint.address = address.address;
        endpoint.port = address.port;
        draft.config.metrics = std::move(endpoint);
    }
}

void read_upstream_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const ConfigElement element(xml, log,
                                {"host", "port", "tls", "connect-timeout", "command-timeout", "data-timeout",
                                 "xclient", "ca", "pool-size", "pool-idle-time", "pool-max-transactions",
                                 "prewarm"});
    element.reject_children();
    UpstreamConfig& upstream = draft.config.upstream;
    element.read("host", upstream.host, parse_host_value, true);
    element.read("port", upstream.port, parse_port_value);
    const bool tls_read = element.read("tls", upstream.tls,
                                       one_of<UpstreamTls>({{"none", UpstreamTls::none},
                                                            {"starttls", UpstreamTls::starttls},
                                                            {"required", UpstreamTls::required}}));
    element.read("connect-timeout", upstream.connect_timeout,
                 duration_in(local::min_timeout, local::max_connect_timeout));
    element.read("command-timeout", upstream.command_timeout,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("data-timeout", upstream.data_timeout,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("xclient", upstream.xclient, one_of<bool>({{"off", false}, {"on", true}}));
    const bool tls_known = tls_read || !element.attribute("tls");
    if (element.read("ca", upstream.ca, parse_file_path_value) && tls_known &&
        upstream.tls == UpstreamTls::none) {
        // Almost certainly a forgotten tls="…": the operator wants the upstream verified, and without
        // TLS nothing would be.
        element.error("ca",
                      "a CA file is only used when tls is \"starttls\" or \"required\", and tls is \"none\"");
    }
    element.read("pool-size", upstream.pool_size, whole_number_in(0, local::max_upstream_pool_size));
    element.read("pool-idle-time", upstream.pool_idle_time,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("pool-max-transactions", upstream.pool_max_transactions,
                 whole_number_in(1, local::max_pool_transactions));
    if (element.read("prewarm", upstream.prewarm, whole_number_in(0, local::max_upstream_pool_size)) &&
        upstream.prewarm > upstream.pool_size) {
        element.error("prewarm", "prewarmed connections wait in the pool, so prewarm (" +
                                     std::to_string(upstream.prewarm) + ") cannot exceed pool-size (" +
                                     std::to_string(upstream.pool_size) + ")");
    }
}

void read_identity_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    const ConfigElement element(xml, log, {"hostname"});
    element.reject_children();
    element.read("hostname", draft.config.hostname, parse_host_name_value);
}

void read_tls_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const ConfigElement element(xml, log, {"certificate", "key", "session-tickets", "ticket-lifetime"});
    element.reject_children();
    TlsConfig tls;
    const bool certificate_read = element.read("certificate", tls.certificate, parse_file_path_value, true);
    const bool key_read = element.read("key", tls.key, parse_file_path_value, true);
    std::chrono::milliseconds lifetime = tls.ticket_lifetime;
    element.read("ticket-lifetime", lifetime,
                 duration_in(local::min_ticket_lifetime, local::max_ticket_lifetime));
    bool tickets = true;
    element.read("session-tickets", tickets, one_of<bool>({{"off", false}, {"on", true}}));
    tls.ticket_lifetime =
        tickets ? std::chrono::duration_cast<std::chrono::seconds>(lifetime) : std::chrono::seconds{0};
    if (certificate_read && key_read) {
        draft.config.tls = std::move(tls);
    }
}

void read_limits_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const ConfigElement element(xml, log,
                                {"max-connections",
                                 "trusted-connections",
                                 "max-connections-per-client",
                                 "client-ipv6-prefix",
                                 "max-connection-rate",
                                 "rate-window",
                                 "max-message-rate",
                                 "max-recipient-rate",
                                 "max-login-message-rate",
                                 "max-login-recipient-rate",
                                 "mail-rate-window",
                                 "login-lockout-after",
                                 "login-lockout",
                                 "max-recipients",
                                 "max-message-size",
                                 "command-timeout",
                                 "data-timeout",
                                 "max-errors",
                                 "greet-delay",
                                 "shutdown-timeout",
                                 "mail-deadline",
                                 "stress-threshold",
                                 "stress-command-timeout",
                                 "stress-mail-deadline",
                                 "stress-greet-delay"});
    element.reject_children();
    LimitsConfig& limits = draft.config.limits;
    element.read("max-connections", limits.max_connections, whole_number_in(1, local::max_connections_limit));
    if (!element.read("trusted-connections", limits.trusted_connections,
                      whole_number_in(1, local::max_connections_limit))) {
        limits.trusted_connections = limits.max_connections;
    }
    const bool per_client_given =
        element.read("max-connections-per-client", limits.max_connections_per_client,
                     whole_number_in(1, local::max_connections_limit));
    element.read("client-ipv6-prefix", limits.client_ipv6_prefix,
                 whole_number_in(local::min_client_ipv6_prefix, local::max_client_ipv6_prefix));
    element.read("max-connection-rate", limits.max_connection_rate,
                 whole_number_in(0, local::max_connection_rate_limit));
    element.read("rate-window", limits.rate_window,
                 duration_in(local::min_rate_window, local::max_rate_window));
    for (const auto& [name, value] :
         {std::pair{"max-message-rate", &limits.max_message_rate},
          std::pair{"max-recipient-rate", &limits.max_recipient_rate},
          std::pair{"max-login-message-rate", &limits.max_login_message_rate},
          std::pair{"max-login-recipient-rate", &limits.max_login_recipient_rate}}) {
        element.read(name, *value, whole_number_in(0, local::max_mail_rate_limit));
    }
    element.read("mail-rate-window", limits.mail_rate_window,
                 duration_in(local::min_rate_window, local::max_mail_rate_window));
    element.read("login-lockout-after", limits.login_lockout_after,
                 whole_number_in(0, local::max_lockout_after));
    element.read("login-lockout", limits.login_lockout,
                 duration_in(local::min_rate_window, local::max_login_lockout));
    element.read("max-recipients", limits.max_recipients, whole_number_in(1, local::max_recipients_limit));
    element.read("max-message-size", limits.max_message_size,
                 size_in(local::min_message_size, local::max_message_size_limit));
    element.read("command-timeout", limits.command_timeout,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("data-timeout", limits.data_timeout,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("max-errors", limits.max_errors, whole_number_in(1, local::max_errors_limit));
    element.read("greet-delay", limits.greet_delay,
                 duration_in(std::chrono::milliseconds{0}, local::max_greet_delay));
    element.read("shutdown-timeout", limits.shutdown_timeout,
                 duration_in(std::chrono::milliseconds{0}, local::max_shutdown_timeout));
    element.read("mail-deadline", limits.mail_deadline,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("stress-threshold", limits.stress_threshold, whole_number_in(0, 100));
    element.read("stress-command-timeout", limits.stress_command_timeout,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("stress-mail-deadline", limits.stress_mail_deadline,
                 duration_in(local::min_timeout, local::max_session_timeout));
    element.read("stress-greet-delay", limits.stress_greet_delay,
                 duration_in(std::chrono::milliseconds{0}, local::max_greet_delay));
    if (per_client_given &&
        limits.max_connections_per_client > std::max(limits.max_connections, limits.trusted_connections)) {
        const std::optional<AttributeText> per_client = element.attribute("max-connections-per-client");
        log.warning(per_client->line, element.item("max-connections-per-client"),
                    "is larger than max-connections (" + std::to_string(limits.max_connections) +
                        ") and trusted-connections (" + std::to_string(limits.trusted_connections) +
                        "), so it never applies");
    }
}

void read_data_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    const ConfigElement element(xml, log, {"bare-newline"});
    element.reject_children();
    element.read(
        "bare-newline", draft.config.bare_newline,
        one_of<BareNewline>({{"reject", BareNewline::reject}, {"normalize", BareNewline::normalize}}));
}

void read_log_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_server_sections_detail;
    const ConfigElement element(xml, log, {"target", "level", "server"});
    element.reject_children();
    element.read("target", draft.config.log.target,
                 one_of<LogTarget>({{"stderr", LogTarget::stderr_stream}, {"syslog", LogTarget::syslog}}));
    SyslogServer server;
    if (element.read("server", server, local::parse_syslog_server)) {
        if (draft.config.log.target != LogTarget::syslog) {
            element.error("server", "needs target=\"syslog\": the server receives the syslog messages");
        } else {
            draft.config.log.server = std::move(server);
        }
    }
    element.read("level", draft.config.log.level,
                 one_of<LogLevel>({{"debug", LogLevel::debug},
                                   {"info", LogLevel::info},
                                   {"warning", LogLevel::warning},
                                   {"error", LogLevel::error}}));
}

} // namespace config_detail
} // namespace relayguard::policy
