// `relayguard probe HOST[:PORT]`: is this server an open relay? Connects as an ordinary client and tries
// the relay battery (probe_battery.hpp) one form after another, each after RSET, then the separate
// checks: AUTH offered before TLS, STARTTLS command injection, and (only when asked, to a recipient the
// operator names) which SMTP smuggling endings the server takes as the end of a message.
#include "command_line.hpp"
#include "probe_battery.hpp"
#include "probe_connection.hpp"
#include "probe_fleet.hpp"
#include "probe_options.hpp"
#include "probe_report.hpp"

#include <relayguard/policy/base64.hpp>
#include <relayguard/proxy/reply_parser.hpp>
#include <relayguard/proxy/smtp_client_opening.hpp>
#include <relayguard/proxy/tls_context.hpp>

#include <csignal>
#include <thread>

namespace relayguard::firmware {
namespace probe_command_detail {

constexpr int exit_relays = 1;
constexpr int exit_probe_failed = 2;
// How long to listen for answers nobody asked for (an injected command, smuggled commands).
constexpr std::chrono::milliseconds unsolicited_wait{1500};
// A server may close after a number of refusals (Postfix: smtpd_hard_error_limit) and say 421 first;
// the probe reconnects that often at most before it gives up.
constexpr unsigned max_reconnects = 10;
// What envelope_step() sets `error` to when the server is closing the session with 421.
constexpr char closing[] = "421";

// The first word of the greeting's text: "220 mx.example.com ESMTP" gives "mx.example.com".
std::string greeting_name(const proxy::ParsedReply& greeting) {
    const std::string_view text = greeting.line_count ? greeting.lines[0] : std::string_view();
    return std::string(text.substr(0, text.find(' ')));
}

// The probe's words for the reply that ended the opening (the report and test_probe.py read them).
std::string opening_refusal(proxy::SmtpClientOpening::Refusal refusal, const std::string& reply) {
    using Refusal = proxy::SmtpClientOpening::Refusal;
    switch (refusal) {
    case Refusal::greeting:
        return "the server refused the session: " + reply;
    case Refusal::ehlo:
        return "EHLO refused: " + reply;
    case Refusal::starttls_not_offered:
        return "STARTTLS was asked for and the server does not offer it";
    case Refusal::starttls_refused:
        return "STARTTLS refused: " + reply;
    case Refusal::tls_ehlo:
        return "EHLO after STARTTLS refused: " + reply;
    case Refusal::helo: // the probe never falls back to HELO, sends XCLIENT or resumes a connection
    case Refusal::health_check:
    case Refusal::xclient:
    case Refusal::xclient_ehlo:
        break;
    }
    return "the opening was refused: " + reply;
}

class Prober {
public:
    Prober(const ProbeOptions& options, ProbeReport& report) : options_(options), report_(report) {}

    int run();

private:
    bool open_session(std::string& error);
    std::optional<proxy::ParsedReply> command(const std::string& line, std::string& error);
    void pause() const;
    int fail(const std::string& why);
    bool relay_battery(std::string& error);
    // Sends an envelope command and keeps the reply's summary; nothing when the connection failed, or when
    // the server said 421 (then `error` is `closing`).
    std::optional<proxy::ParsedReply> envelope_step(const std::string& line, std::string& summary,
                                                    std::string& error);
    bool relay_attempt(const RelayForm& form, ProbeAttempt& attempt, std::string& error);
    void auth_before_tls_check();
    bool injection_check(std::string& error);
    bool smuggling_check(std::string& error);
    bool smuggling_attempt(const SmugglingForm& form, ProbeAttempt& attempt, std::string& error);

    const ProbeOptions& options_;
    ProbeReport& report_;
    ProbeConnection connection_;
    std::shared_ptr<const proxy::TlsClientContext> tls_context_;
    proxy::UpstreamCapabilities first_capabilities_; // from the first EHLO, before any TLS
    bool first_session_ = true;
    std::string server_name_;
    unsigned reconnects_ = 0;
};

int Prober::fail(const std::string& why) {
    report_.exit_status = exit_probe_failed;
    report_.failure = why;
    return exit_probe_failed;
}

void Prober::pause() const {
    if (options_.pace.count() > 0) {
        std::this_thread::sleep_for(options_.pace);
    }
}

std::optional<proxy::ParsedReply> Prober::command(const std::string& line, std::string& error) {
    pause();
    if (std::optional<std::string> failure = connection_.send(line + "\r\n")) {
        error = *failure + " (sending " + line.substr(0, line.find(' ')) + ")";
        return std::nullopt;
    }
    std::optional<proxy::ParsedReply> reply = connection_.read_reply(error);
    if (!reply) {
        error += " (after " + line.substr(0, line.find(' ')) + ")";
    }
    return reply;
}

bool Prober::open_session(std::string& error) {
    if (std::optional<std::string> failure =
            connection_.open(options_.host, options_.port, options_.source, options_.timeout)) {
        error = *failure;
        return false;
    }
    if (options_.tls == ProbeTls::implicit) {
        if (std::optional<std::string> failure = connection_.start_tls(tls_context_, options_.host)) {
            error = *failure;
            return false;
        }
    }
    std::optional<proxy::ParsedReply> reply = connection_.read_reply(error);
    if (!reply) {
        error += " (waiting for the greeting)";
        return false;
    }
    const std::string greeting = proxy::reply_summary(*reply);
    const std::string greeting_host = greeting_name(*reply);
    proxy::SmtpClientOpening::Options opening_options;
    opening_options.helo_name = options_.helo;
    opening_options.tls = options_.tls == ProbeTls::starttls ? proxy::SmtpClientOpening::Tls::required
                                                             : proxy::SmtpClientOpening::Tls::none;
    proxy::SmtpClientOpening opening(opening_options);
    using Kind = proxy::SmtpClientOpening::Step::Kind;
    proxy::SmtpClientOpening::Step step = opening.received(*reply);
    while (step.kind == Kind::send || step.kind == Kind::start_tls) {
        if (step.kind == Kind::start_tls) {
            if (std::optional<std::string> failure = connection_.start_tls(tls_context_, options_.host)) {
                error = *failure;
                return false;
            }
            step = opening.tls_established();
            continue;
        }
        reply = command(step.line, error);
        if (!reply) {
            return false;
        }
        step = opening.received(*reply);
    }
    using Refusal = proxy::SmtpClientOpening::Refusal;
    const bool ehlo_answered =
        step.kind == Kind::ready || (step.refusal != Refusal::greeting && step.refusal != Refusal::ehlo);
    if (first_session_ && ehlo_answered) {
        first_capabilities_ = opening.first_capabilities();
        report_.greeting = greeting;
        server_name_ = options_.server_name.empty() ? greeting_host : options_.server_name;
        if (server_name_.empty()) {
            server_name_ = options_.host;
        }
    }
    if (step.kind == Kind::failed) {
        error = opening_refusal(step.refusal, proxy::reply_summary(*reply));
        return false;
    }
    if (first_session_) {
        const std::string mode = options_.tls == ProbeTls::implicit ? "implicit " : "STARTTLS ";
        report_.tls = connection_.encrypted() ? mode + connection_.tls_description() : "none";
    }
    if (!options_.login.empty()) {
        const std::string response = policy::base64_encode(std::string(1, '\0') + options_.login +
                                                               std::string(1, '\0') + options_.password,
                                                           policy::Padding::required);
        pause();
        // The credentials go out once per session and are never logged or printed.
        if (std::optional<std::string> failure = connection_.send("AUTH PLAIN " + response + "\r\n")) {
            error = *failure + " (sending AUTH)";
            return false;
        }
        std::optional<proxy::ParsedReply> auth = connection_.read_reply(error);
        if (!auth) {
            return false;
        }
        if (auth->code != 235) {
            error = "authentication as " + options_.login + " failed: " + proxy::reply_summary(*auth);
            return false;
        }
        report_.login = options_.login;
    }
    first_session_ = false;
    return true;
}

std::optional<proxy::ParsedReply> Prober::envelope_step(const std::string& line, std::string& summary,
                                                        std::string& error) {
    std::optional<proxy::ParsedReply> reply = command(line, error);
    if (!reply) {
        return std::nullopt;
    }
    summary = proxy::reply_summary(*reply);
    if (reply->code == 421) {
        error = closing;
        return std::nullopt;
    }
    return reply;
}

bool Prober::relay_attempt(const RelayForm& form, ProbeAttempt& attempt, std::string& error) {
    attempt = ProbeAttempt{"relay", form.name, form.origin, form.mail_from, form.rcpt_to, "",
                           "",      "",        "",          "refused"};
    if (!command("RSET", error)) {
        return false;
    }
    std::optional<proxy::ParsedReply> reply =
        envelope_step("MAIL FROM:" + form.mail_from, attempt.mail_reply, error);
    if (!reply || reply->code_class() != 2) {
        return reply.has_value();
    }
    reply = envelope_step("RCPT TO:" + form.rcpt_to, attempt.rcpt_reply, error);
    if (!reply || reply->code_class() != 2) {
        return reply.has_value();
    }
    if (!options_.data) {
        attempt.verdict = "relayed";
        return true;
    }
    // As Nessus does: some servers accept any recipient and refuse at DATA.
    reply = command("DATA", error);
    if (!reply) {
        return false;
    }
    attempt.data_reply = proxy::reply_summary(*reply);
    if (reply->code_class() != 3) {
        return true;
    }
    attempt.verdict = "relayed";
    if (!options_.send) {
        // Without a final dot the server discards the message: hang up and start a fresh session.
        connection_.close();
        return open_session(error);
    }
    pause();
    const std::string body = "Subject: relayguard probe relay test (" + form.name +
                             ")\r\n\r\nThis message was sent by relayguard probe to test whether this server "
                             "relays mail.\r\n.\r\n";
    if (std::optional<std::string> failure = connection_.send(body)) {
        error = *failure;
        return false;
    }
    reply = connection_.read_reply(error);
    if (!reply) {
        return false;
    }
    attempt.final_reply = proxy::reply_summary(*reply);
    return true;
}

bool Prober::relay_battery(std::string& error) {
    BatteryTargets targets{options_.from_domain, options_.to_domain, server_name_, connection_.peer_address(),
                           options_.local_domain};
    const std::vector<RelayForm> forms = relay_forms(targets);
    unsigned relayed = 0;
    std::string deciding_reply;
    for (const RelayForm& form : forms) {
        ProbeAttempt attempt;
        std::string failure;
        while (!relay_attempt(form, attempt, failure)) {
            // A 421 (or its closing) is the server's own limit, not a broken probe: reconnect and go on.
            if (failure != closing || ++reconnects_ > max_reconnects) {
                error = "relay test " + form.name + ": " +
                        (failure == closing ? "the server keeps closing (421)" : failure);
                return false;
            }
            connection_.close();
            if (!open_session(failure)) {
                error = "reconnecting after 421: " + failure;
                return false;
            }
        }
        if (attempt.verdict == "relayed") {
            ++relayed;
            if (deciding_reply.empty()) {
                deciding_reply = attempt.data_reply.empty() ? attempt.rcpt_reply : attempt.data_reply;
            }
        } else if (deciding_reply.empty() && relayed == 0 && form.name == "nmap-plain") {
            deciding_reply = attempt.rcpt_reply.empty() ? attempt.mail_reply : attempt.rcpt_reply;
        }
        report_.attempts.push_back(std::move(attempt));
    }
    ProbeCheck check;
    check.name = options_.login.empty() ? "relay (unauthenticated)" : "relay (as " + options_.login + ")";
    check.tried = static_cast<unsigned>(forms.size());
    check.verdict = relayed > 0 ? "OPEN RELAY (" + std::to_string(relayed) + " forms)" : "no relay";
    check.reply = deciding_reply;
    check.finding = relayed > 0;
    report_.checks.push_back(check);
    if (relayed > 0) {
        report_.exit_status = exit_relays;
    }
    return true;
}

void Prober::auth_before_tls_check() {
    ProbeCheck check;
    check.name = "AUTH before TLS";
    check.tried = 1;
    if (options_.tls == ProbeTls::implicit) {
        check.verdict = "n/a (implicit TLS)";
    } else if (first_capabilities_.auth) {
        check.verdict = "offered";
        check.reply = "EHLO lists AUTH in clear text";
        check.finding = true;
    } else {
        check.verdict = "not offered";
    }
    report_.checks.push_back(check);
}

bool Prober::injection_check(std::string& error) {
    ProbeCheck check;
    check.name = "STARTTLS injection";
    if (!first_capabilities_.starttls || options_.tls == ProbeTls::implicit) {
        check.verdict = "n/a (no STARTTLS)";
        report_.checks.push_back(check);
        return true;
    }
    check.tried = 1;
    ProbeConnection probe;
    if (std::optional<std::string> failure =
            probe.open(options_.host, options_.port, options_.source, options_.timeout)) {
        error = "STARTTLS injection test: " + *failure;
        return false;
    }
    std::optional<proxy::ParsedReply> reply = probe.read_reply(error);
    if (reply && reply->code == 220 && !probe.send("EHLO " + options_.helo + "\r\n")) {
        reply = probe.read_reply(error);
    }
    if (!reply || reply->code_class() != 2) {
        error =
            "STARTTLS injection test: " + (reply ? "EHLO refused: " + proxy::reply_summary(*reply) : error);
        return false;
    }
    pause();
    // CVE-2011-0411: a command in the same write as STARTTLS must be discarded, not run after the
    // handshake. RSET changes nothing on the server either way.
    if (std::optional<std::string> failure = probe.send("STARTTLS\r\nRSET\r\n")) {
        error = "STARTTLS injection test: " + *failure;
        return false;
    }
    reply = probe.read_reply(error);
    if (!reply) {
        error = "STARTTLS injection test: " + error;
        return false;
    }
    check.reply = proxy::reply_summary(*reply);
    if (reply->code != 220) {
        check.verdict = "n/a (STARTTLS refused)";
    } else if (probe.has_unread_input()) {
        check.verdict = "vulnerable";
        check.reply += "; the injected RSET was answered in clear text";
        check.finding = true;
    } else if (std::optional<std::string> failure = probe.start_tls(tls_context_, options_.host)) {
        error = "STARTTLS injection test: " + *failure;
        return false;
    } else if (!probe.silent_for(unsolicited_wait)) {
        std::string ignored;
        const std::optional<proxy::ParsedReply> injected = probe.read_reply(ignored);
        check.verdict = "vulnerable";
        check.reply = "after TLS started the server answered the injected RSET: " +
                      (injected ? proxy::reply_summary(*injected) : ignored);
        check.finding = true;
    } else {
        check.verdict = "not vulnerable";
        check.reply += "; nothing answered the injected RSET";
    }
    report_.checks.push_back(check);
    return true;
}

bool Prober::smuggling_attempt(const SmugglingForm& form, ProbeAttempt& attempt, std::string& error) {
    const std::string sender = "<relayguard-probe@" + options_.from_domain + ">";
    const std::string recipient = "<" + options_.smuggling_recipient + ">";
    attempt = ProbeAttempt{"smuggling", form.name, "scanner", sender, recipient, "", "", "", "", "kept"};
    for (const std::string& line :
         {std::string("RSET"), "MAIL FROM:" + sender, "RCPT TO:" + recipient, std::string("DATA")}) {
        std::optional<proxy::ParsedReply> reply = command(line, error);
        if (!reply) {
            return false;
        }
        const bool data = line == "DATA";
        (line.rfind("MAIL", 0) == 0   ? attempt.mail_reply
         : line.rfind("RCPT", 0) == 0 ? attempt.rcpt_reply
         : data                       ? attempt.data_reply
                                      : attempt.final_reply) = proxy::reply_summary(*reply);
        if ((data && reply->code != 354) || (!data && reply->code_class() != 2)) {
            error = "smuggling test " + form.name + ": " + line.substr(0, 4) +
                    " refused: " + proxy::reply_summary(*reply);
            return false;
        }
    }
    attempt.final_reply.clear();
    // The first message carries the odd ending, then a second, smuggled transaction, then the real end.
    // A server that takes the odd ending as the end of data answers the smuggled commands too.
    const std::string smuggled =
        "MAIL FROM:" + sender + "\r\nRCPT TO:" + recipient +
        "\r\nDATA\r\nSubject: relayguard probe smuggled message (" + form.name +
        ")\r\n\r\nIf this arrives as a message of its own, the server is vulnerable.\r\n";
    const std::string message = "Subject: relayguard probe smuggling test (" + form.name +
                                ")\r\n\r\nThis message tests an SMTP smuggling end-of-data form." +
                                form.ending + smuggled + "\r\n.\r\n";
    pause();
    if (std::optional<std::string> failure = connection_.send(message)) {
        error = *failure;
        return false;
    }
    std::optional<proxy::ParsedReply> reply = connection_.read_reply(error);
    if (!reply) {
        return false;
    }
    attempt.final_reply = proxy::reply_summary(*reply);
    unsigned extra = 0;
    while (!connection_.silent_for(unsolicited_wait)) {
        std::string ignored;
        const std::optional<proxy::ParsedReply> more = connection_.read_reply(ignored);
        if (!more) {
            break;
        }
        ++extra;
        attempt.final_reply += ", then " + proxy::reply_summary(*more);
    }
    attempt.verdict = extra > 0 ? "accepted" : reply->code_class() == 2 ? "kept" : "rejected";
    return true;
}

bool Prober::smuggling_check(std::string& error) {
    ProbeCheck check;
    check.name = "SMTP smuggling";
    if (options_.smuggling_recipient.empty()) {
        check.verdict = "not tested (--smuggling RCPT)";
        report_.checks.push_back(check);
        return true;
    }
    std::vector<std::string> accepted;
    for (const SmugglingForm& form : smuggling_forms()) {
        ProbeAttempt attempt;
        if (!smuggling_attempt(form, attempt, error)) {
            error = "smuggling test " + form.name + ": " + error;
            return false;
        }
        if (attempt.verdict == "accepted") {
            accepted.push_back(form.name);
            // The session's state is the server's guess now: start clean.
            connection_.close();
            if (!open_session(error)) {
                return false;
            }
        }
        ++check.tried;
        report_.attempts.push_back(std::move(attempt));
    }
    check.verdict =
        accepted.empty() ? "no form accepted" : "vulnerable (" + std::to_string(accepted.size()) + " forms)";
    for (const std::string& name : accepted) {
        check.reply += (check.reply.empty() ? "ends data at: " : ", ") + name;
    }
    check.finding = !accepted.empty();
    report_.checks.push_back(check);
    return true;
}

int Prober::run() {
    report_.target =
        (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) + ":" +
        std::to_string(options_.port);
    report_.source = options_.source;
    if (options_.tls != ProbeTls::none) {
        std::string tls_error;
        // A scanner talks to servers it does not trust anyway: no certificate verification.
        tls_context_ = proxy::TlsClientContext::load_from_memory({}, tls_error);
        if (!tls_context_) {
            return fail("TLS: " + tls_error);
        }
    }
    std::string error;
    if (!open_session(error)) {
        return fail(error);
    }
    auth_before_tls_check();
    if (!relay_battery(error)) {
        return fail(error);
    }
    if (options_.injection_check && !injection_check(error)) {
        return fail(error);
    }
    if (!smuggling_check(error)) {
        return fail(error);
    }
    if (connection_.send("QUIT\r\n")) {
        connection_.close();
    }
    return report_.exit_status;
}

} // namespace probe_command_detail

int run_probe(const ProbeOptions& options, ProbeReport& report) {
    probe_command_detail::Prober prober(options, report);
    return prober.run();
}

int probe_command(const std::vector<std::string>& args, TextOutput& out, TextOutput& err) {
    const std::optional<ProbeOptions> options = parse_probe_options(args, err);
    if (!options) {
        return exit_usage;
    }
    // A server that resets the connection must end the probe with a message, not kill it.
    std::signal(SIGPIPE, SIG_IGN);
    if (!options->targets_file.empty()) {
        return probe_fleet(*options, out, err);
    }
    ProbeReport report;
    const int status = run_probe(*options, report);
    if (options->json) {
        print_json(report, out);
    } else {
        print_table(report, out);
    }
    if (status == probe_command_detail::exit_probe_failed) {
        err << "relayguard probe: " << report.failure << "\n";
    }
    return status;
}

} // namespace relayguard::firmware
