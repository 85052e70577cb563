#include "config_element.hpp"
#include "config_sections.hpp"

#include <chrono>

namespace relayguard::policy {
namespace config_access_sections_detail {

constexpr unsigned max_auth_failures_limit = 100;
constexpr std::chrono::milliseconds min_lockout = std::chrono::seconds(1);
constexpr std::chrono::milliseconds max_lockout = std::chrono::hours(24);

struct ClientRule {
    ConnectionAcl::Action action;
    NetworkPrefix network;
    int line = 0;
};

const char* action_name(ConnectionAcl::Action action) {
    return action == ConnectionAcl::Action::allow ? "allow" : "deny";
}

bool covers(const NetworkPrefix& outer, const NetworkPrefix& inner) {
    return outer.address.family() == inner.address.family() && outer.length <= inner.length &&
           outer.contains(inner.address);
}

// First match wins, so a rule inside an earlier rule's network can never match; that is nearly always
// a rule written in the wrong order.
void warn_if_shadowed(const ClientRule& rule, const std::vector<ClientRule>& earlier_rules,
                      config_detail::ProblemLog& log) {
    for (const ClientRule& earlier : earlier_rules) {
        if (covers(earlier.network, rule.network)) {
            log.warning(rule.line, "<" + std::string(action_name(rule.action)) + " network>",
                        config_detail::quoted(rule.network.to_string()) + " never matches: <" +
                            action_name(earlier.action) + " network=\"" + earlier.network.to_string() +
                            "\"> at line " + std::to_string(earlier.line) + " comes first and covers it");
            return;
        }
    }
}

void read_relay_domain(const config_detail::ConfigElement& element, config_detail::ConfigDraft& draft,
                       config_detail::ProblemLog& log) {
    const std::optional<config_detail::AttributeText> name = element.required("name");
    if (!name) {
        return;
    }
    const std::size_t known_before = draft.local_domains.patterns().size();
    std::string reason;
    if (!draft.local_domains.add(name->text, &reason)) {
        log.error(name->line, element.item("name"),
                  config_detail::quoted(name->text) +
                      " is not a domain (such as example.com or *.example.com)" +
                      (reason.empty() ? "" : ": " + reason));
    } else if (draft.local_domains.patterns().size() == known_before) {
        log.warning(name->line, element.item("name"), config_detail::quoted(name->text) + " is listed twice");
    }
}

void read_relay_network(const config_detail::ConfigElement& element, config_detail::ConfigDraft& draft,
                        config_detail::ProblemLog& log) {
    config_detail::RelayNetworkEntry entry;
    entry.line = element.line();
    if (!element.read("network", entry.network, config_detail::parse_network_value, true)) {
        return;
    }
    for (const config_detail::RelayNetworkEntry& earlier : draft.relay_networks) {
        if (earlier.network == entry.network) {
            log.warning(entry.line, element.item("network"),
                        config_detail::quoted(entry.network.to_string()) + " is already listed at line " +
                            std::to_string(earlier.line));
            return;
        }
    }
    draft.relay_networks.push_back(std::move(entry));
}

void read_user(const config_detail::ConfigElement& element, config_detail::ConfigDraft& draft,
               config_detail::ProblemLog& log) {
    const std::size_t errors_before = log.error_count();
    UserConfig user;
    if (element.read("name", user.name, config_detail::parse_user_name_value, true)) {
        for (const config_detail::UserEntry& earlier : draft.users) {
            if (earlier.name == user.name) {
                element.error("name", config_detail::quoted(user.name) + " is already defined at line " +
                                          std::to_string(earlier.line));
                break;
            }
        }
    }
    element.read("password-hash", user.password_hash, config_detail::parse_password_hash_value, true);
    element.read("senders", user.senders, config_detail::parse_senders_value);
    if (log.error_count() == errors_before) {
        draft.users.push_back(config_detail::UserEntry{user.name, element.line()});
        draft.config.auth.users.push_back(std::move(user));
    }
}

} // namespace config_access_sections_detail

namespace config_detail {

void read_clients_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_access_sections_detail;
    const ConfigElement element(xml, log, {"default"});
    ConnectionAcl::Action default_action = ConnectionAcl::Action::allow;
    element.read("default", default_action,
                 one_of<ConnectionAcl::Action>(
                     {{"allow", ConnectionAcl::Action::allow}, {"deny", ConnectionAcl::Action::deny}}));

    ConnectionAcl acl(default_action);
    std::vector<local::ClientRule> rules;
    bool any_allow_rule = false;
    for (const tinyxml2::XMLElement* child = xml.FirstChildElement(); child != nullptr;
         child = child->NextSiblingElement()) {
        const std::string_view name = child->Name();
        if (name != "allow" && name != "deny") {
            report_unknown_element(*child, "clients", "<allow> or <deny>", log);
            continue;
        }
        const ConfigElement rule_element(*child, log, {"network"});
        rule_element.reject_children();
        local::ClientRule rule{name == "allow" ? ConnectionAcl::Action::allow : ConnectionAcl::Action::deny,
                               NetworkPrefix{}, rule_element.line()};
        if (!rule_element.read("network", rule.network, parse_network_value, true)) {
            continue;
        }
        local::warn_if_shadowed(rule, rules, log);
        acl.add_rule(rule.action, rule.network);
        any_allow_rule = any_allow_rule || rule.action == ConnectionAcl::Action::allow;
        rules.push_back(std::move(rule));
    }
    if (default_action == ConnectionAcl::Action::deny && !any_allow_rule) {
        log.warning(element.line(), element.item("default"),
                    "\"deny\" without any <allow>: every client is refused at connect, so no mail can flow");
    }
    draft.config.clients = std::move(acl);
}

void read_relay_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_access_sections_detail;
    const ConfigElement element(xml, log, {"require", "local-senders", "open-networks"});
    element.read("require", draft.relay_requirement,
                 one_of<RelayRequirement>({{"network-or-auth", RelayRequirement::network_or_auth},
                                           {"network-and-auth", RelayRequirement::network_and_auth},
                                           {"network", RelayRequirement::network},
                                           {"auth", RelayRequirement::auth}}));
    element.read("local-senders", draft.local_senders,
                 one_of<LocalSenders>(
                     {{"trusted-only", LocalSenders::trusted_only}, {"anyone", LocalSenders::anyone}}));
    element.read("open-networks", draft.config.open_networks_allowed,
                 one_of<bool>({{"deny", false}, {"allow", true}}));

    for (const tinyxml2::XMLElement* child = xml.FirstChildElement(); child != nullptr;
         child = child->NextSiblingElement()) {
        const std::string_view name = child->Name();
        if (name == "allow") {
            const ConfigElement rule(*child, log, {"network"});
            rule.reject_children();
            local::read_relay_network(rule, draft, log);
        } else if (name == "domain") {
            const ConfigElement domain(*child, log, {"name"});
            domain.reject_children();
            local::read_relay_domain(domain, draft, log);
        } else {
            report_unknown_element(*child, "relay", "<allow> or <domain>", log);
        }
    }
}

void read_auth_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_access_sections_detail;
    const ConfigElement element(xml, log, {"require-tls", "mechanisms", "max-failures", "lockout"});
    AuthConfig& auth = draft.config.auth;
    element.read("require-tls", auth.require_tls, parse_boolean_value);
    element.read("mechanisms", auth.mechanisms, parse_mechanisms_value);
    element.read("max-failures", auth.max_failures, whole_number_in(1, local::max_auth_failures_limit));
    element.read("lockout", auth.lockout, duration_in(local::min_lockout, local::max_lockout));

    for (const tinyxml2::XMLElement* child = xml.FirstChildElement(); child != nullptr;
         child = child->NextSiblingElement()) {
        if (std::string_view(child->Name()) != "user") {
            report_unknown_element(*child, "auth", "<user>", log);
            continue;
        }
        const ConfigElement user(*child, log, {"name", "password-hash", "senders"});
        user.reject_children();
        local::read_user(user, draft, log);
    }
}

} // namespace config_detail
} // namespace relayguard::policy
