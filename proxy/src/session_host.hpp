#pragma once
// What a client session needs from the server that owns it: the shared pool, the log, the trackers that
// span sessions, and what relayguard has learnt about the upstream's capabilities. What belongs to one
// configuration (its TLS contexts, the host name, the fixed texts) comes with the session's
// SessionSettings instead.
#include <relayguard/proxy/auth_failure_tracker.hpp>
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/mail_rate_limiter.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/password_checker.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

namespace asio {
class io_context;
}

namespace relayguard::proxy {

class ClientSession;
class UpstreamPool;

// Which of the server's connection limits a session counts against: max-connections for the internet,
// trusted-connections for the relay allowlist and for sessions that authenticated, so a flood of
// hostile connections cannot push the trusted clients out. Refused sessions are not counted.
enum class SessionPool : std::uint8_t { uncounted, untrusted, trusted };

class SessionHost {
public:
    virtual asio::io_context& io() = 0;
    virtual BufferPool& pool() = 0;
    virtual EventLog& log() = 0;
    virtual Metrics& metrics() = 0;
    // Whether the upstream offered SMTPUTF8 the last time a session met it. relayguard offers
    // SMTPUTF8 to clients only then: it never opens an upstream connection just to find out.
    virtual bool upstream_offers_smtputf8() const = 0;
    virtual void note_upstream_smtputf8(bool offered) = 0;
    // AUTH failures per client address, shared by all sessions (brute force spreads over connections).
    virtual AuthFailureTracker& auth_failures() = 0;
    // Messages and recipients per client and per login, shared by all sessions (<limits
    // max-message-rate> and the others).
    virtual MailRateLimiter& mail_rates() = 0;
    // Idle upstream connections kept between sessions (<upstream pool-size>).
    virtual UpstreamPool& upstream_pool() = 0;
    // PBKDF2 checks run here, off the event loop.
    virtual PasswordChecker& password_checker() = 0;
    // Whether the server is in stress mode (<limits stress-threshold>): untrusted sessions then get the
    // stress timeouts and greet delay.
    virtual bool under_stress() const = 0;
    // The session logged in: it moves to the trusted pool.
    virtual void session_authenticated(ClientSession& session) = 0;
    // Called from the session's destructor.
    virtual void session_ended(ClientSession& session) = 0;
    // The session's deadline moved to `deadline`: the host calls its deadline_passed() once it is due.
    // (One timer in the host serves every session: an idle session holds no timer of its own.)
    virtual void wake_at(std::chrono::steady_clock::time_point deadline) = 0;

protected:
    ~SessionHost() = default;
};

} // namespace relayguard::proxy
