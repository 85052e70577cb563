// ClientSession's side of SmtpDialogue::Output and of UpstreamLink::Owner: what the dialogue asks of its
// connection, and what the upstream link reports back, passed between the two.
#include "client_session.hpp"
#include "upstream_pool.hpp"

#include <relayguard/proxy/event_log.hpp>

namespace relayguard::proxy {

// ---------------------------------------------------------------------------------------------------
// The upstream leg: the link exists from the session's first MAIL on, so a session that never sends
// mail (a scanner, an idle connection) never pays for its socket, timer and buffers.

UpstreamLink& ClientSession::upstream() {
    if (!upstream_) {
        UpstreamLink::Owner& owner = *this;
        upstream_ = std::make_shared<UpstreamLink>(host_.io(), host_.pool(), owner);
    }
    return *upstream_;
}

bool ClientSession::upstream_open() const {
    return upstream_ && upstream_->is_open();
}

const UpstreamCapabilities& ClientSession::upstream_capabilities() {
    return upstream().capabilities();
}

void ClientSession::open_upstream(const ClientIdentity& client) {
    // A parked connection of this configuration when there is one: it has greeted and heard EHLO.
    if (std::shared_ptr<UpstreamLink> pooled = host_.upstream_pool().take(*settings_)) {
        upstream_ = std::move(pooled); // an old link's pending handlers hold it until they have run
        upstream_->set_owner(*this);
        upstream_->reuse(client);
        return;
    }
    upstream().open(config(), settings_->hostname, client, settings_->upstream_tls);
}

void ClientSession::upstream_command(std::string_view line) {
    upstream().command(line);
}

void ClientSession::upstream_body(const char* data, std::size_t size) {
    upstream().send_body(data, size);
}

void ClientSession::upstream_finish_data() {
    upstream().finish_data();
}

void ClientSession::upstream_body_then_dot(const char* data, std::size_t size) {
    upstream().finish_data(data, size);
}

void ClientSession::abort_upstream() {
    if (upstream_) {
        upstream_->abort();
    }
}

// Between commands the connection may go to the pool, which says RSET; otherwise QUIT and close.
void ClientSession::quit_upstream() {
    if (!upstream_) {
        return;
    }
    if (host_.upstream_pool().park(upstream_, settings_)) {
        return; // upstream_ is empty now; the next MAIL takes a connection from the pool or opens one
    }
    upstream_->quit();
}

void ClientSession::upstream_ready() {
    dialogue_.upstream_ready();
    process_input(); // the MAIL may have been answered here: the commands after it go on
}

void ClientSession::upstream_replied(const ParsedReply& reply) {
    dialogue_.upstream_replied(reply);
    process_input();
}

void ClientSession::upstream_wrote() {
    dialogue_.upstream_wrote();
    process_input();
}

void ClientSession::upstream_failed(UpstreamFault fault, std::string_view detail) {
    dialogue_.upstream_failed(fault, detail);
    process_input();
}

void ClientSession::upstream_notice(bool warning, std::string_view text) {
    const std::string line = std::string(text) + " (" + config().upstream.host + ":" +
                             std::to_string(config().upstream.port) + ", for " +
                             client_notation(client_address()) + ")";
    if (warning) {
        host_.log().warning(line);
    } else {
        host_.log().info(line);
    }
}

// ---------------------------------------------------------------------------------------------------
// What the dialogue asks besides the upstream

void ClientSession::check_password(std::optional<policy::PasswordHash> hash, std::string password,
                                   std::string user) {
    host_.password_checker().check(
        std::move(hash), std::move(password),
        [self = shared_from_this(), user = std::move(user)](PasswordChecker::CheckResult result) {
            if (self->closed_ || !self->dialogue_.password_checked(result, user)) {
                return;
            }
            self->process_input();
        });
}

void ClientSession::authenticated() {
    host_.session_authenticated(*this);
}

void ClientSession::mail_deadline_met() {
    mail_deadline_ = std::chrono::steady_clock::time_point::max();
}

} // namespace relayguard::proxy
