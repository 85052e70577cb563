#pragma once
// The server-side leg of a session: one connection to the legacy mail server, opened at the session's
// first MAIL FROM and reused for its later transactions. It speaks only canonical SMTP that the session
// hands it, and reports exactly one outcome per operation to its owner.
//
// With <upstream tls="starttls|required"> the link asks for STARTTLS after its first EHLO and, once the
// handshake is done, starts over with a new EHLO (RFC 3207 §4.2): nothing the upstream said before the
// handshake is trusted afterwards, and octets that follow the upstream's 220 in clear text (an injection
// attempt, or a broken server) end the connection. "required" fails the operation with a temporary error
// when STARTTLS is not offered, refused or fails; "starttls" carries on in clear text when it is not
// offered or refused, and after a failed handshake reconnects once without TLS (as Postfix's
// smtp_tls_security_level=may does) — except when a CA is configured: a certificate that does not verify
// is never answered by sending in clear text.
#include "io_types.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/reply_parser.hpp>
#include <relayguard/proxy/smtp_client_opening.hpp>
#include <relayguard/proxy/tls_context.hpp>
#include <relayguard/proxy/tls_pump.hpp>

#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::proxy {

enum class UpstreamFault : std::uint8_t {
    unreachable,      // resolving or connecting failed
    refused_greeting, // greeted with 4xx/5xx, or refused EHLO and HELO
    timed_out,        // no reply within the configured timeout
    connection_lost,  // closed or reset while in use
    invalid_reply,    // a reply relayguard will not repeat (shape, length, unexpected code)
    tls_failed,       // tls="required" and STARTTLS not offered, refused or failed; or a certificate
                      // that did not verify against the configured CA
};
const char* describe(UpstreamFault fault);

// Held by shared_ptr (make it with std::make_shared): its pending handlers keep it alive, so a session
// may hand it to the pool, or replace it, while an old operation's completion is still on its way.
class UpstreamLink : public std::enable_shared_from_this<UpstreamLink> {
public:
    class Owner {
    public:
        virtual void upstream_ready() = 0;                           // open() succeeded
        virtual void upstream_replied(const ParsedReply& reply) = 0; // reply to command()/finish_data()
        virtual void upstream_wrote() = 0;                           // send_body() done
        virtual void upstream_failed(UpstreamFault fault, std::string_view detail) = 0;
        // Something worth a log line that is not an outcome: TLS established, or given up for clear text.
        virtual void upstream_notice(bool warning, std::string_view text) = 0;
        // Keeps the owner alive while an operation of this link is outstanding.
        virtual std::shared_ptr<void> keep_alive() = 0;
        // Where the link counts its connects, bytes and reply times.
        virtual Metrics& metrics() = 0;

    protected:
        ~Owner() = default;
    };

    UpstreamLink(asio::io_context& io, BufferPool& pool, Owner& owner);
    ~UpstreamLink();
    UpstreamLink(const UpstreamLink&) = delete;
    UpstreamLink& operator=(const UpstreamLink&) = delete;

    bool is_open() const { return ready_; }
    // Open, introduced and between commands (no command, body or final dot outstanding, no message
    // half sent): what the pool may take.
    // Never one that fell back to clear text after a failed handshake: each client gets a connection as
    // configured.
    bool parkable() const {
        return ready_ && phase_ == Phase::command && !busy_ && !clear_text_retry_ && socket_.is_open();
    }
    // MAIL commands sent on this connection (<upstream pool-max-transactions>).
    unsigned transactions() const { return transactions_; }
    // Whose link it is: the session using it, or the pool holding it. Outcomes go there from now on.
    void set_owner(Owner& owner) { owner_ = &owner; }
    const UpstreamCapabilities& capabilities() const { return capabilities_; }
    // Whether the open connection is encrypted.
    bool encrypted() const { return tls_ != nullptr && tls_->handshake_complete(); }

    // Connects, reads the greeting, introduces relayguard with EHLO (HELO when EHLO is refused), starts
    // TLS when configured and, when configured and offered, sends XCLIENT; then reports upstream_ready().
    // `tls` is the upstream TLS context, built once per configuration; null means clear text only, and
    // is a failure when config.upstream.tls asks for TLS. `config` must outlive the link's use of it (the
    // session holds it).
    void open(const policy::Config& config, std::string_view hostname, const ClientIdentity& client,
              std::shared_ptr<const TlsClientContext> tls);
    // Takes up a parked connection (see upstream_pool.hpp) for `client`: XCLIENT again when it is on,
    // otherwise a NOOP; then upstream_ready(). Whatever goes wrong on the old connection (it was closed
    // while parked, the upstream spoke out of turn, the check was refused) is not the client's concern:
    // the link opens a fresh connection instead, and reports only how that one ends.
    void reuse(const ClientIdentity& client);
    // Sends one command line (no line end) and reports the reply.
    void command(std::string_view line);
    // Streams message content (already canonical) and reports upstream_wrote().
    void send_body(const char* data, std::size_t size);
    // Sends the final dot and reports the reply, waiting up to the data timeout.
    void finish_data();
    // The same, with the last of the content in the same write: `last_of_body` ends with ".\r\n", and
    // stays untouched until the reply is reported.
    void finish_data(const char* last_of_body, std::size_t size);
    // Sends QUIT without waiting for the answer and closes.
    void quit();
    // Closes at once (a message in flight is lost without its final dot, so the upstream discards it).
    // No outcome is reported for operations that were outstanding.
    void abort();

private:
    enum class Phase : std::uint8_t {
        idle,
        opening,           // the greeting, EHLO, STARTTLS, XCLIENT: SmtpClientOpening's replies
        starttls_accepted, // 220 read; the handshake begins once the reply is consumed
        tls_handshake,
        command,
        body
    };
    // What follows once everything handed to transmit() is on the wire.
    enum class AfterWrite : std::uint8_t { read_reply, report_body, continue_handshake };

    void start_connection();
    void connect(const asio::ip::tcp::resolver::results_type& endpoints);
    void send_line(std::string_view line, Phase phase);
    enum class Look : std::uint8_t { buffers, socket_too };
    bool spoke_out_of_turn(Look look);
    // The one writer: plaintext goes straight to the socket, or through the TLS pump.
    void transmit(const char* data, std::size_t size, AfterWrite after, std::chrono::milliseconds timeout);
    void write_next();
    void write_socket(const char* data, std::size_t size);
    void wrote(const asio::error_code& error, std::size_t count);
    void write_done();
    // The one reader: from the socket into in_ (clear text) or the TLS pump (ciphertext).
    void read_reply(std::chrono::milliseconds timeout);
    enum class Decrypted : std::uint8_t { plaintext, nothing, ended };
    Decrypted decrypt_input();
    bool take_remaining_tls_input();
    void abandon(std::string_view why);
    void receive();
    void handle_reply(const ParsedReply& reply);
    void opening_step(const SmtpClientOpening::Step& step);
    void begin_tls();
    void continue_handshake();
    void handshake_failed(const std::string& why);
    void failed_operation(UpstreamFault fault, const std::string& detail);
    void become_ready();
    // The time-out of the operation in flight. The timer's wait is lazy: one wait is started for the
    // first deadline and, when it ends early, re-started for the deadline then in force. Moving the
    // deadline later or clearing it costs nothing, where re-arming or cancelling a waiting Asio timer
    // costs a cancelled completion, one more trip through the event loop (two per upstream command).
    void arm_timer(std::chrono::milliseconds timeout);
    void disarm_timer() { deadline_ = std::chrono::steady_clock::time_point::max(); }
    void start_timer_wait();
    void timer_expired();
    void fail(UpstreamFault fault, std::string_view detail);
    // For failures found inside an entry point (command(), send_body(), ...): closes now, reports from
    // the event loop, so the owner never hears of an outcome inside its own call.
    void fail_later(UpstreamFault fault, std::string detail);
    void close_socket();
    // What every pending handler holds: the owner it reports to, and this link.
    struct KeepAlive {
        std::shared_ptr<void> owner;
        std::shared_ptr<UpstreamLink> link;
    };
    KeepAlive keep_alive() { return {owner_->keep_alive(), shared_from_this()}; }

    asio::io_context& io_;
    BufferPool& pool_;
    Owner* owner_;
    TcpSocket socket_;
    SteadyTimer timer_;
    std::unique_ptr<TcpResolver> resolver_;
    ByteBuffer in_;
    ByteBuffer out_;
    std::shared_ptr<const TlsClientContext> tls_context_;
    std::unique_ptr<TlsPump> tls_; // from the upstream's 220 to STARTTLS on
    std::string tls_end_;          // why the TLS session ended, once decrypt_input() reported it
    const policy::Config* config_ = nullptr;
    bool clear_text_retry_ = false; // this connection is the clear-text retry after a failed handshake
    // The write in progress: what is left of the caller's plaintext, and what follows.
    const char* write_data_ = nullptr;
    std::size_t write_left_ = 0;
    AfterWrite after_write_ = AfterWrite::read_reply;
    std::chrono::milliseconds read_timeout_{0};
    std::chrono::steady_clock::time_point sent_at_; // when the command waiting for its reply was sent
    Phase phase_ = Phase::idle;
    bool ready_ = false;
    bool timed_out_ = false;
    bool busy_ = false; // a command, body or final dot handed over and not yet answered or written
    bool completing_write_inline_ = false; // inside wrote() for a write that completed at once
    bool reusing_ = false;                 // reuse()'s check is under way: a failure means a fresh connection
    unsigned transactions_ = 0;
    // Whether this connection has carried an XCLIENT, and what the server offered then: a reuse must
    // say XCLIENT again (an upstream may stop offering it once ADDR is set, and a NOOP would leave the
    // previous client's ADDR and LOGIN in force).
    bool xclient_sent_ = false;
    UpstreamCapabilities xclient_offer_;
    // Bumped by abort() and fail(): handlers of an older generation are stale and do nothing.
    std::uint32_t generation_ = 0;
    std::uint32_t timer_serial_ = 0; // tells a stale wait's completion from the current wait's
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    // When the outstanding wait ends (max: none is outstanding).
    std::chrono::steady_clock::time_point timer_expiry_ = std::chrono::steady_clock::time_point::max();
    std::optional<SmtpClientOpening> opening_; // this connection's, from the connect on
    UpstreamCapabilities capabilities_;        // what the opening ended with
    std::chrono::milliseconds command_timeout_{0};
    std::chrono::milliseconds data_timeout_{0};
    std::chrono::milliseconds connect_timeout_{0};
    std::string hostname_;
    ClientIdentity client_;
};

} // namespace relayguard::proxy
