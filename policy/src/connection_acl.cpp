#include <relayguard/policy/connection_acl.hpp>

namespace relayguard::policy {

void ConnectionAcl::add_rule(Action action, const NetworkPrefix& network) {
    const std::size_t before = networks_.prefixes().size();
    networks_.add(network);
    // A repeated network keeps its first rank, so its later rule can never match and gets no slot.
    if (networks_.prefixes().size() > before) {
        actions_.push_back(action);
    }
}

ConnectionAcl::Action ConnectionAcl::decide(const IpAddress& client) const {
    const std::optional<std::size_t> rank = networks_.first_match(client);
    return rank ? actions_[*rank] : default_action_;
}

SmtpReply ConnectionAcl::denied_reply() {
    return SmtpReply{554, "5.7.1 Access denied"};
}

} // namespace relayguard::policy
