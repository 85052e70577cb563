#include <relayguard/policy/network_set.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace relayguard::policy;

namespace network_set_test {

IpAddress ip(const char* text) {
    const std::optional<IpAddress> address = IpAddress::parse(text);
    REQUIRE(address.has_value());
    return *address;
}

NetworkPrefix net(const char* text) {
    std::string error;
    const std::optional<NetworkPrefix> prefix = NetworkPrefix::parse(text, &error);
    INFO("prefix: " << text << " error: " << error);
    REQUIRE(prefix.has_value());
    return *prefix;
}

std::string parse_error(const char* text) {
    std::string error;
    const std::optional<NetworkPrefix> prefix = NetworkPrefix::parse(text, &error);
    INFO("prefix: " << text);
    CHECK_FALSE(prefix.has_value());
    return error;
}

NetworkSet set_of(std::initializer_list<const char*> texts) {
    NetworkSet set;
    for (const char* text : texts) {
        set.add(net(text));
    }
    return set;
}

// Reference containment, bit by bit, independent of NetworkPrefix::contains.
bool reference_contains(const NetworkPrefix& prefix, const IpAddress& address) {
    if (prefix.address.family() != address.family()) {
        return false;
    }
    for (unsigned index = 0; index < prefix.length; ++index) {
        if (prefix.address.bit(index) != address.bit(index)) {
            return false;
        }
    }
    return true;
}

IpAddress random_address(std::mt19937& random, bool v4) {
    std::array<std::uint8_t, 16> octets{};
    for (auto& octet : octets) {
        octet = static_cast<std::uint8_t>(random() & 0xffu);
    }
    if (v4) {
        return IpAddress::from_v4({octets[0], octets[1], octets[2], octets[3]});
    }
    octets[0] = static_cast<std::uint8_t>(octets[0] | 0x20u); // stay clear of the mapped block
    return IpAddress::from_v6(octets);
}

IpAddress flip_bits_from(const IpAddress& address, unsigned first_bit, std::mt19937& random) {
    std::array<std::uint8_t, 16> octets = address.octets();
    for (unsigned index = first_bit; index < address.bit_count(); ++index) {
        if (random() & 1u) {
            octets[index / 8] = static_cast<std::uint8_t>(octets[index / 8] ^ (0x80u >> (index % 8)));
        }
    }
    if (address.is_v4()) {
        return IpAddress::from_v4({octets[0], octets[1], octets[2], octets[3]});
    }
    return IpAddress::from_v6(octets);
}

// The prefix of `length` bits around `address`, checked to survive a trip through its own text.
NetworkPrefix truncated(const IpAddress& address, unsigned length) {
    std::array<std::uint8_t, 16> octets = address.octets();
    for (unsigned index = length; index < address.bit_count(); ++index) {
        octets[index / 8] = static_cast<std::uint8_t>(octets[index / 8] & ~(0x80u >> (index % 8)));
    }
    const NetworkPrefix prefix{address.is_v4()
                                   ? IpAddress::from_v4({octets[0], octets[1], octets[2], octets[3]})
                                   : IpAddress::from_v6(octets),
                               length};
    const std::optional<NetworkPrefix> reparsed = NetworkPrefix::parse(prefix.to_string());
    REQUIRE(reparsed.has_value());
    REQUIRE(*reparsed == prefix);
    return prefix;
}

} // namespace network_set_test

TEST_CASE("NetworkPrefix parses IPv4 and IPv6 CIDR text", "[network]") {
    using network_set_test::ip;
    using network_set_test::net;
    const NetworkPrefix v4 = net("192.0.2.0/24");
    CHECK(v4.address == ip("192.0.2.0"));
    CHECK(v4.length == 24u);
    CHECK(v4.to_string() == "192.0.2.0/24");

    const NetworkPrefix v6 = net("2001:DB8::/32");
    CHECK(v6.address == ip("2001:db8::"));
    CHECK(v6.length == 32u);
    CHECK(v6.to_string() == "2001:db8::/32");

    CHECK(net("0.0.0.0/0").to_string() == "0.0.0.0/0");
    CHECK(net("::/0").to_string() == "::/0");
    CHECK(net("10.0.0.0/8") == NetworkPrefix{ip("10.0.0.0"), 8});
    CHECK(net("203.0.113.9/32").to_string() == "203.0.113.9/32");
    CHECK(net("2001:db8::1/128").to_string() == "2001:db8::1/128");
    CHECK(net("192.0.2.128/25").to_string() == "192.0.2.128/25");
    CHECK(net("2001:db8:8000::/33").to_string() == "2001:db8:8000::/33");
}

TEST_CASE("NetworkPrefix treats a bare address as a full-length prefix", "[network]") {
    using network_set_test::net;
    CHECK(net("192.0.2.1") == NetworkPrefix{network_set_test::ip("192.0.2.1"), 32});
    CHECK(net("::1") == NetworkPrefix{network_set_test::ip("::1"), 128});
    CHECK(net("::ffff:192.0.2.1") == NetworkPrefix{network_set_test::ip("192.0.2.1"), 32});
}

TEST_CASE("NetworkPrefix turns an IPv4-mapped prefix into IPv4", "[network]") {
    using network_set_test::net;
    const NetworkPrefix mapped = net("::ffff:10.0.0.0/104");
    CHECK(mapped.address.is_v4());
    CHECK(mapped == net("10.0.0.0/8"));
    CHECK(mapped.to_string() == "10.0.0.0/8");
    CHECK(net("::ffff:0:0/96").to_string() == "0.0.0.0/0");
    CHECK(net("::ffff:192.0.2.7/128").to_string() == "192.0.2.7/32");
    CHECK(net("::FFFF:C000:0200/120").to_string() == "192.0.2.0/24");

    CHECK(network_set_test::parse_error("::ffff:0:0/95") ==
          "an IPv4-mapped prefix needs a length of at least 96");
    CHECK(network_set_test::parse_error("::ffff:0.0.0.0/80") ==
          "an IPv4-mapped prefix needs a length of at least 96");
    CHECK(network_set_test::parse_error("::ffff:10.0.0.1/104") == "host bits set; did you mean 10.0.0.0/8?");
}

TEST_CASE("NetworkPrefix rejects host bits below the length", "[network]") {
    using network_set_test::parse_error;
    CHECK(parse_error("192.0.2.1/24") == "host bits set; did you mean 192.0.2.0/24?");
    CHECK(parse_error("10.1.2.3/8") == "host bits set; did you mean 10.0.0.0/8?");
    CHECK(parse_error("0.0.0.1/0") == "host bits set; did you mean 0.0.0.0/0?");
    CHECK(parse_error("192.0.2.129/25") == "host bits set; did you mean 192.0.2.128/25?");
    CHECK(parse_error("2001:db8::1/64") == "host bits set; did you mean 2001:db8::/64?");
    CHECK(parse_error("::1/0") == "host bits set; did you mean ::/0?");
    CHECK(parse_error("2001:db8:ffff::/33") == "host bits set; did you mean 2001:db8:8000::/33?");
}

TEST_CASE("NetworkPrefix rejects malformed prefix lengths", "[network]") {
    using network_set_test::parse_error;
    const std::string v4_message = "prefix length must be a decimal number from 0 to 32";
    const std::string v6_message = "prefix length must be a decimal number from 0 to 128";
    for (const char* text : {"10.0.0.0/", "10.0.0.0/33", "10.0.0.0/+8", "10.0.0.0/-8", "10.0.0.0/08",
                             "10.0.0.0/00", "10.0.0.0/8 ", "10.0.0.0/ 8", "10.0.0.0/0x8", "10.0.0.0/8/8",
                             "10.0.0.0/1000", "10.0.0.0/4294967304", "10.0.0.0/a"}) {
        CHECK(parse_error(text) == v4_message);
    }
    for (const char* text :
         {"2001:db8::/", "2001:db8::/129", "2001:db8::/032", "2001:db8::/+32", "::/256", "::ffff:0:0/129"}) {
        CHECK(parse_error(text) == v6_message);
    }
}

TEST_CASE("NetworkPrefix rejects text that is not an address", "[network]") {
    using network_set_test::parse_error;
    CHECK(parse_error("") == "empty network");
    CHECK(parse_error("/24") == "not an IPv4 or IPv6 address: \"\"");
    CHECK(parse_error("example.com/24") == "not an IPv4 or IPv6 address: \"example.com\"");
    CHECK(parse_error("010.0.0.0/8") == "not an IPv4 or IPv6 address: \"010.0.0.0\"");
    CHECK(parse_error(" 10.0.0.0/8") == "not an IPv4 or IPv6 address: \" 10.0.0.0\"");
    CHECK(parse_error("fe80::%eth0/64") == "not an IPv4 or IPv6 address: \"fe80::%eth0\"");
    CHECK(parse_error("[2001:db8::]/32") == "not an IPv4 or IPv6 address: \"[2001:db8::]\"");
    CHECK(parse_error("10.0.0/8") == "not an IPv4 or IPv6 address: \"10.0.0\"");
    CHECK(parse_error(std::string(200, '1').c_str()) == "network is too long to be an address or prefix");
    CHECK_FALSE(NetworkPrefix::parse("10.0.0.0/99").has_value()); // no error pointer: still safe
}

TEST_CASE("NetworkPrefix contains addresses of its own family only", "[network]") {
    using network_set_test::ip;
    using network_set_test::net;
    const NetworkPrefix v4 = net("192.0.2.128/25");
    CHECK(v4.contains(ip("192.0.2.128")));
    CHECK(v4.contains(ip("192.0.2.255")));
    CHECK(v4.contains(ip("::ffff:192.0.2.200")));
    CHECK_FALSE(v4.contains(ip("192.0.2.127")));
    CHECK_FALSE(v4.contains(ip("192.0.3.128")));
    CHECK_FALSE(v4.contains(ip("::c000:280")));

    CHECK(net("0.0.0.0/0").contains(ip("255.255.255.255")));
    CHECK_FALSE(net("0.0.0.0/0").contains(ip("::1")));
    CHECK(net("::/0").contains(ip("2001:db8::1")));
    CHECK_FALSE(net("::/0").contains(ip("::ffff:192.0.2.1"))); // a mapped client is an IPv4 client
    CHECK(net("192.0.2.1/32").contains(ip("192.0.2.1")));
    CHECK_FALSE(net("192.0.2.1/32").contains(ip("192.0.2.0")));
    CHECK(net("2001:db8::1/128").contains(ip("2001:db8::1")));
    CHECK_FALSE(net("2001:db8::1/128").contains(ip("2001:db8::")));
    CHECK(net("2001:db8::/33").contains(ip("2001:db8:7fff::1")));
    CHECK_FALSE(net("2001:db8::/33").contains(ip("2001:db8:8000::1")));
}

TEST_CASE("NetworkSet matches IPv4 IPv6 and mapped clients", "[network]") {
    using network_set_test::ip;
    const NetworkSet set =
        network_set_test::set_of({"127.0.0.0/8", "::1/128", "192.0.2.0/24", "2001:db8::/32"});
    CHECK(set.contains(ip("127.0.0.1")));
    CHECK(set.contains(ip("127.255.255.255")));
    CHECK(set.contains(ip("::1")));
    CHECK(set.contains(ip("::ffff:127.0.0.1")));
    CHECK(set.contains(ip("::ffff:192.0.2.77")));
    CHECK(set.contains(ip("2001:db8:ffff::1")));
    CHECK_FALSE(set.contains(ip("128.0.0.1")));
    CHECK_FALSE(set.contains(ip("::2")));
    CHECK_FALSE(set.contains(ip("::ffff:198.51.100.1")));
    CHECK_FALSE(set.contains(ip("2001:db9::")));
    CHECK_FALSE(set.contains(ip("0.0.0.1"))); // ::1 is IPv6 only

    CHECK(*set.first_match(ip("127.0.0.1")) == 0u);
    CHECK(*set.first_match(ip("::1")) == 1u);
    CHECK(*set.first_match(ip("::ffff:192.0.2.77")) == 2u);
    CHECK(*set.first_match(ip("2001:db8::25")) == 3u);
    CHECK_FALSE(set.first_match(ip("10.0.0.1")).has_value());
}

TEST_CASE("NetworkSet matches a mapped prefix against IPv4 and mapped clients", "[network]") {
    using network_set_test::ip;
    const NetworkSet set = network_set_test::set_of({"::ffff:10.0.0.0/104"});
    REQUIRE(set.prefixes().size() == 1u);
    CHECK(set.prefixes()[0].to_string() == "10.0.0.0/8");
    CHECK(set.contains(ip("10.20.30.40")));
    CHECK(set.contains(ip("::ffff:10.20.30.40")));
    CHECK_FALSE(set.contains(ip("11.0.0.1")));
    CHECK_FALSE(set.contains(ip("::a14:1e28")));
}

TEST_CASE("NetworkSet handles slash-0 and full-length prefixes", "[network]") {
    using network_set_test::ip;
    const NetworkSet everything = network_set_test::set_of({"0.0.0.0/0", "::/0"});
    CHECK(everything.contains(ip("0.0.0.0")));
    CHECK(everything.contains(ip("255.255.255.255")));
    CHECK(everything.contains(ip("::")));
    CHECK(everything.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    CHECK(*everything.first_match(ip("::ffff:1.2.3.4")) == 0u);
    CHECK(*everything.first_match(ip("fe80::1")) == 1u);

    const NetworkSet v4_only = network_set_test::set_of({"0.0.0.0/0"});
    CHECK_FALSE(v4_only.contains(ip("2001:db8::1")));

    const NetworkSet hosts = network_set_test::set_of(
        {"192.0.2.1/32", "2001:db8::1/128", "0.0.0.0/32", "::/128", "255.255.255.255/32"});
    CHECK(*hosts.first_match(ip("192.0.2.1")) == 0u);
    CHECK(*hosts.first_match(ip("2001:db8::1")) == 1u);
    CHECK(*hosts.first_match(ip("0.0.0.0")) == 2u);
    CHECK(*hosts.first_match(ip("::")) == 3u);
    CHECK(*hosts.first_match(ip("255.255.255.255")) == 4u);
    CHECK_FALSE(hosts.contains(ip("192.0.2.0")));
    CHECK_FALSE(hosts.contains(ip("192.0.2.2")));
    CHECK_FALSE(hosts.contains(ip("2001:db8::")));
    CHECK_FALSE(hosts.contains(ip("2001:db8::2")));
    CHECK_FALSE(hosts.contains(ip("::1")));
    CHECK_FALSE(hosts.contains(ip("0.0.0.1")));
}

TEST_CASE("NetworkSet first_match returns the lowest rank", "[network]") {
    using network_set_test::ip;
    // Rank is insertion order, independent of how specific the prefix is.
    const NetworkSet set = network_set_test::set_of(
        {"192.0.2.0/28", "10.0.0.0/8", "192.0.2.0/24", "0.0.0.0/0", "10.1.0.0/16", "192.0.2.5/32"});
    CHECK(*set.first_match(ip("192.0.2.5")) == 0u);
    CHECK(*set.first_match(ip("192.0.2.16")) == 2u);
    CHECK(*set.first_match(ip("10.1.2.3")) == 1u);
    CHECK(*set.first_match(ip("10.2.2.3")) == 1u);
    CHECK(*set.first_match(ip("8.8.8.8")) == 3u);
    CHECK_FALSE(set.first_match(ip("2001:db8::1")).has_value());

    const NetworkSet specific_first = network_set_test::set_of({"192.0.2.5/32", "192.0.2.0/24", "0.0.0.0/0"});
    CHECK(*specific_first.first_match(ip("192.0.2.5")) == 0u);
    CHECK(*specific_first.first_match(ip("192.0.2.6")) == 1u);
    CHECK(*specific_first.first_match(ip("192.0.3.6")) == 2u);
}

TEST_CASE("NetworkSet keeps the first rank of a repeated prefix", "[network]") {
    using network_set_test::ip;
    using network_set_test::net;
    NetworkSet set = network_set_test::set_of({"192.0.2.0/24", "10.0.0.0/8"});
    set.add(net("::ffff:192.0.2.0/120")); // the same network, written as mapped IPv6
    set.add(net("192.0.2.0/24"));
    set.add(net("2001:db8::/32"));
    REQUIRE(set.prefixes().size() == 3u);
    CHECK(set.prefixes()[0] == net("192.0.2.0/24"));
    CHECK(set.prefixes()[1] == net("10.0.0.0/8"));
    CHECK(set.prefixes()[2] == net("2001:db8::/32"));
    CHECK(*set.first_match(ip("192.0.2.1")) == 0u);
    CHECK(*set.first_match(ip("2001:db8::1")) == 2u);
}

TEST_CASE("NetworkSet starts empty and reports its prefixes in order", "[network]") {
    NetworkSet set;
    CHECK(set.empty());
    CHECK(set.prefixes().empty());
    CHECK_FALSE(set.contains(network_set_test::ip("127.0.0.1")));
    CHECK_FALSE(set.contains(network_set_test::ip("::1")));
    set.add(network_set_test::net("::1"));
    set.add(network_set_test::net("127.0.0.0/8"));
    CHECK_FALSE(set.empty());
    REQUIRE(set.prefixes().size() == 2u);
    CHECK(set.prefixes()[0].to_string() == "::1/128");
    CHECK(set.prefixes()[1].to_string() == "127.0.0.0/8");
}

TEST_CASE("NetworkSet copies deeply and moves", "[network]") {
    using network_set_test::ip;
    using network_set_test::net;
    NetworkSet original = network_set_test::set_of({"192.0.2.0/24", "2001:db8::/32"});

    NetworkSet copy(original);
    original.add(net("198.51.100.0/24"));
    CHECK(original.contains(ip("198.51.100.1")));
    CHECK_FALSE(copy.contains(ip("198.51.100.1")));
    CHECK(copy.contains(ip("192.0.2.1")));
    CHECK(copy.contains(ip("2001:db8::1")));
    CHECK(copy.prefixes().size() == 2u);

    NetworkSet assigned = network_set_test::set_of({"10.0.0.0/8"});
    assigned = original;
    CHECK_FALSE(assigned.contains(ip("10.0.0.1")));
    CHECK(*assigned.first_match(ip("198.51.100.1")) == 2u);
    original.add(net("10.0.0.0/8"));
    CHECK_FALSE(assigned.contains(ip("10.0.0.1")));

    const NetworkSet& self = assigned;
    assigned = self;
    CHECK(assigned.prefixes().size() == 3u);
    CHECK(assigned.contains(ip("2001:db8::1")));

    NetworkSet moved(std::move(assigned));
    CHECK(moved.contains(ip("2001:db8::1")));
    CHECK(moved.prefixes().size() == 3u);

    NetworkSet move_assigned;
    move_assigned = std::move(moved);
    CHECK(move_assigned.contains(ip("192.0.2.200")));
    CHECK(*move_assigned.first_match(ip("198.51.100.1")) == 2u);

    NetworkSet empty_copy(NetworkSet{});
    CHECK(empty_copy.empty());
    CHECK_FALSE(empty_copy.contains(ip("::1")));
}

TEST_CASE("NetworkSet agrees with a brute-force scan over 10000 random prefixes", "[network][property]") {
    std::mt19937 random(20240611u);
    // Prefixes grow out of a few base addresses so that they nest deeply and ranks compete; a fully
    // random set would almost never put two prefixes around the same address.
    std::vector<IpAddress> bases;
    for (int index = 0; index < 24; ++index) {
        bases.push_back(network_set_test::random_address(random, index % 2 == 0));
    }
    NetworkSet set;
    std::vector<NetworkPrefix> added;
    for (int index = 0; index < 10000; ++index) {
        const IpAddress& base = bases[random() % bases.size()];
        // No prefix shorter than an eighth of the address, so that random addresses can miss.
        const unsigned shortest = base.bit_count() / 8;
        const unsigned length =
            shortest + static_cast<unsigned>(random() % (base.bit_count() - shortest + 1));
        const IpAddress address = network_set_test::flip_bits_from(base, length / 2 + length / 4, random);
        const NetworkPrefix prefix = network_set_test::truncated(address, length);
        set.add(prefix);
        added.push_back(prefix);
    }

    // Reference: deduplicated in insertion order, and the first added prefix around each address.
    std::vector<NetworkPrefix> distinct;
    for (const NetworkPrefix& prefix : added) {
        bool seen = false;
        for (const NetworkPrefix& earlier : distinct) {
            seen = seen || earlier == prefix;
        }
        if (!seen) {
            distinct.push_back(prefix);
        }
    }
    REQUIRE(set.prefixes() == distinct);

    int matched = 0;
    int shadowed = 0; // the winner is not the most specific containing prefix
    for (int query = 0; query < 3000; ++query) {
        const IpAddress& base = bases[random() % bases.size()];
        const auto flip_from = static_cast<unsigned>(random() % (base.bit_count() + 1));
        const IpAddress address = query % 10 == 0 ? network_set_test::random_address(random, query % 20 == 0)
                                                  : network_set_test::flip_bits_from(base, flip_from, random);
        std::optional<std::size_t> expected;
        unsigned longest = 0;
        for (std::size_t rank = 0; rank < distinct.size(); ++rank) {
            if (network_set_test::reference_contains(distinct[rank], address)) {
                REQUIRE(distinct[rank].contains(address));
                expected = expected ? expected : rank;
                longest = std::max(longest, distinct[rank].length);
            }
        }
        INFO("address: " << address.to_string());
        REQUIRE(set.first_match(address) == expected);
        REQUIRE(set.contains(address) == expected.has_value());
        if (expected) {
            ++matched;
            shadowed += distinct[*expected].length < longest ? 1 : 0;
        }
    }
    // The generator must actually exercise matching, and misses too.
    CHECK(matched > 1000);
    CHECK(matched < 2900);
    CHECK(shadowed > 100);
}
