#include "probe_battery.hpp"

namespace relayguard::firmware {
namespace probe_battery_detail {

constexpr char sender_local_part[] = "relayguard-probe";
constexpr char recipient_local_part[] = "relayguard-probe";

std::string path(const std::string& address) {
    return "<" + address + ">";
}

} // namespace probe_battery_detail

std::string address_literal(const std::string& address) {
    return address.find(':') != std::string::npos ? "[IPv6:" + address + "]" : "[" + address + "]";
}

std::vector<RelayForm> relay_forms(const BatteryTargets& targets) {
    namespace local = probe_battery_detail;
    const std::string from = std::string(local::sender_local_part) + "@" + targets.from_domain;
    const std::string to_user = local::recipient_local_part;
    const std::string to = to_user + "@" + targets.to_domain;
    const std::string& server = targets.server_name;
    const std::string literal = address_literal(targets.server_address);
    const std::string& home = targets.local_domain.empty() ? server : targets.local_domain;
    const std::string sender_at_server = local::path(std::string(local::sender_local_part) + "@" + server);
    const std::string sender_at_literal = local::path(std::string(local::sender_local_part) + "@" + literal);
    const std::string percent = to_user + "%" + targets.to_domain;
    const std::string bang = targets.to_domain + "!" + to_user;

    return {
        // nmap's smtp-open-relay, in its order (after RSET each).
        {"nmap-null-sender", "nmap", "<>", local::path(to)},
        {"nmap-plain", "nmap", local::path(from), local::path(to)},
        {"nmap-sender-at-server", "nmap", sender_at_server, local::path(to)},
        {"nmap-sender-at-literal", "nmap", sender_at_literal, local::path(to)},
        {"nmap-percent-hack-literal", "nmap", sender_at_literal, local::path(percent + "@" + literal)},
        {"nmap-percent-hack-server", "nmap", sender_at_server, local::path(percent + "@" + server)},
        {"nmap-quoted-address", "nmap", sender_at_literal, local::path("\"" + to + "\"")},
        {"nmap-quoted-percent", "nmap", sender_at_literal, local::path("\"" + percent + "\"")},
        {"nmap-double-at-literal", "nmap", sender_at_literal, local::path(to + "@" + literal)},
        {"nmap-quoted-at-literal", "nmap", sender_at_literal, local::path("\"" + to + "\"@" + literal)},
        {"nmap-double-at-server", "nmap", sender_at_server, local::path(to + "@" + server)},
        {"nmap-source-route-literal", "nmap", sender_at_literal, local::path("@" + literal + ":" + to)},
        {"nmap-source-route-server", "nmap", sender_at_server, local::path("@" + server + ":" + to)},
        {"nmap-bang-path", "nmap", sender_at_literal, local::path(bang)},
        {"nmap-bang-literal", "nmap", sender_at_literal, local::path(bang + "@" + literal)},
        {"nmap-bang-server", "nmap", sender_at_server, local::path(bang + "@" + server)},
        // Nessus's relay test adds senders a naive check trusts.
        {"nessus-third-party-sender", "nessus", local::path("nobody@" + targets.from_domain),
         local::path(to)},
        {"nessus-bare-sender", "nessus", "<nessus>", local::path(to)},
        {"nessus-postmaster-sender", "nessus", local::path("postmaster@" + server), local::path(to)},
        // Routing forms aimed at a domain the server delivers locally: a server that decides on the last
        // domain without resolving the address relays them.
        {"routing-percent-local", "routing", local::path(from), local::path(percent + "@" + home)},
        {"routing-double-percent-local", "routing", local::path(from),
         local::path(to_user + "%" + targets.to_domain + "%" + home + "@" + home)},
        {"routing-bang-local", "routing", local::path(from), local::path(bang + "@" + home)},
        {"routing-source-route-local", "routing", local::path(from), local::path("@" + home + ":" + to)},
        {"routing-source-route-chain", "routing", local::path(from),
         local::path("@" + home + ",@" + literal + ":" + to)},
        {"routing-quoted-at-local", "routing", local::path(from), local::path("\"" + to + "\"@" + home)},
        {"routing-quoted-escaped-at-local", "routing", local::path(from),
         local::path("\"" + to_user + "\\@" + targets.to_domain + "\"@" + home)},
        {"routing-quoted-percent-local", "routing", local::path(from),
         local::path("\"" + percent + "\"@" + home)},
        {"routing-upper-case-domain", "routing", local::path(from),
         local::path(to_user + "@" +
                     [&] {
                         std::string upper = targets.to_domain;
                         for (char& c : upper) {
                             c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
                         }
                         return upper;
                     }())},
        {"routing-trailing-dot", "routing", local::path(from), local::path(to + ".")},
        {"routing-foreign-literal", "routing", local::path(from), local::path(to_user + "@[192.0.2.254]")},
        {"routing-foreign-ipv6-literal", "routing", local::path(from),
         local::path(to_user + "@[IPv6:2001:db8::fe]")},
    };
}

std::vector<SmugglingForm> smuggling_forms() {
    return {
        {"LF.LF", "\n.\n"},
        {"LF.CR", "\n.\r"},
        {"CR.LF", "\r.\n"},
        {"CR.CR", "\r.\r"},
        {"LF.CRLF", "\n.\r\n"},
        {"CR.CRLF", "\r.\r\n"},
        {"CRLF NUL.CRLF", std::string("\r\n\0.\r\n", 6)},
        {"CRLF.CR CRLF", "\r\n.\r\r\n"},
        {"CR CRLF.CR CRLF", "\r\r\n.\r\r\n"},
        {"CRLF.LF", "\r\n.\n"},
        {"CRLF.CR", "\r\n.\r"},
    };
}

} // namespace relayguard::firmware
