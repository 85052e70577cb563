// `relayguard passwd`: reads a password from standard input and prints the PHC string to paste into
// <user password-hash="…">. On a terminal it asks twice with echo off; from a pipe it reads one line.
#include "command_line.hpp"

#include <relayguard/policy/credentials.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

namespace relayguard::firmware {
namespace passwd_detail {

// Reads one line from standard input without its line end. Returns false on end of input before any
// character, or when the line is longer than the longest password a hash may be made for.
bool read_password_line(std::string& password) {
    password.clear();
    // One byte per read: nothing after the line end is consumed, so the confirmation line that follows on
    // a pipe is still there for the second call.
    char c = 0;
    bool line_ended = false;
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (c == '\n') {
            line_ended = true;
            break;
        }
        if (password.size() >= policy::max_password_length) {
            return false;
        }
        password.push_back(c);
    }
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    return line_ended || !password.empty();
}

// Turns terminal echo off for its lifetime, so a typed password is not shown.
class EchoOff {
public:
    EchoOff() : active_(tcgetattr(STDIN_FILENO, &saved_) == 0) {
        if (active_) {
            termios quiet = saved_;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
    }
    ~EchoOff() {
        if (active_) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
        }
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

private:
    termios saved_{};
    bool active_;
};

bool prompt_password(const char* prompt, std::string& password, TextOutput& err) {
    err << prompt;
    err.flush();
    EchoOff echo_off;
    const bool ok = read_password_line(password);
    err << "\n";
    return ok;
}

bool random_salt(std::vector<std::uint8_t>& salt) {
    salt.resize(policy::default_salt_length);
    std::size_t filled = 0;
    while (filled < salt.size()) {
        const ssize_t got = getrandom(salt.data() + filled, salt.size() - filled, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        filled += static_cast<std::size_t>(got);
    }
    return true;
}

} // namespace passwd_detail

int passwd_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err) {
    std::uint32_t iterations = policy::default_pbkdf2_iterations;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--iterations" && i + 1 < args.size()) {
            const std::string& text = args[++i];
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), iterations);
            if (ec != std::errc() || end != text.data() + text.size() ||
                iterations < policy::min_pbkdf2_iterations || iterations > policy::max_pbkdf2_iterations) {
                err << "relayguard passwd: --iterations takes a number from " << policy::min_pbkdf2_iterations
                    << " to " << policy::max_pbkdf2_iterations << "\n";
                return exit_usage;
            }
        } else {
            err << "relayguard passwd: unexpected argument \"" << args[i] << "\"\n"
                << "usage: relayguard passwd [--iterations N] < password-file\n";
            return exit_usage;
        }
    }

    std::string password;
    if (isatty(STDIN_FILENO)) {
        std::string again;
        if (!passwd_detail::prompt_password("Password: ", password, err) ||
            !passwd_detail::prompt_password("Again: ", again, err)) {
            err << "relayguard passwd: no password read\n";
            return exit_failure;
        }
        if (password != again) {
            err << "relayguard passwd: the passwords differ\n";
            return exit_failure;
        }
    } else if (!passwd_detail::read_password_line(password)) {
        err << "relayguard passwd: expected a password: one line of at most " << policy::max_password_length
            << " characters on standard input\n";
        return exit_failure;
    }
    if (password.empty()) {
        err << "relayguard passwd: the password is empty\n";
        return exit_failure;
    }

    std::vector<std::uint8_t> salt;
    if (!passwd_detail::random_salt(salt)) {
        err << "relayguard passwd: no random numbers for the salt: " << std::strerror(errno) << "\n";
        return exit_failure;
    }
    out << policy::PasswordHash::create(password, std::move(salt), iterations).to_string() << "\n";
    return exit_ok;
}

} // namespace relayguard::firmware
