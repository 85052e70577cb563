#pragma once
// Feeds the watchdog from the event loop itself: a timer on the same io_context as every session, so
// the feeding stops exactly when the loop stops turning — a handler that never returns, a livelock —
// and the watchdog then resets the box (or systemd/procd restart the service).
#include <relayguard/hal/watchdog.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/metrics.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>

namespace relayguard::firmware {

class WatchdogFeeder {
public:
    // `metrics` (optional) counts the feeds.
    WatchdogFeeder(asio::io_context& io, hal::Watchdog& watchdog, proxy::EventLog& log,
                   proxy::Metrics* metrics = nullptr);
    ~WatchdogFeeder();
    WatchdogFeeder(const WatchdogFeeder&) = delete;
    WatchdogFeeder& operator=(const WatchdogFeeder&) = delete;

    // Feeds now and then every interval_for(watchdog.timeout()).
    void start();
    // No more feeding (the watchdog itself is stopped by its owner).
    void stop();

    // Half the timeout, as systemd asks of WATCHDOG_USEC: one late turn of the loop is not a reset.
    static std::chrono::milliseconds interval_for(std::chrono::milliseconds timeout);
    unsigned feeds() const { return feeds_; }

private:
    void schedule();

    hal::Watchdog& watchdog_;
    proxy::EventLog& log_;
    proxy::Metrics* metrics_;
    asio::steady_timer timer_;
    std::chrono::milliseconds interval_{0};
    bool running_ = false;
    bool failing_ = false; // a feed failed and was logged; the next success is logged too
    unsigned feeds_ = 0;
};

} // namespace relayguard::firmware
