#pragma once
// A watchdog that resets the box when relayguard's event loop stops feeding it. Shaped after Zephyr's
// watchdog API: start with a timeout, feed, stop, and whether the last reset was the watchdog's doing.
// Errors are values, not exceptions: a watchdog that cannot start must not take the mail flow with it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace relayguard::hal {

struct HalError {
    int code = 0; // an errno value where the operating system gave one
    std::string message;
};

class Watchdog {
public:
    virtual ~Watchdog() = default;

    // Arms the watchdog; the back-end may round the timeout, and timeout() reports what it really uses.
    virtual std::optional<HalError> start(std::chrono::milliseconds timeout) = 0;
    virtual std::optional<HalError> feed() = 0;
    // An orderly stop that must not reset the box (e.g. the magic close of /dev/watchdog).
    virtual std::optional<HalError> stop() = 0;
    virtual bool last_reset_was_watchdog() const = 0;
    virtual std::chrono::milliseconds timeout() const = 0;
    // The back-end's name as written in <watchdog backend="…">.
    virtual const char* backend_name() const = 0;
};

// backend="none": accepts every call and never resets anything.
std::unique_ptr<Watchdog> make_null_watchdog();

} // namespace relayguard::hal
