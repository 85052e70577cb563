#include "client_addresses.hpp"

#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/client_rate_tracker.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

using relayguard::policy::IpAddress;
using relayguard::proxy::ClientRateTracker;

namespace client_rate_tracker_test {

using client_addresses::address;
using client_addresses::numbered_v4;
using client_addresses::start;

} // namespace client_rate_tracker_test

TEST_CASE("client rate tracker counts a client's events within its window", "[client_rate_tracker]") {
    using client_rate_tracker_test::start;
    ClientRateTracker tracker(std::chrono::minutes(1));
    const IpAddress client = client_rate_tracker_test::address("192.0.2.7");
    REQUIRE(tracker.record(client, start) == 1);
    REQUIRE(tracker.record(client, start + std::chrono::seconds(10)) == 2);
    REQUIRE(tracker.record(client, start + std::chrono::seconds(59)) == 3);
    // Another client has its own count.
    REQUIRE(tracker.record(client_rate_tracker_test::address("192.0.2.8"), start) == 1);
    REQUIRE(tracker.size() == 2);
}

TEST_CASE("client rate tracker begins a new window at the first event after one ends",
          "[client_rate_tracker]") {
    using client_rate_tracker_test::start;
    ClientRateTracker tracker(std::chrono::minutes(1));
    const IpAddress client = client_rate_tracker_test::address("192.0.2.7");
    tracker.record(client, start);
    tracker.record(client, start + std::chrono::seconds(30));
    // The window is counted from its first event, not slid along with the later ones.
    REQUIRE(tracker.record(client, start + std::chrono::minutes(1) - std::chrono::nanoseconds(1)) == 3);
    REQUIRE(tracker.record(client, start + std::chrono::minutes(1)) == 1);
    const auto second_window = start + std::chrono::minutes(1);
    REQUIRE(tracker.record(client, second_window + std::chrono::seconds(59)) == 2);
    REQUIRE(tracker.record(client, second_window + std::chrono::minutes(1)) == 1);
}

TEST_CASE("client rate tracker counts an IPv6 client per prefix", "[client_rate_tracker]") {
    using client_rate_tracker_test::address;
    using client_rate_tracker_test::start;
    ClientRateTracker per_64(std::chrono::minutes(1), 64);
    REQUIRE(per_64.record(address("2001:db8:1:2::a"), start) == 1);
    REQUIRE(per_64.record(address("2001:db8:1:2:ffff::b"), start) == 2);
    REQUIRE(per_64.record(address("2001:db8:1:3::a"), start) == 1);
    ClientRateTracker per_address(std::chrono::minutes(1), 128);
    REQUIRE(per_address.record(address("2001:db8:1:2::a"), start) == 1);
    REQUIRE(per_address.record(address("2001:db8:1:2::b"), start) == 1);
    // IPv4 clients are counted per address whatever the prefix.
    REQUIRE(per_64.record(address("192.0.2.7"), start) == 1);
    REQUIRE(per_64.record(address("192.0.2.8"), start) == 1);
}

TEST_CASE("client rate tracker drops ended windows as it goes", "[client_rate_tracker]") {
    using client_rate_tracker_test::numbered_v4;
    using client_rate_tracker_test::start;
    ClientRateTracker tracker(std::chrono::seconds(10));
    for (unsigned number = 0; number < 100; ++number) {
        tracker.record(numbered_v4(number), start);
    }
    REQUIRE(tracker.size() == 100);
    // Each call after the windows ended prunes a few of them besides adding its own client.
    for (unsigned number = 1000; number < 1100; ++number) {
        tracker.record(numbered_v4(number), start + std::chrono::seconds(10));
    }
    REQUIRE(tracker.size() == 100);
}

TEST_CASE("client rate tracker is bounded and gives up the oldest window first", "[client_rate_tracker]") {
    using client_rate_tracker_test::numbered_v4;
    using client_rate_tracker_test::start;
    ClientRateTracker tracker(std::chrono::hours(1), 64, 3);
    const IpAddress oldest = numbered_v4(1);
    const IpAddress middle = numbered_v4(2);
    const IpAddress newest = numbered_v4(3);
    tracker.record(oldest, start);
    tracker.record(middle, start + std::chrono::seconds(1));
    tracker.record(newest, start + std::chrono::seconds(2));
    tracker.record(oldest, start + std::chrono::seconds(3)); // same window: stays the oldest
    REQUIRE(tracker.record(numbered_v4(4), start + std::chrono::seconds(4)) == 1);
    REQUIRE(tracker.size() == 3);
    // The oldest window went, so that client starts again; the others kept their counts.
    REQUIRE(tracker.record(middle, start + std::chrono::seconds(5)) == 2);
    REQUIRE(tracker.record(newest, start + std::chrono::seconds(5)) == 2);
    REQUIRE(tracker.size() == 3);
}
