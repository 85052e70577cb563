#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace relayguard::policy;

namespace config_lint_test {

ConfigLoadResult load(const std::string& xml) {
    return load_config_text(xml, "lint.xml");
}

std::string describe(const ConfigLoadResult& result) {
    std::string text;
    for (const ConfigProblem& problem : result.errors) {
        text += "error: " + problem.to_string() + "\n";
    }
    for (const ConfigProblem& problem : result.warnings) {
        text += "warning: " + problem.to_string() + "\n";
    }
    return text;
}

// Listener and upstream on lines 2 and 3; `sections` starts on line 4.
std::string with_sections(const std::string& sections) {
    return "<relayguard>\n"
           "  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
           "  <upstream host=\"192.0.2.10\" port=\"25\"/>\n" +
           sections + "</relayguard>\n";
}

std::string relay_allowing(const std::string& network, const std::string& relay_attributes = "") {
    return with_sections("  <relay" + relay_attributes + ">\n    <allow network=\"" + network +
                         "\"/>\n    <domain name=\"example.com\"/>\n  </relay>\n");
}

// The plaintext of this hash is "correct horse battery staple".
const std::string user = "    <user name=\"alice\" "
                         "password-hash=\"$pbkdf2-sha256$i=1000$CPbL2TOjPG0CL7FsLr7Aww$w7XjILfqDHLcnx7+"
                         "7oha55yMETluOQlCdeFZs0ug/oo\"/>\n";
const std::string tls = "  <tls certificate=\"/etc/relayguard/cert.pem\" key=\"/etc/relayguard/key.pem\"/>\n";

void require_only_warning(const ConfigLoadResult& result, const std::string& expected) {
    INFO(describe(result));
    REQUIRE(result.config);
    REQUIRE(result.warnings.size() == 1);
    CHECK(result.warnings[0].to_string() == expected);
}

void require_clean(const ConfigLoadResult& result) {
    INFO(describe(result));
    REQUIRE(result.config);
    CHECK(result.warnings.empty());
}

} // namespace config_lint_test

TEST_CASE("A relay allowlist that covers every address is an open relay error", "[config][lint]") {
    for (const char* network : {"0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"}) {
        const ConfigLoadResult result = config_lint_test::load(config_lint_test::relay_allowing(network));
        INFO(network << "\n" << config_lint_test::describe(result));
        CHECK_FALSE(result.config);
        REQUIRE(result.errors.size() == 1);
        const ConfigProblem& error = result.errors[0];
        CHECK(error.line == 5);
        CHECK(error.item == "<allow network>");
        CHECK_THAT(error.message, Catch::Contains("lets clients at every IPv"));
        CHECK_THAT(error.message, Catch::Contains("it would be an open relay"));
        CHECK_THAT(error.message, Catch::Contains("mynetworks = 0.0.0.0/0"));
        CHECK_THAT(error.message, Catch::Contains("<relay open-networks=\"allow\">"));
    }
}

TEST_CASE("The open relay error explains itself in full", "[config][lint]") {
    const ConfigLoadResult result = config_lint_test::load(config_lint_test::relay_allowing("0.0.0.0/0"));
    REQUIRE(result.errors.size() == 1);
    CHECK(
        result.errors[0].to_string() ==
        "lint.xml:5: <allow network>: \"0.0.0.0/0\" lets clients at every IPv4 address relay through "
        "relayguard: it would be an open relay, the classic Postfix mistake \"mynetworks = 0.0.0.0/0\", and "
        "spammers find such relays within hours. Allowlist only your own networks (prefixes of /8 or "
        "longer), "
        "or set <relay open-networks=\"allow\"> if this is truly intended");
}

TEST_CASE("Relay allowlist prefixes shorter than /8 or /16 are open relay errors", "[config][lint]") {
    const std::vector<std::pair<const char*, const char*>> too_wide{
        {"0.0.0.0/1", "1/2 of all IPv4 addresses"},
        {"8.0.0.0/7", "1/128 of all IPv4 addresses"},
        {"2000::/3", "1/8 of all IPv6 addresses"},
        {"2000::/15", "1/32768 of all IPv6 addresses"},
    };
    for (const auto& [network, share] : too_wide) {
        const ConfigLoadResult result = config_lint_test::load(config_lint_test::relay_allowing(network));
        INFO(network << "\n" << config_lint_test::describe(result));
        CHECK_FALSE(result.config);
        REQUIRE(result.errors.size() == 1);
        CHECK(result.errors[0].line == 5);
        CHECK(result.errors[0].item == "<allow network>");
        CHECK_THAT(result.errors[0].message, Catch::Contains(std::string("lets clients at ") + share));
    }
    const ConfigLoadResult v6 = config_lint_test::load(config_lint_test::relay_allowing("2000::/3"));
    REQUIRE(v6.errors.size() == 1);
    CHECK_THAT(v6.errors[0].message, Catch::Contains("(prefixes of /16 or longer)"));
}

TEST_CASE("Relay allowlist prefixes of /8 and /16 pass the lint", "[config][lint]") {
    for (const char* network : {"10.0.0.0/8", "2001::/16", "192.0.2.1", "::1"}) {
        INFO(network);
        config_lint_test::require_clean(config_lint_test::load(config_lint_test::relay_allowing(network)));
    }
}

TEST_CASE("open-networks allow turns the open relay error into a warning", "[config][lint]") {
    const ConfigLoadResult result =
        config_lint_test::load(config_lint_test::relay_allowing("0.0.0.0/0", " open-networks=\"allow\""));
    config_lint_test::require_only_warning(
        result,
        "lint.xml:5: <allow network>: \"0.0.0.0/0\" lets clients at every IPv4 address relay (permitted by "
        "open-networks=\"allow\")");
    CHECK(result.config->open_networks_allowed);
    CHECK(result.config->relay.is_trusted_network(*IpAddress::parse("203.0.113.50")));
}

TEST_CASE("An open relay error is reported together with other errors", "[config][lint]") {
    const ConfigLoadResult result = config_lint_test::load(R"xml(<relayguard>
  <listen address="127.0.0.1" port="25000000"/>
  <upstream host="192.0.2.10"/>
  <relay>
    <allow network="10.0.0.0/8"/>
    <allow network="::/0"/>
  </relay>
</relayguard>)xml");
    INFO(config_lint_test::describe(result));
    CHECK_FALSE(result.config);
    REQUIRE(result.errors.size() == 2);
    CHECK(result.errors[0].line == 2);
    CHECK(result.errors[0].item == "<listen port>");
    CHECK(result.errors[1].line == 6);
    CHECK(result.errors[1].item == "<allow network>");
    CHECK_THAT(result.errors[1].message, Catch::Contains("open relay"));
}

TEST_CASE("AUTH users without tls are a warning", "[config][lint]") {
    using config_lint_test::user;
    config_lint_test::require_only_warning(config_lint_test::load(config_lint_test::with_sections(
                                               "  <relay><domain name=\"example.com\"/></relay>\n"
                                               "  <auth>\n" +
                                               user + "  </auth>\n")),
                                           "lint.xml:5: <auth>: users are configured without <tls>, and "
                                           "require-tls=\"true\" means AUTH is never "
                                           "offered: nobody can log in");
    config_lint_test::require_only_warning(config_lint_test::load(config_lint_test::with_sections(
                                               "  <relay><domain name=\"example.com\"/></relay>\n"
                                               "  <auth require-tls=\"false\">\n" +
                                               user + "  </auth>\n")),
                                           "lint.xml:5: <auth>: users are configured without <tls>: their "
                                           "passwords would cross the network in clear "
                                           "text");
}

TEST_CASE("AUTH users with tls that no listener offers are a warning", "[config][lint]") {
    const ConfigLoadResult result =
        config_lint_test::load("<relayguard>\n"
                               "  <listen address=\"127.0.0.1\" port=\"2525\" tls=\"none\"/>\n"
                               "  <upstream host=\"192.0.2.10\"/>\n" +
                               config_lint_test::tls +
                               "  <relay><domain name=\"example.com\"/></relay>\n"
                               "  <auth require-tls=\"false\">\n" +
                               config_lint_test::user + "  </auth>\n</relayguard>\n");
    config_lint_test::require_only_warning(
        result,
        "lint.xml:6: <auth>: users are configured but no <listen> offers TLS: their passwords would cross "
        "the network in clear text");
}

TEST_CASE("AUTH users with tls pass the lint", "[config][lint]") {
    config_lint_test::require_clean(config_lint_test::load(
        config_lint_test::with_sections(config_lint_test::tls + "  <relay require=\"auth\"/>\n  <auth>\n" +
                                        config_lint_test::user + "  </auth>\n")));
}

TEST_CASE("require network with an empty allowlist is a warning", "[config][lint]") {
    config_lint_test::require_only_warning(
        config_lint_test::load(config_lint_test::with_sections(
            "  <relay require=\"network\">\n    <domain name=\"example.com\"/>\n  </relay>\n")),
        "lint.xml:4: <relay require>: require=\"network\" but the relay allowlist is empty: nobody may "
        "relay, only "
        "mail for the local domains is accepted");
}

TEST_CASE("A requirement nobody can meet without local domains means no mail can flow", "[config][lint]") {
    using config_lint_test::with_sections;
    const std::string no_mail =
        ", and there are no local domains: no recipient is ever accepted, so no mail can flow";
    struct Case {
        std::string xml;
        int line;
        std::string reason;
    };
    const std::vector<Case> cases{
        {with_sections("  <relay require=\"network\"/>\n"), 4,
         "require=\"network\" but the relay allowlist is empty"},
        {with_sections("  <relay require=\"auth\">\n    <allow network=\"10.0.0.0/8\"/>\n  </relay>\n"), 4,
         "require=\"auth\" but no <user> is configured"},
        {with_sections(
             "  <relay require=\"network-and-auth\">\n    <allow network=\"10.0.0.0/8\"/>\n  </relay>\n"),
         4, "require=\"network-and-auth\" but no <user> is configured"},
        {with_sections(config_lint_test::tls + "  <relay require=\"network-and-auth\"/>\n  <auth>\n" +
                       config_lint_test::user + "  </auth>\n"),
         5, "require=\"network-and-auth\" but the relay allowlist is empty"},
        {with_sections("  <relay/>\n"), 4,
         "require=\"network-or-auth\" but the relay allowlist is empty and no <user> is configured"},
        // Without <relay> at all, the warning points at the root element.
        {with_sections("  <log level=\"debug\"/>\n"), 1,
         "require=\"network-or-auth\" but the relay allowlist is empty and no <user> is configured"},
    };
    for (const Case& each : cases) {
        const ConfigLoadResult result = config_lint_test::load(each.xml);
        INFO(each.xml << "\n" << config_lint_test::describe(result));
        REQUIRE(result.config);
        REQUIRE(result.warnings.size() == 1);
        CHECK(result.warnings[0].line == each.line);
        CHECK(result.warnings[0].item == "<relay require>");
        CHECK(result.warnings[0].message == each.reason + no_mail);
    }
}

TEST_CASE("Users that can never log in do not meet require auth", "[config][lint]") {
    // require-tls="true" (the default) and no <tls>: AUTH is never offered.
    const ConfigLoadResult result = config_lint_test::load(config_lint_test::with_sections(
        "  <relay require=\"auth\"/>\n  <auth>\n" + config_lint_test::user + "  </auth>\n"));
    INFO(config_lint_test::describe(result));
    REQUIRE(result.config);
    REQUIRE(result.warnings.size() == 2);
    CHECK(result.warnings[0].item == "<auth>");
    CHECK(result.warnings[1].to_string() ==
          "lint.xml:4: <relay require>: require=\"auth\" but AUTH is never offered (require-tls=\"true\" and "
          "no "
          "TLS), and there are no local domains: no recipient is ever accepted, so no mail can flow");
}

TEST_CASE("An inbound-only gateway with the default requirement passes the lint", "[config][lint]") {
    config_lint_test::require_clean(config_lint_test::load(
        config_lint_test::with_sections("  <relay>\n    <domain name=\"example.com\"/>\n  </relay>\n")));
}

TEST_CASE("A client ACL that refuses everyone is a warning", "[config][lint]") {
    config_lint_test::require_only_warning(
        config_lint_test::load(config_lint_test::with_sections(
            "  <clients default=\"deny\">\n    <deny network=\"203.0.113.0/24\"/>\n  </clients>\n"
            "  <relay><allow network=\"127.0.0.0/8\"/></relay>\n")),
        "lint.xml:4: <clients default>: \"deny\" without any <allow>: every client is refused at connect, so "
        "no mail "
        "can flow");
}

TEST_CASE("A client rule hidden behind an earlier rule is a warning", "[config][lint]") {
    config_lint_test::require_only_warning(config_lint_test::load(config_lint_test::with_sections(
                                               "  <clients>\n    <deny network=\"198.51.100.0/24\"/>\n    "
                                               "<allow network=\"198.51.100.7\"/>\n  </clients>\n"
                                               "  <relay><allow network=\"127.0.0.0/8\"/></relay>\n")),
                                           "lint.xml:6: <allow network>: \"198.51.100.7/32\" never matches: "
                                           "<deny network=\"198.51.100.0/24\"> at line 5 "
                                           "comes first and covers it");
}

TEST_CASE("Repeated relay networks and domains are warnings", "[config][lint]") {
    const ConfigLoadResult result = config_lint_test::load(config_lint_test::with_sections(
        "  <relay>\n    <allow network=\"10.0.0.0/8\"/>\n    <allow network=\"10.0.0.0/8\"/>\n"
        "    <domain name=\"example.com\"/>\n    <domain name=\"EXAMPLE.com\"/>\n  </relay>\n"));
    INFO(config_lint_test::describe(result));
    REQUIRE(result.config);
    REQUIRE(result.warnings.size() == 2);
    CHECK(result.warnings[0].to_string() ==
          "lint.xml:6: <allow network>: \"10.0.0.0/8\" is already listed at line 5");
    CHECK(result.warnings[1].to_string() == "lint.xml:8: <domain name>: \"EXAMPLE.com\" is listed twice");
}

TEST_CASE("A per-client connection limit above the total is a warning", "[config][lint]") {
    config_lint_test::require_only_warning(
        config_lint_test::load(config_lint_test::with_sections(
            "  <limits max-connections=\"10\"\n          max-connections-per-client=\"20\"/>\n"
            "  <relay><allow network=\"127.0.0.0/8\"/></relay>\n")),
        "lint.xml:5: <limits max-connections-per-client>: is larger than max-connections (10) and "
        "trusted-connections (10), so it never applies");
    // The trusted pool may be the larger one; the limit applies there.
    config_lint_test::require_clean(config_lint_test::load(
        config_lint_test::with_sections("  <limits max-connections=\"10\" trusted-connections=\"40\"\n       "
                                        "   max-connections-per-client=\"20\"/>\n"
                                        "  <relay><allow network=\"127.0.0.0/8\"/></relay>\n")));
}

TEST_CASE("Warnings are not reported for a configuration with errors", "[config][lint]") {
    // Alone, this file would warn that nobody may relay; with a broken user that warning would mislead.
    const ConfigLoadResult result = config_lint_test::load(
        config_lint_test::with_sections("  <relay require=\"auth\"/>\n  <auth>\n    <user name=\"alice\" "
                                        "password-hash=\"nope\"/>\n  </auth>\n"));
    CHECK_FALSE(result.config);
    CHECK(result.errors.size() == 1);
    CHECK(result.warnings.empty());
}
