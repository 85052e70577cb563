// The upstream's side of the dialogue: what each outcome of the upstream link means for the client.
// The upstream's own reply to the final dot is the only source of a 250 for a message.
#include "smtp_dialogue.hpp"
#include "smtp_dialogue_text.hpp"
#include "smtp_replies.hpp"

#include <relayguard/proxy/event_log.hpp>

#include <algorithm>

namespace relayguard::proxy {
namespace smtp_dialogue_upstream_detail {

std::string_view reply_for(UpstreamFault fault) {
    switch (fault) {
    case UpstreamFault::unreachable:
    case UpstreamFault::refused_greeting:
        return replies::upstream_unavailable;
    case UpstreamFault::timed_out:
        return replies::upstream_timeout;
    case UpstreamFault::connection_lost:
        return replies::upstream_lost;
    case UpstreamFault::invalid_reply:
        return replies::upstream_invalid;
    case UpstreamFault::tls_failed:
        return replies::upstream_tls_failed;
    }
    return replies::upstream_unavailable;
}

} // namespace smtp_dialogue_upstream_detail

ClientIdentity SmtpDialogue::identity() const {
    return ClientIdentity{client_address(), helo_, esmtp_, authenticated_user_};
}

void SmtpDialogue::upstream_ready() {
    host_.note_upstream_smtputf8(output_.upstream_capabilities().smtputf8);
    send_mail_upstream();
}

// The reply's lines (at most max_relayed_reply_lines: the last one kept becomes the final line), each
// line's text cleaned, written straight into the reply buffer; process() keeps room for them.
void SmtpDialogue::relay_upstream_reply(const ParsedReply& reply) {
    const std::size_t lines = std::min(reply.line_count, dialogue_text::max_relayed_reply_lines);
    const int code = std::clamp(reply.code, 0, 999);
    char* const room = out_.writable();
    const std::size_t free = out_.writable_size();
    std::size_t used = 0;
    const auto put = [&](char c) {
        if (used < free) {
            room[used] = c;
        }
        ++used;
    };
    for (std::size_t index = 0; index < lines; ++index) {
        put(static_cast<char>('0' + code / 100));
        put(static_cast<char>('0' + code / 10 % 10));
        put(static_cast<char>('0' + code % 10));
        put(index + 1 < lines ? '-' : ' ');
        for (const char c : reply.lines[index]) {
            const auto octet = static_cast<unsigned char>(c);
            put((octet >= 0x20 && octet < 0x7f) ? c : '?');
        }
        put('\r');
        put('\n');
    }
    if (used > free) {
        close_after_flush_ = true; // unreachable (see process()); never send half a reply
        return;
    }
    out_.commit(used);
}

void SmtpDialogue::upstream_replied(const ParsedReply& reply) {
    const Pending was = pending_;
    pending_ = Pending::none;
    switch (was) {
    case Pending::mail:
        if (reply.code_class() != 2 && reply.code_class() != 4 && reply.code_class() != 5) {
            reject_upstream_reply("unexpected reply to MAIL", was);
            return;
        }
        relay_upstream_reply(reply);
        host_.metrics().sender(reply.code_class() == 2   ? SenderResult::accepted
                               : reply.code_class() == 4 ? SenderResult::deferred_upstream
                                                         : SenderResult::rejected_upstream);
        in_transaction_ = reply.code_class() == 2;
        if (!in_transaction_) {
            transaction().mail_from.clear();
        }
        break;
    case Pending::rcpt:
        if (reply.code_class() == 3) {
            reject_upstream_reply("unexpected reply to RCPT", was);
            return;
        }
        relay_upstream_reply(reply);
        host_.metrics().recipient(reply.code_class() == 2   ? transaction().rcpt_basis
                                  : reply.code_class() == 4 ? RecipientResult::deferred_upstream
                                                            : RecipientResult::rejected_upstream);
        if (reply.code_class() == 2) {
            // A recipient the upstream took: the session is doing what it came for (a MAIL alone, then
            // RSET, would lift the deadline without ever sending anything).
            output_.mail_deadline_met();
            Transaction& current = transaction();
            current.recipients.add(current.rcpt_pending);
            if (!current.rcpt_relay_reason.empty() && host_.log().enabled(EventLog::Level::info)) {
                host_.log().info(relay_line(client_address(), current.rcpt_relay_reason,
                                            dialogue_text::without_brackets(current.mail_from),
                                            dialogue_text::without_brackets(current.rcpt_pending),
                                            esmtp_ ? "ESMTP" : "SMTP", helo_));
            }
        }
        break;
    case Pending::data:
        if (reply.code == 354) {
            queue(replies::start_data);
            phase_ = Phase::data;
            transaction().scanner.reset();
            transaction().fault_reply.clear();
        } else if (reply.code_class() == 4 || reply.code_class() == 5) {
            relay_upstream_reply(reply);
        } else {
            reject_upstream_reply("unexpected reply to DATA", was);
            return;
        }
        break;
    case Pending::final_dot:
        if (reply.code_class() != 2 && reply.code_class() != 4 && reply.code_class() != 5) {
            reject_upstream_reply("unexpected reply to the final dot", was);
            return;
        }
        // The client hears the upstream's own answer to relayguard's final dot: only the upstream can
        // say 250 for a message.
        relay_upstream_reply(reply);
        host_.metrics().message(reply.code_class() == 2   ? MessageResult::accepted
                                : reply.code_class() == 4 ? MessageResult::deferred
                                                          : MessageResult::refused);
        if (reply.code_class() == 2) {
            log_accepted(reply);
        } else {
            std::string line = std::to_string(reply.code) + " ";
            dialogue_text::append_clean(line, reply.line_count ? reply.lines[0] : "");
            log_reject("END-OF-MESSAGE", line,
                       transaction().recipients.empty() ? std::string_view()
                                                        : transaction().recipients.front());
        }
        reset_transaction();
        break;
    case Pending::rset:
        if (reply.code_class() != 2) {
            // The upstream may still hold the old transaction: start the next one on a fresh link.
            output_.abort_upstream();
        }
        queue(replies::ok);
        break;
    case Pending::none:
    case Pending::open:
    case Pending::body:
    case Pending::auth_check:
        break;
    }
}

void SmtpDialogue::reject_upstream_reply(std::string_view why, Pending was) {
    // An upstream that answers out of turn is in an unknown state: its link is not reused.
    output_.abort_upstream();
    pending_ = was; // what the failure answers (and counts) is the operation that got this reply
    upstream_failed(UpstreamFault::invalid_reply, why);
}

void SmtpDialogue::upstream_wrote() {
    pending_ = Pending::none;
    transaction().body.clear();
}

void SmtpDialogue::upstream_failed(UpstreamFault fault, std::string_view detail) {
    const Pending was = pending_;
    pending_ = Pending::none;
    // The client has sent its end of data and waits for the answer to the final dot.
    const bool message_ended = was == Pending::final_dot;
    const policy::UpstreamConfig& upstream = config().upstream;
    host_.metrics().upstream_error(fault);
    host_.log().warning("upstream " + upstream.host + ":" + std::to_string(upstream.port) + " " +
                        describe(fault) + " (" + std::string(detail) + ") for " +
                        client_notation(client_address()));
    if (was == Pending::mail && upstream_reused_ && fault == UpstreamFault::connection_lost) {
        // The connection kept from an earlier transaction went stale while idle: open a fresh one once.
        upstream_reused_ = false;
        pending_ = Pending::open;
        output_.open_upstream(identity());
        return;
    }
    Metrics& metrics = host_.metrics();
    if (was == Pending::open || was == Pending::mail) {
        metrics.sender(SenderResult::deferred_upstream);
    } else if (was == Pending::rcpt) {
        metrics.recipient(RecipientResult::deferred_upstream);
    } else if (message_ended) {
        metrics.message(MessageResult::deferred);
    }
    const std::string_view reply = smtp_dialogue_upstream_detail::reply_for(fault);
    if (phase_ == Phase::data) {
        // The client is still sending: keep reading to its end of data, then answer.
        transaction().fault_reply.assign(reply);
        return;
    }
    queue(reply);
    reset_transaction();
}

} // namespace relayguard::proxy
