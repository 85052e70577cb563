#pragma once
// One blocking SMTP client connection for `relayguard probe`: a command-line tool talks to one server at
// a time, so it waits (with a deadline on every step) instead of running an event loop. It shares the
// upstream link's client pieces — the reply parser and EHLO capability reader (reply_parser.hpp), the
// TLS client context and session (tls_context.hpp, tls_session.hpp) — and adds what a scanner needs and
// the link must never do: sending arbitrary bytes in one write, and noticing replies nobody asked for.
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/reply_parser.hpp>
#include <relayguard/proxy/tls_context.hpp>
#include <relayguard/proxy/tls_pump.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace relayguard::firmware {

class ProbeConnection {
public:
    ProbeConnection();
    ~ProbeConnection();
    ProbeConnection(const ProbeConnection&) = delete;
    ProbeConnection& operator=(const ProbeConnection&) = delete;

    // Connects to host:port (an address or a name) from `source` (an address; empty: the system's
    // choice). `timeout` bounds the connect and, later, every read and write. Error text on failure.
    std::optional<std::string> open(const std::string& host, std::uint16_t port, const std::string& source,
                                    std::chrono::milliseconds timeout);
    // The TLS handshake, for implicit TLS or after a 220 to STARTTLS. Octets already received in clear
    // text are an error (the server spoke out of turn).
    std::optional<std::string> start_tls(std::shared_ptr<const proxy::TlsClientContext> context,
                                         const std::string& server_name);
    // Sends `bytes` as they are, in one write where the socket takes them.
    std::optional<std::string> send(std::string_view bytes);
    // Reads the next reply. Error text on a time-out, a closed connection or a malformed reply. Its lines
    // point into the receive buffer: they are valid until the next read_reply(), silent_for(),
    // start_tls() or close().
    std::optional<proxy::ParsedReply> read_reply(std::string& error);
    // True when nothing at all arrives within `wait` (and the connection stays open).
    bool silent_for(std::chrono::milliseconds wait);
    // Plaintext received and not yet taken by read_reply().
    bool has_unread_input() const { return in_.size() > consumed_; }
    bool encrypted() const { return tls_ != nullptr; }
    std::string tls_description() const;
    // The server's address as connected to ("192.0.2.1", "2001:db8::1").
    const std::string& peer_address() const { return peer_address_; }
    void close();

private:
    // Waits until the socket is readable or writable; false on the deadline.
    bool wait_for(short events, std::chrono::steady_clock::time_point deadline);
    // Drops the last reply from in_ (read_reply() keeps it until the caller is done with it).
    void drop_consumed();
    // Moves received octets into in_ (through TLS when active); error text or nothing. `deadline`
    // bounds the wait for the first octet.
    std::optional<std::string> receive(std::chrono::steady_clock::time_point deadline);
    std::optional<std::string> write_all(const char* data, std::size_t size);
    std::optional<std::string> flush_tls_output();
    ssize_t receive_ciphertext();

    int fd_ = -1;
    std::chrono::milliseconds timeout_{30000};
    std::string peer_address_;
    std::string in_;           // plaintext received
    std::size_t consumed_ = 0; // the front of in_ that the last reply occupies
    proxy::BufferPool pool_;
    std::unique_ptr<proxy::TlsPump> tls_;
};

} // namespace relayguard::firmware
