// <run>, <watchdog> and listeners that follow an interface: the platform side of the configuration.
#include <relayguard/policy/config_loader.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace relayguard::policy;

namespace config_platform_test {

ConfigLoadResult load_with(const std::string& sections) {
    return relayguard::policy::load_config_text("<relayguard>\n"
                                                "  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                                                "  <upstream host=\"192.0.2.10\"/>\n" +
                                                    sections + "</relayguard>\n",
                                                "platform.xml");
}

std::string describe(const ConfigLoadResult& result) {
    std::string text;
    for (const ConfigProblem& problem : result.errors) {
        text += problem.to_string() + "\n";
    }
    return text;
}

// Exactly one error, on line 4 (the first line after the valid head), naming `item`.
void check_single_error(const std::string& sections, const char* item, const char* fragment) {
    const ConfigLoadResult result = load_with(sections);
    INFO(describe(result));
    CHECK_FALSE(result.config);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].line == 4);
    CHECK(result.errors[0].item == item);
    CHECK_THAT(result.errors[0].message, Catch::Contains(fragment));
}

} // namespace config_platform_test

TEST_CASE("Without run and watchdog the process keeps its account and watchdog is auto",
          "[config][platform]") {
    const ConfigLoadResult result = config_platform_test::load_with("");
    REQUIRE(result.config);
    const Config& config = *result.config;
    CHECK(config.run.user.empty());
    CHECK(config.run.group.empty());
    CHECK(config.run.pid_file.empty());
    CHECK(config.watchdog.backend == WatchdogMode::automatic);
    CHECK(config.watchdog.device == "/dev/watchdog");
    CHECK(config.watchdog.timeout == std::chrono::seconds(30));
}

TEST_CASE("run and watchdog are read into the configuration", "[config][platform]") {
    const ConfigLoadResult result = config_platform_test::load_with(
        "  <run user=\"relayguard\" group=\"mail\" pid-file=\"/run/relayguard.pid\"/>\n"
        "  <watchdog backend=\"device\" device=\"/dev/watchdog1\" timeout=\"15s\"/>\n");
    INFO(config_platform_test::describe(result));
    REQUIRE(result.config);
    const Config& config = *result.config;
    CHECK(config.run.user == "relayguard");
    CHECK(config.run.group == "mail");
    CHECK(config.run.pid_file == "/run/relayguard.pid");
    CHECK(config.watchdog.backend == WatchdogMode::device);
    CHECK(config.watchdog.device == "/dev/watchdog1");
    CHECK(config.watchdog.timeout == std::chrono::seconds(15));
}

TEST_CASE("Every watchdog back-end name is accepted", "[config][platform]") {
    const std::pair<const char*, WatchdogMode> names[] = {{"auto", WatchdogMode::automatic},
                                                          {"device", WatchdogMode::device},
                                                          {"systemd", WatchdogMode::systemd},
                                                          {"procd", WatchdogMode::procd},
                                                          {"none", WatchdogMode::none}};
    for (const auto& [name, mode] : names) {
        DYNAMIC_SECTION(name) {
            const ConfigLoadResult result =
                config_platform_test::load_with(std::string("  <watchdog backend=\"") + name + "\"/>\n");
            REQUIRE(result.config);
            CHECK(result.config->watchdog.backend == mode);
        }
    }
}

TEST_CASE("Mistakes in run and watchdog are reported with their line and item", "[config][platform]") {
    using config_platform_test::check_single_error;
    SECTION("user name with a space") {
        check_single_error("  <run user=\"mail user\"/>\n", "<run user>", "is not an account name");
    }
    SECTION("user name that looks like an option") {
        check_single_error("  <run user=\"-root\"/>\n", "<run user>", "is not an account name");
    }
    SECTION("numeric user") {
        check_single_error("  <run user=\"0\"/>\n", "<run user>", "is not an account name");
    }
    SECTION("group without user") {
        check_single_error("  <run group=\"mail\"/>\n", "<run group>", "a group without a user");
    }
    SECTION("empty pid file") {
        check_single_error("  <run pid-file=\"\"/>\n", "<run pid-file>", "a file name");
    }
    SECTION("unknown attribute") {
        check_single_error("  <run chroot=\"/var/empty\"/>\n", "<run chroot>", "");
    }
    SECTION("unknown back-end") {
        check_single_error("  <watchdog backend=\"hardware\"/>\n", "<watchdog backend>",
                           "is not one of: auto, device, systemd, procd, none");
    }
    SECTION("device without backend device") {
        check_single_error("  <watchdog device=\"/dev/watchdog0\"/>\n", "<watchdog device>",
                           "only used with backend=\"device\"");
    }
    SECTION("timeout too short for any driver") {
        check_single_error("  <watchdog backend=\"device\" timeout=\"500ms\"/>\n", "<watchdog timeout>", "");
    }
    SECTION("timeout too long") {
        check_single_error("  <watchdog timeout=\"2h\"/>\n", "<watchdog timeout>", "");
    }
}

TEST_CASE("A listener may follow an interface instead of naming an address", "[config][platform]") {
    const ConfigLoadResult result = relayguard::policy::load_config_text(R"xml(<relayguard>
  <listen interface="lan1" port="25"/>
  <listen interface="lan2" port="25" tls="none"/>
  <listen address="127.0.0.1" port="2525"/>
  <upstream host="192.0.2.10"/>
</relayguard>)xml",
                                                                         "follow.xml");
    INFO(config_platform_test::describe(result));
    REQUIRE(result.config);
    REQUIRE(result.config->listeners.size() == 3);
    CHECK(result.config->listeners[0].follows_interface());
    CHECK(result.config->listeners[0].interface == "lan1");
    CHECK(result.config->listeners[1].follows_interface());
    CHECK_FALSE(result.config->listeners[2].follows_interface());
}

TEST_CASE("Two listeners following one interface on one port collide", "[config][platform]") {
    const ConfigLoadResult result = relayguard::policy::load_config_text(R"xml(<relayguard>
  <upstream host="192.0.2.10"/>
  <listen interface="lan1" port="25"/>
  <listen interface="lan1" port="25"/>
</relayguard>)xml",
                                                                         "collide.xml");
    REQUIRE_FALSE(result.config);
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].line == 4);
    CHECK_THAT(result.errors[0].message, Catch::Contains("already taken"));
}

TEST_CASE("log server names a syslog collector by transport, literal address and port", "[config][syslog]") {
    using config_platform_test::load_with;
    struct Case {
        const char* server;
        SyslogServer::Transport transport;
        const char* address;
        unsigned port;
        const char* text;
    };
    const Case cases[] = {
        {"udp://192.0.2.10", SyslogServer::Transport::udp, "192.0.2.10", 514, "udp://192.0.2.10:514"},
        {"udp://192.0.2.10:5514", SyslogServer::Transport::udp, "192.0.2.10", 5514, "udp://192.0.2.10:5514"},
        {"tcp://[2001:db8::1]:6514", SyslogServer::Transport::tcp, "2001:db8::1", 6514,
         "tcp://[2001:db8::1]:6514"},
        {"tcp://[::1]", SyslogServer::Transport::tcp, "::1", 514, "tcp://[::1]:514"},
    };
    for (const Case& each : cases) {
        DYNAMIC_SECTION(each.server) {
            const ConfigLoadResult result =
                load_with(std::string("  <log target=\"syslog\" server=\"") + each.server + "\"/>\n");
            INFO(config_platform_test::describe(result));
            REQUIRE(result.config);
            REQUIRE(result.config->log.server);
            CHECK(result.config->log.server->transport == each.transport);
            CHECK(result.config->log.server->address == each.address);
            CHECK(result.config->log.server->port == each.port);
            CHECK(result.config->log.server->to_string() == each.text);
        }
    }
    const ConfigLoadResult local = load_with("  <log target=\"syslog\"/>\n");
    REQUIRE(local.config);
    CHECK_FALSE(local.config->log.server);
}

TEST_CASE("Mistakes in log server are reported with their line", "[config][syslog]") {
    using config_platform_test::check_single_error;
    check_single_error("  <log server=\"udp://192.0.2.10\"/>\n", "<log server>", "needs target=\"syslog\"");
    check_single_error("  <log target=\"syslog\" server=\"192.0.2.10:514\"/>\n", "<log server>",
                       "udp://ADDRESS[:PORT] or tcp://ADDRESS[:PORT]");
    check_single_error("  <log target=\"syslog\" server=\"tls://192.0.2.10\"/>\n", "<log server>", "udp://");
    check_single_error("  <log target=\"syslog\" server=\"udp://logs.example.com\"/>\n", "<log server>",
                       "literal address");
    check_single_error("  <log target=\"syslog\" server=\"udp://2001:db8::1:514\"/>\n", "<log server>",
                       "needs brackets: \"udp://[2001:db8::1:514]\"");
    check_single_error("  <log target=\"syslog\" server=\"udp://192.0.2.10:0\"/>\n", "<log server>", "port");
    check_single_error("  <log target=\"syslog\" server=\"tcp://[::1\"/>\n", "<log server>", "tcp://ADDRESS");
}
