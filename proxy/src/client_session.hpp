#pragma once
// One client connection: relayguard's own SMTP dialogue with the client (greeting, EHLO, envelope,
// DATA), the policy decision for every MAIL FROM and RCPT TO, and the upstream leg for what the policy
// lets through. The state is dispatched first on the phase, then on the verb, as nginx's mail module.
#include "io_types.hpp"
#include "session_host.hpp"
#include "upstream_link.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/policy/envelope.hpp>
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/auth_exchange.hpp>
#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/data_scanner.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/password_checker.hpp>
#include <relayguard/proxy/tls_session.hpp>

#include <asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace relayguard::proxy {

class ClientSession final : public std::enable_shared_from_this<ClientSession>, private UpstreamLink::Owner {
public:
    ClientSession(std::shared_ptr<SessionHost> host, TcpSocket socket, const policy::IpAddress& client,
                  std::shared_ptr<const policy::Config> config, policy::ListenTls listen_tls,
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
    std::string client_address() const { return client_.to_string(); }
    const policy::IpAddress& client() const { return client_; }
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
    enum class Phase : std::uint8_t { greeting, handshake, command, auth, data, closed };
    struct Transaction {
        Transaction(BareNewlinePolicy bare_newlines, std::uint64_t max_message_size, BufferPool& pool)
            : scanner(bare_newlines, max_message_size), body(pool) {}
        DataScanner scanner;
        ByteBuffer body; // message data decoded by the scanner, on its way upstream
        bool smtputf8 = false;
        std::string mail_from;    // canonical, "<a@b>" or "<>"
        std::string mail_line;    // the MAIL command for the upstream
        std::string rcpt_pending; // the canonical recipient waiting for the upstream's answer
        RecipientResult rcpt_basis = RecipientResult::accepted_local_domain; // its result if accepted
        std::string rcpt_relay_reason;       // why it may be relayed ("relay allowed: …"); empty when local
        std::vector<std::string> recipients; // accepted by the upstream
        std::string fault_reply; // set when the upstream failed during DATA: what the client hears at the end
        policy::MailCommand
            mail_parameters; // the accepted MAIL, whose parameters go upstream once it is known
        bool final_dot_after_body =
            false; // the end of data was seen while the body's last piece was in flight
    };
    // What the session is waiting for: the upstream, or (auth_check) the password checker.
    enum class Pending : std::uint8_t { none, open, mail, rcpt, data, body, final_dot, rset, auth_check };

    // Reading and writing.
    void wait_for_pregreet(std::chrono::milliseconds delay);
    // <limits command-timeout>, or stress-command-timeout for an untrusted session under stress.
    std::chrono::milliseconds command_timeout() const;
    void greet();
    void read_more();
    void on_readable();
    void received(const asio::error_code& error, std::size_t count);
    void process_input();
    bool process_data();
    void flush();
    void queue(std::string_view reply);
    void queue_reply(int code, std::string_view text);
    void arm_timer(std::chrono::milliseconds timeout);
    void arm_command_timer();
    void on_timeout();
    void close();
    // Gives the session's buffer blocks back to the pool: every one, or (`only_empty`) those holding
    // nothing, which keeps an idle session small.
    void release_buffers(bool only_empty);
    void client_gone(std::string_view why);

    // TLS (STARTTLS and implicit): ciphertext moves between the socket and raw_in_/raw_out_, plaintext
    // between the TLS session and in_/out_.
    void begin_tls();
    void continue_handshake();
    void handshake_done();
    void decrypt_input();
    void write_buffer(ByteBuffer& buffer, bool then_handshake);
    void after_write();
    bool tls_input_pending() const;

    // Commands.
    void handle_command(const Command& command);
    void handle_helo(const Command& command, bool extended);
    void handle_mail(const Command& command);
    void handle_rcpt(const Command& command);
    void handle_data(const Command& command);
    void handle_rset();
    void handle_quit();
    void handle_starttls(const Command& command);
    AuthExchange& auth_exchange();
    void end_auth_exchange();
    void handle_auth(const Command& command);
    void handle_auth_line(std::string_view line);
    void handle_auth_step(AuthStep step);
    void auth_checked(PasswordChecker::CheckResult result, const std::string& user);
    bool auth_offered() const;
    void protocol_error(std::string_view reply);
    void reset_transaction();
    Transaction& transaction();

    // The upstream leg.
    UpstreamLink& upstream();
    bool upstream_open() const;
    void abort_upstream();
    void quit_upstream();
    void send_mail_upstream();
    void end_of_data();
    void relay_upstream_reply(const ParsedReply& reply);
    void reject_upstream_reply(std::string_view why, Pending was);
    void upstream_ready() override;
    void upstream_replied(const ParsedReply& reply) override;
    void upstream_wrote() override;
    void upstream_failed(UpstreamFault fault, std::string_view detail) override;
    void upstream_notice(bool warning, std::string_view text) override;
    std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
    Metrics& metrics() override { return host_.metrics(); }
    ClientIdentity identity() const;
    policy::ClientFacts facts() const { return policy::ClientFacts{client_, authenticated_user_}; }

    void log_reject(std::string_view command, std::string_view reply_line, std::string_view to);
    // Counts a message or a recipient against the client's and the login's rates; when one is over,
    // answers and logs the refusal and returns false.
    bool within_mail_rates(MailRateLimiter::Event event, std::string_view command, std::string_view to);
    void log_accepted(const ParsedReply& reply);

    std::shared_ptr<SessionHost> host_holder_;
    SessionHost& host_;
    std::shared_ptr<const policy::Config> config_;
    TcpSocket socket_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    // <limits mail-deadline>: when an untrusted session must have had its first recipient accepted; max()
    // once it has, or once it logged in, or for a trusted session.
    std::chrono::steady_clock::time_point mail_deadline_ = std::chrono::steady_clock::time_point::max();
    policy::IpAddress client_;
    ByteBuffer in_;
    ByteBuffer out_;
    std::unique_ptr<UpstreamLink> upstream_; // from the first MAIL on

    std::shared_ptr<const TlsServerContext> tls_context_;
    // Taken with config_ when the session starts, so that a reload never mixes two configurations.
    std::shared_ptr<const TlsClientContext> upstream_tls_;
    std::unique_ptr<TlsSession> tls_;
    // Ciphertext in and out, allocated with the TLS session (a clear-text session has none).
    struct TlsBuffers {
        explicit TlsBuffers(BufferPool& pool) : raw_in(pool), raw_out(pool) {}
        ByteBuffer raw_in;
        ByteBuffer raw_out;
    };
    std::unique_ptr<TlsBuffers> tls_buffers_;

    std::unique_ptr<AuthExchange> auth_exchange_; // during AUTH only
    std::string authenticated_user_;

    // Session facts.
    std::string helo_;

    // The transaction: allocated at MAIL, freed when it ends.
    std::unique_ptr<Transaction> transaction_;

    // The small fields together at the end, where they pack without padding: every idle session holds
    // this object with its shared_ptr control block, and musl's allocator rounds that block up to a size
    // class, so a few bytes more can cost a whole class (bench: bytes per idle plaintext session).
    unsigned commands_ = 0;
    std::uint16_t errors_ = 0; // <limits max-errors> is at most 1000
    policy::ListenTls listen_tls_;
    Metrics::ListenerSlot listener_slot_;
    policy::AuthMechanism auth_mechanism_ = policy::AuthMechanism::plain;
    Phase phase_ = Phase::greeting;
    Pending pending_ = Pending::none;
    SessionPool pool_ = SessionPool::uncounted;
    bool starttls_pending_ = false; // the 220 for STARTTLS is being written; the handshake follows
    bool tls_wants_read_ = false;   // the TLS session needs ciphertext from the socket to go on
    bool tls_input_ended_ = false;  // the client's close_notify came: what it sent before is processed
    bool reading_ = false;
    bool writing_ = false;
    bool close_after_flush_ = false;
    bool draining_ = false;
    bool skipping_long_line_ = false;
    bool esmtp_ = false;
    bool offered_smtputf8_ = false;
    bool upstream_reused_ = false;
    bool in_transaction_ = false;
};

} // namespace relayguard::proxy
