#include "listener_plan.hpp"

#include <algorithm>

namespace relayguard::firmware {
namespace listener_plan_detail {

bool is_wildcard(const std::string& address) {
    return address == "0.0.0.0" || address == "::";
}

const hal::NetworkInterface* find_interface(const std::vector<hal::NetworkInterface>& interfaces,
                                            const std::string& name) {
    const auto found = std::find_if(interfaces.begin(), interfaces.end(),
                                    [&](const hal::NetworkInterface& nic) { return nic.name == name; });
    return found == interfaces.end() ? nullptr : &*found;
}

bool usable(const hal::InterfaceAddress& address) {
    return !address.link_local && !address.tentative;
}

proxy::ListenerSpec spec_for(const policy::ListenConfig& listen, const std::string& address) {
    return proxy::ListenerSpec{address, listen.port, listen.interface, listen.tls};
}

void add_unique(std::vector<proxy::ListenerSpec>& specs, proxy::ListenerSpec spec) {
    const bool present = std::any_of(specs.begin(), specs.end(), [&](const proxy::ListenerSpec& other) {
        return other.same_socket(spec);
    });
    if (!present) {
        specs.push_back(std::move(spec));
    }
}

void plan_pinned(const policy::ListenConfig& listen, const hal::NetworkInterface& nic, ListenerPlan& plan) {
    if (!listen.follows_interface()) {
        const bool has_address = is_wildcard(listen.address) ||
                                 std::any_of(nic.addresses.begin(), nic.addresses.end(),
                                             [&](const hal::InterfaceAddress& address) {
                                                 return usable(address) && address.address == listen.address;
                                             });
        if (has_address) {
            add_unique(plan.specs, spec_for(listen, listen.address));
        } else {
            plan.waiting.push_back(listen.interface + " (no address " + listen.address + ")");
        }
        return;
    }
    bool any = false;
    for (const hal::InterfaceAddress& address : nic.addresses) {
        if (usable(address)) {
            add_unique(plan.specs, spec_for(listen, address.address));
            any = true;
        }
    }
    if (!any) {
        plan.waiting.push_back(listen.interface + " (no address)");
    }
}

} // namespace listener_plan_detail

bool needs_interface_monitor(const policy::Config& config) {
    return std::any_of(config.listeners.begin(), config.listeners.end(),
                       [](const policy::ListenConfig& listen) { return !listen.interface.empty(); }) ||
           (config.metrics && !config.metrics->interface.empty());
}

void plan_listener(const policy::ListenConfig& listen, const std::vector<hal::NetworkInterface>* interfaces,
                   ListenerPlan& plan) {
    namespace local = listener_plan_detail;
    if (listen.interface.empty()) {
        local::add_unique(plan.specs, local::spec_for(listen, listen.address));
        return;
    }
    if (interfaces == nullptr) {
        if (listen.follows_interface()) {
            plan.waiting.push_back(listen.interface + " (interfaces are not watched)");
        } else {
            local::add_unique(plan.specs, local::spec_for(listen, listen.address));
        }
        return;
    }
    const hal::NetworkInterface* nic = local::find_interface(*interfaces, listen.interface);
    if (nic == nullptr) {
        plan.waiting.push_back(listen.interface + " (no such interface)");
        return;
    }
    local::plan_pinned(listen, *nic, plan);
}

ListenerPlan plan_listeners(const policy::Config& config,
                            const std::vector<hal::NetworkInterface>* interfaces) {
    ListenerPlan plan;
    for (const policy::ListenConfig& listen : config.listeners) {
        plan_listener(listen, interfaces, plan);
    }
    return plan;
}

ListenerPlan plan_metrics_listeners(const policy::Config& config,
                                    const std::vector<hal::NetworkInterface>* interfaces) {
    ListenerPlan plan;
    if (config.metrics) {
        plan_listener(*config.metrics, interfaces, plan);
    }
    return plan;
}

} // namespace relayguard::firmware
