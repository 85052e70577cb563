#pragma once
// The relay attempts `relayguard probe` makes: the forms nmap's smtp-open-relay and Nessus try, and the
// routing forms the policy core knows to be dangerous (percent hack, bang paths, source routes, quoted
// local parts, address literals) aimed at the server's own name. Pure: built from names, no I/O.
#include <string>
#include <vector>

namespace relayguard::firmware {

struct BatteryTargets {
    std::string from_domain;    // the sender's domain (default: a reserved .test domain)
    std::string to_domain;      // somebody else's domain, the relay target
    std::string server_name;    // the name the server gave in its greeting, or the one on the command line
    std::string server_address; // the address connected to, "192.0.2.1" or "2001:db8::1"
    std::string local_domain;   // a domain the server delivers locally (default: server_name)
};

struct RelayForm {
    std::string name;      // "nmap-percent-hack-literal"
    std::string origin;    // "nmap", "nessus", "routing"
    std::string mail_from; // the path, brackets included: "<a@b>", "<>", "<nessus>"
    std::string rcpt_to;
};

// "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3).
std::string address_literal(const std::string& address);

std::vector<RelayForm> relay_forms(const BatteryTargets& targets);

// The end-of-data forms of SMTP smuggling (CVE-2023-51764/5/6) the public scanners send, each with a
// name: "\n.\n" is "LF.LF".
struct SmugglingForm {
    std::string name;
    std::string ending;
};
std::vector<SmugglingForm> smuggling_forms();

} // namespace relayguard::firmware
