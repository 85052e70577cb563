// The DATA phase: the client's message content through the DataScanner (dot-stuffing, bare newlines,
// the size limit) to the upstream, and what the client hears at its end of data.
#include "smtp_dialogue.hpp"
#include "smtp_dialogue_text.hpp"
#include "smtp_replies.hpp"

namespace relayguard::proxy {
namespace {

constexpr std::string_view final_dot = ".\r\n";

} // namespace

bool SmtpDialogue::process_data() {
    if (in_.empty()) {
        return false;
    }
    Transaction& current = transaction();
    if (!current.body.holds_block() || current.body.empty()) {
        current.body.clear();
    }
    char* out = current.body.writable();
    // Room for the final dot is always left behind what the scanner writes: the body's last piece and
    // the dot then go upstream in one write (one system call; the end of data in the same segment).
    const std::size_t room = current.body.writable_size() - final_dot.size();
    // The scanner takes as much as surely fits: a whole read of plain content becomes one write upstream
    // (dot-stuffing and normalised newlines, which grow the data, make a step stop early instead).
    const DataScanner::Step step = current.scanner.scan(in_.data(), in_.size(), out, room);
    in_.consume(step.consumed);
    const bool problem = current.scanner.problem() != DataScanner::Problem::none;
    if (problem || !current.fault_reply.empty()) {
        // Rejected mid-stream (or the upstream is gone): the upstream loses the connection before any
        // final dot, so it discards what it has; the rest of the client's message is read and dropped.
        if (output_.upstream_open()) {
            output_.abort_upstream();
        }
        current.body.clear();
    } else {
        current.body.commit(step.produced);
    }
    if (step.finished) {
        end_of_data();
        return true;
    }
    if (!current.body.empty()) {
        pending_ = Pending::body;
        output_.upstream_body(current.body.data(), current.body.size());
        return false;
    }
    return step.consumed > 0 || !in_.empty();
}

void SmtpDialogue::end_of_data() {
    phase_ = Phase::command;
    Transaction& current = transaction();
    std::string_view local_reply;
    switch (current.scanner.problem()) {
    case DataScanner::Problem::too_big:
        local_reply = replies::message_too_big;
        break;
    case DataScanner::Problem::bare_lf:
        local_reply = replies::bare_lf;
        break;
    case DataScanner::Problem::bare_cr:
        local_reply = replies::bare_cr;
        break;
    case DataScanner::Problem::none:
        if (!current.fault_reply.empty()) {
            local_reply = current.fault_reply;
        }
        break;
    }
    if (!local_reply.empty()) {
        // The upstream's failure during the data is temporary; a message relayguard refuses is not.
        host_.metrics().message(current.scanner.problem() == DataScanner::Problem::none
                                    ? MessageResult::deferred
                                    : MessageResult::refused);
        const std::string line(dialogue_text::without_line_end(local_reply));
        queue(local_reply);
        log_reject("END-OF-MESSAGE", line,
                   current.recipients.empty() ? std::string_view() : current.recipients.front());
        output_.abort_upstream();
        reset_transaction();
        return;
    }
    pending_ = Pending::final_dot;
    if (!current.body.empty()) {
        current.body.append(final_dot); // the room process_data() left
        output_.upstream_body_then_dot(current.body.data(), current.body.size());
        return;
    }
    output_.upstream_finish_data();
}

} // namespace relayguard::proxy
