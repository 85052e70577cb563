#pragma once
// The server-side leg of a session: one connection to the legacy mail server, opened at the session's
// first MAIL FROM and reused for its later transactions. It speaks only canonical SMTP that the session
// hands it, and reports exactly one outcome per operation to its owner.
#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace relayguard::proxy {

enum class UpstreamFault : std::uint8_t {
    unreachable,      // resolving or connecting failed
    refused_greeting, // greeted with 4xx/5xx, or refused EHLO and HELO
    timed_out,        // no reply within the configured timeout
    connection_lost,  // closed or reset while in use
    invalid_reply,    // a reply relayguard will not repeat (shape, length, unexpected code)
};
const char* describe(UpstreamFault fault);

// What the upstream is told about the client when XCLIENT is on.
struct ClientIdentity {
    std::string address; // textual IP address
    std::string helo;
    bool esmtp = false;
    std::string login; // the AUTH user, empty when not authenticated
};

class UpstreamLink {
public:
    class Owner {
    public:
        virtual void upstream_ready() = 0;                           // open() succeeded
        virtual void upstream_replied(const ParsedReply& reply) = 0; // reply to command()/finish_data()
        virtual void upstream_wrote() = 0;                           // send_body() done
        virtual void upstream_failed(UpstreamFault fault, std::string_view detail) = 0;
        // Keeps the owner alive while an operation of this link is outstanding.
        virtual std::shared_ptr<void> keep_alive() = 0;

    protected:
        ~Owner() = default;
    };

    UpstreamLink(asio::io_context& io, BufferPool& pool, Owner& owner);
    ~UpstreamLink();
    UpstreamLink(const UpstreamLink&) = delete;
    UpstreamLink& operator=(const UpstreamLink&) = delete;

    bool is_open() const { return ready_; }
    const UpstreamCapabilities& capabilities() const { return capabilities_; }

    // Connects, reads the greeting, introduces relayguard with EHLO (HELO when EHLO is refused) and, when
    // configured and offered, XCLIENT; then reports upstream_ready().
    void open(const policy::Config& config, std::string_view hostname, const ClientIdentity& client);
    // Sends one command line (no line end) and reports the reply.
    void command(std::string_view line);
    // Streams message content (already canonical) and reports upstream_wrote().
    void send_body(const char* data, std::size_t size);
    // Sends the final dot and reports the reply, waiting up to the data timeout.
    void finish_data();
    // Sends QUIT without waiting for the answer and closes.
    void quit();
    // Closes at once (a message in flight is lost without its final dot, so the upstream discards it).
    // No outcome is reported for operations that were outstanding.
    void abort();

private:
    enum class Phase : std::uint8_t { idle, greeting, ehlo, helo, xclient, xclient_ehlo, command };

    void connect(const asio::ip::tcp::resolver::results_type& endpoints);
    void start_write(std::chrono::milliseconds timeout, bool then_read);
    void read_reply(std::chrono::milliseconds timeout);
    void handle_reply(const ParsedReply& reply);
    void handshake_step(const ParsedReply& reply);
    void send_line(std::string_view line, Phase phase);
    void arm_timer(std::chrono::milliseconds timeout);
    void fail(UpstreamFault fault, std::string_view detail);
    void close_socket();

    asio::io_context& io_;
    Owner& owner_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    std::unique_ptr<asio::ip::tcp::resolver> resolver_;
    ByteBuffer in_;
    ByteBuffer out_;
    Phase phase_ = Phase::idle;
    bool ready_ = false;
    bool timed_out_ = false;
    // Bumped by abort() and fail(): handlers of an older generation are stale and do nothing.
    std::uint32_t generation_ = 0;
    std::uint32_t timer_serial_ = 0;
    UpstreamCapabilities capabilities_;
    std::chrono::milliseconds command_timeout_{0};
    std::chrono::milliseconds data_timeout_{0};
    std::chrono::milliseconds connect_timeout_{0};
    bool use_xclient_ = false;
    std::string hostname_;
    ClientIdentity client_;
};

} // namespace relayguard::proxy
