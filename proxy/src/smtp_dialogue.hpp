#pragma once
// relayguard's SMTP dialogue with one client, off the socket: commands and AUTH lines come in through
// input(), replies go out through output(), and everything else the dialogue needs done — the upstream
// leg, a password check, the start of TLS — it asks of its Output. It owns the phase, the transaction,
// the HELO and AUTH state, and the policy decision for every MAIL FROM and RCPT TO; the connection that
// runs it (ClientSession) only moves bytes, keeps the clocks and the lifetime. The state is dispatched
// first on the phase, then on the verb, as nginx's mail module does.
//
// The code is spread by concern, as nginx's ngx_mail_smtp_handler.c and Postfix's smtpd_sasl_proto.c
// are: smtp_dialogue.cpp (input framing, dispatch, HELO/EHLO, RSET, QUIT, the session's end),
// smtp_dialogue_envelope.cpp (MAIL, RCPT, DATA), smtp_dialogue_data.cpp (the message content),
// smtp_dialogue_auth.cpp (STARTTLS and AUTH), smtp_dialogue_upstream.cpp (the upstream's replies).
#include "recipient_list.hpp"
#include "session_host.hpp"
#include "session_settings.hpp"
#include "upstream_link.hpp"

#include <relayguard/policy/envelope.hpp>
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/auth_exchange.hpp>
#include <relayguard/proxy/buffer_pool.hpp>
#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/data_scanner.hpp>
#include <relayguard/proxy/mail_rate_limiter.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/password_checker.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::proxy {

class SmtpDialogue {
public:
    // What the dialogue asks of the connection it runs on. No call reports back from inside itself:
    // outcomes arrive later through the dialogue's upstream_*() and password_checked().
    class Output {
    public:
        // The upstream leg (UpstreamLink): whether a connection is open and what it offered.
        virtual bool upstream_open() const = 0;
        virtual const UpstreamCapabilities& upstream_capabilities() = 0;
        // Connects and introduces the client; reports upstream_ready() or upstream_failed().
        virtual void open_upstream(const ClientIdentity& client) = 0;
        // One command line (no line end); reports upstream_replied() or upstream_failed().
        virtual void upstream_command(std::string_view line) = 0;
        // Message content; reports upstream_wrote() or upstream_failed().
        virtual void upstream_body(const char* data, std::size_t size) = 0;
        // The final dot; reports upstream_replied() or upstream_failed().
        virtual void upstream_finish_data() = 0;
        // The last of the content and the final dot in one write (`data` ends with ".\r\n", and stays
        // as it is until the outcome); reports upstream_replied() or upstream_failed().
        virtual void upstream_body_then_dot(const char* data, std::size_t size) = 0;
        virtual void quit_upstream() = 0;  // QUIT, no answer awaited; nothing reported
        virtual void abort_upstream() = 0; // closes now: a message in flight is lost without its dot
        // Checks a password off the event loop; the result comes through password_checked().
        virtual void check_password(std::optional<policy::PasswordHash> hash, std::string password,
                                    std::string user) = 0;
        // The client logged in: it now counts as trusted (SessionHost::session_authenticated).
        virtual void authenticated() = 0;
        // The session did what <limits mail-deadline> waits for (a recipient accepted, or a login).
        virtual void mail_deadline_met() = 0;

    protected:
        ~Output() = default;
    };

    // greeting: nothing said yet; auth: an AUTH exchange awaits the client's next line; data: the
    // message content is coming.
    enum class Phase : std::uint8_t { greeting, command, auth, data };

    // `settings` and `host` outlive the dialogue; the buffers take their blocks from host.pool().
    SmtpDialogue(const SessionSettings& settings, SessionHost& host, Output& output,
                 const policy::IpAddress& client, policy::ListenTls listen_tls);
    ~SmtpDialogue();
    SmtpDialogue(const SmtpDialogue&) = delete;
    SmtpDialogue& operator=(const SmtpDialogue&) = delete;

    // Plaintext from the client, and replies for it. The connection appends to input() and sends (then
    // clears) output(); the dialogue consumes the one and appends to the other.
    ByteBuffer& input() { return in_; }
    ByteBuffer& output() { return out_; }

    // The 220 greeting.
    void greet();
    // `reply` (a whole line), then the end: for clients refused at connect and after the pregreet test.
    void refuse(std::string_view reply);
    // Handles what input() holds, in order, until it runs dry, a reply to something pending is awaited
    // (waiting()), the reply buffer needs flushing, or the session is to end or start TLS.
    void process();
    // Server shutdown: the next command is answered 421 and the session ends; a transaction in progress
    // finishes first.
    void drain();
    // One of the connection's clocks ran out while the dialogue waited for the client: logs it, drops
    // the upstream, and answers 421. `mail_deadline` says which clock: <limits mail-deadline>.
    void timed_out(bool mail_deadline);
    // TLS is starting (after STARTTLS, or at once on an implicit-TLS listener): nothing from before the
    // handshake survives it (RFC 3207 §4.2, CVE-2011-0411).
    void tls_starting();

    // The upstream link's outcomes, for the operation the dialogue asked for last.
    void upstream_ready();
    void upstream_replied(const ParsedReply& reply);
    void upstream_wrote();
    void upstream_failed(UpstreamFault fault, std::string_view detail);
    // A password check's outcome; false when the dialogue moved on meanwhile (a time-out answered).
    bool password_checked(PasswordChecker::CheckResult result, const std::string& user);

    Phase phase() const { return phase_; }
    // Something was asked of the upstream or the password checker, and its outcome is awaited.
    bool waiting() const { return pending_ != Pending::none; }
    // The dialogue waits for the client's next command line (what stress mode may shorten).
    bool waiting_for_command() const { return phase_ == Phase::command && pending_ == Pending::none; }
    // Within a transaction (from an accepted MAIL to its end) or its DATA: the client's next octets are
    // expected at once.
    bool in_transaction() const { return in_transaction_ || phase_ == Phase::data; }
    // Part of a command line has arrived (its deadline runs from its first octet).
    bool line_begun() const { return !in_.empty() || skipping_long_line_; }
    // The session ends once output() is sent.
    bool closing() const { return close_after_flush_; }
    // STARTTLS was accepted: TLS begins once output() (its 220) is sent.
    bool starttls_requested() const { return starttls_pending_; }
    const policy::IpAddress& client() const { return client_; }
    unsigned commands() const { return commands_; }
    unsigned errors() const { return errors_; }
    // Gives the buffers' blocks back to the pool: every one, or (`only_empty`) those holding nothing.
    void release_buffers(bool only_empty);

private:
    struct Transaction {
        Transaction(BareNewlinePolicy bare_newlines, std::uint64_t max_message_size, BufferPool& pool)
            : scanner(bare_newlines, max_message_size), body(pool) {}
        DataScanner scanner;
        ByteBuffer body; // message data decoded by the scanner, on its way upstream
        bool smtputf8 = false;
        std::string mail_from;    // canonical, "<a@b>" or "<>"
        std::string rcpt_pending; // the canonical recipient waiting for the upstream's answer
        RecipientResult rcpt_basis = RecipientResult::accepted_local_domain; // its result if accepted
        std::string rcpt_relay_reason; // why it may be relayed ("relay allowed: …"); empty when local
        RecipientList recipients;      // accepted by the upstream
        std::string upstream_line; // MAIL and RCPT as they go upstream, built in place, its capacity reused
        std::string fault_reply; // set when the upstream failed during DATA: what the client hears at the end
        policy::MailCommand
            mail_parameters; // the accepted MAIL, whose parameters go upstream once it is known
    };
    // What the dialogue is waiting for: the upstream, or (auth_check) the password checker.
    enum class Pending : std::uint8_t { none, open, mail, rcpt, data, body, final_dot, rset, auth_check };

    void queue(std::string_view reply);
    void protocol_error(std::string_view reply);
    bool process_data();
    void handle_command(const Command& command);
    void handle_helo(const Command& command, bool extended);
    void handle_rset();
    void handle_quit();
    void reset_transaction();
    Transaction& transaction();

    // smtp_dialogue_envelope.cpp
    void handle_mail(const Command& command);
    void handle_rcpt(const Command& command);
    void handle_data(const Command& command);
    void send_mail_upstream();
    // Counts a message or a recipient against the client's and the login's rates; when one is over,
    // answers and logs the refusal and returns false.
    bool within_mail_rates(MailRateLimiter::Event event, std::string_view command, std::string_view to);

    // smtp_dialogue_data.cpp
    void end_of_data();

    // smtp_dialogue_auth.cpp
    void handle_starttls(const Command& command);
    AuthExchange& auth_exchange();
    void end_auth_exchange();
    void handle_auth(const Command& command);
    void handle_auth_line(std::string_view line);
    void handle_auth_step(AuthStep step);
    void auth_checked(PasswordChecker::CheckResult result, const std::string& user);
    bool auth_offered() const;

    // smtp_dialogue_upstream.cpp
    ClientIdentity identity() const;
    void relay_upstream_reply(const ParsedReply& reply);
    void reject_upstream_reply(std::string_view why, Pending was);

    const policy::Config& config() const { return *settings_.config; }
    std::string client_address() const { return client_.to_string(); }
    policy::ClientFacts facts() const { return policy::ClientFacts{client_, authenticated_user_}; }
    void log_reject(std::string_view command, std::string_view reply_line, std::string_view to);
    void log_accepted(const ParsedReply& reply);

    const SessionSettings& settings_;
    SessionHost& host_;
    Output& output_;
    policy::IpAddress client_;
    ByteBuffer in_;
    ByteBuffer out_;
    std::unique_ptr<AuthExchange> auth_exchange_; // during AUTH only
    std::string authenticated_user_;
    std::string helo_;
    // The transaction: allocated at MAIL, freed when it ends.
    std::unique_ptr<Transaction> transaction_;

    // The small fields together at the end, where they pack without padding: every idle session holds
    // this object (see ClientSession).
    unsigned commands_ = 0;
    std::uint16_t errors_ = 0; // <limits max-errors> is at most 1000
    policy::ListenTls listen_tls_;
    policy::AuthMechanism auth_mechanism_ = policy::AuthMechanism::plain;
    Phase phase_ = Phase::greeting;
    Pending pending_ = Pending::none;
    bool encrypted_ = false;        // TLS is on (from the start of its handshake)
    bool starttls_pending_ = false; // the 220 for STARTTLS is being written; the handshake follows
    bool close_after_flush_ = false;
    bool draining_ = false;
    bool skipping_long_line_ = false;
    bool esmtp_ = false;
    bool offered_smtputf8_ = false;
    bool upstream_reused_ = false;
    bool in_transaction_ = false;
};

} // namespace relayguard::proxy
