// Which sockets a configuration asks for as interfaces come and go, driven by the simulated NIC.
#include "listener_plan.hpp"

#include <relayguard/hal/sim_nic.hpp>
#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

namespace listener_plan_test {

std::shared_ptr<const relayguard::policy::Config> config_with(const std::string& listeners) {
    const relayguard::policy::ConfigLoadResult result = relayguard::policy::load_config_text(
        "<relayguard>\n" + listeners + "  <upstream host=\"192.0.2.10\"/>\n</relayguard>\n", "plan.xml");
    REQUIRE(result.config);
    return result.config;
}

std::vector<std::string> names(const relayguard::firmware::ListenerPlan& plan) {
    std::vector<std::string> result;
    for (const relayguard::proxy::ListenerSpec& spec : plan.specs) {
        result.push_back(spec.name());
    }
    std::sort(result.begin(), result.end());
    return result;
}

// Publishes what the simulated NIC staged, as the event loop would on its descriptor.
void publish(relayguard::hal::SimNic& nic) {
    nic.process_events();
}

} // namespace listener_plan_test

TEST_CASE("Listeners without an interface are planned as written", "[firmware][plan]") {
    const auto config =
        listener_plan_test::config_with("  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                                        "  <listen address=\"::1\" port=\"2526\" tls=\"none\"/>\n");
    CHECK_FALSE(relayguard::firmware::needs_interface_monitor(*config));
    const relayguard::firmware::ListenerPlan plan = relayguard::firmware::plan_listeners(*config, nullptr);
    CHECK(listener_plan_test::names(plan) == std::vector<std::string>{"127.0.0.1:2525", "[::1]:2526"});
    CHECK(plan.waiting.empty());
}

TEST_CASE("A listener that follows an interface gets one socket per usable address", "[firmware][plan]") {
    const auto config = listener_plan_test::config_with("  <listen interface=\"lan1\" port=\"25\"/>\n");
    CHECK(relayguard::firmware::needs_interface_monitor(*config));
    relayguard::hal::SimNic nic;
    REQUIRE_FALSE(nic.start());

    SECTION("no such interface yet: nothing to bind, and it says why") {
        const auto plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
        CHECK(plan.specs.empty());
        CHECK(plan.waiting == std::vector<std::string>{"lan1 (no such interface)"});
    }
    SECTION("the interface without an address") {
        nic.add_interface("lan1");
        listener_plan_test::publish(nic);
        const auto plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
        CHECK(plan.specs.empty());
        CHECK(plan.waiting == std::vector<std::string>{"lan1 (no address)"});
    }
    SECTION("addresses appear and disappear") {
        nic.add_interface("lan1");
        nic.add_interface("wan");
        nic.add_address("lan1", "192.0.2.1", 24);
        nic.add_address("lan1", "2001:db8::1", 64);
        nic.add_address("lan1", "fe80::1", 64); // link-local: needs a scope, never planned
        nic.add_address("wan", "198.51.100.7", 24);
        listener_plan_test::publish(nic);
        auto plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
        CHECK(listener_plan_test::names(plan) ==
              std::vector<std::string>{"192.0.2.1:25%lan1", "[2001:db8::1]:25%lan1"});
        for (const auto& spec : plan.specs) {
            CHECK(spec.interface == "lan1");
        }
        nic.remove_address("lan1", "192.0.2.1");
        listener_plan_test::publish(nic);
        plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
        CHECK(listener_plan_test::names(plan) == std::vector<std::string>{"[2001:db8::1]:25%lan1"});
        nic.remove_interface("lan1");
        listener_plan_test::publish(nic);
        plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
        CHECK(plan.specs.empty());
    }
}

TEST_CASE("A pinned listener with an address waits until the interface has it", "[firmware][plan]") {
    const auto config =
        listener_plan_test::config_with("  <listen address=\"192.0.2.1\" port=\"25\" interface=\"lan1\"/>\n"
                                        "  <listen address=\"0.0.0.0\" port=\"587\" interface=\"lan2\"/>\n");
    relayguard::hal::SimNic nic;
    REQUIRE_FALSE(nic.start());
    nic.add_interface("lan1");
    nic.add_address("lan1", "192.0.2.99", 24);
    listener_plan_test::publish(nic);
    auto plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
    CHECK(plan.specs.empty());
    CHECK(plan.waiting ==
          std::vector<std::string>{"lan1 (no address 192.0.2.1)", "lan2 (no such interface)"});

    nic.add_address("lan1", "192.0.2.1", 24);
    nic.add_interface("lan2"); // a wildcard only needs the interface to exist
    listener_plan_test::publish(nic);
    plan = relayguard::firmware::plan_listeners(*config, &nic.interfaces());
    CHECK(listener_plan_test::names(plan) ==
          std::vector<std::string>{"0.0.0.0:587%lan2", "192.0.2.1:25%lan1"});
    CHECK(plan.waiting.empty());
}

TEST_CASE("Without an interface monitor pinned listeners with an address are planned as written",
          "[firmware][plan]") {
    const auto config =
        listener_plan_test::config_with("  <listen address=\"192.0.2.1\" port=\"25\" interface=\"lan1\"/>\n"
                                        "  <listen interface=\"lan2\" port=\"25\"/>\n");
    const auto plan = relayguard::firmware::plan_listeners(*config, nullptr);
    CHECK(listener_plan_test::names(plan) == std::vector<std::string>{"192.0.2.1:25%lan1"});
    CHECK(plan.waiting == std::vector<std::string>{"lan2 (interfaces are not watched)"});
}

TEST_CASE("The metrics listener is planned like a listen element, and apart from them", "[firmware][plan]") {
    using relayguard::firmware::plan_metrics_listeners;
    const auto fixed = listener_plan_test::config_with("  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                                                       "  <metrics listen=\"127.0.0.1:9125\"/>\n");
    CHECK_FALSE(relayguard::firmware::needs_interface_monitor(*fixed));
    CHECK(listener_plan_test::names(plan_metrics_listeners(*fixed, nullptr)) ==
          std::vector<std::string>{"127.0.0.1:9125"});
    CHECK(listener_plan_test::names(relayguard::firmware::plan_listeners(*fixed, nullptr)) ==
          std::vector<std::string>{"127.0.0.1:2525"});

    const auto without = listener_plan_test::config_with("  <listen address=\"127.0.0.1\" port=\"2525\"/>\n");
    CHECK(plan_metrics_listeners(*without, nullptr).specs.empty());

    // Following the management interface: the SMTP listener alone would not need the monitor.
    const auto following =
        listener_plan_test::config_with("  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                                        "  <metrics listen=\":9125\" interface=\"mgmt\"/>\n");
    CHECK(relayguard::firmware::needs_interface_monitor(*following));
    relayguard::hal::SimNic nic;
    REQUIRE_FALSE(nic.start());
    CHECK(plan_metrics_listeners(*following, &nic.interfaces()).waiting ==
          std::vector<std::string>{"mgmt (no such interface)"});
    nic.add_interface("mgmt");
    nic.add_address("mgmt", "192.0.2.9", 24);
    listener_plan_test::publish(nic);
    CHECK(listener_plan_test::names(plan_metrics_listeners(*following, &nic.interfaces())) ==
          std::vector<std::string>{"192.0.2.9:9125%mgmt"});
}
