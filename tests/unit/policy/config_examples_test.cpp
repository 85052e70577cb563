#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

using namespace relayguard::policy;

namespace config_examples_test {

std::string example_path(const char* name) {
    return std::string(RELAYGUARD_DOCS_DIR "/examples/") + name;
}

ConfigLoadResult load_example(const char* name) {
    ConfigLoadResult result = load_config_file(example_path(name));
    std::string problems;
    for (const ConfigProblem& problem : result.errors) {
        problems += "error: " + problem.to_string() + "\n";
    }
    for (const ConfigProblem& problem : result.warnings) {
        problems += "warning: " + problem.to_string() + "\n";
    }
    INFO(problems);
    REQUIRE(result.config);
    CHECK(result.errors.empty());
    CHECK(result.warnings.empty());
    return result;
}

IpAddress address(const char* text) {
    return *IpAddress::parse(text);
}

} // namespace config_examples_test

TEST_CASE("Every example configuration in docs loads without errors or warnings", "[config][docs]") {
    for (const char* name : {"minimal.xml", "small-office.xml", "isp-edge.xml"}) {
        INFO(name);
        const ConfigLoadResult result = config_examples_test::load_example(name);
        CHECK(result.config->source == config_examples_test::example_path(name));
    }
}

TEST_CASE("The minimal example relays for the office and accepts mail for its domain", "[config][docs]") {
    const ConfigLoadResult result = config_examples_test::load_example("minimal.xml");
    const Config& config = *result.config;
    CHECK(config.relay.is_trusted_network(config_examples_test::address("192.168.1.20")));
    CHECK_FALSE(config.relay.is_trusted_network(config_examples_test::address("192.168.2.20")));
    CHECK(config.relay.is_local_domain("example.com"));
    CHECK(config.upstream.host == "192.168.1.10");
}

TEST_CASE("The small office example offers TLS and AUTH", "[config][docs]") {
    const ConfigLoadResult result = config_examples_test::load_example("small-office.xml");
    const Config& config = *result.config;
    REQUIRE(config.listeners.size() == 2);
    CHECK(config.listeners[0].tls == ListenTls::starttls);
    CHECK(config.listeners[1].tls == ListenTls::implicit);
    REQUIRE(config.auth.users.size() == 3);
    // The documentation's hashes are real: alice's password is "docs-alice-example".
    CHECK(config.auth.users[0].password_hash.verify("docs-alice-example"));
    CHECK(config.auth.users[1].senders.size() == 2);
    CHECK(config.auth.users[2].senders.empty());
    CHECK_FALSE(config.clients.allows(config_examples_test::address("203.0.113.7")));
}

TEST_CASE("The ISP edge example trusts customer networks only", "[config][docs]") {
    const ConfigLoadResult result = config_examples_test::load_example("isp-edge.xml");
    const Config& config = *result.config;
    CHECK(config.relay.requirement() == RelayRequirement::network);
    CHECK(config.relay.is_trusted_network(config_examples_test::address("2001:db8:100:1::9")));
    CHECK_FALSE(config.clients.allows(config_examples_test::address("198.51.100.200")));
    CHECK(config.clients.allows(config_examples_test::address("198.51.100.20")));
    CHECK(config.upstream.tls == UpstreamTls::required);
    CHECK(config.upstream.xclient);
}

TEST_CASE("The configuration guide shows the embedded default as it is", "[config][docs]") {
    std::ifstream guide(RELAYGUARD_DOCS_DIR "/configuration.md");
    REQUIRE(guide);
    std::ostringstream text;
    text << guide.rdbuf();
    CHECK(text.str().find(std::string("```xml\n") + embedded_default_config + "```\n") != std::string::npos);
}
