#include "config_checks.hpp"

namespace relayguard::policy {
namespace config_consistency_detail {

std::string endpoint_text(const std::string& host, std::uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string listener_text(const ListenConfig& listener) {
    if (listener.follows_interface()) {
        return "port " + std::to_string(listener.port) + " on every address of " + listener.interface;
    }
    return endpoint_text(listener.address, listener.port);
}

bool is_wildcard(const std::string& address) {
    return address == "0.0.0.0" || address == "::";
}

bool is_loopback(const std::string& host) {
    if (host == "localhost") {
        return true;
    }
    const std::optional<IpAddress> address = IpAddress::parse(host);
    if (!address) {
        return false;
    }
    const NetworkPrefix loopback_v4{IpAddress::from_v4({127, 0, 0, 0}), 8};
    const IpAddress loopback_v6 = IpAddress::from_v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    return loopback_v4.contains(*address) || *address == loopback_v6;
}

// Whether a connection to `host`:`port` would land on `listener` (on this machine).
bool reaches(const ListenConfig& listener, const std::string& host, std::uint16_t port) {
    if (listener.port != port) {
        return false;
    }
    return listener.address == host ||
           (is_loopback(host) &&
            (is_wildcard(listener.address) || (host == "localhost" && is_loopback(listener.address))));
}

// Two sockets on the same address and port collide unless each is bound to its own interface.
bool collide(const ListenConfig& a, const ListenConfig& b) {
    return a.address == b.address && a.port == b.port &&
           (a.interface == b.interface || a.interface.empty() || b.interface.empty());
}

void check_required_sections(const config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    if (!draft.has_section("listen")) {
        log.error(draft.root_line, "<listen>",
                  "missing: relayguard needs at least one <listen address=\"...\" port=\"...\"/>");
    }
    if (!draft.has_section("upstream")) {
        log.error(draft.root_line, "<upstream>",
                  "missing: relayguard needs an <upstream host=\"...\"/> to forward the mail it accepts to");
    }
}

void resolve_listener_tls(config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    const bool tls_configured = draft.has_section("tls");
    for (std::size_t index = 0; index < draft.config.listeners.size(); ++index) {
        ListenConfig& listener = draft.config.listeners[index];
        if (!draft.listener_tls_given[index]) {
            listener.tls = tls_configured ? ListenTls::starttls : ListenTls::none;
        } else if (listener.tls != ListenTls::none && !tls_configured) {
            log.error(listener.line, "<listen tls>",
                      std::string(listener.tls == ListenTls::starttls ? "\"starttls\"" : "\"implicit\"") +
                          " needs a <tls certificate=\"...\" key=\"...\"/> element");
        }
    }
}

void check_listener_collisions(const config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    const std::vector<ListenConfig>& listeners = draft.config.listeners;
    for (std::size_t later = 1; later < listeners.size(); ++later) {
        for (std::size_t earlier = 0; earlier < later; ++earlier) {
            if (collide(listeners[earlier], listeners[later])) {
                log.error(listeners[later].line, "<listen>",
                          listener_text(listeners[later]) + " is already taken by the <listen> at line " +
                              std::to_string(listeners[earlier].line));
                break;
            }
        }
    }
    if (const std::optional<ListenConfig>& metrics = draft.config.metrics) {
        for (const ListenConfig& listener : listeners) {
            if (collide(listener, *metrics)) {
                log.error(metrics->line, "<metrics listen>",
                          listener_text(*metrics) + " is already taken by the <listen> at line " +
                              std::to_string(listener.line));
                break;
            }
        }
    }
}

void check_upstream_is_elsewhere(const config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    const UpstreamConfig& upstream = draft.config.upstream;
    if (upstream.host.empty()) {
        return;
    }
    for (const ListenConfig& listener : draft.config.listeners) {
        if (reaches(listener, upstream.host, upstream.port)) {
            log.error(draft.line_of("upstream"), "<upstream>",
                      endpoint_text(upstream.host, upstream.port) + " is relayguard's own <listen> at line " +
                          std::to_string(listener.line) + ": every message would loop back into relayguard");
            return;
        }
    }
}

} // namespace config_consistency_detail

namespace config_detail {

void check_consistency(ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_consistency_detail;
    local::check_required_sections(draft, log);
    local::resolve_listener_tls(draft, log);
    local::check_listener_collisions(draft, log);
    local::check_upstream_is_elsewhere(draft, log);
}

} // namespace config_detail
} // namespace relayguard::policy
