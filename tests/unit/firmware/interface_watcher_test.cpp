// The interface watcher wakes the event loop when the (simulated) NIC changes, as the kernel's rtnetlink
// events would, and the listener plan then follows the new addresses.
#include "interface_watcher.hpp"
#include "listener_plan.hpp"

#include <relayguard/hal/sim_nic.hpp>
#include <relayguard/policy/config_loader.hpp>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace interface_watcher_test {

// Runs the loop until `done` or a bounded number of turns.
template <typename Predicate>
bool run_until(asio::io_context& io, Predicate done) {
    for (int turn = 0; turn < 1000 && !done(); ++turn) {
        io.run_for(std::chrono::milliseconds(10));
        io.restart();
    }
    return done();
}

} // namespace interface_watcher_test

TEST_CASE("The interface watcher reports NIC changes through the event loop", "[firmware][interfaces]") {
    const relayguard::policy::ConfigLoadResult loaded =
        relayguard::policy::load_config_text("<relayguard>\n  <listen interface=\"lan1\" port=\"25\"/>\n  "
                                             "<upstream host=\"192.0.2.10\"/>\n</relayguard>\n",
                                             "watch.xml");
    REQUIRE(loaded.config);
    relayguard::hal::SimNic nic;
    REQUIRE_FALSE(nic.start());
    asio::io_context io(1);
    unsigned changes = 0;
    std::vector<std::string> planned;
    relayguard::firmware::InterfaceWatcher watcher(io, nic, [&] {
        ++changes;
        planned.clear();
        for (const auto& spec :
             relayguard::firmware::plan_listeners(*loaded.config, &nic.interfaces()).specs) {
            planned.push_back(spec.name());
        }
    });
    watcher.start();

    nic.add_interface("lan1");
    nic.add_address("lan1", "192.0.2.1", 24);
    REQUIRE(interface_watcher_test::run_until(io, [&] { return changes >= 1; }));
    CHECK(planned == std::vector<std::string>{"192.0.2.1:25%lan1"});

    const unsigned before = changes;
    nic.remove_address("lan1", "192.0.2.1");
    REQUIRE(interface_watcher_test::run_until(io, [&] { return changes > before; }));
    CHECK(planned.empty());

    // Stopped: further changes no longer reach the callback.
    watcher.stop();
    const unsigned after_stop = changes;
    nic.add_address("lan1", "192.0.2.2", 24);
    io.run_for(std::chrono::milliseconds(50));
    CHECK(changes == after_stop);
}
