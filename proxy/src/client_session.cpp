#include "client_session.hpp"

#include "smtp_replies.hpp"

#include <relayguard/policy/envelope.hpp>
#include <relayguard/policy/relay_policy.hpp>
#include <relayguard/policy/sender_policy.hpp>

#include <asio/write.hpp>

#include <algorithm>

namespace relayguard::proxy {
namespace client_session_detail {

// At most this many lines of an upstream reply are repeated to the client (the rest of a longer
// multi-line reply is dropped, the last kept line becoming the final one).
constexpr std::size_t max_relayed_reply_lines = 8;
// Room kept free in the reply buffer before the next pipelined command is handled: the longest reply
// relayguard writes (a relayed upstream reply of max_relayed_reply_lines lines; EHLO is far shorter)
// fits in it, so a reply is never cut.
constexpr std::size_t reply_headroom = max_relayed_reply_lines * max_reply_line_length + 64;
// A refused client gets this long to take its one reply line.
constexpr std::chrono::seconds refuse_timeout{10};
// The longest HELO/EHLO argument remembered (RFC 5321 domain or address literal).
constexpr std::size_t max_helo_length = 255;
// A TLS handshake that has not finished by then is abandoned (a slow-loris client holds a session's
// TLS memory, about 34 KiB, for as long as it is allowed to).
constexpr std::chrono::seconds tls_handshake_timeout{30};

std::string_view mechanism_name(policy::AuthMechanism mechanism) {
    return mechanism == policy::AuthMechanism::plain ? "PLAIN" : "LOGIN";
}

// Upstream reply text is repeated to the client only as printable ASCII: anything else becomes '?'.
void append_clean(std::string& out, std::string_view text) {
    for (const char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        out += (octet >= 0x20 && octet < 0x7f) ? c : '?';
    }
}

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

std::string_view without_line_end(std::string_view reply) {
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) {
        reply.remove_suffix(1);
    }
    return reply;
}

// "a@b" for the canonical path "<a@b>": Postfix's log lines add the brackets themselves.
std::string_view without_brackets(std::string_view path) {
    if (path.size() >= 2 && path.front() == '<' && path.back() == '>') {
        return path.substr(1, path.size() - 2);
    }
    return path;
}

// "KEY" or "KEY=value" for an ESMTP parameter that is passed on.
void append_parameter(std::string& line, const policy::EsmtpParameter& parameter) {
    line += ' ';
    line += parameter.keyword;
    if (parameter.has_value) {
        line += '=';
        line += parameter.value;
    }
}

// The MAIL parameters the upstream understands, rebuilt from the parsed values; the rest are dropped.
void append_mail_parameters(std::string& line, const policy::MailCommand& mail,
                            const UpstreamCapabilities& upstream) {
    for (const policy::EsmtpParameter& parameter : mail.parameters) {
        const std::string& key = parameter.keyword;
        const bool pass =
            (key == "SIZE" && upstream.size_given) || (key == "BODY" && upstream.eight_bit_mime) ||
            (key == "SMTPUTF8" && upstream.smtputf8) || ((key == "RET" || key == "ENVID") && upstream.dsn);
        if (pass) {
            append_parameter(line, parameter);
        }
    }
}

// An address with an octet above 127 (UTF-8) can only be sent to a server that offers SMTPUTF8.
bool needs_smtputf8(std::string_view address) {
    for (const char octet : address) {
        if (static_cast<unsigned char>(octet) > 0x7f) {
            return true;
        }
    }
    return false;
}

// The metrics' result for a recipient the relay policy allowed, once the upstream takes it.
RecipientResult accepted_result(policy::RelayBasis basis) {
    switch (basis) {
    case policy::RelayBasis::postmaster:
        return RecipientResult::accepted_postmaster;
    case policy::RelayBasis::network:
        return RecipientResult::accepted_network;
    case policy::RelayBasis::auth:
        return RecipientResult::accepted_auth;
    case policy::RelayBasis::network_and_auth:
        return RecipientResult::accepted_network_and_auth;
    case policy::RelayBasis::local_domain:
    case policy::RelayBasis::denied:
        break;
    }
    return RecipientResult::accepted_local_domain;
}

} // namespace client_session_detail

ClientSession::ClientSession(std::shared_ptr<SessionHost> host, TcpSocket socket,
                             const policy::IpAddress& client, std::shared_ptr<const policy::Config> config,
                             policy::ListenTls listen_tls, Metrics::ListenerSlot listener_slot)
    : host_holder_(std::move(host)), host_(*host_holder_), config_(std::move(config)),
      socket_(std::move(socket)), client_(client), in_(host_.pool()), out_(host_.pool()),
      tls_context_(host_.tls_context()), upstream_tls_(host_.upstream_tls_context()), listen_tls_(listen_tls),
      listener_slot_(listener_slot) {
}

ClientSession::~ClientSession() {
    host_.session_ended(*this);
}

// The upstream link exists from the session's first MAIL on: a session that never sends mail (a
// scanner, an idle connection) never pays for its socket, timer and buffers.
ClientSession::Transaction& ClientSession::transaction() {
    if (!transaction_) {
        const BareNewlinePolicy bare_newlines = config_->bare_newline == policy::BareNewline::normalize
                                                    ? BareNewlinePolicy::normalize
                                                    : BareNewlinePolicy::reject;
        transaction_ =
            std::make_unique<Transaction>(bare_newlines, config_->limits.max_message_size, host_.pool());
    }
    return *transaction_;
}

AuthExchange& ClientSession::auth_exchange() {
    if (!auth_exchange_) {
        auth_exchange_ = std::make_unique<AuthExchange>();
    }
    return *auth_exchange_;
}

void ClientSession::end_auth_exchange() {
    if (auth_exchange_) {
        auth_exchange_->reset(); // wipes what the exchange held before the memory goes back
        auth_exchange_.reset();
    }
}

UpstreamLink& ClientSession::upstream() {
    if (!upstream_) {
        UpstreamLink::Owner& owner = *this;
        upstream_ = std::make_unique<UpstreamLink>(host_.io(), host_.pool(), owner);
    }
    return *upstream_;
}

bool ClientSession::upstream_open() const {
    return upstream_ && upstream_->is_open();
}

void ClientSession::abort_upstream() {
    if (upstream_) {
        upstream_->abort();
    }
}

void ClientSession::quit_upstream() {
    if (upstream_) {
        upstream_->quit();
    }
}

// ---------------------------------------------------------------------------------------------------
// Reading and writing

void ClientSession::start() {
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    host_.log().info("connect from " + client_notation(client_address()));
    const policy::LimitsConfig& limits = config_->limits;
    const bool stressed = pool_ == SessionPool::untrusted && host_.under_stress();
    if (pool_ == SessionPool::untrusted) {
        mail_deadline_ =
            std::chrono::steady_clock::now() +
            (stressed ? std::min(limits.mail_deadline, limits.stress_mail_deadline) : limits.mail_deadline);
    }
    if (listen_tls_ == policy::ListenTls::implicit && tls_context_) {
        begin_tls(); // the greeting follows the handshake
        return;
    }
    const std::chrono::milliseconds greet_delay =
        stressed ? std::max(limits.greet_delay, limits.stress_greet_delay) : limits.greet_delay;
    if (greet_delay.count() > 0) {
        wait_for_pregreet(greet_delay);
    } else {
        greet();
    }
}

std::chrono::milliseconds ClientSession::command_timeout() const {
    const policy::LimitsConfig& limits = config_->limits;
    if (pool_ == SessionPool::untrusted && host_.under_stress()) {
        return std::min(limits.command_timeout, limits.stress_command_timeout);
    }
    return limits.command_timeout;
}

void ClientSession::stress_began() {
    if (pool_ != SessionPool::untrusted || phase_ == Phase::closed) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (mail_deadline_ != std::chrono::steady_clock::time_point::max()) {
        mail_deadline_ = std::min(mail_deadline_, now + config_->limits.stress_mail_deadline);
    }
    // Only a wait for the client's next command is shortened now; the greeting, a handshake, an AUTH
    // challenge or DATA keep their own clocks, and meet the mail deadline at their next command wait.
    if (phase_ != Phase::command || pending_ != Pending::none ||
        deadline_ == std::chrono::steady_clock::time_point::max()) {
        return;
    }
    deadline_ = std::min({deadline_, now + command_timeout(), mail_deadline_});
    host_.wake_at(deadline_);
}

void ClientSession::refuse(std::string_view reply) {
    phase_ = Phase::command;
    close_after_flush_ = true;
    arm_timer(client_session_detail::refuse_timeout);
    queue(reply);
    flush();
}

void ClientSession::wait_for_pregreet(std::chrono::milliseconds delay) {
    // A client that talks before the greeting is a bot that does not wait for replies (postscreen's
    // pregreet test): whichever comes first, its bytes or the end of the delay, decides.
    arm_timer(delay);
    reading_ = true;
    socket_.async_wait(TcpSocket::wait_read, [self = shared_from_this()](const asio::error_code& error) {
        // Cancelled, or the delay won the race: greet() has taken over.
        if (error == asio::error::operation_aborted || self->phase_ != Phase::greeting) {
            return;
        }
        self->reading_ = false;
        if (error) {
            self->client_gone(error.message());
            return;
        }
        self->host_.metrics().connection_refused(ConnectionRefusal::greet_delay);
        self->host_.log().info(connect_reject_line(
            self->client_address(), client_session_detail::without_line_end(replies::pregreet)));
        self->refuse(replies::pregreet);
    });
}

void ClientSession::greet() {
    phase_ = Phase::command;
    std::string greeting = "220 ";
    greeting += host_.hostname();
    greeting += " ESMTP\r\n";
    queue(greeting);
    flush();
}

void ClientSession::read_more() {
    if (reading_ || phase_ == Phase::closed) {
        return;
    }
    if (tls_input_ended_) {
        client_gone("TLS closed by the client");
        return;
    }
    if (tls_ && phase_ != Phase::handshake && !tls_wants_read_) {
        // Plaintext may wait inside the TLS session, or ciphertext in raw_in: no socket event would
        // announce it, so it is taken now (posted, not recursed into).
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
            if (self->phase_ != Phase::closed && !self->reading_ && !self->writing_) {
                self->decrypt_input();
                self->process_input();
            }
        });
        return;
    }
    // Between transactions the session waits for readability with no buffer borrowed, which keeps idle
    // sessions small. Inside a transaction it reads straight into its input buffer: the next command
    // or the body follows at once, and a read (unlike a readiness wait) costs Asio no epoll_ctl.
    const bool busy = in_transaction_ || phase_ == Phase::data;
    if (!busy) {
        release_buffers(true);
    }
    // The handshake's time-out runs from begin_tls(): re-arming it per read would let a client that
    // trickles its handshake hold the session's TLS memory for ever.
    if (phase_ == Phase::data) {
        arm_timer(config_->limits.data_timeout);
    } else if (phase_ != Phase::handshake) {
        arm_command_timer();
    }
    reading_ = true;
    if (busy) {
        ByteBuffer& target = tls_ ? tls_buffers_->raw_in : in_;
        char* room = target.writable();
        if (target.writable_size() == 0) {
            // Cannot happen (see on_readable), and a zero-size read would complete at once, for ever.
            reading_ = false;
            client_gone("input buffer full");
            return;
        }
        socket_.async_read_some(
            asio::buffer(room, target.writable_size()),
            [self = shared_from_this()](const asio::error_code& error, std::size_t count) {
                if (error == asio::error::operation_aborted || self->phase_ == Phase::closed) {
                    return;
                }
                self->reading_ = false;
                self->received(error, count);
            });
        return;
    }
    socket_.async_wait(TcpSocket::wait_read, [self = shared_from_this()](const asio::error_code& error) {
        // A cancelled wait belongs to whoever cancelled it (drain, time-out, close), which
        // resets reading_.
        if (error == asio::error::operation_aborted || self->phase_ == Phase::closed) {
            return;
        }
        self->reading_ = false;
        if (error) {
            self->client_gone(error.message());
            return;
        }
        self->on_readable();
    });
}

void ClientSession::on_readable() {
    ByteBuffer& target = tls_ ? tls_buffers_->raw_in : in_;
    char* room = target.writable();
    const std::size_t room_size = target.writable_size();
    if (room_size == 0) {
        // Cannot happen: a full buffer is always drained (a command line is capped below its size).
        client_gone("input buffer full");
        return;
    }
    asio::error_code error;
    const std::size_t count = socket_.read_some(asio::buffer(room, room_size), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
        read_more();
        return;
    }
    received(error, count);
}

// `count` octets arrived in the input buffer (ciphertext with TLS), or the read failed.
void ClientSession::received(const asio::error_code& error, std::size_t count) {
    if (error) {
        client_gone(error == asio::error::eof ? "disconnected" : error.message());
        return;
    }
    ByteBuffer& target = tls_ ? tls_buffers_->raw_in : in_;
    target.commit(count);
    host_.metrics().received(Peer::client, count);
    if (tls_) {
        tls_wants_read_ = false;
        if (phase_ == Phase::handshake) {
            continue_handshake();
            return;
        }
        decrypt_input();
    }
    process_input();
}

void ClientSession::process_input() {
    namespace detail = client_session_detail;
    while (phase_ != Phase::closed && phase_ != Phase::handshake && pending_ == Pending::none && !writing_ &&
           !starttls_pending_) {
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
            std::string reply = "421 4.3.2 ";
            reply += host_.hostname();
            reply += " Service shutting down\r\n";
            queue(reply);
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
    if (phase_ == Phase::closed || phase_ == Phase::handshake || pending_ != Pending::none || writing_) {
        return;
    }
    // The input ran dry (or the reply buffer filled): answer what was asked, then read on (RFC 2920).
    // With TLS, raw_out may also hold an alert that reading produced (a refused renegotiation).
    if (!out_.empty() || close_after_flush_ || starttls_pending_ ||
        (tls_ && !tls_buffers_->raw_out.empty())) {
        flush();
    } else {
        read_more();
    }
}

bool ClientSession::process_data() {
    if (in_.empty()) {
        return false;
    }
    if (!transaction().body.holds_block() || transaction().body.empty()) {
        transaction().body.clear();
    }
    char* out = transaction().body.writable();
    const std::size_t room = transaction().body.writable_size();
    // The scanner takes as much as surely fits: a whole read of plain content becomes one write upstream
    // (dot-stuffing and normalised newlines, which grow the data, make a step stop early instead).
    const DataScanner::Step step = transaction().scanner.scan(in_.data(), in_.size(), out, room);
    in_.consume(step.consumed);
    const bool problem = transaction().scanner.problem() != DataScanner::Problem::none;
    if (problem || !transaction().fault_reply.empty()) {
        // Rejected mid-stream (or the upstream is gone): the upstream loses the connection before any
        // final dot, so it discards what it has; the rest of the client's message is read and dropped.
        if (upstream_open()) {
            abort_upstream();
        }
        transaction().body.clear();
    } else {
        transaction().body.commit(step.produced);
    }
    if (step.finished) {
        end_of_data();
        return true;
    }
    if (!transaction().body.empty()) {
        pending_ = Pending::body;
        upstream().send_body(transaction().body.data(), transaction().body.size());
        return false;
    }
    return step.consumed > 0 || !in_.empty();
}

void ClientSession::queue(std::string_view reply) {
    if (!out_.append(reply)) {
        // The headroom check before each command makes this unreachable; never send half a reply.
        close_after_flush_ = true;
    }
}

void ClientSession::queue_reply(int code, std::string_view text) {
    std::string line = std::to_string(code);
    line += ' ';
    line += text;
    line += "\r\n";
    queue(line);
}

void ClientSession::flush() {
    if (writing_ || phase_ == Phase::closed) {
        return;
    }
    if (tls_ && phase_ != Phase::handshake) {
        if (!out_.empty()) {
            TlsIo io{{}, 0, &tls_buffers_->raw_out};
            std::size_t consumed = 0;
            const TlsStatus status = tls_->write(io, out_.data(), out_.size(), consumed);
            out_.consume(consumed);
            if (status == TlsStatus::failed || status == TlsStatus::closed) {
                client_gone("TLS: " + tls_->last_error());
                return;
            }
        }
        if (!tls_buffers_->raw_out.empty()) {
            write_buffer(tls_buffers_->raw_out, false);
            return;
        }
        after_write();
        return;
    }
    if (out_.empty()) {
        after_write();
        return;
    }
    write_buffer(out_, false);
}

// One writer for both buffers: out_ (plaintext, no TLS) and raw_out (ciphertext). Only one write is
// outstanding at a time, so `buffer` is not touched until the completion clears it.
void ClientSession::write_buffer(ByteBuffer& buffer, bool then_handshake) {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(buffer.data(), buffer.size()),
                      [self = shared_from_this(), &buffer, then_handshake](const asio::error_code& error,
                                                                           std::size_t count) {
                          self->writing_ = false;
                          self->host_.metrics().sent(Peer::client, count);
                          if (self->phase_ == Phase::closed) {
                              return;
                          }
                          if (error) {
                              self->client_gone(error.message());
                              return;
                          }
                          buffer.clear();
                          if (then_handshake) {
                              self->continue_handshake();
                          } else if (self->tls_ && !self->out_.empty()) {
                              self->flush(); // more plaintext than one round of ciphertext held
                          } else {
                              self->after_write();
                          }
                      });
}

void ClientSession::after_write() {
    if (starttls_pending_) {
        starttls_pending_ = false;
        begin_tls();
        return;
    }
    if (close_after_flush_) {
        close();
        return;
    }
    process_input();
}

// ---------------------------------------------------------------------------------------------------
// TLS

void ClientSession::begin_tls() {
    // RFC 3207 §4.2 (CVE-2011-0411): nothing from before the handshake survives it — not the input
    // that came with STARTTLS, not EHLO, not an AUTH, not an envelope.
    in_.clear();
    helo_.clear();
    esmtp_ = false;
    reset_transaction();
    end_auth_exchange();
    authenticated_user_.clear();
    if (upstream_open()) {
        quit_upstream();
    }
    tls_ = std::make_unique<TlsSession>(tls_context_);
    tls_buffers_ = std::make_unique<TlsBuffers>(host_.pool());
    tls_wants_read_ = false;
    phase_ = Phase::handshake;
    arm_timer(client_session_detail::tls_handshake_timeout);
    continue_handshake();
}

void ClientSession::continue_handshake() {
    TlsIo io{tls_buffers_->raw_in.readable(), 0, &tls_buffers_->raw_out};
    const TlsStatus status = tls_->handshake(io);
    tls_buffers_->raw_in.consume(io.input_used);
    if (!tls_buffers_->raw_out.empty()) {
        write_buffer(tls_buffers_->raw_out, true);
        return;
    }
    switch (status) {
    case TlsStatus::ok:
        handshake_done();
        return;
    case TlsStatus::want_read:
        tls_wants_read_ = true;
        read_more();
        return;
    case TlsStatus::want_write:
    case TlsStatus::closed:
    case TlsStatus::failed:
        host_.metrics().tls_handshake_failed(listener_slot_);
        host_.log().info("TLS handshake failed with " + client_notation(client_address()) + ": " +
                         tls_->last_error());
        close();
        return;
    }
}

void ClientSession::handshake_done() {
    const std::string description = tls_->describe();
    host_.metrics().tls_handshake(listener_slot_, tls_protocol_of(description));
    host_.log().info("TLS established with " + client_notation(client_address()) + ": " + description);
    if (listen_tls_ == policy::ListenTls::implicit) {
        greet();
        return;
    }
    phase_ = Phase::command;
    process_input();
}

void ClientSession::decrypt_input() {
    while (phase_ != Phase::closed) {
        char* room = in_.writable();
        const std::size_t room_size = in_.writable_size();
        if (room_size == 0) {
            return; // the commands in in_ go first
        }
        TlsIo io{tls_buffers_->raw_in.readable(), 0, &tls_buffers_->raw_out};
        std::size_t produced = 0;
        const TlsStatus status = tls_->read(io, room, room_size, produced);
        tls_buffers_->raw_in.consume(io.input_used);
        in_.commit(produced);
        if (status == TlsStatus::ok && produced > 0) {
            continue;
        }
        if (status == TlsStatus::ok || status == TlsStatus::want_read || status == TlsStatus::want_write) {
            // want_write: the alert in raw_out goes out first (process_input flushes it), then reading
            // resumes without waiting for the socket.
            // An ok without progress also waits for the socket, so this can never spin.
            tls_wants_read_ =
                status == TlsStatus::want_read ||
                (status == TlsStatus::ok && (tls_buffers_->raw_in.empty() || io.input_used == 0));
            return;
        }
        if (status == TlsStatus::closed) {
            // Like a TCP half-close: the commands that came before the alert are still processed and
            // answered (a final dot and QUIT in the same flight must not lose the message); the session
            // ends when they run out (read_more).
            tls_input_ended_ = true;
            return;
        }
        client_gone("TLS: " + tls_->last_error());
        return;
    }
}

void ClientSession::arm_timer(std::chrono::milliseconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    host_.wake_at(deadline_);
}

// <limits command-timeout> bounds the wait for a whole command line, counted from when the session began
// to wait for it: octets that trickle in do not extend it, or a client sending one every few minutes
// would hold its connection slot for ever (slowloris).
void ClientSession::arm_command_timer() {
    const auto fresh = std::chrono::steady_clock::now() + command_timeout();
    const bool line_begun = !in_.empty() || skipping_long_line_;
    deadline_ = std::min(line_begun ? std::min(deadline_, fresh) : fresh, mail_deadline_);
    host_.wake_at(deadline_);
}

void ClientSession::deadline_passed() {
    deadline_ = std::chrono::steady_clock::time_point::max();
    on_timeout();
}

void ClientSession::on_timeout() {
    if (phase_ == Phase::closed) {
        return;
    }
    if (pending_ != Pending::none) {
        // relayguard, not the client, is the one waiting: the upstream link and the password checker
        // have their own bounds, and their outcome re-arms the client's clock.
        arm_timer(config_->limits.command_timeout);
        return;
    }
    if (phase_ == Phase::handshake) {
        host_.metrics().tls_handshake_failed(listener_slot_);
        host_.log().info("TLS handshake timed out with " + client_notation(client_address()));
        close();
        return;
    }
    if (phase_ == Phase::greeting) {
        // The greet delay passed in silence: the client may have its greeting now.
        asio::error_code ignored;
        socket_.cancel(ignored);
        reading_ = false;
        greet();
        return;
    }
    if (writing_ || close_after_flush_) {
        client_gone("timeout while writing");
        return;
    }
    if (mail_deadline_ <= std::chrono::steady_clock::now()) {
        host_.log().info("mail-deadline exceeded: no recipient from " + client_notation(client_address()));
    } else {
        host_.log().info(std::string(phase_ == Phase::data ? "timeout after DATA" : "timeout after command") +
                         " from " + client_notation(client_address()));
    }
    abort_upstream();
    std::string reply = "421 4.4.2 ";
    reply += host_.hostname();
    reply += " Error: timeout exceeded\r\n";
    out_.clear();
    queue(reply);
    close_after_flush_ = true;
    pending_ = Pending::none;
    asio::error_code ignored;
    socket_.cancel(ignored);
    reading_ = false;
    arm_timer(client_session_detail::refuse_timeout);
    flush();
}

void ClientSession::client_gone(std::string_view why) {
    if (phase_ == Phase::data) {
        host_.log().info("lost connection after DATA from " + client_notation(client_address()) + ": " +
                         std::string(why));
    }
    close();
}

void ClientSession::release_buffers(bool only_empty) {
    ByteBuffer* const buffers[] = {&in_, &out_, transaction_ ? &transaction_->body : nullptr,
                                   tls_buffers_ ? &tls_buffers_->raw_in : nullptr,
                                   tls_buffers_ ? &tls_buffers_->raw_out : nullptr};
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

void ClientSession::close() {
    if (phase_ == Phase::closed) {
        return;
    }
    const bool mid_data = phase_ == Phase::data;
    phase_ = Phase::closed;
    // A client that vanishes mid-DATA must not leave a message behind: no final dot goes upstream.
    if (mid_data) {
        abort_upstream();
    } else {
        quit_upstream();
    }
    deadline_ = std::chrono::steady_clock::time_point::max();
    asio::error_code ignored;
    if (tls_ && tls_->handshake_complete() && !writing_) {
        // TLS ends with close_notify (RFC 5246 §7.2.1, RFC 8446 §6.1), so the client can tell the end
        // from a truncation. Best effort: the socket is non-blocking and is closed right after.
        tls_buffers_->raw_out.clear();
        TlsIo io{{}, 0, &tls_buffers_->raw_out};
        tls_->close_notify(io);
        if (!tls_buffers_->raw_out.empty()) {
            socket_.write_some(asio::buffer(tls_buffers_->raw_out.data(), tls_buffers_->raw_out.size()),
                               ignored);
        }
    }
    socket_.shutdown(TcpSocket::shutdown_both, ignored);
    socket_.close(ignored);
    release_buffers(false);
    host_.log().info("disconnect from " + client_notation(client_address()) +
                     " commands=" + std::to_string(commands_) + " errors=" + std::to_string(errors_));
}

void ClientSession::drain() {
    draining_ = true;
    if (phase_ == Phase::closed) {
        return;
    }
    const bool idle = phase_ == Phase::command && !in_transaction_ && pending_ == Pending::none && !writing_;
    if (idle || phase_ == Phase::greeting) {
        asio::error_code ignored;
        socket_.cancel(ignored); // ends the pending read; its handler sees phase_ unchanged and returns
        reading_ = false;
        phase_ = Phase::command;
        process_input();
    }
}

void ClientSession::close_now() {
    close();
}

// ---------------------------------------------------------------------------------------------------
// Commands

void ClientSession::protocol_error(std::string_view reply) {
    queue(reply);
    if (++errors_ >= config_->limits.max_errors) {
        std::string closing = "421 4.7.0 ";
        closing += host_.hostname();
        closing += " Error: too many errors\r\n";
        queue(closing);
        close_after_flush_ = true;
        host_.log().info("too many errors from " + client_notation(client_address()));
    }
}

void ClientSession::handle_command(const Command& command) {
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

void ClientSession::handle_helo(const Command& command, bool extended) {
    if (command.argument.empty()) {
        protocol_error(extended ? replies::ehlo_syntax : replies::helo_syntax);
        return;
    }
    helo_.assign(command.argument.substr(0, client_session_detail::max_helo_length));
    esmtp_ = extended;
    if (upstream_open()) {
        // A new EHLO ends the transaction (RFC 5321 §4.1.4), and what XCLIENT told the upstream (the
        // HELO name) is stale: the next MAIL opens a fresh connection.
        quit_upstream();
    }
    reset_transaction();
    std::string reply;
    if (!extended) {
        reply = "250 ";
        reply += host_.hostname();
        reply += "\r\n";
        queue(reply);
        return;
    }
    offered_smtputf8_ = host_.upstream_offers_smtputf8();
    reply = "250-";
    reply += host_.hostname();
    reply += "\r\n250-PIPELINING\r\n250-SIZE ";
    reply += std::to_string(config_->limits.max_message_size);
    reply += "\r\n250-8BITMIME\r\n";
    if (offered_smtputf8_) {
        reply += "250-SMTPUTF8\r\n";
    }
    if (tls_context_ && listen_tls_ == policy::ListenTls::starttls && !tls_) {
        reply += "250-STARTTLS\r\n";
    }
    if (auth_offered()) {
        reply += "250-AUTH";
        for (const policy::AuthMechanism mechanism : config_->auth.mechanisms) {
            reply += ' ';
            reply += client_session_detail::mechanism_name(mechanism);
        }
        reply += "\r\n";
    }
    reply += "250 ENHANCEDSTATUSCODES\r\n";
    queue(reply);
}

void ClientSession::handle_mail(const Command& command) {
    if (helo_.empty()) {
        protocol_error(replies::send_helo_first);
        return;
    }
    if (in_transaction_) {
        protocol_error(replies::nested_mail);
        return;
    }
    Metrics& metrics = host_.metrics();
    if (command.missing_keyword) {
        metrics.sender(SenderResult::rejected_syntax);
        protocol_error(replies::mail_syntax);
        return;
    }
    const policy::ParseResult<policy::MailCommand> parsed = policy::parse_mail_from(command.argument);
    if (!parsed) {
        metrics.sender(SenderResult::rejected_syntax);
        protocol_error(parsed.error.line() + "\r\n");
        return;
    }
    const policy::MailCommand& mail = *parsed.value;
    transaction().mail_from = mail.path.canonical();
    if (mail.smtputf8 && !offered_smtputf8_) {
        metrics.sender(SenderResult::rejected_smtputf8);
        transaction().mail_from.clear();
        protocol_error(replies::smtputf8_not_offered);
        return;
    }
    if (mail.size && *mail.size > config_->limits.max_message_size) {
        metrics.sender(SenderResult::rejected_size);
        queue(replies::message_too_big);
        log_reject("MAIL", client_session_detail::without_line_end(replies::message_too_big), {});
        transaction().mail_from.clear();
        return;
    }
    const policy::Verdict verdict = config_->senders.decide(facts(), mail.path, config_->relay);
    if (!verdict.accepted) {
        metrics.sender(SenderResult::rejected_sender_refused);
        queue(verdict.reply.line() + "\r\n");
        log_reject("MAIL", verdict.reply.line(), {});
        transaction().mail_from.clear();
        return;
    }
    if (!within_mail_rates(MailRateLimiter::Event::message, "MAIL", {})) {
        metrics.sender(SenderResult::deferred_rate_limit);
        transaction().mail_from.clear();
        return;
    }
    transaction().smtputf8 = mail.smtputf8;
    transaction().mail_line = "MAIL FROM:" + transaction().mail_from;
    // The parameters are kept parsed so that they can be matched to the upstream's capabilities once
    // it is known (on a fresh connection, only after EHLO).
    transaction().mail_parameters = mail;
    if (upstream_open()) {
        upstream_reused_ = true;
        send_mail_upstream();
        return;
    }
    upstream_reused_ = false;
    pending_ = Pending::open;
    upstream().open(*config_, host_.hostname(), identity(), upstream_tls_);
}

void ClientSession::send_mail_upstream() {
    // The SMTPUTF8 of this session's EHLO repeats what an earlier session saw the upstream offer; the
    // server answering now may not offer it (a restart, a reload, a failover). An address that needs it
    // is then refused, never sent without it, as Postfix's client does ("SMTPUTF8 is required, but was
    // not offered"). An ASCII address goes on, only the SMTPUTF8 parameter is left out.
    if (client_session_detail::needs_smtputf8(transaction().mail_from) &&
        !upstream().capabilities().smtputf8) {
        host_.metrics().sender(SenderResult::rejected_smtputf8);
        queue(replies::upstream_lacks_smtputf8);
        log_reject("MAIL", client_session_detail::without_line_end(replies::upstream_lacks_smtputf8), {});
        transaction().mail_from.clear();
        pending_ = Pending::none;
        return;
    }
    std::string line = transaction().mail_line;
    client_session_detail::append_mail_parameters(line, transaction().mail_parameters,
                                                  upstream().capabilities());
    pending_ = Pending::mail;
    upstream().command(line);
}

void ClientSession::handle_rcpt(const Command& command) {
    if (!in_transaction_) {
        protocol_error(replies::need_mail);
        return;
    }
    Metrics& metrics = host_.metrics();
    if (command.missing_keyword) {
        metrics.recipient(RecipientResult::rejected_syntax);
        protocol_error(replies::rcpt_syntax);
        return;
    }
    const policy::ParseResult<policy::RcptCommand> parsed =
        policy::parse_rcpt_to(command.argument, transaction().smtputf8);
    if (!parsed) {
        metrics.recipient(RecipientResult::rejected_syntax);
        protocol_error(parsed.error.line() + "\r\n");
        return;
    }
    const policy::RcptCommand& rcpt = *parsed.value;
    if (transaction().recipients.size() >= config_->limits.max_recipients) {
        metrics.recipient(RecipientResult::rejected_too_many);
        queue(replies::too_many_recipients);
        return;
    }
    const policy::Verdict verdict = config_->relay.decide(facts(), rcpt.path);
    transaction().rcpt_pending = rcpt.path.canonical();
    transaction().rcpt_basis = client_session_detail::accepted_result(verdict.basis);
    const bool relayed =
        verdict.basis != policy::RelayBasis::local_domain && verdict.basis != policy::RelayBasis::postmaster;
    transaction().rcpt_relay_reason = verdict.accepted && relayed ? verdict.reason : std::string();
    if (!verdict.accepted) {
        metrics.recipient(RecipientResult::rejected_relay_denied);
        queue(verdict.reply.line() + "\r\n");
        log_reject("RCPT", verdict.reply.line(), transaction().rcpt_pending);
        return;
    }
    // The upstream has answered EHLO (it accepted the MAIL): its own offer decides (send_mail_upstream).
    if (client_session_detail::needs_smtputf8(transaction().rcpt_pending) &&
        !upstream().capabilities().smtputf8) {
        metrics.recipient(RecipientResult::rejected_smtputf8);
        queue(replies::upstream_lacks_smtputf8);
        log_reject("RCPT", client_session_detail::without_line_end(replies::upstream_lacks_smtputf8),
                   transaction().rcpt_pending);
        return;
    }
    if (!within_mail_rates(MailRateLimiter::Event::recipient, "RCPT", transaction().rcpt_pending)) {
        metrics.recipient(RecipientResult::deferred_rate_limit);
        return;
    }
    std::string line = "RCPT TO:" + transaction().rcpt_pending;
    if (upstream().capabilities().dsn) {
        for (const policy::EsmtpParameter& parameter : rcpt.parameters) {
            client_session_detail::append_parameter(line, parameter);
        }
    }
    pending_ = Pending::rcpt;
    upstream().command(line);
}

void ClientSession::handle_data(const Command& command) {
    if (!command.argument.empty()) {
        protocol_error(replies::no_argument_expected);
        return;
    }
    if (!in_transaction_) {
        protocol_error(replies::need_mail);
        return;
    }
    if (transaction().recipients.empty()) {
        // The upstream is not asked: without a recipient it has nothing to take.
        protocol_error(replies::no_valid_recipients);
        return;
    }
    pending_ = Pending::data;
    upstream().command("DATA");
}

void ClientSession::handle_rset() {
    const bool upstream_busy = in_transaction_ && upstream_open();
    reset_transaction();
    if (upstream_busy) {
        pending_ = Pending::rset;
        upstream().command("RSET");
        return;
    }
    queue(replies::ok);
}

void ClientSession::handle_quit() {
    queue(replies::bye);
    close_after_flush_ = true;
}

void ClientSession::reset_transaction() {
    in_transaction_ = false;
    // Freed, not cleared: an idle session keeps no transaction memory (strings keep their capacity).
    transaction_.reset();
}

// ---------------------------------------------------------------------------------------------------
// STARTTLS and AUTH

void ClientSession::handle_starttls(const Command& command) {
    if (!tls_context_ || listen_tls_ != policy::ListenTls::starttls) {
        protocol_error(replies::not_implemented);
        return;
    }
    if (tls_) {
        protocol_error(replies::tls_already_active);
        return;
    }
    if (!command.argument.empty()) {
        protocol_error(replies::starttls_syntax);
        return;
    }
    queue(replies::ready_to_start_tls);
    // Whatever the client pipelined after STARTTLS is dropped unread (begin_tls clears it again).
    in_.clear();
    starttls_pending_ = true;
}

bool ClientSession::auth_offered() const {
    return !config_->auth.users.empty() && authenticated_user_.empty() &&
           (tls_ || !config_->auth.require_tls);
}

void ClientSession::handle_auth(const Command& command) {
    const policy::AuthConfig& auth = config_->auth;
    if (auth.users.empty()) {
        protocol_error(replies::auth_not_enabled);
        return;
    }
    if (helo_.empty()) {
        protocol_error(replies::send_helo_first);
        return;
    }
    if (!authenticated_user_.empty()) {
        protocol_error(replies::already_authenticated);
        return;
    }
    if (in_transaction_) {
        protocol_error(replies::auth_in_transaction);
        return;
    }
    if (auth.require_tls && !tls_) {
        // Neither offered nor accepted in clear text: the password would cross the network readable.
        protocol_error(replies::encryption_required);
        return;
    }
    if (host_.auth_failures().locked_out(client_, std::chrono::steady_clock::now())) {
        std::string reply = "421 4.7.0 ";
        reply += host_.hostname();
        reply += " Too many authentication failures\r\n";
        queue(reply);
        close_after_flush_ = true;
        host_.log().info(connect_reject_line(client_address(), "421 4.7.0 Too many authentication failures"));
        return;
    }
    const std::string_view argument = command.argument;
    const std::size_t space = argument.find(' ');
    const std::string_view name = argument.substr(0, space);
    std::string_view initial_response;
    if (space != std::string_view::npos) {
        initial_response = argument.substr(space + 1);
        while (!initial_response.empty() && initial_response.front() == ' ') {
            initial_response.remove_prefix(1);
        }
    }
    std::optional<policy::AuthMechanism> mechanism;
    for (const policy::AuthMechanism offered : auth.mechanisms) {
        if (equals_ignoring_ascii_case(name, client_session_detail::mechanism_name(offered))) {
            mechanism = offered;
        }
    }
    if (!mechanism) {
        protocol_error(std::string(auth_replies::unrecognized_mechanism) + "\r\n");
        return;
    }
    auth_mechanism_ = *mechanism;
    handle_auth_step(auth_exchange().begin(*mechanism, initial_response, space != std::string_view::npos));
}

void ClientSession::handle_auth_line(std::string_view line) {
    handle_auth_step(auth_exchange().respond(line));
}

void ClientSession::handle_auth_step(AuthStep step) {
    switch (step.kind) {
    case AuthStep::Kind::challenge:
        phase_ = Phase::auth;
        queue(step.line + "\r\n");
        return;
    case AuthStep::Kind::reply:
        phase_ = Phase::command;
        if (step.line == auth_replies::invalid_credentials) {
            auth_checked(PasswordChecker::CheckResult::invalid, {});
        } else {
            protocol_error(step.line + "\r\n");
        }
        return;
    case AuthStep::Kind::credentials:
        break;
    }
    phase_ = Phase::command;
    // Before the password is checked, so the answer is the same whatever password comes with the name.
    // It counts as an error, so one connection cannot repeat it (and its log line) without end.
    if (host_.mail_rates().login_disabled(step.username, std::chrono::steady_clock::now())) {
        host_.log().warning(client_notation(client_address()) + ": AUTH refused: login " + step.username +
                            " is disabled for sending too much mail");
        protocol_error(replies::auth_temporary_failure);
        return;
    }
    std::optional<policy::PasswordHash> hash;
    for (const policy::UserConfig& user : config_->auth.users) {
        if (user.name == step.username) {
            hash = user.password_hash;
        }
    }
    pending_ = Pending::auth_check;
    host_.password_checker().check(
        std::move(hash), std::move(step.password),
        [self = shared_from_this(), user = step.username](PasswordChecker::CheckResult result) {
            if (self->phase_ == Phase::closed || self->pending_ != Pending::auth_check) {
                return; // the session moved on (a time-out answered the client meanwhile)
            }
            self->pending_ = Pending::none;
            self->auth_checked(result, user);
            self->process_input();
        });
}

void ClientSession::auth_checked(PasswordChecker::CheckResult result, const std::string& user) {
    const std::string_view mechanism = client_session_detail::mechanism_name(auth_mechanism_);
    switch (result) {
    case PasswordChecker::CheckResult::valid:
        host_.metrics().auth_result(auth_mechanism_, true);
        authenticated_user_ = user;
        host_.auth_failures().record_success(client_);
        host_.session_authenticated(*this);
        mail_deadline_ = std::chrono::steady_clock::time_point::max(); // no longer one of the internet's
        if (upstream_open()) {
            quit_upstream(); // the next MAIL reconnects, so XCLIENT can pass LOGIN=
        }
        queue(replies::auth_successful);
        host_.log().info(client_notation(client_address()) + ": authenticated: sasl_method=" +
                         std::string(mechanism) + ", sasl_username=" + user);
        return;
    case PasswordChecker::CheckResult::busy:
        queue(replies::auth_temporary_failure);
        return;
    case PasswordChecker::CheckResult::invalid:
        break;
    }
    // The log names the mechanism, never the user name or anything else from the exchange.
    host_.log().warning(auth_failure_line(client_address(), mechanism));
    host_.metrics().auth_result(auth_mechanism_, false);
    // Counted when this failure locks the client out, by the tracker's own limit (a reload may have
    // changed it since this session began).
    const auto now = std::chrono::steady_clock::now();
    const bool locked_before = host_.auth_failures().locked_out(client_, now);
    host_.auth_failures().record_failure(client_, now);
    if (!locked_before && host_.auth_failures().locked_out(client_, now)) {
        host_.metrics().auth_lockout(auth_mechanism_);
    }
    protocol_error(replies::auth_failed);
}

// ---------------------------------------------------------------------------------------------------
// The upstream leg

ClientIdentity ClientSession::identity() const {
    return ClientIdentity{client_address(), helo_, esmtp_, authenticated_user_};
}

void ClientSession::upstream_ready() {
    host_.note_upstream_smtputf8(upstream().capabilities().smtputf8);
    send_mail_upstream();
    if (pending_ == Pending::none) {
        process_input(); // the MAIL was answered here: the commands after it go on
    }
}

void ClientSession::relay_upstream_reply(const ParsedReply& reply) {
    std::string rebuilt;
    const std::size_t lines = std::min(reply.line_count, client_session_detail::max_relayed_reply_lines);
    for (std::size_t index = 0; index < lines; ++index) {
        rebuilt += std::to_string(reply.code);
        rebuilt += index + 1 < lines ? '-' : ' ';
        client_session_detail::append_clean(rebuilt, reply.lines[index]);
        rebuilt += "\r\n";
    }
    queue(rebuilt);
}

void ClientSession::upstream_replied(const ParsedReply& reply) {
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
            mail_deadline_ = std::chrono::steady_clock::time_point::max();
            transaction().recipients.push_back(transaction().rcpt_pending);
            if (!transaction().rcpt_relay_reason.empty()) {
                host_.log().info(
                    relay_line(client_address(), transaction().rcpt_relay_reason,
                               client_session_detail::without_brackets(transaction().mail_from),
                               client_session_detail::without_brackets(transaction().rcpt_pending),
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
            client_session_detail::append_clean(line, reply.line_count ? reply.lines[0] : "");
            log_reject("END-OF-MESSAGE", line,
                       transaction().recipients.empty() ? std::string_view()
                                                        : transaction().recipients.front());
        }
        reset_transaction();
        break;
    case Pending::rset:
        if (reply.code_class() != 2) {
            // The upstream may still hold the old transaction: start the next one on a fresh link.
            abort_upstream();
        }
        queue(replies::ok);
        break;
    case Pending::none:
    case Pending::open:
    case Pending::body:
    case Pending::auth_check:
        break;
    }
    process_input();
}

void ClientSession::reject_upstream_reply(std::string_view why, Pending was) {
    // An upstream that answers out of turn is in an unknown state: its link is not reused.
    abort_upstream();
    pending_ = was; // what the failure answers (and counts) is the operation that got this reply
    upstream_failed(UpstreamFault::invalid_reply, why);
}

void ClientSession::upstream_notice(bool warning, std::string_view text) {
    const std::string line = std::string(text) + " (" + config_->upstream.host + ":" +
                             std::to_string(config_->upstream.port) + ", for " +
                             client_notation(client_address()) + ")";
    if (warning) {
        host_.log().warning(line);
    } else {
        host_.log().info(line);
    }
}

void ClientSession::upstream_wrote() {
    pending_ = Pending::none;
    transaction().body.clear();
    if (transaction().final_dot_after_body) {
        transaction().final_dot_after_body = false;
        pending_ = Pending::final_dot;
        upstream().finish_data();
        return;
    }
    process_input();
}

void ClientSession::upstream_failed(UpstreamFault fault, std::string_view detail) {
    const Pending was = pending_;
    pending_ = Pending::none;
    // The client has sent its end of data and waits for the answer to the final dot.
    const bool message_ended = was == Pending::final_dot ||
                               (was == Pending::body && transaction_ && transaction_->final_dot_after_body);
    if (transaction_) {
        transaction_->final_dot_after_body = false;
    }
    host_.metrics().upstream_error(fault);
    host_.log().warning("upstream " + config_->upstream.host + ":" + std::to_string(config_->upstream.port) +
                        " " + describe(fault) + " (" + std::string(detail) + ") for " +
                        client_notation(client_address()));
    if (was == Pending::mail && upstream_reused_ && fault == UpstreamFault::connection_lost) {
        // The connection kept from an earlier transaction went stale while idle: open a fresh one once.
        upstream_reused_ = false;
        pending_ = Pending::open;
        upstream().open(*config_, host_.hostname(), identity(), upstream_tls_);
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
    const std::string_view reply = client_session_detail::reply_for(fault);
    if (phase_ == Phase::data) {
        // The client is still sending: keep reading to its end of data, then answer.
        transaction().fault_reply.assign(reply);
        process_input();
        return;
    }
    queue(reply);
    reset_transaction();
    process_input();
}

void ClientSession::end_of_data() {
    phase_ = Phase::command;
    std::string_view local_reply;
    switch (transaction().scanner.problem()) {
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
        if (!transaction().fault_reply.empty()) {
            local_reply = transaction().fault_reply;
        }
        break;
    }
    if (!local_reply.empty()) {
        // The upstream's failure during the data is temporary; a message relayguard refuses is not.
        host_.metrics().message(transaction().scanner.problem() == DataScanner::Problem::none
                                    ? MessageResult::deferred
                                    : MessageResult::refused);
        const std::string line(client_session_detail::without_line_end(local_reply));
        queue(local_reply);
        log_reject("END-OF-MESSAGE", line,
                   transaction().recipients.empty() ? std::string_view() : transaction().recipients.front());
        abort_upstream();
        reset_transaction();
        return;
    }
    if (!transaction().body.empty()) {
        // The last piece of the body goes first; the final dot follows when it is written.
        pending_ = Pending::body;
        transaction().final_dot_after_body = true;
        upstream().send_body(transaction().body.data(), transaction().body.size());
        return;
    }
    pending_ = Pending::final_dot;
    upstream().finish_data();
}

// ---------------------------------------------------------------------------------------------------
// Logging

void ClientSession::log_reject(std::string_view command, std::string_view reply_line, std::string_view to) {
    host_.log().info(reject_line(command, client_address(), reply_line,
                                 client_session_detail::without_brackets(transaction().mail_from),
                                 client_session_detail::without_brackets(to), esmtp_ ? "ESMTP" : "SMTP",
                                 helo_));
}

bool ClientSession::within_mail_rates(MailRateLimiter::Event event, std::string_view command,
                                      std::string_view to) {
    MailRateLimiter& rates = host_.mail_rates();
    const MailRateLimiter::Decision decision =
        rates.record(event, client_, config_->relay.is_trusted_network(client_), authenticated_user_,
                     std::chrono::steady_clock::now());
    if (!decision.refused()) {
        return true;
    }
    const std::string reply =
        MailRateLimiter::refusal(decision, event, client_address(), authenticated_user_);
    queue(reply + "\r\n");
    log_reject(command, reply, to);
    if (decision.disabled_now) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(rates.login_lockout()).count();
        host_.log().warning("login " + authenticated_user_ + " disabled for " + std::to_string(seconds) +
                            "s: over its mail rate in " + std::to_string(rates.login_lockout_after()) +
                            " windows, the last from " + client_notation(client_address()));
    }
    return false;
}

void ClientSession::log_accepted(const ParsedReply& reply) {
    std::string line = "message accepted from " + client_notation(client_address()) +
                       ": from=" + transaction().mail_from + " to=";
    for (std::size_t index = 0; index < transaction().recipients.size(); ++index) {
        line += index ? "," : "";
        line += transaction().recipients[index];
    }
    line += " size=" + std::to_string(transaction().scanner.received()) + " upstream=\"" +
            std::to_string(reply.code) + " ";
    client_session_detail::append_clean(line, reply.line_count ? reply.lines[reply.line_count - 1] : "");
    line += "\"";
    host_.log().info(line);
}

} // namespace relayguard::proxy
