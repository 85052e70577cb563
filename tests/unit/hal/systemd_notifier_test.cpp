#include "watchdog_test_support.hpp"

#include <relayguard/hal/service_notifier.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace systemd_notifier_test {

using relayguard::hal::make_null_notifier;
using relayguard::hal::make_systemd_notifier;
using relayguard::hal::make_systemd_watchdog;
using watchdog_test_support::error_code;
using watchdog_test_support::error_message;
using watchdog_test_support::ScratchDirectory;

// Stands in for systemd: a datagram socket bound to a file path or, for "@name", to an abstract name.
class NotifyListener {
public:
    explicit NotifyListener(const std::string& address) {
        sockaddr_un bound_address{};
        bound_address.sun_family = AF_UNIX;
        const bool abstract = address[0] == '@';
        if (address.size() >= sizeof(bound_address.sun_path)) {
            return;
        }
        // For the abstract namespace, sun_path[0] stays NUL and the name follows, measured by the length.
        const std::size_t name_start = abstract ? 1 : 0;
        std::memcpy(bound_address.sun_path + name_start, address.data() + name_start,
                    address.size() - name_start);
        const auto length =
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));

        socket_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const timeval patience{5, 0}; // a missing datagram fails the test instead of hanging it
        if (socket_ < 0 || ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience) != 0 ||
            ::bind(socket_, reinterpret_cast<const sockaddr*>(&bound_address), length) != 0) {
            return;
        }
        bound_ = true;
    }
    ~NotifyListener() {
        if (socket_ >= 0) {
            ::close(socket_);
        }
    }
    NotifyListener(const NotifyListener&) = delete;
    NotifyListener& operator=(const NotifyListener&) = delete;

    bool bound() const { return bound_; }

    // The next datagram, or "<nothing>" when none came within the receive timeout.
    std::string receive() {
        char datagram[256];
        const ssize_t received = ::recv(socket_, datagram, sizeof datagram, 0);
        return received < 0 ? std::string("<nothing>")
                            : std::string(datagram, static_cast<std::size_t>(received));
    }

    bool has_pending() {
        char byte = 0;
        return ::recv(socket_, &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
    }

private:
    int socket_ = -1;
    bool bound_ = false;
};

std::string unique_abstract_name() {
    static unsigned counter = 0;
    return "@relayguard-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

void check_lifecycle_datagrams(const std::string& address) {
    CAPTURE(address);
    NotifyListener listener(address);
    REQUIRE(listener.bound());

    const auto notifier = make_systemd_notifier(address);
    CHECK(notifier->active());
    CHECK(error_message(notifier->ready()) == "");
    CHECK(listener.receive() == "READY=1");
    CHECK(error_message(notifier->reloading()) == "");
    CHECK(listener.receive() == "RELOADING=1");
    CHECK(error_message(notifier->stopping()) == "");
    CHECK(listener.receive() == "STOPPING=1");
    CHECK(error_message(notifier->notify("READY=1\nSTATUS=serving")) == "");
    CHECK(listener.receive() == "READY=1\nSTATUS=serving");
}

TEST_CASE("systemd notifier sends READY, RELOADING and STOPPING to a socket file", "[hal][systemd]") {
    ScratchDirectory directory;
    REQUIRE(directory.created());
    check_lifecycle_datagrams(directory.file("notify"));
}

TEST_CASE("systemd notifier sends READY, RELOADING and STOPPING to an abstract socket", "[hal][systemd]") {
    check_lifecycle_datagrams(unique_abstract_name());
}

TEST_CASE("systemd watchdog feeds with WATCHDOG=1 and takes its timeout from WATCHDOG_USEC",
          "[hal][systemd]") {
    const std::string address = unique_abstract_name();
    NotifyListener listener(address);
    REQUIRE(listener.bound());
    const auto notifier = make_systemd_notifier(address);
    const auto watchdog = make_systemd_watchdog(*notifier, 30'500'999);

    // The configured 5 s gives way to WatchdogSec=, rounded down to milliseconds.
    CHECK(error_message(watchdog->start(std::chrono::seconds(5))) == "");
    CHECK(watchdog->timeout() == std::chrono::milliseconds(30'500));
    CHECK(std::string(watchdog->backend_name()) == "systemd");
    CHECK_FALSE(watchdog->last_reset_was_watchdog());

    for (int feed = 0; feed < 3; ++feed) {
        CHECK(error_message(watchdog->feed()) == "");
        CHECK(listener.receive() == "WATCHDOG=1");
    }
    // stop() leaves disarming to STOPPING=1 and sends nothing itself.
    CHECK(error_message(watchdog->stop()) == "");
    CHECK_FALSE(listener.has_pending());
}

TEST_CASE("systemd watchdog does not start without WatchdogSec= or without a socket", "[hal][systemd]") {
    const auto notifier = make_systemd_notifier(unique_abstract_name());
    const auto without_timeout = make_systemd_watchdog(*notifier, 0);
    const auto refused = without_timeout->start(std::chrono::seconds(30));
    REQUIRE(refused);
    CHECK_THAT(refused->message, Catch::Contains("WATCHDOG_USEC"));

    const auto null_notifier = make_null_notifier();
    const auto without_socket = make_systemd_watchdog(*null_notifier, 30'000'000);
    const auto also_refused = without_socket->start(std::chrono::seconds(30));
    REQUIRE(also_refused);
    CHECK_THAT(also_refused->message, Catch::Contains("NOTIFY_SOCKET"));
}

TEST_CASE("systemd notifier reports a socket nobody listens on as an error value", "[hal][systemd]") {
    ScratchDirectory directory;
    REQUIRE(directory.created());
    const std::string missing = directory.file("no-such-socket");
    const auto error = make_systemd_notifier(missing)->ready();
    REQUIRE(error);
    CHECK(error->code == ENOENT);
    CHECK_THAT(error->message, Catch::Contains(missing));

    const auto abstract_error = make_systemd_notifier(unique_abstract_name())->ready();
    REQUIRE(abstract_error);
    CHECK(abstract_error->code == ECONNREFUSED);
}

TEST_CASE("systemd notifier refuses socket addresses that do not fit sockaddr_un", "[hal][systemd]") {
    const std::size_t capacity = sizeof(sockaddr_un{}.sun_path);
    // A path needs its terminating NUL, an abstract name does not but has the leading NUL instead.
    const std::string longest_path = "/" + std::string(capacity - 2, 'p');
    const std::string longest_name = "@" + std::string(capacity - 1, 'n');
    CHECK(error_code(make_systemd_notifier(longest_path)->ready()) == ENOENT);
    CHECK(error_code(make_systemd_notifier(longest_name)->ready()) == ECONNREFUSED);

    for (const std::string& too_long : {longest_path + "p", longest_name + "n"}) {
        CAPTURE(too_long.size());
        CHECK(error_code(make_systemd_notifier(too_long)->ready()) == ENAMETOOLONG);
    }
    for (const std::string& malformed :
         {std::string("relative/notify"), std::string("@"), std::string("/run/with\0nul", 13)}) {
        CHECK(error_code(make_systemd_notifier(malformed)->ready()) == EINVAL);
    }
}

TEST_CASE("an empty NOTIFY_SOCKET gives the silent null notifier", "[hal][systemd]") {
    const auto notifier = make_systemd_notifier("");
    CHECK_FALSE(notifier->active());
    CHECK(error_message(notifier->ready()) == "");
    CHECK_FALSE(make_null_notifier()->active());
    CHECK(error_message(make_null_notifier()->stopping()) == "");
}

} // namespace systemd_notifier_test
