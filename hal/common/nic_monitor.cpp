#include "nic_snapshot.hpp"

#include <relayguard/hal/nic.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <tuple>
#include <utility>

namespace relayguard::hal {

bool InterfaceAddress::operator==(const InterfaceAddress& other) const {
    return address == other.address && prefix_length == other.prefix_length && ipv6 == other.ipv6 &&
           link_local == other.link_local && tentative == other.tentative;
}

const NetworkInterface* NicMonitor::find(const std::string& name) const {
    const auto& all = interfaces();
    const auto found = std::find_if(all.begin(), all.end(),
                                    [&name](const NetworkInterface& nic) { return nic.name == name; });
    return found == all.end() ? nullptr : &*found;
}

namespace nic_snapshot {
namespace nic_monitor_detail {

bool address_before(const InterfaceAddress& left, const InterfaceAddress& right) {
    return std::tie(left.ipv6, left.address, left.prefix_length) <
           std::tie(right.ipv6, right.address, right.prefix_length);
}

bool index_before(const NetworkInterface& nic, unsigned index) {
    return nic.index < index;
}

} // namespace nic_monitor_detail

bool same_interface(const NetworkInterface& left, const NetworkInterface& right) {
    return left.name == right.name && left.index == right.index && left.up == right.up &&
           left.running == right.running && left.lower_up == right.lower_up &&
           left.loopback == right.loopback && left.addresses == right.addresses;
}

bool same_snapshot(const std::vector<NetworkInterface>& left, const std::vector<NetworkInterface>& right) {
    return std::equal(left.begin(), left.end(), right.begin(), right.end(), same_interface);
}

NetworkInterface* find_by_index(std::vector<NetworkInterface>& interfaces, unsigned index) {
    const auto found =
        std::lower_bound(interfaces.begin(), interfaces.end(), index, nic_monitor_detail::index_before);
    return found != interfaces.end() && found->index == index ? &*found : nullptr;
}

NetworkInterface& insert_interface(std::vector<NetworkInterface>& interfaces, NetworkInterface added) {
    const auto place =
        std::lower_bound(interfaces.begin(), interfaces.end(), added.index, nic_monitor_detail::index_before);
    return *interfaces.insert(place, std::move(added));
}

bool erase_interface(std::vector<NetworkInterface>& interfaces, unsigned index) {
    const auto found =
        std::lower_bound(interfaces.begin(), interfaces.end(), index, nic_monitor_detail::index_before);
    if (found == interfaces.end() || found->index != index) {
        return false;
    }
    interfaces.erase(found);
    return true;
}

bool same_identity(const InterfaceAddress& left, const InterfaceAddress& right) {
    // The kernel keeps one IPv6 address per interface whatever its prefix, but the same IPv4 address may
    // be configured twice with different prefix lengths.
    return left.ipv6 == right.ipv6 && left.address == right.address &&
           (left.ipv6 || left.prefix_length == right.prefix_length);
}

bool put_address(NetworkInterface& nic, InterfaceAddress address) {
    auto& list = nic.addresses;
    const auto existing = std::find_if(list.begin(), list.end(), [&address](const InterfaceAddress& entry) {
        return same_identity(entry, address);
    });
    if (existing != list.end()) {
        if (*existing == address) {
            return false;
        }
        list.erase(existing);
    }
    list.insert(std::lower_bound(list.begin(), list.end(), address, nic_monitor_detail::address_before),
                std::move(address));
    return true;
}

bool erase_address(NetworkInterface& nic, const InterfaceAddress& address) {
    auto& list = nic.addresses;
    const auto existing = std::find_if(list.begin(), list.end(), [&address](const InterfaceAddress& entry) {
        return same_identity(entry, address);
    });
    if (existing == list.end()) {
        return false;
    }
    list.erase(existing);
    return true;
}

std::optional<InterfaceAddress> describe_address(bool ipv6, const std::uint8_t* bytes,
                                                 std::uint8_t prefix_length) {
    if (prefix_length > (ipv6 ? 128 : 32)) {
        return std::nullopt;
    }
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes, text, sizeof text) == nullptr) {
        return std::nullopt;
    }
    InterfaceAddress described;
    described.address = text;
    described.prefix_length = prefix_length;
    described.ipv6 = ipv6;
    described.link_local = ipv6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; // fe80::/10
    return described;
}

} // namespace nic_snapshot
} // namespace relayguard::hal
