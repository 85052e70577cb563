#pragma once
// Pure: RFC 5424 messages for <log server>, as relayguard sends them to a syslog collector itself.
//   <22>1 2026-12-03T14:01:22.835+01:00 mx1 relayguard/smtpd 9352 reject [relayguard@32473 …] NOQUEUE: …
// The APP-NAME is the tag of the local syslog lines, so a collector that writes the traditional format
// gives pflogsumm and fail2ban the lines they know ("mx1 relayguard/smtpd[9352]: NOQUEUE: reject: …").
// The structured data (and the MSGID, its event) is read off relayguard's own decision lines
// (event_log.hpp lists their shapes), so a collector can filter on event, command, client, code and
// relay basis without parsing the text.
// 32473 is the private enterprise number RFC 5612 sets aside for examples: relayguard has none of its
// own, and a collector only needs the SD-ID to be stable.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace relayguard::proxy {

struct SyslogHeader {
    std::string_view hostname; // printable ASCII without spaces (syslog_hostname() makes it so)
    std::string_view app_name = "relayguard/smtpd";
    long pid = 0;
};

// Facility mail (2); `severity` is syslog's (3 error, 4 warning, 6 info, 7 debug). `timestamp` is
// RFC 3339 ("2026-12-03T14:01:22.835+01:00"); `text` the log line, cleaned of control characters. The
// MSGID is the decision's event ("reject", "relay", …), "-" for other lines.
std::string rfc5424_message(int severity, std::string_view timestamp, const SyslogHeader& header,
                            std::string_view text);

// "[relayguard@32473 event=\"reject\" command=\"RCPT\" client=\"192.0.2.7\" code=\"554\" status=\"5.7.1\"]"
// for a decision line, "-" (no structured data) for any other.
std::string decision_structured_data(std::string_view text);

// RFC 6587 §3.4.1 octet counting, for TCP: "<length> <message>".
std::string octet_counted(std::string_view message);

// `when` in local time as RFC 3339 wants it, "2024-11-27T23:00:00.123+01:00", into `out`; returns its
// length. strftime's %z has no colon, so the offset is rebuilt.
std::size_t rfc3339_local_time(std::chrono::system_clock::time_point when, char (&out)[40]);

// A host name as RFC 5424's HOSTNAME allows: printable ASCII, no space, at most 255 octets; "-" when
// nothing is left.
std::string syslog_hostname(std::string_view name);

} // namespace relayguard::proxy
