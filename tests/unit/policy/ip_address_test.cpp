#include <relayguard/policy/ip_address.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace relayguard::policy;

namespace ip_address_test {

std::string canonical(const char* text) {
    const std::optional<IpAddress> address = IpAddress::parse(text);
    REQUIRE(address.has_value());
    return address->to_string();
}

} // namespace ip_address_test

TEST_CASE("IpAddress parses dotted-quad IPv4", "[network][ip]") {
    const std::optional<IpAddress> address = IpAddress::parse("192.0.2.33");
    REQUIRE(address.has_value());
    CHECK(address->is_v4());
    CHECK(address->family() == IpAddress::Family::v4);
    CHECK(address->bit_count() == 32u);
    CHECK(address->octets()[0] == 192);
    CHECK(address->octets()[1] == 0);
    CHECK(address->octets()[2] == 2);
    CHECK(address->octets()[3] == 33);
    CHECK(address->to_string() == "192.0.2.33");
    CHECK(ip_address_test::canonical("0.0.0.0") == "0.0.0.0");
    CHECK(ip_address_test::canonical("255.255.255.255") == "255.255.255.255");
    CHECK(ip_address_test::canonical("10.0.0.1") == "10.0.0.1");
}

TEST_CASE("IpAddress rejects malformed IPv4 text", "[network][ip]") {
    for (const char* text :
         {"",         "1",          "1.2.3",      "1.2.3.4.5",  "256.0.0.1",  "1.2.3.256",  "010.0.0.1",
          "1.02.3.4", "00.0.0.0",   "1..2.3",     ".1.2.3",     "1.2.3.",     "1.2.3.4 ",   " 1.2.3.4",
          "1.2.3.-4", "+1.2.3.4",   "0x7f.0.0.1", "1.2.3.4/32", "1234.1.1.1", "1.2.3.0004", "a.b.c.d",
          "127.1",    "4294967295", "1.2.3.4\n",  "[1.2.3.4]"}) {
        INFO("text: \"" << text << "\"");
        CHECK_FALSE(IpAddress::parse(text).has_value());
    }
}

TEST_CASE("IpAddress parses every RFC 4291 IPv6 text form", "[network][ip]") {
    const std::optional<IpAddress> full = IpAddress::parse("2001:0DB8:0000:0000:0008:0800:200C:417A");
    REQUIRE(full.has_value());
    CHECK(full->family() == IpAddress::Family::v6);
    CHECK(full->bit_count() == 128u);
    CHECK(full->octets()[0] == 0x20);
    CHECK(full->octets()[1] == 0x01);
    CHECK(full->octets()[15] == 0x7a);
    CHECK(*full == *IpAddress::parse("2001:db8::8:800:200c:417a"));
    CHECK(*IpAddress::parse("::") == *IpAddress::parse("0:0:0:0:0:0:0:0"));
    CHECK(*IpAddress::parse("::1") == *IpAddress::parse("0:0:0:0:0:0:0:1"));
    CHECK(*IpAddress::parse("1::") == *IpAddress::parse("1:0:0:0:0:0:0:0"));
    CHECK(*IpAddress::parse("1:2:3:4:5:6:7::") == *IpAddress::parse("1:2:3:4:5:6:7:0"));
    CHECK(*IpAddress::parse("::2:3:4:5:6:7:8") == *IpAddress::parse("0:2:3:4:5:6:7:8"));
    CHECK(*IpAddress::parse("64:ff9b::192.0.2.33") == *IpAddress::parse("64:ff9b::c000:221"));
    CHECK(*IpAddress::parse("1:2:3:4:5:6:1.2.3.4") == *IpAddress::parse("1:2:3:4:5:6:102:304"));
    CHECK(*IpAddress::parse("::1.2.3.4") == *IpAddress::parse("::102:304"));
    CHECK(IpAddress::parse("::1.2.3.4")->family() == IpAddress::Family::v6);
}

TEST_CASE("IpAddress rejects malformed IPv6 text", "[network][ip]") {
    for (const char* text : {":",
                             ":::",
                             "1:::2",
                             "1::2::3",
                             ":1:2:3:4:5:6:7",
                             "1:2:3:4:5:6:7:",
                             "1:2:3:4:5:6:7",
                             "1:2:3:4:5:6:7:8:9",
                             "::1:2:3:4:5:6:7:8",
                             "1:2:3:4:5:6:7:8::",
                             "12345::",
                             "g::1",
                             "fe80::1%eth0",
                             "fe80::1%1",
                             "[::1]",
                             "[2001:db8::1]:25",
                             " ::1",
                             "::1 ",
                             ":: 1",
                             "::1/128",
                             "1:2:3:4:5:6:7:1.2.3.4",
                             "::1.2.3",
                             "::1.2.3.4.5",
                             "::01.2.3.4",
                             "::256.1.1.1",
                             "1.2.3.4::",
                             "::1.2.3.4:1",
                             "::ffff:1.2.3.4.",
                             "2001:db8::-1",
                             "0000:0000:0000:0000:0000:0000:0000:0000:0",
                             "00000::",
                             "::ffff:010.0.0.1"}) {
        INFO("text: \"" << text << "\"");
        CHECK_FALSE(IpAddress::parse(text).has_value());
    }
}

TEST_CASE("IpAddress rejects over-long text before parsing it", "[network][ip]") {
    CHECK(IpAddress::parse("0000:0000:0000:0000:0000:0000:255.255.255.255").has_value());
    CHECK_FALSE(IpAddress::parse("0000:0000:0000:0000:0000:0000:0255.255.255.255").has_value());
    CHECK_FALSE(IpAddress::parse(std::string(4096, '1')).has_value());
    CHECK_FALSE(IpAddress::parse(std::string(4096, ':')).has_value());
}

TEST_CASE("IpAddress prints IPv6 as RFC 5952 text", "[network][ip]") {
    using ip_address_test::canonical;
    CHECK(canonical("2001:0DB8:0000:0000:0000:0000:0000:0001") == "2001:db8::1");
    CHECK(canonical("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1");    // leftmost of equal runs
    CHECK(canonical("2001:0:0:1:0:0:0:1") == "2001:0:0:1::1");          // longest run wins
    CHECK(canonical("2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1"); // a single zero group stays
    CHECK(canonical("2001:db8::aaaa:0:1") == "2001:db8::aaaa:0:1");
    CHECK(canonical("0:0:0:0:0:0:0:0") == "::");
    CHECK(canonical("0:0:0:0:0:0:0:1") == "::1");
    CHECK(canonical("1:0:0:0:0:0:0:0") == "1::");
    CHECK(canonical("1:0:0:0:0:0:0:1") == "1::1");
    CHECK(canonical("0:1:2:3:4:5:6:7") == "0:1:2:3:4:5:6:7");
    CHECK(canonical("1:2:3:4:5:6:7:0") == "1:2:3:4:5:6:7:0");
    CHECK(canonical("FE80::ABCD:00EF") == "fe80::abcd:ef");
    CHECK(canonical("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK(canonical("64:ff9b::192.0.2.33") == "64:ff9b::c000:221");
}

TEST_CASE("IpAddress folds IPv4-mapped IPv6 to IPv4", "[network][ip]") {
    const std::optional<IpAddress> mapped = IpAddress::parse("::ffff:192.0.2.1");
    REQUIRE(mapped.has_value());
    CHECK(mapped->is_v4());
    CHECK(mapped->bit_count() == 32u);
    CHECK(*mapped == *IpAddress::parse("192.0.2.1"));
    CHECK(mapped->to_string() == "192.0.2.1");
    CHECK(*IpAddress::parse("::FFFF:c000:0201") == *IpAddress::parse("192.0.2.1"));
    CHECK(*IpAddress::parse("0:0:0:0:0:ffff:10.0.0.1") == *IpAddress::parse("10.0.0.1"));
    CHECK(IpAddress::parse("::ffff:0.0.0.0")->to_string() == "0.0.0.0");

    // Neighbours of the mapped block stay IPv6.
    CHECK(IpAddress::parse("::fffe:192.0.2.1")->to_string() == "::fffe:c000:201");
    CHECK(IpAddress::parse("1::ffff:192.0.2.1")->to_string() == "1::ffff:c000:201");
    CHECK(IpAddress::parse("::ffff:0:192.0.2.1")->to_string() == "::ffff:0:c000:201");
}

TEST_CASE("IpAddress from_v6 folds mapped octets and from_v4 builds IPv4", "[network][ip]") {
    const IpAddress mapped = IpAddress::from_v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7});
    CHECK(mapped.is_v4());
    CHECK(mapped == IpAddress::from_v4({203, 0, 113, 7}));
    CHECK(mapped.to_string() == "203.0.113.7");

    const IpAddress loopback = IpAddress::from_v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    CHECK_FALSE(loopback.is_v4());
    CHECK(loopback.to_string() == "::1");
    CHECK(loopback != IpAddress::from_v4({0, 0, 0, 1}));
    // Same bytes, different family: never equal.
    CHECK(IpAddress::from_v6({}) != IpAddress::from_v4({0, 0, 0, 0}));
}

TEST_CASE("IpAddress bit counts from the most significant bit", "[network][ip]") {
    const IpAddress v4 = IpAddress::from_v4({0x80, 0x01, 0x00, 0xff});
    CHECK(v4.bit(0));
    CHECK_FALSE(v4.bit(1));
    CHECK_FALSE(v4.bit(14));
    CHECK(v4.bit(15));
    CHECK_FALSE(v4.bit(23));
    CHECK(v4.bit(24));
    CHECK(v4.bit(31));

    const IpAddress v6 = *IpAddress::parse("8000::1");
    CHECK(v6.bit(0));
    CHECK_FALSE(v6.bit(1));
    CHECK_FALSE(v6.bit(126));
    CHECK(v6.bit(127));
}

TEST_CASE("IpAddress text round-trips through parse and to_string", "[network][ip]") {
    for (const char* text : {"0.0.0.0", "127.0.0.1", "198.51.100.254", "::", "::1", "2001:db8::", "fe80::1:2",
                             "2001:db8:1:2:3:4:5:6", "2001:db8::1:0:0:1", "ff02::fb"}) {
        INFO("text: " << text);
        CHECK(ip_address_test::canonical(text) == text);
    }
}

TEST_CASE("IpAddress client_block keeps IPv4 whole and cuts IPv6 to the prefix", "[network][ip]") {
    const auto block = [](const char* text, unsigned prefix) {
        return IpAddress::parse(text)->client_block(prefix).to_string();
    };
    CHECK(block("192.0.2.77", 64) == "192.0.2.77");
    CHECK(block("192.0.2.77", 0) == "192.0.2.77");
    CHECK(block("2001:db8:1:2:3:4:5:6", 64) == "2001:db8:1:2::");
    CHECK(block("2001:db8:1:2:ffff:4:5:6", 80) == "2001:db8:1:2:ffff::");
    // A prefix inside an octet keeps only its high bits: /84 keeps 0xf of the 11th octet's 0xff.
    CHECK(block("2001:db8:1:2:3:ffff:5:6", 84) == "2001:db8:1:2:3:f000::");
    CHECK(block("2001:db8:1:2:3:4:5:6", 128) == "2001:db8:1:2:3:4:5:6");
    CHECK(block("2001:db8:1:2:3:4:5:6", 200) == "2001:db8:1:2:3:4:5:6");
    // Two hosts of one /64 are one client; the next /64 is another.
    CHECK(IpAddress::parse("2001:db8::1")->client_block(64) ==
          IpAddress::parse("2001:db8::abcd:1")->client_block(64));
    CHECK(IpAddress::parse("2001:db8::1")->client_block(64) !=
          IpAddress::parse("2001:db8:0:1::1")->client_block(64));
    CHECK(IpAddress::parse("2001:db8::1")->client_block(64).family() == IpAddress::Family::v6);
}
