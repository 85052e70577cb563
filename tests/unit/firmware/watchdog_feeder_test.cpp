// The watchdog is fed from the event loop, so a blocked loop stops the feeding and the simulated
// watchdog runs its reset path. Waits are bounded and generous; nothing measures how long anything took.
#include "watchdog_feeder.hpp"

#include <relayguard/hal/sim_watchdog.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <unistd.h>

namespace watchdog_feeder_test {

using namespace std::chrono_literals;

// Polls `done` every few milliseconds for at most `limit`.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// An event log that writes to /dev/null: the feeder logs only failures.
struct QuietLog {
    QuietLog() : fd(::dup(2)), log(fd, relayguard::policy::LogLevel::error) {}
    ~QuietLog() { ::close(fd); }
    int fd;
    relayguard::proxy::EventLog log;
};

} // namespace watchdog_feeder_test

TEST_CASE("The feeding interval is half the watchdog timeout", "[firmware][watchdog]") {
    using relayguard::firmware::WatchdogFeeder;
    CHECK(WatchdogFeeder::interval_for(std::chrono::seconds(30)) == std::chrono::seconds(15));
    CHECK(WatchdogFeeder::interval_for(std::chrono::milliseconds(60)) == std::chrono::milliseconds(50));
}

TEST_CASE("A healthy loop keeps the simulated watchdog fed and a blocked loop lets it fire",
          "[firmware][watchdog]") {
    using namespace std::chrono_literals;
    std::atomic<unsigned> resets{0};
    relayguard::hal::SimWatchdog watchdog([&] { ++resets; });
    // Long enough that a busy machine (parallel sanitizer and emulated test runs) does not starve the
    // loop thread past it while the loop is healthy; feeds come every 1.5 s.
    REQUIRE_FALSE(watchdog.start(3000ms));
    watchdog_feeder_test::QuietLog quiet;
    asio::io_context io(1);
    relayguard::firmware::WatchdogFeeder feeder(io, watchdog, quiet.log);
    feeder.start();

    std::atomic<bool> block{false};
    std::atomic<bool> blocked{false};
    std::atomic<bool> finished{false};
    // The loop runs until told to stop; one posted handler can hang it on demand, as a bug would.
    asio::steady_timer keep_running(io, std::chrono::hours(1));
    keep_running.async_wait([](const asio::error_code&) {});
    std::thread loop([&] {
        io.run();
        finished = true;
    });

    // Healthy: feeds keep coming, and the watchdog does not fire while they do.
    REQUIRE(watchdog_feeder_test::eventually([&] { return watchdog.feeds() >= 3; }));
    CHECK(resets == 0);

    // Hung: the loop stops turning, so the feeding stops and the reset path runs.
    asio::post(io, [&] {
        blocked = true;
        while (!block.load()) {
            std::this_thread::sleep_for(1ms);
        }
    });
    REQUIRE(watchdog_feeder_test::eventually([&] { return blocked.load(); }));
    const unsigned feeds_when_hung = watchdog.feeds();
    REQUIRE(watchdog_feeder_test::eventually([&] { return resets.load() >= 1; }));
    CHECK(watchdog.feeds() == feeds_when_hung);
    CHECK_FALSE(watchdog.armed());

    block = true;
    feeder.stop();
    keep_running.cancel();
    loop.join();
    CHECK(finished);
}
