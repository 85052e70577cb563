// The command line of `relayguard probe`.
#include "probe/probe_options.hpp"
#include "text_output.hpp"

#include <catch2/catch.hpp>

namespace probe_options_test {

std::optional<relayguard::firmware::ProbeOptions> parse(std::vector<std::string> args,
                                                        std::string* errors = nullptr) {
    relayguard::firmware::StringOutput err;
    auto options = relayguard::firmware::parse_probe_options(args, err);
    if (errors != nullptr) {
        *errors = err.str();
    }
    return options;
}

} // namespace probe_options_test

TEST_CASE("Targets are HOST, HOST:PORT and [IPv6]:PORT", "[probe]") {
    using probe_options_test::parse;
    auto options = parse({"mx.example.com"});
    REQUIRE(options);
    CHECK(options->host == "mx.example.com");
    CHECK(options->port == 25);
    options = parse({"192.0.2.1:587"});
    REQUIRE(options);
    CHECK(options->host == "192.0.2.1");
    CHECK(options->port == 587);
    options = parse({"[2001:db8::1]:465", "--tls"});
    REQUIRE(options);
    CHECK(options->host == "2001:db8::1");
    CHECK(options->port == 465);
    CHECK(options->tls == relayguard::firmware::ProbeTls::implicit);
    options = parse({"2001:db8::1"});
    REQUIRE(options);
    CHECK(options->host == "2001:db8::1");
    CHECK(options->port == 25);
}

TEST_CASE("Bad targets and options are usage errors that say why", "[probe]") {
    using probe_options_test::parse;
    std::string errors;
    CHECK_FALSE(parse({}, &errors));
    CHECK_THAT(errors, Catch::Contains("which server?"));
    CHECK_FALSE(parse({"host:0"}, &errors));
    CHECK_FALSE(parse({"host:70000"}, &errors));
    CHECK_FALSE(parse({"[2001:db8::1"}, &errors));
    CHECK_FALSE(parse({"host", "--pace", "fast"}, &errors));
    CHECK_THAT(errors, Catch::Contains("is not a duration"));
    CHECK_FALSE(parse({"host", "--timeout", "0"}, &errors));
    CHECK_FALSE(parse({"host", "--send"}, &errors));
    CHECK_THAT(errors, Catch::Contains("--send needs --data"));
    CHECK_FALSE(parse({"host", "--to-domain", "evil.test>\r\nRCPT"}, &errors));
    CHECK_FALSE(parse({"host", "--frobnicate"}, &errors));
    CHECK_THAT(errors, Catch::Contains("unexpected argument"));
}

TEST_CASE("Durations and defaults", "[probe]") {
    auto options = probe_options_test::parse({"host", "--pace", "250ms", "--timeout", "2m"});
    REQUIRE(options);
    CHECK(options->pace == std::chrono::milliseconds(250));
    CHECK(options->timeout == std::chrono::minutes(2));
    options = probe_options_test::parse({"host"});
    REQUIRE(options);
    CHECK(options->pace == std::chrono::milliseconds(100));
    CHECK(options->from_domain == "probe-sender.test");
    CHECK(options->to_domain == "probe-elsewhere.test");
    CHECK_FALSE(options->data);
    CHECK(options->injection_check);
}
