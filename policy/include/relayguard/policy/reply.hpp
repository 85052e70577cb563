#pragma once
// An SMTP reply as relayguard sends it: a three-digit code and a text that starts with the enhanced
// status code (RFC 3463), e.g. {554, "5.7.1 <x@y>: Relay access denied"}.
#include <string>

namespace relayguard::policy {

struct SmtpReply {
    int code = 0;
    std::string text;

    // "554 5.7.1 <x@y>: Relay access denied" without the line end.
    std::string line() const { return std::to_string(code) + " " + text; }
    bool operator==(const SmtpReply& other) const { return code == other.code && text == other.text; }
};

} // namespace relayguard::policy
