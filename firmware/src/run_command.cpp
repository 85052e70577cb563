// `relayguard run [-c FILE]`: the proxy in the foreground, on the embedded default configuration when no
// file is given. SIGTERM and SIGINT stop it: no new connections, sessions in flight finish within
// <limits shutdown-timeout>, exit 0.
#include "command_line.hpp"
#include "version.hpp"

#include <relayguard/policy/config_loader.hpp>
#include <relayguard/proxy/build_info.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/server.hpp>
#include <relayguard/proxy/tls_context.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <ostream>
#include <unistd.h>

namespace relayguard::firmware {
namespace run_detail {

std::string machine_hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

} // namespace run_detail

int run_command(const std::vector<std::string>& args, std::ostream& err) {
    std::string path;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
            path = args[++i];
        } else {
            err << "relayguard run: unexpected argument \"" << args[i] << "\"\n"
                << "usage: relayguard run [-c FILE]\n";
            return exit_usage;
        }
    }

    const policy::ConfigLoadResult loaded =
        path.empty() ? policy::load_embedded_default_config() : policy::load_config_file(path);
    for (const policy::ConfigProblem& warning : loaded.warnings) {
        err << "relayguard: warning: " << warning.to_string() << "\n";
    }
    if (!loaded.config) {
        for (const policy::ConfigProblem& error : loaded.errors) {
            err << "relayguard: error: " << error.to_string() << "\n";
        }
        err << "relayguard: configuration failed; not starting\n";
        return exit_failure;
    }
    const std::shared_ptr<const policy::Config> config = loaded.config;
    // A client that resets its connection must not kill the process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);

    asio::io_context io(1);
    proxy::EventLog log(config->log.target, config->log.level);
    const std::string hostname = config->hostname.empty() ? run_detail::machine_hostname() : config->hostname;
    // Certificates, keys and the upstream CA are parsed once, here: a bad file stops the start with the
    // reason.
    proxy::TlsContexts tls;
    std::string tls_error;
    if (!proxy::load_tls_contexts(*config, tls, tls_error)) {
        log.error("TLS: " + tls_error);
        log.error("not starting: a TLS certificate, key or CA file cannot be used");
        return exit_failure;
    }
    proxy::Server server(io, config, hostname, std::move(tls), log);

    log.info(std::string("relayguard ") + RELAYGUARD_VERSION + " starting (" + proxy::library_versions() +
             ") with " + config->source);
    const std::vector<std::string> problems = server.open_listeners();
    for (const std::string& problem : problems) {
        log.error(problem);
    }
    if (!problems.empty()) {
        log.error("not starting: " + std::to_string(problems.size()) + " listeners could not be opened");
        return exit_failure;
    }

    asio::signal_set stop_signals(io, SIGTERM, SIGINT);
    stop_signals.async_wait([&](const asio::error_code& error, int signal_number) {
        if (error) {
            return;
        }
        log.info(std::string("received ") + (signal_number == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
        server.shutdown([&] {
            log.info("stopped");
            io.stop();
        });
    });
    server.start();
    try {
        io.run();
    } catch (const std::exception& error) {
        // Only resource exhaustion gets here (allocation, descriptors): say so and let the supervisor
        // (procd, systemd) restart relayguard rather than terminate without a word.
        log.error(std::string("fatal: ") + error.what());
        return exit_failure;
    }
    return exit_ok;
}

} // namespace relayguard::firmware
