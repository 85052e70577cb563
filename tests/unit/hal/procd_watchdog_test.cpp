#include "watchdog_test_support.hpp"

#include <relayguard/hal/procd_watchdog.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace procd_watchdog_test {

using relayguard::hal::make_procd_watchdog;
using relayguard::hal::ProcdWatchdogSettings;
using watchdog_test_support::error_code;
using watchdog_test_support::error_message;
using watchdog_test_support::eventually;
using watchdog_test_support::read_lines;
using watchdog_test_support::ScratchDirectory;

const std::string expected_ping = R"({"name":"relayguard","instance":"main"})";

// A stand-in for `ubus call service watchdog`: a shell that records its JSON argument (its $0) in
// `pings` and its pid in `pids`. A gated one then waits until the test creates `release-<pid>`, so that
// the test decides when it finishes; it gives up by itself after about ten seconds, so that a failed
// test leaves nothing behind.
class FakeUbus {
public:
    explicit FakeUbus(bool gated) : gated_(gated) {}

    bool ready() const { return directory_.created(); }

    std::vector<std::string> command() const {
        std::string script = "printf '%s\\n' \"$0\" >> '" + directory_.file("pings") +
                             "'; printf '%s\\n' \"$$\" >> '" + directory_.file("pids") + "'";
        if (gated_) {
            script += "; tries=0; while [ ! -e '" + directory_.file("release-") +
                      "'\"$$\" ] && [ $tries -lt 1000 ]; do sleep 0.01; tries=$((tries + 1)); done";
        }
        return {"/bin/sh", "-c", script};
    }

    std::vector<std::string> pings() const { return read_lines(directory_.file("pings")); }
    std::vector<std::string> pids() const { return read_lines(directory_.file("pids")); }

    // Waits until `count` pings have run and the last one has exited (without collecting it: that
    // stays the watchdog's job).
    bool wait_for_finished_pings(std::size_t count) const {
        if (!eventually([&] { return pids().size() == count; })) {
            return false;
        }
        const pid_t last = last_pid();
        return eventually([&] { return has_exited(last); });
    }

    // Lets the last gated ping finish.
    bool release() const {
        return std::ofstream(directory_.file("release-" + std::to_string(last_pid()))).good();
    }

private:
    pid_t last_pid() const {
        const auto recorded = pids();
        return recorded.empty() ? -1 : static_cast<pid_t>(std::stol(recorded.back()));
    }

    static bool has_exited(pid_t pid) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
            return errno == ECHILD; // already collected
        }
        return info.si_pid == pid;
    }

    ScratchDirectory directory_;
    bool gated_;
};

ProcdWatchdogSettings settings_for(const FakeUbus& ubus) {
    ProcdWatchdogSettings settings;
    settings.service = "relayguard";
    settings.instance = "main";
    settings.timeout_seconds = 30;
    settings.ubus_command = ubus.command();
    return settings;
}

TEST_CASE("procd watchdog pings ubus with the service and instance as JSON", "[hal][procd]") {
    FakeUbus ubus(false);
    REQUIRE(ubus.ready());
    const auto watchdog = make_procd_watchdog(settings_for(ubus));
    // The configured 5 s gives way to the init script's 30 s.
    REQUIRE(error_message(watchdog->start(std::chrono::seconds(5))) == "");
    CHECK(watchdog->timeout() == std::chrono::seconds(30));
    CHECK(std::string(watchdog->backend_name()) == "procd");
    CHECK_FALSE(watchdog->last_reset_was_watchdog());

    for (std::size_t ping = 1; ping <= 3; ++ping) {
        CHECK(error_message(watchdog->feed()) == "");
        REQUIRE(ubus.wait_for_finished_pings(ping));
    }
    CHECK(ubus.pings() == std::vector<std::string>(3, expected_ping));
    CHECK(error_message(watchdog->stop()) == "");
}

TEST_CASE("procd watchdog does not start a second ping while one still runs", "[hal][procd]") {
    FakeUbus ubus(true);
    REQUIRE(ubus.ready());
    const auto watchdog = make_procd_watchdog(settings_for(ubus));
    REQUIRE(error_message(watchdog->start(std::chrono::seconds(30))) == "");

    CHECK(error_message(watchdog->feed()) == "");
    REQUIRE(eventually([&] { return ubus.pids().size() == 1; }));
    for (int feed = 0; feed < 3; ++feed) {
        CHECK(error_message(watchdog->feed()) == ""); // the first ping still waits at the gate
    }
    REQUIRE(ubus.release());
    REQUIRE(ubus.wait_for_finished_pings(1));
    CHECK(ubus.pings().size() == 1);

    // Finished, it is collected and the next feed pings again.
    CHECK(error_message(watchdog->feed()) == "");
    REQUIRE(eventually([&] { return ubus.pids().size() == 2; }));
    REQUIRE(ubus.release());
    CHECK(error_message(watchdog->stop()) == "");
    CHECK(ubus.pings() == std::vector<std::string>(2, expected_ping));
}

TEST_CASE("procd watchdog escapes quotes and backslashes in the JSON", "[hal][procd]") {
    FakeUbus ubus(false);
    REQUIRE(ubus.ready());
    ProcdWatchdogSettings settings = settings_for(ubus);
    settings.service = R"(relay"guard\)";
    settings.instance = "main";
    const auto watchdog = make_procd_watchdog(settings);
    REQUIRE(error_message(watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(error_message(watchdog->feed()) == "");
    REQUIRE(ubus.wait_for_finished_pings(1));
    CHECK(ubus.pings() == std::vector<std::string>{R"({"name":"relay\"guard\\","instance":"main"})"});
}

TEST_CASE("procd watchdog does not start without names, a timeout or a command", "[hal][procd]") {
    const auto refused = [](ProcdWatchdogSettings settings) {
        return error_code(make_procd_watchdog(std::move(settings))->start(std::chrono::seconds(30))) ==
               EINVAL;
    };
    ProcdWatchdogSettings complete;
    complete.service = "relayguard";
    complete.instance = "main";
    complete.timeout_seconds = 30;

    ProcdWatchdogSettings settings = complete;
    settings.service.clear();
    CHECK(refused(settings));
    settings = complete;
    settings.instance.clear();
    CHECK(refused(settings));
    settings = complete;
    settings.timeout_seconds = 0;
    CHECK(refused(settings));
    settings = complete;
    settings.instance = "main\n";
    CHECK(refused(settings));
    settings = complete;
    settings.ubus_command.clear();
    CHECK(refused(settings));

    // Never started, it does not ping.
    CHECK(error_code(make_procd_watchdog(complete)->feed()) == EINVAL);
}

TEST_CASE("procd watchdog reports a ping program that cannot be started", "[hal][procd]") {
    ProcdWatchdogSettings settings;
    settings.service = "relayguard";
    settings.instance = "main";
    settings.timeout_seconds = 30;
    settings.ubus_command = {"/nonexistent/relayguard-ubus", "call"};
    const auto watchdog = make_procd_watchdog(settings);
    REQUIRE(error_message(watchdog->start(std::chrono::seconds(30))) == "");
    // glibc's posix_spawn reports the failed exec at once. Under qemu-user (the ARM test builds) the
    // exec fails in a child that posix_spawn no longer waits for, which then exits with 127: the next
    // feed reports that. Either way the missing program is reported, naming it or its exit status.
    auto error = watchdog->feed();
    for (int attempt = 0; !error && attempt < 200; ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        error = watchdog->feed();
    }
    REQUIRE(error);
    if (error->code == ENOENT) {
        CHECK_THAT(error->message, Catch::Contains("/nonexistent/relayguard-ubus"));
    } else {
        CHECK_THAT(error->message, Catch::Contains("exited with status 127"));
    }
}

TEST_CASE("procd watchdog reports a failed ping at the next feed", "[hal][procd]") {
    FakeUbus ubus(false);
    REQUIRE(ubus.ready());
    ProcdWatchdogSettings settings = settings_for(ubus);
    settings.ubus_command.back() += "; exit 4"; // what ubus does for an unknown service
    const auto watchdog = make_procd_watchdog(settings);
    REQUIRE(error_message(watchdog->start(std::chrono::seconds(30))) == "");
    CHECK(error_message(watchdog->feed()) == "");
    REQUIRE(ubus.wait_for_finished_pings(1));
    CHECK_THAT(error_message(watchdog->feed()), Catch::Contains("exited with status 4"));
    REQUIRE(ubus.wait_for_finished_pings(2)); // the new ping ran all the same
    CHECK(error_message(watchdog->stop()) == "");
}

} // namespace procd_watchdog_test
