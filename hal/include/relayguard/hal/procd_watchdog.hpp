#pragma once
// backend="procd": OpenWrt procd's per-service software watchdog. The init script turns it on with
// `procd_set_param watchdog 1 <seconds>`; the daemon then pings it with
// `ubus call service watchdog '{"name":"<service>","instance":"<instance>"}'` within every period, or
// procd restarts it. No libubus: feed() starts the ubus program without waiting for it, and reaps
// finished pings on later calls, so a slow ubus never stalls the event loop.
#include <relayguard/hal/watchdog.hpp>

#include <memory>
#include <string>
#include <vector>

namespace relayguard::hal {

struct ProcdWatchdogSettings {
    std::string service;               // the init script's service name
    std::string instance;              // the procd instance name
    std::uint32_t timeout_seconds = 0; // what the init script told procd; start() reports it
    // The command that pings; tests replace the program. The JSON argument is appended.
    std::vector<std::string> ubus_command{"ubus", "call", "service", "watchdog"};
};

std::unique_ptr<Watchdog> make_procd_watchdog(ProcdWatchdogSettings settings);

} // namespace relayguard::hal
