#pragma once
// One client connection, the Asio shell around its SmtpDialogue (as the connection of Asio's HTTP server
// example leaves parsing and handling to others): it reads and writes the socket, runs TLS between the
// socket and the dialogue's plaintext buffers, keeps the session's clocks (greet delay, command and DATA
// time-outs, the mail deadline, stress mode), owns the upstream link and the session's lifetime. What is
// said, and why, is the dialogue's.
#include "io_types.hpp"
#include "session_host.hpp"
#include "session_settings.hpp"
#include "smtp_dialogue.hpp"
#include "upstream_link.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/tls_pump.hpp>

#include <asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace relayguard::proxy {

class ClientSession final : public std::enable_shared_from_this<ClientSession>,
                            private UpstreamLink::Owner,
                            private SmtpDialogue::Output {
public:
    ClientSession(std::shared_ptr<SessionHost> host, TcpSocket socket, const policy::IpAddress& client,
                  std::shared_ptr<const SessionSettings> settings, policy::ListenTls listen_tls,
                  Metrics::ListenerSlot listener_slot);
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    // Greets the client (after <limits greet-delay>) and serves it.
    void start();
    // Answers `reply` (a whole line with CRLF) and closes: for clients refused at connect.
    void refuse(std::string_view reply);
    // Server shutdown: an idle session says 421 and closes now; a busy one at the end of its transaction.
    void drain();
    // Closes at once (shutdown time-out); a message in flight is dropped without its final dot.
    void close_now();

    // The client's address as text ("192.0.2.7"), made when needed: an idle session does not keep it.
    std::string client_address() const { return client().to_string(); }
    const policy::IpAddress& client() const { return dialogue_.client(); }
    // When the session's current wait runs out (time_point::max() when nothing is timed), and what the
    // host calls then.
    std::chrono::steady_clock::time_point deadline() const { return deadline_; }
    void deadline_passed();
    // The server entered stress mode: an untrusted session waiting for a command gets at most the
    // stress command timeout and mail deadline from now.
    void stress_began();
    // The connection limit the server counts this session against.
    SessionPool pool() const { return pool_; }
    void count_in(SessionPool pool) { pool_ = pool; }
    // The listener that accepted it, as a series of the metrics.
    Metrics::ListenerSlot listener_slot() const { return listener_slot_; }

private:
    const policy::Config& config() const { return *settings_->config; }

    // Reading and writing.
    void wait_for_pregreet(std::chrono::milliseconds delay);
    // <limits command-timeout>, or stress-command-timeout for an untrusted session under stress.
    std::chrono::milliseconds command_timeout() const;
    void greet();
    void read_more();
    void on_readable();
    void received(const asio::error_code& error, std::size_t count);
    void process_input();
    void flush();
    void arm_timer(std::chrono::milliseconds timeout);
    void arm_command_timer();
    void on_timeout();
    void close();
    // Gives the session's buffer blocks back to the pool: every one, or (`only_empty`) those holding
    // nothing, which keeps an idle session small.
    void release_buffers(bool only_empty);
    void client_gone(std::string_view why);

    // TLS (STARTTLS and implicit): ciphertext moves between the socket and the pump's buffers, plaintext
    // between the pump and the dialogue's input and output.
    void begin_tls();
    void continue_handshake();
    void handshake_done();
    void decrypt_input();
    void write_buffer(ByteBuffer& buffer, bool then_handshake);
    void write_finished(ByteBuffer& buffer, bool then_handshake, const asio::error_code& error,
                        std::size_t count);
    void after_write();

    // SmtpDialogue::Output
    bool upstream_open() const override;
    const UpstreamCapabilities& upstream_capabilities() override;
    void open_upstream(const ClientIdentity& client) override;
    void upstream_command(std::string_view line) override;
    void upstream_body(const char* data, std::size_t size) override;
    void upstream_finish_data() override;
    void upstream_body_then_dot(const char* data, std::size_t size) override;
    void quit_upstream() override;
    void abort_upstream() override;
    void check_password(std::optional<policy::PasswordHash> hash, std::string password,
                        std::string user) override;
    void authenticated() override;
    void mail_deadline_met() override;

    // UpstreamLink::Owner: the outcomes go to the dialogue, which may then go on with the input.
    UpstreamLink& upstream();
    void upstream_ready() override;
    void upstream_replied(const ParsedReply& reply) override;
    void upstream_wrote() override;
    void upstream_failed(UpstreamFault fault, std::string_view detail) override;
    void upstream_notice(bool warning, std::string_view text) override;
    std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
    Metrics& metrics() override { return host_.metrics(); }

    std::shared_ptr<SessionHost> host_holder_;
    SessionHost& host_;
    // Taken when the session starts (configuration, TLS contexts, texts), so that a reload never mixes
    // two configurations.
    std::shared_ptr<const SessionSettings> settings_;
    TcpSocket socket_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    // <limits mail-deadline>: when an untrusted session must have had its first recipient accepted; max()
    // once it has, or once it logged in, or for a trusted session.
    std::chrono::steady_clock::time_point mail_deadline_ = std::chrono::steady_clock::time_point::max();
    SmtpDialogue dialogue_;
    std::shared_ptr<UpstreamLink> upstream_; // from the first MAIL on; may come from the pool

    // The TLS session with its ciphertext buffers, from STARTTLS (or the connect, for implicit TLS) on.
    std::unique_ptr<TlsPump> tls_;

    // The small fields together at the end, where they pack without padding: every idle session holds
    // this object with its shared_ptr control block, and musl's allocator rounds that block up to a size
    // class, so a few bytes more can cost a whole class (bench: bytes per idle plaintext session).
    policy::ListenTls listen_tls_;
    Metrics::ListenerSlot listener_slot_;
    SessionPool pool_ = SessionPool::uncounted;
    bool handshaking_ = false;     // a TLS handshake is in progress
    bool closed_ = false;          // the socket is closed: handlers that still arrive do nothing
    bool tls_wants_read_ = false;  // the TLS session needs ciphertext from the socket to go on
    bool tls_input_ended_ = false; // the client's close_notify came: what it sent before is processed
    bool reading_ = false;
    bool writing_ = false;
    bool completing_write_inline_ = false; // inside write_finished() for a write that completed at once
};

} // namespace relayguard::proxy
