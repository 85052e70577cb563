#include "upstream_link.hpp"

#include <relayguard/policy/ip_address.hpp>

#include <asio/connect.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

namespace relayguard::proxy {

const char* describe(UpstreamFault fault) {
    switch (fault) {
    case UpstreamFault::unreachable:
        return "unreachable";
    case UpstreamFault::refused_greeting:
        return "refused the session";
    case UpstreamFault::timed_out:
        return "timed out";
    case UpstreamFault::connection_lost:
        return "connection lost";
    case UpstreamFault::invalid_reply:
        return "invalid reply";
    case UpstreamFault::tls_failed:
        return "TLS failed";
    }
    return "fault";
}

UpstreamLink::UpstreamLink(asio::io_context& io, BufferPool& pool, Owner& owner)
    : io_(io), pool_(pool), owner_(&owner), socket_(io), timer_(io), in_(pool), out_(pool) {
}

UpstreamLink::~UpstreamLink() {
    close_socket();
}

void UpstreamLink::open(const policy::Config& config, std::string_view hostname, const ClientIdentity& client,
                        std::shared_ptr<const TlsClientContext> tls) {
    config_ = &config;
    command_timeout_ = config.upstream.command_timeout;
    data_timeout_ = config.upstream.data_timeout;
    connect_timeout_ = config.upstream.connect_timeout;
    hostname_ = hostname;
    client_ = client;
    tls_context_ = std::move(tls);
    clear_text_retry_ = false;
    reusing_ = false;
    start_connection();
}

void UpstreamLink::reuse(const ClientIdentity& client) {
    client_ = client;
    ++generation_; // nothing of the parked connection's past is awaited any more
    asio::error_code error;
    const bool dirty =
        !in_.empty() || (tls_ && tls_->input_pending()) || socket_.available(error) > 0 || error;
    if (!parkable() || dirty) {
        // Most likely a 421 and a close while it was parked: a fresh connection, as if none were pooled.
        reusing_ = false;
        clear_text_retry_ = false;
        close_socket();
        start_connection();
        return;
    }
    SmtpClientOpening::Options options;
    options.helo_name = hostname_;
    options.xclient = config_->upstream.xclient;
    options.client = client_;
    opening_.emplace(std::move(options));
    reusing_ = true;
    ready_ = false;
    const SmtpClientOpening::Step step =
        opening_->resume(capabilities_, xclient_sent_ ? xclient_offer_ : capabilities_);
    send_line(step.line, Phase::opening);
}

void UpstreamLink::start_connection() {
    const policy::UpstreamConfig& upstream = config_->upstream;
    capabilities_ = {};
    transactions_ = 0;
    busy_ = false;
    xclient_sent_ = false;
    xclient_offer_ = {};
    SmtpClientOpening::Options options;
    options.helo_name = hostname_;
    options.tls = clear_text_retry_ || upstream.tls == policy::UpstreamTls::none
                      ? SmtpClientOpening::Tls::none
                  : upstream.tls == policy::UpstreamTls::required ? SmtpClientOpening::Tls::required
                                                                  : SmtpClientOpening::Tls::if_offered;
    options.helo_fallback = true;
    options.xclient = upstream.xclient;
    options.client = client_;
    opening_.emplace(std::move(options));
    ready_ = false;
    timed_out_ = false;
    tls_.reset();
    in_.clear();
    out_.clear();

    const std::string port = std::to_string(upstream.port);
    arm_timer(connect_timeout_);
    if (const std::optional<policy::IpAddress> literal = policy::IpAddress::parse(upstream.host)) {
        // A literal address needs no resolver (and no resolver thread).
        asio::error_code error;
        auto endpoints = asio::ip::tcp::resolver::results_type::create(
            asio::ip::tcp::endpoint(asio::ip::make_address(literal->to_string(), error), upstream.port),
            upstream.host, port);
        connect(endpoints);
        return;
    }
    if (!resolver_) {
        resolver_ = std::make_unique<TcpResolver>(io_);
    }
    const std::uint32_t generation = generation_;
    resolver_->async_resolve(
        upstream.host, port,
        [this, generation, alive = keep_alive()](const asio::error_code& error,
                                                 asio::ip::tcp::resolver::results_type results) {
            if (generation != generation_) {
                return;
            }
            if (error) {
                fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::unreachable,
                     "cannot resolve host: " + error.message());
                return;
            }
            connect(results);
        });
}

void UpstreamLink::connect(const asio::ip::tcp::resolver::results_type& endpoints) {
    const std::uint32_t generation = generation_;
    asio::async_connect(socket_, endpoints,
                        [this, generation, alive = keep_alive()](const asio::error_code& error,
                                                                 const asio::ip::tcp::endpoint&) {
                            if (generation != generation_) {
                                return;
                            }
                            if (error) {
                                fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::unreachable,
                                     timed_out_ ? "connect timed out" : "connect: " + error.message());
                                return;
                            }
                            owner_->metrics().upstream_connected();
                            asio::error_code ignored;
                            socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                            socket_.non_blocking(true, ignored); // write_socket() writes at once
                            phase_ = Phase::opening;
                            read_reply(command_timeout_);
                        });
}

void UpstreamLink::command(std::string_view line) {
    const bool mail = line.size() > 4 && line.compare(0, 5, "MAIL ") == 0;
    if (spoke_out_of_turn(mail ? Look::socket_too : Look::buffers)) {
        return;
    }
    if (mail) {
        ++transactions_;
    }
    send_line(line, Phase::command);
}

// Whether the upstream sent something since its last reply, which nobody asked for: taken as the answer
// to the next command it would shift every later reply (even the one to a final dot). Such a link is
// dropped and the command fails as a lost connection (so a link kept between transactions is replaced).
// What was read already is always looked at; the socket itself (a system call) only where a transaction
// begins and before its final dot. A reply that arrives unasked inside a transaction shifts the replies
// by one, so the real answer to the next command is still waiting when the final dot is due, and it is
// found there, unless an answer of the wrong kind gave the shift away first (a 250 to DATA): either way
// the final dot never takes another command's reply for its own.
bool UpstreamLink::spoke_out_of_turn(Look look) {
    asio::error_code error;
    const bool waiting = !in_.empty() || (tls_ && tls_->input_pending()) ||
                         (look == Look::socket_too && (socket_.available(error) > 0 || error));
    if (waiting) {
        fail_later(UpstreamFault::connection_lost,
                   error ? "connection lost: " + error.message() : "unsolicited data before a command");
    }
    return waiting;
}

void UpstreamLink::send_line(std::string_view line, Phase phase) {
    phase_ = phase;
    out_.clear();
    if (!out_.append(line) || !out_.append("\r\n")) {
        fail_later(UpstreamFault::invalid_reply, "command too long for the buffer");
        return;
    }
    transmit(out_.data(), out_.size(), AfterWrite::read_reply, command_timeout_);
}

void UpstreamLink::send_body(const char* data, std::size_t size) {
    phase_ = Phase::body;
    transmit(data, size, AfterWrite::report_body, data_timeout_);
}

void UpstreamLink::finish_data() {
    if (spoke_out_of_turn(Look::socket_too)) {
        return;
    }
    phase_ = Phase::command;
    out_.clear();
    out_.append(".\r\n");
    transmit(out_.data(), out_.size(), AfterWrite::read_reply, data_timeout_);
}

void UpstreamLink::finish_data(const char* last_of_body, std::size_t size) {
    if (spoke_out_of_turn(Look::socket_too)) {
        return;
    }
    phase_ = Phase::command;
    transmit(last_of_body, size, AfterWrite::read_reply, data_timeout_);
}

void UpstreamLink::transmit(const char* data, std::size_t size, AfterWrite after,
                            std::chrono::milliseconds timeout) {
    write_data_ = data;
    write_left_ = size;
    busy_ = true;
    after_write_ = after;
    read_timeout_ = timeout;
    sent_at_ = std::chrono::steady_clock::now();
    arm_timer(timeout);
    write_next();
}

void UpstreamLink::write_next() {
    if (!tls_) {
        const char* data = write_data_;
        const std::size_t size = write_left_;
        write_left_ = 0;
        write_socket(data, size);
        return;
    }
    // Encrypt as much as the pump's output holds; the rest follows once that is on the wire.
    std::size_t consumed = 0;
    const TlsStatus status = tls_->write(write_data_, write_left_, consumed);
    write_data_ += consumed;
    write_left_ -= consumed;
    if (status == TlsStatus::failed || status == TlsStatus::closed) {
        // Reached from command() and send_body() themselves: the owner hears of it from the loop, never
        // from inside its own call.
        fail_later(UpstreamFault::connection_lost,
                   status == TlsStatus::closed ? "TLS closed by the upstream" : "TLS: " + tls_->last_error());
        return;
    }
    if (tls_->to_send().empty()) {
        write_done();
        return;
    }
    write_socket(tls_->to_send().data(), tls_->to_send().size());
}

// Straight to the socket first, as ClientSession::write_buffer does: a completion through the event loop
// costs a trip around it per command. Only for a command or the final dot (with the body's last piece),
// whose reply is read next: nothing is reported from inside the owner's own call then, because the
// command found nothing read ahead (spoke_out_of_turn), so the read goes to the socket. The opening's
// steps, body pieces (whose completion is reported) and the handshake go through the loop.
void UpstreamLink::write_socket(const char* data, std::size_t size) {
    std::size_t written = 0;
    if (phase_ == Phase::command && after_write_ == AfterWrite::read_reply && !completing_write_inline_) {
        asio::error_code error;
        written = socket_.write_some(asio::buffer(data, size), error);
        if (error) {
            written = 0; // would_block, or a failure the asynchronous write reports in order
        } else if (written == size) {
            completing_write_inline_ = true;
            wrote(error, written);
            completing_write_inline_ = false;
            return;
        }
    }
    const std::uint32_t generation = generation_;
    asio::async_write(
        socket_, asio::buffer(data + written, size - written),
        [this, generation, written, alive = keep_alive()](const asio::error_code& error, std::size_t count) {
            if (generation == generation_) {
                wrote(error, written + count);
            }
        });
}

void UpstreamLink::wrote(const asio::error_code& error, std::size_t count) {
    owner_->metrics().sent(Peer::upstream, count);
    if (error) {
        failed_operation(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::connection_lost,
                         "write: " + error.message());
        return;
    }
    if (tls_) {
        tls_->to_send().clear(); // with TLS every write is of the pump's output
    }
    if (write_left_ > 0) {
        write_next();
        return;
    }
    write_done();
}

void UpstreamLink::write_done() {
    switch (after_write_) {
    case AfterWrite::read_reply:
        out_.clear();
        out_.release();
        read_reply(read_timeout_);
        return;
    case AfterWrite::report_body:
        disarm_timer();
        busy_ = false;
        owner_->upstream_wrote();
        return;
    case AfterWrite::continue_handshake:
        continue_handshake();
        return;
    }
}

void UpstreamLink::read_reply(std::chrono::milliseconds timeout) {
    read_timeout_ = timeout;
    const std::uint32_t generation = generation_;
    for (;;) {
        const ParsedReply reply = parse_reply(in_.readable());
        if (reply.status == ParsedReply::Status::complete) {
            disarm_timer();
            const bool answering_command = phase_ == Phase::command;
            // Taken out of in_ before it is handled, so that in_ holds only what came after it when the
            // owner sends its next command from inside the handler (spoke_out_of_turn() looks there).
            // The reply's text stays where it is until the owner sends its next command: that command's
            // write may complete at once and its read start (Asio tries it at once) into the same block,
            // so an owner reads the reply before it sends anything (SmtpDialogue relays it first).
            in_.consume(reply.consumed);
            busy_ = false;
            handle_reply(reply);
            if (generation == generation_) {
                if (phase_ == Phase::starttls_accepted) {
                    begin_tls(); // only now is it known what followed the 220
                    return;
                }
                if (busy_) {
                    // The owner sent its next command from inside the handler. That command looked at
                    // what was read already (spoke_out_of_turn), and the read for its reply may be
                    // under way into in_ or the TLS pump: neither may be touched here.
                    return;
                }
                // relayguard never pipelines to the upstream: bytes after a reply are unsolicited, and
                // taking them as the next answer could shift every later reply (even to a final dot).
                // With TLS they may still sit in unopened records: those are opened first (records
                // that carry no data, such as a TLS 1.3 session ticket, yield nothing).
                if (answering_command && tls_ && in_.empty() && !take_remaining_tls_input()) {
                    return;
                }
                if (answering_command && !in_.empty()) {
                    abandon("unsolicited data after a reply");
                    return;
                }
                in_.release_if_empty();
            }
            return;
        }
        if (reply.status == ParsedReply::Status::malformed) {
            fail(UpstreamFault::invalid_reply, reply.problem);
            return;
        }
        if (!tls_) {
            break;
        }
        const Decrypted result = decrypt_input();
        if (result == Decrypted::ended) {
            fail(UpstreamFault::connection_lost, tls_end_);
            return;
        }
        if (result == Decrypted::nothing) {
            break;
        }
    }
    if (tls_ && !tls_->to_send().empty()) {
        // Reading made the TLS session answer something (a TLS 1.3 key update): send it, then go on.
        write_left_ = 0;
        after_write_ = AfterWrite::read_reply;
        write_socket(tls_->to_send().data(), tls_->to_send().size());
        return;
    }
    arm_timer(timeout);
    receive();
}

// After a reply: opens every record already received, so that data hidden in them is seen. False when
// the link was abandoned (the TLS session ended).
bool UpstreamLink::take_remaining_tls_input() {
    while (tls_->input_pending()) {
        const std::size_t waiting = tls_->received().size();
        const Decrypted result = decrypt_input();
        if (result == Decrypted::ended) {
            abandon(tls_end_);
            return false;
        }
        if (result == Decrypted::nothing && tls_->received().size() == waiting) {
            break; // a partial record: the rest is not here yet
        }
    }
    return true;
}

// Moves plaintext from the TLS session into in_. Reports nothing itself: the end of the TLS session
// (close_notify, an alert) means different things while a reply is awaited and after it arrived.
UpstreamLink::Decrypted UpstreamLink::decrypt_input() {
    char* room = in_.writable();
    const std::size_t room_size = in_.writable_size();
    if (room_size == 0) {
        return Decrypted::nothing; // cannot happen: the reply parser calls a full buffer malformed first
    }
    TlsPump::ReadProgress progress;
    const TlsStatus status = tls_->read(room, room_size, progress);
    in_.commit(progress.plaintext);
    if (progress.plaintext > 0) {
        return Decrypted::plaintext; // an end that came with it is seen by the next call
    }
    if (status == TlsStatus::closed || status == TlsStatus::failed) {
        tls_end_ = status == TlsStatus::closed ? "TLS closed by the upstream" : "TLS: " + tls_->last_error();
        return Decrypted::ended;
    }
    return Decrypted::nothing;
}

// After a reply was delivered: the connection cannot be used again, but nobody is waiting for it.
// The owner hears nothing now (an outcome nobody asked for would shift its replies); its next
// command on the link fails and is reported then, and the next MAIL opens a new connection.
void UpstreamLink::abandon(std::string_view why) {
    owner_->upstream_notice(true, "upstream connection dropped: " + std::string(why));
    abort();
}

void UpstreamLink::receive() {
    if (timed_out_) {
        // The deadline passed while a completion was already on its way, so it cancelled nothing: it is
        // enforced here, before anything new starts.
        failed_operation(UpstreamFault::timed_out, "no reply in time");
        return;
    }
    ByteBuffer& target = tls_ ? tls_->received() : in_;
    char* room = target.writable();
    const std::uint32_t generation = generation_;
    socket_.async_read_some(
        asio::buffer(room, target.writable_size()),
        [this, generation, &target, alive = keep_alive()](const asio::error_code& error, std::size_t count) {
            if (generation != generation_) {
                return;
            }
            if (error) {
                failed_operation(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::connection_lost,
                                 timed_out_ ? "no reply in time" : "read: " + error.message());
                return;
            }
            target.commit(count);
            owner_->metrics().received(Peer::upstream, count);
            if (phase_ == Phase::tls_handshake) {
                continue_handshake();
            } else {
                read_reply(read_timeout_);
            }
        });
}

void UpstreamLink::handle_reply(const ParsedReply& reply) {
    if (phase_ == Phase::command) {
        owner_->metrics().upstream_reply_time(std::chrono::steady_clock::now() - sent_at_);
        if (reply.code == 421) {
            // The upstream is closing the connection; the client hears a temporary error instead.
            fail(UpstreamFault::connection_lost, "421 from upstream");
            return;
        }
        owner_->upstream_replied(reply);
        return;
    }
    opening_step(opening_->received(reply));
}

// A read or a write failed or timed out: during the handshake, that is a failed handshake.
void UpstreamLink::failed_operation(UpstreamFault fault, const std::string& detail) {
    if (phase_ == Phase::tls_handshake) {
        handshake_failed("TLS handshake failed: " + detail);
        return;
    }
    fail(fault, detail);
}

void UpstreamLink::quit() {
    if (!socket_.is_open()) {
        abort(); // still resolving or connecting: nothing to say, but nothing may follow either
        return;
    }
    // Best effort and non-blocking: the connection closes right after, whatever the upstream says. With
    // TLS, only when no write is in flight (the pump's output would interleave with it).
    if (ready_ && (!tls_ || tls_->to_send().empty())) {
        asio::error_code ignored;
        if (!socket_.non_blocking()) {
            socket_.non_blocking(true, ignored); // set once connected, for write_socket(): an ioctl each time
        }
        if (!tls_) {
            socket_.write_some(asio::buffer("QUIT\r\n", 6), ignored);
        } else {
            std::size_t consumed = 0;
            tls_->write("QUIT\r\n", 6, consumed);
            tls_->close_notify();
            socket_.write_some(asio::buffer(tls_->to_send().data(), tls_->to_send().size()), ignored);
        }
    }
    abort();
}

void UpstreamLink::abort() {
    ++generation_;
    ready_ = false;
    busy_ = false;
    reusing_ = false;
    phase_ = Phase::idle;
    close_socket();
    tls_.reset();
    in_.release();
    out_.release();
}

void UpstreamLink::fail(UpstreamFault fault, std::string_view detail) {
    if (reusing_) {
        // The parked connection did not pass its check: the client gets a fresh one, and never hears.
        owner_->upstream_notice(false, "pooled upstream connection not reused: " + std::string(detail));
        reusing_ = false;
        clear_text_retry_ = false;
        ++generation_;
        close_socket();
        start_connection();
        return;
    }
    abort();
    owner_->upstream_failed(fault, detail);
}

void UpstreamLink::fail_later(UpstreamFault fault, std::string detail) {
    if (reusing_) {
        fail(fault, detail); // a reuse that failed opens a fresh connection: nothing to report
        return;
    }
    abort();
    const std::uint32_t generation = generation_;
    asio::post(io_, [this, generation, fault, detail = std::move(detail), alive = keep_alive()] {
        // An abort() or an open() since then started something new: this outcome is no longer wanted.
        if (generation == generation_) {
            owner_->upstream_failed(fault, detail);
        }
    });
}

void UpstreamLink::arm_timer(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (timer_expiry_ <= deadline_) {
        return; // the outstanding wait ends first, and then waits on for the rest
    }
    start_timer_wait();
}

void UpstreamLink::start_timer_wait() {
    timer_expiry_ = deadline_;
    timer_.expires_at(deadline_);
    // A wait that completed just before being re-armed still runs its handler; the serial tells it apart.
    // The wait holds the link weakly: a pending wait must not keep a link (or its session) alive for
    // the rest of a time-out nobody needs any more.
    const std::uint32_t serial = ++timer_serial_;
    timer_.async_wait([serial, link = weak_from_this()](const asio::error_code& error) {
        const std::shared_ptr<UpstreamLink> self = link.lock();
        if (error || !self || serial != self->timer_serial_) {
            return;
        }
        self->timer_expiry_ = std::chrono::steady_clock::time_point::max();
        self->timer_expired();
    });
}

void UpstreamLink::timer_expired() {
    if (deadline_ == std::chrono::steady_clock::time_point::max()) {
        return; // nothing in flight: no wait until the next deadline
    }
    if (std::chrono::steady_clock::now() < deadline_) {
        start_timer_wait(); // the deadline moved on since the wait began
        return;
    }
    disarm_timer();
    // Cancelling the socket ends the pending operation, whose handler reports the time-out.
    timed_out_ = true;
    asio::error_code ignored;
    socket_.cancel(ignored);
    if (resolver_) {
        resolver_->cancel();
    }
}

void UpstreamLink::close_socket() {
    asio::error_code ignored;
    disarm_timer();
    if (timer_expiry_ != std::chrono::steady_clock::time_point::max()) {
        ++timer_serial_;
        timer_expiry_ = std::chrono::steady_clock::time_point::max();
        timer_.cancel();
    }
    if (resolver_) {
        resolver_->cancel();
    }
    if (socket_.is_open()) {
        socket_.shutdown(TcpSocket::shutdown_both, ignored);
        socket_.close(ignored);
    }
}

} // namespace relayguard::proxy
