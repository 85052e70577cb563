// `relayguard check-config [-c FILE]`: the equivalent of `nginx -t`.
#include "command_line.hpp"

#include <relayguard/policy/config_loader.hpp>

namespace relayguard::firmware {

int check_config_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err) {
    std::string path;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
            path = args[++i];
        } else {
            err << "relayguard check-config: unexpected argument \"" << args[i] << "\"\n"
                << "usage: relayguard check-config [-c FILE]\n";
            return exit_usage;
        }
    }

    const policy::ConfigLoadResult result =
        path.empty() ? policy::load_config_text(policy::embedded_default_config, "(embedded default)")
                     : policy::load_config_file(path);
    for (const policy::ConfigProblem& warning : result.warnings) {
        err << "relayguard: warning: " << warning.to_string() << "\n";
    }
    for (const policy::ConfigProblem& error : result.errors) {
        err << "relayguard: error: " << error.to_string() << "\n";
    }
    if (!result.config) {
        err << "relayguard: configuration " << (path.empty() ? "(embedded default)" : path) << " has "
            << result.errors.size() << (result.errors.size() == 1 ? " error" : " errors") << "\n";
        return exit_failure;
    }
    out << "configuration OK" << (path.empty() ? " (embedded default)" : "") << "\n";
    return exit_ok;
}

} // namespace relayguard::firmware
