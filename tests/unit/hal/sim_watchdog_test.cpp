#include "watchdog_test_support.hpp"

#include <relayguard/hal/sim_watchdog.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace sim_watchdog_test {

using relayguard::hal::SimWatchdog;
using watchdog_test_support::error_code;
using watchdog_test_support::error_message;
using watchdog_test_support::eventually;
using namespace std::chrono_literals;

TEST_CASE("sim watchdog runs the reset path when nobody feeds it", "[hal][sim]") {
    std::atomic<int> resets{0};
    SimWatchdog watchdog([&resets] { ++resets; });
    REQUIRE(error_message(watchdog.start(100ms)) == "");
    CHECK(watchdog.timeout() == 100ms);

    REQUIRE(eventually([&] { return resets.load() == 1; }));
    CHECK(watchdog.expiries() == 1);
    CHECK_FALSE(watchdog.armed()); // disarmed after the reset path, as a real reset would leave it
    CHECK(error_code(watchdog.feed()) == EINVAL);

    // Armed again, it fires again.
    REQUIRE(error_message(watchdog.start(100ms)) == "");
    REQUIRE(eventually([&] { return resets.load() == 2; }));
    CHECK(watchdog.expiries() == 2);
}

TEST_CASE("sim watchdog does not expire while it is fed", "[hal][sim]") {
    std::atomic<int> resets{0};
    SimWatchdog watchdog([&resets] { ++resets; });
    REQUIRE(error_message(watchdog.start(2s)) == "");
    for (int feed = 0; feed < 12; ++feed) {
        CHECK(error_message(watchdog.feed()) == "");
        std::this_thread::sleep_for(50ms);
    }
    CHECK(resets.load() == 0);
    CHECK(watchdog.expiries() == 0);
    CHECK(watchdog.feeds() == 12);
    CHECK(watchdog.armed());
    CHECK(error_message(watchdog.stop()) == "");
}

TEST_CASE("sim watchdog stop prevents the expiry", "[hal][sim]") {
    std::atomic<int> resets{0};
    SimWatchdog watchdog([&resets] { ++resets; });
    REQUIRE(error_message(watchdog.start(100ms)) == "");
    CHECK(error_message(watchdog.stop()) == "");
    CHECK_FALSE(watchdog.armed());
    std::this_thread::sleep_for(400ms); // well past the deadline it had
    CHECK(resets.load() == 0);
    CHECK(watchdog.expiries() == 0);
}

TEST_CASE("sim watchdog reports whether the previous reset was its doing", "[hal][sim]") {
    SimWatchdog after_reset([] {}, true);
    CHECK(after_reset.last_reset_was_watchdog());
    SimWatchdog after_power_on([] {});
    CHECK_FALSE(after_power_on.last_reset_was_watchdog());
    CHECK(std::string(after_power_on.backend_name()) == "sim");
}

TEST_CASE("sim watchdog refuses a feed before start and a timeout that is not positive", "[hal][sim]") {
    SimWatchdog watchdog([] {});
    CHECK(error_code(watchdog.feed()) == EINVAL);
    CHECK(error_code(watchdog.start(0ms)) == EINVAL);
    CHECK(error_code(watchdog.start(-5ms)) == EINVAL);
    CHECK_FALSE(watchdog.armed());
}

TEST_CASE("sim watchdog can be destroyed while armed", "[hal][sim]") {
    std::atomic<int> resets{0};
    {
        SimWatchdog watchdog([&resets] { ++resets; });
        REQUIRE(error_message(watchdog.start(1h)) == "");
        CHECK(watchdog.armed());
    } // the destructor must wake the thread from its hour-long wait and join it
    CHECK(resets.load() == 0);
}

} // namespace sim_watchdog_test
