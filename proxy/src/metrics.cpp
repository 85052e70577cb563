#include "upstream_link.hpp"

#include <relayguard/proxy/metrics.hpp>

#include <mbedtls/version.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>

namespace relayguard::proxy {
namespace metrics_detail {

struct Label {
    std::string_view name;
    std::string_view value;
};

// The label values of each enum, in its order.
constexpr std::array<std::string_view, 5> refusal_reasons{"acl", "limits", "rate", "lockout", "greet_delay"};
constexpr std::array<std::string_view, 3> message_outcomes{"accepted", "refused", "deferred"};
constexpr std::array<std::string_view, 2> peers{"client", "upstream"};
constexpr std::array<std::string_view, 2> mechanisms{"plain", "login"};
constexpr std::array<std::string_view, 3> tls_protocols{"tls1.2", "tls1.3", "other"};
struct Decision {
    std::string_view outcome;
    std::string_view reason;
};
constexpr std::array<Decision, 12> recipient_decisions{{
    {"accepted", "local_domain"},
    {"accepted", "postmaster"},
    {"accepted", "network"},
    {"accepted", "auth"},
    {"accepted", "network_and_auth"},
    {"rejected", "relay_denied"},
    {"rejected", "syntax"},
    {"rejected", "too_many_recipients"},
    {"rejected", "smtputf8"},
    {"rejected", "upstream"},
    {"deferred", "rate_limit"},
    {"deferred", "upstream"},
}};
constexpr std::array<Decision, 8> sender_decisions{{
    {"accepted", "allowed"},
    {"rejected", "sender_refused"},
    {"rejected", "syntax"},
    {"rejected", "size"},
    {"rejected", "smtputf8"},
    {"rejected", "upstream"},
    {"deferred", "rate_limit"},
    {"deferred", "upstream"},
}};
constexpr std::array<std::string_view, 6> upstream_error_kinds{
    "unreachable", "refused_greeting", "timed_out", "connection_lost", "invalid_reply", "tls_failed"};
constexpr std::array<std::string_view, 2> reload_results{"ok", "failed"};

// Appends the exposition line by line into one buffer. Counter families are named without "_total"
// in OpenMetrics' TYPE lines and with it in 0.0.4's; the samples end in "_total" in both.
class Writer {
public:
    Writer(std::string& out, ExpositionFormat format) : out_(out), format_(format) {}

    // `name` without "_total" for a counter.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        const bool counter = type == "counter";
        const std::string_view suffix = counter && format_ == ExpositionFormat::text ? "_total" : "";
        out_ += "# HELP ";
        out_ += name;
        out_ += suffix;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += suffix;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    void sample(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                std::uint64_t value) {
        begin_sample(name, suffix, labels);
        append_number(value);
        out_ += '\n';
    }
    void signed_sample(std::string_view name, std::initializer_list<Label> labels, std::int64_t value) {
        begin_sample(name, "", labels);
        append_number(value);
        out_ += '\n';
    }
    // A duration in microseconds, written in seconds.
    void seconds_sample(std::string_view name, std::string_view suffix, std::uint64_t microseconds) {
        begin_sample(name, suffix, {});
        char text[24];
        out_ += seconds_text(text, microseconds);
        out_ += '\n';
    }
    // Microseconds as seconds with at least one decimal ("0.005", "60.0"): OpenMetrics wants floats in
    // le labels (0.0.4 takes either).
    static std::string_view seconds_text(char (&text)[24], std::uint64_t microseconds) {
        const std::uint64_t whole = microseconds / 1'000'000;
        std::size_t used = static_cast<std::size_t>(std::to_chars(text, text + 16, whole).ptr - text);
        text[used++] = '.';
        char digits[6];
        std::uint64_t fraction = microseconds % 1'000'000;
        for (int position = 5; position >= 0; --position) {
            digits[position] = static_cast<char>('0' + fraction % 10);
            fraction /= 10;
        }
        std::size_t kept = 6;
        while (kept > 1 && digits[kept - 1] == '0') {
            --kept;
        }
        std::copy(digits, digits + kept, text + used);
        return std::string_view(text, used + kept);
    }
    void end() {
        if (format_ == ExpositionFormat::openmetrics) {
            out_ += "# EOF\n";
        }
    }

private:
    void begin_sample(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels) {
        out_ += name;
        out_ += suffix;
        if (labels.size() != 0) {
            out_ += '{';
            bool first = true;
            for (const Label& label : labels) {
                if (!first) {
                    out_ += ',';
                }
                first = false;
                out_ += label.name;
                out_ += "=\"";
                append_escaped(label.value);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
    }
    void append_escaped(std::string_view value) {
        for (const char c : value) {
            if (c == '\\' || c == '"') {
                out_ += '\\';
                out_ += c;
            } else if (c == '\n') {
                out_ += "\\n";
            } else {
                out_ += c;
            }
        }
    }
    template <typename Number>
    void append_number(Number value) {
        char text[24];
        const std::to_chars_result result = std::to_chars(text, text + sizeof text, value);
        out_.append(text, static_cast<std::size_t>(result.ptr - text));
    }

    std::string& out_;
    ExpositionFormat format_;
};

} // namespace metrics_detail

TlsProtocol tls_protocol_of(std::string_view description) {
    if (description.substr(0, 7) == "TLSv1.3") {
        return TlsProtocol::tls1_3;
    }
    if (description.substr(0, 7) == "TLSv1.2") {
        return TlsProtocol::tls1_2;
    }
    return TlsProtocol::other;
}

Metrics::Metrics(std::string version) : version_(std::move(version)) {
    listeners_.reserve(max_listener_series + 1);
}

Metrics::ListenerSlot Metrics::listener_slot(std::string_view name) {
    for (std::size_t slot = 0; slot < listeners_.size(); ++slot) {
        if (listeners_[slot].name == name) {
            return static_cast<ListenerSlot>(slot);
        }
    }
    if (listeners_.size() < max_listener_series) {
        listeners_.push_back(ListenerSeries{std::string(name)});
        return static_cast<ListenerSlot>(listeners_.size() - 1);
    }
    if (listeners_.size() == max_listener_series) {
        listeners_.push_back(ListenerSeries{"other"});
    }
    return static_cast<ListenerSlot>(max_listener_series);
}

Metrics::ListenerSeries& Metrics::series(ListenerSlot listener) {
    if (listeners_.empty()) {
        listeners_.push_back(ListenerSeries{"other"});
    }
    return listeners_[std::min<std::size_t>(listener, listeners_.size() - 1)];
}

void Metrics::session_opened(ListenerSlot listener) {
    ListenerSeries& entry = series(listener);
    ++entry.open;
    ++entry.accepted;
}

void Metrics::session_closed(ListenerSlot listener) {
    ListenerSeries& entry = series(listener);
    if (entry.open > 0) {
        --entry.open;
    }
}

void Metrics::tls_handshake(ListenerSlot listener, TlsProtocol protocol) {
    ++series(listener).handshakes[index(protocol)];
}

void Metrics::tls_handshake_failed(ListenerSlot listener) {
    ++series(listener).handshake_failures;
}

void Metrics::upstream_error(UpstreamFault fault) {
    const std::size_t kind = index(fault);
    if (kind < upstream_errors_.size()) {
        ++upstream_errors_[kind];
    }
}

void Metrics::upstream_reply_time(std::chrono::steady_clock::duration elapsed) {
    const auto microseconds = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    const std::uint64_t value = microseconds > 0 ? static_cast<std::uint64_t>(microseconds) : 0;
    const auto bucket = std::lower_bound(reply_time_bounds_us.begin(), reply_time_bounds_us.end(), value);
    if (bucket != reply_time_bounds_us.end()) {
        ++reply_time_buckets_[static_cast<std::size_t>(bucket - reply_time_bounds_us.begin())];
    }
    ++reply_time_count_;
    reply_time_sum_us_ += value;
}

void Metrics::configuration_loaded(std::string_view sha256, std::chrono::system_clock::time_point when) {
    config_sha256_.assign(sha256);
    config_loaded_at_ = std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

void Metrics::reload_result(bool ok) {
    ++reloads_[ok ? 0 : 1];
    last_reload_ok_ = ok;
}

std::string_view Metrics::content_type(ExpositionFormat format) {
    return format == ExpositionFormat::openmetrics
               ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8";
}

void Metrics::write(std::string& out, ExpositionFormat format) const {
    namespace local = metrics_detail;
    local::Writer w(out, format);

    w.family("relayguard_build_info", "gauge", "relayguard's version and the mbedTLS it was built with.");
    w.sample("relayguard_build_info", "", {{"version", version_}, {"mbedtls", MBEDTLS_VERSION_STRING}}, 1);

    w.family("relayguard_sessions_open", "gauge", "Client sessions open now, by listener.");
    for (const ListenerSeries& entry : listeners_) {
        w.sample("relayguard_sessions_open", "", {{"listener", entry.name}}, entry.open);
    }
    w.family("relayguard_sessions_accepted", "counter", "Client sessions admitted, by listener.");
    for (const ListenerSeries& entry : listeners_) {
        w.sample("relayguard_sessions_accepted", "_total", {{"listener", entry.name}}, entry.accepted);
    }
    w.family("relayguard_connections_refused", "counter",
             "Connections refused, by reason (greet_delay: admitted, then closed for talking before the "
             "greeting).");
    for (std::size_t reason = 0; reason < refusals_.size(); ++reason) {
        w.sample("relayguard_connections_refused", "_total", {{"reason", local::refusal_reasons[reason]}},
                 refusals_[reason]);
    }

    w.family("relayguard_recipients", "counter",
             "RCPT TO commands by outcome and reason (accepted: why relayguard let it through).");
    for (std::size_t result = 0; result < recipients_.size(); ++result) {
        const local::Decision& decision = local::recipient_decisions[result];
        w.sample("relayguard_recipients", "_total",
                 {{"outcome", decision.outcome}, {"reason", decision.reason}}, recipients_[result]);
    }
    w.family("relayguard_senders", "counter", "MAIL FROM commands by outcome and reason.");
    for (std::size_t result = 0; result < senders_.size(); ++result) {
        const local::Decision& decision = local::sender_decisions[result];
        w.sample("relayguard_senders", "_total", {{"outcome", decision.outcome}, {"reason", decision.reason}},
                 senders_[result]);
    }
    w.family("relayguard_messages", "counter",
             "Messages whose data was sent, by outcome (deferred: a temporary failure).");
    for (std::size_t result = 0; result < messages_.size(); ++result) {
        w.sample("relayguard_messages", "_total", {{"outcome", local::message_outcomes[result]}},
                 messages_[result]);
    }

    w.family("relayguard_received_bytes", "counter", "Bytes read from clients and from the upstream.");
    for (std::size_t peer = 0; peer < received_bytes_.size(); ++peer) {
        w.sample("relayguard_received_bytes", "_total", {{"peer", local::peers[peer]}},
                 received_bytes_[peer]);
    }
    w.family("relayguard_sent_bytes", "counter", "Bytes written to clients and to the upstream.");
    for (std::size_t peer = 0; peer < sent_bytes_.size(); ++peer) {
        w.sample("relayguard_sent_bytes", "_total", {{"peer", local::peers[peer]}}, sent_bytes_[peer]);
    }

    w.family("relayguard_auth_attempts", "counter", "AUTH exchanges that reached a verdict, by mechanism.");
    for (std::size_t mechanism = 0; mechanism < auth_successes_.size(); ++mechanism) {
        w.sample("relayguard_auth_attempts", "_total",
                 {{"mechanism", local::mechanisms[mechanism]}, {"result", "success"}},
                 auth_successes_[mechanism]);
        w.sample("relayguard_auth_attempts", "_total",
                 {{"mechanism", local::mechanisms[mechanism]}, {"result", "failure"}},
                 auth_failures_[mechanism]);
    }
    w.family("relayguard_auth_lockouts", "counter",
             "Clients locked out after <auth max-failures>, by the mechanism of the last failure.");
    for (std::size_t mechanism = 0; mechanism < auth_lockouts_.size(); ++mechanism) {
        w.sample("relayguard_auth_lockouts", "_total", {{"mechanism", local::mechanisms[mechanism]}},
                 auth_lockouts_[mechanism]);
    }

    w.family("relayguard_tls_handshakes", "counter", "TLS handshakes completed, by listener and protocol.");
    for (const ListenerSeries& entry : listeners_) {
        for (std::size_t protocol = 0; protocol < entry.handshakes.size(); ++protocol) {
            w.sample("relayguard_tls_handshakes", "_total",
                     {{"listener", entry.name}, {"protocol", local::tls_protocols[protocol]}},
                     entry.handshakes[protocol]);
        }
    }
    w.family("relayguard_tls_handshake_failures", "counter", "TLS handshakes that failed, by listener.");
    for (const ListenerSeries& entry : listeners_) {
        w.sample("relayguard_tls_handshake_failures", "_total", {{"listener", entry.name}},
                 entry.handshake_failures);
    }

    w.family("relayguard_upstream_connects", "counter",
             "TCP connections to the upstream that were established.");
    w.sample("relayguard_upstream_connects", "_total", {}, upstream_connects_);
    w.family("relayguard_upstream_reuses", "counter",
             "Client sessions that took up a pooled upstream connection which passed its check.");
    w.sample("relayguard_upstream_reuses", "_total", {}, upstream_reuses_);
    w.family("relayguard_upstream_pool_idle", "gauge", "Upstream connections parked in the pool.");
    w.sample("relayguard_upstream_pool_idle", "", {}, upstream_pool_idle_);
    w.family("relayguard_upstream_errors", "counter", "Upstream faults, by kind.");
    for (std::size_t kind = 0; kind < upstream_errors_.size(); ++kind) {
        w.sample("relayguard_upstream_errors", "_total", {{"kind", local::upstream_error_kinds[kind]}},
                 upstream_errors_[kind]);
    }
    w.family("relayguard_upstream_reply_duration_seconds", "histogram",
             "Time from sending a command (or the final dot) to the upstream's reply.");
    std::uint64_t cumulative = 0;
    for (std::size_t bucket = 0; bucket < reply_time_bounds_us.size(); ++bucket) {
        cumulative += reply_time_buckets_[bucket];
        char bound[24];
        w.sample("relayguard_upstream_reply_duration_seconds", "_bucket",
                 {{"le", local::Writer::seconds_text(bound, reply_time_bounds_us[bucket])}}, cumulative);
    }
    w.sample("relayguard_upstream_reply_duration_seconds", "_bucket", {{"le", "+Inf"}}, reply_time_count_);
    w.seconds_sample("relayguard_upstream_reply_duration_seconds", "_sum", reply_time_sum_us_);
    w.sample("relayguard_upstream_reply_duration_seconds", "_count", {}, reply_time_count_);

    w.family("relayguard_config_reloads", "counter", "Configuration reloads, by result.");
    for (std::size_t result = 0; result < reloads_.size(); ++result) {
        w.sample("relayguard_config_reloads", "_total", {{"result", local::reload_results[result]}},
                 reloads_[result]);
    }
    w.family("relayguard_config_last_reload_successful", "gauge",
             "1 when the last reload (or the start) loaded its file, 0 when it kept the old configuration.");
    w.sample("relayguard_config_last_reload_successful", "", {}, last_reload_ok_ ? 1 : 0);
    w.family("relayguard_config_info", "gauge", "The configuration in force: the SHA-256 of its file.");
    w.sample("relayguard_config_info", "", {{"sha256", config_sha256_}}, 1);
    w.family("relayguard_config_load_timestamp_seconds", "gauge",
             "When the configuration in force was loaded, in Unix seconds.");
    w.signed_sample("relayguard_config_load_timestamp_seconds", {}, config_loaded_at_);

    w.family("relayguard_watchdog_feeds", "counter", "Times the event loop fed the watchdog.");
    w.sample("relayguard_watchdog_feeds", "_total", {}, watchdog_feeds_);
    w.end();
}

} // namespace relayguard::proxy
