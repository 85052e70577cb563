#pragma once
// The connection ACL of <clients>: ordered allow/deny networks, first match wins, else the default.
#include <relayguard/policy/network_set.hpp>
#include <relayguard/policy/reply.hpp>

#include <vector>

namespace relayguard::policy {

class ConnectionAcl {
public:
    enum class Action : std::uint8_t { allow, deny };

    explicit ConnectionAcl(Action default_action = Action::allow) : default_action_(default_action) {}
    void add_rule(Action action, const NetworkPrefix& network);

    Action decide(const IpAddress& client) const;
    bool allows(const IpAddress& client) const { return decide(client) == Action::allow; }
    Action default_action() const { return default_action_; }

    // 554 5.7.1 Access denied: what a denied client hears at connect.
    static SmtpReply denied_reply();

private:
    Action default_action_;
    NetworkSet networks_;         // rank = rule index
    std::vector<Action> actions_; // indexed by rank
};

} // namespace relayguard::policy
