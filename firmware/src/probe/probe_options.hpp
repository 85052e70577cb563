#pragma once
// The command line of `relayguard probe`.
#include "text_output.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relayguard::firmware {

enum class ProbeTls : std::uint8_t { none, starttls, implicit };

struct ProbeOptions {
    std::string host;
    std::uint16_t port = 25;
    std::string source; // --source ADDR
    ProbeTls tls = ProbeTls::none;
    std::string login;    // --auth USER
    std::string password; // from --password-file or $RELAYGUARD_PROBE_PASSWORD; never on the command line
    std::string from_domain = "probe-sender.test"; // RFC 2606 reserves .test
    std::string to_domain = "probe-elsewhere.test";
    std::string local_domain; // a domain the server delivers locally; default: its name
    std::string server_name;  // default: the first word of its greeting
    std::string helo = "relayguard-probe.test";
    bool data = false;               // also try DATA after an accepted RCPT (354 counts as relayed)
    bool send = false;               // with --data: really send a short test message
    std::string smuggling_recipient; // --smuggling RCPT: test end-of-data forms by sending to RCPT
    bool injection_check = true;
    bool json = false;
    std::string targets_file; // --targets FILE: probe every server it lists (probe_fleet.hpp)
    unsigned parallel = 8;    // --parallel N: how many of them at once
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds pace{100};
};

// "host", "host:port", "[v6]:port", "v6" into options.host and options.port; false when malformed.
bool parse_probe_target(const std::string& text, ProbeOptions& options);

// Parses `args`; on a usage error returns nothing and writes why to `err`.
std::optional<ProbeOptions> parse_probe_options(const std::vector<std::string>& args, TextOutput& err);
void print_probe_usage(TextOutput& out);

} // namespace relayguard::firmware
