#pragma once
// Idle upstream connections kept between client sessions (<upstream pool-size>), so that a session
// does not pay a slow legacy server's greeting and EHLO each time. A session that is done with a
// connection between commands parks it here; the pool says RSET and keeps it only after a 250, for at
// most pool-idle-time and pool-max-transactions MAIL commands. The next session's first MAIL takes the
// most recently parked one and checks it (UpstreamLink::reuse: NOOP, or XCLIENT for the new client).
// The pool holds connections of one configuration only (SessionSettings): configure() closes those of
// the one before and opens the `prewarm` connections of the new one.
//
// While the pool holds a connection it is the link's owner (a Slot), so the outcomes of its RSET and of a
// prewarm opening end at the pool, never at a client. Nothing reads a parked connection: an upstream
// that closed it or said 421 meanwhile is found out by the check at reuse, which then opens a fresh
// connection (or by the idle timer's QUIT).
#include "io_types.hpp"
#include "session_settings.hpp"

#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/metrics.hpp>

#include <memory>
#include <vector>

namespace asio {
class io_context;
}

namespace relayguard::proxy {

class UpstreamLink;

class UpstreamPool final : public std::enable_shared_from_this<UpstreamPool> {
public:
    UpstreamPool(asio::io_context& io, BufferPool& buffers, EventLog& log, Metrics& metrics);
    ~UpstreamPool();
    UpstreamPool(const UpstreamPool&) = delete;
    UpstreamPool& operator=(const UpstreamPool&) = delete;

    // The configuration whose connections the pool holds from now on (at start and after each reload):
    // parked connections of the one before get QUIT, and `prewarm` connections are opened.
    void configure(std::shared_ptr<const SessionSettings> settings);
    // A session of `settings` is done with `link`. True when the pool took it (and `link` is now
    // empty): it is parkable, of the current configuration, under pool-max-transactions, and there is
    // room. Otherwise the caller closes it.
    bool park(std::shared_ptr<UpstreamLink>& link, const std::shared_ptr<const SessionSettings>& settings);
    // The most recently parked connection for a session of `settings`, or null. The caller makes itself
    // the owner and calls reuse().
    std::shared_ptr<UpstreamLink> take(const SessionSettings& settings);
    // Shutdown: QUIT on every connection the pool holds, and no more parking or prewarming.
    void close_all();

    std::size_t idle_count() const;

private:
    class Slot;
    friend class Slot;
    enum class SlotState : std::uint8_t { opening, checking, idle, taken };

    // A slot's connection is ready (prewarmed, or its RSET answered 250).
    void slot_idle(Slot& slot);
    // A slot's connection ended (failed, refused, expired): it leaves the pool.
    void slot_ended(Slot& slot, bool prewarm_failed);
    void remove(Slot& slot);
    // Opens prewarm connections until the pool holds `prewarm` of them.
    void refill();
    void open_prewarmed();
    void publish_idle_count();

    asio::io_context& io_;
    BufferPool& buffers_;
    EventLog& log_;
    Metrics& metrics_;
    std::shared_ptr<const SessionSettings> settings_;
    std::vector<std::shared_ptr<Slot>> slots_; // oldest first
    SteadyTimer retry_timer_;                  // after a prewarm that failed
    bool retry_pending_ = false;
    bool prewarm_failing_ = false; // logged once until one succeeds
    bool closed_ = false;
};

} // namespace relayguard::proxy
