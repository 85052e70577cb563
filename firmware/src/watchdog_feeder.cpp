#include "watchdog_feeder.hpp"

#include <algorithm>

namespace relayguard::firmware {
namespace watchdog_feeder_detail {

// A watchdog with a timeout this short would be fed faster than makes sense; the configuration never
// allows one, but a driver might report one.
constexpr std::chrono::milliseconds min_interval{50};

} // namespace watchdog_feeder_detail

WatchdogFeeder::WatchdogFeeder(asio::io_context& io, hal::Watchdog& watchdog, proxy::EventLog& log,
                               proxy::Metrics* metrics)
    : watchdog_(watchdog), log_(log), metrics_(metrics), timer_(io) {
}

WatchdogFeeder::~WatchdogFeeder() {
    stop();
}

std::chrono::milliseconds WatchdogFeeder::interval_for(std::chrono::milliseconds timeout) {
    return std::max(timeout / 2, watchdog_feeder_detail::min_interval);
}

void WatchdogFeeder::start() {
    interval_ = interval_for(watchdog_.timeout());
    running_ = true;
    schedule();
}

void WatchdogFeeder::stop() {
    running_ = false;
    timer_.cancel();
}

void WatchdogFeeder::schedule() {
    if (!running_) {
        return;
    }
    if (const std::optional<hal::HalError> error = watchdog_.feed()) {
        if (!failing_) {
            log_.warning(std::string("watchdog (") + watchdog_.backend_name() +
                         "): feeding failed: " + error->message);
        }
        failing_ = true;
    } else {
        if (failing_) {
            log_.info(std::string("watchdog (") + watchdog_.backend_name() + "): fed again");
        }
        failing_ = false;
        ++feeds_;
        if (metrics_ != nullptr) {
            metrics_->watchdog_fed();
        }
    }
    timer_.expires_after(interval_);
    timer_.async_wait([this](const asio::error_code& error) {
        if (!error) {
            schedule();
        }
    });
}

} // namespace relayguard::firmware
