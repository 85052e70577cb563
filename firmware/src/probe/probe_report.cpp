#include "probe_report.hpp"

#include <algorithm>
#include <cstdio>

namespace relayguard::firmware {
namespace probe_report_detail {

// Length of the valid UTF-8 sequence at text[index], or 0 when it is not one.
std::size_t utf8_sequence_length(const std::string& text, std::size_t index) {
    const auto lead = static_cast<unsigned char>(text[index]);
    const std::size_t length = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    if (length == 0 || lead > 0xf4 || index + length > text.size()) {
        return 0;
    }
    for (std::size_t next = 1; next < length; ++next) {
        if ((static_cast<unsigned char>(text[index + next]) & 0xc0) != 0x80) {
            return 0;
        }
    }
    return length;
}

std::string cut(const std::string& text, std::size_t width) {
    return text.size() <= width ? text : text.substr(0, width - 3) + "...";
}

void row(TextOutput& out, const std::string& check, const std::string& tried, const std::string& verdict,
         const std::string& reply) {
    char line[256];
    std::snprintf(line, sizeof line, "%-26s %-6s %-30s %s", cut(check, 26).c_str(), tried.c_str(),
                  cut(verdict, 30).c_str(), cut(reply, 90).c_str());
    out << line << "\n";
}

// Printable ASCII only in the table: server text may hold anything.
std::string printable(const std::string& text) {
    std::string clean;
    for (const char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        clean += octet >= 0x20 && octet < 0x7f ? c : '?';
    }
    return clean;
}

} // namespace probe_report_detail

std::string json_string(const std::string& text) {
    std::string quoted = "\"";
    for (std::size_t index = 0; index < text.size();) {
        const auto octet = static_cast<unsigned char>(text[index]);
        if (octet == '"' || octet == '\\') {
            quoted += '\\';
            quoted += static_cast<char>(octet);
        } else if (octet == '\n') {
            quoted += "\\n";
        } else if (octet == '\r') {
            quoted += "\\r";
        } else if (octet == '\t') {
            quoted += "\\t";
        } else if (octet < 0x20 || octet == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", octet);
            quoted += escaped;
        } else if (octet >= 0x80) {
            const std::size_t length = probe_report_detail::utf8_sequence_length(text, index);
            if (length == 0) {
                quoted += "\\ufffd";
                ++index;
                continue;
            }
            quoted.append(text, index, length);
            index += length;
            continue;
        } else {
            quoted += static_cast<char>(octet);
        }
        ++index;
    }
    return quoted + "\"";
}

void print_table(const ProbeReport& report, TextOutput& out) {
    namespace local = probe_report_detail;
    out << "relayguard probe of " << report.target;
    if (!report.source.empty()) {
        out << " from " << report.source;
    }
    out << "\n";
    if (!report.greeting.empty()) {
        out << "greeting: " << local::printable(report.greeting) << "\n";
    }
    out << "TLS: " << (report.tls.empty() ? "none" : report.tls)
        << (report.login.empty() ? "" : "; authenticated as " + local::printable(report.login)) << "\n\n";
    local::row(out, "check", "forms", "verdict", "server reply");
    for (const ProbeCheck& check : report.checks) {
        local::row(out, check.name, std::to_string(check.tried), check.verdict,
                   local::printable(check.reply));
    }
    const auto through =
        std::count_if(report.attempts.begin(), report.attempts.end(), [](const ProbeAttempt& attempt) {
            return attempt.verdict == "relayed" || attempt.verdict == "accepted";
        });
    if (through > 0) {
        out << "\nwhat got through:\n";
        for (const ProbeAttempt& attempt : report.attempts) {
            if (attempt.verdict == "relayed") {
                out << "  " << attempt.form << ": MAIL FROM:" << local::printable(attempt.mail_from)
                    << " RCPT TO:" << local::printable(attempt.rcpt_to) << " -> "
                    << local::printable(attempt.rcpt_reply)
                    << (attempt.data_reply.empty() ? "" : ", DATA -> " + local::printable(attempt.data_reply))
                    << "\n";
            } else if (attempt.verdict == "accepted") {
                out << "  smuggling " << attempt.form
                    << ": ended the message early, the smuggled commands were "
                    << "answered (" << local::printable(attempt.final_reply) << ")\n";
            }
        }
    }
    if (report.exit_status == 2) {
        out << "\nprobe failed: " << local::printable(report.failure) << "\n";
    } else {
        out << "\nresult: " << (report.exit_status == 1 ? "OPEN RELAY" : "no relay found") << "\n";
    }
}

void print_json(const ProbeReport& report, TextOutput& out) {
    const auto field = [](const char* name, const std::string& value, bool last = false) {
        return std::string("\"") + name + "\": " + json_string(value) + (last ? "" : ", ");
    };
    out << "{" << field("target", report.target) << field("source", report.source) << field("tls", report.tls)
        << field("login", report.login) << field("greeting", report.greeting)
        << "\"exit_status\": " << report.exit_status << ", "
        << "\"result\": "
        << json_string(report.exit_status == 2   ? "failed"
                       : report.exit_status == 1 ? "relay"
                                                 : "no-relay")
        << ", " << field("failure", report.failure) << "\"checks\": [";
    for (std::size_t index = 0; index < report.checks.size(); ++index) {
        const ProbeCheck& check = report.checks[index];
        out << (index ? ", " : "") << "{" << field("name", check.name) << "\"tried\": " << check.tried << ", "
            << field("verdict", check.verdict) << field("reply", check.reply)
            << "\"finding\": " << (check.finding ? "true" : "false") << "}";
    }
    out << "], \"attempts\": [";
    for (std::size_t index = 0; index < report.attempts.size(); ++index) {
        const ProbeAttempt& attempt = report.attempts[index];
        out << (index ? ",\n  " : "\n  ") << "{" << field("check", attempt.check)
            << field("form", attempt.form) << field("origin", attempt.origin)
            << field("mail_from", attempt.mail_from) << field("rcpt_to", attempt.rcpt_to)
            << field("mail_reply", attempt.mail_reply) << field("rcpt_reply", attempt.rcpt_reply)
            << field("data_reply", attempt.data_reply) << field("final_reply", attempt.final_reply)
            << field("verdict", attempt.verdict, true) << "}";
    }
    out << "]}\n";
}

std::string json_summary_line(const ProbeReport& report) {
    const auto list = [](const std::vector<std::string>& items) {
        std::string text = "[";
        for (std::size_t index = 0; index < items.size(); ++index) {
            text += (index ? ", " : "") + json_string(items[index]);
        }
        return text + "]";
    };
    std::vector<std::string> relayed;
    for (const ProbeAttempt& attempt : report.attempts) {
        if (attempt.verdict == "relayed" || attempt.verdict == "accepted") {
            relayed.push_back(attempt.check == "relay" ? attempt.form : attempt.check + " " + attempt.form);
        }
    }
    std::vector<std::string> findings;
    for (const ProbeCheck& check : report.checks) {
        if (check.finding) {
            findings.push_back(check.name + ": " + check.verdict);
        }
    }
    const char* result = report.exit_status == 2 ? "failed" : report.exit_status == 1 ? "open" : "closed";
    return "{\"target\": " + json_string(report.target) + ", \"source\": " + json_string(report.source) +
           ", \"result\": \"" + result + "\", \"relayed\": " + list(relayed) +
           ", \"findings\": " + list(findings) + ", \"failure\": " + json_string(report.failure) + "}\n";
}

} // namespace relayguard::firmware
