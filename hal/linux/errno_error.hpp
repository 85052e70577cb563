#pragma once
// Private to hal/linux: one way to turn an errno value into a HalError, so that every message ends
// with the system's own text for it ("...: Device or resource busy").
#include <relayguard/hal/watchdog.hpp>

#include <string>
#include <system_error>
#include <utility>

namespace relayguard::hal::detail {

// std::generic_category rather than strerror: it is thread-safe and hides the glibc/musl strerror_r split.
inline HalError errno_error(int code, std::string context) {
    context += ": ";
    context += std::generic_category().message(code);
    return HalError{code, std::move(context)};
}

} // namespace relayguard::hal::detail
