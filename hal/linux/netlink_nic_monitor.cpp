// The Linux NIC monitor: rtnetlink only, as busybox ifplugd watches links. One socket subscribed to the
// link and address groups carries the events; each full snapshot (at start, and again whenever events
// were lost) comes from a dump on a second, short-lived socket, so that dump replies and events never
// share a queue.
//
// Events from before a dump may still be queued when it ends, and are applied after it. That is harmless:
// they come in the kernel's order and each states the whole of what it describes, so once the queue is
// drained every object shows its latest state.
#include "../common/nic_snapshot.hpp"
#include "errno_error.hpp"
#include "netlink_parse.hpp"

#include <relayguard/hal/nic.hpp>

#include <cerrno>
#include <chrono>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace relayguard::hal {
namespace netlink_nic_monitor_detail {

// The kernel sizes dump messages after the reader's buffer, up to 32 KiB; a bigger datagram would come
// truncated (MSG_TRUNC), which is handled as lost events.
constexpr std::size_t receive_buffer_bytes = 32 * 1024;
// Room for bursts (a bridge coming up with many ports) before the kernel drops events with ENOBUFS.
constexpr int socket_buffer_bytes = 256 * 1024;
// A dump takes milliseconds; this only bounds a kernel that stops answering.
constexpr std::chrono::milliseconds dump_timeout{3000};
// NLM_F_DUMP_INTR means the tables changed under the dump; under a storm of changes, give up after this.
constexpr int dump_attempts = 5;
// Datagrams read per process_events() call, so that an event storm cannot starve the caller's loop; the
// descriptor stays readable when more are pending.
constexpr int datagrams_per_call = 256;

class Descriptor {
public:
    explicit Descriptor(int fd = -1) : fd_(fd) {}
    ~Descriptor() { reset(); }
    Descriptor(Descriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Descriptor& operator=(Descriptor&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;

    int get() const { return fd_; }
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_;
};

std::optional<HalError> open_route_socket(std::uint32_t groups, Descriptor& result) {
    Descriptor socket_fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    if (socket_fd.get() < 0) {
        return detail::errno_error(errno, "cannot open a NETLINK_ROUTE socket");
    }
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = groups;
    if (::bind(socket_fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        return detail::errno_error(errno, "cannot bind the NETLINK_ROUTE socket");
    }
    result = std::move(socket_fd);
    return std::nullopt;
}

enum class Reception { datagram, nothing, lost, failed };

struct Received {
    Reception kind = Reception::nothing;
    std::size_t length = 0;
    int error = 0;
};

// One datagram from the kernel, without blocking. Datagrams from other senders (only a privileged process
// could send them) are skipped.
Received receive(int fd, std::vector<std::uint32_t>& buffer) {
    for (;;) {
        sockaddr_nl sender{};
        iovec part{buffer.data(), buffer.size() * sizeof(std::uint32_t)};
        msghdr message{};
        message.msg_name = &sender;
        message.msg_namelen = sizeof sender;
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        const ssize_t length = ::recvmsg(fd, &message, MSG_DONTWAIT);
        if (length < 0) {
            const int error = errno;
            if (error == EINTR) {
                continue;
            }
            if (error == EAGAIN || error == EWOULDBLOCK) {
                return {Reception::nothing, 0, 0};
            }
            // ENOBUFS: the socket buffer overflowed and the kernel dropped events.
            return {error == ENOBUFS ? Reception::lost : Reception::failed, 0, error};
        }
        if ((message.msg_flags & MSG_TRUNC) != 0) {
            return {Reception::lost, 0, EMSGSIZE};
        }
        if (message.msg_namelen != sizeof sender || sender.nl_family != AF_NETLINK || sender.nl_pid != 0) {
            continue;
        }
        return {Reception::datagram, static_cast<std::size_t>(length), 0};
    }
}

std::optional<HalError> send_dump_request(int fd, std::uint16_t type, std::uint32_t sequence) {
    // RTM_GETLINK wants an ifinfomsg and RTM_GETADDR an ifaddrmsg (strict-checking kernels insist); both
    // start with the family byte and AF_UNSPEC means all.
    struct {
        nlmsghdr header;
        ifinfomsg body; // the larger of the two, all zero
    } request{};
    const std::size_t body = type == RTM_GETADDR ? sizeof(ifaddrmsg) : sizeof(ifinfomsg);
    request.header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(body));
    request.header.nlmsg_type = type;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = sequence;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
        const ssize_t sent = ::sendto(fd, &request, request.header.nlmsg_len, 0,
                                      reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
        if (sent >= 0) {
            return std::nullopt;
        }
        if (errno != EINTR) {
            return detail::errno_error(errno, "cannot send an rtnetlink dump request");
        }
    }
}

enum class DumpStatus { complete, interrupted };

// Reads one dump's answer into `snapshot`, waiting at most until `deadline`.
std::optional<HalError> read_dump(int fd, std::uint32_t sequence, std::vector<NetworkInterface>& snapshot,
                                  std::vector<std::uint32_t>& buffer,
                                  std::chrono::steady_clock::time_point deadline, DumpStatus& status) {
    for (;;) {
        const Received received = receive(fd, buffer);
        if (received.kind == Reception::lost) {
            status = DumpStatus::interrupted;
            return std::nullopt;
        }
        if (received.kind == Reception::failed) {
            return detail::errno_error(received.error, "cannot read an rtnetlink dump");
        }
        if (received.kind == Reception::nothing) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return HalError{ETIMEDOUT, "the kernel did not finish an rtnetlink dump in time"};
            }
            pollfd waiting{fd, POLLIN, 0};
            if (::poll(&waiting, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
                return detail::errno_error(errno, "cannot wait for an rtnetlink dump");
            }
            continue;
        }
        const auto outcome =
            netlink_parse::apply_messages(buffer.data(), received.length, snapshot, sequence);
        if (outcome.error != 0) {
            return detail::errno_error(outcome.error, "the kernel refused an rtnetlink dump");
        }
        if (outcome.dump_interrupted) {
            status = DumpStatus::interrupted;
        }
        if (outcome.done) {
            return std::nullopt;
        }
    }
}

// A whole snapshot: every link first (so that each address finds its interface), then every address.
std::optional<HalError> dump_snapshot(std::uint32_t& sequence, std::vector<std::uint32_t>& buffer,
                                      std::vector<NetworkInterface>& result) {
    for (int attempt = 0; attempt < dump_attempts; ++attempt) {
        // A fresh socket per attempt: nothing left over from an abandoned dump can reach this one.
        Descriptor fd;
        if (auto error = open_route_socket(0, fd)) {
            return error;
        }
        const auto deadline = std::chrono::steady_clock::now() + dump_timeout;
        std::vector<NetworkInterface> snapshot;
        DumpStatus status = DumpStatus::complete;
        for (const std::uint16_t type : {std::uint16_t{RTM_GETLINK}, std::uint16_t{RTM_GETADDR}}) {
            ++sequence;
            if (auto error = send_dump_request(fd.get(), type, sequence)) {
                return error;
            }
            if (auto error = read_dump(fd.get(), sequence, snapshot, buffer, deadline, status)) {
                return error;
            }
            if (status == DumpStatus::interrupted) {
                break;
            }
        }
        if (status == DumpStatus::complete) {
            result = std::move(snapshot);
            return std::nullopt;
        }
    }
    return HalError{EAGAIN, "the network interfaces kept changing during every rtnetlink dump"};
}

class NetlinkNicMonitor final : public NicMonitor {
public:
    NetlinkNicMonitor() : buffer_(receive_buffer_bytes / sizeof(std::uint32_t)) {}

    std::optional<HalError> start() override {
        if (events_.get() >= 0) {
            return HalError{EALREADY, "the network interface monitor is already started"};
        }
        // Subscribe before the dump, so that no change can fall between the two.
        Descriptor events;
        if (auto error = open_route_socket(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, events)) {
            return error;
        }
        // Best effort: SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN.
        if (::setsockopt(events.get(), SOL_SOCKET, SO_RCVBUFFORCE, &socket_buffer_bytes,
                         sizeof socket_buffer_bytes) != 0) {
            ::setsockopt(events.get(), SOL_SOCKET, SO_RCVBUF, &socket_buffer_bytes,
                         sizeof socket_buffer_bytes);
        }
        std::vector<NetworkInterface> snapshot;
        if (auto error = dump_snapshot(sequence_, buffer_, snapshot)) {
            return error;
        }
        interfaces_ = std::move(snapshot);
        events_ = std::move(events);
        return std::nullopt;
    }

    int event_descriptor() const override { return events_.get(); }

    bool process_events() override {
        if (events_.get() < 0) {
            return false;
        }
        bool changed = false;
        bool lost = resync_pending_;
        for (int count = 0; count < datagrams_per_call; ++count) {
            const Received received = receive(events_.get(), buffer_);
            if (received.kind == Reception::nothing || received.kind == Reception::failed) {
                break;
            }
            if (received.kind == Reception::lost) {
                lost = true; // keep reading: what follows the gap is still news
                continue;
            }
            changed =
                netlink_parse::apply_messages(buffer_.data(), received.length, interfaces_, std::nullopt)
                    .changed ||
                changed;
        }
        if (lost) {
            // Events were dropped: only a new dump tells what the tables hold now (what ifplugd does).
            std::vector<NetworkInterface> snapshot;
            if (dump_snapshot(sequence_, buffer_, snapshot)) {
                // Kept for the next call; until then the snapshot may be stale.
                resync_pending_ = true;
            } else {
                resync_pending_ = false;
                changed = !nic_snapshot::same_snapshot(snapshot, interfaces_) || changed;
                interfaces_ = std::move(snapshot);
            }
        }
        return changed;
    }

    const std::vector<NetworkInterface>& interfaces() const override { return interfaces_; }

private:
    Descriptor events_;
    std::uint32_t sequence_ = 0;
    bool resync_pending_ = false;
    std::vector<std::uint32_t> buffer_; // uint32_t: netlink headers need 4-byte alignment
    std::vector<NetworkInterface> interfaces_;
};

} // namespace netlink_nic_monitor_detail

std::unique_ptr<NicMonitor> make_netlink_nic_monitor() {
    return std::make_unique<netlink_nic_monitor_detail::NetlinkNicMonitor>();
}

} // namespace relayguard::hal
