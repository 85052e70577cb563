#pragma once
// The simulated NIC monitor: tests add and remove interfaces and addresses; each change makes the event
// descriptor readable (an eventfd), exactly as a kernel event would, so the code under test follows
// the same path as with the real one. All calls on one thread (the test's event loop).
#include <relayguard/hal/nic.hpp>

#include <string>
#include <vector>

namespace relayguard::hal {

class SimNic final : public NicMonitor {
public:
    SimNic();
    ~SimNic() override;
    SimNic(const SimNic&) = delete;
    SimNic& operator=(const SimNic&) = delete;

    std::optional<HalError> start() override;
    int event_descriptor() const override { return event_fd_; }
    bool process_events() override;
    const std::vector<NetworkInterface>& interfaces() const override { return published_; }

    // Changes take effect (become visible through interfaces()) at the next process_events(), as with
    // the kernel; changes made before start() are in its first snapshot. Unknown names are ignored by the
    // removers (and by set_running and add_address). An added interface is administratively up, has
    // carrier when running, and is a loopback interface when called "lo"; adding a name twice does
    // nothing. Addresses are spelled as the kernel would ("2001:DB8::01" becomes "2001:db8::1");
    // add_address throws std::invalid_argument for text that is not an address or a prefix that does
    // not fit, since that is a mistake in the test. remove_address removes every prefix length of it.
    void add_interface(const std::string& name, bool running = true);
    void remove_interface(const std::string& name);
    void set_running(const std::string& name, bool running);
    void add_address(const std::string& name, const std::string& address, std::uint8_t prefix_length);
    void remove_address(const std::string& name, const std::string& address);

private:
    NetworkInterface* staged(const std::string& name);
    void signal();

    int event_fd_ = -1;
    unsigned next_index_ = 1;
    std::vector<NetworkInterface> staged_;
    std::vector<NetworkInterface> published_;
};

} // namespace relayguard::hal
