#pragma once
// The hash of the per-client tables (AUTH failures, connection rates): a client key is an IPv4 address
// or an IPv6 prefix (IpAddress::client_block). It is keyed with a per-process random seed, so a client
// cannot choose addresses that all fall into one bucket and turn lookups into list scans.
#include <relayguard/policy/ip_address.hpp>

#include <cstddef>
#include <cstdint>

namespace relayguard::proxy {

struct ClientKeyHash {
    std::uint64_t seed = 0;
    std::size_t operator()(const policy::IpAddress& key) const;
};

// A seed a remote client cannot predict.
std::uint64_t unpredictable_seed();

} // namespace relayguard::proxy
