#include "daemon.hpp"

#include "command_line.hpp"
#include "descriptor_limit.hpp"
#include "interface_watcher.hpp"
#include "listener_plan.hpp"
#include "pid_file.hpp"
#include "privileges.hpp"
#include "version.hpp"
#include "watchdog_feeder.hpp"
#include "watchdog_setup.hpp"

#include <relayguard/hal/nic.hpp>
#include <relayguard/hal/service_notifier.hpp>
#include <relayguard/policy/config_loader.hpp>
#include <relayguard/proxy/build_info.hpp>
#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/metrics_endpoint.hpp>
#include <relayguard/proxy/server.hpp>
#include <relayguard/proxy/syslog_message.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <ctime>
#include <unistd.h>

namespace relayguard::firmware {
namespace daemon_detail {

std::string machine_hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

policy::ConfigLoadResult load(const std::string& path) {
    return path.empty() ? policy::load_embedded_default_config() : policy::load_config_file(path);
}

std::string seconds_text(std::chrono::milliseconds duration) {
    const auto whole = std::chrono::duration_cast<std::chrono::seconds>(duration);
    if (whole == duration) {
        return std::to_string(whole.count()) + "s";
    }
    return std::to_string(duration.count()) + "ms";
}

// systemd (v253+) wants the time of a reload with RELOADING=1, in CLOCK_MONOTONIC microseconds.
std::string reloading_state() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const long long microseconds = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(microseconds);
}

std::string join(const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& item : items) {
        text += (text.empty() ? "" : ", ") + item;
    }
    return text;
}

} // namespace daemon_detail

class Daemon::Impl {
public:
    Impl(DaemonOptions options, TextOutput& err)
        : options_(std::move(options)), err_(err), stop_signals_(io_, SIGTERM, SIGINT),
          reload_signals_(io_, SIGHUP) {}

    int run();

private:
    bool boot();
    bool fail(const char* step, const std::string& why);
    bool step_configuration();
    bool step_watchdog();
    bool step_descriptors();
    bool step_interfaces();
    bool step_listeners();
    bool step_privileges();
    void serve();
    void wait_for_stop();
    void wait_for_reload();
    void reload();
    void stop(int signal_number);
    // Applies the plan for the current configuration and interfaces; returns the problems.
    std::vector<std::string> apply_listener_plan(const char* why);
    // The same for <metrics listen>: opens, moves or closes the endpoint's sockets.
    std::vector<std::string> apply_metrics_plan();

    DaemonOptions options_;
    TextOutput& err_;
    // Declared before the io_context: handlers it destroys at the end may still end sessions, which log.
    std::unique_ptr<proxy::EventLog> log_;
    // Counted into by the server, its sessions and the feeder; read by the endpoint.
    proxy::Metrics metrics_{RELAYGUARD_VERSION};
    asio::io_context io_{1};
    asio::signal_set stop_signals_;
    asio::signal_set reload_signals_;
    hal::ServiceEnvironment environment_ = hal::read_service_environment();
    std::unique_ptr<hal::ServiceNotifier> notifier_;
    std::shared_ptr<const policy::Config> config_;
    proxy::TlsContexts tls_;
    std::string hostname_;
    std::unique_ptr<proxy::Server> server_;
    std::unique_ptr<proxy::MetricsEndpoint> metrics_endpoint_; // with <metrics listen> only
    std::unique_ptr<hal::Watchdog> watchdog_;
    std::unique_ptr<WatchdogFeeder> feeder_;
    std::unique_ptr<hal::NicMonitor> nic_;
    std::unique_ptr<InterfaceWatcher> interface_watcher_;
    PidFile pid_file_;
    std::optional<Account> account_; // <run user group>, looked up at boot
    bool stopping_ = false;
    unsigned reloads_ = 0;
};

int Daemon::Impl::run() {
    // A client that resets its connection must not kill the process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    notifier_ = hal::make_systemd_notifier(environment_.notify_socket);
    if (!boot()) {
        notifier_->notify("STATUS=boot failed");
        // An orderly failure (a port in use, an unknown user) disarms a watchdog it already opened: a
        // board that resets over a configuration mistake would only fail the same way again.
        if (watchdog_) {
            watchdog_->stop();
        }
        return exit_failure;
    }
    serve();
    try {
        io_.run();
    } catch (const std::exception& error) {
        // Only resource exhaustion gets here (allocation, descriptors): say so and let the supervisor
        // (procd, systemd) restart relayguard rather than terminate without a word.
        log_->error(std::string("fatal: ") + error.what());
        return exit_failure;
    }
    if (watchdog_) {
        if (const std::optional<hal::HalError> error = watchdog_->stop()) {
            log_->warning(std::string("watchdog (") + watchdog_->backend_name() + "): " + error->message);
        }
    }
    pid_file_.remove();
    log_->info("stopped");
    return exit_ok;
}

bool Daemon::Impl::boot() {
    return step_configuration() && step_watchdog() && step_descriptors() && step_interfaces() &&
           step_listeners() && step_privileges();
}

bool Daemon::Impl::fail(const char* step, const std::string& why) {
    log_->error(std::string("boot: ") + step + ": " + why);
    log_->error(std::string("not starting: the boot step \"") + step + "\" failed");
    if (config_->log.target == policy::LogTarget::syslog) {
        // Whoever started relayguard by hand should not have to look in syslog to learn why it stopped.
        err_ << "relayguard: boot: " << step << ": " << why << "\n"
             << "relayguard: not starting: the boot step \"" << step << "\" failed\n";
    }
    return false;
}

bool Daemon::Impl::step_configuration() {
    const policy::ConfigLoadResult loaded = daemon_detail::load(options_.config_path);
    for (const policy::ConfigProblem& warning : loaded.warnings) {
        err_ << "relayguard: warning: " << warning.to_string() << "\n";
    }
    if (!loaded.config) {
        for (const policy::ConfigProblem& error : loaded.errors) {
            err_ << "relayguard: error: " << error.to_string() << "\n";
        }
        err_ << "relayguard: boot: configuration: " << loaded.errors.size() << " errors\n"
             << "relayguard: not starting: the boot step \"configuration\" failed\n";
        return false;
    }
    config_ = loaded.config;
    metrics_.configuration_loaded(config_->sha256, std::chrono::system_clock::now());
    log_ = std::make_unique<proxy::EventLog>(config_->log.target, config_->log.level);
    hostname_ = config_->hostname.empty() ? daemon_detail::machine_hostname() : config_->hostname;
    if (config_->log.server) {
        log_->send_to(*config_->log.server, hostname_);
    }
    log_->info(std::string("relayguard ") + RELAYGUARD_VERSION + " starting (" + proxy::library_versions() +
               ")");
    // Certificates, keys and the upstream CA are parsed once, here: a bad file stops the start.
    std::string tls_error;
    if (!proxy::load_tls_contexts(*config_, tls_, tls_error)) {
        return fail("configuration", "TLS: " + tls_error);
    }
    log_->info("boot: configuration: " + config_->source + " (" + std::to_string(config_->listeners.size()) +
               " listeners, upstream " + config_->upstream.host + ":" +
               std::to_string(config_->upstream.port) + ")");
    if (config_->log.server) {
        log_->info("boot: log: RFC 5424 to " + config_->log.server->to_string() + " as " +
                   proxy::syslog_hostname(hostname_));
    }
    if (!config_->run.user.empty()) {
        // Looked up now, before anything is opened: a misspelt account must not leave a listener open
        // for the moment it takes to find out.
        std::string error;
        account_ = find_account(config_->run.user, config_->run.group, error);
        if (!account_) {
            return fail("configuration", "<run>: " + error);
        }
    }
    const std::string pid_path = options_.pid_file.empty() ? config_->run.pid_file : options_.pid_file;
    if (!pid_path.empty()) {
        if (const std::optional<std::string> error = pid_file_.write(pid_path)) {
            return fail("configuration", *error);
        }
    }
    return true;
}

bool Daemon::Impl::step_watchdog() {
    WatchdogSetup setup = start_watchdog(config_->watchdog, environment_, *notifier_);
    if (!setup.watchdog) {
        if (setup.explicitly_configured) {
            return fail("watchdog", setup.error);
        }
        log_->warning("boot: watchdog: " + setup.error + "; going on without a watchdog");
        setup.watchdog = hal::make_null_watchdog();
        setup.watchdog->start(config_->watchdog.timeout);
    }
    watchdog_ = std::move(setup.watchdog);
    const std::string name = watchdog_->backend_name();
    if (name == "none") {
        log_->info("boot: watchdog: none");
    } else {
        log_->info("boot: watchdog: " + name + ", timeout " +
                   daemon_detail::seconds_text(watchdog_->timeout()) + ", fed every " +
                   daemon_detail::seconds_text(WatchdogFeeder::interval_for(watchdog_->timeout())));
    }
    if (watchdog_->last_reset_was_watchdog()) {
        log_->warning("boot: watchdog: the last reset of this board was the watchdog's");
    }
    feeder_ = std::make_unique<WatchdogFeeder>(io_, *watchdog_, *log_, &metrics_);
    feeder_->start();
    return true;
}

// Never fatal: a low limit is logged, and a session that finds no descriptor is refused like any other
// accept failure.
bool Daemon::Impl::step_descriptors() {
    const DescriptorLimit limit = raise_descriptor_limit();
    std::string line = "boot: descriptors: " + std::to_string(limit.now);
    if (limit.now != limit.before) {
        line += " (raised from " + std::to_string(limit.before) + ")";
    }
    if (!limit.error.empty()) {
        line += " (could not raise: " + limit.error + ")";
    }
    log_->info(line);
    const policy::LimitsConfig& limits = config_->limits;
    const std::uint64_t needed =
        descriptors_needed(limits.max_connections + limits.trusted_connections, config_->listeners.size());
    if (limit.now < needed) {
        log_->warning("boot: descriptors: " + std::to_string(limit.now) + " are fewer than the " +
                      std::to_string(needed) + " that <limits max-connections=\"" +
                      std::to_string(limits.max_connections) + "\" trusted-connections=\"" +
                      std::to_string(limits.trusted_connections) +
                      "\"> sessions and their upstream connections need; raise the hard limit (systemd "
                      "LimitNOFILE=, procd limits nofile=) or lower the limits");
    }
    return true;
}

bool Daemon::Impl::step_interfaces() {
    if (!needs_interface_monitor(*config_)) {
        return true;
    }
    nic_ = hal::make_netlink_nic_monitor();
    if (const std::optional<hal::HalError> error = nic_->start()) {
        return fail("interfaces", error->message);
    }
    interface_watcher_ =
        std::make_unique<InterfaceWatcher>(io_, *nic_, [this] { apply_listener_plan("interfaces changed"); });
    interface_watcher_->start();
    log_->info("boot: interfaces: watching " + std::to_string(nic_->interfaces().size()) + " interfaces");
    return true;
}

bool Daemon::Impl::step_listeners() {
    server_ = std::make_unique<proxy::Server>(io_, config_, hostname_, tls_, *log_, metrics_);
    const ListenerPlan plan = plan_listeners(*config_, nic_ ? &nic_->interfaces() : nullptr);
    std::vector<std::string> problems = server_->set_listeners(plan.specs);
    for (std::string& problem : apply_metrics_plan()) {
        problems.push_back(std::move(problem));
    }
    if (!problems.empty()) {
        return fail("listeners", daemon_detail::join(problems));
    }
    std::string line = "boot: listeners: " + std::to_string(plan.specs.size()) + " bound";
    if (!plan.waiting.empty()) {
        line += ", waiting for " + daemon_detail::join(plan.waiting);
    }
    log_->info(line);
    return true;
}

bool Daemon::Impl::step_privileges() {
    const policy::RunConfig& run = config_->run;
    if (run.user.empty()) {
        if (geteuid() == 0) {
            log_->warning("boot: privileges: RUNNING AS ROOT: a flaw in relayguard would own the box; "
                          "configure <run user=\"relayguard\" group=\"relayguard\"/>");
        } else {
            log_->info("boot: privileges: running as uid " + std::to_string(geteuid()) + " as started");
        }
        return true;
    }
    std::string error;
    const std::optional<Account>& account = account_;
    const std::optional<PrivilegeChange> change = drop_privileges(*account, error);
    if (!change) {
        return fail("privileges", error);
    }
    const std::string who = "user " + account->user + " (uid " + std::to_string(account->uid) + "), group " +
                            account->group + " (gid " + std::to_string(account->gid) + ")";
    if (*change == PrivilegeChange::already_that_account) {
        log_->info("boot: privileges: already running as " + who);
    } else {
        log_->info("boot: privileges: now " + who + ", keeping only CAP_NET_BIND_SERVICE");
    }
    if (!can_bind_privileged_ports()) {
        log_->warning(
            "boot: privileges: CAP_NET_BIND_SERVICE is not available: listeners on ports below 1024 "
            "cannot be opened after an interface change or a reload");
    }
    return true;
}

void Daemon::Impl::serve() {
    server_->start();
    wait_for_stop();
    wait_for_reload();
    notifier_->notify("READY=1\nSTATUS=serving");
    log_->info("boot: serving");
}

void Daemon::Impl::wait_for_stop() {
    stop_signals_.async_wait([this](const asio::error_code& error, int signal_number) {
        if (!error) {
            stop(signal_number);
            wait_for_stop();
        }
    });
}

void Daemon::Impl::wait_for_reload() {
    reload_signals_.async_wait([this](const asio::error_code& error, int) {
        if (!error && !stopping_) {
            reload();
            wait_for_reload();
        }
    });
}

void Daemon::Impl::reload() {
    ++reloads_;
    notifier_->notify(daemon_detail::reloading_state());
    const std::string what = options_.config_path.empty() ? "the embedded default" : options_.config_path;
    log_->info("reload: reading " + what + " (reload " + std::to_string(reloads_) + " since start)");
    const policy::ConfigLoadResult loaded = daemon_detail::load(options_.config_path);
    for (const policy::ConfigProblem& warning : loaded.warnings) {
        log_->warning("reload: " + warning.to_string());
    }
    proxy::TlsContexts tls;
    std::string tls_error;
    if (!loaded.config) {
        for (const policy::ConfigProblem& error : loaded.errors) {
            log_->error("reload: " + error.to_string());
        }
        log_->error("reload failed (" + std::to_string(loaded.errors.size()) +
                    " errors): still serving with the configuration in force");
        metrics_.reload_result(false);
    } else if (!proxy::load_tls_contexts(*loaded.config, tls, tls_error)) {
        log_->error("reload: TLS: " + tls_error);
        log_->error("reload failed: still serving with the configuration in force");
        metrics_.reload_result(false);
    } else {
        const policy::Config& next = *loaded.config;
        const policy::Config& current = *config_;
        if (next.run.user != current.run.user || next.run.group != current.run.group ||
            next.run.pid_file != current.run.pid_file || next.log.target != current.log.target ||
            (next.log.server ? next.log.server->to_string() : "") !=
                (current.log.server ? current.log.server->to_string() : "") ||
            next.watchdog.backend != current.watchdog.backend ||
            next.watchdog.device != current.watchdog.device ||
            next.watchdog.timeout != current.watchdog.timeout) {
            log_->warning(
                "reload: changes to <run>, <watchdog> and <log target server> take effect at the next start");
        }
        config_ = loaded.config;
        metrics_.reload_result(true);
        metrics_.configuration_loaded(config_->sha256, std::chrono::system_clock::now());
        tls_ = std::move(tls);
        hostname_ = config_->hostname.empty() ? daemon_detail::machine_hostname() : config_->hostname;
        log_->set_threshold(config_->log.level);
        if (needs_interface_monitor(*config_) && !nic_) {
            nic_ = hal::make_netlink_nic_monitor();
            if (const std::optional<hal::HalError> error = nic_->start()) {
                log_->error("reload: cannot watch interfaces: " + error->message);
                nic_.reset();
            } else {
                interface_watcher_ = std::make_unique<InterfaceWatcher>(
                    io_, *nic_, [this] { apply_listener_plan("interfaces changed"); });
                interface_watcher_->start();
            }
        }
        server_->use_config(config_, tls_, hostname_);
        apply_listener_plan("reload");
        log_->info("reload: done: new sessions use " + config_->source + "; " +
                   std::to_string(server_->session_count()) + " sessions in flight keep theirs");
    }
    notifier_->notify("READY=1\nSTATUS=serving");
}

std::vector<std::string> Daemon::Impl::apply_listener_plan(const char* why) {
    if (stopping_) {
        return {};
    }
    const ListenerPlan plan = plan_listeners(*config_, nic_ ? &nic_->interfaces() : nullptr);
    std::vector<std::string> problems = server_->set_listeners(plan.specs);
    for (std::string& problem : apply_metrics_plan()) {
        problems.push_back(std::move(problem));
    }
    for (const std::string& problem : problems) {
        log_->error(std::string(why) + ": " + problem);
    }
    if (!plan.waiting.empty()) {
        log_->info(std::string(why) + ": waiting for " + daemon_detail::join(plan.waiting));
    }
    return problems;
}

std::vector<std::string> Daemon::Impl::apply_metrics_plan() {
    const ListenerPlan plan = plan_metrics_listeners(*config_, nic_ ? &nic_->interfaces() : nullptr);
    if (!metrics_endpoint_) {
        if (!config_->metrics) {
            return {};
        }
        metrics_endpoint_ = std::make_unique<proxy::MetricsEndpoint>(io_, metrics_, *log_);
    }
    if (!plan.waiting.empty()) {
        log_->info("metrics: waiting for " + daemon_detail::join(plan.waiting));
    }
    return metrics_endpoint_->set_listeners(plan.specs);
}

void Daemon::Impl::stop(int signal_number) {
    const char* name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
    if (stopping_) {
        log_->info(std::string("received ") + name + " again, closing the remaining sessions now");
        server_->close_all();
        return;
    }
    stopping_ = true;
    log_->info(std::string("received ") + name + ", stopping");
    notifier_->stopping();
    reload_signals_.cancel();
    if (metrics_endpoint_) {
        metrics_endpoint_->close(); // a draining box is not scraped: Prometheus sees it go down
    }
    if (interface_watcher_) {
        interface_watcher_->stop();
    }
    server_->shutdown([this] {
        // The feeder ran through the drain: the box stays protected until the very end.
        feeder_->stop();
        stop_signals_.cancel();
        io_.stop();
    });
}

Daemon::Daemon(DaemonOptions options, TextOutput& err)
    : impl_(std::make_unique<Impl>(std::move(options), err)) {
}

Daemon::~Daemon() = default;

int Daemon::run() {
    return impl_->run();
}

} // namespace relayguard::firmware
