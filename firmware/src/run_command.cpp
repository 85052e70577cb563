// `relayguard run [-c FILE] [--pid-file FILE]`: the proxy in the foreground, on the embedded default
// configuration when no file is given. The daemon (daemon.hpp) does the rest.
#include "command_line.hpp"
#include "daemon.hpp"

namespace relayguard::firmware {

int run_command(const std::vector<std::string>& args, TextOutput& err) {
    DaemonOptions options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
            options.config_path = args[++i];
        } else if (args[i] == "--pid-file" && i + 1 < args.size()) {
            options.pid_file = args[++i];
        } else {
            err << "relayguard run: unexpected argument \"" << args[i] << "\"\n"
                << "usage: relayguard run [-c FILE] [--pid-file FILE]\n";
            return exit_usage;
        }
    }
    Daemon daemon(std::move(options), err);
    return daemon.run();
}

} // namespace relayguard::firmware
