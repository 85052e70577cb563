#include "upstream_link.hpp"

#include <relayguard/policy/ip_address.hpp>

#include <asio/connect.hpp>
#include <asio/write.hpp>

namespace relayguard::proxy {
namespace upstream_link_detail {

// RFC 3461 §4 xtext, which XCLIENT attribute values use: "+" followed by two upper-case hex digits for
// anything outside "!" … "~", and for "+" and "=".
std::string xtext(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string encoded;
    encoded.reserve(value.size());
    for (const char c : value) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 33 || octet > 126 || c == '+' || c == '=') {
            encoded += '+';
            encoded += hex[octet >> 4];
            encoded += hex[octet & 0x0f];
        } else {
            encoded += c;
        }
    }
    return encoded;
}

std::string xclient_command(const UpstreamCapabilities& offered, const ClientIdentity& client) {
    std::string line = "XCLIENT";
    if (offered.xclient_addr) {
        const std::optional<policy::IpAddress> address = policy::IpAddress::parse(client.address);
        const bool v6 = address && !address->is_v4();
        line += " ADDR=" + std::string(v6 ? "IPV6:" : "") + xtext(client.address);
    }
    if (offered.xclient_name) {
        line += " NAME=[UNAVAILABLE]"; // relayguard does no reverse lookups
    }
    if (offered.xclient_helo && !client.helo.empty()) {
        line += " HELO=" + xtext(client.helo);
    }
    if (offered.xclient_login && !client.login.empty()) {
        line += " LOGIN=" + xtext(client.login);
    }
    if (offered.xclient_proto) {
        line += client.esmtp ? " PROTO=ESMTP" : " PROTO=SMTP";
    }
    return line;
}

} // namespace upstream_link_detail

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
    }
    return "fault";
}

UpstreamLink::UpstreamLink(asio::io_context& io, BufferPool& pool, Owner& owner)
    : io_(io), owner_(owner), socket_(io), timer_(io), in_(pool), out_(pool) {
}

UpstreamLink::~UpstreamLink() {
    close_socket();
}

void UpstreamLink::open(const policy::Config& config, std::string_view hostname,
                        const ClientIdentity& client) {
    command_timeout_ = config.upstream.command_timeout;
    data_timeout_ = config.upstream.data_timeout;
    connect_timeout_ = config.upstream.connect_timeout;
    use_xclient_ = config.upstream.xclient;
    hostname_ = hostname;
    client_ = client;
    capabilities_ = {};
    ready_ = false;
    timed_out_ = false;
    in_.clear();
    out_.clear();

    const std::string port = std::to_string(config.upstream.port);
    arm_timer(connect_timeout_);
    if (const std::optional<policy::IpAddress> literal = policy::IpAddress::parse(config.upstream.host)) {
        // A literal address needs no resolver (and no resolver thread).
        asio::error_code error;
        auto endpoints = asio::ip::tcp::resolver::results_type::create(
            asio::ip::tcp::endpoint(asio::ip::make_address(literal->to_string(), error),
                                    config.upstream.port),
            config.upstream.host, port);
        connect(endpoints);
        return;
    }
    if (!resolver_) {
        resolver_ = std::make_unique<asio::ip::tcp::resolver>(io_);
    }
    const std::uint32_t generation = generation_;
    resolver_->async_resolve(
        config.upstream.host, port,
        [this, generation, alive = owner_.keep_alive()](const asio::error_code& error,
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
                        [this, generation, alive = owner_.keep_alive()](const asio::error_code& error,
                                                                        const asio::ip::tcp::endpoint&) {
                            if (generation != generation_) {
                                return;
                            }
                            if (error) {
                                fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::unreachable,
                                     timed_out_ ? "connect timed out" : "connect: " + error.message());
                                return;
                            }
                            asio::error_code ignored;
                            socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                            phase_ = Phase::greeting;
                            read_reply(command_timeout_);
                        });
}

void UpstreamLink::command(std::string_view line) {
    send_line(line, Phase::command);
}

void UpstreamLink::send_line(std::string_view line, Phase phase) {
    phase_ = phase;
    out_.clear();
    if (!out_.append(line) || !out_.append("\r\n")) {
        fail(UpstreamFault::invalid_reply, "command too long for the buffer");
        return;
    }
    start_write(command_timeout_, true);
}

void UpstreamLink::send_body(const char* data, std::size_t size) {
    const std::uint32_t generation = generation_;
    arm_timer(data_timeout_);
    asio::async_write(
        socket_, asio::buffer(data, size),
        [this, generation, alive = owner_.keep_alive()](const asio::error_code& error, std::size_t) {
            if (generation != generation_) {
                return;
            }
            ++timer_serial_;
            timer_.cancel();
            if (error) {
                fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::connection_lost,
                     "writing message data: " + error.message());
                return;
            }
            owner_.upstream_wrote();
        });
}

void UpstreamLink::finish_data() {
    phase_ = Phase::command;
    out_.clear();
    out_.append(".\r\n");
    start_write(data_timeout_, true);
}

void UpstreamLink::start_write(std::chrono::milliseconds timeout, bool then_read) {
    const std::uint32_t generation = generation_;
    arm_timer(timeout);
    asio::async_write(socket_, asio::buffer(out_.data(), out_.size()),
                      [this, generation, timeout, then_read,
                       alive = owner_.keep_alive()](const asio::error_code& error, std::size_t) {
                          if (generation != generation_) {
                              return;
                          }
                          if (error) {
                              fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::connection_lost,
                                   "write: " + error.message());
                              return;
                          }
                          out_.clear();
                          out_.release();
                          if (then_read) {
                              read_reply(timeout);
                          }
                      });
}

void UpstreamLink::read_reply(std::chrono::milliseconds timeout) {
    const ParsedReply reply = parse_reply(in_.readable());
    if (reply.status == ParsedReply::Status::complete) {
        ++timer_serial_;
        timer_.cancel();
        const std::size_t consumed = reply.consumed;
        const std::uint32_t generation = generation_;
        const bool answering_command = phase_ == Phase::command;
        handle_reply(reply);
        if (generation == generation_) {
            in_.consume(consumed);
            // relayguard never pipelines to the upstream: bytes after a reply are unsolicited, and
            // taking them as the next answer could shift every later reply (even to a final dot).
            if (answering_command && !in_.empty()) {
                fail(UpstreamFault::invalid_reply, "unsolicited data after a reply");
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
    arm_timer(timeout);
    char* room = in_.writable();
    const std::uint32_t generation = generation_;
    socket_.async_read_some(
        asio::buffer(room, in_.writable_size()), [this, generation, timeout, alive = owner_.keep_alive()](
                                                     const asio::error_code& error, std::size_t count) {
            if (generation != generation_) {
                return;
            }
            if (error) {
                fail(timed_out_ ? UpstreamFault::timed_out : UpstreamFault::connection_lost,
                     timed_out_ ? "no reply in time" : "read: " + error.message());
                return;
            }
            in_.commit(count);
            read_reply(timeout);
        });
}

void UpstreamLink::handle_reply(const ParsedReply& reply) {
    if (phase_ == Phase::command) {
        if (reply.code == 421) {
            // The upstream is closing the connection; the client hears a temporary error instead.
            fail(UpstreamFault::connection_lost, "421 from upstream");
            return;
        }
        owner_.upstream_replied(reply);
        return;
    }
    handshake_step(reply);
}

void UpstreamLink::handshake_step(const ParsedReply& reply) {
    namespace detail = upstream_link_detail;
    switch (phase_) {
    case Phase::greeting:
        if (reply.code_class() != 2) {
            fail(UpstreamFault::refused_greeting, "greeting " + std::to_string(reply.code));
            return;
        }
        send_line("EHLO " + hostname_, Phase::ehlo);
        return;
    case Phase::ehlo:
    case Phase::xclient_ehlo:
        if (reply.code_class() != 2) {
            if (phase_ == Phase::ehlo && reply.code_class() == 5) {
                send_line("HELO " + hostname_, Phase::helo);
                return;
            }
            fail(UpstreamFault::refused_greeting, "EHLO answered " + std::to_string(reply.code));
            return;
        }
        capabilities_ = parse_ehlo_capabilities(reply);
        if (phase_ == Phase::ehlo && use_xclient_ && capabilities_.xclient) {
            send_line(detail::xclient_command(capabilities_, client_), Phase::xclient);
            return;
        }
        break;
    case Phase::helo:
        if (reply.code_class() != 2) {
            fail(UpstreamFault::refused_greeting, "HELO answered " + std::to_string(reply.code));
            return;
        }
        capabilities_ = {};
        break;
    case Phase::xclient:
        // XCLIENT starts a new session on the upstream: it greets again, and wants EHLO again.
        if (reply.code_class() != 2) {
            fail(UpstreamFault::refused_greeting, "XCLIENT answered " + std::to_string(reply.code));
            return;
        }
        send_line("EHLO " + hostname_, Phase::xclient_ehlo);
        return;
    case Phase::idle:
    case Phase::command:
        return;
    }
    phase_ = Phase::command;
    ready_ = true;
    owner_.upstream_ready();
}

void UpstreamLink::quit() {
    if (!socket_.is_open()) {
        return;
    }
    if (ready_) {
        // Best effort and non-blocking: the connection closes right after, whatever the upstream says.
        asio::error_code ignored;
        socket_.non_blocking(true, ignored);
        socket_.write_some(asio::buffer("QUIT\r\n", 6), ignored);
    }
    abort();
}

void UpstreamLink::abort() {
    ++generation_;
    ready_ = false;
    phase_ = Phase::idle;
    close_socket();
    in_.release();
    out_.release();
}

void UpstreamLink::fail(UpstreamFault fault, std::string_view detail) {
    abort();
    owner_.upstream_failed(fault, detail);
}

void UpstreamLink::arm_timer(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    timer_.expires_after(timeout);
    // A wait that completed just before being re-armed still runs its handler; the serial tells it apart.
    const std::uint32_t serial = ++timer_serial_;
    timer_.async_wait([this, serial, alive = owner_.keep_alive()](const asio::error_code& error) {
        if (error || serial != timer_serial_) {
            return;
        }
        // Closing the socket ends the pending operation, whose handler reports the time-out.
        timed_out_ = true;
        asio::error_code ignored;
        socket_.cancel(ignored);
        if (resolver_) {
            resolver_->cancel();
        }
    });
}

void UpstreamLink::close_socket() {
    asio::error_code ignored;
    ++timer_serial_;
    timer_.cancel();
    if (resolver_) {
        resolver_->cancel();
    }
    if (socket_.is_open()) {
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }
}

} // namespace relayguard::proxy
