// ClientSession's TLS leg: STARTTLS or implicit TLS through the session's TlsPump.
#include "client_session.hpp"

#include <relayguard/proxy/event_log.hpp>

namespace relayguard::proxy {
namespace client_session_tls_detail {

// A TLS handshake that has not finished by then is abandoned (a slow-loris client holds a session's
// TLS memory, about 34 KiB, for as long as it is allowed to).
constexpr std::chrono::seconds tls_handshake_timeout{30};

} // namespace client_session_tls_detail

// ---------------------------------------------------------------------------------------------------
// TLS

void ClientSession::begin_tls() {
    dialogue_.tls_starting();
    tls_ = std::make_unique<TlsPump>(settings_->tls, host_.pool());
    tls_wants_read_ = false;
    handshaking_ = true;
    arm_timer(client_session_tls_detail::tls_handshake_timeout);
    continue_handshake();
}

void ClientSession::continue_handshake() {
    const TlsStatus status = tls_->handshake();
    if (!tls_->to_send().empty()) {
        write_buffer(tls_->to_send(), true);
        return;
    }
    switch (status) {
    case TlsStatus::ok:
        handshake_done();
        return;
    case TlsStatus::want_read:
        tls_wants_read_ = true;
        read_more();
        return;
    case TlsStatus::want_write:
    case TlsStatus::closed:
    case TlsStatus::failed:
        host_.metrics().tls_handshake_failed(listener_slot_);
        host_.log().info("TLS handshake failed with " + client_notation(client_address()) + ": " +
                         tls_->last_error());
        close();
        return;
    }
}

void ClientSession::handshake_done() {
    handshaking_ = false;
    const std::string description = tls_->describe();
    host_.metrics().tls_handshake(listener_slot_, tls_protocol_of(description));
    host_.log().info("TLS established with " + client_notation(client_address()) + ": " + description);
    if (listen_tls_ == policy::ListenTls::implicit) {
        greet();
        return;
    }
    process_input();
}

void ClientSession::decrypt_input() {
    ByteBuffer& in = dialogue_.input();
    while (!closed_) {
        char* room = in.writable();
        const std::size_t room_size = in.writable_size();
        if (room_size == 0) {
            return; // the commands in the input go first
        }
        TlsPump::ReadProgress progress;
        const TlsStatus status = tls_->read(room, room_size, progress);
        in.commit(progress.plaintext);
        if (status == TlsStatus::ok && progress.plaintext > 0) {
            continue;
        }
        if (status == TlsStatus::ok || status == TlsStatus::want_read || status == TlsStatus::want_write) {
            // want_write: the alert in raw_out goes out first (process_input flushes it), then reading
            // resumes without waiting for the socket.
            // An ok without progress also waits for the socket, so this can never spin.
            tls_wants_read_ =
                status == TlsStatus::want_read ||
                (status == TlsStatus::ok && (tls_->received().empty() || progress.ciphertext_taken == 0));
            return;
        }
        if (status == TlsStatus::closed) {
            // Like a TCP half-close: the commands that came before the alert are still processed and
            // answered (a final dot and QUIT in the same flight must not lose the message); the session
            // ends when they run out (read_more).
            tls_input_ended_ = true;
            return;
        }
        client_gone("TLS: " + tls_->last_error());
        return;
    }
}

} // namespace relayguard::proxy
