#pragma once
// Tells the service manager where the daemon is in its life: systemd's sd_notify protocol spoken
// directly (datagrams to $NOTIFY_SOCKET, no libsystemd), or nothing at all.
#include <relayguard/hal/watchdog.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::hal {

class ServiceNotifier {
public:
    virtual ~ServiceNotifier() = default;
    // One datagram of newline-separated assignments, e.g. "READY=1\nSTATUS=serving".
    virtual std::optional<HalError> notify(std::string_view state) = 0;
    // Whether anybody listens (false for the null notifier).
    virtual bool active() const = 0;

    std::optional<HalError> ready() { return notify("READY=1"); }
    std::optional<HalError> reloading() { return notify("RELOADING=1"); }
    std::optional<HalError> stopping() { return notify("STOPPING=1"); }
};

// Sends to `socket_path` as systemd gives it in $NOTIFY_SOCKET: a file system path, or "@name" for the
// abstract namespace. An empty path gives the null notifier.
std::unique_ptr<ServiceNotifier> make_systemd_notifier(const std::string& socket_path);
std::unique_ptr<ServiceNotifier> make_null_notifier();

// backend="systemd": start() takes the timeout from WatchdogSec= (`watchdog_usec`), not from the
// configuration; feed() sends WATCHDOG=1 through `notifier`, which must outlive the watchdog.
std::unique_ptr<Watchdog> make_systemd_watchdog(ServiceNotifier& notifier, std::uint64_t watchdog_usec);

} // namespace relayguard::hal
