#include <relayguard/policy/sender_policy.hpp>

#include <catch2/catch.hpp>

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

using namespace relayguard::policy;

namespace sender_policy_test {

RelayPolicy relay() {
    NetworkSet networks;
    const std::optional<NetworkPrefix> prefix = NetworkPrefix::parse("198.51.100.0/24");
    REQUIRE(prefix.has_value());
    networks.add(*prefix);
    DomainSet domains;
    REQUIRE(domains.add("example.com"));
    REQUIRE(domains.add("*.example.net"));
    return RelayPolicy(RelayRequirement::network_or_auth, networks, domains);
}

std::vector<SenderPattern> patterns(std::initializer_list<const char*> texts) {
    std::vector<SenderPattern> parsed;
    for (const char* text : texts) {
        const std::optional<SenderPattern> pattern = SenderPattern::parse(text);
        INFO(text);
        REQUIRE(pattern.has_value());
        parsed.push_back(*pattern);
    }
    return parsed;
}

SenderPolicy policy(LocalSenders local_senders = LocalSenders::trusted_only) {
    std::map<std::string, std::vector<SenderPattern>> users;
    users["alice"] = patterns({"alice@example.com", "@example.org"});
    users["carol"] = {};
    return SenderPolicy(local_senders, users);
}

ClientFacts client(const char* address, const char* user = "") {
    const std::optional<IpAddress> parsed = IpAddress::parse(address);
    REQUIRE(parsed.has_value());
    return ClientFacts{*parsed, user};
}

ReversePath sender(const std::string& argument) {
    const ParseResult<MailCommand> parsed = parse_mail_from(argument);
    INFO(argument << " -> " << parsed.error.line());
    REQUIRE(parsed);
    return parsed.value->path;
}

Mailbox mailbox(const std::string& address) {
    return sender("<" + address + ">").mailbox;
}

} // namespace sender_policy_test

TEST_CASE("sender pattern parses exact addresses and whole domains", "[sender]") {
    const std::optional<SenderPattern> exact = SenderPattern::parse("Alice@Example.COM.");
    REQUIRE(exact.has_value());
    CHECK(exact->local_part == "Alice");
    CHECK(exact->domain == "example.com");

    const std::optional<SenderPattern> domain = SenderPattern::parse("@Example.ORG");
    REQUIRE(domain.has_value());
    CHECK(domain->local_part.empty());
    CHECK(domain->domain == "example.org");

    const std::optional<SenderPattern> quoted = SenderPattern::parse("\"a b\"@example.com");
    REQUIRE(quoted.has_value());
    CHECK(quoted->local_part == "a b");

    const std::optional<SenderPattern> literal = SenderPattern::parse("ops@[192.0.2.1]");
    REQUIRE(literal.has_value());
    CHECK(literal->domain == "[192.0.2.1]");
}

TEST_CASE("sender pattern refuses malformed entries", "[sender]") {
    for (const char* text : {"", "@", "alice", "alice@", "@@example.com", "alice@exa mple.com", "a@b..c",
                             "<alice@example.com>", "alice@example.com> ENVID=x", "@a.test:alice@example.com",
                             "alice@example.com SIZE=1", "\"\"@example.com", "alice\n@example.com"}) {
        INFO(text);
        CHECK_FALSE(SenderPattern::parse(text).has_value());
    }
}

TEST_CASE("sender pattern matches case-insensitively in both parts", "[sender]") {
    const SenderPattern exact = *SenderPattern::parse("alice@example.com");
    CHECK(exact.matches(sender_policy_test::mailbox("alice@example.com")));
    CHECK(exact.matches(sender_policy_test::mailbox("ALICE@Example.Com.")));
    CHECK(exact.matches(sender_policy_test::mailbox("\"alice\"@example.com")));
    CHECK_FALSE(exact.matches(sender_policy_test::mailbox("alice2@example.com")));
    CHECK_FALSE(exact.matches(sender_policy_test::mailbox("alice@sub.example.com")));
    CHECK_FALSE(exact.matches(sender_policy_test::mailbox("alice@example.com.evil.test")));
    CHECK_FALSE(exact.matches(sender_policy_test::mailbox("alice")));

    const SenderPattern domain = *SenderPattern::parse("@example.org");
    CHECK(domain.matches(sender_policy_test::mailbox("anyone@EXAMPLE.org")));
    CHECK_FALSE(domain.matches(sender_policy_test::mailbox("anyone@sub.example.org")));
    CHECK_FALSE(domain.matches(sender_policy_test::mailbox("example.org!anyone")));
}

TEST_CASE("sender policy always allows the null sender", "[sender]") {
    const RelayPolicy relay = sender_policy_test::relay();
    const SenderPolicy senders = sender_policy_test::policy();
    const ReversePath null = sender_policy_test::sender("<>");
    for (const ClientFacts& client :
         {sender_policy_test::client("203.0.113.9"), sender_policy_test::client("203.0.113.9", "alice"),
          sender_policy_test::client("198.51.100.7")}) {
        const Verdict verdict = senders.decide(client, null, relay);
        CHECK(verdict.accepted);
        CHECK(verdict.reason == "null sender");
    }
}

TEST_CASE("sender policy keeps an authenticated user to its configured senders", "[sender]") {
    const RelayPolicy relay = sender_policy_test::relay();
    const SenderPolicy senders = sender_policy_test::policy();
    const ClientFacts alice = sender_policy_test::client("203.0.113.9", "alice");
    CHECK(senders.decide(alice, sender_policy_test::sender("<alice@example.com>"), relay).reason ==
          "sender owned by alice");
    CHECK(senders.decide(alice, sender_policy_test::sender("<Alice@EXAMPLE.com>"), relay).accepted);
    CHECK(senders.decide(alice, sender_policy_test::sender("<news@example.org>"), relay).accepted);

    const Verdict spoof = senders.decide(alice, sender_policy_test::sender("<bob@example.com>"), relay);
    CHECK_FALSE(spoof.accepted);
    CHECK(spoof.reply.line() ==
          "553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice");
    CHECK(spoof.reason == "sender rejected: not owned by user alice");

    // Being on the allowlist does not lift a logged-in user's restriction.
    const ClientFacts trusted_alice = sender_policy_test::client("198.51.100.7", "alice");
    CHECK_FALSE(senders.decide(trusted_alice, sender_policy_test::sender("<ceo@ext.test>"), relay).accepted);
    const Verdict routed =
        senders.decide(alice, sender_policy_test::sender("<alice%ext.test@example.net>"), relay);
    CHECK(routed.reply.line() ==
          "553 5.7.1 <alice%ext.test@example.net>: Sender address rejected: not owned by user alice");
    CHECK_FALSE(senders.decide(alice, sender_policy_test::sender("<alice>"), relay).accepted);
}

TEST_CASE("sender policy lets a user without configured senders use any sender", "[sender]") {
    const RelayPolicy relay = sender_policy_test::relay();
    const SenderPolicy senders = sender_policy_test::policy();
    for (const char* user : {"carol", "dave"}) {
        const Verdict verdict = senders.decide(sender_policy_test::client("203.0.113.9", user),
                                               sender_policy_test::sender("<x@example.com>"), relay);
        CHECK(verdict.accepted);
        CHECK(verdict.reason == "sender allowed: authenticated as " + std::string(user));
    }
}

TEST_CASE("sender policy refuses local-domain senders from anonymous strangers", "[sender]") {
    const RelayPolicy relay = sender_policy_test::relay();
    const SenderPolicy senders = sender_policy_test::policy();
    const ClientFacts stranger = sender_policy_test::client("203.0.113.9");
    struct Case {
        const char* argument;
        const char* reply;
    };
    const Case rejected[] = {
        {"<alice@example.com>", "553 5.7.1 <alice@example.com>: Sender address rejected: not logged in"},
        {"<Alice@EXAMPLE.COM.>", "553 5.7.1 <Alice@example.com>: Sender address rejected: not logged in"},
        {"<@ext.test:alice@example.com>",
         "553 5.7.1 <alice@example.com>: Sender address rejected: not logged in"},
        {"<ext.test!alice@example.com>",
         "553 5.7.1 <ext.test!alice@example.com>: Sender address rejected: not logged in"},
        {"<alice@mx.example.net>",
         "553 5.7.1 <alice@mx.example.net>: Sender address rejected: not logged in"},
    };
    for (const Case& item : rejected) {
        INFO(item.argument);
        const Verdict verdict = senders.decide(stranger, sender_policy_test::sender(item.argument), relay);
        CHECK_FALSE(verdict.accepted);
        CHECK(verdict.reply.line() == item.reply);
        CHECK(verdict.reason == "sender rejected: local domain without login");
    }
    for (const char* argument : {"<bob@ext.test>", "<alice@example.net>", "<nessus>", "<alice@[192.0.2.10]>",
                                 "<alice@example.com.ext.test>"}) {
        INFO(argument);
        const Verdict verdict = senders.decide(stranger, sender_policy_test::sender(argument), relay);
        CHECK(verdict.accepted);
        CHECK(verdict.reason == "sender allowed: not a local domain");
    }
}

TEST_CASE("sender policy lets allowlisted clients and local-senders anyone use local senders", "[sender]") {
    const RelayPolicy relay = sender_policy_test::relay();
    const ReversePath local = sender_policy_test::sender("<alice@example.com>");
    const Verdict trusted =
        sender_policy_test::policy().decide(sender_policy_test::client("198.51.100.7"), local, relay);
    CHECK(trusted.accepted);
    CHECK(trusted.reason == "sender allowed: allowlisted network");
    const Verdict mapped =
        sender_policy_test::policy().decide(sender_policy_test::client("::ffff:198.51.100.7"), local, relay);
    CHECK(mapped.accepted);

    const SenderPolicy open = sender_policy_test::policy(LocalSenders::anyone);
    CHECK(open.local_senders() == LocalSenders::anyone);
    const Verdict anyone = open.decide(sender_policy_test::client("203.0.113.9"), local, relay);
    CHECK(anyone.accepted);
    CHECK(anyone.reason == "sender allowed: local senders from anyone");
    // "anyone" does not lift a logged-in user's own restriction.
    CHECK_FALSE(open.decide(sender_policy_test::client("203.0.113.9", "alice"),
                            sender_policy_test::sender("<bob@example.com>"), relay)
                    .accepted);
}

TEST_CASE("sender policy by default restricts local senders and nobody in particular", "[sender]") {
    const SenderPolicy senders;
    CHECK(senders.local_senders() == LocalSenders::trusted_only);
    const RelayPolicy relay = sender_policy_test::relay();
    CHECK_FALSE(senders
                    .decide(sender_policy_test::client("203.0.113.9"),
                            sender_policy_test::sender("<a@example.com>"), relay)
                    .accepted);
    CHECK(senders
              .decide(sender_policy_test::client("203.0.113.9", "alice"),
                      sender_policy_test::sender("<a@example.com>"), relay)
              .accepted);
}
