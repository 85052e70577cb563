#include <relayguard/hal/watchdog.hpp>

namespace relayguard::hal {
namespace watchdog_backend_detail {

// systemd hands the watchdog to the main process; when WATCHDOG_PID names another one (a wrapper script
// that started us, or a parent whose environment leaked to its children), feeding it is not our business.
bool systemd_watchdog_is_ours(const ServiceEnvironment& environment) {
    return !environment.notify_socket.empty() && environment.watchdog_usec != 0 &&
           (environment.watchdog_pid == 0 || environment.watchdog_pid == environment.own_pid);
}

bool procd_watchdog_configured(const ServiceEnvironment& environment) {
    return !environment.procd_service.empty() && !environment.procd_instance.empty() &&
           environment.procd_watchdog_seconds != 0;
}

} // namespace watchdog_backend_detail

const char* to_string(WatchdogBackend backend) {
    switch (backend) {
    case WatchdogBackend::automatic:
        return "auto";
    case WatchdogBackend::device:
        return "device";
    case WatchdogBackend::systemd:
        return "systemd";
    case WatchdogBackend::procd:
        return "procd";
    case WatchdogBackend::none:
        return "none";
    }
    return "unknown";
}

WatchdogBackend choose_watchdog_backend(WatchdogBackend configured, const ServiceEnvironment& environment) {
    if (configured != WatchdogBackend::automatic) {
        return configured;
    }
    // Never the device: when PID 1 or procd drives /dev/watchdog, opening it would fail or, worse, take
    // it over. The device is used only when the configuration names it.
    if (watchdog_backend_detail::systemd_watchdog_is_ours(environment)) {
        return WatchdogBackend::systemd;
    }
    if (watchdog_backend_detail::procd_watchdog_configured(environment)) {
        return WatchdogBackend::procd;
    }
    return WatchdogBackend::none;
}

} // namespace relayguard::hal
