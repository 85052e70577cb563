// STARTTLS (RFC 3207) and AUTH (RFC 4954), apart from the other verbs as Postfix keeps
// smtpd_sasl_proto.c: the exchange itself is AuthExchange's, the password check PasswordChecker's; here
// are the rules around them (when AUTH is offered and accepted, lockouts, disabled logins) and what the
// client hears.
#include "smtp_dialogue.hpp"
#include "smtp_replies.hpp"

#include <relayguard/proxy/event_log.hpp>

namespace relayguard::proxy {

void SmtpDialogue::handle_starttls(const Command& command) {
    if (!settings_.tls || listen_tls_ != policy::ListenTls::starttls) {
        protocol_error(replies::not_implemented);
        return;
    }
    if (encrypted_) {
        protocol_error(replies::tls_already_active);
        return;
    }
    if (!command.argument.empty()) {
        protocol_error(replies::starttls_syntax);
        return;
    }
    queue(replies::ready_to_start_tls);
    // Whatever the client pipelined after STARTTLS is dropped unread (tls_starting clears it again).
    in_.clear();
    starttls_pending_ = true;
}

AuthExchange& SmtpDialogue::auth_exchange() {
    if (!auth_exchange_) {
        auth_exchange_ = std::make_unique<AuthExchange>();
    }
    return *auth_exchange_;
}

void SmtpDialogue::end_auth_exchange() {
    if (auth_exchange_) {
        auth_exchange_->reset(); // wipes what the exchange held before the memory goes back
        auth_exchange_.reset();
    }
}

bool SmtpDialogue::auth_offered() const {
    return !config().auth.users.empty() && authenticated_user_.empty() &&
           (encrypted_ || !config().auth.require_tls);
}

void SmtpDialogue::handle_auth(const Command& command) {
    const policy::AuthConfig& auth = config().auth;
    if (auth.users.empty()) {
        protocol_error(replies::auth_not_enabled);
        return;
    }
    if (helo_.empty()) {
        protocol_error(replies::send_helo_first);
        return;
    }
    if (!authenticated_user_.empty()) {
        protocol_error(replies::already_authenticated);
        return;
    }
    if (in_transaction_) {
        protocol_error(replies::auth_in_transaction);
        return;
    }
    if (auth.require_tls && !encrypted_) {
        // Neither offered nor accepted in clear text: the password would cross the network readable.
        protocol_error(replies::encryption_required);
        return;
    }
    if (host_.auth_failures().locked_out(client_, std::chrono::steady_clock::now())) {
        queue(settings_.texts.auth_lockout);
        close_after_flush_ = true;
        host_.log().info(connect_reject_line(client_address(), "421 4.7.0 Too many authentication failures"));
        return;
    }
    const std::string_view argument = command.argument;
    const std::size_t space = argument.find(' ');
    const std::string_view name = argument.substr(0, space);
    std::string_view initial_response;
    if (space != std::string_view::npos) {
        initial_response = argument.substr(space + 1);
        while (!initial_response.empty() && initial_response.front() == ' ') {
            initial_response.remove_prefix(1);
        }
    }
    std::optional<policy::AuthMechanism> mechanism;
    for (const policy::AuthMechanism offered : auth.mechanisms) {
        if (equals_ignoring_ascii_case(name, mechanism_name(offered))) {
            mechanism = offered;
        }
    }
    if (!mechanism) {
        protocol_error(std::string(auth_replies::unrecognized_mechanism) + "\r\n");
        return;
    }
    auth_mechanism_ = *mechanism;
    handle_auth_step(auth_exchange().begin(*mechanism, initial_response, space != std::string_view::npos));
}

void SmtpDialogue::handle_auth_line(std::string_view line) {
    handle_auth_step(auth_exchange().respond(line));
}

void SmtpDialogue::handle_auth_step(AuthStep step) {
    switch (step.kind) {
    case AuthStep::Kind::challenge:
        phase_ = Phase::auth;
        queue(step.line + "\r\n");
        return;
    case AuthStep::Kind::reply:
        phase_ = Phase::command;
        if (step.line == auth_replies::invalid_credentials) {
            auth_checked(PasswordChecker::CheckResult::invalid, {});
        } else {
            protocol_error(step.line + "\r\n");
        }
        return;
    case AuthStep::Kind::credentials:
        break;
    }
    phase_ = Phase::command;
    // Before the password is checked, so the answer is the same whatever password comes with the name.
    // It counts as an error, so one connection cannot repeat it (and its log line) without end.
    if (host_.mail_rates().login_disabled(step.username, std::chrono::steady_clock::now())) {
        host_.log().warning(client_notation(client_address()) + ": AUTH refused: login " + step.username +
                            " is disabled for sending too much mail");
        protocol_error(replies::auth_temporary_failure);
        return;
    }
    std::optional<policy::PasswordHash> hash;
    for (const policy::UserConfig& user : config().auth.users) {
        if (user.name == step.username) {
            hash = user.password_hash;
        }
    }
    pending_ = Pending::auth_check;
    output_.check_password(std::move(hash), std::move(step.password), std::move(step.username));
}

bool SmtpDialogue::password_checked(PasswordChecker::CheckResult result, const std::string& user) {
    if (pending_ != Pending::auth_check) {
        return false; // the session moved on (a time-out answered the client meanwhile)
    }
    pending_ = Pending::none;
    auth_checked(result, user);
    return true;
}

void SmtpDialogue::auth_checked(PasswordChecker::CheckResult result, const std::string& user) {
    const std::string_view mechanism = mechanism_name(auth_mechanism_);
    switch (result) {
    case PasswordChecker::CheckResult::valid:
        host_.metrics().auth_result(auth_mechanism_, true);
        authenticated_user_ = user;
        host_.auth_failures().record_success(client_);
        output_.authenticated();
        output_.mail_deadline_met(); // no longer one of the internet's
        if (output_.upstream_open()) {
            output_.quit_upstream(); // the next MAIL reconnects, so XCLIENT can pass LOGIN=
        }
        queue(replies::auth_successful);
        host_.log().info(client_notation(client_address()) + ": authenticated: sasl_method=" +
                         std::string(mechanism) + ", sasl_username=" + user);
        return;
    case PasswordChecker::CheckResult::busy:
        queue(replies::auth_temporary_failure);
        return;
    case PasswordChecker::CheckResult::invalid:
        break;
    }
    // The log names the mechanism, never the user name or anything else from the exchange.
    host_.log().warning(auth_failure_line(client_address(), mechanism));
    host_.metrics().auth_result(auth_mechanism_, false);
    // Counted when this failure locks the client out, by the tracker's own limit (a reload may have
    // changed it since this session began).
    const auto now = std::chrono::steady_clock::now();
    const bool locked_before = host_.auth_failures().locked_out(client_, now);
    host_.auth_failures().record_failure(client_, now);
    if (!locked_before && host_.auth_failures().locked_out(client_, now)) {
        host_.metrics().auth_lockout(auth_mechanism_);
    }
    protocol_error(replies::auth_failed);
}

} // namespace relayguard::proxy
