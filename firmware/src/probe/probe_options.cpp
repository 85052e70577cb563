#include "probe_options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace relayguard::firmware {
namespace probe_options_detail {

constexpr std::size_t max_password_length = 1024;
constexpr std::chrono::milliseconds max_duration = std::chrono::hours(1);

// "30s", "250ms", "2m", or a bare number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
    std::size_t digits = 0;
    unsigned long long value = 0;
    while (digits < text.size() && digits < 9 && text[digits] >= '0' && text[digits] <= '9') {
        value = value * 10 + static_cast<unsigned long long>(text[digits] - '0');
        ++digits;
    }
    if (digits == 0) {
        return std::nullopt;
    }
    const std::string unit = text.substr(digits);
    unsigned long long factor = 0;
    if (unit.empty() || unit == "s") {
        factor = 1000;
    } else if (unit == "ms") {
        factor = 1;
    } else if (unit == "m") {
        factor = 60000;
    } else {
        return std::nullopt;
    }
    const std::chrono::milliseconds duration(static_cast<long long>(value * factor));
    return duration <= max_duration ? std::optional(duration) : std::nullopt;
}

constexpr unsigned max_parallel = 64;

} // namespace probe_options_detail

// More than one colon and no brackets: an IPv6 address without a port.
bool parse_probe_target(const std::string& text, ProbeOptions& options) {
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string::npos) {
            return false;
        }
        options.host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') {
                return false;
            }
            port = text.substr(close + 2);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const std::size_t colon = text.find(':');
        options.host = text.substr(0, colon);
        port = text.substr(colon + 1);
    } else {
        options.host = text;
    }
    if (options.host.empty()) {
        return false;
    }
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
            return false;
        }
        const unsigned long number = std::stoul(port);
        if (number == 0 || number > 65535) {
            return false;
        }
        options.port = static_cast<std::uint16_t>(number);
    }
    return true;
}

namespace probe_options_detail {

bool read_password(const std::string& path, std::string& password, TextOutput& err) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err << "relayguard probe: cannot read the password file " << path << "\n";
        return false;
    }
    // The first line only, and no further than the longest usable password and its line end.
    char text[max_password_length + 2];
    std::size_t used = 0;
    while (used < sizeof text) {
        const ssize_t n = ::read(fd, text + used, sizeof text - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += static_cast<std::size_t>(n);
    }
    ::close(fd);
    const std::string_view contents(text, used);
    password.assign(contents.substr(0, contents.find('\n')));
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    if (password.empty() || password.size() > max_password_length) {
        err << "relayguard probe: the password file " << path
            << " holds no usable password on its first line\n";
        return false;
    }
    return true;
}

} // namespace probe_options_detail

void print_probe_usage(TextOutput& out) {
    out << "usage: relayguard probe HOST[:PORT] [options]\n"
           "       relayguard probe --targets FILE [--parallel N] [options]\n"
           "\n"
           "Tries to relay through an SMTP server the ways nmap, Nessus and the known routing tricks do, "
           "and\n"
           "reports what got through. Never sends a message body unless told to (--send, --smuggling).\n"
           "\n"
           "  --source ADDR          connect from this local address\n"
           "  --starttls | --tls     use STARTTLS, or implicit TLS (port 465 style); certificates are not "
           "verified\n"
           "  --auth USER            authenticate (AUTH PLAIN) to test the authenticated path; the password\n"
           "                         comes from --password-file FILE or $RELAYGUARD_PROBE_PASSWORD\n"
           "  --from-domain D        the sender's domain (default probe-sender.test)\n"
           "  --to-domain D          the domain to relay to (default probe-elsewhere.test)\n"
           "  --local-domain D       a domain the server delivers locally (default: the server's name)\n"
           "  --server-name NAME     the server's name for the routing forms (default: from its greeting)\n"
           "  --helo NAME            the EHLO name (default relayguard-probe.test)\n"
           "  --data                 after an accepted RCPT also try DATA (354 counts as relayed), then "
           "drop\n"
           "                         the connection so no message is sent\n"
           "  --send                 with --data: send a short test message instead of dropping\n"
           "  --smuggling RCPT       test which SMTP smuggling end-of-data forms the server accepts, by\n"
           "                         sending test messages to RCPT (an address you own)\n"
           "  --no-injection-check   skip the STARTTLS command injection test (CVE-2011-0411)\n"
           "  --timeout DURATION     per reply (default 30s)\n"
           "  --pace DURATION        pause between commands (default 100ms)\n"
           "  --json                 one JSON document with a record per attempt\n"
           "  --targets FILE         probe every HOST[:PORT] listed in FILE (one per line, # comments), and\n"
           "                         print one JSON object per target as it finishes\n"
           "  --parallel N           with --targets: probe N servers at once (default 8, at most 64)\n"
           "\n"
           "exit status: 0 no relay found, 1 the server relays, 2 the probe failed (connection, TLS, "
           "protocol);\n"
           "with --targets: 1 when any target relays, else 2 when any probe failed, else 0\n";
}

std::optional<ProbeOptions> parse_probe_options(const std::vector<std::string>& args, TextOutput& err) {
    namespace local = probe_options_detail;
    ProbeOptions options;
    bool have_target = false;
    std::string password_file;
    const auto usage_error = [&](const std::string& why) {
        err << "relayguard probe: " << why << "\n";
        print_probe_usage(err);
        return std::nullopt;
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const bool has_value = i + 1 < args.size();
        const auto value = [&]() -> const std::string& { return args[++i]; };
        if (arg == "--starttls") {
            options.tls = ProbeTls::starttls;
        } else if (arg == "--tls") {
            options.tls = ProbeTls::implicit;
        } else if (arg == "--data") {
            options.data = true;
        } else if (arg == "--send") {
            options.send = true;
        } else if (arg == "--json") {
            options.json = true;
        } else if (arg == "--no-injection-check") {
            options.injection_check = false;
        } else if (has_value && (arg == "--timeout" || arg == "--pace")) {
            const std::optional<std::chrono::milliseconds> duration = local::parse_duration(value());
            if (!duration || (arg == "--timeout" && duration->count() == 0)) {
                return usage_error("\"" + args[i] + "\" is not a duration for " + arg +
                                   " (such as 30s or 200ms)");
            }
            (arg == "--timeout" ? options.timeout : options.pace) = *duration;
        } else if (has_value && arg == "--source") {
            options.source = value();
        } else if (has_value && arg == "--auth") {
            options.login = value();
        } else if (has_value && arg == "--password-file") {
            password_file = value();
        } else if (has_value && arg == "--from-domain") {
            options.from_domain = value();
        } else if (has_value && arg == "--to-domain") {
            options.to_domain = value();
        } else if (has_value && arg == "--local-domain") {
            options.local_domain = value();
        } else if (has_value && arg == "--server-name") {
            options.server_name = value();
        } else if (has_value && arg == "--helo") {
            options.helo = value();
        } else if (has_value && arg == "--smuggling") {
            options.smuggling_recipient = value();
        } else if (has_value && arg == "--targets") {
            options.targets_file = value();
        } else if (has_value && arg == "--parallel") {
            const std::string& text = value();
            const bool digits = !text.empty() && text.size() <= 3 &&
                                text.find_first_not_of("0123456789") == std::string::npos;
            const unsigned long count = digits ? std::stoul(text) : 0;
            if (count == 0 || count > local::max_parallel) {
                return usage_error("--parallel takes a number from 1 to " +
                                   std::to_string(local::max_parallel));
            }
            options.parallel = static_cast<unsigned>(count);
        } else if (!arg.empty() && arg[0] != '-' && !have_target) {
            if (!parse_probe_target(arg, options)) {
                return usage_error("\"" + arg + "\" is not HOST, HOST:PORT or [IPv6]:PORT");
            }
            have_target = true;
        } else {
            return usage_error("unexpected argument \"" + arg + "\"");
        }
    }
    if (have_target && !options.targets_file.empty()) {
        return usage_error("give HOST[:PORT] or --targets FILE, not both");
    }
    if (!have_target && options.targets_file.empty()) {
        return usage_error("which server? give HOST[:PORT] or --targets FILE");
    }
    if (options.send && !options.data) {
        return usage_error("--send needs --data");
    }
    for (const std::string* text :
         {&options.from_domain, &options.to_domain, &options.local_domain, &options.server_name,
          &options.helo, &options.smuggling_recipient, &options.login}) {
        if (text->find_first_of(" \t\r\n<>") != std::string::npos) {
            return usage_error("\"" + *text + "\" contains a space, a line break or an angle bracket");
        }
    }
    if (!options.login.empty()) {
        if (!password_file.empty()) {
            if (!local::read_password(password_file, options.password, err)) {
                return std::nullopt;
            }
        } else if (const char* from_environment = std::getenv("RELAYGUARD_PROBE_PASSWORD")) {
            options.password = from_environment;
        }
        if (options.password.empty()) {
            return usage_error(
                "--auth needs a password in --password-file FILE or $RELAYGUARD_PROBE_PASSWORD");
        }
    }
    return options;
}

} // namespace relayguard::firmware
