#pragma once
// One TLS connection (an mbedtls_ssl_context) with no socket behind it: the caller hands in the
// ciphertext it has received and collects the ciphertext to send, so the same object serves the Asio
// session, the upstream link and in-memory tests.
//
// Every call takes a TlsIo:
//   - `input`: ciphertext received and not yet given to the session. The call reads from
//     input[input_used..] and advances `input_used`; afterwards the caller drops the first `input_used`
//     octets from its receive buffer (they now belong to the session, which keeps partial records
//     itself) and keeps the rest for the next call. The session never reads past the record it needs,
//     so octets after the handshake's last record are still in `input` when handshake() returns ok.
//   - `output`: where ciphertext to send is appended. It is bounded by the buffer's capacity; when it is
//     full the call stops with want_write (or reports partial progress) and nothing is lost: the rest
//     waits inside the session until the caller has sent some of `output` and calls again.
//
// Statuses: ok; want_read (give it more ciphertext, then call the same function again); want_write
// (send some of `output`, then call the same function again); closed (the peer sent close_notify, or
// the session was shut down); failed (last_error() says why; `output` may still hold a fatal alert that
// is worth sending). closed and failed are final: later calls return them again without doing anything
// (except close_notify(), which still answers a peer's close_notify).
//
// Memory per session, measured on x86-64 (the record buffers dominate, so 32-bit ARM is about the same),
// not counting the caller's ByteBuffers: with the 2.28 system library 37 KiB after construction (two
// record buffers of MBEDTLS_SSL_IN/OUT_CONTENT_LEN = 16 KiB payload plus overhead, and the handshake
// state), about 10 KiB more at the peak of a handshake, 33 KiB once established (a client's copy of the
// upstream's certificate included); with 3.6 and TLS 1.3 38 KiB established. A run-time setting cannot
// shrink the record buffers of the listening side (the client decides the record size); only a library
// built with smaller MBEDTLS_SSL_IN/OUT_CONTENT_LEN or with MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH can.
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/tls_context.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace relayguard::proxy {

namespace tls_session_detail {
struct SessionState;
} // namespace tls_session_detail

struct TlsIo {
    std::string_view input;
    std::size_t input_used = 0;
    ByteBuffer* output = nullptr;
};

enum class TlsStatus : std::uint8_t { ok, want_read, want_write, closed, failed };

// "ok", "want_read", ... for logs and test messages.
const char* to_string(TlsStatus status);

class TlsSession {
public:
    // A server-side session for one client connection.
    explicit TlsSession(std::shared_ptr<const TlsServerContext> context);
    // A client-side session to the upstream. `server_name` is the upstream host as configured: a host
    // name is sent as SNI and, when the context verifies, must match the certificate; an IP address or
    // an empty name sends no SNI (RFC 6066 allows only host names) and, when the context verifies, only
    // the certificate chain is checked.
    TlsSession(std::shared_ptr<const TlsClientContext> context, std::string_view server_name);
    // Setting up can fail (the record buffers are allocated here); such a session reports failed from
    // its first call, with the reason in last_error().
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Drives the handshake until it completes (ok). Call it again after want_read / want_write.
    TlsStatus handshake(TlsIo& io);

    // Decrypts into plain[0, capacity): ok with produced > 0, or want_read / want_write with produced 0.
    // Returns as much as is available up to `capacity`, including plaintext already decrypted and
    // buffered in the session, which needs no new input: see has_pending_input(). If the connection ends
    // after some plaintext was produced, that plaintext comes with ok and closed / failed with the next
    // call. Calling it before the handshake completed continues the handshake first.
    TlsStatus read(TlsIo& io, char* plain, std::size_t capacity, std::size_t& produced);

    // Encrypts plain[0, size) into `output`. Returns ok with consumed == size when all of it is there;
    // ok with 0 < consumed < size, or want_write with consumed 0, when `output` filled up: send some of
    // it and call again with the rest. Each record is cut to fit the free end of `output` whole (none
    // smaller than 512 octets while more data waits), so the session never holds back part of the
    // caller's data: what `consumed` does not count was not taken, and the next call may pass any
    // data at all (unlike bare mbedtls_ssl_write, which must be called again with the same data).
    // `output` must hold more than 600 octets (a record's overhead plus that floor); a smaller one
    // fails the session. A server-side session goes on writing after the client's close_notify (which
    // closes its direction only) until it queued its own; a client-side one returns closed at once.
    TlsStatus write(TlsIo& io, const char* plain, std::size_t size, std::size_t& consumed);

    // Sends close_notify: ok once it is in `output`, want_write to be called again. Afterwards write()
    // returns closed while read() still reports the peer's own close_notify. Before the handshake
    // completed there is nothing to close: ok, and nothing is written.
    TlsStatus close_notify(TlsIo& io);

    bool handshake_complete() const;
    // True when read() can return plaintext without new input: decrypted octets or a whole record
    // already inside the session. An event loop must call read() again before waiting for the socket.
    bool has_pending_input() const;
    // "TLSv1.3 TLS1-3-AES-256-GCM-SHA384", "TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"; empty
    // before the handshake completed.
    std::string describe() const;
    // Why the session failed, for the log: mbedTLS's error text and, for a certificate that did not
    // verify, the reasons. Never key material or plaintext.
    std::string last_error() const;

private:
    TlsStatus ready_for_data(TlsIo& io);

    std::unique_ptr<tls_session_detail::SessionState> state_;
};

} // namespace relayguard::proxy
