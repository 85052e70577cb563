#include "probe_connection.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace relayguard::firmware {
namespace probe_connection_detail {

// TLS records are at most 16 KiB of payload plus overhead; one block holds a flight of them.
constexpr std::size_t tls_block_size = 20 * 1024;
constexpr std::size_t read_chunk = 16 * 1024;
// A server that sends more than this without completing a reply is not answering SMTP.
constexpr std::size_t max_buffered_reply = 64 * 1024;
constexpr char timed_out_waiting[] = "timed out waiting for the server";

std::string errno_text(int code) {
    return std::strerror(code);
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

std::string address_text(const sockaddr* address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
    } else if (address->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
    }
    return text;
}

// Binds `fd` to `source` (port 0) when a source address was asked for.
std::optional<std::string> bind_source(int fd, int family, const std::string& source) {
    if (source.empty()) {
        return std::nullopt;
    }
    sockaddr_storage local{};
    socklen_t length = 0;
    if (family == AF_INET) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&local);
        v4->sin_family = AF_INET;
        if (inet_pton(AF_INET, source.c_str(), &v4->sin_addr) != 1) {
            return "source address " + source + " is not an IPv4 address, and the target is IPv4";
        }
        length = sizeof *v4;
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&local);
        v6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, source.c_str(), &v6->sin6_addr) != 1) {
            return "source address " + source + " is not an IPv6 address, and the target is IPv6";
        }
        length = sizeof *v6;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), length) != 0) {
        return "cannot use source address " + source + ": " + errno_text(errno);
    }
    return std::nullopt;
}

} // namespace probe_connection_detail

ProbeConnection::ProbeConnection() : pool_(probe_connection_detail::tls_block_size, 2) {
}

ProbeConnection::~ProbeConnection() {
    close();
}

void ProbeConnection::close() {
    tls_.reset();
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    in_.clear();
    consumed_ = 0;
}

void ProbeConnection::drop_consumed() {
    in_.erase(0, consumed_);
    consumed_ = 0;
}

std::optional<std::string> ProbeConnection::open(const std::string& host, std::uint16_t port,
                                                 const std::string& source,
                                                 std::chrono::milliseconds timeout) {
    namespace local = probe_connection_detail;
    close();
    timeout_ = timeout;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    const int status = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
    if (status != 0) {
        return "cannot resolve " + host + ": " + gai_strerror(status);
    }
    std::string last_error = "no address for " + host;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
        const int fd = ::socket(candidate->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last_error = "socket: " + local::errno_text(errno);
            continue;
        }
        if (const std::optional<std::string> error = local::bind_source(fd, candidate->ai_family, source)) {
            ::close(fd);
            last_error = *error;
            continue;
        }
        const std::string target = local::address_text(candidate->ai_addr);
        int connected = ::connect(fd, candidate->ai_addr, candidate->ai_addrlen);
        if (connected != 0 && errno == EINPROGRESS) {
            pollfd waiting{fd, POLLOUT, 0};
            connected = ::poll(&waiting, 1, local::remaining_ms(deadline)) == 1 ? 0 : -1;
            int socket_error = ETIMEDOUT;
            socklen_t length = sizeof socket_error;
            if (connected == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &length) == 0 &&
                socket_error != 0) {
                connected = -1;
            }
            errno = connected == 0 ? 0 : socket_error;
        }
        if (connected != 0) {
            last_error = "cannot connect to " + target + " port " + service + ": " + local::errno_text(errno);
            ::close(fd);
            continue;
        }
        const int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        fd_ = fd;
        peer_address_ = target;
        freeaddrinfo(found);
        return std::nullopt;
    }
    freeaddrinfo(found);
    return last_error;
}

bool ProbeConnection::wait_for(short events, std::chrono::steady_clock::time_point deadline) {
    pollfd waiting{fd_, events, 0};
    for (;;) {
        const int ready = ::poll(&waiting, 1, probe_connection_detail::remaining_ms(deadline));
        if (ready > 0) {
            return true;
        }
        if (ready == 0 || errno != EINTR) {
            return false;
        }
    }
}

std::optional<std::string> ProbeConnection::write_all(const char* data, std::size_t size) {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (size > 0) {
        const ssize_t written = ::send(fd_, data, size, MSG_NOSIGNAL);
        if (written > 0) {
            data += written;
            size -= static_cast<std::size_t>(written);
            continue;
        }
        if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (!wait_for(POLLOUT, deadline)) {
                return std::string("timed out sending");
            }
            continue;
        }
        return "connection lost while sending: " + probe_connection_detail::errno_text(errno);
    }
    return std::nullopt;
}

std::optional<std::string> ProbeConnection::flush_tls_output() {
    proxy::ByteBuffer& output = tls_->to_send();
    if (output.empty()) {
        return std::nullopt;
    }
    std::optional<std::string> error = write_all(output.data(), output.size());
    output.clear();
    return error;
}

// One recv() into the TLS pump: the count, 0 at the end of the stream, or -1 with errno.
ssize_t ProbeConnection::receive_ciphertext() {
    proxy::ByteBuffer& received = tls_->received();
    char* room = received.writable();
    const std::size_t room_size = received.writable_size();
    if (room_size == 0) {
        errno = ENOBUFS; // cannot happen: a block holds a whole record, which the session always takes
        return -1;
    }
    const ssize_t count = ::recv(fd_, room, room_size, 0);
    if (count > 0) {
        received.commit(static_cast<std::size_t>(count));
    }
    return count;
}

std::optional<std::string> ProbeConnection::send(std::string_view bytes) {
    if (fd_ < 0) {
        return std::string("not connected");
    }
    if (!tls_) {
        return write_all(bytes.data(), bytes.size());
    }
    while (!bytes.empty()) {
        std::size_t consumed = 0;
        const proxy::TlsStatus status = tls_->write(bytes.data(), bytes.size(), consumed);
        bytes.remove_prefix(consumed);
        if (status == proxy::TlsStatus::failed || status == proxy::TlsStatus::closed) {
            return "TLS: " + tls_->last_error();
        }
        if (std::optional<std::string> error = flush_tls_output()) {
            return error;
        }
    }
    return std::nullopt;
}

std::optional<std::string> ProbeConnection::receive(std::chrono::steady_clock::time_point deadline) {
    namespace local = probe_connection_detail;
    char chunk[local::read_chunk];
    for (;;) {
        if (tls_ && tls_->input_pending()) {
            char plain[local::read_chunk];
            proxy::TlsPump::ReadProgress progress;
            const proxy::TlsStatus status = tls_->read(plain, sizeof plain, progress);
            if (std::optional<std::string> error = flush_tls_output()) {
                return error;
            }
            in_.append(plain, progress.plaintext);
            if (progress.plaintext > 0) {
                return std::nullopt;
            }
            if (status == proxy::TlsStatus::closed) {
                return std::string("the server closed the TLS connection");
            }
            if (status == proxy::TlsStatus::failed) {
                return "TLS: " + tls_->last_error();
            }
        }
        const ssize_t count = tls_ ? receive_ciphertext() : ::recv(fd_, chunk, sizeof chunk, 0);
        if (count > 0) {
            if (!tls_) {
                in_.append(chunk, static_cast<std::size_t>(count));
                return std::nullopt;
            }
            continue;
        }
        if (count == 0) {
            return std::string("the server closed the connection");
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!wait_for(POLLIN, deadline)) {
                return std::string(local::timed_out_waiting);
            }
            continue;
        }
        return "connection lost: " + local::errno_text(errno);
    }
}

std::optional<proxy::ParsedReply> ProbeConnection::read_reply(std::string& error) {
    drop_consumed();
    if (fd_ < 0) {
        error = "not connected";
        return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
        const proxy::ParsedReply parsed = proxy::parse_reply(in_);
        if (parsed.status == proxy::ParsedReply::Status::complete) {
            consumed_ = parsed.consumed;
            return parsed;
        }
        if (parsed.status == proxy::ParsedReply::Status::malformed) {
            error = std::string("the server sent an invalid reply: ") + parsed.problem;
            return std::nullopt;
        }
        if (in_.size() > probe_connection_detail::max_buffered_reply) {
            error = "the server sent too much without completing a reply";
            return std::nullopt;
        }
        if (std::optional<std::string> failure = receive(deadline)) {
            error = *failure;
            return std::nullopt;
        }
    }
}

bool ProbeConnection::silent_for(std::chrono::milliseconds wait) {
    drop_consumed();
    if (!in_.empty()) {
        return false;
    }
    const std::optional<std::string> outcome = receive(std::chrono::steady_clock::now() + wait);
    return outcome && *outcome == probe_connection_detail::timed_out_waiting && in_.empty();
}

std::optional<std::string> ProbeConnection::start_tls(std::shared_ptr<const proxy::TlsClientContext> context,
                                                      const std::string& server_name) {
    drop_consumed();
    if (!in_.empty()) {
        return std::string("the server sent clear text after its 220 to STARTTLS");
    }
    tls_ = std::make_unique<proxy::TlsPump>(std::move(context), server_name, pool_);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
        const proxy::TlsStatus status = tls_->handshake();
        if (std::optional<std::string> error = flush_tls_output()) {
            tls_.reset();
            return error;
        }
        if (status == proxy::TlsStatus::ok) {
            return std::nullopt;
        }
        if (status == proxy::TlsStatus::failed || status == proxy::TlsStatus::closed) {
            const std::string why = "TLS handshake failed: " + tls_->last_error();
            tls_.reset();
            return why;
        }
        if (status == proxy::TlsStatus::want_write) {
            continue;
        }
        const ssize_t count = receive_ciphertext();
        if (count > 0) {
            continue;
        }
        if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
            wait_for(POLLIN, deadline)) {
            continue;
        }
        tls_.reset();
        return count == 0 ? std::string("TLS handshake failed: the server closed the connection")
                          : std::string("TLS handshake failed: no answer in time");
    }
}

std::string ProbeConnection::tls_description() const {
    return tls_ ? tls_->describe() : std::string();
}

} // namespace relayguard::firmware
