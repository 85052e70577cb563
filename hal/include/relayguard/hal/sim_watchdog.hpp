#pragma once
// The simulated watchdog (ArduPilot's SITL twin): a real timer on its own thread that runs a reset path
// when nobody fed it within its timeout — in tests a callback that records the reset, in a simulated
// appliance one that restarts the program. It also simulates what survives a reset: a new SimWatchdog
// made with `previous_reset_was_watchdog` reports it from last_reset_was_watchdog().
#include <relayguard/hal/watchdog.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace relayguard::hal {

class SimWatchdog final : public Watchdog {
public:
    // `on_expiry` runs on the watchdog's own thread, once per expiry; the watchdog is disarmed after it.
    // It may call start() or feed(), but must not destroy the watchdog (the destructor joins that thread).
    explicit SimWatchdog(std::function<void()> on_expiry, bool previous_reset_was_watchdog = false);
    ~SimWatchdog() override;
    SimWatchdog(const SimWatchdog&) = delete;
    SimWatchdog& operator=(const SimWatchdog&) = delete;

    std::optional<HalError> start(std::chrono::milliseconds timeout) override;
    std::optional<HalError> feed() override;
    std::optional<HalError> stop() override;
    bool last_reset_was_watchdog() const override { return previous_reset_was_watchdog_; }
    std::chrono::milliseconds timeout() const override;
    const char* backend_name() const override { return "sim"; }

    bool armed() const;
    unsigned feeds() const;    // since start()
    unsigned expiries() const; // how many times the reset path ran

private:
    void run();

    std::function<void()> on_expiry_;
    bool previous_reset_was_watchdog_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::chrono::milliseconds timeout_{0};
    std::chrono::steady_clock::time_point deadline_{};
    bool armed_ = false;
    bool quitting_ = false;
    unsigned feeds_ = 0;
    unsigned expiries_ = 0;
    std::thread thread_;
};

} // namespace relayguard::hal
