#pragma once
// Turns <watchdog> into a started hal::Watchdog: which back-end "auto" means here, and what each one
// needs (the device path, systemd's WATCHDOG_USEC, procd's names from the init script).
#include <relayguard/hal/service_notifier.hpp>
#include <relayguard/hal/watchdog.hpp>
#include <relayguard/policy/config.hpp>

#include <memory>
#include <string>

namespace relayguard::firmware {

hal::WatchdogBackend to_hal_backend(policy::WatchdogMode mode);

struct WatchdogSetup {
    std::unique_ptr<hal::Watchdog> watchdog; // null when the start failed (see error)
    std::string error;                       // why it could not start
    bool explicitly_configured = false;      // backend named in the configuration, not found by "auto"
};

// Creates and starts the watchdog `config` asks for. `notifier` must outlive a systemd watchdog.
WatchdogSetup start_watchdog(const policy::WatchdogConfig& config, const hal::ServiceEnvironment& environment,
                             hal::ServiceNotifier& notifier);

} // namespace relayguard::firmware
