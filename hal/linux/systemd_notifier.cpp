#include "errno_error.hpp"

#include <relayguard/hal/service_notifier.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace relayguard::hal {
namespace systemd_notifier_detail {

using detail::errno_error;

// The destination as the kernel wants it, worked out once; or why there is none.
struct NotifyAddress {
    sockaddr_un address{};
    socklen_t length = 0;
    std::optional<HalError> error;
};

NotifyAddress resolve_notify_address(const std::string& socket_path) {
    NotifyAddress result;
    result.address.sun_family = AF_UNIX;
    constexpr std::size_t capacity = sizeof(result.address.sun_path);
    constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    const std::string described = "notification socket \"" + socket_path + "\"";

    // Like sd_notify, accept only the two forms systemd hands out: a relative path would depend on the
    // working directory, and a NUL byte would silently cut the name short.
    if (socket_path.find('\0') != std::string::npos || (socket_path[0] != '/' && socket_path[0] != '@') ||
        socket_path == "@") {
        result.error = errno_error(EINVAL, described + " is neither an absolute path nor @name");
    } else if (socket_path[0] == '@') {
        // The abstract namespace: sun_path starts with a NUL byte and the name is every byte after it,
        // without a terminator; only the address length says where it ends.
        const std::size_t name_size = socket_path.size() - 1;
        if (1 + name_size > capacity) {
            result.error = errno_error(ENAMETOOLONG, described + " does not fit in sun_path");
        } else {
            std::memcpy(result.address.sun_path + 1, socket_path.data() + 1, name_size);
            result.length = static_cast<socklen_t>(path_offset + 1 + name_size);
        }
    } else if (socket_path.size() + 1 > capacity) { // a file system path needs its NUL terminator
        result.error = errno_error(ENAMETOOLONG, described + " does not fit in sun_path");
    } else {
        std::memcpy(result.address.sun_path, socket_path.data(), socket_path.size());
        result.length = static_cast<socklen_t>(path_offset + socket_path.size() + 1);
    }
    return result;
}

class SystemdNotifier final : public ServiceNotifier {
public:
    explicit SystemdNotifier(std::string socket_path)
        : socket_path_(std::move(socket_path)), destination_(resolve_notify_address(socket_path_)) {}
    ~SystemdNotifier() override {
        if (socket_ >= 0) {
            ::close(socket_);
        }
    }
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    std::optional<HalError> notify(std::string_view state) override {
        if (destination_.error) {
            return destination_.error;
        }
        if (socket_ < 0) {
            socket_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (socket_ < 0) {
                const int error = errno;
                return errno_error(error,
                                   "cannot create a socket for notification socket \"" + socket_path_ + "\"");
            }
        }
        // MSG_DONTWAIT: a service manager that does not drain its queue must not stall the event loop that
        // sends from here; the caller gets EAGAIN instead and the next feed tries again.
        const auto* address = reinterpret_cast<const sockaddr*>(&destination_.address);
        const ssize_t sent = ::sendto(socket_, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                                      address, destination_.length);
        if (sent < 0) {
            const int error = errno;
            return errno_error(error, "cannot send \"" + std::string(state) + "\" to notification socket \"" +
                                          socket_path_ + "\"");
        }
        return std::nullopt;
    }

    bool active() const override { return true; }

private:
    std::string socket_path_;
    NotifyAddress destination_;
    int socket_ = -1; // opened at the first notification, reused for the rest
};

class NullNotifier final : public ServiceNotifier {
public:
    std::optional<HalError> notify(std::string_view) override { return std::nullopt; }
    bool active() const override { return false; }
};

class SystemdWatchdog final : public Watchdog {
public:
    SystemdWatchdog(ServiceNotifier& notifier, std::uint64_t watchdog_usec)
        : notifier_(notifier), watchdog_usec_(watchdog_usec) {}

    // systemd enforces WatchdogSec= whatever relayguard's configuration says, so the given timeout is
    // ignored and timeout() reports systemd's, rounded down to whole milliseconds (at least one, so
    // that a feeding interval derived from it is never zero).
    std::optional<HalError> start(std::chrono::milliseconds) override {
        if (watchdog_usec_ == 0) {
            return HalError{EINVAL,
                            "systemd watchdog: WATCHDOG_USEC is not set (no WatchdogSec= in the unit)"};
        }
        if (!notifier_.active()) {
            return HalError{EINVAL,
                            "systemd watchdog: NOTIFY_SOCKET is not set, WATCHDOG=1 could not be sent"};
        }
        const auto milliseconds = static_cast<std::chrono::milliseconds::rep>(watchdog_usec_ / 1000);
        timeout_ = std::chrono::milliseconds(milliseconds > 0 ? milliseconds : 1);
        return std::nullopt;
    }

    // systemd arms its watchdog when it starts the process, not when start() runs, so a feed is always
    // welcome.
    std::optional<HalError> feed() override { return notifier_.notify("WATCHDOG=1"); }

    // Nothing to do: STOPPING=1, which the boot sequence sends through the notifier, disarms systemd's
    // watchdog for the rest of the shutdown.
    std::optional<HalError> stop() override { return std::nullopt; }

    bool last_reset_was_watchdog() const override { return false; }
    std::chrono::milliseconds timeout() const override { return timeout_; }
    const char* backend_name() const override { return "systemd"; }

private:
    ServiceNotifier& notifier_;
    std::uint64_t watchdog_usec_;
    std::chrono::milliseconds timeout_{0};
};

} // namespace systemd_notifier_detail

std::unique_ptr<ServiceNotifier> make_systemd_notifier(const std::string& socket_path) {
    if (socket_path.empty()) {
        return make_null_notifier();
    }
    return std::make_unique<systemd_notifier_detail::SystemdNotifier>(socket_path);
}

std::unique_ptr<ServiceNotifier> make_null_notifier() {
    return std::make_unique<systemd_notifier_detail::NullNotifier>();
}

std::unique_ptr<Watchdog> make_systemd_watchdog(ServiceNotifier& notifier, std::uint64_t watchdog_usec) {
    return std::make_unique<systemd_notifier_detail::SystemdWatchdog>(notifier, watchdog_usec);
}

} // namespace relayguard::hal
