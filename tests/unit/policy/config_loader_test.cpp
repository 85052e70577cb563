#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

using namespace relayguard::policy;

namespace config_loader_test {

ConfigLoadResult load(const std::string& xml) {
    return load_config_text(xml, "test.xml");
}

std::string describe(const std::vector<ConfigProblem>& problems) {
    std::string text;
    for (const ConfigProblem& problem : problems) {
        text += problem.to_string() + "\n";
    }
    return text;
}

IpAddress address(const char* text) {
    const std::optional<IpAddress> parsed = IpAddress::parse(text);
    REQUIRE(parsed);
    return *parsed;
}

// A valid head, so that a mistake added after it starts on line 4.
std::string with_sections(const std::string& sections) {
    return "<relayguard>\n"
           "  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
           "  <upstream host=\"192.0.2.10\" port=\"25\"/>\n" +
           sections + "</relayguard>\n";
}

struct Mistake {
    const char* what;
    std::string xml;
    int line;
    const char* item;
    const char* fragment;
};

// Each mistake must give exactly one error, on its own line and naming its own item, and no config.
void check_mistakes(const std::vector<Mistake>& mistakes) {
    for (const Mistake& mistake : mistakes) {
        DYNAMIC_SECTION(mistake.what) {
            const ConfigLoadResult result = load(mistake.xml);
            INFO(describe(result.errors));
            CHECK_FALSE(result.config);
            REQUIRE(result.errors.size() == 1);
            const ConfigProblem& error = result.errors.front();
            CHECK(error.file == "test.xml");
            CHECK(error.line == mistake.line);
            CHECK(error.item == mistake.item);
            const std::string location = mistake.line > 0 ? ":" + std::to_string(mistake.line) : "";
            const std::string prefix =
                "test.xml" + location + ": " +
                (std::string(mistake.item).empty() ? "" : std::string(mistake.item) + ": ");
            CHECK(error.to_string().rfind(prefix, 0) == 0);
            CHECK_THAT(error.message, Catch::Contains(mistake.fragment));
        }
    }
}

// The plaintext of this hash is "correct horse battery staple" (PBKDF2-HMAC-SHA256, 1000 iterations).
const char* const alice_hash =
    "$pbkdf2-sha256$i=1000$CPbL2TOjPG0CL7FsLr7Aww$w7XjILfqDHLcnx7+7oha55yMETluOQlCdeFZs0ug/oo";
// The plaintext of this hash is "tr0ub4dor&3".
const char* const bob_hash =
    "$pbkdf2-sha256$i=1000$CRrZQleYUqJ5WoOAY7grCg$9RfhAsL4geyVF57qtWcSmwe+YS1gTVvwpJjEo/lXStc";

std::string full_configuration() {
    return std::string(R"xml(<?xml version="1.0" encoding="UTF-8"?>
<relayguard>
  <listen address="0.0.0.0" port="25" interface="lan"/>
  <listen address="::" port="465" tls="implicit"/>
  <listen address="192.0.2.1" port="2525" tls="none"/>
  <upstream host="mail.internal.example." port="2526" tls="required" connect-timeout="30s"
            xclient="on" ca="/etc/relayguard/upstream-ca.pem" pool-size="6" pool-idle-time="90s"
            pool-max-transactions="25" prewarm="2"/>
  <identity hostname="mx.example.com"/>
  <tls certificate="/etc/relayguard/cert.pem" key="/etc/relayguard/key.pem" ticket-lifetime="6h"/>
  <clients default="deny">
    <deny network="198.51.100.128/25"/>
    <allow network="198.51.100.0/24"/>
    <allow network="2001:db8::/32"/>
  </clients>
  <relay require="network-and-auth" local-senders="anyone" open-networks="deny">
    <allow network="192.0.2.0/24"/>
    <allow network="2001:db8:1::/48"/>
    <domain name="Example.COM"/>
    <domain name="*.example.org"/>
  </relay>
  <auth require-tls="false" mechanisms="LOGIN" max-failures="3" lockout="1h">
    <!-- a comment is fine anywhere -->
    <user name="alice" password-hash=")xml") +
           alice_hash + R"xml(" senders="alice@example.com @example.org"/>
    <user name="bob" password-hash=")xml" +
           bob_hash + R"xml("/>
  </auth>
  <limits max-connections="512" trusted-connections="32" max-connections-per-client="8" max-recipients="250"
          max-message-size="10M" command-timeout="2m" data-timeout="15m" max-errors="4"
          client-ipv6-prefix="56" max-connection-rate="30" rate-window="10m" max-message-rate="40"
          max-recipient-rate="400" max-login-message-rate="100" max-login-recipient-rate="2000"
          mail-rate-window="2h" login-lockout-after="2" login-lockout="1d" mail-deadline="90s"
          stress-threshold="60" stress-command-timeout="5s" stress-mail-deadline="20s" stress-greet-delay="3s"/>
  <data bare-newline="normalize"/>
  <log target="syslog" level="debug"/>
</relayguard>
)xml";
}

} // namespace config_loader_test

TEST_CASE("A configuration with every element loads into the expected values", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(config_loader_test::full_configuration());
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.errors.empty());
    CHECK(result.warnings.empty());
    const Config& config = *result.config;
    CHECK(config.source == "test.xml");

    REQUIRE(config.listeners.size() == 3);
    CHECK(config.listeners[0].address == "0.0.0.0");
    CHECK(config.listeners[0].port == 25);
    CHECK(config.listeners[0].interface == "lan");
    CHECK(config.listeners[0].tls == ListenTls::starttls); // the default once <tls> is configured
    CHECK(config.listeners[0].line == 3);
    CHECK(config.listeners[1].address == "::");
    CHECK(config.listeners[1].port == 465);
    CHECK(config.listeners[1].interface.empty());
    CHECK(config.listeners[1].tls == ListenTls::implicit);
    CHECK(config.listeners[1].line == 4);
    CHECK(config.listeners[2].address == "192.0.2.1");
    CHECK(config.listeners[2].tls == ListenTls::none);

    CHECK(config.upstream.host == "mail.internal.example");
    CHECK(config.upstream.port == 2526);
    CHECK(config.upstream.tls == UpstreamTls::required);
    CHECK(config.upstream.connect_timeout == std::chrono::seconds(30));
    CHECK(config.upstream.xclient);
    CHECK(config.upstream.ca == "/etc/relayguard/upstream-ca.pem");
    CHECK(config.upstream.pool_size == 6);
    CHECK(config.upstream.pool_idle_time == std::chrono::seconds(90));
    CHECK(config.upstream.pool_max_transactions == 25);
    CHECK(config.upstream.prewarm == 2);

    CHECK(config.hostname == "mx.example.com");
    REQUIRE(config.tls);
    CHECK(config.tls->certificate == "/etc/relayguard/cert.pem");
    CHECK(config.tls->key == "/etc/relayguard/key.pem");
    CHECK(config.tls->ticket_lifetime == std::chrono::hours(6));

    using config_loader_test::address;
    CHECK(config.clients.default_action() == ConnectionAcl::Action::deny);
    CHECK(config.clients.decide(address("198.51.100.200")) == ConnectionAcl::Action::deny);
    CHECK(config.clients.decide(address("198.51.100.5")) == ConnectionAcl::Action::allow);
    CHECK(config.clients.decide(address("2001:db8::25")) == ConnectionAcl::Action::allow);
    CHECK(config.clients.decide(address("203.0.113.1")) == ConnectionAcl::Action::deny);

    CHECK(config.relay.requirement() == RelayRequirement::network_and_auth);
    CHECK(config.relay.is_trusted_network(address("192.0.2.77")));
    CHECK(config.relay.is_trusted_network(address("2001:db8:1::9")));
    CHECK_FALSE(config.relay.is_trusted_network(address("2001:db8:2::9")));
    CHECK_FALSE(config.relay.is_trusted_network(address("10.0.0.1")));
    CHECK(config.relay.is_local_domain("example.com"));
    CHECK(config.relay.is_local_domain("lists.example.org"));
    CHECK_FALSE(config.relay.is_local_domain("example.org"));
    CHECK(config.relay.domains().patterns() == std::vector<std::string>{"example.com", "*.example.org"});
    CHECK(config.senders.local_senders() == LocalSenders::anyone);
    CHECK_FALSE(config.open_networks_allowed);

    CHECK_FALSE(config.auth.require_tls);
    CHECK(config.auth.mechanisms == std::vector<AuthMechanism>{AuthMechanism::login});
    CHECK(config.auth.max_failures == 3);
    CHECK(config.auth.lockout == std::chrono::hours(1));
    REQUIRE(config.auth.users.size() == 2);
    const UserConfig& alice = config.auth.users[0];
    CHECK(alice.name == "alice");
    CHECK(alice.password_hash.iterations() == 1000);
    CHECK(alice.password_hash.to_string() == config_loader_test::alice_hash);
    CHECK(alice.password_hash.verify("correct horse battery staple"));
    CHECK_FALSE(alice.password_hash.verify("tr0ub4dor&3"));
    REQUIRE(alice.senders.size() == 2);
    CHECK(alice.senders[0].local_part == "alice");
    CHECK(alice.senders[0].domain == "example.com");
    CHECK(alice.senders[1].local_part.empty());
    CHECK(alice.senders[1].domain == "example.org");
    CHECK(config.auth.users[1].name == "bob");
    CHECK(config.auth.users[1].password_hash.verify("tr0ub4dor&3"));
    CHECK(config.auth.users[1].senders.empty());

    CHECK(config.limits.max_connections == 512);
    CHECK(config.limits.trusted_connections == 32);
    CHECK(config.limits.max_connections_per_client == 8);
    CHECK(config.limits.client_ipv6_prefix == 56);
    CHECK(config.limits.max_connection_rate == 30);
    CHECK(config.limits.rate_window == std::chrono::minutes(10));
    CHECK(config.limits.max_message_rate == 40);
    CHECK(config.limits.max_recipient_rate == 400);
    CHECK(config.limits.max_login_message_rate == 100);
    CHECK(config.limits.max_login_recipient_rate == 2000);
    CHECK(config.limits.mail_rate_window == std::chrono::hours(2));
    CHECK(config.limits.login_lockout_after == 2);
    CHECK(config.limits.login_lockout == std::chrono::hours(24));
    CHECK(config.limits.mail_deadline == std::chrono::seconds(90));
    CHECK(config.limits.stress_threshold == 60);
    CHECK(config.limits.stress_command_timeout == std::chrono::seconds(5));
    CHECK(config.limits.stress_mail_deadline == std::chrono::seconds(20));
    CHECK(config.limits.stress_greet_delay == std::chrono::seconds(3));
    CHECK(config.limits.max_recipients == 250);
    CHECK(config.limits.max_message_size == 10u * 1024 * 1024);
    CHECK(config.limits.command_timeout == std::chrono::minutes(2));
    CHECK(config.limits.data_timeout == std::chrono::minutes(15));
    CHECK(config.limits.max_errors == 4);
    CHECK(config.bare_newline == BareNewline::normalize);
    CHECK(config.log.target == LogTarget::syslog);
    CHECK(config.log.level == LogLevel::debug);
}

TEST_CASE("The sender rules of the configured users reach the sender policy", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(config_loader_test::full_configuration());
    REQUIRE(result.config);
    const Config& config = *result.config;
    const ClientFacts alice{config_loader_test::address("192.0.2.5"), "alice"};
    ReversePath own;
    own.mailbox.local_part = "alice";
    own.mailbox.domain = "example.com";
    ReversePath foreign;
    foreign.mailbox.local_part = "mallory";
    foreign.mailbox.domain = "example.net";
    CHECK(config.senders.decide(alice, own, config.relay).accepted);
    CHECK_FALSE(config.senders.decide(alice, foreign, config.relay).accepted);
}

TEST_CASE("Omitted elements and attributes take the documented defaults", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(R"xml(<relayguard>
  <listen address="::1" port="2525"/>
  <upstream host="192.0.2.10"/>
  <relay><domain name="example.com"/></relay>
</relayguard>)xml");
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.warnings.empty());
    const Config& config = *result.config;
    REQUIRE(config.listeners.size() == 1);
    CHECK(config.listeners[0].tls == ListenTls::none); // no <tls>, so nothing to offer
    CHECK(config.listeners[0].interface.empty());
    CHECK(config.upstream.port == 25);
    CHECK(config.upstream.tls == UpstreamTls::none);
    CHECK(config.upstream.connect_timeout == std::chrono::seconds(10));
    CHECK_FALSE(config.upstream.xclient);
    CHECK(config.upstream.ca.empty());
    CHECK(config.upstream.pool_size == 0); // no reuse unless asked for
    CHECK(config.upstream.pool_idle_time == std::chrono::seconds(30));
    CHECK(config.upstream.pool_max_transactions == 100);
    CHECK(config.upstream.prewarm == 0);
    CHECK(config.hostname.empty());
    CHECK_FALSE(config.tls);
    CHECK(config.clients.default_action() == ConnectionAcl::Action::allow);
    CHECK(config.relay.requirement() == RelayRequirement::network_or_auth);
    CHECK(config.relay.networks().empty());
    CHECK(config.senders.local_senders() == LocalSenders::trusted_only);
    CHECK_FALSE(config.open_networks_allowed);
    CHECK(config.auth.require_tls);
    CHECK(config.auth.mechanisms == std::vector<AuthMechanism>{AuthMechanism::plain, AuthMechanism::login});
    CHECK(config.auth.max_failures == 5);
    CHECK(config.auth.lockout == std::chrono::minutes(15));
    CHECK(config.auth.users.empty());
    CHECK(config.limits.max_connections == 256);
    CHECK(config.limits.trusted_connections == 256);
    CHECK(config.limits.max_connections_per_client == 16);
    CHECK(config.limits.client_ipv6_prefix == 64);
    CHECK(config.limits.max_connection_rate == 0);
    CHECK(config.limits.rate_window == std::chrono::minutes(1));
    CHECK(config.limits.max_message_rate == 0);
    CHECK(config.limits.max_recipient_rate == 0);
    CHECK(config.limits.max_login_message_rate == 0);
    CHECK(config.limits.max_login_recipient_rate == 0);
    CHECK(config.limits.mail_rate_window == std::chrono::hours(1));
    CHECK(config.limits.login_lockout_after == 3);
    CHECK(config.limits.login_lockout == std::chrono::hours(1));
    CHECK(config.limits.mail_deadline == std::chrono::minutes(5));
    CHECK(config.limits.stress_threshold == 80);
    CHECK(config.limits.stress_command_timeout == std::chrono::seconds(10));
    CHECK(config.limits.stress_mail_deadline == std::chrono::seconds(30));
    CHECK(config.limits.stress_greet_delay == std::chrono::seconds(2));
    CHECK(config.limits.max_recipients == 100);
    CHECK(config.limits.max_message_size == 50u * 1024 * 1024);
    CHECK(config.limits.command_timeout == std::chrono::minutes(5));
    CHECK(config.limits.data_timeout == std::chrono::minutes(10));
    CHECK(config.limits.max_errors == 10);
    CHECK(config.bare_newline == BareNewline::reject);
    CHECK(config.log.target == LogTarget::stderr_stream);
    CHECK(config.log.level == LogLevel::info);
}

TEST_CASE("The trusted pool is as large as max-connections unless it is given", "[config]") {
    const ConfigLoadResult result =
        config_loader_test::load(config_loader_test::with_sections("  <limits max-connections=\"40\"/>\n"));
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.config->limits.max_connections == 40);
    CHECK(result.config->limits.trusted_connections == 40);
}

TEST_CASE("TLS session tickets are on for an hour unless turned off", "[config]") {
    const ConfigLoadResult on = config_loader_test::load(
        config_loader_test::with_sections("  <tls certificate=\"c.pem\" key=\"k.pem\"/>\n"));
    INFO(config_loader_test::describe(on.errors));
    REQUIRE(on.config);
    CHECK(on.config->tls->ticket_lifetime == std::chrono::hours(1));
    const ConfigLoadResult off = config_loader_test::load(config_loader_test::with_sections(
        "  <tls certificate=\"c.pem\" key=\"k.pem\" session-tickets=\"off\" ticket-lifetime=\"2h\"/>\n"));
    INFO(config_loader_test::describe(off.errors));
    REQUIRE(off.config);
    CHECK(off.config->tls->ticket_lifetime == std::chrono::seconds(0));
}

TEST_CASE("A listener offers STARTTLS by default once tls is configured", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(R"xml(<relayguard>
  <tls certificate="cert.pem" key="key.pem"/>
  <listen address="127.0.0.1" port="2525"/>
  <listen address="127.0.0.1" port="2465" tls="implicit"/>
  <listen address="127.0.0.1" port="2526" tls="none"/>
  <upstream host="localhost" port="25"/>
</relayguard>)xml");
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    REQUIRE(result.config->listeners.size() == 3);
    CHECK(result.config->listeners[0].tls == ListenTls::starttls);
    CHECK(result.config->listeners[1].tls == ListenTls::implicit);
    CHECK(result.config->listeners[2].tls == ListenTls::none);
    CHECK(result.config->upstream.host == "localhost");
}

TEST_CASE("Addresses are kept in canonical form", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(R"xml(<relayguard>
  <listen address="2001:DB8:0:0::1" port="2525"/>
  <listen address="::ffff:192.0.2.7" port="2525"/>
  <upstream host="2001:db8:0::25"/>
</relayguard>)xml");
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.config->listeners[0].address == "2001:db8::1");
    CHECK(result.config->listeners[1].address == "192.0.2.7");
    CHECK(result.config->upstream.host == "2001:db8::25");
}

TEST_CASE("Listeners on one address and port may differ by interface", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(R"xml(<relayguard>
  <listen address="0.0.0.0" port="25" interface="lan"/>
  <listen address="0.0.0.0" port="25" interface="wan"/>
  <upstream host="192.0.2.10"/>
</relayguard>)xml");
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.config->listeners.size() == 2);
}

TEST_CASE("The embedded default configuration", "[config]") {
    const ConfigLoadResult result = load_embedded_default_config();
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.config);
    CHECK(result.errors.empty());
    CHECK(result.warnings.empty());
    const Config& config = *result.config;
    CHECK(config.source == "(embedded default)");
    REQUIRE(config.listeners.size() == 1);
    CHECK(config.listeners[0].address == "127.0.0.1");
    CHECK(config.listeners[0].port == 2525);
    CHECK(config.listeners[0].tls == ListenTls::none);
    CHECK(config.upstream.host == "127.0.0.1");
    CHECK(config.upstream.port == 25);
    CHECK(config.relay.requirement() == RelayRequirement::network_or_auth);
    CHECK(config.relay.networks().prefixes().size() == 2);
    using config_loader_test::address;
    CHECK(config.relay.is_trusted_network(address("127.0.0.1")));
    CHECK(config.relay.is_trusted_network(address("127.200.3.4")));
    CHECK(config.relay.is_trusted_network(address("::1")));
    CHECK(config.relay.is_trusted_network(address("::ffff:127.0.0.1")));
    CHECK_FALSE(config.relay.is_trusted_network(address("192.0.2.1")));
    CHECK_FALSE(config.relay.is_trusted_network(address("::2")));
    CHECK(config.relay.domains().empty());
    CHECK_FALSE(config.tls);
    CHECK(config.auth.users.empty());
    CHECK(config.clients.allows(address("203.0.113.9")));

    const ConfigLoadResult same = load_config_text(embedded_default_config, embedded_default_source_name);
    REQUIRE(same.config);
    CHECK(same.config->source == "(embedded default)");
}

TEST_CASE("A configuration problem prints as file then line then item then message", "[config]") {
    CHECK(ConfigProblem{"relayguard.xml", 12, "<listen port>", "\"70000\" is not a port number (1-65535)"}
              .to_string() == "relayguard.xml:12: <listen port>: \"70000\" is not a port number (1-65535)");
    CHECK(ConfigProblem{"relayguard.xml", 0, "", "cannot open the configuration: No such file or directory"}
              .to_string() == "relayguard.xml: cannot open the configuration: No such file or directory");
    CHECK(ConfigProblem{"r.xml", 3, "", "XML syntax error: malformed element"}.to_string() ==
          "r.xml:3: XML syntax error: malformed element");
}

TEST_CASE("Mistakes in the XML itself are reported with their line", "[config]") {
    using config_loader_test::Mistake;
    config_loader_test::check_mistakes({
        {"unclosed element", "<relayguard>\n  <listen address=\"127.0.0.1\" port=\"2525\">\n</relayguard>\n",
         2, "", "XML syntax error"},
        {"unquoted attribute", "<relayguard>\n\n  <listen address=127.0.0.1/>\n</relayguard>\n", 3, "",
         "XML syntax error: malformed"},
        {"empty document", "", 0, "", "XML syntax error: the document is empty"},
        {"wrong root element", "<?xml version=\"1.0\"?>\n<postfix>\n</postfix>\n", 2, "<postfix>",
         "must be <relayguard>"},
        {"second top-level element", config_loader_test::with_sections("") + "<relayguard/>\n", 5,
         "<relayguard>", "second top-level element"},
        {"NUL byte", std::string("<relayguard>\n\n\n  <listen\0/>\n</relayguard>", 36), 4, "", "NUL byte"},
        {"text inside an element",
         config_loader_test::with_sections("  <limits>\n    max-errors=3\n  </limits>\n"), 5, "<limits>",
         "unexpected text \"max-errors=3\" (values go in attributes)"},
        {"attribute on the root",
         "<relayguard version=\"2\">\n  <listen address=\"::1\" port=\"2525\"/>\n  <upstream "
         "host=\"::1\"/>\n</relayguard>\n",
         1, "<relayguard version>", "unknown attribute (<relayguard> takes no attributes)"},
    });
}

TEST_CASE("Mistakes in listen and upstream are reported with their line and item", "[config]") {
    using config_loader_test::Mistake;
    using config_loader_test::with_sections;
    const std::string upstream = "  <upstream host=\"192.0.2.10\"/>\n";
    config_loader_test::check_mistakes({
        {"port out of range",
         "<relayguard>\n  <listen address=\"127.0.0.1\" port=\"70000\"/>\n" + upstream + "</relayguard>", 2,
         "<listen port>", "\"70000\" is not a port number (1-65535)"},
        {"port zero",
         "<relayguard>\n" + upstream + "  <listen address=\"127.0.0.1\" port=\"0\"/>\n</relayguard>", 3,
         "<listen port>", "\"0\" is not a port number"},
        {"port with spaces",
         "<relayguard>\n  <listen address=\"127.0.0.1\"\n          port=\" 25\"/>\n" + upstream +
             "</relayguard>",
         3, "<listen port>", "\" 25\" is not a port number"},
        {"host name as listen address",
         "<relayguard>\n  <listen address=\"localhost\" port=\"25\"/>\n" + upstream + "</relayguard>", 2,
         "<listen address>", "\"localhost\" is not an IPv4 or IPv6 address"},
        {"listen without address or interface",
         "<relayguard>\n" + upstream + "\n  <listen port=\"25\"/>\n</relayguard>", 4, "<listen>",
         "needs an address, an interface, or both"},
        {"misspelt attribute",
         "<relayguard>\n  <listen address=\"127.0.0.1\" prot=\"25\"/>\n" + upstream + "</relayguard>", 2,
         "<listen prot>", "unknown attribute (<listen> takes: address, port, interface, tls)"},
        {"attribute given twice",
         "<relayguard>\n  <listen address=\"127.0.0.1\" port=\"25\" port=\"26\"/>\n" + upstream +
             "</relayguard>",
         2, "", "XML syntax error: malformed attribute"},
        {"bad interface name",
         "<relayguard>\n  <listen address=\"0.0.0.0\" interface=\"eth0/1\"/>\n" + upstream + "</relayguard>",
         2, "<listen interface>", "not a network interface name"},
        {"unknown tls mode",
         "<relayguard>\n  <listen address=\"127.0.0.1\" tls=\"yes\"/>\n" + upstream + "</relayguard>", 2,
         "<listen tls>", "\"yes\" is not one of: none, starttls, implicit"},
        {"starttls without tls",
         "<relayguard>\n" + upstream + "  <listen address=\"127.0.0.1\" tls=\"starttls\"/>\n</relayguard>", 3,
         "<listen tls>", "\"starttls\" needs a <tls"},
        {"implicit tls without tls",
         "<relayguard>\n" + upstream + "  <listen address=\"127.0.0.1\" tls=\"implicit\"/>\n</relayguard>", 3,
         "<listen tls>", "\"implicit\" needs a <tls"},
        {"duplicate listener",
         "<relayguard>\n  <listen address=\"::0\" port=\"25\"/>\n" + upstream +
             "  <listen address=\"::\" port=\"25\"/>\n</relayguard>",
         4, "<listen>", "[::]:25 is already taken by the <listen> at line 2"},
        {"element inside listen",
         "<relayguard>\n  <listen address=\"127.0.0.1\">\n    <tls/>\n  </listen>\n" + upstream +
             "</relayguard>",
         3, "<tls>", "unknown element inside <listen>"},
        {"no listener", "<relayguard>\n" + upstream + "</relayguard>", 1, "<listen>", "missing"},
        {"no upstream", "\n<relayguard>\n  <listen address=\"127.0.0.1\"/>\n</relayguard>", 2, "<upstream>",
         "missing: relayguard needs an <upstream"},
        {"two upstreams", with_sections("  <upstream host=\"192.0.2.11\"/>\n"), 4, "<upstream>",
         "given twice (first at line 3); only one is allowed"},
        {"upstream without host",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream port=\"25\"/>\n</relayguard>", 3,
         "<upstream host>", "missing"},
        {"upstream host with underscore",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"mail_server\"/>\n</relayguard>",
         3, "<upstream host>", "\"mail_server\" is neither an IP address nor a host name"},
        {"mistyped upstream address",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.300\"/>\n</relayguard>",
         3, "<upstream host>", "\"192.0.2.300\" is neither"},
        {"upstream connect-timeout",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "connect-timeout=\"ten\"/>\n</relayguard>",
         3, "<upstream connect-timeout>", "\"ten\" is not a duration"},
        {"upstream connect-timeout too long",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "connect-timeout=\"1h\"/>\n</relayguard>",
         3, "<upstream connect-timeout>", "\"1h\" is out of range (100ms-5m)"},
        {"upstream prewarm beyond the pool",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "pool-size=\"1\" prewarm=\"2\"/>\n</relayguard>",
         3, "<upstream prewarm>", "cannot exceed pool-size (1)"},
        {"upstream pool too large",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "pool-size=\"65\"/>\n</relayguard>",
         3, "<upstream pool-size>", "out of range"},
        {"upstream pool-max-transactions zero",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "pool-max-transactions=\"0\"/>\n</relayguard>",
         3, "<upstream pool-max-transactions>", "out of range"},
        {"upstream xclient",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "xclient=\"true\"/>\n</relayguard>",
         3, "<upstream xclient>", "\"true\" is not one of: off, on"},
        {"upstream tls",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" "
         "tls=\"implicit\"/>\n</relayguard>",
         3, "<upstream tls>", "is not one of: none, starttls, required"},
        {"upstream CA without TLS",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\"\n            "
         "ca=\"/etc/ca.pem\"/>\n</relayguard>",
         4, "<upstream ca>", "only used when tls is \"starttls\" or \"required\""},
        {"upstream CA empty",
         "<relayguard>\n  <listen address=\"127.0.0.1\"/>\n  <upstream host=\"192.0.2.10\" tls=\"required\" "
         "ca=\"\"/>\n</relayguard>",
         3, "<upstream ca>", "a file name of 1-4095 characters is required"},
        {"upstream is relayguard itself",
         "<relayguard>\n  <listen address=\"0.0.0.0\" port=\"25\"/>\n  <upstream host=\"127.0.0.1\" "
         "port=\"25\"/>\n</relayguard>",
         3, "<upstream>", "127.0.0.1:25 is relayguard's own <listen> at line 2: every message would loop"},
    });
}

TEST_CASE("Mistakes in identity tls limits data and log are reported with their line and item", "[config]") {
    using config_loader_test::Mistake;
    using config_loader_test::with_sections;
    config_loader_test::check_mistakes({
        {"unknown top-level element", with_sections("  <mynetworks>0.0.0.0/0</mynetworks>\n"), 4,
         "<mynetworks>", "unknown element inside <relayguard> (expected one of <listen>, <upstream>"},
        {"identity hostname", with_sections("  <identity hostname=\"-mx.example.com\"/>\n"), 4,
         "<identity hostname>", "\"-mx.example.com\" is not a host name"},
        {"tls without key", with_sections("  <tls certificate=\"/etc/cert.pem\"/>\n"), 4, "<tls key>",
         "missing"},
        {"ticket lifetime too short",
         with_sections("  <tls certificate=\"a\" key=\"b\" ticket-lifetime=\"5s\"/>\n"), 4,
         "<tls ticket-lifetime>", "\"5s\" is out of range (1m-1d)"},
        {"session-tickets", with_sections("  <tls certificate=\"a\" key=\"b\" session-tickets=\"yes\"/>\n"),
         4, "<tls session-tickets>", "\"yes\" is not one of: off, on"},
        {"two tls elements",
         with_sections("  <tls certificate=\"a\" key=\"b\"/>\n  <tls certificate=\"a\" key=\"b\"/>\n"), 5,
         "<tls>", "given twice (first at line 4)"},
        {"trusted-connections zero", with_sections("  <limits trusted-connections=\"0\"/>\n"), 4,
         "<limits trusted-connections>", "\"0\" is out of range (1-65535)"},
        {"max-connections zero", with_sections("  <limits max-connections=\"0\"/>\n"), 4,
         "<limits max-connections>", "\"0\" is out of range (1-65535)"},
        {"client-ipv6-prefix too short", with_sections("  <limits client-ipv6-prefix=\"16\"/>\n"), 4,
         "<limits client-ipv6-prefix>", "\"16\" is out of range (32-128)"},
        {"client-ipv6-prefix too long", with_sections("  <limits client-ipv6-prefix=\"129\"/>\n"), 4,
         "<limits client-ipv6-prefix>", "\"129\" is out of range (32-128)"},
        {"max-connection-rate negative", with_sections("  <limits max-connection-rate=\"-5\"/>\n"), 4,
         "<limits max-connection-rate>", "\"-5\" is not a whole number"},
        {"max-connection-rate huge", with_sections("  <limits max-connection-rate=\"2000000\"/>\n"), 4,
         "<limits max-connection-rate>", "\"2000000\" is out of range (0-1000000)"},
        {"rate-window too short", with_sections("  <limits rate-window=\"500ms\"/>\n"), 4,
         "<limits rate-window>", "\"500ms\" is out of range (1s-1h)"},
        {"max-login-recipient-rate words", with_sections("  <limits max-login-recipient-rate=\"lots\"/>\n"),
         4, "<limits max-login-recipient-rate>", "\"lots\" is not a whole number"},
        {"mail-rate-window too long", with_sections("  <limits mail-rate-window=\"2d\"/>\n"), 4,
         "<limits mail-rate-window>", "is out of range"},
        {"login-lockout-after too many", with_sections("  <limits login-lockout-after=\"101\"/>\n"), 4,
         "<limits login-lockout-after>", "\"101\" is out of range (0-100)"},
        {"stress-threshold over 100", with_sections("  <limits stress-threshold=\"120\"/>\n"), 4,
         "<limits stress-threshold>", "\"120\" is out of range (0-100)"},
        {"stress-greet-delay too long", with_sections("  <limits stress-greet-delay=\"1m\"/>\n"), 4,
         "<limits stress-greet-delay>", "\"1m\" is out of range (0ms-30s)"},
        {"max-errors negative", with_sections("  <limits\n    max-errors=\"-1\"/>\n"), 5,
         "<limits max-errors>", "\"-1\" is not a whole number"},
        {"max-recipients huge", with_sections("  <limits max-recipients=\"99999999999\"/>\n"), 4,
         "<limits max-recipients>", "is not a whole number"},
        {"message size unit", with_sections("  <limits max-message-size=\"10Q\"/>\n"), 4,
         "<limits max-message-size>", "\"10Q\" is not a size"},
        {"message size too small", with_sections("  <limits max-message-size=\"100\"/>\n"), 4,
         "<limits max-message-size>", "\"100\" is out of range (1K-1G)"},
        {"command-timeout words", with_sections("  <limits command-timeout=\"5 minutes\"/>\n"), 4,
         "<limits command-timeout>", "\"5 minutes\" is not a duration"},
        {"data-timeout zero", with_sections("  <limits data-timeout=\"0s\"/>\n"), 4, "<limits data-timeout>",
         "\"0s\" is out of range (100ms-1h)"},
        {"two limits elements", with_sections("  <limits/>\n\n  <limits max-errors=\"3\"/>\n"), 6, "<limits>",
         "given twice (first at line 4)"},
        {"bare-newline", with_sections("  <data bare-newline=\"strip\"/>\n"), 4, "<data bare-newline>",
         "\"strip\" is not one of: reject, normalize"},
        {"log target", with_sections("  <log target=\"/var/log/relayguard.log\"/>\n"), 4, "<log target>",
         "is not one of: stderr, syslog"},
        {"log level", with_sections("  <log level=\"verbose\"/>\n"), 4, "<log level>",
         "\"verbose\" is not one of: debug, info, warning, error"},
    });
}

TEST_CASE("Mistakes in clients relay and auth are reported with their line and item", "[config]") {
    using config_loader_test::Mistake;
    using config_loader_test::with_sections;
    const std::string hash = config_loader_test::alice_hash;
    config_loader_test::check_mistakes({
        {"clients default", with_sections("  <clients default=\"maybe\"/>\n"), 4, "<clients default>",
         "\"maybe\" is not one of: allow, deny"},
        {"unknown clients rule",
         with_sections("  <clients>\n    <permit network=\"10.0.0.0/8\"/>\n  </clients>\n"), 5, "<permit>",
         "unknown element inside <clients> (expected <allow> or <deny>)"},
        {"prefix too long", with_sections("  <clients>\n    <deny network=\"10.0.0.0/33\"/>\n  </clients>\n"),
         5, "<deny network>", "\"10.0.0.0/33\" is not a network"},
        {"host bits set", with_sections("  <relay>\n    <allow network=\"10.0.0.1/8\"/>\n  </relay>\n"), 5,
         "<allow network>", "\"10.0.0.1/8\" is not a network"},
        {"relay allow without network", with_sections("  <relay>\n    <allow/>\n  </relay>\n"), 5,
         "<allow network>", "missing"},
        {"relay requirement", with_sections("  <relay require=\"everyone\"/>\n"), 4, "<relay require>",
         "\"everyone\" is not one of: network-or-auth, network-and-auth, network, auth"},
        {"local senders", with_sections("  <relay local-senders=\"nobody\"/>\n"), 4, "<relay local-senders>",
         "is not one of: trusted-only, anyone"},
        {"open networks", with_sections("  <relay open-networks=\"yes\"/>\n"), 4, "<relay open-networks>",
         "is not one of: deny, allow"},
        {"deny inside relay", with_sections("  <relay>\n    <deny network=\"10.0.0.0/8\"/>\n  </relay>\n"), 5,
         "<deny>", "unknown element inside <relay> (expected <allow> or <domain>)"},
        {"local domain with a space",
         with_sections("  <relay>\n    <domain name=\"exa mple.com\"/>\n  </relay>\n"), 5, "<domain name>",
         "\"exa mple.com\" is not a domain"},
        {"local domain wildcard in the middle",
         with_sections("  <relay>\n    <domain name=\"mail.*.example.com\"/>\n  </relay>\n"), 5,
         "<domain name>", "is not a domain"},
        {"require-tls", with_sections("  <auth require-tls=\"yes\"/>\n"), 4, "<auth require-tls>",
         "\"yes\" is not a boolean (true or false)"},
        {"unsupported mechanism", with_sections("  <auth mechanisms=\"PLAIN CRAM-MD5\"/>\n"), 4,
         "<auth mechanisms>", "\"CRAM-MD5\" is not a supported mechanism (supported: PLAIN LOGIN)"},
        {"mechanism twice", with_sections("  <auth mechanisms=\"PLAIN plain\"/>\n"), 4, "<auth mechanisms>",
         "\"plain\" is listed twice"},
        {"no mechanism", with_sections("  <auth mechanisms=\" \"/>\n"), 4, "<auth mechanisms>",
         "no mechanism given"},
        {"max-failures zero", with_sections("  <auth max-failures=\"0\"/>\n"), 4, "<auth max-failures>",
         "\"0\" is out of range (1-100)"},
        {"lockout", with_sections("  <auth lockout=\"forever\"/>\n"), 4, "<auth lockout>",
         "\"forever\" is not a duration"},
        {"unknown auth child", with_sections("  <auth>\n    <account name=\"alice\"/>\n  </auth>\n"), 5,
         "<account>", "unknown element inside <auth> (expected <user>)"},
        {"user without password", with_sections("  <auth>\n    <user name=\"alice\"/>\n  </auth>\n"), 5,
         "<user password-hash>", "missing"},
        {"user name with a space",
         with_sections("  <auth>\n    <user name=\"alice smith\" password-hash=\"" + hash +
                       "\"/>\n  </auth>\n"),
         5, "<user name>", "\"alice smith\" is not a user name"},
        {"bad password hash",
         with_sections("  <auth>\n    <user name=\"alice\" password-hash=\"$md5$secret\"/>\n  </auth>\n"), 5,
         "<user password-hash>", "not a valid password hash"},
        {"duplicate user",
         with_sections("  <auth>\n    <user name=\"alice\" password-hash=\"" + hash +
                       "\"/>\n    <user name=\"alice\" password-hash=\"" + hash + "\"/>\n  </auth>\n"),
         6, "<user name>", "\"alice\" is already defined at line 5"},
        {"bad sender",
         with_sections("  <auth>\n    <user name=\"alice\" password-hash=\"" + hash +
                       "\" senders=\"alice@example.com alice\"/>\n  </auth>\n"),
         5, "<user senders>", "\"alice\" is neither a sender address"},
        {"empty sender list",
         with_sections("  <auth>\n    <user name=\"alice\" password-hash=\"" + hash +
                       "\" senders=\"\"/>\n  </auth>\n"),
         5, "<user senders>", "no sender given"},
    });
}

TEST_CASE("A password hash is never repeated in an error message", "[config]") {
    const std::string secretish = "$pbkdf2-sha256$i=1000$c2VjcmV0c2FsdA$not-base64!";
    const ConfigLoadResult result = config_loader_test::load(config_loader_test::with_sections(
        "  <auth>\n    <user name=\"alice\" password-hash=\"" + secretish + "\"/>\n  </auth>\n"));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].to_string().find("not-base64") == std::string::npos);
    CHECK(result.errors[0].to_string().find("c2VjcmV0c2FsdA") == std::string::npos);
}

TEST_CASE("Every mistake in a file is reported together and no configuration is built", "[config]") {
    const ConfigLoadResult result = config_loader_test::load(R"xml(<relayguard>
  <listen address="127.0.0.1" port="99999"/>
  <limits max-connections="0" max-errors="ten"/>
  <relay>
    <allow network="0.0.0.0/0"/>
    <domain name="bad domain"/>
  </relay>
  <auth>
    <user name="alice"/>
  </auth>
  <log level="loud"/>
  <frobnicate/>
</relayguard>
)xml");
    CHECK_FALSE(result.config);
    const std::vector<std::string> expected_starts{
        "test.xml:2: <listen port>: ",        "test.xml:3: <limits max-connections>: ",
        "test.xml:3: <limits max-errors>: ",  "test.xml:6: <domain name>: ",
        "test.xml:9: <user password-hash>: ", "test.xml:11: <log level>: ",
        "test.xml:12: <frobnicate>: ",        "test.xml:1: <upstream>: ",
        "test.xml:5: <allow network>: ",
    };
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.errors.size() == expected_starts.size());
    for (std::size_t index = 0; index < expected_starts.size(); ++index) {
        CHECK(result.errors[index].to_string().rfind(expected_starts[index], 0) == 0);
    }
    // The listener was broken, not missing: no second error claims there is none.
    CHECK(result.warnings.empty());
}

TEST_CASE("A flood of errors is cut off with a count of the rest", "[config]") {
    std::string sections;
    for (int index = 0; index < 150; ++index) {
        sections += "  <unknown/>\n";
    }
    const ConfigLoadResult result = config_loader_test::load(config_loader_test::with_sections(sections));
    CHECK_FALSE(result.config);
    REQUIRE(result.errors.size() == 101);
    CHECK(result.errors[99].line == 103);
    CHECK(result.errors[100].to_string() == "test.xml: and 50 more errors not shown");
}

TEST_CASE("More listeners than the limit are refused", "[config]") {
    std::string sections;
    for (int index = 0; index < 32; ++index) {
        sections += "  <listen address=\"127.0.0.1\" port=\"" + std::to_string(3000 + index) + "\"/>\n";
    }
    const ConfigLoadResult result = config_loader_test::load(config_loader_test::with_sections(sections));
    CHECK_FALSE(result.config);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].to_string() == "test.xml:35: <listen>: more than 32 listeners");
}

TEST_CASE("Loading a configuration file names the file in every message", "[config]") {
    const std::string broken = RELAYGUARD_TEST_DATA_DIR "/config/several-mistakes.xml";
    const ConfigLoadResult result = load_config_file(broken);
    CHECK_FALSE(result.config);
    INFO(config_loader_test::describe(result.errors));
    REQUIRE(result.errors.size() == 3);
    CHECK(result.errors[0].to_string() ==
          broken + ":5: <listen port>: \"2o25\" is not a port number (1-65535)");
    CHECK(
        result.errors[1].to_string() ==
        broken +
            ":8: <upstream connect-timeout>: \"10 seconds\" is not a duration (such as 250ms, 30s, 5m, 1h)");
    CHECK(result.errors[2].to_string().rfind(
              broken + ":13: <allow network>: \"192.168.1.0/16\" is not a network (such as 192.0.2.0/24",
              0) == 0);
}

TEST_CASE("A configuration file that cannot be read is reported clearly", "[config]") {
    const std::string missing = RELAYGUARD_TEST_DATA_DIR "/config/does-not-exist.xml";
    const ConfigLoadResult absent = load_config_file(missing);
    CHECK_FALSE(absent.config);
    REQUIRE(absent.errors.size() == 1);
    CHECK(absent.errors[0].to_string() ==
          missing + ": cannot open the configuration: No such file or directory");

    const std::string directory = RELAYGUARD_TEST_DATA_DIR "/config";
    const ConfigLoadResult folder = load_config_file(directory);
    CHECK_FALSE(folder.config);
    REQUIRE(folder.errors.size() == 1);
    CHECK(folder.errors[0].to_string() == directory + ": cannot read the configuration: Is a directory");
}

TEST_CASE("An oversized configuration is refused before parsing", "[config]") {
    std::string huge = config_loader_test::with_sections("");
    huge.insert(huge.size() - std::string("</relayguard>\n").size(), 1024 * 1024, ' ');
    const ConfigLoadResult result = config_loader_test::load(huge);
    CHECK_FALSE(result.config);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].to_string() ==
          "test.xml: the configuration is larger than 1024 KiB; is this the right file?");
}
