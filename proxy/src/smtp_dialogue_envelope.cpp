// The envelope verbs: MAIL FROM (the sender policy), RCPT TO (the relay decision, per recipient, before
// anything goes upstream) and DATA.
#include "smtp_dialogue.hpp"
#include "smtp_dialogue_text.hpp"
#include "smtp_replies.hpp"

#include <relayguard/policy/relay_policy.hpp>
#include <relayguard/policy/sender_policy.hpp>
#include <relayguard/proxy/event_log.hpp>

namespace relayguard::proxy {
namespace smtp_dialogue_envelope_detail {

// The MAIL parameters the upstream understands, rebuilt from the parsed values; the rest are dropped.
void append_mail_parameters(std::string& line, const policy::MailCommand& mail,
                            const UpstreamCapabilities& upstream) {
    for (const policy::EsmtpParameter& parameter : mail.parameters) {
        const std::string& key = parameter.keyword;
        const bool pass =
            (key == "SIZE" && upstream.size_given) || (key == "BODY" && upstream.eight_bit_mime) ||
            (key == "SMTPUTF8" && upstream.smtputf8) || ((key == "RET" || key == "ENVID") && upstream.dsn);
        if (pass) {
            dialogue_text::append_parameter(line, parameter);
        }
    }
}

// The metrics' result for a recipient the relay policy allowed, once the upstream takes it.
RecipientResult accepted_result(policy::RelayBasis basis) {
    switch (basis) {
    case policy::RelayBasis::postmaster:
        return RecipientResult::accepted_postmaster;
    case policy::RelayBasis::network:
        return RecipientResult::accepted_network;
    case policy::RelayBasis::auth:
        return RecipientResult::accepted_auth;
    case policy::RelayBasis::network_and_auth:
        return RecipientResult::accepted_network_and_auth;
    case policy::RelayBasis::local_domain:
    case policy::RelayBasis::denied:
        break;
    }
    return RecipientResult::accepted_local_domain;
}

} // namespace smtp_dialogue_envelope_detail

void SmtpDialogue::handle_mail(const Command& command) {
    if (helo_.empty()) {
        protocol_error(replies::send_helo_first);
        return;
    }
    if (in_transaction_) {
        protocol_error(replies::nested_mail);
        return;
    }
    Metrics& metrics = host_.metrics();
    if (command.missing_keyword) {
        metrics.sender(SenderResult::rejected_syntax);
        protocol_error(replies::mail_syntax);
        return;
    }
    const policy::ParseResult<policy::MailCommand> parsed = policy::parse_mail_from(command.argument);
    if (!parsed) {
        metrics.sender(SenderResult::rejected_syntax);
        protocol_error(parsed.error.line() + "\r\n");
        return;
    }
    const policy::MailCommand& mail = *parsed.value;
    transaction().mail_from.clear();
    mail.path.append_canonical(transaction().mail_from);
    if (mail.smtputf8 && !offered_smtputf8_) {
        metrics.sender(SenderResult::rejected_smtputf8);
        transaction().mail_from.clear();
        protocol_error(replies::smtputf8_not_offered);
        return;
    }
    if (mail.size && *mail.size > config().limits.max_message_size) {
        metrics.sender(SenderResult::rejected_size);
        queue(replies::message_too_big);
        log_reject("MAIL", dialogue_text::without_line_end(replies::message_too_big), {});
        transaction().mail_from.clear();
        return;
    }
    const policy::Verdict verdict = config().senders.decide(facts(), mail.path, config().relay);
    if (!verdict.accepted) {
        metrics.sender(SenderResult::rejected_sender_refused);
        queue(verdict.reply.line() + "\r\n");
        log_reject("MAIL", verdict.reply.line(), {});
        transaction().mail_from.clear();
        return;
    }
    if (!within_mail_rates(MailRateLimiter::Event::message, "MAIL", {})) {
        metrics.sender(SenderResult::deferred_rate_limit);
        transaction().mail_from.clear();
        return;
    }
    transaction().smtputf8 = mail.smtputf8;
    // The parameters are kept parsed so that they can be matched to the upstream's capabilities once
    // it is known (on a fresh connection, only after EHLO).
    transaction().mail_parameters = mail;
    if (output_.upstream_open()) {
        upstream_reused_ = true;
        send_mail_upstream();
        return;
    }
    upstream_reused_ = false;
    pending_ = Pending::open;
    output_.open_upstream(identity());
}

void SmtpDialogue::send_mail_upstream() {
    // The SMTPUTF8 of this session's EHLO repeats what an earlier session saw the upstream offer; the
    // server answering now may not offer it (a restart, a reload, a failover). An address that needs it
    // is then refused, never sent without it, as Postfix's client does ("SMTPUTF8 is required, but was
    // not offered"). An ASCII address goes on, only the SMTPUTF8 parameter is left out.
    const UpstreamCapabilities& upstream = output_.upstream_capabilities();
    if (dialogue_text::needs_smtputf8(transaction().mail_from) && !upstream.smtputf8) {
        host_.metrics().sender(SenderResult::rejected_smtputf8);
        queue(replies::upstream_lacks_smtputf8);
        log_reject("MAIL", dialogue_text::without_line_end(replies::upstream_lacks_smtputf8), {});
        transaction().mail_from.clear();
        pending_ = Pending::none;
        return;
    }
    std::string& line = transaction().upstream_line;
    line.assign("MAIL FROM:").append(transaction().mail_from);
    smtp_dialogue_envelope_detail::append_mail_parameters(line, transaction().mail_parameters, upstream);
    pending_ = Pending::mail;
    output_.upstream_command(line);
}

void SmtpDialogue::handle_rcpt(const Command& command) {
    if (!in_transaction_) {
        protocol_error(replies::need_mail);
        return;
    }
    Metrics& metrics = host_.metrics();
    if (command.missing_keyword) {
        metrics.recipient(RecipientResult::rejected_syntax);
        protocol_error(replies::rcpt_syntax);
        return;
    }
    const policy::ParseResult<policy::RcptCommand> parsed =
        policy::parse_rcpt_to(command.argument, transaction().smtputf8);
    if (!parsed) {
        metrics.recipient(RecipientResult::rejected_syntax);
        protocol_error(parsed.error.line() + "\r\n");
        return;
    }
    const policy::RcptCommand& rcpt = *parsed.value;
    if (transaction().recipients.size() >= config().limits.max_recipients) {
        metrics.recipient(RecipientResult::rejected_too_many);
        queue(replies::too_many_recipients);
        return;
    }
    policy::Verdict verdict = config().relay.decide(facts(), rcpt.path);
    transaction().rcpt_pending.clear();
    rcpt.path.append_canonical(transaction().rcpt_pending);
    transaction().rcpt_basis = smtp_dialogue_envelope_detail::accepted_result(verdict.basis);
    const bool relayed =
        verdict.basis != policy::RelayBasis::local_domain && verdict.basis != policy::RelayBasis::postmaster;
    transaction().rcpt_relay_reason.clear();
    if (verdict.accepted && relayed) {
        transaction().rcpt_relay_reason = std::move(verdict.reason);
    }
    if (!verdict.accepted) {
        metrics.recipient(RecipientResult::rejected_relay_denied);
        queue(verdict.reply.line() + "\r\n");
        log_reject("RCPT", verdict.reply.line(), transaction().rcpt_pending);
        return;
    }
    // The upstream has answered EHLO (it accepted the MAIL): its own offer decides (send_mail_upstream).
    const UpstreamCapabilities& upstream = output_.upstream_capabilities();
    if (dialogue_text::needs_smtputf8(transaction().rcpt_pending) && !upstream.smtputf8) {
        metrics.recipient(RecipientResult::rejected_smtputf8);
        queue(replies::upstream_lacks_smtputf8);
        log_reject("RCPT", dialogue_text::without_line_end(replies::upstream_lacks_smtputf8),
                   transaction().rcpt_pending);
        return;
    }
    if (!within_mail_rates(MailRateLimiter::Event::recipient, "RCPT", transaction().rcpt_pending)) {
        metrics.recipient(RecipientResult::deferred_rate_limit);
        return;
    }
    std::string& line = transaction().upstream_line;
    line.assign("RCPT TO:").append(transaction().rcpt_pending);
    if (upstream.dsn) {
        for (const policy::EsmtpParameter& parameter : rcpt.parameters) {
            dialogue_text::append_parameter(line, parameter);
        }
    }
    pending_ = Pending::rcpt;
    output_.upstream_command(line);
}

void SmtpDialogue::handle_data(const Command& command) {
    if (!command.argument.empty()) {
        protocol_error(replies::no_argument_expected);
        return;
    }
    if (!in_transaction_) {
        protocol_error(replies::need_mail);
        return;
    }
    if (transaction().recipients.empty()) {
        // The upstream is not asked: without a recipient it has nothing to take.
        protocol_error(replies::no_valid_recipients);
        return;
    }
    pending_ = Pending::data;
    output_.upstream_command("DATA");
}

bool SmtpDialogue::within_mail_rates(MailRateLimiter::Event event, std::string_view command,
                                     std::string_view to) {
    MailRateLimiter& rates = host_.mail_rates();
    const MailRateLimiter::Decision decision =
        rates.record(event, client_, config().relay.is_trusted_network(client_), authenticated_user_,
                     std::chrono::steady_clock::now());
    if (!decision.refused()) {
        return true;
    }
    const std::string reply =
        MailRateLimiter::refusal(decision, event, client_address(), authenticated_user_);
    queue(reply + "\r\n");
    log_reject(command, reply, to);
    if (decision.disabled_now) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(rates.login_lockout()).count();
        host_.log().warning("login " + authenticated_user_ + " disabled for " + std::to_string(seconds) +
                            "s: over its mail rate in " + std::to_string(rates.login_lockout_after()) +
                            " windows, the last from " + client_notation(client_address()));
    }
    return false;
}

} // namespace relayguard::proxy
