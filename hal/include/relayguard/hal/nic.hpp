#pragma once
// Network interfaces: what there is (names, flags, addresses) and when that changes. The monitor is
// not tied to an event loop: it offers a descriptor that becomes readable when something may have
// changed; the owner waits on it (with Asio, poll, anything) and calls process_events().
//
// Back-ends: Linux (getifaddrs-free rtnetlink: one dump of links and addresses at start, then
// RTM_NEWLINK/DELLINK/NEWADDR/DELADDR events, no libnl) and a simulated one whose interfaces and
// addresses tests add and remove.
#include <relayguard/hal/watchdog.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace relayguard::hal {

struct InterfaceAddress {
    std::string address; // textual, "192.0.2.1" or "2001:db8::1" (no scope, no prefix)
    std::uint8_t prefix_length = 0;
    bool ipv6 = false;
    bool link_local = false; // fe80::/10 (needs a scope to bind; relayguard does not listen there)
    bool tentative = false;  // IPv6 duplicate address detection not finished: cannot be bound yet

    bool operator==(const InterfaceAddress& other) const;
};

struct NetworkInterface {
    std::string name;
    unsigned index = 0;
    bool up = false;       // IFF_UP: the administrative state
    bool running = false;  // IFF_RUNNING: operationally up (what daemons should follow)
    bool lower_up = false; // IFF_LOWER_UP: carrier
    bool loopback = false;
    std::vector<InterfaceAddress> addresses;
};

class NicMonitor {
public:
    virtual ~NicMonitor() = default;

    // Takes the first snapshot and starts watching.
    virtual std::optional<HalError> start() = 0;
    // Readable when process_events() may find a change; -1 before start().
    virtual int event_descriptor() const = 0;
    // Reads what is pending without blocking and updates the snapshot; true when the snapshot changed.
    virtual bool process_events() = 0;
    virtual const std::vector<NetworkInterface>& interfaces() const = 0;

    const NetworkInterface* find(const std::string& name) const;
};

// The Linux back-end (rtnetlink).
std::unique_ptr<NicMonitor> make_netlink_nic_monitor();

} // namespace relayguard::hal
