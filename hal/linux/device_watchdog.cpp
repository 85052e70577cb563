#include "errno_error.hpp"

#include <relayguard/hal/device_watchdog.hpp>

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <string_view>
#include <sys/ioctl.h>
#include <unistd.h>

namespace relayguard::hal {
namespace device_watchdog_detail {

// glibc declares ioctl's request as unsigned long and musl as int; hand it over as whichever this C
// library takes, so that the code compiles cleanly for both.
template <typename Request>
int call_ioctl(int (*system_ioctl)(int, Request, ...), int fd, unsigned long request, void* argument) {
    return system_ioctl(fd, static_cast<Request>(request), argument);
}

class SystemWatchdogIo final : public WatchdogDeviceIo {
public:
    int open(const char* path) override { return ::open(path, O_WRONLY | O_CLOEXEC); }
    int ioctl(int fd, unsigned long request, void* argument) override {
        return call_ioctl(&::ioctl, fd, request, argument);
    }
    long write(int fd, const void* data, std::size_t size) override { return ::write(fd, data, size); }
    int close(int fd) override { return ::close(fd); }
};

// The errno of a write that should have written exactly one byte.
int single_byte_write_error(long written) {
    if (written == 1) {
        return 0;
    }
    return written < 0 ? errno : EIO;
}

class DeviceWatchdog final : public Watchdog {
public:
    DeviceWatchdog(std::string device_path, std::unique_ptr<WatchdogDeviceIo> io)
        : device_path_(std::move(device_path)), io_(std::move(io)) {}

    // On purpose no magic close here. Without stop(), relayguard is going down in disorder (an exception,
    // a failed boot), which is exactly what the watchdog is for: the driver sees a close without 'V',
    // keeps counting, and resets the board unless a new relayguard reopens the device in time.
    ~DeviceWatchdog() override {
        if (fd_ >= 0) {
            io_->close(fd_);
        }
    }
    DeviceWatchdog(const DeviceWatchdog&) = delete;
    DeviceWatchdog& operator=(const DeviceWatchdog&) = delete;

    std::optional<HalError> start(std::chrono::milliseconds timeout) override {
        if (fd_ >= 0) {
            return device_error(EBUSY, "already started");
        }
        if (timeout.count() <= 0) {
            return device_error(EINVAL, "the timeout must be positive");
        }
        // The driver counts whole seconds; rounding up keeps at least the time that was asked for.
        const auto rounded_up = timeout.count() / 1000 + (timeout.count() % 1000 != 0 ? 1 : 0);
        if (rounded_up > INT_MAX) {
            return device_error(EINVAL, "the timeout is too long for WDIOC_SETTIMEOUT");
        }

        fd_ = io_->open(device_path_.c_str());
        if (fd_ < 0) {
            const int error = errno;
            return device_error(error, "cannot open the watchdog device");
        }
        // From here on the watchdog is armed (opening arms it).

        watchdog_info info{};
        if (io_->ioctl(fd_, WDIOC_GETSUPPORT, &info) != 0) {
            const int error = errno;
            // Not a watchdog, so no 'V': it would land in whatever file or device this is.
            io_->close(fd_);
            fd_ = -1;
            // ENOSYS: what qemu-user answers for an ioctl it does not know, on any file.
            if (error == ENOTTY || error == EINVAL || error == ENOSYS) {
                return device_error(error, "not a watchdog device (WDIOC_GETSUPPORT refused)");
            }
            return device_error(error, "WDIOC_GETSUPPORT failed");
        }
        options_ = info.options;

        int seconds = static_cast<int>(rounded_up);
        if ((options_ & WDIOF_SETTIMEOUT) != 0) {
            // The driver writes back the timeout it really uses (hardware counters round it).
            if (io_->ioctl(fd_, WDIOC_SETTIMEOUT, &seconds) != 0) {
                const int error = errno;
                give_up_armed_device();
                return device_error(error, "WDIOC_SETTIMEOUT to " + std::to_string(rounded_up) + " s failed");
            }
        } else if (io_->ioctl(fd_, WDIOC_GETTIMEOUT, &seconds) != 0) {
            const int error = errno;
            give_up_armed_device();
            return device_error(error, "the driver has a fixed timeout and WDIOC_GETTIMEOUT failed");
        }
        if (seconds <= 0) {
            give_up_armed_device();
            return device_error(EINVAL, "the driver reported a timeout of " + std::to_string(seconds) + " s");
        }
        timeout_ = std::chrono::seconds(seconds);

        // Not every driver keeps a boot status; without one the answer is "not known to be the watchdog".
        int boot_status = 0;
        last_reset_was_watchdog_ =
            io_->ioctl(fd_, WDIOC_GETBOOTSTATUS, &boot_status) == 0 && (boot_status & WDIOF_CARDRESET) != 0;
        return std::nullopt;
    }

    std::optional<HalError> feed() override {
        if (fd_ < 0) {
            return device_error(EBADF, "feed before start");
        }
        if ((options_ & WDIOF_KEEPALIVEPING) != 0) {
            int unused = 0;
            if (io_->ioctl(fd_, WDIOC_KEEPALIVE, &unused) != 0) {
                const int error = errno;
                return device_error(error, "WDIOC_KEEPALIVE failed");
            }
            return std::nullopt;
        }
        // A driver without WDIOC_KEEPALIVE is fed by any write. The byte must not be 'V', which would
        // prime the magic close and let an unexpected close disarm the watchdog.
        const char ping = '\0';
        if (const int error = single_byte_write_error(io_->write(fd_, &ping, 1)); error != 0) {
            return device_error(error, "writing to feed the watchdog failed");
        }
        return std::nullopt;
    }

    std::optional<HalError> stop() override {
        if (fd_ < 0) {
            return std::nullopt;
        }
        const auto [write_error, close_error] = magic_close();
        if (write_error != 0) {
            return device_error(write_error, "writing the magic 'V' failed, the watchdog stays armed");
        }
        if (close_error != 0) {
            return device_error(close_error, "close failed");
        }
        if ((options_ & WDIOF_MAGICCLOSE) == 0) {
            return device_error(EOPNOTSUPP,
                                "the driver does not announce magic close (WDIOF_MAGICCLOSE), it may "
                                "still reset the board (nowayout)");
        }
        return std::nullopt;
    }

    bool last_reset_was_watchdog() const override { return last_reset_was_watchdog_; }
    std::chrono::milliseconds timeout() const override { return timeout_; }
    const char* backend_name() const override { return "device"; }

private:
    struct CloseOutcome {
        int write_error = 0;
        int close_error = 0;
    };

    // 'V' just before close() tells the driver that this close is orderly and it may disarm.
    CloseOutcome magic_close() {
        CloseOutcome outcome;
        outcome.write_error = single_byte_write_error(io_->write(fd_, "V", 1));
        if (io_->close(fd_) != 0) {
            outcome.close_error = errno;
        }
        fd_ = -1;
        return outcome;
    }

    // start() failed after opening armed the watchdog. Nobody will feed it, and a configuration mistake
    // must not reset the board in a loop, so disarm it as well as the driver lets us.
    void give_up_armed_device() { magic_close(); }

    HalError device_error(int code, std::string_view what) const {
        return detail::errno_error(code, device_path_ + ": " + std::string(what));
    }

    std::string device_path_;
    std::unique_ptr<WatchdogDeviceIo> io_;
    int fd_ = -1;
    std::uint32_t options_ = 0; // watchdog_info.options from WDIOC_GETSUPPORT
    std::chrono::milliseconds timeout_{0};
    bool last_reset_was_watchdog_ = false;
};

} // namespace device_watchdog_detail

std::unique_ptr<WatchdogDeviceIo> make_system_watchdog_io() {
    return std::make_unique<device_watchdog_detail::SystemWatchdogIo>();
}

std::unique_ptr<Watchdog> make_device_watchdog(std::string device_path) {
    return make_device_watchdog(std::move(device_path), make_system_watchdog_io());
}

std::unique_ptr<Watchdog> make_device_watchdog(std::string device_path,
                                               std::unique_ptr<WatchdogDeviceIo> io) {
    if (!io) {
        io = make_system_watchdog_io();
    }
    return std::make_unique<device_watchdog_detail::DeviceWatchdog>(std::move(device_path), std::move(io));
}

} // namespace relayguard::hal
