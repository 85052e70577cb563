#include "../common/nic_snapshot.hpp"

#include <relayguard/hal/sim_nic.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace relayguard::hal {
namespace sim_nic_detail {

// A test's address text in the kernel's spelling ("2001:DB8::01" becomes "2001:db8::1"), so that what the
// simulation publishes compares equal to what the netlink back-end would report. Nothing when the text is
// not an address or the prefix is longer than the family allows.
std::optional<InterfaceAddress> read_address(const std::string& text, std::uint8_t prefix_length) {
    std::uint8_t bytes[sizeof(in6_addr)] = {};
    if (::inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        return nic_snapshot::describe_address(false, bytes, prefix_length);
    }
    if (::inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
        return nic_snapshot::describe_address(true, bytes, prefix_length);
    }
    return std::nullopt;
}

} // namespace sim_nic_detail

SimNic::SimNic() = default;

SimNic::~SimNic() {
    if (event_fd_ >= 0) {
        ::close(event_fd_);
    }
}

std::optional<HalError> SimNic::start() {
    if (event_fd_ >= 0) {
        return HalError{EALREADY, "the simulated network interface monitor is already started"};
    }
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        return HalError{error, "cannot create an eventfd: " + std::generic_category().message(error)};
    }
    event_fd_ = fd;
    published_ = staged_; // the first snapshot, as the kernel's dump would give it
    return std::nullopt;
}

bool SimNic::process_events() {
    if (event_fd_ < 0) {
        return false;
    }
    // One read resets an eventfd counter to zero; EAGAIN means nothing was signalled.
    std::uint64_t pending = 0;
    while (::read(event_fd_, &pending, sizeof pending) < 0 && errno == EINTR) {
    }
    if (nic_snapshot::same_snapshot(staged_, published_)) {
        return false;
    }
    published_ = staged_;
    return true;
}

void SimNic::add_interface(const std::string& name, bool running) {
    if (staged(name) != nullptr) {
        return;
    }
    NetworkInterface nic;
    nic.name = name;
    nic.index = next_index_++;
    nic.up = true;
    nic.running = running;
    nic.lower_up = running;
    nic.loopback = name == "lo";
    // Indices only grow, so appending keeps the order by index.
    staged_.push_back(std::move(nic));
    signal();
}

void SimNic::remove_interface(const std::string& name) {
    const auto found = std::find_if(staged_.begin(), staged_.end(),
                                    [&name](const NetworkInterface& nic) { return nic.name == name; });
    if (found == staged_.end()) {
        return;
    }
    staged_.erase(found);
    signal();
}

void SimNic::set_running(const std::string& name, bool running) {
    NetworkInterface* nic = staged(name);
    if (nic == nullptr || (nic->running == running && nic->lower_up == running)) {
        return;
    }
    nic->running = running;
    nic->lower_up = running;
    signal();
}

void SimNic::add_address(const std::string& name, const std::string& address, std::uint8_t prefix_length) {
    auto parsed = sim_nic_detail::read_address(address, prefix_length);
    if (!parsed) {
        // A mistake in the test itself, not a situation to simulate.
        throw std::invalid_argument("SimNic::add_address: \"" + address + "/" +
                                    std::to_string(prefix_length) +
                                    "\" is not an IPv4 or IPv6 address with a prefix length that fits");
    }
    NetworkInterface* nic = staged(name);
    if (nic != nullptr && nic_snapshot::put_address(*nic, std::move(*parsed))) {
        signal();
    }
}

void SimNic::remove_address(const std::string& name, const std::string& address) {
    NetworkInterface* nic = staged(name);
    if (nic == nullptr) {
        return;
    }
    const auto parsed = sim_nic_detail::read_address(address, 0);
    if (!parsed) {
        return; // not an address, so not one of this interface's
    }
    const std::string& spelled = parsed->address;
    // Every prefix length of it: the same IPv4 address may be there more than once.
    auto& list = nic->addresses;
    const auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&spelled](const InterfaceAddress& entry) { return entry.address == spelled; }),
               list.end());
    if (list.size() != before) {
        signal();
    }
}

NetworkInterface* SimNic::staged(const std::string& name) {
    const auto found = std::find_if(staged_.begin(), staged_.end(),
                                    [&name](const NetworkInterface& nic) { return nic.name == name; });
    return found == staged_.end() ? nullptr : &*found;
}

void SimNic::signal() {
    if (event_fd_ < 0) {
        return; // before start(): the first snapshot will include the change
    }
    const std::uint64_t one = 1;
    while (::write(event_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

} // namespace relayguard::hal
