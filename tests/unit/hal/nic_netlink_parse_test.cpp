// The rtnetlink parser fed by hand-made buffers: well-formed kernel messages, and the truncated, oversized
// and corrupted ones a hostile or buggy sender could produce. Each buffer is handed over in a heap block of
// exactly its size, so that AddressSanitizer reports any read past its end.
#include "../../../hal/linux/netlink_parse.hpp"

#include <relayguard/hal/nic.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <memory>
#include <net/if.h>
#include <optional>
#include <random>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace nic_netlink_parse_test {

using relayguard::hal::InterfaceAddress;
using relayguard::hal::NetworkInterface;
using relayguard::hal::netlink_parse::apply_messages;
using relayguard::hal::netlink_parse::BatchOutcome;
using relayguard::hal::netlink_parse::interface_lower_up;
using Bytes = std::vector<std::uint8_t>;

constexpr unsigned lo_flags = IFF_UP | IFF_RUNNING | IFF_LOOPBACK | interface_lower_up;

// Builds netlink messages the way the kernel lays them out: 4-byte aligned, lengths filled in at the end.
class Messages {
public:
    Messages& begin(std::uint16_t type, std::uint16_t flags = 0, std::uint32_t sequence = 0) {
        start_ = bytes_.size();
        nlmsghdr header{};
        header.nlmsg_type = type;
        header.nlmsg_flags = flags;
        header.nlmsg_seq = sequence;
        return append(&header, sizeof header);
    }
    Messages& link_header(int index, unsigned flags, unsigned char family = AF_UNSPEC) {
        ifinfomsg info{};
        info.ifi_family = family;
        info.ifi_index = index;
        info.ifi_flags = flags;
        return append(&info, sizeof info);
    }
    Messages& address_header(unsigned char family, std::uint8_t prefix_length, std::uint32_t index,
                             std::uint8_t flags = 0) {
        ifaddrmsg info{};
        info.ifa_family = family;
        info.ifa_prefixlen = prefix_length;
        info.ifa_flags = flags;
        info.ifa_index = index;
        return append(&info, sizeof info);
    }
    Messages& attribute(std::uint16_t type, const void* data, std::size_t length) {
        rtattr header{};
        header.rta_type = type;
        header.rta_len = static_cast<std::uint16_t>(RTA_LENGTH(length));
        append(&header, sizeof header);
        return append(data, length);
    }
    Messages& name(const std::string& text) { return attribute(IFLA_IFNAME, text.c_str(), text.size() + 1); }
    Messages& address(std::uint16_t type, const std::string& text) {
        std::uint8_t binary[16] = {};
        const bool ipv6 = text.find(':') != std::string::npos;
        REQUIRE(::inet_pton(ipv6 ? AF_INET6 : AF_INET, text.c_str(), binary) == 1);
        return attribute(type, binary, ipv6 ? 16 : 4);
    }
    Messages& flags_attribute(std::uint32_t flags) { return attribute(IFA_FLAGS, &flags, sizeof flags); }
    // Sets the message length to what was appended since begin(), or to `claimed`.
    Messages& end(std::optional<std::uint32_t> claimed = std::nullopt) {
        const auto length = static_cast<std::uint32_t>(bytes_.size() - start_);
        const std::uint32_t value = claimed.value_or(length);
        std::memcpy(bytes_.data() + start_ + offsetof(nlmsghdr, nlmsg_len), &value, sizeof value);
        return *this;
    }
    Messages& raw(const Bytes& more) { return append(more.data(), more.size()); }

    // A whole RTM_NEWLINK / RTM_NEWADDR in one call, for the well-formed cases.
    Messages& link(std::uint16_t type, int index, const std::string& link_name, unsigned flags,
                   std::uint32_t sequence = 0) {
        return begin(type, 0, sequence).link_header(index, flags).name(link_name).end();
    }
    Messages& ip(std::uint16_t type, std::uint32_t index, const std::string& text, std::uint8_t prefix_length,
                 std::uint8_t flags = 0, std::uint32_t sequence = 0) {
        const bool ipv6 = text.find(':') != std::string::npos;
        begin(type, 0, sequence).address_header(ipv6 ? AF_INET6 : AF_INET, prefix_length, index, flags);
        if (!ipv6) {
            address(IFA_LOCAL, text);
        }
        return address(IFA_ADDRESS, text).end();
    }
    Messages& done(std::uint32_t sequence, int status = 0) {
        return begin(NLMSG_DONE, NLM_F_MULTI, sequence).append(&status, sizeof status).end();
    }

    Bytes bytes() const { return bytes_; }

private:
    Messages& append(const void* data, std::size_t length) {
        const auto* octets = static_cast<const std::uint8_t*>(data);
        bytes_.insert(bytes_.end(), octets, octets + length);
        bytes_.resize((bytes_.size() + 3) & ~std::size_t{3}, 0); // NLMSG_ALIGN / RTA_ALIGN padding
        return *this;
    }

    Bytes bytes_;
    std::size_t start_ = 0;
};

// Parses a copy of `bytes` in a heap block of exactly their size (at `offset` bytes into it, to try
// unaligned input).
BatchOutcome parse(const Bytes& bytes, std::vector<NetworkInterface>& interfaces,
                   std::optional<std::uint32_t> sequence = std::nullopt, std::size_t offset = 0) {
    const std::size_t size = bytes.size() + offset;
    std::unique_ptr<std::uint8_t[]> block(new std::uint8_t[size == 0 ? 1 : size]);
    if (!bytes.empty()) {
        std::memcpy(block.get() + offset, bytes.data(), bytes.size());
    }
    return apply_messages(block.get() + offset, bytes.size(), interfaces, sequence);
}

InterfaceAddress ip(const std::string& text, std::uint8_t prefix_length, bool tentative = false) {
    InterfaceAddress expected;
    expected.address = text;
    expected.prefix_length = prefix_length;
    expected.ipv6 = text.find(':') != std::string::npos;
    expected.link_local = text.rfind("fe80:", 0) == 0;
    expected.tentative = tentative;
    return expected;
}

// What must hold whatever the input: sorted by index, no index twice, every interface named.
void require_consistent(const std::vector<NetworkInterface>& interfaces) {
    for (std::size_t i = 0; i < interfaces.size(); ++i) {
        REQUIRE_FALSE(interfaces[i].name.empty());
        REQUIRE(interfaces[i].name.size() < IFNAMSIZ);
        REQUIRE(interfaces[i].index > 0);
        if (i > 0) {
            REQUIRE(interfaces[i - 1].index < interfaces[i].index);
        }
    }
}

// A realistic dump answer: links out of index order, addresses of both families, a point-to-point peer.
Bytes sample_dump(std::uint32_t sequence) {
    Messages messages;
    messages.link(RTM_NEWLINK, 2, "eth0", IFF_UP, sequence)
        .link(RTM_NEWLINK, 1, "lo", lo_flags, sequence)
        .link(RTM_NEWLINK, 3, "ppp0", IFF_UP | IFF_RUNNING | IFF_POINTOPOINT, sequence)
        .ip(RTM_NEWADDR, 1, "127.0.0.1", 8, 0, sequence)
        .ip(RTM_NEWADDR, 1, "::1", 128, 0, sequence)
        .ip(RTM_NEWADDR, 2, "fe80::1", 64, IFA_F_TENTATIVE, sequence);
    // The 8-bit ifa_flags say tentative, the IFA_FLAGS attribute (authoritative) says it is done.
    messages.begin(RTM_NEWADDR, 0, sequence)
        .address_header(AF_INET6, 64, 2, IFA_F_TENTATIVE)
        .address(IFA_ADDRESS, "2001:db8::5")
        .flags_attribute(IFA_F_PERMANENT)
        .end();
    messages.begin(RTM_NEWADDR, 0, sequence)
        .address_header(AF_INET, 32, 3)
        .address(IFA_ADDRESS, "10.0.0.2")
        .address(IFA_LOCAL, "10.0.0.1")
        .end();
    return messages.done(sequence).bytes();
}

} // namespace nic_netlink_parse_test

TEST_CASE("netlink parser: a dump of links and addresses builds an ordered snapshot", "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    std::vector<NetworkInterface> interfaces;
    const auto outcome = parse(sample_dump(7), interfaces, 7u);
    CHECK(outcome.changed);
    CHECK(outcome.done);
    CHECK(outcome.error == 0);
    CHECK_FALSE(outcome.dump_interrupted);
    CHECK(outcome.applied == 8);
    CHECK(outcome.malformed == 0);

    require_consistent(interfaces);
    REQUIRE(interfaces.size() == 3);
    const NetworkInterface& lo = interfaces[0];
    CHECK(lo.name == "lo");
    CHECK(lo.index == 1);
    CHECK(lo.up);
    CHECK(lo.running);
    CHECK(lo.lower_up);
    CHECK(lo.loopback);
    REQUIRE(lo.addresses.size() == 2);
    CHECK(lo.addresses[0] == ip("127.0.0.1", 8));
    CHECK(lo.addresses[1] == ip("::1", 128));

    const NetworkInterface& eth = interfaces[1];
    CHECK(eth.name == "eth0");
    CHECK(eth.up);
    CHECK_FALSE(eth.running);
    CHECK_FALSE(eth.lower_up);
    CHECK_FALSE(eth.loopback);
    REQUIRE(eth.addresses.size() == 2);
    CHECK(eth.addresses[0] == ip("2001:db8::5", 64, false));
    CHECK(eth.addresses[1] == ip("fe80::1", 64, true));
    CHECK(eth.addresses[1].link_local);

    REQUIRE(interfaces[2].addresses.size() == 1);
    CHECK(interfaces[2].addresses[0] == ip("10.0.0.1", 32));

    // The same dump again changes nothing.
    const auto again = parse(sample_dump(8), interfaces, 8u);
    CHECK(again.done);
    CHECK_FALSE(again.changed);
    CHECK(again.applied == 8);
}

TEST_CASE("netlink parser: events rename, flag, add, finish DAD and remove", "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    std::vector<NetworkInterface> interfaces;
    REQUIRE(parse(sample_dump(1), interfaces, 1u).done);

    SECTION("a repeated RTM_NEWLINK is no change, a rename and a carrier change are") {
        CHECK_FALSE(parse(Messages().link(RTM_NEWLINK, 2, "eth0", IFF_UP).bytes(), interfaces).changed);
        const auto outcome =
            parse(Messages().link(RTM_NEWLINK, 2, "wan", IFF_UP | IFF_RUNNING | interface_lower_up).bytes(),
                  interfaces);
        CHECK(outcome.changed);
        CHECK(interfaces[1].name == "wan");
        CHECK(interfaces[1].running);
        CHECK(interfaces[1].lower_up);
        CHECK(interfaces[1].addresses.size() == 2); // a link message leaves the addresses alone
        // Without IFLA_IFNAME (as in wireless events) the name stays.
        CHECK(parse(Messages().begin(RTM_NEWLINK).link_header(2, IFF_UP).end().bytes(), interfaces).changed);
        CHECK(interfaces[1].name == "wan");
        CHECK_FALSE(interfaces[1].running);
    }
    SECTION("an address stops being tentative") {
        CHECK(
            parse(Messages().ip(RTM_NEWADDR, 2, "fe80::1", 64, IFA_F_PERMANENT).bytes(), interfaces).changed);
        CHECK(interfaces[1].addresses[1] == ip("fe80::1", 64, false));
        // Optimistic addresses may be bound while DAD runs; a failed DAD is final.
        CHECK(
            parse(
                Messages().ip(RTM_NEWADDR, 2, "2001:db8::6", 64, IFA_F_TENTATIVE | IFA_F_OPTIMISTIC).bytes(),
                interfaces)
                .changed);
        CHECK(parse(Messages().ip(RTM_NEWADDR, 2, "2001:db8::7", 64, IFA_F_DADFAILED).bytes(), interfaces)
                  .changed);
        REQUIRE(interfaces[1].addresses.size() == 4);
        CHECK_FALSE(interfaces[1].addresses[1].tentative);
        CHECK(interfaces[1].addresses[2] == ip("2001:db8::7", 64, true));
    }
    SECTION("addresses come and go; IPv4 keeps one entry per prefix length, IPv6 one per address") {
        CHECK(
            parse(Messages().ip(RTM_NEWADDR, 2, "192.0.2.1", 24).ip(RTM_NEWADDR, 2, "192.0.2.1", 16).bytes(),
                  interfaces)
                .changed);
        CHECK(parse(Messages().ip(RTM_NEWADDR, 2, "2001:db8::5", 48).bytes(), interfaces).changed);
        const auto& addresses = interfaces[1].addresses;
        REQUIRE(addresses.size() == 4);
        CHECK(addresses[0] == ip("192.0.2.1", 16));
        CHECK(addresses[1] == ip("192.0.2.1", 24));
        CHECK(addresses[2] == ip("2001:db8::5", 48));

        CHECK(parse(Messages().ip(RTM_DELADDR, 2, "192.0.2.1", 24).bytes(), interfaces).changed);
        CHECK_FALSE(parse(Messages().ip(RTM_DELADDR, 2, "192.0.2.1", 24).bytes(), interfaces).changed);
        CHECK(parse(Messages().ip(RTM_DELADDR, 2, "2001:db8::5", 64).bytes(), interfaces).changed);
        REQUIRE(addresses.size() == 2);
        CHECK(addresses[0] == ip("192.0.2.1", 16));
    }
    SECTION("addresses of unknown interfaces and bridge-port messages are ignored") {
        const auto outcome = parse(Messages()
                                       .ip(RTM_NEWADDR, 9, "192.0.2.9", 24)
                                       .begin(RTM_DELLINK)
                                       .link_header(2, IFF_UP, AF_BRIDGE)
                                       .name("eth0")
                                       .end()
                                       .begin(RTM_NEWROUTE)
                                       .end()
                                       .begin(RTM_NEWADDR)
                                       .address_header(AF_PACKET, 0, 2)
                                       .end()
                                       .bytes(),
                                   interfaces);
        CHECK_FALSE(outcome.changed);
        CHECK(outcome.ignored == 4);
        CHECK(outcome.malformed == 0);
        CHECK(interfaces.size() == 3);
    }
    SECTION("RTM_DELLINK removes the interface with its addresses; a new one is inserted in order") {
        CHECK(parse(Messages().begin(RTM_DELLINK).link_header(2, 0).end().bytes(), interfaces).changed);
        REQUIRE(interfaces.size() == 2);
        CHECK(interfaces[1].name == "ppp0");
        CHECK_FALSE(parse(Messages().begin(RTM_DELLINK).link_header(2, 0).end().bytes(), interfaces).changed);
        CHECK(parse(Messages().link(RTM_NEWLINK, 2, "eth0", IFF_UP).bytes(), interfaces).changed);
        REQUIRE(interfaces.size() == 3);
        CHECK(interfaces[1].name == "eth0");
        CHECK(interfaces[1].addresses.empty());
    }
    // Control messages mean nothing outside a dump.
    const auto control = parse(Messages().done(0, -EINTR).bytes(), interfaces);
    CHECK_FALSE(control.done);
    CHECK(control.error == 0);
    require_consistent(interfaces);
}

TEST_CASE("netlink parser: dump sequence numbers, errors and interruptions", "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    std::vector<NetworkInterface> interfaces;

    SECTION("answers to another request are ignored, the walk ends at NLMSG_DONE") {
        const auto outcome = parse(Messages()
                                       .link(RTM_NEWLINK, 1, "lo", lo_flags, 4)
                                       .link(RTM_NEWLINK, 2, "eth0", IFF_UP, 5)
                                       .done(5)
                                       .link(RTM_NEWLINK, 3, "eth1", IFF_UP, 5)
                                       .bytes(),
                                   interfaces, 5u);
        CHECK(outcome.done);
        CHECK(outcome.ignored == 1);
        REQUIRE(interfaces.size() == 1);
        CHECK(interfaces[0].name == "eth0");
    }
    SECTION("NLMSG_ERROR reports the errno; an acknowledgement is no error") {
        nlmsgerr ack{};
        nlmsgerr refusal{};
        refusal.error = -EPERM;
        const auto outcome =
            parse(Messages()
                      .begin(NLMSG_ERROR, 0, 5)
                      .raw(Bytes(reinterpret_cast<const std::uint8_t*>(&ack),
                                 reinterpret_cast<const std::uint8_t*>(&ack) + sizeof ack))
                      .end()
                      .begin(NLMSG_ERROR, 0, 5)
                      .raw(Bytes(reinterpret_cast<const std::uint8_t*>(&refusal),
                                 reinterpret_cast<const std::uint8_t*>(&refusal) + sizeof refusal))
                      .end()
                      .link(RTM_NEWLINK, 1, "lo", lo_flags, 5)
                      .bytes(),
                  interfaces, 5u);
        CHECK(outcome.error == EPERM);
        CHECK_FALSE(outcome.done);
        CHECK(interfaces.empty());
    }
    SECTION("a short NLMSG_ERROR is a protocol error, an absurd errno too") {
        auto outcome =
            parse(Messages().begin(NLMSG_ERROR, 0, 5).raw(Bytes(4, 0xff)).end().bytes(), interfaces, 5u);
        CHECK(outcome.error == EPROTO);
        CHECK(outcome.malformed == 1);
        outcome = parse(Messages().done(5, -2147483647 - 1).bytes(), interfaces, 5u);
        CHECK(outcome.done);
        CHECK(outcome.error == EPROTO);
        outcome = parse(Messages().done(5, -ENOBUFS).bytes(), interfaces, 5u);
        CHECK(outcome.error == ENOBUFS);
    }
    SECTION("NLM_F_DUMP_INTR marks the dump for a retry") {
        const auto outcome = parse(Messages()
                                       .begin(RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, 5)
                                       .link_header(1, lo_flags)
                                       .name("lo")
                                       .end()
                                       .done(5)
                                       .bytes(),
                                   interfaces, 5u);
        CHECK(outcome.dump_interrupted);
        CHECK(outcome.done);
    }
}

TEST_CASE("netlink parser: malformed messages are skipped whole, the good ones around them applied",
          "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    std::vector<NetworkInterface> interfaces;
    const Bytes good_before = Messages().link(RTM_NEWLINK, 1, "lo", lo_flags).bytes();
    const Bytes good_after = Messages().ip(RTM_NEWADDR, 1, "127.0.0.1", 8).bytes();

    // Messages whose own length is right but whose content is not: the walk goes on after them.
    const std::uint8_t short_address[3] = {127, 0, 0};
    const std::uint16_t short_flags = 0;
    const std::string long_name(IFNAMSIZ, 'x');
    const Bytes bad_content = GENERATE_COPY(
        Messages().begin(RTM_NEWLINK).raw(Bytes(8, 0)).end().bytes(), // shorter than ifinfomsg
        Messages().begin(RTM_NEWADDR).raw(Bytes(4, 0)).end().bytes(), // shorter than ifaddrmsg
        Messages().begin(RTM_NEWLINK).link_header(0, IFF_UP).name("zero").end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(-3, IFF_UP).name("negative").end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).end().bytes(), // new, but nameless
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).attribute(IFLA_IFNAME, "eth5", 4).end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).attribute(IFLA_IFNAME, "", 1).end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).name(long_name).end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).name("a/b").end().bytes(),
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).name("eth\n5").end().bytes(),
        // An attribute claiming more than the message holds, one of length zero, one shorter than its header.
        Messages()
            .begin(RTM_NEWLINK)
            .link_header(5, IFF_UP)
            .name("eth5")
            .raw(Bytes{40, 0, 3, 0})
            .end()
            .bytes(),
        Messages()
            .begin(RTM_NEWLINK)
            .link_header(5, IFF_UP)
            .raw(Bytes{0, 0, 3, 0})
            .name("eth5")
            .end()
            .bytes(),
        Messages()
            .begin(RTM_NEWLINK)
            .link_header(5, IFF_UP)
            .raw(Bytes{2, 0, 3, 0})
            .name("eth5")
            .end()
            .bytes(),
        // Two bytes at the end of the message that cannot be an attribute (the padding after it follows).
        Messages().begin(RTM_NEWLINK).link_header(5, IFF_UP).name("eth5").end(46).raw(Bytes(4, 0)).bytes(),
        Messages()
            .begin(RTM_NEWADDR)
            .address_header(AF_INET, 8, 1)
            .attribute(IFA_LOCAL, short_address, 3)
            .end()
            .bytes(),
        Messages()
            .begin(RTM_NEWADDR)
            .address_header(AF_INET6, 64, 1)
            .address(IFA_ADDRESS, "10.1.1.1")
            .end()
            .bytes(),
        Messages().begin(RTM_NEWADDR).address_header(AF_INET, 8, 1).end().bytes(), // no address at all
        Messages().ip(RTM_NEWADDR, 1, "10.1.1.1", 33).bytes(),
        Messages().ip(RTM_NEWADDR, 1, "2001:db8::9", 129).bytes(),
        Messages()
            .begin(RTM_NEWADDR)
            .address_header(AF_INET6, 64, 1)
            .address(IFA_ADDRESS, "2001:db8::9")
            .attribute(IFA_FLAGS, &short_flags, sizeof short_flags)
            .end()
            .bytes());

    Bytes buffer = good_before;
    buffer.insert(buffer.end(), bad_content.begin(), bad_content.end());
    // Pad the bad message to the alignment the next header needs, as its end() would have.
    buffer.resize((buffer.size() + 3) & ~std::size_t{3}, 0);
    buffer.insert(buffer.end(), good_after.begin(), good_after.end());
    const auto outcome = parse(buffer, interfaces);
    CHECK(outcome.malformed == 1);
    CHECK(outcome.applied == 2);
    require_consistent(interfaces);
    REQUIRE(interfaces.size() == 1);
    CHECK(interfaces[0].name == "lo");
    REQUIRE(interfaces[0].addresses.size() == 1);
    CHECK(interfaces[0].addresses[0] == ip("127.0.0.1", 8));
}

TEST_CASE("netlink parser: broken framing ends the walk without reading past the buffer",
          "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    std::vector<NetworkInterface> interfaces;
    const Bytes good = Messages().link(RTM_NEWLINK, 1, "lo", lo_flags).bytes();
    const auto claimed = GENERATE(as<std::uint32_t>{}, 0u, 1u, 15u, 1000u, 0xffffffffu);

    Bytes buffer = good;
    buffer.insert(buffer.end(), good.begin(), good.end());
    // The second message's header claims a length that is shorter than a header or longer than the buffer.
    std::memcpy(buffer.data() + good.size(), &claimed, sizeof claimed);
    const auto outcome = parse(buffer, interfaces);
    CHECK(outcome.applied == 1);
    CHECK(outcome.malformed == 1);
    REQUIRE(interfaces.size() == 1);

    // A lone header fragment, and nothing at all.
    CHECK(parse(Bytes(good.begin(), good.begin() + 10), interfaces).malformed == 1);
    CHECK(parse(Bytes(), interfaces).malformed == 0);
    CHECK(apply_messages(nullptr, 100, interfaces, std::nullopt).applied == 0);
}

TEST_CASE("netlink parser: every truncation and random corruption of a valid buffer is survived",
          "[hal][nic][netlink]") {
    using namespace nic_netlink_parse_test;
    const Bytes dump = sample_dump(3);

    // Every prefix, at every alignment: the parser must stop cleanly wherever the bytes end.
    for (std::size_t length = 0; length <= dump.size(); ++length) {
        for (std::size_t offset = 0; offset < 4; ++offset) {
            std::vector<NetworkInterface> interfaces;
            const auto outcome =
                parse(Bytes(dump.begin(), dump.begin() + static_cast<std::ptrdiff_t>(length)), interfaces, 3u,
                      offset);
            require_consistent(interfaces);
            CHECK(outcome.done == (length == dump.size()));
        }
    }

    // Random byte corruption with a fixed seed, so that a failure can be replayed.
    std::mt19937 random(20240917u);
    std::uniform_int_distribution<std::size_t> position(0, dump.size() - 1);
    std::uniform_int_distribution<int> octet(0, 255);
    std::uniform_int_distribution<int> count(1, 8);
    std::size_t parsed_something = 0;
    for (int round = 0; round < 3000; ++round) {
        Bytes corrupted = dump;
        for (int flips = count(random); flips > 0; --flips) {
            corrupted[position(random)] = static_cast<std::uint8_t>(octet(random));
        }
        std::vector<NetworkInterface> interfaces;
        const auto outcome =
            parse(corrupted, interfaces, round % 2 == 0 ? std::optional<std::uint32_t>(3u) : std::nullopt);
        require_consistent(interfaces);
        parsed_something += outcome.applied;
    }
    CHECK(parsed_something > 0);
}
