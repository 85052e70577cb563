#include "config_checks.hpp"

namespace relayguard::policy {
namespace config_lint_detail {

// A relay allowlist names the networks of one site. The largest single allocations ever made were /8
// (IPv4) and the regional registries' /12 blocks (IPv6); anything wider than /8 or /16 covers other
// people's machines, and with them the spammers who scan for open relays.
constexpr unsigned narrowest_open_ipv4_prefix = 8;
constexpr unsigned narrowest_open_ipv6_prefix = 16;

std::string share_of_internet(const NetworkPrefix& network) {
    const std::string family = network.address.is_v4() ? "IPv4" : "IPv6";
    if (network.length == 0) {
        return "clients at every " + family + " address";
    }
    return "clients at 1/" + std::to_string(1ul << network.length) + " of all " + family + " addresses";
}

std::string open_relay_error(const NetworkPrefix& network) {
    const std::string text = network.to_string();
    return "\"" + text + "\" lets " + share_of_internet(network) +
           " relay through relayguard: it would be an open relay, the classic Postfix mistake "
           "\"mynetworks = 0.0.0.0/0\", and spammers find such relays within hours. Allowlist only your own "
           "networks (prefixes of /" +
           std::to_string(network.address.is_v4() ? narrowest_open_ipv4_prefix : narrowest_open_ipv6_prefix) +
           " or longer), or set <relay open-networks=\"allow\"> if this is truly intended";
}

bool tls_offered(const config_detail::ConfigDraft& draft) {
    if (!draft.has_section("tls")) {
        return false;
    }
    for (const ListenConfig& listener : draft.config.listeners) {
        if (listener.tls != ListenTls::none) {
            return true;
        }
    }
    return false;
}

void warn_auth_without_tls(const config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    if (draft.config.auth.users.empty() || tls_offered(draft)) {
        return;
    }
    const std::string missing = draft.has_section("tls") ? "users are configured but no <listen> offers TLS"
                                                         : "users are configured without <tls>";
    log.warning(draft.line_of("auth"), "<auth>",
                draft.config.auth.require_tls
                    ? missing + ", and require-tls=\"true\" means AUTH is never offered: nobody can log in"
                    : missing + ": their passwords would cross the network in clear text");
}

// The counters tell whoever reads them what works against the box (which relay attempts fail, when
// logins lock out): on a wildcard address with no interface to confine it, anyone who reaches the box
// may read them.
void warn_open_metrics(const config_detail::ConfigDraft& draft, config_detail::ProblemLog& log) {
    const std::optional<ListenConfig>& metrics = draft.config.metrics;
    if (!metrics || !metrics->interface.empty() ||
        (metrics->address != "0.0.0.0" && metrics->address != "::")) {
        return;
    }
    log.warning(metrics->line, "<metrics listen>",
                metrics->address + ":" + std::to_string(metrics->port) +
                    " serves the counters on every address, to anyone who reaches the box; bind it to "
                    "loopback or a management address, or add interface=\"...\"");
}

// Why nobody can ever meet the relay requirement, or an empty string when somebody can.
std::string unmet_requirement(const config_detail::ConfigDraft& draft) {
    const bool has_networks = !draft.relay_networks.empty();
    const bool has_users = !draft.config.auth.users.empty();
    const bool auth_usable = has_users && (!draft.config.auth.require_tls || tls_offered(draft));
    const std::string no_networks = "the relay allowlist is empty";
    const std::string no_auth =
        has_users ? "AUTH is never offered (require-tls=\"true\" and no TLS)" : "no <user> is configured";
    switch (draft.relay_requirement) {
    case RelayRequirement::network:
        return has_networks ? "" : "require=\"network\" but " + no_networks;
    case RelayRequirement::auth:
        return auth_usable ? "" : "require=\"auth\" but " + no_auth;
    case RelayRequirement::network_and_auth:
        if (!has_networks) {
            return "require=\"network-and-auth\" but " + no_networks;
        }
        return auth_usable ? "" : "require=\"network-and-auth\" but " + no_auth;
    case RelayRequirement::network_or_auth:
        return has_networks || auth_usable
                   ? ""
                   : "require=\"network-or-auth\" but " + no_networks + " and " + no_auth;
    }
    return "";
}

} // namespace config_lint_detail

namespace config_detail {

void lint_relay_allowlist(const ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_lint_detail;
    for (const RelayNetworkEntry& entry : draft.relay_networks) {
        const NetworkPrefix& network = entry.network;
        const unsigned narrowest =
            network.address.is_v4() ? local::narrowest_open_ipv4_prefix : local::narrowest_open_ipv6_prefix;
        if (network.length >= narrowest) {
            continue;
        }
        if (draft.config.open_networks_allowed) {
            log.warning(entry.line, "<allow network>",
                        "\"" + network.to_string() + "\" lets " + local::share_of_internet(network) +
                            " relay (permitted by open-networks=\"allow\")");
        } else {
            log.error(entry.line, "<allow network>", local::open_relay_error(network));
        }
    }
}

void lint_mail_flow(const ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_lint_detail;
    local::warn_auth_without_tls(draft, log);
    local::warn_open_metrics(draft, log);

    const std::string unmet = local::unmet_requirement(draft);
    if (unmet.empty()) {
        return;
    }
    if (draft.local_domains.empty()) {
        log.warning(
            draft.line_of("relay"), "<relay require>",
            unmet + ", and there are no local domains: no recipient is ever accepted, so no mail can flow");
    } else if (draft.relay_requirement != RelayRequirement::network_or_auth) {
        // The default requirement with nobody trusted is an ordinary inbound-only gateway; a requirement
        // written out says the operator expected someone to relay.
        log.warning(draft.line_of("relay"), "<relay require>",
                    unmet + ": nobody may relay, only mail for the local domains is accepted");
    }
}

} // namespace config_detail
} // namespace relayguard::policy
