#pragma once
// The process's counters, for Prometheus (<metrics listen>, docs/metrics.md). Every series has a
// fixed name and its labels come from small closed sets (an enum here, or a listener name from the
// configuration): never a client address, a mailbox or a login, so a hostile client cannot grow the
// exposition. One event loop updates and reads them, so they are plain integers.
//
// write() renders the Prometheus text format 0.0.4 or OpenMetrics 1.0 into a caller's buffer; once
// the buffer has grown to the size of a scrape, rendering allocates nothing.
#include <relayguard/policy/config.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::proxy {

enum class UpstreamFault : std::uint8_t; // upstream_link.hpp

// Why a connection was refused: at accept (Server::admit), or by the pregreet test of a session that
// was admitted (and counted in sessions_accepted) and then closed for talking before the greeting.
enum class ConnectionRefusal : std::uint8_t { acl, limits, rate, lockout, greet_delay };

// What became of one RCPT TO, counted once, when its outcome is known: relayguard's own refusals at
// once, an allowed recipient when the upstream has answered it (the reason then says why relayguard
// let it through). reason="upstream": relayguard allowed it and the server refused or deferred it.
enum class RecipientResult : std::uint8_t {
    accepted_local_domain,
    accepted_postmaster,
    accepted_network,
    accepted_auth,
    accepted_network_and_auth,
    rejected_relay_denied,
    rejected_syntax,
    rejected_too_many,
    rejected_smtputf8,
    rejected_upstream,
    deferred_rate_limit,
    deferred_upstream,
};

// What became of one MAIL FROM, in the same way.
enum class SenderResult : std::uint8_t {
    accepted,
    rejected_sender_refused,
    rejected_syntax,
    rejected_size,
    rejected_smtputf8,
    rejected_upstream,
    deferred_rate_limit,
    deferred_upstream,
};

// A message whose data the client sent: the upstream's answer to the final dot (2xx, 5xx, 4xx), or
// relayguard's own refusal (too big, bare CR or LF: refused; the upstream failed meanwhile: deferred).
enum class MessageResult : std::uint8_t { accepted, refused, deferred };

enum class Peer : std::uint8_t { client, upstream };

enum class TlsProtocol : std::uint8_t { tls1_2, tls1_3, other };
// "TLSv1.3 TLS1-3-AES-…" (TlsSession::describe()) → tls1_3.
TlsProtocol tls_protocol_of(std::string_view description);

enum class ExpositionFormat : std::uint8_t { text, openmetrics };

class Metrics {
public:
    // Listeners beyond this many distinct names (interfaces whose addresses keep changing) share one
    // series, listener="other", so the exposition stays bounded.
    static constexpr std::size_t max_listener_series = 32;
    using ListenerSlot = std::uint8_t;

    // `version`: relayguard's own, for relayguard_build_info.
    explicit Metrics(std::string version = "unknown");

    // The slot of a listener's series, made on first use ("127.0.0.1:25", ListenerSpec::name()).
    ListenerSlot listener_slot(std::string_view name);

    void session_opened(ListenerSlot listener);
    void session_closed(ListenerSlot listener);
    void connection_refused(ConnectionRefusal reason) { ++refusals_[index(reason)]; }
    void recipient(RecipientResult result) { ++recipients_[index(result)]; }
    void sender(SenderResult result) { ++senders_[index(result)]; }
    void message(MessageResult result) { ++messages_[index(result)]; }
    void received(Peer peer, std::size_t bytes) { received_bytes_[index(peer)] += bytes; }
    void sent(Peer peer, std::size_t bytes) { sent_bytes_[index(peer)] += bytes; }
    void auth_result(policy::AuthMechanism mechanism, bool success) {
        ++(success ? auth_successes_ : auth_failures_)[index(mechanism)];
    }
    // A client reached <auth max-failures> and is now locked out.
    void auth_lockout(policy::AuthMechanism mechanism) { ++auth_lockouts_[index(mechanism)]; }
    void tls_handshake(ListenerSlot listener, TlsProtocol protocol);
    void tls_handshake_failed(ListenerSlot listener);
    void upstream_connected() { ++upstream_connects_; }
    // A session took up a pooled upstream connection that passed its check (<upstream pool-size>).
    void upstream_reused() { ++upstream_reuses_; }
    // Upstream connections parked in the pool now.
    void upstream_pool_idle(std::size_t count) { upstream_pool_idle_ = count; }
    void upstream_error(UpstreamFault fault);
    // How long the upstream took to answer one command (or the final dot).
    void upstream_reply_time(std::chrono::steady_clock::duration elapsed);
    // The boot sequence's and each reload's outcome; a loaded configuration brings its file's SHA-256
    // (lower-case hex) and when it was loaded.
    void configuration_loaded(std::string_view sha256, std::chrono::system_clock::time_point when);
    void reload_result(bool ok);
    void watchdog_fed() { ++watchdog_feeds_; }

    // Appends the whole exposition to `out`.
    void write(std::string& out, ExpositionFormat format) const;
    static std::string_view content_type(ExpositionFormat format);

    // Upper bounds of the reply time histogram, in microseconds.
    static constexpr std::array<std::uint64_t, 12> reply_time_bounds_us{
        1'000,   5'000,   10'000,    25'000,    50'000,     100'000,
        250'000, 500'000, 1'000'000, 2'500'000, 10'000'000, 60'000'000};

private:
    template <typename Enum>
    static constexpr std::size_t index(Enum value) {
        return static_cast<std::size_t>(value);
    }
    struct ListenerSeries {
        std::string name;
        std::uint64_t open = 0;
        std::uint64_t accepted = 0;
        std::array<std::uint64_t, 3> handshakes{};
        std::uint64_t handshake_failures = 0;
    };
    ListenerSeries& series(ListenerSlot listener);

    std::string version_;
    std::vector<ListenerSeries> listeners_; // at most max_listener_series + 1 ("other")
    std::array<std::uint64_t, 5> refusals_{};
    std::array<std::uint64_t, 12> recipients_{};
    std::array<std::uint64_t, 8> senders_{};
    std::array<std::uint64_t, 3> messages_{};
    std::array<std::uint64_t, 2> received_bytes_{};
    std::array<std::uint64_t, 2> sent_bytes_{};
    std::array<std::uint64_t, 2> auth_successes_{};
    std::array<std::uint64_t, 2> auth_failures_{};
    std::array<std::uint64_t, 2> auth_lockouts_{};
    std::uint64_t upstream_connects_ = 0;
    std::uint64_t upstream_reuses_ = 0;
    std::uint64_t upstream_pool_idle_ = 0;
    std::array<std::uint64_t, 6> upstream_errors_{};
    std::array<std::uint64_t, reply_time_bounds_us.size()> reply_time_buckets_{}; // not cumulative
    std::uint64_t reply_time_count_ = 0;
    std::uint64_t reply_time_sum_us_ = 0;
    std::string config_sha256_;
    std::int64_t config_loaded_at_ = 0;      // Unix seconds; 0 before the first load
    std::array<std::uint64_t, 2> reloads_{}; // ok, failed
    bool last_reload_ok_ = true;
    std::uint64_t watchdog_feeds_ = 0;
};

} // namespace relayguard::proxy
