#include "watchdog_test_support.hpp"

#include <relayguard/hal/device_watchdog.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <linux/watchdog.h>
#include <memory>
#include <string>
#include <system_error>

namespace device_watchdog_test {

using relayguard::hal::make_device_watchdog;
using relayguard::hal::Watchdog;
using relayguard::hal::WatchdogDeviceIo;
using watchdog_test_support::error_code;
using watchdog_test_support::error_message;

// What the fake driver does and what it saw; the test keeps it after the watchdog (which owns the
// driver) is gone.
struct DriverState {
    // Behaviour.
    unsigned options = WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING;
    int timeout_seconds = 60; // the hardware's current timeout
    int boot_status = 0;
    int open_error = 0;       // errno for open() to fail with, 0 to succeed
    int getsupport_error = 0; // errno for WDIOC_GETSUPPORT to fail with
    int gettimeout_error = 0; // errno for WDIOC_GETTIMEOUT to fail with
    bool boot_status_fails = false;

    // Observations.
    bool open = false;
    int requested_timeout = 0; // what WDIOC_SETTIMEOUT was asked for
    unsigned keepalives = 0;   // WDIOC_KEEPALIVE calls
    std::string written;       // every byte written
    bool expect_close = false; // the last byte written was 'V'
    unsigned closes = 0;
    bool disarmed = false; // closed with the magic close primed
};

// A driver in the style of the kernel's watchdog core: rounds the timeout to even seconds and writes
// the value it uses back, primes the magic close on 'V', and lets itself be opened once at a time.
class FakeDriver final : public WatchdogDeviceIo {
public:
    explicit FakeDriver(std::shared_ptr<DriverState> state) : state_(std::move(state)) {}

    int open(const char*) override {
        if (state_->open_error != 0 || state_->open) {
            errno = state_->open_error != 0 ? state_->open_error : EBUSY;
            return -1;
        }
        state_->open = true;
        return descriptor;
    }

    int ioctl(int fd, unsigned long request, void* argument) override {
        if (fd != descriptor || !state_->open) {
            return fail(EBADF);
        }
        auto* number = static_cast<int*>(argument);
        switch (request) {
        case WDIOC_GETSUPPORT: {
            if (state_->getsupport_error != 0) {
                return fail(state_->getsupport_error);
            }
            auto* info = static_cast<watchdog_info*>(argument);
            *info = watchdog_info{};
            info->options = state_->options;
            return 0;
        }
        case WDIOC_SETTIMEOUT:
            if ((state_->options & WDIOF_SETTIMEOUT) == 0) {
                return fail(EOPNOTSUPP);
            }
            state_->requested_timeout = *number;
            state_->timeout_seconds = (*number + 1) / 2 * 2;
            *number = state_->timeout_seconds;
            return 0;
        case WDIOC_GETTIMEOUT:
            if (state_->gettimeout_error != 0) {
                return fail(state_->gettimeout_error);
            }
            *number = state_->timeout_seconds;
            return 0;
        case WDIOC_GETBOOTSTATUS:
            if (state_->boot_status_fails) {
                return fail(EOPNOTSUPP);
            }
            *number = state_->boot_status;
            return 0;
        case WDIOC_KEEPALIVE:
            if ((state_->options & WDIOF_KEEPALIVEPING) == 0) {
                return fail(EOPNOTSUPP);
            }
            ++state_->keepalives;
            return 0;
        default:
            return fail(ENOTTY);
        }
    }

    long write(int fd, const void* data, std::size_t size) override {
        if (fd != descriptor || !state_->open) {
            return fail(EBADF);
        }
        const std::string bytes(static_cast<const char*>(data), size);
        state_->written += bytes;
        state_->expect_close = !bytes.empty() && bytes.back() == 'V';
        return static_cast<long>(size);
    }

    int close(int fd) override {
        if (fd != descriptor || !state_->open) {
            return fail(EBADF);
        }
        state_->open = false;
        ++state_->closes;
        state_->disarmed = state_->expect_close && (state_->options & WDIOF_MAGICCLOSE) != 0;
        return 0;
    }

private:
    static constexpr int descriptor = 42;

    static int fail(int error) {
        errno = error;
        return -1;
    }

    std::shared_ptr<DriverState> state_;
};

const std::string device_path = "/dev/watchdog-fake";

struct FakeSetup {
    std::shared_ptr<DriverState> driver = std::make_shared<DriverState>();
    std::unique_ptr<Watchdog> watchdog =
        make_device_watchdog(device_path, std::make_unique<FakeDriver>(driver));
};

std::string errno_text(int code) {
    return std::generic_category().message(code);
}

TEST_CASE("device watchdog reports the timeout the driver chose", "[hal][device]") {
    FakeSetup setup;
    // 29.5 s is asked for as 30 s (rounded up); the driver keeps 30 s.
    CHECK(error_message(setup.watchdog->start(std::chrono::milliseconds(29'500))) == "");
    CHECK(setup.driver->requested_timeout == 30);
    CHECK(setup.watchdog->timeout() == std::chrono::seconds(30));

    // 29 s is rounded by the driver to 30 s, and timeout() follows the driver.
    FakeSetup odd;
    CHECK(error_message(odd.watchdog->start(std::chrono::seconds(29))) == "");
    CHECK(odd.driver->requested_timeout == 29);
    CHECK(odd.watchdog->timeout() == std::chrono::seconds(30));

    // Under a second is still one whole second for the driver.
    FakeSetup short_one;
    CHECK(error_message(short_one.watchdog->start(std::chrono::milliseconds(1))) == "");
    CHECK(short_one.driver->requested_timeout == 1);
    CHECK(short_one.watchdog->timeout() == std::chrono::seconds(2));
}

TEST_CASE("device watchdog reads a fixed timeout from a driver that cannot set one", "[hal][device]") {
    FakeSetup setup;
    setup.driver->options &= ~static_cast<unsigned>(WDIOF_SETTIMEOUT);
    setup.driver->timeout_seconds = 16;
    CHECK(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(setup.driver->requested_timeout == 0);
    CHECK(setup.watchdog->timeout() == std::chrono::seconds(16));
}

TEST_CASE("device watchdog feeds with WDIOC_KEEPALIVE", "[hal][device]") {
    FakeSetup setup;
    CHECK(error_code(setup.watchdog->feed()) == EBADF); // not started yet
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    for (int feed = 0; feed < 3; ++feed) {
        CHECK(error_message(setup.watchdog->feed()) == "");
    }
    CHECK(setup.driver->keepalives == 3);
    CHECK(setup.driver->written.empty());
    CHECK(std::string(setup.watchdog->backend_name()) == "device");
}

TEST_CASE("device watchdog feeds by writing when the driver lacks WDIOC_KEEPALIVE", "[hal][device]") {
    FakeSetup setup;
    setup.driver->options &= ~static_cast<unsigned>(WDIOF_KEEPALIVEPING);
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(error_message(setup.watchdog->feed()) == "");
    CHECK(error_message(setup.watchdog->feed()) == "");
    CHECK(setup.driver->keepalives == 0);
    CHECK(setup.driver->written.size() == 2);
    CHECK(setup.driver->written.find('V') == std::string::npos); // feeding must not prime the magic close
}

TEST_CASE("device watchdog stop writes the magic V just before closing", "[hal][device]") {
    FakeSetup setup;
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(error_message(setup.watchdog->feed()) == "");
    CHECK(error_message(setup.watchdog->stop()) == "");
    CHECK(setup.driver->written == "V");
    CHECK(setup.driver->closes == 1);
    CHECK(setup.driver->disarmed);
    CHECK(error_code(setup.watchdog->feed()) == EBADF);

    // Stopped, it can start again (the device was released).
    CHECK(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(setup.driver->open);
}

TEST_CASE("device watchdog destroyed without stop closes without the magic V", "[hal][device]") {
    FakeSetup setup;
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    setup.watchdog.reset();
    CHECK(setup.driver->closes == 1);
    CHECK(setup.driver->written.empty());
    CHECK_FALSE(setup.driver->disarmed); // a crash must still end in a reset
}

TEST_CASE("device watchdog reports a reset by the watchdog from the boot status", "[hal][device]") {
    FakeSetup reset_by_watchdog;
    reset_by_watchdog.driver->boot_status = WDIOF_CARDRESET;
    CHECK_FALSE(reset_by_watchdog.watchdog->last_reset_was_watchdog());
    REQUIRE(error_message(reset_by_watchdog.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(reset_by_watchdog.watchdog->last_reset_was_watchdog());

    FakeSetup power_on;
    power_on.driver->boot_status = WDIOF_POWERUNDER;
    REQUIRE(error_message(power_on.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK_FALSE(power_on.watchdog->last_reset_was_watchdog());

    // A driver without a boot status still works; the reset is then not known to be the watchdog's.
    FakeSetup no_status;
    no_status.driver->boot_status_fails = true;
    CHECK(error_message(no_status.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK_FALSE(no_status.watchdog->last_reset_was_watchdog());
}

TEST_CASE("device watchdog names the device and the reason when it cannot open it", "[hal][device]") {
    FakeSetup setup;
    setup.driver->open_error = EBUSY;
    const auto error = setup.watchdog->start(std::chrono::seconds(30));
    REQUIRE(error);
    CHECK(error->code == EBUSY);
    CHECK_THAT(error->message, Catch::Contains(device_path) && Catch::Contains(errno_text(EBUSY)));
}

TEST_CASE("device watchdog refuses a device that is not a watchdog", "[hal][device]") {
    FakeSetup setup;
    setup.driver->getsupport_error = ENOTTY;
    const auto error = setup.watchdog->start(std::chrono::seconds(30));
    REQUIRE(error);
    CHECK(error->code == ENOTTY);
    CHECK_THAT(error->message, Catch::Contains("not a watchdog") && Catch::Contains(device_path) &&
                                   Catch::Contains(errno_text(ENOTTY)));
    CHECK_FALSE(setup.driver->open);
    CHECK(setup.driver->written.empty()); // no 'V' into something that is not a watchdog
}

TEST_CASE("device watchdog warns when the driver cannot be disarmed by magic close", "[hal][device]") {
    FakeSetup setup;
    setup.driver->options &= ~static_cast<unsigned>(WDIOF_MAGICCLOSE);
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    const auto error = setup.watchdog->stop();
    REQUIRE(error);
    CHECK_THAT(error->message, Catch::Contains("nowayout") && Catch::Contains(device_path));
    CHECK(setup.driver->written == "V"); // tried anyway
    CHECK(setup.driver->closes == 1);
}

TEST_CASE("device watchdog disarms the device when start fails after opening it", "[hal][device]") {
    // A driver with a fixed timeout that will not say which: nobody is going to feed it, so it must
    // not stay armed.
    FakeSetup setup;
    setup.driver->options &= ~static_cast<unsigned>(WDIOF_SETTIMEOUT);
    setup.driver->gettimeout_error = EIO;
    const auto error = setup.watchdog->start(std::chrono::seconds(30));
    REQUIRE(error);
    CHECK(error->code == EIO);
    CHECK_THAT(error->message, Catch::Contains(device_path));
    CHECK(setup.driver->disarmed);
    CHECK_FALSE(setup.driver->open);
}

TEST_CASE("device watchdog refuses a second start and a timeout that is not positive", "[hal][device]") {
    FakeSetup setup;
    CHECK(error_code(setup.watchdog->start(std::chrono::milliseconds(0))) == EINVAL);
    CHECK_FALSE(setup.driver->open);
    REQUIRE(error_message(setup.watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(error_code(setup.watchdog->start(std::chrono::seconds(30))) == EBUSY);
    CHECK(setup.driver->open); // the first start still holds the device
}

// The real system calls, on files that are certainly not watchdogs. /dev/watchdog is never opened here:
// that would arm the machine's watchdog.
TEST_CASE("device watchdog on a regular file reports that it is not a watchdog", "[hal][device]") {
    watchdog_test_support::ScratchDirectory directory;
    REQUIRE(directory.created());
    const std::string path = directory.file("not-a-watchdog");
    std::ofstream(path).put('x');

    const auto watchdog = make_device_watchdog(path);
    const auto error = watchdog->start(std::chrono::seconds(30));
    REQUIRE(error);
    // The kernel answers ENOTTY; qemu-user, which runs the ARM test builds, ENOSYS.
    CHECK((error->code == ENOTTY || error->code == ENOSYS));
    CHECK_THAT(error->message, Catch::Contains("not a watchdog") && Catch::Contains(path));
    CHECK(std::filesystem::file_size(path) == 1); // nothing was written into it
    CHECK(error_code(watchdog->feed()) == EBADF);
}

TEST_CASE("device watchdog on a missing device names the path", "[hal][device]") {
    watchdog_test_support::ScratchDirectory directory;
    REQUIRE(directory.created());
    const std::string path = directory.file("watchdog");
    const auto error = make_device_watchdog(path)->start(std::chrono::seconds(30));
    REQUIRE(error);
    CHECK(error->code == ENOENT);
    CHECK_THAT(error->message, Catch::Contains(path) && Catch::Contains(errno_text(ENOENT)));
}

} // namespace device_watchdog_test
