#pragma once
// backend="device": the kernel's watchdog device (Documentation/watchdog/watchdog-api.rst). Opening it
// arms it; WDIOC_GETSUPPORT says what the driver can do, WDIOC_SETTIMEOUT sets the timeout and reads
// back the one the driver really uses, WDIOC_KEEPALIVE feeds it, WDIOC_GETBOOTSTATUS with
// WDIOF_CARDRESET says the last reboot was its doing, and writing 'V' just before close() disarms it
// (the magic close) — unless the driver was built with nowayout, which stop() then reports.
//
// The system calls go through WatchdogDeviceIo, so that tests can put a fake driver behind the same
// code where the kernel's device is absent.
#include <relayguard/hal/watchdog.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace relayguard::hal {

class WatchdogDeviceIo {
public:
    virtual ~WatchdogDeviceIo() = default;
    // Each returns what the system call returns (-1 with errno set on failure).
    virtual int open(const char* path) = 0;                          // open(path, O_WRONLY | O_CLOEXEC)
    virtual int ioctl(int fd, unsigned long request, void* arg) = 0; // the WDIOC_* requests
    virtual long write(int fd, const void* data, std::size_t size) = 0;
    virtual int close(int fd) = 0;
};

// The real system calls.
std::unique_ptr<WatchdogDeviceIo> make_system_watchdog_io();

std::unique_ptr<Watchdog> make_device_watchdog(std::string device_path);
std::unique_ptr<Watchdog> make_device_watchdog(std::string device_path, std::unique_ptr<WatchdogDeviceIo> io);

} // namespace relayguard::hal
