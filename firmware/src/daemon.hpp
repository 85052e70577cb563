#pragma once
// `relayguard run`: the boot sequence, the running proxy, live reload and the orderly stop.
//
// Boot, one log line per step, and a failure names its step:
//   configuration → watchdog → descriptors → interfaces → listeners → privileges → serve (READY=1)
// SIGHUP reloads: the new file is read and checked first; a bad one is logged in full and the running
// configuration stays. A good one is used by new sessions at once (sessions in flight finish under the
// one they started with), listeners are added and removed, and no accepted connection is dropped.
// SIGTERM/SIGINT stop accepting, let sessions finish within <limits shutdown-timeout>, disarm the
// watchdog with its magic close and exit 0.
#include "text_output.hpp"

#include <memory>
#include <string>

namespace relayguard::firmware {

struct DaemonOptions {
    std::string config_path; // empty: the embedded default configuration
    std::string pid_file;    // overrides <run pid-file> when not empty
};

class Daemon {
public:
    Daemon(DaemonOptions options, TextOutput& err);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Boots, serves until stopped, and returns the exit status.
    int run();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace relayguard::firmware
