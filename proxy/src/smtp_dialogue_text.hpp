#pragma once
// Small text helpers the files of SmtpDialogue share.
#include <relayguard/policy/envelope.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace relayguard::proxy::dialogue_text {

// At most this many lines of an upstream reply are repeated to the client.
inline constexpr std::size_t max_relayed_reply_lines = 8;

inline std::string_view without_line_end(std::string_view reply) {
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) {
        reply.remove_suffix(1);
    }
    return reply;
}

// "a@b" for the canonical path "<a@b>": Postfix's log lines add the brackets themselves.
inline std::string_view without_brackets(std::string_view path) {
    if (path.size() >= 2 && path.front() == '<' && path.back() == '>') {
        return path.substr(1, path.size() - 2);
    }
    return path;
}

// Upstream reply text is repeated to the client only as printable ASCII: anything else becomes '?'.
inline void append_clean(std::string& out, std::string_view text) {
    for (const char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        out += (octet >= 0x20 && octet < 0x7f) ? c : '?';
    }
}

// An address with an octet above 127 (UTF-8) can only be sent to a server that offers SMTPUTF8.
inline bool needs_smtputf8(std::string_view address) {
    for (const char octet : address) {
        if (static_cast<unsigned char>(octet) > 0x7f) {
            return true;
        }
    }
    return false;
}

// " KEY" or " KEY=value" for an ESMTP parameter that is passed on.
inline void append_parameter(std::string& line, const policy::EsmtpParameter& parameter) {
    line += ' ';
    line += parameter.keyword;
    if (parameter.has_value) {
        line += '=';
        line += parameter.value;
    }
}

} // namespace relayguard::proxy::dialogue_text
