#include "remote_syslog.hpp"

#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/syslog_message.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace relayguard::proxy {
namespace remote_syslog_detail {

constexpr std::chrono::milliseconds connect_timeout{5000};
constexpr std::chrono::milliseconds stopping_connect_timeout{1000};
// How long a stop may spend sending what is queued to a collector that is slow or away.
constexpr std::chrono::milliseconds stop_budget{1500};
constexpr std::chrono::milliseconds first_pause{1000};
constexpr std::chrono::milliseconds longest_pause{30000};
constexpr std::chrono::milliseconds send_timeout{5000};
constexpr int severity_warning = 4;

std::string timestamp() {
    char text[40];
    return std::string(text, rfc3339_local_time(std::chrono::system_clock::now(), text));
}

// The collector's address as a sockaddr; false for an address that is not a literal.
bool socket_address(const policy::SyslogServer& server, sockaddr_storage& storage, socklen_t& length) {
    storage = {};
    if (inet_pton(AF_INET, server.address.c_str(), &reinterpret_cast<sockaddr_in&>(storage).sin_addr) == 1) {
        auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
        v4.sin_family = AF_INET;
        v4.sin_port = htons(server.port);
        length = sizeof v4;
        return true;
    }
    if (inet_pton(AF_INET6, server.address.c_str(), &reinterpret_cast<sockaddr_in6&>(storage).sin6_addr) ==
        1) {
        auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(server.port);
        length = sizeof v6;
        return true;
    }
    return false;
}

} // namespace remote_syslog_detail

RemoteSyslog::RemoteSyslog(policy::SyslogServer server, std::string hostname, std::string program)
    : server_(std::move(server)), hostname_(syslog_hostname(hostname)),
      program_(syslog_hostname(program).substr(0, 48)), // RFC 5424 §6.2.5
      pid_(static_cast<long>(::getpid())) {
    if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
        stop_pipe_[0] = stop_pipe_[1] = -1; // waits then run their time-outs only
    }
    thread_ = std::thread([this] { run(); });
}

RemoteSyslog::~RemoteSyslog() {
    namespace local = remote_syslog_detail;
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    stop_deadline_ = std::chrono::steady_clock::now() + local::stop_budget;
    wake_.notify_one();
    // The thread sends what is queued until the budget is spent; then the pipe ends any wait it is in.
    if (!finished_cv_.wait_until(lock, stop_deadline_, [this] { return finished_; }) && stop_pipe_[1] >= 0) {
        const char octet = 0;
        (void)!::write(stop_pipe_[1], &octet, 1);
    }
    lock.unlock();
    thread_.join();
    close_socket();
    for (const int fd : stop_pipe_) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

std::chrono::milliseconds RemoteSyslog::bounded(std::chrono::milliseconds timeout) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
        return timeout;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(stop_deadline_ -
                                                                            std::chrono::steady_clock::now());
    return std::max(std::chrono::milliseconds(0), std::min(timeout, left));
}

bool RemoteSyslog::wait_for_socket(short events, std::chrono::milliseconds timeout) {
    pollfd waiting[2] = {{fd_, events, 0}, {stop_pipe_[0], POLLIN, 0}};
    const nfds_t count = stop_pipe_[0] >= 0 ? 2 : 1;
    for (;;) {
        const int ready = ::poll(waiting, count, static_cast<int>(bounded(timeout).count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        // Only the socket's readiness counts: a stop (or a time-out) ends the wait unsuccessfully.
        return ready > 0 && waiting[0].revents != 0 && (count == 1 || waiting[1].revents == 0);
    }
}

void RemoteSyslog::send(int severity, std::string_view text) {
    const SyslogHeader header{hostname_, program_, pid_};
    std::string message = rfc5424_message(severity, remote_syslog_detail::timestamp(), header, text);
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (queue_.size() >= max_queued) {
            queue_.pop_front();
            ++dropped_;
        }
        queue_.push_back(std::move(message));
    }
    wake_.notify_one();
}

void RemoteSyslog::run() {
    namespace local = remote_syslog_detail;
    std::chrono::milliseconds pause = local::first_pause;
    std::unique_lock<std::mutex> lock(mutex_);
    const auto finish = [&] {
        finished_ = true;
        finished_cv_.notify_all();
    };
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            finish(); // stopping, and everything was sent
            return;
        }
        const bool stopping = stopping_;
        // The count of messages lost so far goes out first; it is taken off only once it was sent.
        const std::size_t dropped = dropped_;
        std::string message = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        if (fd_ >= 0 && peer_closed()) {
            close_socket(); // a collector that restarted: a message written now would be lost unseen
        }
        const bool open =
            fd_ >= 0 || open_socket(stopping ? local::stopping_connect_timeout : local::connect_timeout);
        bool notice_sent = false;
        if (open && dropped > 0) {
            const SyslogHeader header{hostname_, program_, pid_};
            notice_sent = deliver(rfc5424_message(local::severity_warning, local::timestamp(), header,
                                                  "warning: log: " + std::to_string(dropped) +
                                                      " messages for " + server_.to_string() +
                                                      " were dropped while it did not take them"));
        }
        const bool sent = open && (dropped == 0 || notice_sent) && deliver(message);
        lock.lock();
        if (notice_sent) {
            dropped_ -= dropped;
        }
        if (sent) {
            pause = local::first_pause;
            continue;
        }
        if (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_) {
            // The stop's budget is spent with the collector away: what is left is lost.
            queue_.clear();
            finish();
            return;
        }
        // Kept for the next attempt, ahead of what came meanwhile (and within the bound).
        if (queue_.size() >= max_queued) {
            ++dropped_;
        } else {
            queue_.push_front(std::move(message));
        }
        if (stopping_) {
            wake_.wait_until(lock, std::min(stop_deadline_, std::chrono::steady_clock::now() + pause));
        } else {
            wake_.wait_for(lock, pause, [this] { return stopping_; });
        }
        pause = std::min(pause * 2, local::longest_pause);
    }
}

bool RemoteSyslog::open_socket(std::chrono::milliseconds connect_timeout) {
    sockaddr_storage address{};
    socklen_t length = 0;
    if (!remote_syslog_detail::socket_address(server_, address, length)) {
        return false;
    }
    const bool tcp = server_.transport == policy::SyslogServer::Transport::tcp;
    fd_ = ::socket(address.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
        return false;
    }
    // UDP: a connected socket, so the kernel picks the source once and reports ICMP errors.
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        if (errno != EINPROGRESS) {
            close_socket();
            return false;
        }
        int error = 0;
        socklen_t error_length = sizeof error;
        if (!wait_for_socket(POLLOUT, connect_timeout) ||
            ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
            close_socket();
            return false;
        }
    }
    return true;
}

bool RemoteSyslog::deliver(const std::string& message) {
    if (server_.transport == policy::SyslogServer::Transport::udp) {
        // Lossy by design: a datagram the collector does not take (ICMP unreachable) is not retried.
        const std::size_t size = std::min(message.size(), max_datagram);
        if (::send(fd_, message.data(), size, MSG_NOSIGNAL) < 0 && errno != ECONNREFUSED && errno != EAGAIN &&
            errno != EWOULDBLOCK) {
            close_socket();
        }
        return true;
    }
    const std::string frame = octet_counted(message);
    std::string_view left = frame;
    while (!left.empty()) {
        const ssize_t written = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
        if (written < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            // A collector that stops reading costs at most the send time-out before the connection is
            // dropped (and at once when relayguard stops).
            if (errno == EINTR || wait_for_socket(POLLOUT, remote_syslog_detail::send_timeout)) {
                continue;
            }
            close_socket();
            return false;
        }
        if (written <= 0) {
            close_socket();
            return false;
        }
        left.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

bool RemoteSyslog::peer_closed() const {
    // A collector sends nothing on a syslog connection, so anything to read is its end of file (or an
    // error): it closed, and the kernel would still take our next write, only to lose it.
    if (server_.transport != policy::SyslogServer::Transport::tcp) {
        return false;
    }
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 0) != 1) {
        return false;
    }
    char octet = 0;
    const ssize_t got = ::recv(fd_, &octet, 1, MSG_PEEK | MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void RemoteSyslog::close_socket() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

} // namespace relayguard::proxy
