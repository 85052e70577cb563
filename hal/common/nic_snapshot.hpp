#pragma once
// The snapshot rules every NIC back-end shares, so that a consumer sees one order and "changed" means the
// same whichever back-end runs: interfaces sorted by index; addresses IPv4 before IPv6, then by text,
// then by prefix length; one entry per address identity, which is the kernel's (an IPv4 address together
// with its prefix length, an IPv6 address alone). Internal to hal/.
#include <relayguard/hal/nic.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace relayguard::hal::nic_snapshot {

bool same_interface(const NetworkInterface& left, const NetworkInterface& right);
bool same_snapshot(const std::vector<NetworkInterface>& left, const std::vector<NetworkInterface>& right);

NetworkInterface* find_by_index(std::vector<NetworkInterface>& interfaces, unsigned index);
// Inserts at the place its index calls for; the caller has made sure the index is not present yet.
NetworkInterface& insert_interface(std::vector<NetworkInterface>& interfaces, NetworkInterface added);
// True when there was such an interface.
bool erase_interface(std::vector<NetworkInterface>& interfaces, unsigned index);

bool same_identity(const InterfaceAddress& left, const InterfaceAddress& right);
// Adds the address or replaces the entry of the same identity; true when that changed anything.
bool put_address(NetworkInterface& nic, InterfaceAddress address);
// Removes the entry of the same identity; true when there was one.
bool erase_address(NetworkInterface& nic, const InterfaceAddress& address);

// The textual form (inet_ntop) and the family-derived fields of a binary address in network byte order:
// `bytes` holds 4 octets for IPv4, 16 for IPv6. Prefix lengths beyond the family's width are refused.
std::optional<InterfaceAddress> describe_address(bool ipv6, const std::uint8_t* bytes,
                                                 std::uint8_t prefix_length);

} // namespace relayguard::hal::nic_snapshot
