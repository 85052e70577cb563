// `relayguard reload [-c FILE] [--pid-file FILE | --pid PID]`: checks the configuration first (as
// `nginx -t && nginx -s reload` does in one go), then sends SIGHUP to the running relayguard. A bad
// file is reported here and no signal is sent; the daemon would refuse it too, but the operator should
// hear about it at the prompt, not in the log.
#include "command_line.hpp"
#include "pid_file.hpp"

#include <relayguard/policy/config_loader.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace relayguard::firmware {
namespace reload_detail {

constexpr char usage[] = "usage: relayguard reload [-c FILE] [--pid-file FILE | --pid PID]\n";

std::optional<pid_t> parse_pid(const std::string& text) {
    if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    const long long value = std::stoll(text);
    return value > 1 ? std::optional<pid_t>(static_cast<pid_t>(value)) : std::nullopt;
}

} // namespace reload_detail

int reload_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err) {
    std::string config_path;
    std::string pid_path;
    std::optional<pid_t> pid;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
            config_path = args[++i];
        } else if (args[i] == "--pid-file" && i + 1 < args.size()) {
            pid_path = args[++i];
        } else if (args[i] == "--pid" && i + 1 < args.size() && !pid) {
            pid = reload_detail::parse_pid(args[++i]);
            if (!pid) {
                err << "relayguard reload: \"" << args[i] << "\" is not a process id\n"
                    << reload_detail::usage;
                return exit_usage;
            }
        } else {
            err << "relayguard reload: unexpected argument \"" << args[i] << "\"\n" << reload_detail::usage;
            return exit_usage;
        }
    }
    if (!config_path.empty()) {
        const policy::ConfigLoadResult result = policy::load_config_file(config_path);
        for (const policy::ConfigProblem& warning : result.warnings) {
            err << "relayguard: warning: " << warning.to_string() << "\n";
        }
        if (!result.config) {
            for (const policy::ConfigProblem& error : result.errors) {
                err << "relayguard: error: " << error.to_string() << "\n";
            }
            err << "relayguard reload: " << config_path << " has errors; no reload signal sent\n";
            return exit_failure;
        }
        if (pid_path.empty() && !pid) {
            pid_path = result.config->run.pid_file;
        }
    }
    if (!pid) {
        if (pid_path.empty()) {
            err << "relayguard reload: which process? give --pid, --pid-file, or -c with <run pid-file>\n"
                << reload_detail::usage;
            return exit_usage;
        }
        std::string error;
        pid = read_pid_file(pid_path, error);
        if (!pid) {
            err << "relayguard reload: " << error << "\n";
            return exit_failure;
        }
    }
    if (!is_relayguard_process(*pid)) {
        err << "relayguard reload: process " << *pid << " is not a running relayguard (stale pid file?)\n";
        return exit_failure;
    }
    if (::kill(*pid, SIGHUP) != 0) {
        err << "relayguard reload: cannot signal process " << *pid << ": " << std::strerror(errno) << "\n";
        return exit_failure;
    }
    out << "relayguard: reload signal sent to process " << *pid << "\n";
    return exit_ok;
}

} // namespace relayguard::firmware
