#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/tls_session.hpp>

#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace relayguard::proxy {
namespace tls_session_detail {

// write() does not cut a record smaller than this just to fill the last octets of a nearly full
// output (many tiny records cost the peer more than waiting for the output to drain does).
constexpr std::size_t small_record_floor = 512;
// An alert record's payload: level and description (RFC 5246 §7.2, RFC 8446 §6).
constexpr std::size_t alert_length = 2;

// Everything at a fixed address: the BIO callbacks get a pointer to it.
struct SessionState {
    std::shared_ptr<const void> context; // keeps the shared configuration alive
    mbedtls_ssl_context ssl;
    TlsIo* io = nullptr; // the caller's buffers, only during a call
    bool ready = false;  // mbedtls_ssl_setup succeeded
    bool handshake_done = false;
    bool failed = false;
    bool peer_closed = false;
    bool close_notify_queued = false;
    bool close_notify_done = false;
    // Server side (a client-facing session): it may answer after the peer's close_notify.
    bool answers_after_peer_close = false;
    // A call stopped on WANT_WRITE: mbedTLS may still hold octets (part of a handshake flight or of an
    // alert) that must leave before anything else, see flush_output().
    bool output_pending = false;
    std::string error;

    SessionState() { mbedtls_ssl_init(&ssl); }
    ~SessionState() { mbedtls_ssl_free(&ssl); }
    SessionState(const SessionState&) = delete;
    SessionState& operator=(const SessionState&) = delete;
};

// Lends the caller's buffers to the BIO callbacks for the length of one call.
class IoBinding {
public:
    IoBinding(SessionState& state, TlsIo& io) : state_(state) { state_.io = &io; }
    ~IoBinding() { state_.io = nullptr; }
    IoBinding(const IoBinding&) = delete;
    IoBinding& operator=(const IoBinding&) = delete;

private:
    SessionState& state_;
};

int clamp_to_int(std::size_t count) {
    return count > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(count);
}

// BIO: appends ciphertext to the caller's output; a full output is WANT_WRITE, never a silent drop.
int send_ciphertext(void* context, const unsigned char* data, std::size_t size) {
    auto* state = static_cast<SessionState*>(context);
    if (state->io == nullptr || state->io->output == nullptr) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    if (size == 0) {
        return 0;
    }
    ByteBuffer& output = *state->io->output;
    char* room = output.writable();
    const std::size_t count = std::min(size, output.writable_size());
    if (count == 0) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    const int sent = clamp_to_int(count);
    std::memcpy(room, data, static_cast<std::size_t>(sent));
    output.commit(static_cast<std::size_t>(sent));
    return sent;
}

// BIO: hands over the caller's unread input; none left is WANT_READ (the socket's end of file is the
// caller's business, so this never reports 0).
int receive_ciphertext(void* context, unsigned char* data, std::size_t size) {
    auto* state = static_cast<SessionState*>(context);
    if (state->io == nullptr) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    TlsIo& io = *state->io;
    const std::size_t available = io.input_used < io.input.size() ? io.input.size() - io.input_used : 0;
    const std::size_t count = std::min(size, available);
    if (count == 0) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    const int received = clamp_to_int(count);
    std::memcpy(data, io.input.data() + io.input_used, static_cast<std::size_t>(received));
    io.input_used += static_cast<std::size_t>(received);
    return received;
}

// mbedTLS 3.x reports a TLS 1.3 NewSessionTicket as an "error" so that a client may store it; relayguard
// stores none, so the call is simply repeated.
bool is_new_session_ticket(int ret) {
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
    return ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
#else
    (void)ret;
    return false;
#endif
}

// "; "-separated reasons why the peer's certificate did not verify.
std::string verification_reasons(const mbedtls_ssl_context& ssl) {
    const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
    if (flags == 0 || flags == UINT32_MAX) {
        return "";
    }
    std::array<char, 512> text{};
    if (mbedtls_x509_crt_verify_info(text.data(), text.size(), "", flags) < 0) {
        return "";
    }
    std::string reasons;
    const std::string_view lines(text.data());
    std::size_t start = 0;
    while (start < lines.size()) {
        std::size_t end = lines.find('\n', start);
        if (end == std::string_view::npos) {
            end = lines.size();
        }
        if (end > start) {
            reasons += reasons.empty() ? "" : "; ";
            reasons += lines.substr(start, end - start);
        }
        start = end + 1;
    }
    return reasons;
}

void fail(SessionState& state, std::string reason) {
    state.failed = true;
    state.error = std::move(reason);
}

// Maps what an mbedTLS call returned (other than success and the ticket notice) to a status, recording
// final states. `operation` names the call in the error message.
TlsStatus settle(SessionState& state, int ret, const char* operation) {
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
        return TlsStatus::want_read;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        return TlsStatus::want_write;
    }
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
        state.peer_closed = true;
        return TlsStatus::closed;
    }
    std::string reason = std::string(operation) + " failed: " + describe_mbedtls_error(ret);
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        const std::string reasons = verification_reasons(state.ssl);
        if (!reasons.empty()) {
            reason += ": " + reasons;
        }
    }
    fail(state, std::move(reason));
    return TlsStatus::failed;
}

// What every call returns without touching mbedTLS once the session has ended, or ok to go on.
TlsStatus final_status(const SessionState& state) {
    if (state.failed) {
        return TlsStatus::failed;
    }
    if (state.peer_closed) {
        return TlsStatus::closed;
    }
    return TlsStatus::ok;
}

// Sends what mbedTLS holds from a call that stopped on WANT_WRITE. mbedtls_ssl_write() and
// mbedtls_ssl_close_notify() begin by flushing such octets and then report success for their own
// arguments without having looked at them, which would lose application data or the close_notify;
// a zero-length write does the flush alone. (Were nothing left, it would send an empty application
// record, which TLS permits and receivers ignore.)
TlsStatus flush_output(SessionState& state) {
    static const unsigned char nothing = 0;
    const int ret = mbedtls_ssl_write(&state.ssl, &nothing, 0);
    if (ret >= 0) {
        state.output_pending = false;
        return TlsStatus::ok;
    }
    return settle(state, ret, "write");
}

std::size_t output_capacity(const TlsIo& io) {
    return io.output == nullptr ? 0 : io.output->capacity();
}

// Octets free at the end of the caller's output, after moving its unread octets to the front.
std::size_t output_room(TlsIo& io) {
    if (io.output == nullptr) {
        return 0;
    }
    io.output->writable();
    return io.output->writable_size();
}

// What mbedTLS adds to a record's payload (header, explicit nonce, tag, TLS 1.3's content type and
// padding), as an upper bound. Fails the session when the output cannot hold a record of
// small_record_floor octets: write() could never make progress.
bool record_expansion(SessionState& state, const TlsIo& io, std::size_t& expansion) {
    const int ret = mbedtls_ssl_get_record_expansion(&state.ssl);
    if (ret < 0) {
        fail(state, "cannot size TLS records: " + describe_mbedtls_error(ret));
        return false;
    }
    expansion = static_cast<std::size_t>(ret);
    if (output_capacity(io) <= expansion + small_record_floor) {
        fail(state, "the output buffer is too small for TLS records");
        return false;
    }
    return true;
}

bool is_ip_address(std::string_view name) {
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
        name = name.substr(1, name.size() - 2);
    }
    return policy::IpAddress::parse(name).has_value();
}

void set_up(SessionState& state, const mbedtls_ssl_config& config) {
    const int ret = mbedtls_ssl_setup(&state.ssl, &config);
    if (ret != 0) {
        fail(state, "cannot set up a TLS session: " + describe_mbedtls_error(ret));
        return;
    }
    mbedtls_ssl_set_bio(&state.ssl, &state, send_ciphertext, receive_ciphertext, nullptr);
    state.ready = true;
}

} // namespace tls_session_detail

const char* to_string(TlsStatus status) {
    switch (status) {
    case TlsStatus::ok:
        return "ok";
    case TlsStatus::want_read:
        return "want_read";
    case TlsStatus::want_write:
        return "want_write";
    case TlsStatus::closed:
        return "closed";
    case TlsStatus::failed:
        return "failed";
    }
    return "unknown";
}

TlsSession::TlsSession(std::shared_ptr<const TlsServerContext> context)
    : state_(std::make_unique<tls_session_detail::SessionState>()) {
    const mbedtls_ssl_config& config = context->ssl_config();
    state_->context = std::move(context);
    state_->answers_after_peer_close = true;
    tls_session_detail::set_up(*state_, config);
}

TlsSession::TlsSession(std::shared_ptr<const TlsClientContext> context, std::string_view server_name)
    : state_(std::make_unique<tls_session_detail::SessionState>()) {
    const mbedtls_ssl_config& config = context->ssl_config();
    state_->context = std::move(context);
    tls_session_detail::set_up(*state_, config);
    if (!state_->ready) {
        return;
    }
    // A host name is both the SNI and the name the certificate must carry. Setting "no name"
    // explicitly tells mbedTLS 3.6 that skipping the name check is intended (it refuses to verify
    // without a name otherwise); in 2.28 it is the default anyway.
    int ret = 0;
    if (server_name.empty() || tls_session_detail::is_ip_address(server_name)) {
        ret = mbedtls_ssl_set_hostname(&state_->ssl, nullptr);
    } else {
        const std::string name(server_name);
        ret = mbedtls_ssl_set_hostname(&state_->ssl, name.c_str());
    }
    if (ret != 0) {
        tls_session_detail::fail(*state_,
                                 "cannot use the upstream server name: " + describe_mbedtls_error(ret));
    }
}

TlsSession::~TlsSession() = default;

TlsStatus TlsSession::handshake(TlsIo& io) {
    tls_session_detail::SessionState& state = *state_;
    const TlsStatus ended = tls_session_detail::final_status(state);
    if (ended != TlsStatus::ok || state.handshake_done) {
        return ended;
    }
    const tls_session_detail::IoBinding binding(state, io);
    for (;;) {
        const int ret = mbedtls_ssl_handshake(&state.ssl);
        if (ret == 0) {
            // The handshake flushes its own last flight before it reports success.
            state.handshake_done = true;
            state.output_pending = false;
            return TlsStatus::ok;
        }
        if (!tls_session_detail::is_new_session_ticket(ret)) {
            const TlsStatus status = tls_session_detail::settle(state, ret, "handshake");
            state.output_pending = status == TlsStatus::want_write;
            return status;
        }
    }
}

// Application data flows only after the handshake, and never after the session ended.
TlsStatus TlsSession::ready_for_data(TlsIo& io) {
    if (!state_->handshake_done) {
        const TlsStatus status = handshake(io);
        if (status != TlsStatus::ok) {
            return status;
        }
    }
    return tls_session_detail::final_status(*state_);
}

TlsStatus TlsSession::read(TlsIo& io, char* plain, std::size_t capacity, std::size_t& produced) {
    produced = 0;
    tls_session_detail::SessionState& state = *state_;
    const TlsStatus ready = ready_for_data(io);
    if (ready != TlsStatus::ok || capacity == 0) {
        return ready;
    }
    const tls_session_detail::IoBinding binding(state, io);
    if (state.output_pending && !state.close_notify_queued) {
        // Reading does not wait for the output to drain: if it is still full, the octets stay queued
        // and the next call flushes them first.
        if (tls_session_detail::flush_output(state) == TlsStatus::failed) {
            return TlsStatus::failed;
        }
    }
    while (produced < capacity) {
        const int ret = mbedtls_ssl_read(&state.ssl, reinterpret_cast<unsigned char*>(plain + produced),
                                         capacity - produced);
        if (ret > 0) {
            produced += static_cast<std::size_t>(ret);
            continue;
        }
        if (tls_session_detail::is_new_session_ticket(ret)) {
            continue;
        }
        const TlsStatus status = tls_session_detail::settle(state, ret, "read");
        if (status == TlsStatus::want_write) {
            state.output_pending = true;
        }
        // closed and failed are recorded and returned by the next call; the plaintext comes first.
        return produced > 0 ? TlsStatus::ok : status;
    }
    return TlsStatus::ok;
}

TlsStatus TlsSession::write(TlsIo& io, const char* plain, std::size_t size, std::size_t& consumed) {
    consumed = 0;
    tls_session_detail::SessionState& state = *state_;
    const TlsStatus ready = ready_for_data(io);
    // On the server side the client's close_notify ends its direction only (RFC 8446 §6.1; OpenSSL and
    // mbedTLS let TLS 1.2 sessions write on too): the answers to what it sent before the alert may
    // still go out, as they would after a TCP half-close. The client side (the upstream leg) stops: an
    // upstream that closed will not answer, and a final dot it might still read must not be sent.
    const bool peer_half_closed = ready == TlsStatus::closed && state.handshake_done && state.peer_closed &&
                                  state.answers_after_peer_close;
    if (ready != TlsStatus::ok && !peer_half_closed) {
        return ready;
    }
    if (state.close_notify_queued) {
        return TlsStatus::closed;
    }
    const tls_session_detail::IoBinding binding(state, io);
    if (state.output_pending) {
        const TlsStatus flushed = tls_session_detail::flush_output(state);
        if (flushed != TlsStatus::ok) {
            return flushed;
        }
    }
    std::size_t expansion = 0;
    if (!tls_session_detail::record_expansion(state, io, expansion)) {
        return TlsStatus::failed;
    }
    const std::size_t largest_fit = tls_session_detail::output_capacity(io) - expansion;
    while (consumed < size) {
        // Each record is cut to fit the free end of the output whole: mbedTLS then never holds half a
        // record of the caller's data, which it could only resume if given the same data again.
        const std::size_t wanted = std::min(size - consumed, largest_fit);
        const std::size_t room = tls_session_detail::output_room(io);
        const std::size_t fits = room > expansion ? room - expansion : 0;
        if (fits < std::min(wanted, tls_session_detail::small_record_floor)) {
            return consumed > 0 ? TlsStatus::ok : TlsStatus::want_write;
        }
        const int ret = mbedtls_ssl_write(
            &state.ssl, reinterpret_cast<const unsigned char*>(plain + consumed), std::min(wanted, fits));
        if (ret > 0) {
            consumed += static_cast<std::size_t>(ret);
            continue;
        }
        if (tls_session_detail::is_new_session_ticket(ret)) {
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == 0) {
            // Cannot happen with records sized as above. If it did, mbedTLS would hold part of a
            // record of the caller's data; rather than risk losing or repeating it, the session ends.
            tls_session_detail::fail(state, "write failed: a TLS record did not fit the output buffer");
            return TlsStatus::failed;
        }
        const TlsStatus status = tls_session_detail::settle(state, ret, "write");
        return status == TlsStatus::want_read && consumed > 0 ? TlsStatus::ok : status;
    }
    return TlsStatus::ok;
}

TlsStatus TlsSession::close_notify(TlsIo& io) {
    tls_session_detail::SessionState& state = *state_;
    if (state.failed) {
        return TlsStatus::failed;
    }
    if (!state.ready || !state.handshake_done || state.close_notify_done) {
        return TlsStatus::ok;
    }
    const tls_session_detail::IoBinding binding(state, io);
    if (!state.close_notify_queued) {
        if (state.output_pending) {
            const TlsStatus flushed = tls_session_detail::flush_output(state);
            if (flushed != TlsStatus::ok) {
                return flushed;
            }
        }
        // Like application data, the alert is only started when its whole record fits.
        std::size_t expansion = 0;
        if (!tls_session_detail::record_expansion(state, io, expansion)) {
            return TlsStatus::failed;
        }
        if (tls_session_detail::output_room(io) < expansion + tls_session_detail::alert_length) {
            return TlsStatus::want_write;
        }
        state.close_notify_queued = true;
    }
    // Called again after want_write, mbedtls_ssl_close_notify() only flushes the alert it holds.
    const int ret = mbedtls_ssl_close_notify(&state.ssl);
    if (ret == 0) {
        state.close_notify_done = true;
        state.output_pending = false;
        return TlsStatus::ok;
    }
    return tls_session_detail::settle(state, ret, "close_notify");
}

bool TlsSession::handshake_complete() const {
    return state_->handshake_done;
}

bool TlsSession::has_pending_input() const {
    const tls_session_detail::SessionState& state = *state_;
    if (!state.ready || state.failed || state.peer_closed) {
        return false;
    }
    return mbedtls_ssl_get_bytes_avail(&state.ssl) > 0 || mbedtls_ssl_check_pending(&state.ssl) != 0;
}

std::string TlsSession::describe() const {
    const tls_session_detail::SessionState& state = *state_;
    if (!state.handshake_done) {
        return "";
    }
    const char* version = mbedtls_ssl_get_version(&state.ssl);
    const char* suite = mbedtls_ssl_get_ciphersuite(&state.ssl);
    return std::string(version != nullptr ? version : "?") + " " + (suite != nullptr ? suite : "?");
}

std::string TlsSession::last_error() const {
    return state_->error;
}

} // namespace relayguard::proxy
