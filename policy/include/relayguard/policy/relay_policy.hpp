#pragma once
// The relay decision: may this client's recipient be forwarded? One function with one denial text,
// as Postfix's reject_unauth_destination. Pure: the caller supplies every fact.
#include <relayguard/policy/domain_set.hpp>
#include <relayguard/policy/envelope.hpp>
#include <relayguard/policy/network_set.hpp>
#include <relayguard/policy/reply.hpp>

#include <string>

namespace relayguard::policy {

// What must hold for a client to relay to a non-local domain (<relay require=…>).
enum class RelayRequirement : std::uint8_t { network_or_auth, network_and_auth, network, auth };

// What the session knows about its client when it decides.
struct ClientFacts {
    IpAddress address;
    std::string authenticated_user; // empty when not authenticated
    bool authenticated() const { return !authenticated_user.empty(); }
};

// Why a recipient was accepted (or not), for counting: the words of `reason` are for the log.
enum class RelayBasis : std::uint8_t { denied, local_domain, postmaster, network, auth, network_and_auth };

struct Verdict {
    bool accepted = false;
    RelayBasis basis = RelayBasis::denied; // set by RelayPolicy::decide; senders leave it denied
    SmtpReply reply; // the client's answer when rejected; empty when accepted (the upstream answers)
    std::string
        reason; // for the log line: why, in a few words ("local domain", "relay: allowlisted network")
};

class RelayPolicy {
public:
    RelayPolicy() = default; // require network-or-auth, nobody trusted, no local domains
    RelayPolicy(RelayRequirement requirement, NetworkSet relay_networks, DomainSet local_domains);

    // Whether the client may relay at all (the requirement holds), independent of any recipient.
    bool may_relay(const ClientFacts& client) const;
    // Whether the client is on the relay allowlist.
    bool is_trusted_network(const IpAddress& address) const { return networks_.contains(address); }
    // A recipient is local only when its final domain is a local domain and nothing in it routes
    // elsewhere: no source route, no address literal, a domain present, and a local part made only of
    // Dot-string characters other than % ! / (so no "@", ":", quoting tricks or bang paths).
    // <postmaster> is local.
    bool is_local_recipient(const ForwardPath& recipient) const;
    bool is_local_domain(std::string_view domain) const { return domains_.contains(domain); }
    // Accept, or reject with 554 5.7.1 <rcpt>: Relay access denied.
    Verdict decide(const ClientFacts& client, const ForwardPath& recipient) const;

    RelayRequirement requirement() const { return requirement_; }
    const NetworkSet& networks() const { return networks_; }
    const DomainSet& domains() const { return domains_; }

private:
    RelayRequirement requirement_ = RelayRequirement::network_or_auth;
    NetworkSet networks_;
    DomainSet domains_;
};

} // namespace relayguard::policy
