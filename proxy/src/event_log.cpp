#include "remote_syslog.hpp"

#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/syslog_message.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <syslog.h>
#include <unistd.h>

namespace relayguard::proxy {
namespace event_log_detail {

// "2024-11-27T23:00:00.123+01:00 " plus the tag, "[<pid>]: ", a level prefix and the line end.
constexpr std::size_t max_stamp_length = 40;
constexpr std::size_t max_pid_length = 24;
constexpr std::size_t max_level_prefix_length = 10;
constexpr std::size_t line_capacity = max_stamp_length + EventLog::max_program_length + max_pid_length +
                                      max_level_prefix_length + EventLog::max_line_length + 2;
constexpr std::string_view cut_marker = "...";

// Builds one line in a fixed buffer, so logging neither allocates nor needs a lock for its buffer.
class LineBuffer {
public:
    void append(std::string_view text) {
        const std::size_t room = storage_.size() - 1 - size_; // one octet stays free for the NUL
        const std::size_t count = text.size() < room ? text.size() : room;
        text.copy(storage_.data() + size_, count);
        size_ += count;
    }
    // The text a client may have influenced: control characters (a forged line end, terminal escapes)
    // become '?'; octets from 0x80 up pass untouched so UTF-8 addresses stay readable.
    void append_cleaned(std::string_view text) {
        const std::size_t kept = kept_length(text);
        for (std::size_t i = 0; i < kept && size_ < storage_.size() - 1; ++i) {
            const auto octet = static_cast<unsigned char>(text[i]);
            storage_[size_++] = (octet < 0x20 || octet == 0x7f) ? '?' : text[i];
        }
        if (kept < text.size()) {
            append(cut_marker);
        }
    }
    const char* c_str() {
        storage_[size_] = '\0';
        return storage_.data();
    }
    std::string_view view() const { return {storage_.data(), size_}; }

private:
    // A cut line keeps room for the marker and never ends inside a UTF-8 sequence, so what remains
    // is still valid text for whoever reads the log.
    static std::size_t kept_length(std::string_view text) {
        if (text.size() <= EventLog::max_line_length) {
            return text.size();
        }
        std::size_t kept = EventLog::max_line_length - cut_marker.size();
        for (int step = 0; step < 3 && kept > 0; ++step) {
            const auto octet = static_cast<unsigned char>(text[kept]);
            if ((octet & 0xc0) != 0x80) {
                break; // text[kept] starts a character, so the cut falls between two
            }
            --kept;
        }
        return kept;
    }

    std::array<char, line_capacity> storage_{};
    std::size_t size_ = 0;
};

std::string_view level_prefix(EventLog::Level level) {
    switch (level) {
    case EventLog::Level::debug:
        return "debug: ";
    case EventLog::Level::info:
        return "";
    case EventLog::Level::warning:
        return "warning: ";
    case EventLog::Level::error:
        return "error: ";
    }
    return "";
}

int syslog_priority(EventLog::Level level) {
    switch (level) {
    case EventLog::Level::debug:
        return LOG_DEBUG;
    case EventLog::Level::info:
        return LOG_INFO;
    case EventLog::Level::warning:
        return LOG_WARNING;
    case EventLog::Level::error:
        return LOG_ERR;
    }
    return LOG_INFO;
}

void append_timestamp(LineBuffer& line) {
    char text[40];
    line.append({text, rfc3339_local_time(std::chrono::system_clock::now(), text)});
}

// One write(2) per line: for a pipe the kernel then keeps the line whole (it is shorter than
// PIPE_BUF), so concurrent writers never interleave. A short write to a file is finished rather
// than lost; a descriptor that cannot take the line (full, closed) loses it, as logging must not block
// or throw.
void write_whole(int fd, std::string_view line) {
    while (!line.empty()) {
        const ssize_t written = ::write(fd, line.data(), line.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        line.remove_prefix(static_cast<std::size_t>(written));
    }
}

std::string_view bounded_program(std::string_view program) {
    return program.substr(0, EventLog::max_program_length);
}

// The shape of Postfix's envelope lines: "<prefix><command> from unknown[<addr>]: <what>; from=<…> to=<…> …".
std::string envelope_line(std::string_view prefix, std::string_view command, std::string_view client_address,
                          std::string_view what, std::string_view from, std::string_view to,
                          std::string_view protocol, std::string_view helo) {
    std::string line(prefix);
    line.append(command);
    line += " from ";
    line += client_notation(client_address);
    line += ": ";
    line.append(what);
    line += "; from=<";
    line.append(from);
    line += '>';
    if (!to.empty()) {
        line += " to=<";
        line.append(to);
        line += '>';
    }
    if (!protocol.empty()) {
        line += " proto=";
        line.append(protocol);
    }
    if (!helo.empty()) {
        line += " helo=<";
        line.append(helo);
        line += '>';
    }
    return line;
}

} // namespace event_log_detail

EventLog::EventLog(policy::LogTarget target, Level threshold, std::string_view program)
    : target_(target), fd_(STDERR_FILENO), threshold_(threshold),
      program_(event_log_detail::bounded_program(program)) {
    if (target_ == policy::LogTarget::syslog) {
        ::openlog(program_.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
    }
}

EventLog::EventLog(int fd, Level threshold, std::string_view program)
    : target_(policy::LogTarget::stderr_stream), fd_(fd), threshold_(threshold),
      program_(event_log_detail::bounded_program(program)) {
}

EventLog::~EventLog() {
    remote_.reset(); // sends what is queued
    if (target_ == policy::LogTarget::syslog) {
        ::closelog();
    }
}

void EventLog::send_to(const policy::SyslogServer& server, std::string_view hostname) {
    remote_ = std::make_unique<RemoteSyslog>(server, std::string(hostname), program_);
}

void EventLog::write(Level level, std::string_view text) {
    using event_log_detail::LineBuffer;
    if (!enabled(level)) {
        return;
    }
    LineBuffer line;
    if (target_ == policy::LogTarget::syslog) {
        line.append(event_log_detail::level_prefix(level));
        line.append_cleaned(text);
        if (remote_) {
            remote_->send(event_log_detail::syslog_priority(level), line.view());
            return;
        }
        // The text goes in as an argument, never as the format: a client's "%n" stays text.
        ::syslog(event_log_detail::syslog_priority(level), "%s", line.c_str());
        return;
    }
    event_log_detail::append_timestamp(line);
    line.append(" ");
    line.append(program_);
    std::array<char, event_log_detail::max_pid_length> pid{};
    std::snprintf(pid.data(), pid.size(), "[%ld]: ", static_cast<long>(::getpid()));
    line.append(pid.data());
    line.append(event_log_detail::level_prefix(level));
    line.append_cleaned(text);
    line.append("\n");
    event_log_detail::write_whole(fd_, line.view());
}

std::string client_notation(std::string_view address) {
    std::string notation = "unknown[";
    notation.append(address);
    notation += ']';
    return notation;
}

std::string reject_line(std::string_view command, std::string_view client_address,
                        std::string_view reply_line, std::string_view from, std::string_view to,
                        std::string_view protocol, std::string_view helo) {
    return event_log_detail::envelope_line("NOQUEUE: reject: ", command, client_address, reply_line, from, to,
                                           protocol, helo);
}

std::string relay_line(std::string_view client_address, std::string_view reason, std::string_view from,
                       std::string_view to, std::string_view protocol, std::string_view helo) {
    return event_log_detail::envelope_line("relay: ", "RCPT", client_address, reason, from, to, protocol,
                                           helo);
}

std::string connect_reject_line(std::string_view client_address, std::string_view reply_line) {
    std::string line = "reject: connect from ";
    line += client_notation(client_address);
    line += ": ";
    line.append(reply_line);
    return line;
}

std::string connection_rate_line(std::string_view client_address, unsigned connections) {
    std::string line = "Connection rate limit exceeded: ";
    line += std::to_string(connections);
    line += " from ";
    line += client_notation(client_address);
    line += " for service smtp";
    return line;
}

std::string auth_failure_line(std::string_view client_address, std::string_view mechanism) {
    std::string line = client_notation(client_address);
    line += ": SASL ";
    line.append(mechanism);
    line += " authentication failed: authentication failure";
    return line;
}

} // namespace relayguard::proxy
