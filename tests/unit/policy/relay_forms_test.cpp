// Every relay form of ../shared/SMTP-NOTES.md, built as the scanners build them, and forms listed
// nowhere, decided for a stranger, an allowlisted client and an authenticated one.
#include <relayguard/policy/relay_policy.hpp>
#include <relayguard/policy/sender_policy.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace relayguard::policy;

namespace relay_forms_test {

// What nmap's smtp-open-relay is given here: --script-args smtp-open-relay.domain=ext.test, the
// server greeting as mx.example.com, and the target's address 192.0.2.10. The server's local domain
// is example.com. Nessus's "third party domain" setting is ext.test as well.
const std::string third_party = "ext.test";
const std::string server_name = "mx.example.com";
const std::string server_ip = "192.0.2.10";

// A scanner's MAIL FROM / RCPT TO pair, the recipient as the 554 reply must show it, and the reason.
struct ScannerForm {
    std::string mail_argument;
    std::string rcpt_argument;
    std::string denied_recipient;
    std::string denial_reason;
};

// scripts/smtp-open-relay.nse: "MAIL FROM:<%s>" and "RCPT TO:<%s>", from = antispam, to = relaytest.
std::vector<ScannerForm> nmap_forms() {
    const std::string from = "antispam";
    const std::string to = "relaytest";
    const std::string domain = third_party;
    const std::string ip = "[" + server_ip + "]";
    const std::string srv = server_name;
    const std::string plain = to + "@" + domain;
    const std::string literal_sender = from + "@" + ip;
    auto form = [](const std::string& sender, const std::string& recipient, const std::string& shown,
                   const std::string& reason) {
        return ScannerForm{"<" + sender + ">", "<" + recipient + ">", shown, "relay denied: " + reason};
    };
    return {
        form("", plain, "<relaytest@ext.test>", "not a local domain"),
        form(from + "@" + domain, plain, "<relaytest@ext.test>", "not a local domain"),
        form(from + "@" + srv, plain, "<relaytest@ext.test>", "not a local domain"),
        form(literal_sender, plain, "<relaytest@ext.test>", "not a local domain"),
        form(literal_sender, to + "%" + domain + "@" + ip, "<relaytest%ext.test@[192.0.2.10]>",
             "address literal"),
        form(literal_sender, to + "%" + domain + "@" + srv, "<relaytest%ext.test@mx.example.com>",
             "not a local domain"),
        form(literal_sender, "\"" + to + "@" + domain + "\"", "<\"relaytest@ext.test\">", "no domain"),
        form(literal_sender, "\"" + to + "%" + domain + "\"", "<relaytest%ext.test>", "no domain"),
        form(literal_sender, to + "@" + domain + "@" + ip, "<\"relaytest@ext.test\"@[192.0.2.10]>",
             "address literal"),
        form(literal_sender, "\"" + to + "@" + domain + "\"@" + ip, "<\"relaytest@ext.test\"@[192.0.2.10]>",
             "address literal"),
        form(literal_sender, to + "@" + domain + "@" + srv, "<\"relaytest@ext.test\"@mx.example.com>",
             "not a local domain"),
        form(literal_sender, "@" + ip + ":" + to + "@" + domain, "<relaytest@ext.test>", "source route"),
        form(literal_sender, "@" + srv + ":" + to + "@" + domain, "<relaytest@ext.test>", "source route"),
        form(literal_sender, domain + "!" + to, "<ext.test!relaytest>", "no domain"),
        form(literal_sender, domain + "!" + to + "@" + ip, "<ext.test!relaytest@[192.0.2.10]>",
             "address literal"),
        form(literal_sender, domain + "!" + to + "@" + srv, "<ext.test!relaytest@mx.example.com>",
             "not a local domain"),
    };
}

// Nessus smtp_relay2.nasl ("MAIL FROM: <%s>", "RCPT TO: <%s>", a space after the colon) and
// smtp_relay.nasl; rand_str() stands in as "q7rk2vz".
std::vector<ScannerForm> nessus_forms() {
    const std::string domain = third_party;
    const std::string dest_name = server_name;
    const std::string dest_ip = "[" + server_ip + "]";
    const std::string t1 = "nobody@" + domain;
    const std::string f1 = "nessus@" + dest_name;
    const std::string f2 = "nessus@" + dest_ip;
    auto form = [](const std::string& sender, const std::string& recipient, const std::string& shown,
                   const std::string& reason) {
        return ScannerForm{" <" + sender + ">", " <" + recipient + ">", shown, "relay denied: " + reason};
    };
    const std::string t1_shown = "<nobody@ext.test>";
    const std::string not_local = "not a local domain";
    return {
        form("nobody@" + domain, t1, t1_shown, not_local),
        form("nessus@q7rk2vz." + domain, t1, t1_shown, not_local),
        form("nessus@localhost", t1, t1_shown, not_local),
        form("nessus", t1, t1_shown, not_local),
        form("", t1, t1_shown, not_local),
        form(f1, t1, t1_shown, not_local),
        form(f2, t1, t1_shown, not_local),
        form(f1, "nobody%" + domain + "@" + dest_name, "<nobody%ext.test@mx.example.com>", not_local),
        form(f1, "nobody%" + domain + "@" + dest_ip, "<nobody%ext.test@[192.0.2.10]>", "address literal"),
        form(f1, "nobody@" + domain + "@" + dest_name, "<\"nobody@ext.test\"@mx.example.com>", not_local),
        form(f1, "\"nobody@" + domain + "\"@" + dest_ip, "<\"nobody@ext.test\"@[192.0.2.10]>",
             "address literal"),
        form(f1, "nobody@" + domain + "@" + dest_ip, "<\"nobody@ext.test\"@[192.0.2.10]>", "address literal"),
        form(f2, "@" + dest_name + ":nobody@" + domain, t1_shown, "source route"),
        form(f1, "@" + dest_ip + ":nobody@" + domain, t1_shown, "source route"),
        form(f1, domain + "!nobody@" + dest_ip, "<ext.test!nobody@[192.0.2.10]>", "address literal"),
        form("postmaster@" + dest_name, t1, t1_shown, not_local),
        form("test_1@" + domain, "test_2@" + domain, "<test_2@ext.test>", not_local),
    };
}

enum class Stage : std::uint8_t { accepted, mail_malformed, sender_rejected, rcpt_malformed, relay_denied };

struct Outcome {
    Stage stage = Stage::accepted;
    std::string reply; // the reply line the client would see; empty when accepted
    std::string reason;
};

// One MAIL FROM / RCPT TO transaction, decided as the session will decide it.
struct Gateway {
    RelayPolicy relay;
    SenderPolicy senders;

    Outcome run(const ClientFacts& client, const std::string& mail_argument,
                const std::string& rcpt_argument) const {
        const ParseResult<MailCommand> mail = parse_mail_from(mail_argument);
        if (!mail) {
            return {Stage::mail_malformed, mail.error.line(), ""};
        }
        const Verdict sender = senders.decide(client, mail.value->path, relay);
        if (!sender.accepted) {
            return {Stage::sender_rejected, sender.reply.line(), sender.reason};
        }
        const ParseResult<RcptCommand> rcpt = parse_rcpt_to(rcpt_argument, mail.value->smtputf8);
        if (!rcpt) {
            return {Stage::rcpt_malformed, rcpt.error.line(), ""};
        }
        const Verdict recipient = relay.decide(client, rcpt.value->path);
        if (!recipient.accepted) {
            return {Stage::relay_denied, recipient.reply.line(), recipient.reason};
        }
        return {Stage::accepted, "", recipient.reason};
    }
};

NetworkSet allowlist() {
    NetworkSet networks;
    networks.add(*NetworkPrefix::parse("127.0.0.0/8"));
    networks.add(*NetworkPrefix::parse("198.51.100.0/24"));
    return networks;
}

Gateway gateway(const std::vector<std::string>& local_domains = {"example.com"},
                RelayRequirement requirement = RelayRequirement::network_or_auth) {
    DomainSet domains;
    for (const std::string& domain : local_domains) {
        REQUIRE(domains.add(domain));
    }
    // alice may use any sender, so that the scanners' senders reach RCPT for her too.
    return Gateway{RelayPolicy(requirement, allowlist(), domains), SenderPolicy()};
}

ClientFacts client(const char* address, const char* user = "") {
    return ClientFacts{*IpAddress::parse(address), user};
}

ClientFacts stranger() {
    return client("203.0.113.9");
}
ClientFacts allowlisted() {
    return client("198.51.100.7");
}
ClientFacts authenticated() {
    return client("203.0.113.9", "alice");
}

void check_scanner_forms(const std::vector<ScannerForm>& forms) {
    const Gateway relay_gateway = gateway();
    for (const ScannerForm& form : forms) {
        INFO("MAIL FROM:" << form.mail_argument << " RCPT TO:" << form.rcpt_argument);
        const Outcome denied = relay_gateway.run(stranger(), form.mail_argument, form.rcpt_argument);
        CHECK(denied.stage == Stage::relay_denied);
        CHECK(denied.reply == "554 5.7.1 " + form.denied_recipient + ": Relay access denied");
        CHECK(denied.reason == form.denial_reason);

        const Outcome trusted = relay_gateway.run(allowlisted(), form.mail_argument, form.rcpt_argument);
        CHECK(trusted.stage == Stage::accepted);
        CHECK(trusted.reason == "relay allowed: allowlisted network 198.51.100.0/24");

        const Outcome logged_in = relay_gateway.run(authenticated(), form.mail_argument, form.rcpt_argument);
        CHECK(logged_in.stage == Stage::accepted);
        CHECK(logged_in.reason == "relay allowed: authenticated as alice");
    }
}

// A form listed nowhere, with what a stranger gets. A trusted client gets it accepted unless it is
// malformed, in which case everyone gets the same syntax reply.
struct TrickyForm {
    const char* what;
    std::string rcpt_argument;
    std::vector<std::string> local_domains;
    bool smtputf8;
    Stage stranger_stage;
    std::string stranger_reply; // the full reply line; empty when accepted
    std::string stranger_reason;
};

std::string denial(const std::string& shown) {
    return "554 5.7.1 " + shown + ": Relay access denied";
}

std::vector<TrickyForm> tricky_forms() {
    const std::vector<std::string> exact = {"example.com"};
    const std::vector<std::string> wildcard = {"*.example.com"};
    const Stage local = Stage::accepted;
    const Stage denied = Stage::relay_denied;
    const Stage malformed = Stage::rcpt_malformed;
    const std::string routing = "relay denied: routing characters in local part";
    const std::string route = "relay denied: source route";
    const std::string literal = "relay denied: address literal";
    const std::string foreign = "relay denied: not a local domain";
    const std::string no_domain = "relay denied: no domain";
    const std::string syntax = "501 5.1.3 Bad recipient address syntax: ";
    return {
        {"trailing dot on the local domain", "<relaytest@example.com.>", exact, false, local, "",
         "local domain"},
        {"two trailing dots", "<relaytest@example.com..>", exact, false, malformed, syntax + "bad domain",
         ""},
        {"trailing dot on a foreign domain", "<relaytest@ext.test.>", exact, false, denied,
         denial("<relaytest@ext.test>"), foreign},
        {"upper-case local domain", "<RelayTest@EXAMPLE.COM>", exact, false, local, "", "local domain"},
        {"local domain as a foreign domain's prefix", "<relaytest@EXAMPLE.COM.ext.test>", exact, false,
         denied, denial("<relaytest@example.com.ext.test>"), foreign},
        {"quoted local part hiding an @", "<\"relaytest@ext.test\"@example.com>", exact, false, denied,
         denial("<\"relaytest@ext.test\"@example.com>"), routing},
        {"quoted local part hiding a %", "<\"relaytest%ext.test\"@example.com>", exact, false, denied,
         denial("<relaytest%ext.test@example.com>"), routing},
        {"quoted local part hiding a bang path", "<\"ext.test!relaytest\"@example.com>", exact, false, denied,
         denial("<ext.test!relaytest@example.com>"), routing},
        {"quoted local part hiding a source route", "<\"@ext.test:relaytest\"@example.com>", exact, false,
         denied, denial("<\"@ext.test:relaytest\"@example.com>"), routing},
        {"quoted local part hiding a slash", "<\"relaytest/ext.test\"@example.com>", exact, false, denied,
         denial("<relaytest/ext.test@example.com>"), routing},
        {"quoted-pair hiding an @", "<\"relaytest\\@ext.test\"@example.com>", exact, false, denied,
         denial("<\"relaytest@ext.test\"@example.com>"), routing},
        {"quoted local part hiding an address literal", "<\"relaytest@[192.0.2.10]\"@example.com>", exact,
         false, denied, denial("<\"relaytest@[192.0.2.10]\"@example.com>"), routing},
        {"needlessly quoted local part", "<\"relaytest\"@example.com>", exact, false, local, "",
         "local domain"},
        {"quoted local part with a space", "<\"relay test\"@example.com>", exact, false, denied,
         denial("<\"relay test\"@example.com>"), "relay denied: quoted local part"},
        {"IPv6 address literal", "<relaytest@[ipv6:2001:DB8::10]>", exact, false, denied,
         denial("<relaytest@[IPv6:2001:db8::10]>"), literal},
        {"IPv4-mapped IPv6 literal", "<relaytest@[IPv6:::ffff:192.0.2.10]>", exact, false, denied,
         denial("<relaytest@[192.0.2.10]>"), literal},
        {"loopback literal", "<relaytest@[127.0.0.1]>", exact, false, denied,
         denial("<relaytest@[127.0.0.1]>"), literal},
        {"subdomain under an exact local domain", "<relaytest@mx.example.com>", exact, false, denied,
         denial("<relaytest@mx.example.com>"), foreign},
        {"subdomain under a wildcard local domain", "<relaytest@MX.example.com.>", wildcard, false, local, "",
         "local domain"},
        {"apex under a wildcard-only local domain", "<relaytest@example.com>", wildcard, false, denied,
         denial("<relaytest@example.com>"), foreign},
        {"look-alike under a wildcard", "<relaytest@notexample.com>", wildcard, false, denied,
         denial("<relaytest@notexample.com>"), foreign},
        {"local domain as an intermediate route", "<@example.com:relaytest@ext.test>", exact, false, denied,
         denial("<relaytest@ext.test>"), route},
        {"source route ending in a local domain", "<@ext.test.:relaytest@example.com>", exact, false, denied,
         denial("<relaytest@example.com>"), route},
        {"percent hack via the local domain", "<relaytest%ext.test@example.com>", exact, false, denied,
         denial("<relaytest%ext.test@example.com>"), routing},
        {"percent-encoded at sign", "<relaytest%40ext.test@example.com>", exact, false, denied,
         denial("<relaytest%40ext.test@example.com>"), routing},
        {"unquoted @ ending in the local domain", "<relaytest@ext.test@example.com>", exact, false, denied,
         denial("<\"relaytest@ext.test\"@example.com>"), routing},
        {"bang path via the local domain", "<ext.test!relaytest@example.com>", exact, false, denied,
         denial("<ext.test!relaytest@example.com>"), routing},
        {"unquoted slash", "<relaytest/ext.test@example.com>", exact, false, denied,
         denial("<relaytest/ext.test@example.com>"), routing},
        {"bang path naming the local domain without a domain", "<example.com!relaytest>", exact, false,
         denied, denial("<example.com!relaytest>"), no_domain},
        {"empty quoted local part", "<\"\"@example.com>", exact, false, malformed,
         syntax + "empty local part", ""},
        {"UTF-8 without SMTPUTF8", "<relayt\xc3\xabst@example.com>", exact, false, malformed,
         "553 5.6.7 Non-ASCII address requires SMTPUTF8", ""},
        {"UTF-8 with SMTPUTF8", "<relayt\xc3\xabst@example.com>", exact, true, local, "", "local domain"},
        {"UTF-8 foreign domain with SMTPUTF8", "<relaytest@\xc3\xabxt.test>", exact, true, denied,
         denial("<relaytest@\xc3\xabxt.test>"), foreign},
        {"postmaster in upper case", "<POSTMASTER>", exact, false, local, "", "postmaster"},
        {"postmaster of a foreign domain", "<postmaster@ext.test>", exact, false, denied,
         denial("<postmaster@ext.test>"), foreign},
        {"quoted postmaster", "<\"Postmaster\">", exact, false, local, "", "postmaster"},
        // A route must lead to a mailbox with a domain (RFC 5321 §4.1.2); "<postmaster>" is special only
        // alone.
        {"source-routed postmaster", "<@ext.test:postmaster>", exact, false, malformed,
         syntax + "bad source route", ""},
        {"no angle brackets", "relaytest@ext.test", exact, false, denied, denial("<relaytest@ext.test>"),
         foreign},
        {"NUL before a foreign domain", std::string("<relaytest@example.com\0@ext.test>", 33), exact, false,
         malformed, "501 5.5.2 Syntax error: control character in command", ""},
        {"CRLF and a second command", "<relaytest@example.com>\r\nRCPT TO:<x@ext.test>", exact, false,
         malformed, "501 5.5.2 Syntax error: control character in command", ""},
        {"text after the path", "<relaytest@example.com>@ext.test", exact, false, malformed,
         syntax + "text after the address", ""},
        {"nested angle brackets", "<<relaytest@ext.test>>", exact, false, malformed,
         syntax + "unbalanced angle brackets", ""},
        {"missing closing bracket", "<relaytest@ext.test", exact, false, malformed,
         syntax + "unbalanced angle brackets", ""},
        {"comment in the local part", "<relaytest(x)@example.com>", exact, false, malformed,
         syntax + "bad character in local part", ""},
        {"leading dot", "<.relaytest@example.com>", exact, false, malformed,
         syntax + "misplaced dot in local part", ""},
        {"colon after the domain", "<relaytest@example.com:ext.test>", exact, false, malformed,
         syntax + "bad domain", ""},
        {"punycode look-alike", "<relaytest@xn--exmple-cua.com>", exact, false, denied,
         denial("<relaytest@xn--exmple-cua.com>"), foreign},
        {"recipient parameters on a local recipient", "<relaytest@example.com> NOTIFY=NEVER", exact, false,
         local, "", "local domain"},
        {"MAIL parameter on RCPT", "<relaytest@example.com> SIZE=1", exact, false, malformed,
         "555 5.5.4 Unsupported option: SIZE", ""},
    };
}

// The independent oracle of the property test: accepted from a stranger only as <postmaster>, or as
// an unquoted local part of plain characters (no quotes, spaces, or any of @ % ! : /) at exactly
// example.com.
bool plainly_local(const std::string& canonical) {
    if (canonical == "<postmaster>") {
        return true;
    }
    const std::string suffix = "@example.com>";
    if (canonical.size() <= suffix.size() + 1 || canonical.front() != '<' ||
        canonical.compare(canonical.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return false;
    }
    const std::string local = canonical.substr(1, canonical.size() - suffix.size() - 1);
    static const std::string plain =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_=#$&*?^`{|}~'";
    for (const char c : local) {
        // UTF-8 octets are letters of an SMTPUTF8 local part.
        if (static_cast<unsigned char>(c) < 0x80 && plain.find(c) == std::string::npos) {
            return false;
        }
    }
    return true;
}

} // namespace relay_forms_test

TEST_CASE("relay forms of nmap smtp-open-relay are denied to strangers and allowed to trusted clients",
          "[relay][forms]") {
    const std::vector<relay_forms_test::ScannerForm> forms = relay_forms_test::nmap_forms();
    REQUIRE(forms.size() == 16);
    relay_forms_test::check_scanner_forms(forms);
}

TEST_CASE("relay forms of the Nessus relay tests are denied to strangers and allowed to trusted clients",
          "[relay][forms]") {
    const std::vector<relay_forms_test::ScannerForm> forms = relay_forms_test::nessus_forms();
    REQUIRE(forms.size() == 17);
    relay_forms_test::check_scanner_forms(forms);
}

TEST_CASE("relay forms stay denied when the server's own name is a local domain", "[relay][forms]") {
    // Now "…@mx.example.com" is local, so only what the local part or route smuggles in decides.
    const relay_forms_test::Gateway relay_gateway =
        relay_forms_test::gateway({"example.com", "mx.example.com"});
    std::vector<relay_forms_test::ScannerForm> forms = relay_forms_test::nmap_forms();
    const std::vector<relay_forms_test::ScannerForm> nessus = relay_forms_test::nessus_forms();
    forms.insert(forms.end(), nessus.begin(), nessus.end());
    for (const relay_forms_test::ScannerForm& form : forms) {
        INFO("RCPT TO:" << form.rcpt_argument);
        const ParseResult<RcptCommand> rcpt = parse_rcpt_to(form.rcpt_argument, false);
        REQUIRE(rcpt);
        const Verdict verdict = relay_gateway.relay.decide(relay_forms_test::stranger(), rcpt.value->path);
        CHECK_FALSE(verdict.accepted);
        CHECK(verdict.reply.line() == relay_forms_test::denial(form.denied_recipient));
        CHECK(relay_gateway.relay.decide(relay_forms_test::allowlisted(), rcpt.value->path).accepted);
        CHECK(relay_gateway.relay.decide(relay_forms_test::authenticated(), rcpt.value->path).accepted);
    }
    const ParseResult<RcptCommand> percent = parse_rcpt_to("<relaytest%ext.test@mx.example.com>", false);
    REQUIRE(percent);
    CHECK(relay_gateway.relay.decide(relay_forms_test::stranger(), percent.value->path).reason ==
          "relay denied: routing characters in local part");
}

TEST_CASE("relay forms listed nowhere get the expected verdicts", "[relay][forms]") {
    const std::vector<relay_forms_test::TrickyForm> forms = relay_forms_test::tricky_forms();
    REQUIRE(forms.size() >= 15);
    for (const relay_forms_test::TrickyForm& form : forms) {
        INFO(form.what << ": RCPT TO:" << form.rcpt_argument);
        const relay_forms_test::Gateway relay_gateway = relay_forms_test::gateway(form.local_domains);
        const std::string mail_argument =
            form.smtputf8 ? "<antispam@ext.test> SMTPUTF8" : "<antispam@ext.test>";

        const relay_forms_test::Outcome stranger =
            relay_gateway.run(relay_forms_test::stranger(), mail_argument, form.rcpt_argument);
        CHECK(stranger.stage == form.stranger_stage);
        CHECK(stranger.reply == form.stranger_reply);
        CHECK(stranger.reason == form.stranger_reason);

        for (const ClientFacts& trusted :
             {relay_forms_test::allowlisted(), relay_forms_test::authenticated()}) {
            const relay_forms_test::Outcome outcome =
                relay_gateway.run(trusted, mail_argument, form.rcpt_argument);
            if (form.stranger_stage == relay_forms_test::Stage::rcpt_malformed) {
                CHECK(outcome.stage == relay_forms_test::Stage::rcpt_malformed);
                CHECK(outcome.reply == form.stranger_reply);
            } else {
                CHECK(outcome.stage == relay_forms_test::Stage::accepted);
                CHECK(outcome.reply.empty());
            }
        }
    }
}

TEST_CASE("relay forms under network-and-auth need both facts even for scanner forms", "[relay][forms]") {
    const relay_forms_test::Gateway relay_gateway =
        relay_forms_test::gateway({"example.com"}, RelayRequirement::network_and_auth);
    const ClientFacts both = relay_forms_test::client("198.51.100.7", "alice");
    for (const relay_forms_test::ScannerForm& form : relay_forms_test::nmap_forms()) {
        INFO("RCPT TO:" << form.rcpt_argument);
        CHECK(relay_gateway.run(relay_forms_test::allowlisted(), form.mail_argument, form.rcpt_argument)
                  .stage == relay_forms_test::Stage::relay_denied);
        CHECK(relay_gateway.run(relay_forms_test::authenticated(), form.mail_argument, form.rcpt_argument)
                  .stage == relay_forms_test::Stage::relay_denied);
        CHECK(relay_gateway.run(both, form.mail_argument, form.rcpt_argument).stage ==
              relay_forms_test::Stage::accepted);
    }
}

TEST_CASE("relay forms property: a stranger is accepted only for plain local addresses", "[relay][forms]") {
    const relay_forms_test::Gateway relay_gateway = relay_forms_test::gateway();
    // Pieces that make local parts, domains and routes; combined at random with a fixed seed, so the
    // run is repeatable.
    const std::vector<std::string> local_pieces = {"relaytest",
                                                   "RelayTest",
                                                   "a",
                                                   ".",
                                                   "..",
                                                   "%",
                                                   "!",
                                                   "@",
                                                   "/",
                                                   ":",
                                                   "\"",
                                                   "\\",
                                                   " ",
                                                   "+tag",
                                                   "=",
                                                   "'",
                                                   "ext.test",
                                                   "example.com",
                                                   "[192.0.2.10]",
                                                   "\\@",
                                                   "\\\"",
                                                   "(",
                                                   ")",
                                                   ",",
                                                   ";",
                                                   "<",
                                                   ">",
                                                   "postmaster",
                                                   "\xc3\xab",
                                                   "_",
                                                   "~",
                                                   "{",
                                                   "}",
                                                   "|",
                                                   "#",
                                                   "?",
                                                   "*"};
    const std::vector<std::string> domains = {
        "example.com",          "EXAMPLE.COM.",         "example.com..",
        "mx.example.com",       "example.com.ext.test", "ext.test",
        "[192.0.2.10]",         "[IPv6:2001:db8::1]",   "[IPv6:::ffff:192.0.2.10]",
        "xexample.com",         "example.co",           "localhost",
        "example.com@ext.test", "ext.test@example.com", "exa%mple.com",
        "example.com!ext.test", "\xc3\xabxample.com"};
    const std::vector<std::string> routes = {
        "", "", "", "@example.com:", "@ext.test:", "@[192.0.2.10]:", "@example.com,@ext.test:"};
    std::mt19937 random(20240611u);
    auto pick = [&random](const std::vector<std::string>& pool) {
        return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(random)];
    };
    auto chance = [&random](unsigned percent) {
        return std::uniform_int_distribution<unsigned>(0, 99)(random) < percent;
    };

    std::size_t parsed = 0;
    std::size_t accepted = 0;
    std::size_t denied = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string local;
        const int pieces = std::uniform_int_distribution<int>(1, 4)(random);
        for (int piece = 0; piece < pieces; ++piece) {
            local += pick(local_pieces);
        }
        if (chance(30)) {
            local = "\"" + local + "\"";
        }
        std::string address = pick(routes) + local;
        if (chance(90)) {
            address += "@" + pick(domains);
        }
        const std::string argument = chance(90) ? "<" + address + ">" : address;
        const bool smtputf8 = chance(50);

        const ParseResult<RcptCommand> rcpt = parse_rcpt_to(argument, smtputf8);
        if (!rcpt) {
            continue;
        }
        ++parsed;
        const ForwardPath& path = rcpt.value->path;
        const std::string canonical = path.canonical();
        INFO("RCPT TO:" << argument << " -> " << canonical);

        const Verdict verdict = relay_gateway.relay.decide(relay_forms_test::stranger(), path);
        if (verdict.accepted) {
            ++accepted;
            CHECK(relay_forms_test::plainly_local(canonical));
            CHECK(path.source_route.empty());
        } else {
            ++denied;
            CHECK(verdict.reply.line() == relay_forms_test::denial(canonical));
        }
        CHECK(relay_gateway.relay.decide(relay_forms_test::allowlisted(), path).accepted);

        // What the upstream receives parses back to the same address.
        const ParseResult<RcptCommand> again = parse_rcpt_to(canonical, smtputf8);
        REQUIRE(again);
        CHECK(again.value->path.canonical() == canonical);
        CHECK(again.value->path.mailbox.local_part == path.mailbox.local_part);
        CHECK(again.value->path.mailbox.domain == path.mailbox.domain);
        // A routed "postmaster" is not the special recipient here, but becomes it once the route is
        // dropped; that is safe because the routed form is never local.
        CHECK(again.value->path.postmaster == (path.postmaster || canonical == "<postmaster>"));
    }
    // The generator must exercise both sides and a real share of parsable forms.
    CHECK(parsed > 2000);
    CHECK(accepted > 100);
    CHECK(denied > 1000);
}
