#pragma once
// One line per event, to standard error or syslog, in the shapes Postfix uses so that existing tools
// (fail2ban, pflogsumm, grep habits) work on relayguard's log:
//   NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <v@elsewhere.test>: Relay access denied;
//       from=<s@example.com> to=<v@elsewhere.test> proto=ESMTP helo=<test.com>
// On standard error each line is "<ISO 8601 time> relayguard/smtpd[<pid>]: <text>", the time local with
// milliseconds and offset ("2024-11-27T23:00:00.123+01:00"); through syslog the tag is
// "relayguard/smtpd" and the facility mail. As in Postfix, warnings and errors carry a "warning: " or
// "error: " prefix before the text; info and debug lines have none and "debug: " respectively.
// Text from clients is cleaned of control characters before it reaches a line. No secret (password,
// AUTH exchange) is ever passed in.
//
// The lines fail2ban acts on (firmware/packaging/fail2ban/filter.d/relayguard.conf); the filter
// anchors at the start of the text, so every line starts with relayguard's own words, never with text
// a client chose:
//   NOQUEUE: reject: RCPT from unknown[ADDR]: 554 5.7.1 <rcpt>: Relay access denied; from=<…> to=<…> …
//   NOQUEUE: reject: MAIL from unknown[ADDR]: 553 5.7.1 <sender>: Sender address rejected: …; from=<…> …
//   reject: connect from unknown[ADDR]: 554 5.7.1 Access denied                      (connection ACL)
//   reject: connect from unknown[ADDR]: 421 4.7.0 Too many authentication failures   (auth lockout)
//   warning: unknown[ADDR]: SASL PLAIN authentication failed: authentication failure (also LOGIN)
// and one it must not act on, because the client did nothing wrong:
//   reject: connect from unknown[ADDR]: 421 4.7.0 Too many connections
#include <relayguard/policy/config.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace relayguard::proxy {

class RemoteSyslog;

class EventLog {
public:
    using Level = policy::LogLevel;

    // syslog is opened with openlog() when chosen; `program` is the tag ("relayguard/smtpd"). Only one
    // syslog EventLog may exist at a time: openlog() state is per process.
    EventLog(policy::LogTarget target, Level threshold, std::string_view program = "relayguard/smtpd");
    // Standard-error style lines to `fd` instead (tests use a pipe). The descriptor stays the caller's.
    EventLog(int fd, Level threshold, std::string_view program = "relayguard/smtpd");
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    // With target syslog: from now on the lines go to `server` as RFC 5424 messages (remote_syslog.hpp,
    // syslog_message.hpp), with `hostname` as their HOSTNAME, instead of to the local syslog daemon.
    void send_to(const policy::SyslogServer& server, std::string_view hostname);

    bool enabled(Level level) const { return level >= threshold_; }
    void set_threshold(Level level) { threshold_ = level; }

    // Writes one line; `text` is cleaned (control characters become '?', the length is capped at
    // max_line_length) so a hostile client can neither forge lines nor flood the log with one.
    // A line is handed to the kernel in one write(2), so lines from several threads never interleave.
    void write(Level level, std::string_view text);
    void info(std::string_view text) { write(Level::info, text); }
    void warning(std::string_view text) { write(Level::warning, text); }
    void error(std::string_view text) { write(Level::error, text); }
    void debug(std::string_view text) { write(Level::debug, text); }

    // Longest text kept, the "..." marker of a cut line included.
    static constexpr std::size_t max_line_length = 2048;
    // Longer program names are cut; the tag is ours, not a client's, so this only bounds the buffer.
    static constexpr std::size_t max_program_length = 64;

private:
    policy::LogTarget target_;
    int fd_;
    Level threshold_;
    std::string program_; // owned: openlog() keeps the pointer
    std::unique_ptr<RemoteSyslog> remote_;
};

// "unknown[192.0.2.7]": Postfix's client notation; relayguard does no reverse DNS lookups.
std::string client_notation(std::string_view address);

// The Postfix reject line for a refused command:
//   NOQUEUE: reject: <command> from unknown[<addr>]: <reply line>; from=<…> to=<…> proto=ESMTP helo=<…>
// `to` may be empty (MAIL rejections omit "to="); so may `protocol` and `helo` (before HELO/EHLO), and
// then those fields are left out too, as Postfix does. "from=<>" stays: it is the null sender.
std::string reject_line(std::string_view command, std::string_view client_address,
                        std::string_view reply_line, std::string_view from, std::string_view to,
                        std::string_view protocol, std::string_view helo);

// The line for a recipient relayed to another domain, once the upstream accepted it, saying why
// relaying was allowed (the allowlist entry, or the login):
//   relay: RCPT from unknown[<addr>]: relay allowed: allowlisted network 192.0.2.0/24; from=<…> to=<…>
//   proto=ESMTP helo=<…>
std::string relay_line(std::string_view client_address, std::string_view reason, std::string_view from,
                       std::string_view to, std::string_view protocol, std::string_view helo);

// "reject: connect from unknown[<addr>]: <reply line>", for a client refused at connect.
std::string connect_reject_line(std::string_view client_address, std::string_view reply_line);

// "Connection rate limit exceeded: <count> from unknown[<addr>] for service smtp": Postfix's smtpd
// warning for a client refused by <limits max-connection-rate>; log it as a warning.
std::string connection_rate_line(std::string_view client_address, unsigned connections);

// "unknown[<addr>]: SASL <mechanism> authentication failed: authentication failure"; log it as a
// warning. Only the mechanism is named, never the user name or anything the client sent in the exchange.
std::string auth_failure_line(std::string_view client_address, std::string_view mechanism);

} // namespace relayguard::proxy
