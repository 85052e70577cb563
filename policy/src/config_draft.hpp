#pragma once
// Internal to the configuration loader: what has been read so far, with the lines things came from.
// The section readers fill it, the checks and the lint read it, and only a draft without errors becomes
// a Config.
#include <relayguard/policy/config.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy::config_detail {

struct RelayNetworkEntry {
    NetworkPrefix network;
    int line = 0;
};

struct UserEntry {
    std::string name;
    int line = 0;
};

struct ConfigDraft {
    // Filled in place, except `relay` and `senders`, which are built from the parts below once reading
    // is done (their classes take everything at construction).
    Config config;

    int root_line = 0;
    // The first line of every element seen directly under <relayguard>, valid or not: a section that
    // was given but broken is still "given", so no second error claims it is missing.
    std::map<std::string, int, std::less<>> section_lines;
    std::size_t listen_elements = 0;
    std::vector<bool> listener_tls_given; // parallel to config.listeners

    RelayRequirement relay_requirement = RelayRequirement::network_or_auth;
    LocalSenders local_senders = LocalSenders::trusted_only;
    std::vector<RelayNetworkEntry> relay_networks;
    DomainSet local_domains;
    std::vector<UserEntry> users; // every valid <user>, parallel to config.auth.users

    // The line of a section, or the root's line when it was not given.
    int line_of(std::string_view section) const {
        const auto found = section_lines.find(section);
        return found != section_lines.end() ? found->second : root_line;
    }
    bool has_section(std::string_view section) const { return section_lines.count(section) != 0; }
};

} // namespace relayguard::policy::config_detail
