#include "smtp_dialogue.hpp"

#include "smtp_dialogue_text.hpp"
#include "smtp_replies.hpp"

#include <relayguard/proxy/event_log.hpp>

#include <algorithm>

namespace relayguard::proxy {
namespace smtp_dialogue_detail {

// Room kept free in the reply buffer before the next pipelined command is handled: the longest reply
// relayguard writes (a relayed upstream reply of max_relayed_reply_lines lines; EHLO is far shorter)
// fits in it, so a reply is never cut.
constexpr std::size_t reply_headroom = dialogue_text::max_relayed_reply_lines * max_reply_line_length + 64;
// The longest HELO/EHLO argument remembered (RFC 5321 domain or address literal).
constexpr std::size_t max_helo_length = 255;

} // namespace smtp_dialogue_detail

SmtpDialogue::SmtpDialogue(const SessionSettings& settings, SessionHost& host, Output& output,
                           const policy::IpAddress& client, policy::ListenTls listen_tls)
    : settings_(settings), host_(host), output_(output), client_(client), in_(host.pool()), out_(host.pool()),
      listen_tls_(listen_tls) {
}

SmtpDialogue::~SmtpDialogue() {
    end_auth_exchange();
}

// The transaction exists from MAIL on: a session that never sends mail (a scanner, an idle
// connection) never pays for its scanner and body buffer.
SmtpDialogue::Transaction& SmtpDialogue::transaction() {
    if (!transaction_) {
        const BareNewlinePolicy bare_newlines = config().bare_newline == policy::BareNewline::normalize
                                                    ? BareNewlinePolicy::normalize
                                                    : BareNewlinePolicy::reject;
        transaction_ =
            std::make_unique<Transaction>(bare_newlines, config().limits.max_message_size, host_.pool());
    }
    return *transaction_;
}

void SmtpDialogue::reset_transaction() {
    in_transaction_ = false;
    // Freed, not cleared: an idle session keeps no transaction memory (strings keep their capacity).
    transaction_.reset();
}

void SmtpDialogue::release_buffers(bool only_empty) {
    ByteBuffer* const buffers[] = {&in_, &out_, transaction_ ? &transaction_->body : nullptr};
    for (ByteBuffer* buffer : buffers) {
        if (buffer == nullptr) {
            continue;
        }
        if (only_empty) {
            buffer->release_if_empty();
        } else {
            buffer->release();
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Replies

void SmtpDialogue::queue(std::string_view reply) {
    if (!out_.append(reply)) {
        // The headroom check before each command makes this unreachable; never send half a reply.
        close_after_flush_ = true;
    }
}

void SmtpDialogue::protocol_error(std::string_view reply) {
    queue(reply);
    if (++errors_ >= config().limits.max_errors) {
        queue(settings_.texts.too_many_errors);
        close_after_flush_ = true;
        host_.log().info("too many errors from " + client_notation(client_address()));
    }
}

void SmtpDialogue::greet() {
    phase_ = Phase::command;
    queue(settings_.texts.greeting);
}

void SmtpDialogue::refuse(std::string_view reply) {
    phase_ = Phase::command;
    close_after_flush_ = true;
    queue(reply);
}

void SmtpDialogue::drain() {
    draining_ = true;
    if (phase_ == Phase::greeting) {
        phase_ = Phase::command; // the greeting is not sent: the 421 is the first and last word
    }
}

void SmtpDialogue::timed_out(bool mail_deadline) {
    if (mail_deadline) {
        host_.log().info("mail-deadline exceeded: no recipient from " + client_notation(client_address()));
    } else {
        host_.log().info(std::string(phase_ == Phase::data ? "timeout after DATA" : "timeout after command") +
                         " from " + client_notation(client_address()));
    }
    output_.abort_upstream();
    out_.clear();
    queue(settings_.texts.timeout);
    close_after_flush_ = true;
    pending_ = Pending::none;
}

void SmtpDialogue::tls_starting() {
    // RFC 3207 §4.2 (CVE-2011-0411): nothing from before the handshake survives it — not the input
    // that came with STARTTLS, not EHLO, not an AUTH, not an envelope.
    in_.clear();
    helo_.clear();
    esmtp_ = false;
    reset_transaction();
    end_auth_exchange();
    authenticated_user_.clear();
    if (output_.upstream_open()) {
        output_.quit_upstream();
    }
    encrypted_ = true;
    starttls_pending_ = false;
}

// ---------------------------------------------------------------------------------------------------
// Input

void SmtpDialogue::process() {
    namespace detail = smtp_dialogue_detail;
    while (phase_ != Phase::greeting && pending_ == Pending::none && !starttls_pending_) {
        if (phase_ == Phase::data) {
            if (!process_data()) {
                break;
            }
            continue;
        }
        if (skipping_long_line_) {
            bool found_end = false;
            in_.consume(skip_rest_of_line(in_.readable(), found_end));
            if (!found_end) {
                break;
            }
            skipping_long_line_ = false;
            continue;
        }
        if (close_after_flush_) {
            break;
        }
        if (draining_ && !in_transaction_) {
            queue(settings_.texts.shutting_down);
            close_after_flush_ = true;
            break;
        }
        if (out_.size() + detail::reply_headroom > out_.capacity()) {
            break; // flush first; processing resumes when the write is done
        }
        // An AUTH response may be longer than a command (RFC 4954 §4: 12288 octets).
        const LineFrame frame = frame_line(in_.readable(), phase_ == Phase::auth ? max_auth_line_length
                                                                                 : max_command_line_length);
        if (frame.status == LineFrame::Status::incomplete) {
            break;
        }
        if (frame.status == LineFrame::Status::too_long) {
            skipping_long_line_ = true;
            if (phase_ == Phase::auth) {
                end_auth_exchange();
                phase_ = Phase::command;
                protocol_error(std::string(auth_replies::line_too_long) + "\r\n");
            } else {
                protocol_error(replies::line_too_long);
            }
            continue;
        }
        if (phase_ == Phase::auth) {
            handle_auth_line(frame.line);
            in_.consume_and_wipe(frame.consumed);
            continue;
        }
        ++commands_;
        const Command command = parse_command(frame.line);
        handle_command(command);
        // Everything a handler needs from the line was copied or parsed before it returned. An AUTH
        // line may carry credentials (an initial response): it does not stay in memory.
        if (command.verb == Verb::auth) {
            in_.consume_and_wipe(frame.consumed);
        } else {
            in_.consume(frame.consumed);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Commands

void SmtpDialogue::handle_command(const Command& command) {
    switch (command.verb) {
    case Verb::helo:
        handle_helo(command, false);
        return;
    case Verb::ehlo:
        handle_helo(command, true);
        return;
    case Verb::mail:
        handle_mail(command);
        return;
    case Verb::rcpt:
        handle_rcpt(command);
        return;
    case Verb::data:
        handle_data(command);
        return;
    case Verb::rset:
        handle_rset();
        return;
    case Verb::noop:
        queue(replies::ok);
        return;
    case Verb::quit:
        handle_quit();
        return;
    case Verb::vrfy:
        // Answered here: VRFY would let anyone harvest the legacy server's mailboxes.
        queue(replies::vrfy);
        return;
    case Verb::help:
        queue(replies::help);
        return;
    case Verb::auth:
        handle_auth(command);
        return;
    case Verb::starttls:
        handle_starttls(command);
        return;
    case Verb::xclient:
        // Only relayguard may speak XCLIENT to the upstream; a client claiming another identity is refused.
        protocol_error(replies::xclient_refused);
        return;
    case Verb::expn:
    case Verb::etrn:
    case Verb::turn:
    case Verb::bdat:
        protocol_error(replies::not_implemented);
        return;
    case Verb::unknown:
        protocol_error(replies::unknown_command);
        return;
    case Verb::invalid:
        protocol_error(replies::bad_syntax);
        return;
    }
}

void SmtpDialogue::handle_helo(const Command& command, bool extended) {
    if (command.argument.empty()) {
        protocol_error(extended ? replies::ehlo_syntax : replies::helo_syntax);
        return;
    }
    helo_.assign(command.argument.substr(0, smtp_dialogue_detail::max_helo_length));
    esmtp_ = extended;
    if (output_.upstream_open()) {
        // A new EHLO ends the transaction (RFC 5321 §4.1.4), and what XCLIENT told the upstream (the
        // HELO name) is stale: the next MAIL opens a fresh connection.
        output_.quit_upstream();
    }
    reset_transaction();
    const SessionTexts& texts = settings_.texts;
    if (!extended) {
        queue(texts.helo);
        return;
    }
    offered_smtputf8_ = host_.upstream_offers_smtputf8();
    queue(texts.ehlo_head);
    if (offered_smtputf8_) {
        queue(ehlo_smtputf8);
    }
    if (settings_.tls && listen_tls_ == policy::ListenTls::starttls && !encrypted_) {
        queue(ehlo_starttls);
    }
    if (auth_offered()) {
        queue(texts.ehlo_auth);
    }
    queue(ehlo_last);
}

void SmtpDialogue::handle_rset() {
    const bool upstream_busy = in_transaction_ && output_.upstream_open();
    reset_transaction();
    if (upstream_busy) {
        pending_ = Pending::rset;
        output_.upstream_command("RSET");
        return;
    }
    queue(replies::ok);
}

void SmtpDialogue::handle_quit() {
    queue(replies::bye);
    close_after_flush_ = true;
}

// ---------------------------------------------------------------------------------------------------
// Logging

void SmtpDialogue::log_reject(std::string_view command, std::string_view reply_line, std::string_view to) {
    if (!host_.log().enabled(EventLog::Level::info)) {
        return; // built only to be written: at level warning a refusal costs no allocation
    }
    const std::string_view from =
        transaction_ ? std::string_view(transaction_->mail_from) : std::string_view();
    host_.log().info(reject_line(command, client_address(), reply_line, dialogue_text::without_brackets(from),
                                 dialogue_text::without_brackets(to), esmtp_ ? "ESMTP" : "SMTP", helo_));
}

void SmtpDialogue::log_accepted(const ParsedReply& reply) {
    if (!host_.log().enabled(EventLog::Level::info)) {
        return;
    }
    std::string line = "message accepted from " + client_notation(client_address()) +
                       ": from=" + transaction().mail_from + " to=";
    line += transaction().recipients.joined();
    line += " size=" + std::to_string(transaction().scanner.received()) + " upstream=\"" +
            std::to_string(reply.code) + " ";
    dialogue_text::append_clean(line, reply.line_count ? reply.lines[reply.line_count - 1] : "");
    line += "\"";
    host_.log().info(line);
}

} // namespace relayguard::proxy
