// The rtnetlink parser (hal/linux/netlink_parse.hpp) on hostile buffers, as a dump reply (the first
// four octets are the awaited sequence number) or as multicast events, over a snapshot that already
// holds interfaces: every message is counted once at most, and what it builds is bounded by the input.
#include "fuzz_check.hpp"
#include "netlink_parse.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) {
        return 0;
    }
    std::optional<std::uint32_t> sequence;
    if (data[0] % 2 == 1) {
        std::uint32_t value = 0;
        std::memcpy(&value, data + 1, sizeof value);
        sequence = value;
    }
    std::vector<relayguard::hal::NetworkInterface> interfaces(2);
    interfaces[0].name = "lo";
    interfaces[0].index = 1;
    interfaces[0].loopback = true;
    interfaces[1].name = "eth0";
    interfaces[1].index = 2;
    const std::uint8_t* messages = data + 5;
    const std::size_t length = size - 5;
    const auto outcome =
        relayguard::hal::netlink_parse::apply_messages(messages, length, interfaces, sequence);
    // A netlink message header is 16 octets: no more messages than that fit, plus one for trailing bytes.
    const std::size_t most = length / 16 + 1;
    FUZZ_CHECK(outcome.applied + outcome.ignored + outcome.malformed <= most);
    FUZZ_CHECK(interfaces.size() <= 2 + outcome.applied);
    if (!sequence) {
        FUZZ_CHECK(!outcome.done && outcome.error == 0);
    }
    return 0;
}
