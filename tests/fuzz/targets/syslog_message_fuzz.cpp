// RFC 5424 messages (syslog_message.hpp) from any log line: the structured data is "-" or one
// well-formed element whose values are escaped and bounded, and the header is RFC 5424's.
#include "fuzz_check.hpp"

#include <relayguard/proxy/syslog_message.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

// "[relayguard@32473( name=\"value\")+]" with '"', '\' and ']' escaped inside values.
bool well_formed(std::string_view element) {
    const std::string_view head = "[relayguard@32473";
    if (element.substr(0, head.size()) != head || element.size() < head.size() + 1 || element.back() != ']') {
        return false;
    }
    std::size_t at = head.size();
    std::size_t params = 0;
    while (element[at] == ' ') {
        ++at;
        const std::size_t name_start = at;
        while (element[at] >= 'a' && element[at] <= 'z') {
            ++at;
        }
        if (at == name_start || element.substr(at, 2) != "=\"") {
            return false;
        }
        at += 2;
        while (element[at] != '"') {
            if (element[at] == ']' || at + 1 >= element.size()) {
                return false;
            }
            at += element[at] == '\\' ? 2 : 1;
        }
        ++at;
        ++params;
    }
    return params > 0 && at == element.size() - 1;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const std::string element = relayguard::proxy::decision_structured_data(line);
    FUZZ_CHECK(element == "-" || well_formed(element));
    FUZZ_CHECK(element.size() <= 2048);
    const relayguard::proxy::SyslogHeader header{"mx1.example.com", "relayguard/smtpd", 42};
    const std::string message =
        relayguard::proxy::rfc5424_message(6, "2026-12-03T14:01:22.835Z", header, line);
    const std::string_view start = "<22>1 2026-12-03T14:01:22.835Z mx1.example.com relayguard/smtpd 42 ";
    FUZZ_CHECK(message.substr(0, start.size()) == start);
    // MSGID, then the structured data, then the line itself, unchanged.
    const std::size_t msgid_end = message.find(' ', start.size());
    FUZZ_CHECK(msgid_end != std::string::npos && msgid_end > start.size() && msgid_end - start.size() <= 32);
    FUZZ_CHECK(message.size() >= line.size() && message.substr(message.size() - line.size()) == line);
    const std::string hostname = relayguard::proxy::syslog_hostname(line);
    FUZZ_CHECK(!hostname.empty() && hostname.size() <= 255 && hostname.find(' ') == std::string::npos);
    return 0;
}
