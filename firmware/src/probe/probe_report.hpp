#pragma once
// What `relayguard probe` found, and the two ways it says so: a table for people and JSON for scripts.
#include "text_output.hpp"

#include <string>
#include <vector>

namespace relayguard::firmware {

// One command sequence tried against the server: a relay form, or a smuggling ending.
struct ProbeAttempt {
    std::string check;  // "relay", "smuggling"
    std::string form;   // "nmap-percent-hack-literal", "LF.LF"
    std::string origin; // "nmap", "nessus", "routing", "scanner"
    std::string mail_from;
    std::string rcpt_to;
    std::string mail_reply; // one-line summaries; empty when the step was not reached
    std::string rcpt_reply;
    std::string data_reply;
    std::string final_reply;
    // relay: "relayed" or "refused"; smuggling: "accepted" (ended the message: vulnerable), "kept"
    // (taken as content), "rejected" (refused the message)
    std::string verdict;
};

// One line of the summary table.
struct ProbeCheck {
    std::string name;     // "relay (unauthenticated)", "auth before TLS", "STARTTLS injection", "smuggling"
    unsigned tried = 0;   // forms tried
    std::string verdict;  // "OPEN RELAY (3 forms)", "no relay", "offered", "not offered", "vulnerable", ...
    std::string reply;    // the server reply that decided it
    bool finding = false; // something an operator must act on
};

struct ProbeReport {
    std::string target;   // "192.0.2.1:25"
    std::string source;   // the local address used, or empty
    std::string tls;      // "none", "STARTTLS TLSv1.3 ...", "implicit ..."
    std::string login;    // authenticated as, or empty
    std::string greeting; // the server's 220 line
    std::vector<ProbeCheck> checks;
    std::vector<ProbeAttempt> attempts;
    int exit_status = 0; // 0 no relay, 1 relays, 2 the probe failed
    std::string failure; // why the probe failed (exit 2)
};

void print_table(const ProbeReport& report, TextOutput& out);
void print_json(const ProbeReport& report, TextOutput& out);
// One line for `probe --targets`: {"target": …, "source": …, "result": "open" | "closed" | "failed",
// "relayed": [the relay forms that got through], "findings": [the checks to act on], "failure": …}.
std::string json_summary_line(const ProbeReport& report);

// JSON string escaping (RFC 8259 §7): quotes, backslashes and control characters; other octets as
// they are (server text is not always UTF-8, so bytes above 127 that are not valid UTF-8 become U+FFFD).
std::string json_string(const std::string& text);

} // namespace relayguard::firmware
