#pragma once
// ASCII character classes and case-insensitive comparison for the protocol words relayguard reads: SMTP
// verbs, keywords and parameters (RFC 5321 §2.4: case-insensitive, in ASCII), EHLO capabilities, HTTP
// header names and the configuration's words. Not <cctype>, whose answers follow the C locale: an octet
// above 127 (UTF-8 addresses, RFC 6531) is compared exactly, never folded.
#include <cstddef>
#include <string_view>

namespace relayguard::policy {

constexpr char to_ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Space, TAB, CR and LF: what a configuration value may carry around and between its words.
constexpr bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Equal but for the case of the letters A-Z.
constexpr bool equals_ignoring_ascii_case(std::string_view left, std::string_view right) {
    if (left.size() != right.size()) {
        return false;
    }
    for (std::size_t index = 0; index < left.size(); ++index) {
        if (to_ascii_lower(left[index]) != to_ascii_lower(right[index])) {
            return false;
        }
    }
    return true;
}

constexpr bool starts_with_ignoring_ascii_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equals_ignoring_ascii_case(text.substr(0, prefix.size()), prefix);
}

} // namespace relayguard::policy
