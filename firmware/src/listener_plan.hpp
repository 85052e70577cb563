#pragma once
// Which sockets the configuration asks for, given the network interfaces of the moment. Pure: the
// daemon calls it at boot, on every interface event and at every reload, and tests call it with
// simulated interfaces.
#include <relayguard/hal/nic.hpp>
#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/server.hpp>

#include <string>
#include <vector>

namespace relayguard::firmware {

struct ListenerPlan {
    std::vector<proxy::ListenerSpec> specs;
    // One entry per listener that has nothing to bind yet: "lan1 (no such interface)",
    // "lan1 (no address)", "lan1 (no address 192.0.2.1)".
    std::vector<std::string> waiting;
};

// Whether any <listen> (or <metrics>) names an interface, so that interfaces must be watched.
bool needs_interface_monitor(const policy::Config& config);

// Listeners without an interface are planned as written. A listener pinned to an interface waits for
// it: with no address, one spec per usable address the interface has (IPv6 link-local and tentative
// addresses are not usable); with a wildcard address, one spec once the interface exists; with a
// specific address, one spec once the interface has that address. Without a monitor (`interfaces`
// null), listeners with an interface and an address are planned as written and interface-only ones
// wait.
ListenerPlan plan_listeners(const policy::Config& config,
                            const std::vector<hal::NetworkInterface>* interfaces);
// The same for <metrics listen>: no spec without the element.
ListenerPlan plan_metrics_listeners(const policy::Config& config,
                                    const std::vector<hal::NetworkInterface>* interfaces);
// One listener's specs (or what it waits for), added to `plan`.
void plan_listener(const policy::ListenConfig& listen, const std::vector<hal::NetworkInterface>* interfaces,
                   ListenerPlan& plan);

} // namespace relayguard::firmware
