#pragma once
// Shared by the watchdog tests: a private scratch directory, a bounded wait, and error values that show
// their message when a check fails.
#include <relayguard/hal/watchdog.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace watchdog_test_support {

// A fresh directory under /tmp, removed with everything in it at the end. /tmp rather than $TMPDIR
// because an AF_UNIX socket path must fit in sun_path (108 bytes).
class ScratchDirectory {
public:
    ScratchDirectory() {
        char pattern[] = "/tmp/relayguard-hal-XXXXXX";
        if (::mkdtemp(pattern) != nullptr) {
            path_ = pattern;
        }
    }
    ~ScratchDirectory() {
        if (!path_.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(path_, ignored);
        }
    }
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;

    bool created() const { return !path_.empty(); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Polls `condition` until it holds or `limit` passes; tests assert on the outcome, never on the time
// it took.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= give_up) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

// "" for no error, else its message: CHECK(error_message(x) == "") prints the message when it fails.
inline std::string error_message(const std::optional<relayguard::hal::HalError>& error) {
    return error ? error->message : std::string();
}

// The error's errno value, 0 for no error.
inline int error_code(const std::optional<relayguard::hal::HalError>& error) {
    return error ? error->code : 0;
}

inline std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream input(path);
    for (std::string line; std::getline(input, line);) {
        lines.push_back(line);
    }
    return lines;
}

} // namespace watchdog_test_support
