// SmtpDialogue off the socket: commands go into its input, upstream outcomes are handed to it, and the
// tests read the exact replies it queues and the exact requests it makes of its connection.
#include "client_addresses.hpp"
#include "log_pipe.hpp"
#include "session_host.hpp"
#include "session_settings.hpp"
#include "smtp_dialogue.hpp"
#include "test_tls_material.hpp"
#include "upstream_pool.hpp"

#include <relayguard/policy/config_loader.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <fcntl.h>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using relayguard::proxy::SmtpDialogue;

namespace smtp_dialogue_test {

namespace proxy = relayguard::proxy;
namespace policy = relayguard::policy;

constexpr const char* alice_hash =
    "$pbkdf2-sha256$i=1000$CPbL2TOjPG0CL7FsLr7Aww$w7XjILfqDHLcnx7+7oha55yMETluOQlCdeFZs0ug/oo";

std::shared_ptr<const policy::Config> config_with(const std::string& extra) {
    const std::string xml = std::string("<relayguard>\n"
                                        "  <listen address=\"127.0.0.1\" port=\"2525\"/>\n"
                                        "  <upstream host=\"127.0.0.1\" port=\"25\"/>\n"
                                        "  <relay>\n"
                                        "    <allow network=\"10.0.0.0/8\"/>\n"
                                        "    <domain name=\"local.test\"/>\n"
                                        "  </relay>\n") +
                            extra + "</relayguard>\n";
    const policy::ConfigLoadResult loaded = policy::load_config_text(xml, "dialogue.xml");
    INFO((loaded.errors.empty() ? std::string() : loaded.errors.front().to_string()));
    REQUIRE(loaded.config);
    return loaded.config;
}

class Host final : public proxy::SessionHost {
public:
    explicit Host(const policy::Config& config)
        : log_(pipe_.write_end(), proxy::EventLog::Level::info), pool_(16 * 1024, 8),
          auth_failures_(config.auth.max_failures, config.auth.lockout), mail_rates_(config.limits),
          password_checker_([](std::function<void()> job) { job(); }) {}

    asio::io_context& io() override { return io_; }
    proxy::BufferPool& pool() override { return pool_; }
    proxy::EventLog& log() override { return log_; }
    proxy::Metrics& metrics() override { return metrics_; }
    bool upstream_offers_smtputf8() const override { return smtputf8; }
    void note_upstream_smtputf8(bool offered) override { smtputf8 = offered; }
    proxy::AuthFailureTracker& auth_failures() override { return auth_failures_; }
    proxy::MailRateLimiter& mail_rates() override { return mail_rates_; }
    proxy::PasswordChecker& password_checker() override { return password_checker_; }
    proxy::UpstreamPool& upstream_pool() override { return *upstream_pool_; } // the dialogue never asks
    bool under_stress() const override { return false; }
    void session_authenticated(proxy::ClientSession&) override {}
    void session_ended(proxy::ClientSession&) override {}
    void wake_at(std::chrono::steady_clock::time_point) override {}

    std::string log_text() const { return pipe_.drain(); }
    bool smtputf8 = false;

private:
    asio::io_context io_;
    log_pipe::Pipe pipe_;
    proxy::EventLog log_;
    proxy::Metrics metrics_;
    proxy::BufferPool pool_;
    proxy::AuthFailureTracker auth_failures_;
    proxy::MailRateLimiter mail_rates_;
    proxy::PasswordChecker password_checker_;
    std::shared_ptr<proxy::UpstreamPool> upstream_pool_ =
        std::make_shared<proxy::UpstreamPool>(io_, pool_, log_, metrics_);
};

// Records every request the dialogue makes of its connection, one line each.
class Recorder final : public SmtpDialogue::Output {
public:
    bool upstream_open() const override { return open; }
    const proxy::UpstreamCapabilities& upstream_capabilities() override { return capabilities; }
    void open_upstream(const proxy::ClientIdentity& client) override {
        requests.push_back("open for " + client.address + " helo=" + client.helo + " login=" + client.login);
    }
    void upstream_command(std::string_view line) override { requests.push_back(std::string(line)); }
    void upstream_body(const char* data, std::size_t size) override {
        requests.push_back("body " + std::string(data, size));
    }
    void upstream_finish_data() override { requests.push_back("."); }
    void upstream_body_then_dot(const char* data, std::size_t size) override {
        requests.push_back("body then dot " + std::string(data, size));
    }
    void quit_upstream() override {
        requests.push_back("quit");
        open = false;
    }
    void abort_upstream() override {
        requests.push_back("abort");
        open = false;
    }
    void check_password(std::optional<policy::PasswordHash> hash, std::string password,
                        std::string user) override {
        requests.push_back("check " + user + (hash ? " (known)" : " (unknown)") + " " + password);
    }
    void authenticated() override { requests.push_back("authenticated"); }
    void mail_deadline_met() override { requests.push_back("mail deadline met"); }

    // What was asked since the last call.
    std::vector<std::string> take() { return std::exchange(requests, {}); }

    bool open = false;
    proxy::UpstreamCapabilities capabilities;
    std::vector<std::string> requests;
};

struct Rig {
    explicit Rig(const std::string& extra_config = "", const char* client = "192.0.2.7",
                 policy::ListenTls listen_tls = policy::ListenTls::none,
                 std::shared_ptr<const proxy::TlsServerContext> tls = nullptr)
        : config(config_with(extra_config)), host(*config),
          settings(config, std::move(tls), nullptr, "mx.test"),
          dialogue(settings, host, output, client_addresses::address(client), listen_tls) {
        output.capabilities.pipelining = true;
        output.capabilities.eight_bit_mime = true;
    }

    // Feeds `input` and returns what the dialogue answered.
    std::string send(std::string_view input) {
        REQUIRE(dialogue.input().append(input));
        dialogue.process();
        return replies();
    }
    std::string replies() {
        std::string text(dialogue.output().readable());
        dialogue.output().clear();
        return text;
    }
    // The upstream's reply to what the dialogue asked; the dialogue then goes on with its input, as
    // its connection would.
    std::string upstream(const std::string& reply) {
        const proxy::ParsedReply parsed = proxy::parse_reply(reply);
        REQUIRE(parsed.status == proxy::ParsedReply::Status::complete);
        dialogue.upstream_replied(parsed);
        dialogue.process();
        return replies();
    }
    std::string upstream_ready() {
        output.open = true;
        dialogue.upstream_ready();
        dialogue.process();
        return replies();
    }
    // EHLO, and a MAIL that the upstream accepts on a fresh link.
    void begin_transaction(const std::string& from = "<a@sender.test>") {
        send("EHLO client.test\r\n");
        send("MAIL FROM:" + from + "\r\n");
        output.take();
        upstream_ready();
        REQUIRE(output.take() == std::vector<std::string>{"MAIL FROM:" + from});
        REQUIRE(upstream("250 2.1.0 Ok\r\n") == "250 2.1.0 Ok\r\n");
    }

    // Then one local recipient and DATA, up to the 354.
    void begin_data() {
        begin_transaction();
        send("RCPT TO:<b@local.test>\r\n");
        REQUIRE(upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
        send("DATA\r\n");
        REQUIRE(upstream("354 go\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
        output.take();
    }

    std::shared_ptr<const policy::Config> config;
    Host host;
    proxy::SessionSettings settings;
    Recorder output;
    SmtpDialogue dialogue;
};

std::shared_ptr<const proxy::TlsServerContext> server_context() {
    std::string error;
    auto context = proxy::TlsServerContext::load_from_memory(test_tls_material::server_certificate_pem,
                                                             test_tls_material::server_key_pem, error);
    INFO(error);
    REQUIRE(context);
    return context;
}

const std::string ehlo_reply = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
                               "250 ENHANCEDSTATUSCODES\r\n";

} // namespace smtp_dialogue_test

using smtp_dialogue_test::Rig;

TEST_CASE("SmtpDialogue greets with the configured host name and answers HELO and EHLO", "[dialogue]") {
    Rig rig;
    CHECK(rig.dialogue.phase() == SmtpDialogue::Phase::greeting);
    rig.dialogue.greet();
    CHECK(rig.replies() == "220 mx.test ESMTP\r\n");
    CHECK(rig.dialogue.phase() == SmtpDialogue::Phase::command);
    CHECK(rig.send("HELO client.test\r\n") == "250 mx.test\r\n");
    CHECK(rig.send("EHLO client.test\r\n") == smtp_dialogue_test::ehlo_reply);
    CHECK(rig.send("HELO\r\n") == "501 5.5.4 Syntax: HELO hostname\r\n");
    CHECK(rig.send("EHLO\r\n") == "501 5.5.4 Syntax: EHLO hostname\r\n");
    CHECK(rig.send("NOOP\r\nVRFY root\r\nHELP\r\n") ==
          "250 2.0.0 Ok\r\n252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"
          "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n");
    CHECK(rig.output.take().empty()); // nothing of this reaches the upstream
    CHECK(rig.send("QUIT\r\n") == "221 2.0.0 Bye\r\n");
    CHECK(rig.dialogue.closing());
}

TEST_CASE("SmtpDialogue offers SMTPUTF8, STARTTLS and AUTH only when they can be used", "[dialogue]") {
    SECTION("SMTPUTF8 once the upstream was seen to offer it") {
        Rig rig;
        rig.host.smtputf8 = true;
        rig.dialogue.greet();
        rig.replies();
        CHECK(rig.send("EHLO c\r\n") ==
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
              "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n");
    }
    SECTION("AUTH in clear text only with require-tls=\"false\", and not after a login") {
        Rig rig(std::string("<auth require-tls=\"false\" mechanisms=\"PLAIN LOGIN\"><user name=\"alice\" "
                            "password-hash=\"") +
                smtp_dialogue_test::alice_hash + "\"/></auth>\n");
        rig.dialogue.greet();
        rig.replies();
        CHECK(rig.send("EHLO c\r\n") ==
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
              "250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n");
        rig.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"); // "\0alice\0secret"
        REQUIRE(rig.output.take() == std::vector<std::string>{"check alice (known) secret"});
        CHECK(rig.dialogue.waiting());
        REQUIRE(
            rig.dialogue.password_checked(relayguard::proxy::PasswordChecker::CheckResult::valid, "alice"));
        CHECK(rig.replies() == "235 2.7.0 Authentication successful\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"authenticated", "mail deadline met"});
        CHECK(rig.send("EHLO c\r\n") == smtp_dialogue_test::ehlo_reply);
        CHECK(rig.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n") ==
              "503 5.5.1 Error: already authenticated\r\n");
    }
    SECTION("no AUTH in clear text with require-tls=\"true\"") {
        Rig rig(std::string("<auth require-tls=\"true\"><user name=\"alice\" password-hash=\"") +
                smtp_dialogue_test::alice_hash + "\"/></auth>\n");
        rig.dialogue.greet();
        rig.replies();
        CHECK(rig.send("EHLO c\r\n") == smtp_dialogue_test::ehlo_reply);
        CHECK(rig.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n") ==
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
        CHECK(rig.output.take().empty());
    }
}

TEST_CASE("SmtpDialogue answers a wrong password 535 and counts it towards the lockout", "[dialogue]") {
    Rig rig(
        std::string("<auth require-tls=\"false\" max-failures=\"2\"><user name=\"alice\" password-hash=\"") +
        smtp_dialogue_test::alice_hash + "\"/></auth>\n");
    rig.dialogue.greet();
    rig.replies();
    rig.send("EHLO c\r\n");
    for (int attempt = 0; attempt < 2; ++attempt) {
        rig.send("AUTH PLAIN AGFsaWNlAHdyb25n\r\n"); // "\0alice\0wrong"
        REQUIRE(rig.output.take() == std::vector<std::string>{"check alice (known) wrong"});
        REQUIRE(rig.dialogue.password_checked(relayguard::proxy::PasswordChecker::CheckResult::invalid, ""));
        CHECK(rig.replies() == "535 5.7.8 Error: authentication failed: authentication failure\r\n");
    }
    // Locked out now: the client is told so and the session ends, without another check.
    CHECK(rig.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n") ==
          "421 4.7.0 mx.test Too many authentication failures\r\n");
    CHECK(rig.dialogue.closing());
    CHECK(rig.output.take().empty());
    const std::string log = rig.host.log_text();
    CHECK(log.find("SASL PLAIN authentication failed") != std::string::npos);
    CHECK(log.find("wrong") == std::string::npos); // never a password in the log
}

TEST_CASE("SmtpDialogue answers pipelined commands in order, waiting for each upstream reply", "[dialogue]") {
    Rig rig;
    rig.dialogue.greet();
    rig.replies();
    // One flight, as a PIPELINING client sends it (RFC 2920).
    CHECK(rig.send("EHLO client.test\r\nMAIL FROM:<a@sender.test> BODY=8BITMIME\r\nRCPT TO:<b@local.test>\r\n"
                   "RCPT TO:<c@local.test>\r\nDATA\r\n") == smtp_dialogue_test::ehlo_reply);
    // The MAIL waits for the upstream connection; nothing after it is answered before.
    CHECK(rig.output.take() == std::vector<std::string>{"open for 192.0.2.7 helo=client.test login="});
    CHECK(rig.dialogue.waiting());
    CHECK(rig.upstream_ready().empty());
    CHECK(rig.output.take() == std::vector<std::string>{"MAIL FROM:<a@sender.test> BODY=8BITMIME"});
    CHECK(rig.upstream("250 2.1.0 Ok\r\n") == "250 2.1.0 Ok\r\n");
    CHECK(rig.output.take() == std::vector<std::string>{"RCPT TO:<b@local.test>"});
    CHECK(rig.upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
    CHECK(rig.output.take() == std::vector<std::string>{"mail deadline met", "RCPT TO:<c@local.test>"});
    CHECK(rig.upstream("550 5.1.1 No such user\r\n") == "550 5.1.1 No such user\r\n");
    CHECK(rig.output.take() == std::vector<std::string>{"DATA"});
    CHECK(rig.upstream("354 go ahead\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK(rig.dialogue.phase() == SmtpDialogue::Phase::data);
    // The body goes upstream dot-stuffed as received, with the final dot behind it in the same write.
    CHECK(rig.send("Subject: x\r\n\r\n..dots\r\n.\r\nQUIT\r\n").empty());
    CHECK(rig.output.take() == std::vector<std::string>{"body then dot Subject: x\r\n\r\n..dots\r\n.\r\n"});
    rig.dialogue.process();
    CHECK(rig.replies().empty()); // only the upstream's answer to the dot may say 250
    CHECK(rig.upstream("250 2.0.0 Ok: queued as 4ABC\r\n") ==
          "250 2.0.0 Ok: queued as 4ABC\r\n221 2.0.0 Bye\r\n");
    CHECK(rig.dialogue.closing());
    const std::string log = rig.host.log_text();
    CHECK(
        log.find("message accepted from unknown[192.0.2.7]: from=<a@sender.test> to=<b@local.test> size=") !=
        std::string::npos);
}

TEST_CASE("SmtpDialogue logs each message with the recipients the upstream took, transaction by transaction",
          "[dialogue]") {
    Rig rig;
    rig.dialogue.greet();
    rig.replies();
    rig.begin_transaction();
    for (const char* rcpt : {"<b@local.test>", "<C.D@Local.Test>", "<e@local.test>", "<f@local.test>"}) {
        rig.send(std::string("RCPT TO:") + rcpt + "\r\n");
    }
    const std::vector<std::string> verdicts = {"250 2.1.5 Ok\r\n", "250 2.1.5 Ok\r\n", "550 5.1.1 No\r\n",
                                               "250 2.1.5 Ok\r\n"};
    std::vector<std::string> sent;
    for (const std::string& verdict : verdicts) {
        for (const std::string& request : rig.output.take()) {
            if (request.rfind("RCPT", 0) == 0) {
                sent.push_back(request);
            }
        }
        CHECK(rig.upstream(verdict) == verdict);
    }
    // Canonical forms, each line built afresh (a reused buffer must not keep the previous one's tail).
    CHECK(sent == std::vector<std::string>{"RCPT TO:<b@local.test>", "RCPT TO:<C.D@local.test>",
                                           "RCPT TO:<e@local.test>", "RCPT TO:<f@local.test>"});
    rig.send("DATA\r\n");
    REQUIRE(rig.upstream("354 go\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    rig.send("x\r\n.\r\n");
    CHECK(rig.upstream("250 2.0.0 Ok: queued as 1\r\n") == "250 2.0.0 Ok: queued as 1\r\n");
    // The next transaction, on the same upstream link, starts with no recipient, and its MAIL line is
    // its own.
    rig.output.take();
    rig.send("MAIL FROM:<z@sender.test>\r\n");
    CHECK(rig.output.take() == std::vector<std::string>{"MAIL FROM:<z@sender.test>"});
    REQUIRE(rig.upstream("250 2.1.0 Ok\r\n") == "250 2.1.0 Ok\r\n");
    CHECK(rig.send("DATA\r\n") == "554 5.5.1 Error: no valid recipients\r\n");
    for (const char* rcpt : {"<g@local.test>", "<h@local.test>"}) {
        rig.send(std::string("RCPT TO:") + rcpt + "\r\n");
        CHECK(rig.output.take().back() == std::string("RCPT TO:") + rcpt);
        CHECK(rig.upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
    }
    rig.send("DATA\r\n");
    REQUIRE(rig.upstream("354 go\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    rig.send("y\r\n.\r\n");
    // The upstream refuses this one: the reject line names the first recipient, as Postfix's does.
    CHECK(rig.upstream("554 5.7.1 Spam\r\n") == "554 5.7.1 Spam\r\n");
    const std::string log = rig.host.log_text();
    CHECK(log.find("from=<a@sender.test> to=<b@local.test>,<C.D@local.test>,<f@local.test> size=3 ") !=
          std::string::npos);
    CHECK(log.find("reject: END-OF-MESSAGE from unknown[192.0.2.7]: 554 5.7.1 Spam; from=<z@sender.test> "
                   "to=<g@local.test> proto=ESMTP") != std::string::npos);
}

TEST_CASE("SmtpDialogue refuses relaying per RCPT before anything reaches the upstream", "[dialogue]") {
    SECTION("an untrusted client to another domain") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.begin_transaction();
        CHECK(rig.send("RCPT TO:<victim@elsewhere.test>\r\n") ==
              "554 5.7.1 <victim@elsewhere.test>: Relay access denied\r\n");
        CHECK(rig.output.take().empty());
        CHECK(rig.host.log_text().find("NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 "
                                       "<victim@elsewhere.test>: Relay access denied; from=<a@sender.test> "
                                       "to=<victim@elsewhere.test> proto=ESMTP helo=<client.test>") !=
              std::string::npos);
        // Without an accepted recipient, DATA is refused here.
        CHECK(rig.send("DATA\r\n") == "554 5.5.1 Error: no valid recipients\r\n");
        CHECK(rig.output.take().empty());
    }
    SECTION("a client on the allowlist relays, and the relay is logged") {
        Rig rig("", "10.1.2.3");
        rig.dialogue.greet();
        rig.replies();
        rig.begin_transaction();
        rig.send("RCPT TO:<friend@elsewhere.test>\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"RCPT TO:<friend@elsewhere.test>"});
        CHECK(rig.upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
        CHECK(rig.host.log_text().find("relay allowed") != std::string::npos);
    }
}

TEST_CASE("SmtpDialogue enforces the order of commands and its limits", "[dialogue]") {
    Rig rig("<limits max-errors=\"4\" max-recipients=\"1\"/>\n");
    rig.dialogue.greet();
    rig.replies();
    CHECK(rig.send("MAIL FROM:<a@sender.test>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
    CHECK(rig.send("RCPT TO:<b@local.test>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
    rig.begin_transaction();
    CHECK(rig.send("MAIL FROM:<a@sender.test>\r\n") == "503 5.5.1 Error: nested MAIL command\r\n");
    rig.send("RCPT TO:<b@local.test>\r\n");
    CHECK(rig.upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
    rig.output.take();
    CHECK(rig.send("RCPT TO:<c@local.test>\r\n") == "452 4.5.3 Too many recipients\r\n");
    CHECK(rig.output.take().empty());
    // The fourth error ends the session (three so far).
    CHECK(rig.send("FROB\r\n") == "500 5.5.2 Error: command not recognized\r\n"
                                  "421 4.7.0 mx.test Error: too many errors\r\n");
    CHECK(rig.dialogue.closing());
    CHECK(rig.dialogue.errors() == 4);
}

TEST_CASE("SmtpDialogue skips an over-long line and answers it once", "[dialogue]") {
    Rig rig;
    rig.dialogue.greet();
    rig.replies();
    const std::string long_line(relayguard::proxy::max_command_line_length + 10, 'x');
    CHECK(rig.send(long_line) == "500 5.5.2 Line too long\r\n");
    CHECK(rig.dialogue.line_begun());
    CHECK(rig.send("still the same line\r\nNOOP\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("SmtpDialogue forgets everything from before STARTTLS", "[dialogue]") {
    SECTION("HELO, the pipelined rest and the AUTH offer start over") {
        Rig rig(std::string("<auth require-tls=\"true\"><user name=\"alice\" password-hash=\"") +
                    smtp_dialogue_test::alice_hash + "\"/></auth>\n",
                "192.0.2.7", relayguard::policy::ListenTls::starttls, smtp_dialogue_test::server_context());
        rig.dialogue.greet();
        rig.replies();
        // Commands pipelined after STARTTLS are dropped unread (RFC 3207 §4.2, CVE-2011-0411).
        CHECK(rig.send("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@sender.test>\r\n") ==
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-STARTTLS\r\n"
              "250 ENHANCEDSTATUSCODES\r\n220 2.0.0 Ready to start TLS\r\n");
        CHECK(rig.dialogue.starttls_requested());
        CHECK(rig.dialogue.input().empty());
        CHECK(rig.output.take().empty());
        rig.dialogue.tls_starting();
        CHECK_FALSE(rig.dialogue.starttls_requested());
        CHECK(rig.send("MAIL FROM:<a@sender.test>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
        CHECK(rig.send("EHLO c\r\n") ==
              "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n"
              "250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n");
        CHECK(rig.send("STARTTLS\r\n") == "554 5.5.1 Error: TLS already active\r\n");
    }
    SECTION("without <tls> STARTTLS is neither offered nor accepted") {
        Rig rig("", "192.0.2.7", relayguard::policy::ListenTls::starttls);
        rig.dialogue.greet();
        rig.replies();
        CHECK(rig.send("EHLO c\r\n") == smtp_dialogue_test::ehlo_reply);
        CHECK(rig.send("STARTTLS\r\n") == "502 5.5.1 Error: command not implemented\r\n");
        CHECK_FALSE(rig.dialogue.starttls_requested());
    }
    SECTION("nothing is read before the greeting") {
        Rig rig;
        CHECK(rig.send("EHLO c\r\n").empty());
        CHECK(rig.dialogue.input().size() == 8);
    }
}

TEST_CASE("SmtpDialogue refuses an 8-bit address the upstream cannot take", "[dialogue]") {
    Rig rig;
    rig.host.smtputf8 = true; // an earlier session saw SMTPUTF8 offered
    rig.dialogue.greet();
    rig.replies();
    rig.send("EHLO c\r\n");
    rig.send("MAIL FROM:<j\xc3\xbcrgen@sender.test> SMTPUTF8\r\n");
    rig.output.take();
    // This upstream does not offer it (a restart, a failover): the address is never sent.
    CHECK(rig.upstream_ready() ==
          "553 5.6.7 Non-ASCII address not accepted: the mail server does not support SMTPUTF8\r\n");
    CHECK(rig.output.take().empty());
    CHECK_FALSE(rig.host.smtputf8); // and the next EHLO will not offer it
    CHECK(rig.send("EHLO c\r\n") == smtp_dialogue_test::ehlo_reply);
}

TEST_CASE("SmtpDialogue turns upstream failures into temporary errors", "[dialogue]") {
    SECTION("no connection for the MAIL") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.send("EHLO c\r\nMAIL FROM:<a@sender.test>\r\nNOOP\r\n");
        rig.output.take();
        rig.dialogue.upstream_failed(relayguard::proxy::UpstreamFault::unreachable, "connect: refused");
        rig.dialogue.process();
        CHECK(rig.replies() == "451 4.4.1 Upstream server unavailable, try again later\r\n250 2.0.0 Ok\r\n");
        CHECK(rig.host.log_text().find("upstream 127.0.0.1:25 unreachable (connect: refused) for "
                                       "unknown[192.0.2.7]") != std::string::npos);
    }
    SECTION("lost while the client sends its message: read to its end, then 451, no dot upstream") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.begin_data();
        rig.send("part one\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"body part one\r\n"});
        rig.dialogue.upstream_failed(relayguard::proxy::UpstreamFault::connection_lost, "reset");
        rig.dialogue.process();
        CHECK(rig.replies().empty());
        CHECK(rig.send("part two\r\n.\r\n") == "451 4.4.2 Upstream connection lost, try again later\r\n");
        const std::vector<std::string> requests = rig.output.take();
        CHECK(std::find(requests.begin(), requests.end(), ".") == requests.end());
        CHECK(rig.dialogue.phase() == SmtpDialogue::Phase::command);
    }
    SECTION("an upstream reply out of turn is not relayed") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.send("EHLO c\r\nMAIL FROM:<a@sender.test>\r\n");
        rig.upstream_ready();
        rig.output.take();
        CHECK(rig.upstream("354 what?\r\n") ==
              "451 4.4.0 Upstream server sent an invalid reply, try again later\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"abort"});
    }
}

TEST_CASE("SmtpDialogue repeats at most eight upstream reply lines, in printable ASCII", "[dialogue]") {
    Rig rig;
    rig.dialogue.greet();
    rig.replies();
    rig.begin_transaction();
    rig.send("RCPT TO:<b@local.test>\r\n");
    std::string reply;
    for (int line = 1; line <= 10; ++line) {
        reply +=
            "550" + std::string(line < 10 ? "-" : " ") + "line " + std::to_string(line) + " \xc3\xa9\t\r\n";
    }
    std::string expected;
    for (int line = 1; line <= 8; ++line) {
        expected += "550" + std::string(line < 8 ? "-" : " ") + "line " + std::to_string(line) + " ???\r\n";
    }
    CHECK(rig.upstream(reply) == expected);
}

TEST_CASE("SmtpDialogue on a time-out and at shutdown", "[dialogue]") {
    SECTION("a time-out drops the upstream and says 421") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.begin_transaction();
        rig.output.take();
        rig.dialogue.timed_out(false);
        CHECK(rig.replies() == "421 4.4.2 mx.test Error: timeout exceeded\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"abort"});
        CHECK(rig.dialogue.closing());
        CHECK(rig.host.log_text().find("timeout after command from unknown[192.0.2.7]") != std::string::npos);
    }
    SECTION("draining answers the next command 421, but lets a transaction finish") {
        Rig rig;
        rig.dialogue.greet();
        rig.replies();
        rig.begin_transaction();
        rig.dialogue.drain();
        rig.send("RCPT TO:<b@local.test>\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"RCPT TO:<b@local.test>"});
        CHECK(rig.upstream("250 2.1.5 Ok\r\n") == "250 2.1.5 Ok\r\n");
        rig.send("RSET\r\n");
        CHECK(rig.output.take() == std::vector<std::string>{"mail deadline met", "RSET"});
        CHECK(rig.upstream("250 2.0.0 Ok\r\n") ==
              "250 2.0.0 Ok\r\n421 4.3.2 mx.test Service shutting down\r\n");
        CHECK(rig.dialogue.closing());
    }
}

TEST_CASE("SmtpDialogue sends the final dot in the same write as the body's last piece", "[dialogue]") {
    // Bare newlines made CRLF double the content, the most it can grow: the body buffer is then as
    // full as it gets when the end of data comes, across the lengths around where a step fills it.
    // Every piece but the last goes alone; the last carries the dot; the upstream gets exactly the
    // content and one dot, and relayguard's own 250 never comes before the upstream's.
    for (std::size_t bare = 8100; bare <= 8200; bare += 3) {
        Rig rig("<data bare-newline=\"normalize\"/>\n");
        rig.dialogue.greet();
        rig.replies();
        rig.begin_data();
        std::string expected;
        for (std::size_t index = 0; index <= bare; ++index) {
            expected += "\r\n";
        }
        expected += ".\r\n";
        REQUIRE(rig.dialogue.input().append(std::string(bare, '\n') + "\r\n.\r\n"));
        rig.dialogue.process();
        std::string upstream_got;
        bool dot_sent = false;
        for (int round = 0; round < 8 && !dot_sent; ++round) {
            for (const std::string& request : rig.output.take()) {
                REQUIRE_FALSE(dot_sent);
                if (request.rfind("body then dot ", 0) == 0) {
                    upstream_got += request.substr(14);
                    dot_sent = true;
                } else {
                    REQUIRE(request.rfind("body ", 0) == 0);
                    upstream_got += request.substr(5);
                }
            }
            CHECK(rig.replies().empty());
            if (!dot_sent) {
                rig.dialogue.upstream_wrote();
                rig.dialogue.process();
            }
        }
        INFO(bare << " bare newlines");
        REQUIRE(dot_sent);
        CHECK(upstream_got == expected);
        CHECK(rig.upstream("250 2.0.0 Ok\r\n") == "250 2.0.0 Ok\r\n");
    }
}

TEST_CASE("SmtpDialogue says 250 for a message only when the upstream does", "[dialogue]") {
    Rig rig;
    rig.dialogue.greet();
    rig.replies();
    rig.begin_data();
    CHECK(rig.send("Subject: one\r\n\r\nbody\r\n").empty());
    CHECK(rig.output.take() == std::vector<std::string>{"body Subject: one\r\n\r\nbody\r\n"});
    rig.dialogue.upstream_wrote();
    rig.dialogue.process();
    CHECK(rig.replies().empty());
    // The end of data in a read of its own: the dot goes upstream, and the client hears nothing yet.
    CHECK(rig.send(".\r\n").empty());
    CHECK(rig.output.take() == std::vector<std::string>{"."});
    CHECK(rig.dialogue.waiting());
    // The upstream refuses it after all: so does relayguard.
    CHECK(rig.upstream("452 4.3.1 Insufficient system storage\r\n") ==
          "452 4.3.1 Insufficient system storage\r\n");
    CHECK(rig.host.log_text().find("NOQUEUE: reject: END-OF-MESSAGE from unknown[192.0.2.7]: 452 4.3.1 "
                                   "Insufficient system storage;") != std::string::npos);
    CHECK(rig.dialogue.phase() == SmtpDialogue::Phase::command);
    CHECK_FALSE(rig.dialogue.in_transaction());
}
