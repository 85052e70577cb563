#include "client_session.hpp"

#include "smtp_dialogue_text.hpp"
#include "smtp_replies.hpp"

#include <relayguard/proxy/event_log.hpp>

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>

namespace relayguard::proxy {
namespace client_session_detail {

// A refused client gets this long to take its one reply line.
constexpr std::chrono::seconds refuse_timeout{10};

} // namespace client_session_detail

ClientSession::ClientSession(std::shared_ptr<SessionHost> host, TcpSocket socket,
                             const policy::IpAddress& client, std::shared_ptr<const SessionSettings> settings,
                             policy::ListenTls listen_tls, Metrics::ListenerSlot listener_slot)
    : host_holder_(std::move(host)), host_(*host_holder_), settings_(std::move(settings)),
      socket_(std::move(socket)), dialogue_(*settings_, host_, *this, client, listen_tls),
      listen_tls_(listen_tls), listener_slot_(listener_slot) {
}

ClientSession::~ClientSession() {
    host_.session_ended(*this);
}

// ---------------------------------------------------------------------------------------------------
// Reading and writing

void ClientSession::start() {
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    host_.log().info("connect from " + client_notation(client_address()));
    const policy::LimitsConfig& limits = config().limits;
    const bool stressed = pool_ == SessionPool::untrusted && host_.under_stress();
    if (pool_ == SessionPool::untrusted) {
        mail_deadline_ =
            std::chrono::steady_clock::now() +
            (stressed ? std::min(limits.mail_deadline, limits.stress_mail_deadline) : limits.mail_deadline);
    }
    if (listen_tls_ == policy::ListenTls::implicit && settings_->tls) {
        begin_tls(); // the greeting follows the handshake
        return;
    }
    const std::chrono::milliseconds greet_delay =
        stressed ? std::max(limits.greet_delay, limits.stress_greet_delay) : limits.greet_delay;
    if (greet_delay.count() > 0) {
        wait_for_pregreet(greet_delay);
    } else {
        greet();
    }
}

std::chrono::milliseconds ClientSession::command_timeout() const {
    const policy::LimitsConfig& limits = config().limits;
    if (pool_ == SessionPool::untrusted && host_.under_stress()) {
        return std::min(limits.command_timeout, limits.stress_command_timeout);
    }
    return limits.command_timeout;
}

void ClientSession::stress_began() {
    if (pool_ != SessionPool::untrusted || closed_) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (mail_deadline_ != std::chrono::steady_clock::time_point::max()) {
        mail_deadline_ = std::min(mail_deadline_, now + config().limits.stress_mail_deadline);
    }
    // Only a wait for the client's next command is shortened now; the greeting, a handshake, an AUTH
    // challenge or DATA keep their own clocks, and meet the mail deadline at their next command wait.
    if (handshaking_ || !dialogue_.waiting_for_command() ||
        deadline_ == std::chrono::steady_clock::time_point::max()) {
        return;
    }
    deadline_ = std::min({deadline_, now + command_timeout(), mail_deadline_});
    host_.wake_at(deadline_);
}

void ClientSession::refuse(std::string_view reply) {
    dialogue_.refuse(reply);
    arm_timer(client_session_detail::refuse_timeout);
    flush();
}

void ClientSession::wait_for_pregreet(std::chrono::milliseconds delay) {
    // A client that talks before the greeting is a bot that does not wait for replies (postscreen's
    // pregreet test): whichever comes first, its bytes or the end of the delay, decides.
    arm_timer(delay);
    reading_ = true;
    socket_.async_wait(TcpSocket::wait_read, [self = shared_from_this()](const asio::error_code& error) {
        // Cancelled, or the delay won the race: greet() has taken over.
        if (error == asio::error::operation_aborted || self->closed_ ||
            self->dialogue_.phase() != SmtpDialogue::Phase::greeting) {
            return;
        }
        self->reading_ = false;
        if (error) {
            self->client_gone(error.message());
            return;
        }
        self->host_.metrics().connection_refused(ConnectionRefusal::greet_delay);
        self->host_.log().info(
            connect_reject_line(self->client_address(), dialogue_text::without_line_end(replies::pregreet)));
        self->refuse(replies::pregreet);
    });
}

void ClientSession::greet() {
    dialogue_.greet();
    flush();
}

void ClientSession::read_more() {
    if (reading_ || closed_) {
        return;
    }
    if (tls_input_ended_) {
        client_gone("TLS closed by the client");
        return;
    }
    if (tls_ && !handshaking_ && !tls_wants_read_) {
        // Plaintext may wait inside the TLS session, or ciphertext in raw_in: no socket event would
        // announce it, so it is taken now (posted, not recursed into).
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
            if (!self->closed_ && !self->reading_ && !self->writing_) {
                self->decrypt_input();
                self->process_input();
            }
        });
        return;
    }
    // Between transactions the session waits for readability with no buffer borrowed, which keeps idle
    // sessions small. Inside a transaction it reads straight into its input buffer: the next command
    // or the body follows at once, and a read (unlike a readiness wait) costs Asio no epoll_ctl.
    const bool busy = dialogue_.in_transaction();
    if (!busy) {
        release_buffers(true);
    }
    // The handshake's time-out runs from begin_tls(): re-arming it per read would let a client that
    // trickles its handshake hold the session's TLS memory for ever.
    if (dialogue_.phase() == SmtpDialogue::Phase::data) {
        arm_timer(config().limits.data_timeout);
    } else if (!handshaking_) {
        arm_command_timer();
    }
    reading_ = true;
    if (busy) {
        ByteBuffer& target = tls_ ? tls_->received() : dialogue_.input();
        char* room = target.writable();
        if (target.writable_size() == 0) {
            // Cannot happen (see on_readable), and a zero-size read would complete at once, for ever.
            reading_ = false;
            client_gone("input buffer full");
            return;
        }
        socket_.async_read_some(
            asio::buffer(room, target.writable_size()),
            [self = shared_from_this()](const asio::error_code& error, std::size_t count) {
                if (error == asio::error::operation_aborted || self->closed_) {
                    return;
                }
                self->reading_ = false;
                self->received(error, count);
            });
        return;
    }
    socket_.async_wait(TcpSocket::wait_read, [self = shared_from_this()](const asio::error_code& error) {
        // A cancelled wait belongs to whoever cancelled it (drain, time-out, close), which
        // resets reading_.
        if (error == asio::error::operation_aborted || self->closed_) {
            return;
        }
        self->reading_ = false;
        if (error) {
            self->client_gone(error.message());
            return;
        }
        self->on_readable();
    });
}

void ClientSession::on_readable() {
    ByteBuffer& target = tls_ ? tls_->received() : dialogue_.input();
    char* room = target.writable();
    const std::size_t room_size = target.writable_size();
    if (room_size == 0) {
        // Cannot happen: a full buffer is always drained (a command line is capped below its size).
        client_gone("input buffer full");
        return;
    }
    asio::error_code error;
    const std::size_t count = socket_.read_some(asio::buffer(room, room_size), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
        read_more();
        return;
    }
    received(error, count);
}

// `count` octets arrived in the input buffer (ciphertext with TLS), or the read failed.
void ClientSession::received(const asio::error_code& error, std::size_t count) {
    if (error) {
        client_gone(error == asio::error::eof ? "disconnected" : error.message());
        return;
    }
    ByteBuffer& target = tls_ ? tls_->received() : dialogue_.input();
    target.commit(count);
    host_.metrics().received(Peer::client, count);
    if (tls_) {
        tls_wants_read_ = false;
        if (handshaking_) {
            continue_handshake();
            return;
        }
        decrypt_input();
    }
    process_input();
}

void ClientSession::process_input() {
    if (closed_ || handshaking_ || writing_) {
        return;
    }
    dialogue_.process();
    if (closed_ || dialogue_.waiting()) {
        return;
    }
    // The input ran dry (or the reply buffer filled): answer what was asked, then read on (RFC 2920).
    // With TLS, raw_out may also hold an alert that reading produced (a refused renegotiation).
    if (!dialogue_.output().empty() || dialogue_.closing() || dialogue_.starttls_requested() ||
        (tls_ && !tls_->to_send().empty())) {
        flush();
    } else {
        read_more();
    }
}

void ClientSession::flush() {
    if (writing_ || closed_) {
        return;
    }
    ByteBuffer& out = dialogue_.output();
    if (tls_ && !handshaking_) {
        if (!out.empty()) {
            std::size_t consumed = 0;
            const TlsStatus status = tls_->write(out.data(), out.size(), consumed);
            out.consume(consumed);
            if (status == TlsStatus::failed || status == TlsStatus::closed) {
                client_gone("TLS: " + tls_->last_error());
                return;
            }
        }
        if (!tls_->to_send().empty()) {
            write_buffer(tls_->to_send(), false);
            return;
        }
        after_write();
        return;
    }
    if (out.empty()) {
        after_write();
        return;
    }
    write_buffer(out, false);
}

// One writer for both buffers: the dialogue's output (plaintext, no TLS) and raw_out (ciphertext). Only
// one write is outstanding at a time, so `buffer` is not touched until the completion clears it.
// It writes to the socket at once, which nearly always takes a reply whole: a completion through the
// event loop would cost a trip around it (an epoll_wait of its own) per reply. What does not fit waits
// for writability. Inside such a completion the next write goes through the loop, which keeps the stack
// shallow when one reply's completion leads to the next (pipelined commands answered locally).
void ClientSession::write_buffer(ByteBuffer& buffer, bool then_handshake) {
    writing_ = true;
    std::size_t written = 0;
    if (!completing_write_inline_) {
        asio::error_code error;
        written = socket_.write_some(asio::buffer(buffer.data(), buffer.size()), error);
        if (error) {
            written = 0; // would_block, or a failure the asynchronous write reports in order
        } else if (written == buffer.size()) {
            completing_write_inline_ = true;
            write_finished(buffer, then_handshake, error, written);
            completing_write_inline_ = false;
            return;
        }
    }
    asio::async_write(socket_, asio::buffer(buffer.data() + written, buffer.size() - written),
                      [self = shared_from_this(), &buffer, then_handshake,
                       written](const asio::error_code& error, std::size_t count) {
                          self->write_finished(buffer, then_handshake, error, written + count);
                      });
}

void ClientSession::write_finished(ByteBuffer& buffer, bool then_handshake, const asio::error_code& error,
                                   std::size_t count) {
    writing_ = false;
    host_.metrics().sent(Peer::client, count);
    if (closed_) {
        return;
    }
    if (error) {
        client_gone(error.message());
        return;
    }
    buffer.clear();
    if (then_handshake) {
        continue_handshake();
    } else if (tls_ && !dialogue_.output().empty()) {
        flush(); // more plaintext than one round of ciphertext held
    } else {
        after_write();
    }
}

void ClientSession::after_write() {
    if (dialogue_.starttls_requested()) {
        begin_tls();
        return;
    }
    if (dialogue_.closing()) {
        close();
        return;
    }
    process_input();
}

// ---------------------------------------------------------------------------------------------------
// Clocks

void ClientSession::arm_timer(std::chrono::milliseconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    host_.wake_at(deadline_);
}

// <limits command-timeout> bounds the wait for a whole command line, counted from when the session began
// to wait for it: octets that trickle in do not extend it, or a client sending one every few minutes
// would hold its connection slot for ever (slowloris).
void ClientSession::arm_command_timer() {
    const auto fresh = std::chrono::steady_clock::now() + command_timeout();
    deadline_ = std::min(dialogue_.line_begun() ? std::min(deadline_, fresh) : fresh, mail_deadline_);
    host_.wake_at(deadline_);
}

void ClientSession::deadline_passed() {
    deadline_ = std::chrono::steady_clock::time_point::max();
    on_timeout();
}

void ClientSession::on_timeout() {
    if (closed_) {
        return;
    }
    if (dialogue_.waiting()) {
        // relayguard, not the client, is the one waiting: the upstream link and the password checker
        // have their own bounds, and their outcome re-arms the client's clock.
        arm_timer(config().limits.command_timeout);
        return;
    }
    if (handshaking_) {
        host_.metrics().tls_handshake_failed(listener_slot_);
        host_.log().info("TLS handshake timed out with " + client_notation(client_address()));
        close();
        return;
    }
    if (dialogue_.phase() == SmtpDialogue::Phase::greeting) {
        // The greet delay passed in silence: the client may have its greeting now.
        asio::error_code ignored;
        socket_.cancel(ignored);
        reading_ = false;
        greet();
        return;
    }
    if (writing_ || dialogue_.closing()) {
        client_gone("timeout while writing");
        return;
    }
    dialogue_.timed_out(mail_deadline_ <= std::chrono::steady_clock::now());
    asio::error_code ignored;
    socket_.cancel(ignored);
    reading_ = false;
    arm_timer(client_session_detail::refuse_timeout);
    flush();
}

// ---------------------------------------------------------------------------------------------------
// The end

void ClientSession::client_gone(std::string_view why) {
    if (dialogue_.phase() == SmtpDialogue::Phase::data) {
        host_.log().info("lost connection after DATA from " + client_notation(client_address()) + ": " +
                         std::string(why));
    }
    close();
}

void ClientSession::release_buffers(bool only_empty) {
    dialogue_.release_buffers(only_empty);
    if (tls_) {
        tls_->release_buffers(only_empty);
    }
}

void ClientSession::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    // A client that vanishes mid-DATA must not leave a message behind: no final dot goes upstream.
    if (dialogue_.phase() == SmtpDialogue::Phase::data) {
        abort_upstream();
    } else {
        quit_upstream();
    }
    deadline_ = std::chrono::steady_clock::time_point::max();
    asio::error_code ignored;
    if (tls_ && tls_->handshake_complete() && !writing_) {
        // TLS ends with close_notify (RFC 5246 §7.2.1, RFC 8446 §6.1), so the client can tell the end
        // from a truncation. Best effort: the socket is non-blocking and is closed right after.
        tls_->to_send().clear();
        tls_->close_notify();
        if (!tls_->to_send().empty()) {
            socket_.write_some(asio::buffer(tls_->to_send().data(), tls_->to_send().size()), ignored);
        }
    }
    socket_.shutdown(TcpSocket::shutdown_both, ignored);
    socket_.close(ignored);
    release_buffers(false);
    host_.log().info("disconnect from " + client_notation(client_address()) + " commands=" +
                     std::to_string(dialogue_.commands()) + " errors=" + std::to_string(dialogue_.errors()));
}

void ClientSession::drain() {
    if (closed_) {
        dialogue_.drain();
        return;
    }
    const bool greeting = dialogue_.phase() == SmtpDialogue::Phase::greeting && !handshaking_;
    const bool idle =
        !handshaking_ && dialogue_.waiting_for_command() && !dialogue_.in_transaction() && !writing_;
    dialogue_.drain();
    if (idle || greeting) {
        asio::error_code ignored;
        socket_.cancel(ignored); // ends the pending read; its handler sees the session unchanged and returns
        reading_ = false;
        process_input();
    }
}

void ClientSession::close_now() {
    close();
}

} // namespace relayguard::proxy
