#include <relayguard/proxy/syslog_message.hpp>

#include <array>
#include <cstdio>
#include <ctime>
#include <initializer_list>

namespace relayguard::proxy {
namespace syslog_message_detail {

constexpr int mail_facility = 2;
constexpr std::size_t max_hostname = 255;
// A value is a word or an address of relayguard's own lines; longer is not one of them.
constexpr std::size_t max_value = 128;
constexpr std::string_view sd_id = "relayguard@32473";

struct Param {
    std::string_view name;
    std::string_view value;
};

// RFC 5424 §6.3.3: '"', '\' and ']' are escaped inside a PARAM-VALUE.
void append_value(std::string& out, std::string_view value) {
    for (const char c : value.substr(0, max_value)) {
        if (c == '"' || c == '\\' || c == ']') {
            out += '\\';
        }
        out += c;
    }
}

std::string element(std::initializer_list<Param> params) {
    std::string out = "[";
    out += sd_id;
    for (const Param& param : params) {
        if (param.value.empty()) {
            continue;
        }
        out += ' ';
        out += param.name;
        out += "=\"";
        append_value(out, param.value);
        out += '"';
    }
    out += ']';
    return out;
}

// Takes `prefix` off the front of `text`; false when it is not there.
bool take(std::string_view& text, std::string_view prefix) {
    if (text.substr(0, prefix.size()) != prefix) {
        return false;
    }
    text.remove_prefix(prefix.size());
    return true;
}

// "unknown[ADDR]" at the front: ADDR, and the text after "]".
std::string_view take_client(std::string_view& text) {
    if (!take(text, "unknown[")) {
        return {};
    }
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
        return {};
    }
    const std::string_view address = text.substr(0, close);
    text.remove_prefix(close + 1);
    return address;
}

std::string_view word(std::string_view text) {
    return text.substr(0, text.find_first_of(" ;"));
}

bool is_reply_code(std::string_view code) {
    return code.size() == 3 && code[0] >= '2' && code[0] <= '5' && code[1] >= '0' && code[1] <= '9' &&
           code[2] >= '0' && code[2] <= '9';
}

bool is_enhanced_status(std::string_view status) {
    return status.size() >= 5 && status.size() <= 11 &&
           (status[0] == '2' || status[0] == '4' || status[0] == '5') && status[1] == '.' &&
           status.find_first_not_of("0123456789.") == std::string_view::npos;
}

// "554 5.7.1 …" into code and status (empty where the text does not have them).
void reply_fields(std::string_view reply, std::string_view& code, std::string_view& status) {
    code = word(reply);
    if (!is_reply_code(code)) {
        code = {};
        return;
    }
    status = word(reply.substr(code.size() + (reply.size() > code.size() ? 1 : 0)));
    if (!is_enhanced_status(status)) {
        status = {};
    }
}

std::string reject_element(std::string_view event, std::string_view command, std::string_view text) {
    const std::string_view client = take_client(text);
    if (client.empty() || !take(text, ": ")) {
        return "-";
    }
    std::string_view code;
    std::string_view status;
    reply_fields(text, code, status);
    return element(
        {{"event", event}, {"command", command}, {"client", client}, {"code", code}, {"status", status}});
}

std::string relay_element(std::string_view text) {
    const std::string_view client = take_client(text);
    if (client.empty() || !take(text, ": relay allowed: ")) {
        return "-";
    }
    std::string_view network;
    std::string_view login;
    if (take(text, "allowlisted network ")) {
        network = word(text);
        text.remove_prefix(network.size());
        if (take(text, " and authenticated as ")) {
            login = word(text);
        }
    } else if (take(text, "authenticated as ")) {
        login = word(text);
    }
    const std::string_view basis = !network.empty() && !login.empty() ? "network_and_auth"
                                   : !network.empty()                 ? "network"
                                   : !login.empty()                   ? "auth"
                                                                      : "";
    return element({{"event", "relay"},
                    {"command", "RCPT"},
                    {"client", client},
                    {"basis", basis},
                    {"network", network},
                    {"login", login}});
}

} // namespace syslog_message_detail

std::string decision_structured_data(std::string_view text) {
    namespace local = syslog_message_detail;
    if (local::take(text, "NOQUEUE: reject: ")) {
        const std::string_view command = local::word(text);
        if (command.empty() || !local::take(text, command) || !local::take(text, " from ")) {
            return "-";
        }
        return local::reject_element("reject", command, text);
    }
    if (local::take(text, "reject: connect from ")) {
        return local::reject_element("connect-reject", "CONNECT", text);
    }
    if (local::take(text, "relay: RCPT from ")) {
        return local::relay_element(text);
    }
    if (local::take(text, "message accepted from ")) {
        const std::string_view client = local::take_client(text);
        return client.empty() ? "-" : local::element({{"event", "accepted"}, {"client", client}});
    }
    if (local::take(text, "Connection rate limit exceeded: ")) {
        const std::size_t from = text.find(" from ");
        if (from == std::string_view::npos) {
            return "-";
        }
        text.remove_prefix(from + 6);
        const std::string_view client = local::take_client(text);
        return client.empty() ? "-" : local::element({{"event", "rate-limit"}, {"client", client}});
    }
    std::string_view rest = text;
    if (const std::string_view client = local::take_client(rest);
        !client.empty() && local::take(rest, ": SASL ")) {
        const std::string_view mechanism = local::word(rest);
        rest.remove_prefix(mechanism.size());
        if (local::take(rest, " authentication failed")) {
            return local::element({{"event", "auth-failure"}, {"client", client}, {"mechanism", mechanism}});
        }
    }
    return "-";
}

std::string rfc5424_message(int severity, std::string_view timestamp, const SyslogHeader& header,
                            std::string_view text) {
    namespace local = syslog_message_detail;
    std::string message = "<" + std::to_string(local::mail_facility * 8 + severity) + ">1 ";
    message.append(timestamp);
    message += ' ';
    message.append(header.hostname.empty() ? std::string_view("-") : header.hostname);
    message += ' ';
    message.append(header.app_name);
    message += ' ';
    message += std::to_string(header.pid);
    message += ' ';
    // The decision is read off the line without its level prefix ("warning: ").
    std::string_view decision = text;
    for (const std::string_view prefix : {"warning: ", "error: ", "debug: "}) {
        if (local::take(decision, prefix)) {
            break;
        }
    }
    const std::string structured = decision_structured_data(decision);
    // The event is the element's first parameter: [relayguard@32473 event="reject" …].
    const std::string_view marker = "event=\"";
    const std::size_t event = structured.find(marker);
    if (event == std::string::npos) {
        message += '-';
    } else {
        const std::size_t begin = event + marker.size();
        message.append(structured, begin, structured.find('"', begin) - begin);
    }
    message += ' ';
    message += structured;
    message += ' ';
    message.append(text);
    return message;
}

std::size_t rfc3339_local_time(std::chrono::system_clock::time_point when, char (&out)[40]) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    const auto milliseconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
    std::tm local{};
    localtime_r(&seconds, &local);
    char offset[8] = {};
    const bool has_offset = std::strftime(offset, sizeof offset, "%z", &local) == 5; // "+hhmm"
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    // Without a usable offset the time is written in UTC, as "Z" says.
    std::size_t length = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", has_offset ? &local : &utc);
    length += static_cast<std::size_t>(
        std::snprintf(out + length, sizeof out - length, ".%03d", static_cast<int>(milliseconds)));
    length += static_cast<std::size_t>(
        has_offset ? std::snprintf(out + length, sizeof out - length, "%.3s:%.2s", offset, offset + 3)
                   : std::snprintf(out + length, sizeof out - length, "Z"));
    return length;
}

std::string octet_counted(std::string_view message) {
    return std::to_string(message.size()) + " " + std::string(message);
}

std::string syslog_hostname(std::string_view name) {
    std::string host;
    for (const char c : name.substr(0, syslog_message_detail::max_hostname)) {
        host += (c > ' ' && c < 0x7f) ? c : '-';
    }
    return host.empty() ? "-" : host;
}

} // namespace relayguard::proxy
