#pragma once
// Sender rules for MAIL FROM: an authenticated user may only use the senders configured for it (when any
// are), and a client that is neither allowlisted nor authenticated may not use a local-domain sender
// unless local-senders="anyone". Rejections: 553 5.7.1 <sender>: Sender address rejected: …
#include <relayguard/policy/envelope.hpp>
#include <relayguard/policy/relay_policy.hpp>

#include <map>
#include <string>
#include <vector>

namespace relayguard::policy {

// One entry of a user's senders="…": an exact address, or "@domain" for any address in that domain.
struct SenderPattern {
    std::string local_part; // empty for "@domain"
    std::string domain;     // normalised
    // Parses "alice@example.com" or "@example.org"; nothing on a syntax error.
    static std::optional<SenderPattern> parse(std::string_view text);
    bool matches(const Mailbox& sender) const;
};

enum class LocalSenders : std::uint8_t { trusted_only, anyone };

class SenderPolicy {
public:
    SenderPolicy() = default;
    SenderPolicy(LocalSenders local_senders, std::map<std::string, std::vector<SenderPattern>> user_senders);

    // `relay` supplies the allowlist and the local domains.
    Verdict decide(const ClientFacts& client, const ReversePath& sender, const RelayPolicy& relay) const;
    LocalSenders local_senders() const { return local_senders_; }

private:
    LocalSenders local_senders_ = LocalSenders::trusted_only;
    std::map<std::string, std::vector<SenderPattern>> user_senders_; // login → allowed senders
};

} // namespace relayguard::policy
