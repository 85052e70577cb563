#include <relayguard/hal/watchdog.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <unistd.h>

namespace service_environment_test {

using relayguard::hal::read_service_environment;

// Sets or unsets one environment variable for a test and puts the previous value back afterwards.
class ScopedVariable {
public:
    ScopedVariable(const char* name, const char* value) : name_(name) {
        if (const char* previous = std::getenv(name)) {
            previous_ = std::string(previous);
        }
        set(value);
    }
    ~ScopedVariable() { set(previous_ ? previous_->c_str() : nullptr); }
    ScopedVariable(const ScopedVariable&) = delete;
    ScopedVariable& operator=(const ScopedVariable&) = delete;

    void set(const char* value) {
        if (value == nullptr) {
            ::unsetenv(name_);
        } else {
            ::setenv(name_, value, 1);
        }
    }

private:
    const char* name_;
    std::optional<std::string> previous_;
};

TEST_CASE("read_service_environment reads systemd's and procd's variables", "[hal][watchdog]") {
    const std::string pid = std::to_string(::getpid());
    ScopedVariable socket("NOTIFY_SOCKET", "@/org/freedesktop/systemd1/notify");
    ScopedVariable usec("WATCHDOG_USEC", "30000000");
    ScopedVariable watchdog_pid("WATCHDOG_PID", pid.c_str());
    ScopedVariable service("RELAYGUARD_PROCD_SERVICE", "relayguard");
    ScopedVariable instance("RELAYGUARD_PROCD_INSTANCE", "main");
    ScopedVariable procd_timeout("RELAYGUARD_PROCD_WATCHDOG", "4294967295");

    const auto environment = read_service_environment();
    CHECK(environment.notify_socket == "@/org/freedesktop/systemd1/notify");
    CHECK(environment.watchdog_usec == 30'000'000);
    CHECK(environment.watchdog_pid == ::getpid());
    CHECK(environment.own_pid == ::getpid());
    CHECK(environment.procd_service == "relayguard");
    CHECK(environment.procd_instance == "main");
    CHECK(environment.procd_watchdog_seconds == 4294967295u);
}

TEST_CASE("read_service_environment gives empty names and zeros for absent variables", "[hal][watchdog]") {
    ScopedVariable socket("NOTIFY_SOCKET", nullptr);
    ScopedVariable usec("WATCHDOG_USEC", nullptr);
    ScopedVariable watchdog_pid("WATCHDOG_PID", nullptr);
    ScopedVariable service("RELAYGUARD_PROCD_SERVICE", nullptr);
    ScopedVariable instance("RELAYGUARD_PROCD_INSTANCE", nullptr);
    ScopedVariable procd_timeout("RELAYGUARD_PROCD_WATCHDOG", nullptr);

    const auto environment = read_service_environment();
    CHECK(environment.notify_socket.empty());
    CHECK(environment.watchdog_usec == 0);
    CHECK(environment.watchdog_pid == 0);
    CHECK(environment.own_pid == ::getpid());
    CHECK(environment.procd_service.empty());
    CHECK(environment.procd_instance.empty());
    CHECK(environment.procd_watchdog_seconds == 0);
}

TEST_CASE("read_service_environment reads anything but a plain decimal number as 0", "[hal][watchdog]") {
    ScopedVariable usec("WATCHDOG_USEC", nullptr);
    ScopedVariable watchdog_pid("WATCHDOG_PID", nullptr);
    ScopedVariable procd_timeout("RELAYGUARD_PROCD_WATCHDOG", nullptr);
    for (const char* garbage : {"", "30s", "-1", "+5", " 5", "5 ", "0x10", "1e6", "18446744073709551616"}) {
        CAPTURE(garbage);
        usec.set(garbage);
        watchdog_pid.set(garbage);
        procd_timeout.set(garbage);
        const auto environment = read_service_environment();
        CHECK(environment.watchdog_usec == 0);
        CHECK(environment.watchdog_pid == 0);
        CHECK(environment.procd_watchdog_seconds == 0);
    }

    // Each number must also fit its field.
    watchdog_pid.set("9223372036854775808");
    procd_timeout.set("4294967296");
    const auto environment = read_service_environment();
    CHECK(environment.watchdog_pid == 0);
    CHECK(environment.procd_watchdog_seconds == 0);
}

} // namespace service_environment_test
