// UpstreamLink's opening: what SmtpClientOpening asks for next (a command, the STARTTLS handshake, the
// session), and the one mapping from its refusals to the link's faults and log wording.
#include "upstream_link.hpp"

namespace relayguard::proxy {
namespace upstream_link_opening_detail {

// What the link's log line says when the opening failed, and how the session counts it.
struct OpeningFailure {
    UpstreamFault fault;
    std::string detail;
};

OpeningFailure opening_failure(const SmtpClientOpening::Step& step, bool tls_required) {
    using Refusal = SmtpClientOpening::Refusal;
    const std::string code = std::to_string(step.code);
    const std::string required = " and <upstream tls=\"required\">";
    switch (step.refusal) {
    case Refusal::greeting:
        return {UpstreamFault::refused_greeting, "greeting " + code};
    case Refusal::ehlo:
        if (tls_required) {
            return {UpstreamFault::tls_failed, "EHLO answered " + code + ", so no STARTTLS" + required};
        }
        return {UpstreamFault::refused_greeting, "EHLO answered " + code};
    case Refusal::tls_ehlo:
    case Refusal::xclient_ehlo:
        return {UpstreamFault::refused_greeting, "EHLO answered " + code};
    case Refusal::helo:
        return {UpstreamFault::refused_greeting, "HELO answered " + code};
    case Refusal::starttls_not_offered:
        return {UpstreamFault::tls_failed, "STARTTLS not offered" + required};
    case Refusal::starttls_refused:
        return {UpstreamFault::tls_failed, "STARTTLS answered " + code + required};
    case Refusal::xclient:
        return {UpstreamFault::refused_greeting, "XCLIENT answered " + code};
    case Refusal::health_check:
        return {UpstreamFault::connection_lost, "NOOP answered " + code};
    }
    return {UpstreamFault::refused_greeting, "refused " + code};
}

} // namespace upstream_link_opening_detail

// What the opening asked for next.
void UpstreamLink::opening_step(const SmtpClientOpening::Step& step) {
    if (!step.tls_skipped.empty()) {
        owner_->upstream_notice(true,
                                "upstream TLS not used: " + step.tls_skipped + "; continuing in clear text");
    }
    switch (step.kind) {
    case SmtpClientOpening::Step::Kind::send:
        if (step.line.compare(0, 8, "XCLIENT ") == 0 && !xclient_sent_) {
            xclient_sent_ = true;
            xclient_offer_ = opening_->capabilities(); // the EHLO that offered it
        }
        send_line(step.line, Phase::opening);
        return;
    case SmtpClientOpening::Step::Kind::start_tls:
        phase_ = Phase::starttls_accepted; // the handshake begins once the 220 is consumed (read_reply)
        return;
    case SmtpClientOpening::Step::Kind::ready:
        become_ready();
        return;
    case SmtpClientOpening::Step::Kind::failed:
        break;
    }
    const upstream_link_opening_detail::OpeningFailure failure =
        upstream_link_opening_detail::opening_failure(step,
                                                      config_->upstream.tls == policy::UpstreamTls::required);
    fail(failure.fault, failure.detail);
}

void UpstreamLink::become_ready() {
    phase_ = Phase::command;
    ready_ = true;
    if (reusing_) {
        reusing_ = false;
        owner_->metrics().upstream_reused();
    }
    capabilities_ = opening_->capabilities();
    owner_->upstream_ready();
}

void UpstreamLink::begin_tls() {
    // The 220 must be the last thing the upstream said in clear text: anything after it would be read as
    // if it had come over TLS (CVE-2011-0411 from the server's side).
    if (in_.size() > 0) {
        fail(UpstreamFault::tls_failed, "clear text after the 220 to STARTTLS");
        return;
    }
    if (!tls_context_) {
        fail(UpstreamFault::tls_failed, "no upstream TLS context");
        return;
    }
    tls_ = std::make_unique<TlsPump>(tls_context_, config_->upstream.host, pool_);
    phase_ = Phase::tls_handshake;
    // One deadline for the whole handshake, so an upstream cannot stretch it out a record at a time.
    arm_timer(command_timeout_);
    continue_handshake();
}

void UpstreamLink::continue_handshake() {
    const TlsStatus status = tls_->handshake();
    if (!tls_->to_send().empty()) {
        write_left_ = 0;
        after_write_ = AfterWrite::continue_handshake;
        write_socket(tls_->to_send().data(), tls_->to_send().size());
        return;
    }
    switch (status) {
    case TlsStatus::ok:
        disarm_timer();
        owner_->upstream_notice(false, "upstream TLS established: " + tls_->describe());
        opening_step(opening_->tls_established());
        return;
    case TlsStatus::want_read:
        receive();
        return;
    case TlsStatus::want_write:
    case TlsStatus::closed:
    case TlsStatus::failed:
        break;
    }
    handshake_failed("TLS handshake failed: " + tls_->last_error());
}

// Whatever ended the handshake (an alert, a hang-up, the deadline): with tls="starttls" and no CA, one
// reconnect in clear text, as the header promises; otherwise a TLS failure.
void UpstreamLink::handshake_failed(const std::string& why) {
    const bool may_retry_in_clear = config_->upstream.tls == policy::UpstreamTls::starttls &&
                                    !tls_context_->verifies_peer() && !clear_text_retry_;
    if (!may_retry_in_clear) {
        fail(UpstreamFault::tls_failed, why);
        return;
    }
    owner_->upstream_notice(true, why + "; reconnecting in clear text");
    ++generation_;
    close_socket();
    clear_text_retry_ = true;
    start_connection();
}

} // namespace relayguard::proxy
