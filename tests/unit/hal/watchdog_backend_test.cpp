#include <relayguard/hal/watchdog.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace watchdog_backend_test {

using relayguard::hal::choose_watchdog_backend;
using relayguard::hal::ServiceEnvironment;
using relayguard::hal::WatchdogBackend;

constexpr std::int64_t own_pid = 4242;

ServiceEnvironment plain_environment() {
    ServiceEnvironment environment;
    environment.own_pid = own_pid;
    return environment;
}

ServiceEnvironment systemd_environment(std::int64_t watchdog_pid) {
    ServiceEnvironment environment = plain_environment();
    environment.notify_socket = "/run/systemd/notify";
    environment.watchdog_usec = 30'000'000;
    environment.watchdog_pid = watchdog_pid;
    return environment;
}

ServiceEnvironment procd_environment() {
    ServiceEnvironment environment = plain_environment();
    environment.procd_service = "relayguard";
    environment.procd_instance = "main";
    environment.procd_watchdog_seconds = 30;
    return environment;
}

TEST_CASE("auto picks systemd when its watchdog is set for this process", "[hal][watchdog]") {
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, systemd_environment(own_pid)) ==
          WatchdogBackend::systemd);
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, systemd_environment(0)) ==
          WatchdogBackend::systemd);
}

TEST_CASE("auto leaves a systemd watchdog that belongs to another process alone", "[hal][watchdog]") {
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, systemd_environment(own_pid + 1)) ==
          WatchdogBackend::none);
}

TEST_CASE("auto needs both NOTIFY_SOCKET and WATCHDOG_USEC for systemd", "[hal][watchdog]") {
    ServiceEnvironment without_timeout = systemd_environment(0);
    without_timeout.watchdog_usec = 0;
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, without_timeout) == WatchdogBackend::none);
    ServiceEnvironment without_socket = systemd_environment(0);
    without_socket.notify_socket.clear();
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, without_socket) == WatchdogBackend::none);
}

TEST_CASE("auto picks procd when the init script configured its service watchdog", "[hal][watchdog]") {
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, procd_environment()) == WatchdogBackend::procd);

    ServiceEnvironment without_timeout = procd_environment();
    without_timeout.procd_watchdog_seconds = 0;
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, without_timeout) == WatchdogBackend::none);
    ServiceEnvironment without_instance = procd_environment();
    without_instance.procd_instance.clear();
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, without_instance) == WatchdogBackend::none);
}

TEST_CASE("auto picks none without a service manager's watchdog", "[hal][watchdog]") {
    CHECK(choose_watchdog_backend(WatchdogBackend::automatic, plain_environment()) == WatchdogBackend::none);
}

TEST_CASE("an explicitly configured watchdog backend is used as given", "[hal][watchdog]") {
    for (const WatchdogBackend configured :
         {WatchdogBackend::device, WatchdogBackend::systemd, WatchdogBackend::procd, WatchdogBackend::none}) {
        CAPTURE(relayguard::hal::to_string(configured));
        CHECK(choose_watchdog_backend(configured, plain_environment()) == configured);
        CHECK(choose_watchdog_backend(configured, systemd_environment(own_pid)) == configured);
        CHECK(choose_watchdog_backend(configured, procd_environment()) == configured);
    }
}

TEST_CASE("watchdog backends are named as in the configuration", "[hal][watchdog]") {
    using relayguard::hal::to_string;
    CHECK(std::string(to_string(WatchdogBackend::automatic)) == "auto");
    CHECK(std::string(to_string(WatchdogBackend::device)) == "device");
    CHECK(std::string(to_string(WatchdogBackend::systemd)) == "systemd");
    CHECK(std::string(to_string(WatchdogBackend::procd)) == "procd");
    CHECK(std::string(to_string(WatchdogBackend::none)) == "none");
}

TEST_CASE("the null watchdog accepts every call and reports its timeout", "[hal][watchdog]") {
    const auto watchdog = relayguard::hal::make_null_watchdog();
    CHECK_FALSE(watchdog->start(std::chrono::seconds(7)));
    CHECK(watchdog->timeout() == std::chrono::seconds(7));
    CHECK_FALSE(watchdog->feed());
    CHECK_FALSE(watchdog->stop());
    CHECK_FALSE(watchdog->last_reset_was_watchdog());
    CHECK(std::string(watchdog->backend_name()) == "none");
}

} // namespace watchdog_backend_test
