#pragma once
// Client addresses and a starting time for the tests of the per-client tables (AUTH failures,
// connection rates).
#include <relayguard/policy/ip_address.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

namespace client_addresses {

inline relayguard::policy::IpAddress address(const char* text) {
    const auto parsed = relayguard::policy::IpAddress::parse(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

// 10.x.y.z: a distinct IPv4 client for every number below 2^24.
inline relayguard::policy::IpAddress numbered_v4(unsigned number) {
    return relayguard::policy::IpAddress::from_v4({10, static_cast<std::uint8_t>(number >> 16),
                                                   static_cast<std::uint8_t>(number >> 8),
                                                   static_cast<std::uint8_t>(number)});
}

// A fixed starting point; the trackers only compare differences.
inline const std::chrono::steady_clock::time_point start{std::chrono::hours(1000)};

} // namespace client_addresses
