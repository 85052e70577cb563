#include "watchdog_setup.hpp"

#include <relayguard/hal/device_watchdog.hpp>
#include <relayguard/hal/procd_watchdog.hpp>

namespace relayguard::firmware {

hal::WatchdogBackend to_hal_backend(policy::WatchdogMode mode) {
    switch (mode) {
    case policy::WatchdogMode::automatic:
        return hal::WatchdogBackend::automatic;
    case policy::WatchdogMode::device:
        return hal::WatchdogBackend::device;
    case policy::WatchdogMode::systemd:
        return hal::WatchdogBackend::systemd;
    case policy::WatchdogMode::procd:
        return hal::WatchdogBackend::procd;
    case policy::WatchdogMode::none:
        return hal::WatchdogBackend::none;
    }
    return hal::WatchdogBackend::none;
}

WatchdogSetup start_watchdog(const policy::WatchdogConfig& config, const hal::ServiceEnvironment& environment,
                             hal::ServiceNotifier& notifier) {
    WatchdogSetup setup;
    const hal::WatchdogBackend configured = to_hal_backend(config.backend);
    setup.explicitly_configured = configured != hal::WatchdogBackend::automatic;
    const hal::WatchdogBackend backend = hal::choose_watchdog_backend(configured, environment);
    std::unique_ptr<hal::Watchdog> watchdog;
    switch (backend) {
    case hal::WatchdogBackend::device:
        watchdog = hal::make_device_watchdog(config.device);
        break;
    case hal::WatchdogBackend::systemd:
        watchdog = hal::make_systemd_watchdog(notifier, environment.watchdog_usec);
        break;
    case hal::WatchdogBackend::procd: {
        hal::ProcdWatchdogSettings settings;
        settings.service = environment.procd_service;
        settings.instance = environment.procd_instance;
        settings.timeout_seconds = environment.procd_watchdog_seconds;
        watchdog = hal::make_procd_watchdog(std::move(settings));
        break;
    }
    case hal::WatchdogBackend::automatic:
    case hal::WatchdogBackend::none:
        watchdog = hal::make_null_watchdog();
        break;
    }
    if (const std::optional<hal::HalError> error = watchdog->start(config.timeout)) {
        setup.error = std::string(hal::to_string(backend)) + ": " + error->message;
        return setup;
    }
    setup.watchdog = std::move(watchdog);
    return setup;
}

} // namespace relayguard::firmware
