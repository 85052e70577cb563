#include "client_addresses.hpp"

#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/auth_failure_tracker.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using relayguard::policy::IpAddress;
using relayguard::proxy::AuthFailureTracker;

namespace auth_failure_tracker_test {

using namespace std::chrono_literals;
using client_addresses::address;
using client_addresses::numbered_v4;
using client_addresses::start;

} // namespace auth_failure_tracker_test

TEST_CASE("auth failure tracker counts failures in a row and locks out at the limit",
          "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(3, std::chrono::minutes(15));
    const IpAddress client = auth_failure_tracker_test::address("192.0.2.7");
    REQUIRE_FALSE(tracker.locked_out(client, start));
    REQUIRE(tracker.record_failure(client, start) == 1);
    REQUIRE_FALSE(tracker.locked_out(client, start));
    REQUIRE(tracker.record_failure(client, start + std::chrono::seconds(1)) == 2);
    REQUIRE_FALSE(tracker.locked_out(client, start + std::chrono::seconds(1)));
    REQUIRE(tracker.record_failure(client, start + std::chrono::seconds(2)) == 3);
    REQUIRE(tracker.locked_out(client, start + std::chrono::seconds(2)));
    REQUIRE(tracker.record_failure(client, start + std::chrono::seconds(3)) == 4);
    REQUIRE(tracker.locked_out(client, start + std::chrono::seconds(3)));
    // Other clients are not affected.
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("192.0.2.8"), start));
    REQUIRE(tracker.size() == 1);
}

TEST_CASE("auth failure tracker lockout ends the lockout period after the last failure",
          "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(2, std::chrono::minutes(15));
    const IpAddress client = auth_failure_tracker_test::address("192.0.2.7");
    tracker.record_failure(client, start);
    tracker.record_failure(client, start + std::chrono::minutes(5));
    const auto last = start + std::chrono::minutes(5);
    REQUIRE(tracker.locked_out(client, last + std::chrono::minutes(15) - std::chrono::nanoseconds(1)));
    REQUIRE_FALSE(tracker.locked_out(client, last + std::chrono::minutes(15)));
    // After the lockout the count starts over.
    REQUIRE(tracker.record_failure(client, last + std::chrono::minutes(15)) == 1);
    REQUIRE_FALSE(tracker.locked_out(client, last + std::chrono::minutes(15)));
}

TEST_CASE("auth failure tracker forgets old failures below the limit", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(3, std::chrono::minutes(10));
    const IpAddress client = auth_failure_tracker_test::address("198.51.100.1");
    REQUIRE(tracker.record_failure(client, start) == 1);
    REQUIRE(tracker.record_failure(client, start + std::chrono::minutes(9)) == 2);
    // Ten minutes after the last failure, not the first, the count starts over.
    REQUIRE(tracker.record_failure(client, start + std::chrono::minutes(18)) == 3);
    REQUIRE(tracker.locked_out(client, start + std::chrono::minutes(18)));
    REQUIRE(tracker.record_failure(client, start + std::chrono::minutes(28)) == 1);
}

TEST_CASE("auth failure tracker success resets the count", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(3, std::chrono::minutes(15));
    const IpAddress client = auth_failure_tracker_test::address("2001:db8::7");
    tracker.record_failure(client, start);
    tracker.record_failure(client, start);
    tracker.record_success(client);
    REQUIRE(tracker.size() == 0);
    REQUIRE(tracker.record_failure(client, start) == 1);
    // A success from a client never seen is harmless.
    tracker.record_success(auth_failure_tracker_test::address("2001:db8:1::1"));
    REQUIRE(tracker.size() == 1);
}

TEST_CASE("auth failure tracker counts IPv6 clients per 64-bit prefix", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(3, std::chrono::minutes(15));
    REQUIRE(tracker.record_failure(auth_failure_tracker_test::address("2001:db8:0:1::1"), start) == 1);
    REQUIRE(tracker.record_failure(auth_failure_tracker_test::address("2001:db8:0:1:ffff:ffff:ffff:ffff"),
                                   start) == 2);
    REQUIRE(tracker.record_failure(auth_failure_tracker_test::address("2001:db8:0:1:1234::"), start) == 3);
    REQUIRE(tracker.locked_out(auth_failure_tracker_test::address("2001:db8:0:1::99"), start));
    // The neighbouring /64 is another client.
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("2001:db8:0:2::1"), start));
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("2001:db8:0:0:ffff::1"), start));
    REQUIRE(tracker.size() == 1);
}

TEST_CASE("auth failure tracker follows the configured IPv6 prefix", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::address;
    using auth_failure_tracker_test::start;
    SECTION("a /48 takes in the neighbouring /64s") {
        AuthFailureTracker tracker(2, std::chrono::minutes(15), 48);
        tracker.record_failure(address("2001:db8:7:1::1"), start);
        REQUIRE(tracker.record_failure(address("2001:db8:7:2::1"), start) == 2);
        REQUIRE(tracker.locked_out(address("2001:db8:7:ffff::1"), start));
        REQUIRE_FALSE(tracker.locked_out(address("2001:db8:8::1"), start));
    }
    SECTION("a /128 counts each address alone") {
        AuthFailureTracker tracker(2, std::chrono::minutes(15), 128);
        tracker.record_failure(address("2001:db8::1"), start);
        REQUIRE(tracker.record_failure(address("2001:db8::2"), start) == 1);
        REQUIRE(tracker.record_failure(address("2001:db8::1"), start) == 2);
        REQUIRE(tracker.locked_out(address("2001:db8::1"), start));
        REQUIRE_FALSE(tracker.locked_out(address("2001:db8::2"), start));
    }
}

TEST_CASE("auth failure tracker counts IPv4 clients per address", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(2, std::chrono::minutes(15));
    tracker.record_failure(auth_failure_tracker_test::address("192.0.2.7"), start);
    tracker.record_failure(auth_failure_tracker_test::address("192.0.2.7"), start);
    REQUIRE(tracker.locked_out(auth_failure_tracker_test::address("192.0.2.7"), start));
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("192.0.2.6"), start));
    // An IPv4-mapped IPv6 address is the IPv4 client.
    REQUIRE(tracker.locked_out(auth_failure_tracker_test::address("::ffff:192.0.2.7"), start));
    // An IPv6 prefix whose low bits spell the IPv4 address is not.
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("::c000:207"), start));
    REQUIRE_FALSE(tracker.locked_out(auth_failure_tracker_test::address("0:0:0:c000::"), start));
}

TEST_CASE("auth failure tracker treats a limit of zero as one", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(0, std::chrono::minutes(1));
    const IpAddress client = auth_failure_tracker_test::address("192.0.2.1");
    REQUIRE_FALSE(tracker.locked_out(client, start));
    REQUIRE(tracker.record_failure(client, start) == 1);
    REQUIRE(tracker.locked_out(client, start));
}

TEST_CASE("auth failure tracker evicts an expired lockout before live entries when full",
          "[auth_failure_tracker]") {
    using auth_failure_tracker_test::numbered_v4;
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(2, std::chrono::minutes(10), 64, 3);
    tracker.record_failure(numbered_v4(1), start);
    tracker.record_failure(numbered_v4(1), start); // locked until start + 10 min
    tracker.record_failure(numbered_v4(2), start + std::chrono::minutes(5));
    tracker.record_failure(numbered_v4(3), start + std::chrono::minutes(6));
    REQUIRE(tracker.size() == 3);

    // At +11 the lockout has expired: that entry makes room, the two counting ones stay.
    const auto later = start + std::chrono::minutes(11);
    REQUIRE(tracker.record_failure(numbered_v4(4), later) == 1);
    REQUIRE(tracker.size() == 3);
    REQUIRE_FALSE(tracker.locked_out(numbered_v4(1), later));
    REQUIRE(tracker.record_failure(numbered_v4(2), later) == 2);
    REQUIRE(tracker.record_failure(numbered_v4(3), later) == 2);
    REQUIRE(tracker.size() == 3);
}

TEST_CASE("auth failure tracker evicts the oldest unlocked entry before any lockout",
          "[auth_failure_tracker]") {
    using auth_failure_tracker_test::numbered_v4;
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(2, std::chrono::minutes(10), 64, 3);
    tracker.record_failure(numbered_v4(1), start);
    tracker.record_failure(numbered_v4(1), start); // locked, and the oldest entry
    tracker.record_failure(numbered_v4(2), start + std::chrono::seconds(1));
    tracker.record_failure(numbered_v4(3), start + std::chrono::seconds(2));

    // A flood of fresh addresses pushes out the unlocked entries, never the lockout.
    for (unsigned number = 100; number < 200; ++number) {
        const auto now = start + std::chrono::seconds(3 + number);
        REQUIRE(tracker.record_failure(numbered_v4(number), now) == 1);
        REQUIRE(tracker.size() == 3);
        REQUIRE(tracker.locked_out(numbered_v4(1), now));
    }
    // The last two flood entries are still there; 2 and 3 were evicted first.
    const auto end = start + std::chrono::seconds(300);
    REQUIRE(tracker.record_failure(numbered_v4(199), end) == 2);
    REQUIRE(tracker.record_failure(numbered_v4(2), end) == 1);
}

TEST_CASE("auth failure tracker evicts the oldest lockout when every entry is locked out",
          "[auth_failure_tracker]") {
    using auth_failure_tracker_test::numbered_v4;
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(1, std::chrono::minutes(10), 64, 2);
    tracker.record_failure(numbered_v4(1), start);
    tracker.record_failure(numbered_v4(2), start + std::chrono::seconds(1));
    tracker.record_failure(numbered_v4(3), start + std::chrono::seconds(2));
    const auto now = start + std::chrono::seconds(2);
    REQUIRE(tracker.size() == 2);
    REQUIRE_FALSE(tracker.locked_out(numbered_v4(1), now));
    REQUIRE(tracker.locked_out(numbered_v4(2), now));
    REQUIRE(tracker.locked_out(numbered_v4(3), now));
}

TEST_CASE("auth failure tracker prunes expired entries as it goes", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::numbered_v4;
    using auth_failure_tracker_test::start;
    AuthFailureTracker tracker(5, std::chrono::minutes(1));
    for (unsigned number = 0; number < 40; ++number) {
        tracker.record_failure(numbered_v4(number), start);
    }
    REQUIRE(tracker.size() == 40);
    // Every later call drops a few expired entries, so the table shrinks without a full sweep.
    const auto later = start + std::chrono::minutes(2);
    for (unsigned round = 0; round < 20; ++round) {
        tracker.record_failure(auth_failure_tracker_test::address("192.0.2.1"), later);
    }
    REQUIRE(tracker.size() == 1);
}

TEST_CASE("auth failure tracker holds its default number of clients", "[auth_failure_tracker]") {
    using auth_failure_tracker_test::numbered_v4;
    using auth_failure_tracker_test::start;
    REQUIRE(relayguard::proxy::default_max_tracked_clients == 10'000);
    AuthFailureTracker tracker(5, std::chrono::minutes(15));
    for (unsigned number = 0; number < 10'500; ++number) {
        tracker.record_failure(numbered_v4(number), start + std::chrono::milliseconds(number));
    }
    REQUIRE(tracker.size() == 10'000);
    const auto now = start + std::chrono::seconds(11);
    // The first 500 were evicted, the rest are still counted.
    REQUIRE(tracker.record_failure(numbered_v4(499), now) == 1);
    REQUIRE(tracker.record_failure(numbered_v4(10'499), now) == 2);
    REQUIRE(tracker.size() == 10'000);
}
