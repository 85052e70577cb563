#include <relayguard/policy/connection_acl.hpp>

#include <catch2/catch.hpp>

using namespace relayguard::policy;

namespace connection_acl_test {

IpAddress ip(const char* text) {
    const std::optional<IpAddress> address = IpAddress::parse(text);
    REQUIRE(address.has_value());
    return *address;
}

NetworkPrefix net(const char* text) {
    const std::optional<NetworkPrefix> prefix = NetworkPrefix::parse(text);
    REQUIRE(prefix.has_value());
    return *prefix;
}

} // namespace connection_acl_test

TEST_CASE("ConnectionAcl without rules applies its default", "[network][acl]") {
    using connection_acl_test::ip;
    const ConnectionAcl open;
    CHECK(open.default_action() == ConnectionAcl::Action::allow);
    CHECK(open.decide(ip("203.0.113.1")) == ConnectionAcl::Action::allow);
    CHECK(open.allows(ip("2001:db8::1")));

    const ConnectionAcl closed(ConnectionAcl::Action::deny);
    CHECK(closed.default_action() == ConnectionAcl::Action::deny);
    CHECK(closed.decide(ip("127.0.0.1")) == ConnectionAcl::Action::deny);
    CHECK_FALSE(closed.allows(ip("::1")));
}

TEST_CASE("ConnectionAcl with default allow denies listed networks", "[network][acl]") {
    using connection_acl_test::ip;
    using connection_acl_test::net;
    ConnectionAcl acl(ConnectionAcl::Action::allow);
    acl.add_rule(ConnectionAcl::Action::deny, net("203.0.113.0/24"));
    acl.add_rule(ConnectionAcl::Action::allow, net("198.51.100.0/24"));
    acl.add_rule(ConnectionAcl::Action::deny, net("2001:db8:bad::/48"));

    CHECK(acl.decide(ip("203.0.113.9")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("::ffff:203.0.113.9")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("198.51.100.9")) == ConnectionAcl::Action::allow);
    CHECK(acl.decide(ip("192.0.2.1")) == ConnectionAcl::Action::allow);
    CHECK(acl.decide(ip("2001:db8:bad:1::25")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("2001:db8:bae::25")) == ConnectionAcl::Action::allow);
    CHECK_FALSE(acl.allows(ip("203.0.113.255")));
    CHECK(acl.allows(ip("203.0.114.0")));
}

TEST_CASE("ConnectionAcl with default deny allows listed networks", "[network][acl]") {
    using connection_acl_test::ip;
    using connection_acl_test::net;
    ConnectionAcl acl(ConnectionAcl::Action::deny);
    acl.add_rule(ConnectionAcl::Action::allow, net("192.168.1.0/24"));
    acl.add_rule(ConnectionAcl::Action::allow, net("fd00::/8"));

    CHECK(acl.allows(ip("192.168.1.20")));
    CHECK(acl.allows(ip("::ffff:192.168.1.20")));
    CHECK(acl.allows(ip("fd12:3456::1")));
    CHECK_FALSE(acl.allows(ip("192.168.2.20")));
    CHECK_FALSE(acl.allows(ip("fe80::1")));
    CHECK_FALSE(acl.allows(ip("8.8.8.8")));
}

TEST_CASE("ConnectionAcl lets the first matching rule win", "[network][acl]") {
    using connection_acl_test::ip;
    using connection_acl_test::net;
    // A broad rule listed first shadows a narrower one after it, and the other way round.
    ConnectionAcl acl(ConnectionAcl::Action::allow);
    acl.add_rule(ConnectionAcl::Action::allow, net("10.1.2.3/32"));
    acl.add_rule(ConnectionAcl::Action::deny, net("10.0.0.0/8"));
    acl.add_rule(ConnectionAcl::Action::allow, net("10.9.0.0/16"));
    acl.add_rule(ConnectionAcl::Action::deny, net("0.0.0.0/0"));
    acl.add_rule(ConnectionAcl::Action::allow, net("192.0.2.0/24"));

    CHECK(acl.decide(ip("10.1.2.3")) == ConnectionAcl::Action::allow);
    CHECK(acl.decide(ip("10.1.2.4")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("10.9.0.1")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("192.0.2.1")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("::ffff:10.1.2.3")) == ConnectionAcl::Action::allow);
    CHECK(acl.decide(ip("2001:db8::1")) == ConnectionAcl::Action::allow); // 0.0.0.0/0 is IPv4 only

    acl.add_rule(ConnectionAcl::Action::deny, net("::/0"));
    CHECK(acl.decide(ip("2001:db8::1")) == ConnectionAcl::Action::deny);
}

TEST_CASE("ConnectionAcl ignores a later rule for the same network", "[network][acl]") {
    using connection_acl_test::ip;
    using connection_acl_test::net;
    ConnectionAcl acl(ConnectionAcl::Action::allow);
    acl.add_rule(ConnectionAcl::Action::deny, net("203.0.113.0/24"));
    acl.add_rule(ConnectionAcl::Action::allow, net("203.0.113.0/24"));
    acl.add_rule(ConnectionAcl::Action::allow, net("::ffff:203.0.113.0/120"));
    acl.add_rule(ConnectionAcl::Action::deny, net("198.51.100.7"));

    CHECK(acl.decide(ip("203.0.113.50")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("198.51.100.7")) == ConnectionAcl::Action::deny);
    CHECK(acl.decide(ip("198.51.100.8")) == ConnectionAcl::Action::allow);
}

TEST_CASE("ConnectionAcl denied reply is 554 5.7.1 Access denied", "[network][acl]") {
    const SmtpReply reply = ConnectionAcl::denied_reply();
    CHECK(reply.code == 554);
    CHECK(reply.text == "5.7.1 Access denied");
    CHECK(reply.line() == "554 5.7.1 Access denied");
}
