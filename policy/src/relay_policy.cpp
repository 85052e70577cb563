#include <relayguard/policy/relay_policy.hpp>

#include <utility>

namespace relayguard::policy {
namespace relay_policy_detail {

// Characters that make a mail system route on the local part instead of delivering it: the percent
// hack, bang paths, a further "@", a route separator, and "/" (X.400 and file-name addresses).
constexpr std::string_view routing_characters = "%!@:/";

bool has_routing_characters(std::string_view local_part) {
    return local_part.find_first_of(routing_characters) != std::string_view::npos;
}

// Why a recipient is not local, for the log; nullptr when it is local.
const char* why_not_local(const ForwardPath& recipient, const DomainSet& domains) {
    if (recipient.postmaster) {
        return nullptr;
    }
    if (!recipient.source_route.empty()) {
        return "source route";
    }
    const Mailbox& mailbox = recipient.mailbox;
    if (mailbox.is_literal()) {
        return "address literal";
    }
    if (!mailbox.has_domain()) {
        return "no domain";
    }
    if (!domains.contains(mailbox.domain)) {
        return "not a local domain";
    }
    if (has_routing_characters(mailbox.local_part)) {
        return "routing characters in local part";
    }
    // A quoted local part is local only when it says what an unquoted one would ("\"alice\"").
    if (!is_dot_string(mailbox.local_part)) {
        return "quoted local part";
    }
    return nullptr;
}

RelayBasis allowed_basis(RelayRequirement requirement, bool trusted) {
    switch (requirement) {
    case RelayRequirement::network_or_auth:
        return trusted ? RelayBasis::network : RelayBasis::auth;
    case RelayRequirement::network_and_auth:
        return RelayBasis::network_and_auth;
    case RelayRequirement::network:
        return RelayBasis::network;
    case RelayRequirement::auth:
        return RelayBasis::auth;
    }
    return RelayBasis::denied;
}

// `entry`: the allowlist entry the client matched ("127.0.0.0/8"), so an audit can tell which one a
// relayed message used; empty when it matched none.
std::string allowed_reason(RelayRequirement requirement, const std::string& entry, const std::string& user) {
    const bool trusted = !entry.empty();
    const std::string network = "allowlisted network " + entry;
    const std::string login = "authenticated as " + without_control_characters(user);
    switch (requirement) {
    case RelayRequirement::network_or_auth:
        return "relay allowed: " + (trusted ? network : login);
    case RelayRequirement::network_and_auth:
        return "relay allowed: " + network + " and " + login;
    case RelayRequirement::network:
        return "relay allowed: " + network;
    case RelayRequirement::auth:
        return "relay allowed: " + login;
    }
    return "relay allowed";
}

} // namespace relay_policy_detail

RelayPolicy::RelayPolicy(RelayRequirement requirement, NetworkSet relay_networks, DomainSet local_domains)
    : requirement_(requirement), networks_(std::move(relay_networks)), domains_(std::move(local_domains)) {
}

bool RelayPolicy::may_relay(const ClientFacts& client) const {
    const bool trusted = is_trusted_network(client.address);
    switch (requirement_) {
    case RelayRequirement::network_or_auth:
        return trusted || client.authenticated();
    case RelayRequirement::network_and_auth:
        return trusted && client.authenticated();
    case RelayRequirement::network:
        return trusted;
    case RelayRequirement::auth:
        return client.authenticated();
    }
    return false;
}

bool RelayPolicy::is_local_recipient(const ForwardPath& recipient) const {
    return relay_policy_detail::why_not_local(recipient, domains_) == nullptr;
}

Verdict RelayPolicy::decide(const ClientFacts& client, const ForwardPath& recipient) const {
    Verdict verdict;
    const char* not_local = relay_policy_detail::why_not_local(recipient, domains_);
    if (not_local == nullptr) {
        verdict.accepted = true;
        verdict.basis = recipient.postmaster ? RelayBasis::postmaster : RelayBasis::local_domain;
        verdict.reason = recipient.postmaster ? "postmaster" : "local domain";
        return verdict;
    }
    if (may_relay(client)) {
        verdict.accepted = true;
        verdict.basis = relay_policy_detail::allowed_basis(requirement_, is_trusted_network(client.address));
        const std::optional<std::size_t> entry = networks_.first_match(client.address);
        verdict.reason = relay_policy_detail::allowed_reason(
            requirement_, entry ? networks_.prefixes()[*entry].to_string() : std::string(),
            client.authenticated_user);
        return verdict;
    }
    verdict.reply = {554,
                     "5.7.1 " + without_control_characters(recipient.canonical()) + ": Relay access denied"};
    verdict.reason = std::string("relay denied: ") + not_local;
    return verdict;
}

} // namespace relayguard::policy
