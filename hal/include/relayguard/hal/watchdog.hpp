#pragma once
// A watchdog that resets the box when relayguard's event loop stops feeding it. Shaped after Zephyr's
// watchdog API: start with a timeout, feed, stop, and whether the last reset was the watchdog's doing.
// Errors are values, not exceptions: a watchdog that cannot start must not take the mail flow with it.
//
// The back-ends (one source file each): none (common/), the kernel's device, systemd's notify socket and
// procd's per-service watchdog (linux/), and a simulated one whose expiry really runs a reset path (sim/).
// Which one runs is the boot sequence's choice (choose_watchdog_backend below), never an #if.
#include <chrono>
#include <cstdint>
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

// <watchdog backend="…">.
enum class WatchdogBackend : std::uint8_t { automatic, device, systemd, procd, none };
const char* to_string(WatchdogBackend backend); // "auto", "device", ...

// What the choice of back-end depends on, read from the process environment once at boot (tests build
// their own).
struct ServiceEnvironment {
    std::string notify_socket;       // $NOTIFY_SOCKET; empty when not under systemd's notify protocol
    std::uint64_t watchdog_usec = 0; // $WATCHDOG_USEC; 0 when systemd's WatchdogSec= is not set
    // $WATCHDOG_PID: when set and not this process's pid, the watchdog belongs to someone else.
    std::int64_t watchdog_pid = 0;
    std::int64_t own_pid = 0;
    // procd's per-service watchdog, as the shipped init script passes it: the service and instance
    // names to ping, and the timeout it configured (procd_set_param watchdog 1 <seconds>).
    std::string procd_service;                // $RELAYGUARD_PROCD_SERVICE
    std::string procd_instance;               // $RELAYGUARD_PROCD_INSTANCE
    std::uint32_t procd_watchdog_seconds = 0; // $RELAYGUARD_PROCD_WATCHDOG
};
ServiceEnvironment read_service_environment();

// What "auto" means here: systemd when NOTIFY_SOCKET and WATCHDOG_USEC are set for this process, procd
// when its init script configured a service watchdog, otherwise none. Any other backend is returned as
// given: the device is used only when named.
WatchdogBackend choose_watchdog_backend(WatchdogBackend configured, const ServiceEnvironment& environment);

} // namespace relayguard::hal
