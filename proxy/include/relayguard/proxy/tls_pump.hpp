#pragma once
// The one pump between a socket and a TlsSession, used by all three TLS connections in the tree: the
// client sessions (ClientSession), the upstream link (UpstreamLink) and the probe (ProbeConnection).
// It owns the session and its two ciphertext buffers: the caller reads the socket into received(),
// sends what to_send() holds (and clears it once written), and moves plaintext with read() and write().
// It does no I/O and keeps no clock, so each caller keeps its own event loop (Asio, or the probe's
// blocking poll) and its own rules about what a status means at that point.
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/tls_context.hpp>
#include <relayguard/proxy/tls_session.hpp>

#include <cstddef>
#include <memory>
#include <string_view>

namespace relayguard::proxy {

class TlsPump {
public:
    // A server-side pump for one client connection.
    TlsPump(std::shared_ptr<const TlsServerContext> context, BufferPool& pool);
    // A client-side pump; `server_name` as for TlsSession's client constructor.
    TlsPump(std::shared_ptr<const TlsClientContext> context, std::string_view server_name, BufferPool& pool);
    TlsPump(const TlsPump&) = delete;
    TlsPump& operator=(const TlsPump&) = delete;

    // Ciphertext from the socket, appended by the caller (writable(), commit()).
    ByteBuffer& received() { return received_; }
    // Ciphertext for the socket; the caller clears it once written.
    ByteBuffer& to_send() { return to_send_; }

    // One step of the handshake over what was received; ok once it is complete. Send to_send() first
    // when it is not empty, whatever the status.
    TlsStatus handshake();

    // What one read() did: plaintext produced, and ciphertext taken from received().
    struct ReadProgress {
        std::size_t plaintext = 0;
        std::size_t ciphertext_taken = 0;
    };
    // Decrypts into plain[0, capacity), as TlsSession::read; to_send() may gain an alert or a key
    // update to send.
    TlsStatus read(char* plain, std::size_t capacity, ReadProgress& progress);
    // Encrypts plain[0, size) into to_send() as far as it has room, as TlsSession::write.
    TlsStatus write(const char* plain, std::size_t size, std::size_t& consumed);
    // Queues close_notify in to_send().
    TlsStatus close_notify();

    // Ciphertext received but not yet opened, or plaintext already decrypted: read() has more to give
    // without the socket.
    bool input_pending() const { return !received_.empty() || session_->has_pending_input(); }
    bool handshake_complete() const { return session_->handshake_complete(); }
    std::string describe() const { return session_->describe(); }
    std::string last_error() const { return session_->last_error(); }

    // Gives the buffers' blocks back to the pool: both, or (`only_empty`) those holding nothing.
    void release_buffers(bool only_empty);

private:
    std::unique_ptr<TlsSession> session_;
    ByteBuffer received_;
    ByteBuffer to_send_;
};

} // namespace relayguard::proxy
