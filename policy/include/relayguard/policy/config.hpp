#pragma once
// The validated, immutable configuration. Built only by the loader (config_loader.hpp); every value here
// has passed validation, and defaults are written next to the fields they apply to.
#include <relayguard/policy/connection_acl.hpp>
#include <relayguard/policy/credentials.hpp>
#include <relayguard/policy/relay_policy.hpp>
#include <relayguard/policy/sender_policy.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relayguard::policy {

enum class ListenTls : std::uint8_t { none, starttls, implicit };
enum class UpstreamTls : std::uint8_t { none, starttls, required };
enum class BareNewline : std::uint8_t { reject, normalize };
enum class LogTarget : std::uint8_t { stderr_stream, syslog };
enum class LogLevel : std::uint8_t { debug, info, warning, error };
enum class WatchdogMode : std::uint8_t { automatic, device, systemd, procd, none };

struct ListenConfig {
    // A literal IPv4/IPv6 address ("0.0.0.0", "::"); empty when the listener follows `interface`: it then
    // listens on every address that interface has, as addresses come and go.
    std::string address;
    std::uint16_t port = 25;
    std::string interface;           // optional <listen interface="lan">
    ListenTls tls = ListenTls::none; // default starttls when <tls> is configured
    int line = 0;                    // where it was declared, for later messages

    bool follows_interface() const { return address.empty(); }
};

struct UpstreamConfig {
    std::string host; // a literal address or a host name
    std::uint16_t port = 25;
    UpstreamTls tls = UpstreamTls::none;
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
    // How long to wait for the upstream's reply to a command, and to the final dot (RFC 5321 §4.5.3.2
    // gives clients 5 and 10 minutes); a silent upstream costs the client a temporary error.
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds data_timeout{std::chrono::minutes(10)};
    bool xclient = false;
    std::string ca; // optional CA file to verify the upstream's certificate
    // Connection reuse (docs/configuration.md, <upstream pool-size>): up to pool_size idle connections
    // kept after their client's session, each checked with RSET when parked and with NOOP (or XCLIENT)
    // when taken up, closed after pool_idle_time unused or after pool_max_transactions MAIL commands.
    // prewarm: connections opened and parked at boot and after each reload, and kept that many while
    // the upstream answers. Zero pool_size: every session opens its own connection.
    unsigned pool_size = 0;
    std::chrono::milliseconds pool_idle_time{std::chrono::seconds(30)};
    unsigned pool_max_transactions = 100;
    unsigned prewarm = 0;
};

struct TlsConfig {
    std::string certificate;
    std::string key;
    // Session resumption for clients that reconnect: tickets (RFC 5077 in TLS 1.2; in TLS 1.3 with
    // psk_dhe_ke only, so every session keeps an ephemeral key exchange) under keys held in memory only
    // and replaced every ticket_lifetime. Zero: no tickets.
    std::chrono::seconds ticket_lifetime{std::chrono::hours(1)};
};

struct UserConfig {
    std::string name;
    PasswordHash password_hash;
    std::vector<SenderPattern> senders;
};

enum class AuthMechanism : std::uint8_t { plain, login };

struct AuthConfig {
    bool require_tls = true;
    std::vector<AuthMechanism> mechanisms{AuthMechanism::plain, AuthMechanism::login};
    unsigned max_failures = 5;
    std::chrono::milliseconds lockout{std::chrono::minutes(15)};
    std::vector<UserConfig> users;
};

struct LimitsConfig {
    // Simultaneous sessions from the internet: clients off the relay allowlist that have not logged in.
    unsigned max_connections = 256;
    // Simultaneous sessions from the relay allowlist and sessions that logged in: a pool of its own, so
    // hostile connections filling max-connections do not lock the trusted clients out (the loader sets
    // it to max_connections when it is not given, which keeps what a trusted network had before).
    unsigned trusted_connections = 256;
    unsigned max_connections_per_client = 16;
    // How many leading bits of an IPv6 address name one client, for max-connections-per-client and the
    // AUTH lockout: a host normally owns a whole /64 (IPv4 clients are always counted per address).
    unsigned client_ipv6_prefix = 64;
    // Connections one client may open per rate_window (Postfix's smtpd_client_connection_rate_limit,
    // also off by default there); 0: no limit. Clients on the relay allowlist are not counted.
    unsigned max_connection_rate = 0;
    std::chrono::milliseconds rate_window{std::chrono::minutes(1)}; // Postfix's anvil_rate_time_unit
    // Messages (MAIL) and recipients (RCPT) per mail_rate_window: per client (Postfix's
    // smtpd_client_message_rate_limit and _recipient_rate_limit; the relay allowlist is not counted)
    // and per AUTH login; 0: no limit. Answered 450 4.7.1.
    unsigned max_message_rate = 0;
    unsigned max_recipient_rate = 0;
    unsigned max_login_message_rate = 0;
    unsigned max_login_recipient_rate = 0;
    std::chrono::milliseconds mail_rate_window{std::chrono::hours(1)};
    // A login over one of its rates in this many windows, each within login_lockout of the one before,
    // is disabled for login_lockout; 0: never.
    unsigned login_lockout_after = 3;
    std::chrono::milliseconds login_lockout{std::chrono::hours(1)};
    unsigned max_recipients = 100;
    std::uint64_t max_message_size = 50ull * 1024 * 1024;
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds data_timeout{std::chrono::minutes(10)};
    unsigned max_errors = 10;
    // Wait this long before the greeting; a client that talks first is refused (postscreen's pregreet
    // test). Zero: greet at once.
    std::chrono::milliseconds greet_delay{0};
    // How long an untrusted session may take from connecting to its first MAIL FROM (greeting, EHLO,
    // STARTTLS and AUTH included): a client that trickles commands to hold its slot is closed.
    std::chrono::milliseconds mail_deadline{std::chrono::minutes(5)};
    // Stress mode, after Postfix's: while the untrusted sessions are at stress_threshold percent of
    // max_connections or more (0: never), untrusted sessions get the shorter command timeout and mail
    // deadline and the longer greet delay below.
    unsigned stress_threshold = 80;
    std::chrono::milliseconds stress_command_timeout{std::chrono::seconds(10)}; // Postfix's ${stress?10}
    std::chrono::milliseconds stress_mail_deadline{std::chrono::seconds(30)};
    std::chrono::milliseconds stress_greet_delay{std::chrono::seconds(2)};
    // On SIGTERM, how long sessions in flight may take to finish before they are closed.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};
};

// <log server>: a syslog collector that relayguard sends RFC 5424 messages to itself, for boxes
// without a forwarding syslog daemon: UDP (RFC 5426) or TCP with octet counting (RFC 6587).
struct SyslogServer {
    enum class Transport : std::uint8_t { udp, tcp };
    Transport transport = Transport::udp;
    std::string address; // a literal IPv4 or IPv6 address
    std::uint16_t port = 514;

    // "udp://192.0.2.10:514", "tcp://[2001:db8::1]:6514"
    std::string to_string() const;
};

struct LogConfig {
    LogTarget target = LogTarget::stderr_stream;
    LogLevel level = LogLevel::info;
    std::optional<SyslogServer> server; // only with target syslog
};

// <run>: how the process runs once its listeners are bound.
struct RunConfig {
    std::string user;     // drop privileges to this account; empty: keep running as started
    std::string group;    // and this group; empty: the user's primary group
    std::string pid_file; // written at start, removed at exit; empty: none
};

// <watchdog>: who resets the box when relayguard's event loop hangs.
struct WatchdogConfig {
    // automatic: systemd's WatchdogSec= when running under it, procd's service watchdog when the init
    // script configured one, otherwise none. The device is only used when named.
    WatchdogMode backend = WatchdogMode::automatic;
    std::string device = "/dev/watchdog";
    std::chrono::milliseconds timeout{std::chrono::seconds(30)}; // the device's; systemd and procd set theirs
};

struct Config {
    std::string source; // the file it came from, or "(embedded default)"
    std::string sha256; // of the file's bytes, lower-case hex as sha256sum prints it
    std::vector<ListenConfig> listeners;
    UpstreamConfig upstream;
    std::string hostname; // <identity hostname>; default: the machine's host name, resolved by the caller
    std::optional<TlsConfig> tls;
    ConnectionAcl clients;
    RelayPolicy relay;
    SenderPolicy senders;
    bool open_networks_allowed = false; // <relay open-networks="allow">
    AuthConfig auth;
    LimitsConfig limits;
    BareNewline bare_newline = BareNewline::reject;
    LogConfig log;
    // <metrics listen>: where Prometheus scrapes /metrics; absent: no endpoint. Its tls is always none.
    std::optional<ListenConfig> metrics;
    RunConfig run;
    WatchdogConfig watchdog;
};

} // namespace relayguard::policy
