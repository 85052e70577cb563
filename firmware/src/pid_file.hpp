#pragma once
// The pid file of <run pid-file> (or run --pid-file): written at boot, before privileges are dropped,
// removed at exit when it still names this process. `relayguard reload` reads it.
#include <optional>
#include <string>
#include <sys/types.h>

namespace relayguard::firmware {

class PidFile {
public:
    PidFile() = default;
    ~PidFile();
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

    // Writes this process's pid to `path` (created 0644, replaced if present; a symbolic link at `path`
    // is refused). Returns an error text on failure.
    std::optional<std::string> write(const std::string& path);
    // Removes the file if it still holds this process's pid; a failure (the directory is root's and
    // this process no longer is) is ignored: a stale file is harmless to `reload`, which checks.
    void remove();

private:
    std::string path_;
};

// The pid in `path`: one decimal number, optionally followed by a newline.
std::optional<pid_t> read_pid_file(const std::string& path, std::string& error);

// Whether `pid` is a running relayguard (its command line names the relayguard program, also when run
// through an emulator), so that a stale pid file never makes `reload` signal an unrelated process.
bool is_relayguard_process(pid_t pid);

} // namespace relayguard::firmware
