// <metrics listen>: where Prometheus scrapes relayguard, and the SHA-256 of the file that was loaded.
#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace relayguard::policy;

namespace config_metrics_test {

const std::string head = "<relayguard>\n"
                         "  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                         "  <upstream host=\"192.0.2.10\"/>\n";

ConfigLoadResult load_with(const std::string& sections) {
    return load_config_text(head + sections + "</relayguard>\n", "metrics.xml");
}

std::string describe(const ConfigLoadResult& result) {
    std::string text;
    for (const ConfigProblem& problem : result.errors) {
        text += problem.to_string() + "\n";
    }
    return text;
}

} // namespace config_metrics_test

TEST_CASE("The metrics endpoint is off unless configured", "[config][metrics]") {
    const ConfigLoadResult result = config_metrics_test::load_with("");
    REQUIRE(result.config);
    CHECK_FALSE(result.config->metrics);
    const ConfigLoadResult embedded = load_embedded_default_config();
    REQUIRE(embedded.config);
    CHECK_FALSE(embedded.config->metrics);
}

TEST_CASE("The metrics listener is an address and port, or a port on every address of an interface",
          "[config][metrics]") {
    struct Case {
        const char* xml;
        const char* address;
        unsigned port;
        const char* interface;
    };
    const Case cases[] = {
        {"<metrics listen=\"127.0.0.1:9125\"/>", "127.0.0.1", 9125, ""},
        {"<metrics listen=\"[::1]:9125\"/>", "::1", 9125, ""},
        {"<metrics listen=\"[0:0::1]:9125\"/>", "::1", 9125, ""}, // canonical form
        {"<metrics listen=\"0.0.0.0:9100\" interface=\"mgmt\"/>", "0.0.0.0", 9100, "mgmt"},
        {"<metrics listen=\":9125\" interface=\"lan\"/>", "", 9125, "lan"},
    };
    for (const Case& each : cases) {
        DYNAMIC_SECTION(each.xml) {
            const ConfigLoadResult result =
                config_metrics_test::load_with(std::string("  ") + each.xml + "\n");
            INFO(config_metrics_test::describe(result));
            REQUIRE(result.config);
            REQUIRE(result.config->metrics);
            CHECK(result.config->metrics->address == each.address);
            CHECK(result.config->metrics->port == each.port);
            CHECK(result.config->metrics->interface == each.interface);
            CHECK(result.config->metrics->tls == ListenTls::none);
            CHECK(result.config->metrics->line == 4);
        }
    }
}

TEST_CASE("Mistakes in metrics are reported with their line and item", "[config][metrics]") {
    struct Mistake {
        const char* xml;
        const char* item;
        const char* fragment;
    };
    const Mistake mistakes[] = {
        {"<metrics/>", "<metrics listen>", "missing"},
        {"<metrics listen=\"9125\"/>", "<metrics listen>", "is not ADDRESS:PORT"},
        {"<metrics listen=\"127.0.0.1:\"/>", "<metrics listen>", "port"},
        {"<metrics listen=\"127.0.0.1:70000\"/>", "<metrics listen>", "port"},
        {"<metrics listen=\"::1:9125\"/>", "<metrics listen>", "needs brackets: \"[::1]:9125\""},
        {"<metrics listen=\"metrics.local:9125\"/>", "<metrics listen>", ""},
        {"<metrics listen=\":9125\"/>", "<metrics listen>", "needs an interface"},
        {"<metrics listen=\"127.0.0.1:9125\" path=\"/m\"/>", "<metrics path>", ""},
        {"<metrics listen=\"127.0.0.1:2525\"/>", "<metrics listen>",
         "already taken by the <listen> at line 2"},
        {"<metrics listen=\"127.0.0.1:9125\"/><metrics listen=\"127.0.0.1:9126\"/>", "<metrics>", ""},
    };
    for (const Mistake& mistake : mistakes) {
        DYNAMIC_SECTION(mistake.xml) {
            const ConfigLoadResult result =
                config_metrics_test::load_with(std::string("  ") + mistake.xml + "\n");
            INFO(config_metrics_test::describe(result));
            CHECK_FALSE(result.config);
            REQUIRE(result.errors.size() == 1);
            CHECK(result.errors[0].line == 4);
            CHECK(result.errors[0].item == mistake.item);
            CHECK_THAT(result.errors[0].message, Catch::Contains(mistake.fragment));
        }
    }
}

TEST_CASE("A loaded configuration carries the SHA-256 of its text", "[config][metrics]") {
    // sha256sum of the exact bytes; a different byte gives a different hash.
    const std::string text = "<relayguard><listen address=\"127.0.0.1\" port=\"2525\"/>"
                             "<upstream host=\"192.0.2.10\"/></relayguard>\n";
    const ConfigLoadResult result = load_config_text(text, "hash.xml");
    REQUIRE(result.config);
    CHECK(result.config->sha256 == "25d07b192ff0afa79ad84fd51553e5f66a8ce78bf4e69c0344dc5bd8cf1af432");
    const ConfigLoadResult other = load_config_text(text + " ", "hash.xml");
    REQUIRE(other.config);
    CHECK(other.config->sha256.size() == 64);
    CHECK(other.config->sha256 != result.config->sha256);
}

TEST_CASE("Metrics on every address without an interface are warned about", "[config][metrics]") {
    const auto metrics_warnings = [](const ConfigLoadResult& result) {
        std::vector<ConfigProblem> found;
        for (const ConfigProblem& warning : result.warnings) {
            if (warning.item == "<metrics listen>") {
                found.push_back(warning);
            }
        }
        return found;
    };
    const ConfigLoadResult open = config_metrics_test::load_with("  <metrics listen=\"0.0.0.0:9125\"/>\n");
    REQUIRE(open.config);
    const std::vector<ConfigProblem> warned = metrics_warnings(open);
    REQUIRE(warned.size() == 1);
    CHECK(warned[0].line == 4);
    CHECK_THAT(warned[0].message, Catch::Contains("to anyone who reaches the box"));
    for (const char* confined :
         {"<metrics listen=\"127.0.0.1:9125\"/>", "<metrics listen=\"[::]:9125\" interface=\"mgmt\"/>",
          "<metrics listen=\"192.0.2.1:9125\"/>"}) {
        CAPTURE(confined);
        const ConfigLoadResult result = config_metrics_test::load_with(std::string("  ") + confined + "\n");
        REQUIRE(result.config);
        CHECK(metrics_warnings(result).empty());
    }
    CHECK(metrics_warnings(config_metrics_test::load_with("  <metrics listen=\"[::]:9125\"/>\n")).size() ==
          1);
}
