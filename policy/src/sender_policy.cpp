#include <relayguard/policy/ascii.hpp>
#include <relayguard/policy/sender_policy.hpp>

#include <utility>

namespace relayguard::policy {
namespace sender_policy_detail {

// A configured sender goes through the same parser as MAIL FROM, so that "alice@Example.COM." in the
// configuration and "<alice@example.com>" on the wire resolve to the same mailbox. SMTPUTF8 is given
// because configurations may name internationalised addresses; it must be the only parameter, or text
// such as "a@b> ENVID=x" would smuggle a parameter in.
std::optional<Mailbox> parse_configured_mailbox(std::string_view text) {
    const ParseResult<MailCommand> parsed = parse_mail_from("<" + std::string(text) + "> SMTPUTF8");
    if (!parsed || parsed.value->parameters.size() != 1) {
        return std::nullopt;
    }
    const ReversePath& path = parsed.value->path;
    if (path.null || path.had_source_route || !path.mailbox.has_domain()) {
        return std::nullopt;
    }
    return path.mailbox;
}

std::string sender_rejected(const ReversePath& sender, std::string_view why) {
    return "5.7.1 " + without_control_characters(sender.canonical()) +
           ": Sender address rejected: " + std::string(why);
}

} // namespace sender_policy_detail

std::optional<SenderPattern> SenderPattern::parse(std::string_view text) {
    const bool whole_domain = !text.empty() && text.front() == '@';
    // "@domain" borrows a placeholder local part so that the domain is resolved exactly as in a path.
    const std::optional<Mailbox> mailbox = sender_policy_detail::parse_configured_mailbox(
        whole_domain ? "x" + std::string(text) : std::string(text));
    if (!mailbox) {
        return std::nullopt;
    }
    SenderPattern pattern;
    pattern.local_part = whole_domain ? std::string() : mailbox->local_part;
    pattern.domain = mailbox->domain;
    return pattern;
}

// Local parts are compared without regard to ASCII case. RFC 5321 §2.4 lets a receiving system treat
// them as case-sensitive, but the mail systems relayguard fronts treat "Alice" and "alice" as one
// mailbox, and Postfix's smtpd_sender_login_maps lookups fold case the same way. Matching
// case-sensitively would reject a user's own address typed differently without stopping anyone from
// spoofing someone else's.
bool SenderPattern::matches(const Mailbox& sender) const {
    if (!sender.has_domain() || sender.domain != domain) {
        return false;
    }
    return local_part.empty() || equals_ignoring_ascii_case(local_part, sender.local_part);
}

SenderPolicy::SenderPolicy(LocalSenders local_senders,
                           std::map<std::string, std::vector<SenderPattern>> user_senders)
    : local_senders_(local_senders), user_senders_(std::move(user_senders)) {
}

Verdict SenderPolicy::decide(const ClientFacts& client, const ReversePath& sender,
                             const RelayPolicy& relay) const {
    Verdict verdict;
    // Bounces must always be deliverable (RFC 5321 §4.5.5), and <> names nobody to spoof.
    if (sender.null) {
        verdict.accepted = true;
        verdict.reason = "null sender";
        return verdict;
    }
    const std::string user = without_control_characters(client.authenticated_user);
    if (client.authenticated()) {
        const auto found = user_senders_.find(client.authenticated_user);
        if (found != user_senders_.end() && !found->second.empty()) {
            for (const SenderPattern& pattern : found->second) {
                if (pattern.matches(sender.mailbox)) {
                    verdict.accepted = true;
                    verdict.reason = "sender owned by " + user;
                    return verdict;
                }
            }
            verdict.reply = {553, sender_policy_detail::sender_rejected(sender, "not owned by user " + user)};
            verdict.reason = "sender rejected: not owned by user " + user;
            return verdict;
        }
        verdict.accepted = true;
        verdict.reason = "sender allowed: authenticated as " + user;
        return verdict;
    }
    if (relay.is_trusted_network(client.address)) {
        verdict.accepted = true;
        verdict.reason = "sender allowed: allowlisted network";
        return verdict;
    }
    const Mailbox& mailbox = sender.mailbox;
    const bool local_domain =
        mailbox.has_domain() && !mailbox.is_literal() && relay.is_local_domain(mailbox.domain);
    if (local_domain && local_senders_ == LocalSenders::trusted_only) {
        verdict.reply = {553, sender_policy_detail::sender_rejected(sender, "not logged in")};
        verdict.reason = "sender rejected: local domain without login";
        return verdict;
    }
    verdict.accepted = true;
    verdict.reason =
        local_domain ? "sender allowed: local senders from anyone" : "sender allowed: not a local domain";
    return verdict;
}

} // namespace relayguard::policy
