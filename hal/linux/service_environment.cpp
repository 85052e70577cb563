#include <relayguard/hal/watchdog.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <system_error>
#include <unistd.h>

namespace relayguard::hal {
namespace service_environment_detail {

std::string text_variable(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

// The whole value must be a plain decimal number no larger than `limit`. A half-readable "30s", "-1" or
// "0x10" is a mistake in the unit file or init script, and 0 ("not set") is the safe reading of it.
std::uint64_t decimal_variable(const char* name, std::uint64_t limit) {
    const char* value = std::getenv(name);
    if (value == nullptr) {
        return 0;
    }
    const char* end = value + std::strlen(value);
    std::uint64_t number = 0;
    const auto [stopped_at, error] = std::from_chars(value, end, number);
    if (error != std::errc() || stopped_at != end || number > limit) {
        return 0;
    }
    return number;
}

} // namespace service_environment_detail

ServiceEnvironment read_service_environment() {
    using service_environment_detail::decimal_variable;
    using service_environment_detail::text_variable;
    constexpr auto largest_pid = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

    ServiceEnvironment environment;
    environment.notify_socket = text_variable("NOTIFY_SOCKET");
    environment.watchdog_usec = decimal_variable("WATCHDOG_USEC", std::numeric_limits<std::uint64_t>::max());
    environment.watchdog_pid = static_cast<std::int64_t>(decimal_variable("WATCHDOG_PID", largest_pid));
    environment.own_pid = static_cast<std::int64_t>(::getpid());
    environment.procd_service = text_variable("RELAYGUARD_PROCD_SERVICE");
    environment.procd_instance = text_variable("RELAYGUARD_PROCD_INSTANCE");
    environment.procd_watchdog_seconds = static_cast<std::uint32_t>(
        decimal_variable("RELAYGUARD_PROCD_WATCHDOG", std::numeric_limits<std::uint32_t>::max()));
    return environment;
}

} // namespace relayguard::hal
