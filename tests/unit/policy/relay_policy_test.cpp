#include <relayguard/policy/relay_policy.hpp>

#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>

using namespace relayguard::policy;

namespace relay_policy_test {

NetworkSet networks(std::initializer_list<const char*> prefixes) {
    NetworkSet set;
    for (const char* text : prefixes) {
        const std::optional<NetworkPrefix> prefix = NetworkPrefix::parse(text);
        REQUIRE(prefix.has_value());
        set.add(*prefix);
    }
    return set;
}

DomainSet domains(std::initializer_list<const char*> patterns) {
    DomainSet set;
    for (const char* pattern : patterns) {
        REQUIRE(set.add(pattern));
    }
    return set;
}

RelayPolicy policy(RelayRequirement requirement = RelayRequirement::network_or_auth) {
    return RelayPolicy(requirement, networks({"198.51.100.0/24", "2001:db8:1::/48"}),
                       domains({"example.com"}));
}

ClientFacts client(const char* address, const char* user = "") {
    const std::optional<IpAddress> parsed = IpAddress::parse(address);
    REQUIRE(parsed.has_value());
    return ClientFacts{*parsed, user};
}

ForwardPath recipient(const char* argument) {
    const ParseResult<RcptCommand> parsed = parse_rcpt_to(argument, false);
    INFO(argument << " -> " << parsed.error.line());
    REQUIRE(parsed);
    return parsed.value->path;
}

} // namespace relay_policy_test

TEST_CASE("relay policy accepts local recipients from anyone", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    const ClientFacts stranger = relay_policy_test::client("203.0.113.9");
    const Verdict verdict = relay.decide(stranger, relay_policy_test::recipient("<alice@example.com>"));
    CHECK(verdict.accepted);
    CHECK(verdict.reason == "local domain");
    CHECK(verdict.reply == SmtpReply{});

    const Verdict postmaster = relay.decide(stranger, relay_policy_test::recipient("<Postmaster>"));
    CHECK(postmaster.accepted);
    CHECK(postmaster.reason == "postmaster");
}

TEST_CASE("relay policy denies a stranger's non-local recipient with Postfix's reply", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    const Verdict verdict = relay.decide(relay_policy_test::client("203.0.113.9"),
                                         relay_policy_test::recipient("<Bob@Elsewhere.TEST.>"));
    CHECK_FALSE(verdict.accepted);
    CHECK(verdict.reply.code == 554);
    CHECK(verdict.reply.text == "5.7.1 <Bob@elsewhere.test>: Relay access denied");
    CHECK(verdict.reply.line() == "554 5.7.1 <Bob@elsewhere.test>: Relay access denied");
    CHECK(verdict.reason == "relay denied: not a local domain");
}

TEST_CASE("relay policy names why a recipient is not local", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    const ClientFacts stranger = relay_policy_test::client("203.0.113.9");
    struct Case {
        const char* argument;
        const char* reply;
        const char* reason;
    };
    const Case cases[] = {
        {"<@mx.example.com:alice@example.com>", "554 5.7.1 <alice@example.com>: Relay access denied",
         "relay denied: source route"},
        {"<alice@[192.0.2.10]>", "554 5.7.1 <alice@[192.0.2.10]>: Relay access denied",
         "relay denied: address literal"},
        {"<example.com!alice>", "554 5.7.1 <example.com!alice>: Relay access denied",
         "relay denied: no domain"},
        {"<alice%ext.test@example.com>", "554 5.7.1 <alice%ext.test@example.com>: Relay access denied",
         "relay denied: routing characters in local part"},
        {"<ext.test!alice@example.com>", "554 5.7.1 <ext.test!alice@example.com>: Relay access denied",
         "relay denied: routing characters in local part"},
        {"<alice/x@example.com>", "554 5.7.1 <alice/x@example.com>: Relay access denied",
         "relay denied: routing characters in local part"},
        {"<\"alice:x\"@example.com>", "554 5.7.1 <\"alice:x\"@example.com>: Relay access denied",
         "relay denied: routing characters in local part"},
        {"<alice@ext.test@example.com>", "554 5.7.1 <\"alice@ext.test\"@example.com>: Relay access denied",
         "relay denied: routing characters in local part"},
        {"<\"alice smith\"@example.com>", "554 5.7.1 <\"alice smith\"@example.com>: Relay access denied",
         "relay denied: quoted local part"},
        {"<alice@mail.example.com>", "554 5.7.1 <alice@mail.example.com>: Relay access denied",
         "relay denied: not a local domain"},
    };
    for (const Case& item : cases) {
        INFO(item.argument);
        const ForwardPath path = relay_policy_test::recipient(item.argument);
        CHECK_FALSE(relay.is_local_recipient(path));
        const Verdict verdict = relay.decide(stranger, path);
        CHECK_FALSE(verdict.accepted);
        CHECK(verdict.reply.line() == item.reply);
        CHECK(verdict.reason == item.reason);
    }
}

TEST_CASE("relay policy treats a needlessly quoted local part as the plain one", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    CHECK(relay.is_local_recipient(relay_policy_test::recipient("<\"alice\"@example.com>")));
    CHECK(relay.is_local_recipient(relay_policy_test::recipient("<\"al\\ice\"@Example.COM.>")));
}

TEST_CASE("relay policy evaluates every relay requirement", "[relay]") {
    const ForwardPath remote = relay_policy_test::recipient("<bob@elsewhere.test>");
    const ClientFacts stranger = relay_policy_test::client("203.0.113.9");
    const ClientFacts trusted = relay_policy_test::client("198.51.100.7");
    const ClientFacts logged_in = relay_policy_test::client("203.0.113.9", "alice");
    const ClientFacts trusted_logged_in = relay_policy_test::client("198.51.100.7", "alice");
    struct Case {
        RelayRequirement requirement;
        const ClientFacts* client;
        bool accepted;
        const char* reason;
    };
    const Case cases[] = {
        {RelayRequirement::network_or_auth, &stranger, false, "relay denied: not a local domain"},
        {RelayRequirement::network_or_auth, &trusted, true,
         "relay allowed: allowlisted network 198.51.100.0/24"},
        {RelayRequirement::network_or_auth, &logged_in, true, "relay allowed: authenticated as alice"},
        {RelayRequirement::network_or_auth, &trusted_logged_in, true,
         "relay allowed: allowlisted network 198.51.100.0/24"},
        {RelayRequirement::network_and_auth, &stranger, false, "relay denied: not a local domain"},
        {RelayRequirement::network_and_auth, &trusted, false, "relay denied: not a local domain"},
        {RelayRequirement::network_and_auth, &logged_in, false, "relay denied: not a local domain"},
        {RelayRequirement::network_and_auth, &trusted_logged_in, true,
         "relay allowed: allowlisted network 198.51.100.0/24 and authenticated as alice"},
        {RelayRequirement::network, &stranger, false, "relay denied: not a local domain"},
        {RelayRequirement::network, &trusted, true, "relay allowed: allowlisted network 198.51.100.0/24"},
        {RelayRequirement::network, &logged_in, false, "relay denied: not a local domain"},
        {RelayRequirement::network, &trusted_logged_in, true,
         "relay allowed: allowlisted network 198.51.100.0/24"},
        {RelayRequirement::auth, &stranger, false, "relay denied: not a local domain"},
        {RelayRequirement::auth, &trusted, false, "relay denied: not a local domain"},
        {RelayRequirement::auth, &logged_in, true, "relay allowed: authenticated as alice"},
        {RelayRequirement::auth, &trusted_logged_in, true, "relay allowed: authenticated as alice"},
    };
    for (const Case& item : cases) {
        INFO("requirement " << static_cast<int>(item.requirement) << ", client "
                            << item.client->address.to_string() << " user '"
                            << item.client->authenticated_user << "'");
        const RelayPolicy relay = relay_policy_test::policy(item.requirement);
        CHECK(relay.may_relay(*item.client) == item.accepted);
        const Verdict verdict = relay.decide(*item.client, remote);
        CHECK(verdict.accepted == item.accepted);
        CHECK(verdict.reason == item.reason);
        if (item.accepted) {
            CHECK(verdict.reply == SmtpReply{});
        } else {
            CHECK(verdict.reply.line() == "554 5.7.1 <bob@elsewhere.test>: Relay access denied");
        }
        // Local recipients do not depend on the requirement.
        CHECK(relay.decide(*item.client, relay_policy_test::recipient("<alice@example.com>")).accepted);
    }
}

TEST_CASE("relay policy matches allowlisted IPv6 and IPv4-mapped clients", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    const ForwardPath remote = relay_policy_test::recipient("<bob@elsewhere.test>");
    CHECK(relay.decide(relay_policy_test::client("2001:db8:1::25"), remote).accepted);
    CHECK_FALSE(relay.decide(relay_policy_test::client("2001:db8:2::25"), remote).accepted);
    CHECK(relay.decide(relay_policy_test::client("::ffff:198.51.100.7"), remote).accepted);
    CHECK_FALSE(relay.decide(relay_policy_test::client("::ffff:203.0.113.9"), remote).accepted);
}

TEST_CASE("relay policy by default trusts nobody and has no local domains", "[relay]") {
    const RelayPolicy relay;
    CHECK(relay.requirement() == RelayRequirement::network_or_auth);
    CHECK(relay.networks().empty());
    CHECK(relay.domains().empty());
    CHECK_FALSE(
        relay.decide(relay_policy_test::client("127.0.0.1"), relay_policy_test::recipient("<a@example.com>"))
            .accepted);
    CHECK(relay
              .decide(relay_policy_test::client("127.0.0.1", "alice"),
                      relay_policy_test::recipient("<a@b.test>"))
              .accepted);
    CHECK(relay.decide(relay_policy_test::client("127.0.0.1"), relay_policy_test::recipient("<postmaster>"))
              .accepted);
}

TEST_CASE("relay policy distinguishes exact local domains from wildcard subdomains", "[relay]") {
    const RelayPolicy exact(RelayRequirement::network_or_auth, NetworkSet(),
                            relay_policy_test::domains({"example.com"}));
    const RelayPolicy wildcard(RelayRequirement::network_or_auth, NetworkSet(),
                               relay_policy_test::domains({"*.example.com"}));
    const ForwardPath apex = relay_policy_test::recipient("<a@example.com>");
    const ForwardPath sub = relay_policy_test::recipient("<a@mx.EXAMPLE.com.>");
    const ForwardPath deeper = relay_policy_test::recipient("<a@b.mx.example.com>");
    const ForwardPath lookalike = relay_policy_test::recipient("<a@badexample.com>");
    CHECK(exact.is_local_recipient(apex));
    CHECK_FALSE(exact.is_local_recipient(sub));
    CHECK_FALSE(wildcard.is_local_recipient(apex));
    CHECK(wildcard.is_local_recipient(sub));
    CHECK(wildcard.is_local_recipient(deeper));
    CHECK_FALSE(wildcard.is_local_recipient(lookalike));
    CHECK_FALSE(exact.is_local_recipient(lookalike));
}

TEST_CASE("relay policy never echoes control characters from a hand-built path", "[relay]") {
    const RelayPolicy relay = relay_policy_test::policy();
    ForwardPath path;
    path.mailbox.local_part = "evil\r\n250 ok";
    path.mailbox.domain = "elsewhere.test";
    const Verdict verdict = relay.decide(relay_policy_test::client("203.0.113.9"), path);
    CHECK_FALSE(verdict.accepted);
    CHECK(verdict.reply.text == "5.7.1 <\"evil??250 ok\"@elsewhere.test>: Relay access denied");
}

TEST_CASE("relay policy names the allowlist entry and the basis of each decision", "[relay]") {
    const RelayPolicy relay(RelayRequirement::network_or_auth,
                            relay_policy_test::networks({"10.0.0.0/8", "2001:db8:1::/48", "10.1.0.0/16"}),
                            relay_policy_test::domains({"example.com"}));
    const ForwardPath remote = relay_policy_test::recipient("<bob@elsewhere.test>");
    // The first entry that contains the client, in the order written.
    const Verdict by_network = relay.decide(relay_policy_test::client("10.1.2.3"), remote);
    CHECK(by_network.reason == "relay allowed: allowlisted network 10.0.0.0/8");
    CHECK(by_network.basis == RelayBasis::network);
    const Verdict by_v6 = relay.decide(relay_policy_test::client("2001:db8:1::9"), remote);
    CHECK(by_v6.reason == "relay allowed: allowlisted network 2001:db8:1::/48");
    const Verdict by_login = relay.decide(relay_policy_test::client("203.0.113.9", "carol"), remote);
    CHECK(by_login.basis == RelayBasis::auth);
    CHECK(by_login.reason == "relay allowed: authenticated as carol");
    CHECK(relay.decide(relay_policy_test::client("203.0.113.9"), remote).basis == RelayBasis::denied);
    CHECK(
        relay
            .decide(relay_policy_test::client("203.0.113.9"), relay_policy_test::recipient("<a@example.com>"))
            .basis == RelayBasis::local_domain);
    CHECK(relay.decide(relay_policy_test::client("203.0.113.9"), relay_policy_test::recipient("<postmaster>"))
              .basis == RelayBasis::postmaster);
    const RelayPolicy both(RelayRequirement::network_and_auth, relay_policy_test::networks({"10.0.0.0/8"}),
                           relay_policy_test::domains({"example.com"}));
    CHECK(both.decide(relay_policy_test::client("10.9.9.9", "dave"), remote).basis ==
          RelayBasis::network_and_auth);
}
