#include "pid_file.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace relayguard::firmware {
namespace pid_file_detail {

constexpr std::size_t max_pid_file_size = 32;            // "4194304\n" is the largest Linux pid
constexpr std::size_t max_command_line_size = 64 * 1024; // /proc/PID/cmdline is read this far at most

std::string errno_text() {
    return std::strerror(errno);
}

bool names_relayguard(const std::string& argument) {
    const std::size_t slash = argument.rfind('/');
    const std::string base = slash == std::string::npos ? argument : argument.substr(slash + 1);
    return base == "relayguard";
}

} // namespace pid_file_detail

PidFile::~PidFile() {
    remove();
}

std::optional<std::string> PidFile::write(const std::string& path) {
    // Written as root into a directory the service account may own (/run/relayguard): no following a
    // symbolic link, no blocking on a FIFO planted there, and no truncating a hard link to another file
    // (O_TRUNC waits until the file is known to be a plain file of its own).
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) {
        return "cannot write pid file " + path + ": " + pid_file_detail::errno_text();
    }
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) || status.st_nlink != 1 ||
        ::ftruncate(fd, 0) != 0) {
        ::close(fd);
        return "cannot write pid file " + path + ": not a regular file of its own";
    }
    const std::string text = std::to_string(getpid()) + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const std::string why = written ? "" : pid_file_detail::errno_text();
    ::close(fd);
    if (!written) {
        return "cannot write pid file " + path + ": " + why;
    }
    path_ = path;
    return std::nullopt;
}

void PidFile::remove() {
    if (path_.empty()) {
        return;
    }
    std::string ignored;
    const std::optional<pid_t> recorded = read_pid_file(path_, ignored);
    if (recorded && *recorded == getpid()) {
        ::unlink(path_.c_str());
    }
    path_.clear();
}

std::optional<pid_t> read_pid_file(const std::string& path, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        error = "cannot read pid file " + path + ": " + pid_file_detail::errno_text();
        return std::nullopt;
    }
    std::array<char, pid_file_detail::max_pid_file_size + 1> text{};
    const ssize_t count = ::read(fd, text.data(), pid_file_detail::max_pid_file_size);
    ::close(fd);
    long long value = 0;
    std::size_t digits = 0;
    for (ssize_t index = 0; index < count && text[static_cast<std::size_t>(index)] >= '0' &&
                            text[static_cast<std::size_t>(index)] <= '9' && digits < 10;
         ++index, ++digits) {
        value = value * 10 + (text[static_cast<std::size_t>(index)] - '0');
    }
    const bool rest_is_newline =
        count >= 0 && (static_cast<std::size_t>(count) == digits ||
                       (static_cast<std::size_t>(count) == digits + 1 && text[digits] == '\n'));
    if (digits == 0 || !rest_is_newline || value <= 1) {
        error = "pid file " + path + " does not hold a process id";
        return std::nullopt;
    }
    return static_cast<pid_t>(value);
}

bool is_relayguard_process(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    // The arguments are NUL-separated. The program is argv[0], or a later argument when an emulator
    // (qemu-user) or a wrapper runs it.
    std::string argument;
    std::size_t total = 0;
    std::array<char, 512> chunk{};
    while (total < pid_file_detail::max_command_line_size) {
        const ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        total += static_cast<std::size_t>(n);
        for (ssize_t i = 0; i < n; ++i) {
            const char c = chunk[static_cast<std::size_t>(i)];
            if (c != '\0') {
                argument += c;
                continue;
            }
            if (pid_file_detail::names_relayguard(argument)) {
                ::close(fd);
                return true;
            }
            argument.clear();
        }
    }
    ::close(fd);
    return pid_file_detail::names_relayguard(argument);
}

} // namespace relayguard::firmware
