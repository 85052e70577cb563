#include <relayguard/hal/nic.hpp>
#include <relayguard/hal/sim_nic.hpp>

#include <catch2/catch.hpp>

#include <poll.h>
#include <stdexcept>
#include <string>

namespace nic_sim_test {

using relayguard::hal::InterfaceAddress;
using relayguard::hal::NetworkInterface;
using relayguard::hal::SimNic;

bool readable(const SimNic& nic) {
    pollfd waiting{nic.event_descriptor(), POLLIN, 0};
    return ::poll(&waiting, 1, 0) == 1 && (waiting.revents & POLLIN) != 0;
}

InterfaceAddress address(const std::string& text, std::uint8_t prefix_length, bool ipv6 = false,
                         bool link_local = false) {
    InterfaceAddress expected;
    expected.address = text;
    expected.prefix_length = prefix_length;
    expected.ipv6 = ipv6;
    expected.link_local = link_local;
    return expected;
}

} // namespace nic_sim_test

TEST_CASE("SimNic: a new interface and address are announced on the descriptor and published by "
          "process_events",
          "[hal][nic][sim]") {
    using namespace nic_sim_test;
    SimNic nic;
    REQUIRE(nic.event_descriptor() == -1);
    REQUIRE_FALSE(nic.process_events());
    REQUIRE_FALSE(nic.start().has_value());
    REQUIRE(nic.event_descriptor() >= 0);
    REQUIRE(nic.interfaces().empty());
    REQUIRE_FALSE(readable(nic));

    nic.add_interface("lan0");
    nic.add_address("lan0", "192.0.2.1", 24);
    REQUIRE(readable(nic));
    // Staged, not yet visible: as with the kernel, nothing changes until the events are read.
    REQUIRE(nic.interfaces().empty());
    REQUIRE(nic.find("lan0") == nullptr);

    REQUIRE(nic.process_events());
    REQUIRE_FALSE(readable(nic));
    REQUIRE(nic.interfaces().size() == 1);
    const NetworkInterface* lan = nic.find("lan0");
    REQUIRE(lan != nullptr);
    CHECK(lan->name == "lan0");
    CHECK(lan->index > 0);
    CHECK(lan->up);
    CHECK(lan->running);
    CHECK(lan->lower_up);
    CHECK_FALSE(lan->loopback);
    REQUIRE(lan->addresses.size() == 1);
    CHECK(lan->addresses[0] == address("192.0.2.1", 24));

    nic.remove_address("lan0", "192.0.2.1");
    REQUIRE(readable(nic));
    REQUIRE(nic.find("lan0")->addresses.size() == 1);
    REQUIRE(nic.process_events());
    REQUIRE(nic.find("lan0")->addresses.empty());

    nic.remove_interface("lan0");
    REQUIRE(nic.find("lan0") != nullptr);
    REQUIRE(nic.process_events());
    REQUIRE(nic.find("lan0") == nullptr);
    REQUIRE(nic.interfaces().empty());
}

TEST_CASE("SimNic: process_events without a change returns false", "[hal][nic][sim]") {
    using namespace nic_sim_test;
    SimNic nic;
    nic.add_interface("lo");
    nic.add_address("lo", "127.0.0.1", 8);
    REQUIRE_FALSE(nic.start().has_value());
    // Changes made before start() are its first snapshot, not news.
    REQUIRE(nic.find("lo") != nullptr);
    CHECK(nic.find("lo")->loopback);
    REQUIRE_FALSE(readable(nic));
    REQUIRE_FALSE(nic.process_events());

    // A change undone before anyone looked makes the descriptor readable but is no change.
    nic.add_address("lo", "127.0.0.2", 8);
    nic.remove_address("lo", "127.0.0.2");
    REQUIRE(readable(nic));
    REQUIRE_FALSE(nic.process_events());
    REQUIRE_FALSE(readable(nic));

    // Setting what is already so does not even signal.
    nic.set_running("lo", true);
    nic.add_address("lo", "127.0.0.1", 8);
    nic.add_interface("lo");
    REQUIRE_FALSE(readable(nic));
    REQUIRE_FALSE(nic.process_events());

    const auto started_again = nic.start();
    REQUIRE(started_again.has_value());
}

TEST_CASE("SimNic: removing unknown interfaces and addresses is harmless", "[hal][nic][sim]") {
    using namespace nic_sim_test;
    SimNic nic;
    REQUIRE_FALSE(nic.start().has_value());
    nic.add_interface("wan");
    nic.add_address("wan", "198.51.100.7", 24);
    REQUIRE(nic.process_events());

    nic.remove_interface("nosuch0");
    nic.remove_address("nosuch0", "198.51.100.7");
    nic.remove_address("wan", "198.51.100.8");
    nic.remove_address("wan", "not an address");
    nic.set_running("nosuch0", false);
    nic.add_address("nosuch0", "192.0.2.9", 24);
    REQUIRE_FALSE(readable(nic));
    REQUIRE_FALSE(nic.process_events());
    REQUIRE(nic.interfaces().size() == 1);
    REQUIRE(nic.find("wan")->addresses.size() == 1);
    REQUIRE(nic.find("nosuch0") == nullptr);
}

TEST_CASE("SimNic: carrier changes, IPv6 spelling, address order and indices", "[hal][nic][sim]") {
    using namespace nic_sim_test;
    SimNic nic;
    REQUIRE_FALSE(nic.start().has_value());
    nic.add_interface("lan0");
    nic.add_interface("wan0", false);
    nic.add_address("lan0", "2001:DB8:0::01", 64);
    nic.add_address("lan0", "fe80::1", 64);
    nic.add_address("lan0", "192.0.2.1", 24);
    REQUIRE(nic.process_events());

    REQUIRE(nic.interfaces().size() == 2);
    CHECK(nic.interfaces()[0].name == "lan0");
    CHECK(nic.interfaces()[1].name == "wan0");
    CHECK(nic.interfaces()[0].index < nic.interfaces()[1].index);
    const NetworkInterface* wan = nic.find("wan0");
    REQUIRE(wan != nullptr);
    CHECK(wan->up);
    CHECK_FALSE(wan->running);
    CHECK_FALSE(wan->lower_up);

    const auto& addresses = nic.find("lan0")->addresses;
    REQUIRE(addresses.size() == 3);
    CHECK(addresses[0] == address("192.0.2.1", 24));
    CHECK(addresses[1] == address("2001:db8::1", 64, true));
    CHECK(addresses[2] == address("fe80::1", 64, true, true));
    CHECK_FALSE(addresses[2].tentative);

    nic.remove_address("lan0", "2001:db8::1");
    nic.set_running("wan0", true);
    REQUIRE(nic.process_events());
    CHECK(nic.find("wan0")->running);
    CHECK(nic.find("wan0")->lower_up);
    REQUIRE(nic.find("lan0")->addresses.size() == 2);
    CHECK(nic.find("lan0")->addresses[1].address == "fe80::1");

    CHECK_THROWS_AS(nic.add_address("lan0", "192.0.2.300", 24), std::invalid_argument);
    CHECK_THROWS_AS(nic.add_address("lan0", "192.0.2.3", 33), std::invalid_argument);
    CHECK_THROWS_AS(nic.add_address("lan0", "2001:db8::3", 129), std::invalid_argument);
    REQUIRE_FALSE(nic.process_events());
}

TEST_CASE("InterfaceAddress equality covers every field", "[hal][nic]") {
    using namespace nic_sim_test;
    const InterfaceAddress base = address("2001:db8::1", 64, true);
    CHECK(base == address("2001:db8::1", 64, true));
    InterfaceAddress other = base;
    other.address = "2001:db8::2";
    CHECK_FALSE(base == other);
    other = base;
    other.prefix_length = 48;
    CHECK_FALSE(base == other);
    other = base;
    other.ipv6 = false;
    CHECK_FALSE(base == other);
    other = base;
    other.link_local = true;
    CHECK_FALSE(base == other);
    other = base;
    other.tentative = true;
    CHECK_FALSE(base == other);
}
