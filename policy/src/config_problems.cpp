#include "config_problems.hpp"

#include <cstdio>

namespace relayguard::policy {

std::string ConfigProblem::to_string() const {
    std::string text = file;
    if (line > 0) {
        text += ':' + std::to_string(line);
    }
    text += ": ";
    if (!item.empty()) {
        text += item + ": ";
    }
    return text + message;
}

namespace config_problems_detail {
constexpr std::size_t max_quoted_length = 80;
} // namespace config_problems_detail

namespace config_detail {

void ProblemLog::error(int line, std::string item, std::string message) {
    ++total_errors_;
    if (total_errors_ <= max_reported_errors) {
        errors_.push_back(ConfigProblem{file_, line, std::move(item), std::move(message)});
        return;
    }
    // One extra entry says how many were left out; it is rewritten as the count grows.
    if (total_errors_ == max_reported_errors + 1) {
        errors_.push_back(ConfigProblem{file_, 0, "", ""});
    }
    errors_.back().message =
        "and " + std::to_string(total_errors_ - max_reported_errors) + " more errors not shown";
}

void ProblemLog::warning(int line, std::string item, std::string message) {
    warnings_.push_back(ConfigProblem{file_, line, std::move(item), std::move(message)});
}

std::string quoted(std::string_view value) {
    std::string text = "\"";
    std::size_t shown = 0;
    for (const char c : value) {
        if (shown == config_problems_detail::max_quoted_length) {
            text += "...";
            break;
        }
        const auto octet = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            text += '\\';
            text += c;
        } else if (octet < 0x20 || octet == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(octet));
            text += escaped;
        } else {
            text += c;
        }
        ++shown;
    }
    return text + '"';
}

} // namespace config_detail
} // namespace relayguard::policy
