#include "errno_error.hpp"

#include <relayguard/hal/procd_watchdog.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <utility>

extern char** environ; // passed on to the ping program unchanged (PATH finds ubus)

namespace relayguard::hal {
namespace procd_watchdog_detail {

using namespace std::chrono_literals;

// Control characters have no place in a service name, and refusing them keeps the JSON escaping to the
// two characters below.
bool has_control_character(const std::string& text) {
    for (const char character : text) {
        const auto byte = static_cast<unsigned char>(character);
        if (byte < 0x20 || byte == 0x7f) {
            return true;
        }
    }
    return false;
}

void append_json_string(std::string& json, const std::string& text) {
    json += '"';
    for (const char character : text) {
        if (character == '"' || character == '\\') {
            json += '\\';
        }
        json += character;
    }
    json += '"';
}

// {"name":"<service>","instance":"<instance>"}, as `ubus call service watchdog` expects it.
std::string ping_argument(const ProcdWatchdogSettings& settings) {
    std::string json = "{\"name\":";
    append_json_string(json, settings.service);
    json += ",\"instance\":";
    append_json_string(json, settings.instance);
    json += '}';
    return json;
}

// posix_spawn's two option objects, released however spawning ends.
class SpawnOptions {
public:
    SpawnOptions() {
        actions_ready_ = ::posix_spawn_file_actions_init(&actions_) == 0;
        attributes_ready_ = ::posix_spawnattr_init(&attributes_) == 0;
    }
    ~SpawnOptions() {
        if (actions_ready_) {
            ::posix_spawn_file_actions_destroy(&actions_);
        }
        if (attributes_ready_) {
            ::posix_spawnattr_destroy(&attributes_);
        }
    }
    SpawnOptions(const SpawnOptions&) = delete;
    SpawnOptions& operator=(const SpawnOptions&) = delete;

    // The ping gets /dev/null for its standard streams (its chatter must not reach relayguard's log or
    // block on a full pipe) and default signal handling (relayguard's blocked or ignored signals, such
    // as SIGPIPE, are not the ping's business). Returns an errno value, 0 on success.
    int prepare() {
        if (!actions_ready_ || !attributes_ready_) {
            return ENOMEM;
        }
        const int stream_flags[] = {O_RDONLY, O_WRONLY, O_WRONLY};
        for (int stream = 0; stream < 3; ++stream) {
            if (const int error = ::posix_spawn_file_actions_addopen(&actions_, stream, "/dev/null",
                                                                     stream_flags[stream], 0);
                error != 0) {
                return error;
            }
        }
        sigset_t none;
        sigemptyset(&none);
        sigset_t defaults;
        sigemptyset(&defaults);
        for (const int signal : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
            sigaddset(&defaults, signal);
        }
        if (const int error = ::posix_spawnattr_setsigmask(&attributes_, &none); error != 0) {
            return error;
        }
        if (const int error = ::posix_spawnattr_setsigdefault(&attributes_, &defaults); error != 0) {
            return error;
        }
        return ::posix_spawnattr_setflags(&attributes_,
                                          static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    }

    const posix_spawn_file_actions_t* actions() const { return &actions_; }
    const posix_spawnattr_t* attributes() const { return &attributes_; }

private:
    posix_spawn_file_actions_t actions_{};
    posix_spawnattr_t attributes_{};
    bool actions_ready_ = false;
    bool attributes_ready_ = false;
};

// Starts `command_line` (searched in PATH) without waiting for it. Returns an errno value, 0 on success.
int spawn_detached(const std::vector<std::string>& command_line, pid_t& child) {
    SpawnOptions options;
    if (const int error = options.prepare(); error != 0) {
        return error;
    }
    std::vector<char*> arguments;
    arguments.reserve(command_line.size() + 1);
    for (const std::string& argument : command_line) {
        arguments.push_back(const_cast<char*>(argument.c_str())); // posix_spawnp's historical signature
    }
    arguments.push_back(nullptr);
    return ::posix_spawnp(&child, arguments[0], options.actions(), options.attributes(), arguments.data(),
                          environ);
}

class ProcdWatchdog final : public Watchdog {
public:
    explicit ProcdWatchdog(ProcdWatchdogSettings settings) : settings_(std::move(settings)) {}
    // Collects a ping that is just finishing, but never holds up the shutdown for a hung ubus: a child
    // left behind is reparented to init when relayguard exits.
    ~ProcdWatchdog() override { reap_ping(100ms); }
    ProcdWatchdog(const ProcdWatchdog&) = delete;
    ProcdWatchdog& operator=(const ProcdWatchdog&) = delete;

    // procd enforces the timeout its init script set (procd_set_param watchdog 1 <seconds>), whatever
    // relayguard's configuration says, so the given timeout is ignored and timeout() reports procd's.
    std::optional<HalError> start(std::chrono::milliseconds) override {
        if (settings_.service.empty() || settings_.instance.empty()) {
            return HalError{EINVAL, "procd watchdog: the service and instance names are needed "
                                    "(RELAYGUARD_PROCD_SERVICE, RELAYGUARD_PROCD_INSTANCE)"};
        }
        if (has_control_character(settings_.service) || has_control_character(settings_.instance)) {
            return HalError{EINVAL, "procd watchdog: control characters in the service or instance name"};
        }
        if (settings_.timeout_seconds == 0) {
            return HalError{EINVAL,
                            "procd watchdog: the init script set no timeout (RELAYGUARD_PROCD_WATCHDOG; "
                            "procd's own timeout is used, not the configured one)"};
        }
        if (settings_.ubus_command.empty() || settings_.ubus_command.front().empty()) {
            return HalError{EINVAL, "procd watchdog: no ping command"};
        }
        command_line_ = settings_.ubus_command;
        command_line_.push_back(ping_argument(settings_));
        timeout_ = std::chrono::seconds(settings_.timeout_seconds);
        started_ = true;
        return std::nullopt;
    }

    // Starts one ping unless the previous one is still running: a second would only queue up behind a
    // slow ubus. A ping that failed is reported by the feed after it (with the new ping started anyway).
    std::optional<HalError> feed() override {
        if (!started_) {
            return HalError{EINVAL, "procd watchdog: feed before start"};
        }
        if (!reap_ping(0ms)) {
            return std::nullopt;
        }
        std::optional<HalError> previous_failure = std::exchange(failed_ping_, std::nullopt);
        pid_t child = -1;
        if (const int error = spawn_detached(command_line_, child); error != 0) {
            return detail::errno_error(error,
                                       "procd watchdog: cannot start \"" + command_line_.front() + "\"");
        }
        ping_ = child;
        return previous_failure;
    }

    // procd stops watching when the instance stops, so there is nothing to disarm; only a last ping to
    // collect, for at most a second.
    std::optional<HalError> stop() override {
        reap_ping(1s);
        started_ = false;
        return std::nullopt;
    }

    bool last_reset_was_watchdog() const override { return false; }
    std::chrono::milliseconds timeout() const override { return timeout_; }
    const char* backend_name() const override { return "procd"; }

private:
    // Collects the running ping if it has finished, polling for at most `patience`. True when no ping
    // is running any more.
    bool reap_ping(std::chrono::milliseconds patience) {
        const auto give_up = std::chrono::steady_clock::now() + patience;
        while (ping_ > 0) {
            int status = 0;
            const pid_t reaped = ::waitpid(ping_, &status, WNOHANG);
            if (reaped == ping_) {
                note_exit(status);
                ping_ = -1;
            } else if (reaped < 0 && errno != EINTR) {
                // ECHILD: somebody else collected it (SIGCHLD ignored, or a reaper elsewhere).
                ping_ = -1;
            } else if (reaped == 0) {
                if (std::chrono::steady_clock::now() >= give_up) {
                    return false;
                }
                std::this_thread::sleep_for(10ms);
            }
        }
        return true;
    }

    void note_exit(int status) {
        const std::string ping = "procd watchdog: the last ping (" + command_line_.front() + ")";
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            failed_ping_ = HalError{0, ping + " exited with status " + std::to_string(WEXITSTATUS(status))};
        } else if (WIFSIGNALED(status)) {
            failed_ping_ = HalError{0, ping + " was killed by signal " + std::to_string(WTERMSIG(status))};
        }
    }

    ProcdWatchdogSettings settings_;
    std::vector<std::string> command_line_; // the ubus command with the JSON argument appended
    std::chrono::milliseconds timeout_{0};
    bool started_ = false;
    pid_t ping_ = -1; // the running ping, -1 when none
    std::optional<HalError> failed_ping_;
};

} // namespace procd_watchdog_detail

std::unique_ptr<Watchdog> make_procd_watchdog(ProcdWatchdogSettings settings) {
    return std::make_unique<procd_watchdog_detail::ProcdWatchdog>(std::move(settings));
}

} // namespace relayguard::hal
