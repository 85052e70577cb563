#include <relayguard/hal/sim_watchdog.hpp>

#include <cerrno>
#include <utility>

namespace relayguard::hal {

SimWatchdog::SimWatchdog(std::function<void()> on_expiry, bool previous_reset_was_watchdog)
    : on_expiry_(std::move(on_expiry)), previous_reset_was_watchdog_(previous_reset_was_watchdog) {
    thread_ = std::thread([this] { run(); });
}

// on_expiry_ must not destroy the watchdog: the destructor joins the thread that runs it.
SimWatchdog::~SimWatchdog() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quitting_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

std::optional<HalError> SimWatchdog::start(std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) {
        return HalError{EINVAL, "sim watchdog: the timeout must be positive"};
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        timeout_ = timeout;
        deadline_ = std::chrono::steady_clock::now() + timeout;
        armed_ = true;
        feeds_ = 0;
    }
    changed_.notify_all();
    return std::nullopt;
}

// No notification: the thread wakes at the old deadline anyway, finds the new one and sleeps again,
// which spares a wake-up per feed.
std::optional<HalError> SimWatchdog::feed() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_) {
        return HalError{EINVAL, "sim watchdog: feed while not armed"};
    }
    deadline_ = std::chrono::steady_clock::now() + timeout_;
    ++feeds_;
    return std::nullopt;
}

std::optional<HalError> SimWatchdog::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        armed_ = false;
    }
    changed_.notify_all();
    return std::nullopt;
}

std::chrono::milliseconds SimWatchdog::timeout() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return timeout_;
}

bool SimWatchdog::armed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return armed_;
}

unsigned SimWatchdog::feeds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return feeds_;
}

unsigned SimWatchdog::expiries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return expiries_;
}

void SimWatchdog::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!quitting_) {
        if (!armed_) {
            changed_.wait(lock);
        } else if (std::chrono::steady_clock::now() < deadline_) {
            changed_.wait_until(lock, deadline_);
        } else {
            // Disarmed before the reset path runs, as a real reset would; the callback runs unlocked so
            // that it may call back into the watchdog (start() again, read expiries()).
            armed_ = false;
            ++expiries_;
            lock.unlock();
            if (on_expiry_) {
                on_expiry_();
            }
            lock.lock();
        }
    }
}

} // namespace relayguard::hal
