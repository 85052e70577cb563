// The netlink NIC monitor against the running kernel. Reading the host's interfaces needs no privilege;
// changing interfaces does, and must never touch the host: those tests fork a child that moves into a
// network namespace of its own (unshare(CLONE_NEWNET), or with a user namespace when unprivileged), creates
// a veth pair there with iproute2, and reports through its exit status and a pipe. The child never runs
// Catch2 assertions: a failure there is a message and exit status 1, a missing facility exit status 77.
#include <relayguard/hal/nic.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <linux/netlink.h>
#include <memory>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace nic_netlink_test {

using relayguard::hal::InterfaceAddress;
using relayguard::hal::make_netlink_nic_monitor;
using relayguard::hal::NetworkInterface;
using relayguard::hal::NicMonitor;
using Snapshot = std::vector<NetworkInterface>;
using namespace std::chrono_literals;

constexpr int child_passed = 0;
constexpr int child_failed = 1;
constexpr int child_skipped = 77;

std::string describe(const Snapshot& interfaces) {
    std::ostringstream text;
    for (const auto& nic : interfaces) {
        text << "  " << nic.index << ' ' << nic.name << (nic.up ? " up" : "")
             << (nic.running ? " running" : "") << (nic.lower_up ? " lower_up" : "")
             << (nic.loopback ? " loopback" : "") << '\n';
        for (const auto& address : nic.addresses) {
            text << "    " << address.address << '/' << unsigned{address.prefix_length}
                 << (address.tentative ? " tentative" : "") << (address.link_local ? " link-local" : "")
                 << '\n';
        }
    }
    return text.str();
}

const NetworkInterface* named(const Snapshot& interfaces, const std::string& name) {
    for (const auto& nic : interfaces) {
        if (nic.name == name) {
            return &nic;
        }
    }
    return nullptr;
}

const InterfaceAddress* address_of(const Snapshot& interfaces, const std::string& name,
                                   const std::string& text) {
    const NetworkInterface* nic = named(interfaces, name);
    if (nic == nullptr) {
        return nullptr;
    }
    for (const auto& address : nic->addresses) {
        if (address.address == text) {
            return &address;
        }
    }
    return nullptr;
}

// What a child found; `report` says why it failed or skipped.
struct ChildOutcome {
    int status = child_failed;
    std::string report;
};

bool write_file(const std::string& path, const std::string& content) {
    std::ofstream file(path);
    file << content;
    file.flush();
    return static_cast<bool>(file);
}

// Moves the calling (child) process into a new network namespace; falls back to a user namespace that maps
// the caller to root when CLONE_NEWNET alone is refused, as it is to unprivileged users.
int enter_network_namespace(std::string& report) {
    if (::unshare(CLONE_NEWNET) == 0) {
        return child_passed;
    }
    const int refused = errno;
    if (refused == EPERM) {
        const auto uid = ::getuid();
        const auto gid = ::getgid();
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
            if (write_file("/proc/self/setgroups", "deny") &&
                write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") &&
                write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
                return child_passed;
            }
            report = "cannot map the user in a new user namespace";
            return child_skipped;
        }
        report = std::string("cannot create a network namespace (unshare(CLONE_NEWNET): ") +
                 std::strerror(refused) + "; with a user namespace: " + std::strerror(errno) + ")";
        return child_skipped;
    }
    report =
        std::string("cannot create a network namespace: unshare(CLONE_NEWNET): ") + std::strerror(refused);
    return refused == EINVAL || refused == ENOSPC || refused == EUSERS ? child_skipped : child_failed;
}

// Runs `body` in a forked child inside a fresh network namespace; at most `limit`, then the child is killed.
ChildOutcome run_in_network_namespace(const std::function<int(std::string&)>& body,
                                      std::chrono::seconds limit = 60s) {
    ChildOutcome outcome;
    int channel[2];
    if (::pipe2(channel, O_CLOEXEC) != 0) {
        outcome.report = std::string("pipe2: ") + std::strerror(errno);
        return outcome;
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
        outcome.report = std::string("fork: ") + std::strerror(errno);
        ::close(channel[0]);
        ::close(channel[1]);
        return outcome;
    }
    if (child == 0) {
        ::close(channel[0]);
        std::string report;
        int status = enter_network_namespace(report);
        if (status == child_passed) {
            try {
                status = body(report);
            } catch (const std::exception& error) {
                report += std::string("exception: ") + error.what();
                status = child_failed;
            }
        }
        std::size_t written = 0;
        while (written < report.size()) {
            const ssize_t step = ::write(channel[1], report.data() + written, report.size() - written);
            if (step <= 0) {
                break;
            }
            written += static_cast<std::size_t>(step);
        }
        ::_exit(status);
    }
    ::close(channel[1]);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    bool killed = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd waiting{channel[0], POLLIN, 0};
        if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) == 0) {
            ::kill(child, SIGKILL);
            killed = true;
            break;
        }
        char chunk[512];
        const ssize_t got = ::read(channel[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        outcome.report.append(chunk, static_cast<std::size_t>(got));
    }
    ::close(channel[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (killed) {
        outcome.report += "\nthe child did not finish in time and was killed";
        outcome.status = child_failed;
    } else {
        outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : child_failed;
    }
    return outcome;
}

// The tests' side of a child: commands, waits and failure reports.
class Child {
public:
    explicit Child(std::string& report) : report_(report) {}

    // iproute2's ip, wherever the PATH of the test run may have left it out.
    static std::string ip() {
        for (const char* candidate : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
            if (::access(candidate, X_OK) == 0) {
                return candidate;
            }
        }
        return {};
    }

    bool run(const std::string& arguments) {
        const std::string command = ip() + " " + arguments + " 2>&1";
        std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
        if (!pipe) {
            return fail("cannot run " + command);
        }
        std::string output;
        char chunk[256];
        while (std::fgets(chunk, sizeof chunk, pipe.get()) != nullptr) {
            output += chunk;
        }
        const int status = ::pclose(pipe.release());
        if (status != 0) {
            return fail("`" + command + "` failed (status " + std::to_string(status) + "): " + output);
        }
        return true;
    }

    // Processes events until `wanted` holds after a process_events() that reported a change; `seen` is
    // shown every changed snapshot on the way.
    bool wait_for(NicMonitor& monitor, const std::string& what,
                  const std::function<bool(const Snapshot&)>& wanted,
                  const std::function<void(const Snapshot&)>& seen = {},
                  std::chrono::milliseconds limit = 8000ms) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd waiting{monitor.event_descriptor(), POLLIN, 0};
            ::poll(&waiting, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
            if (monitor.process_events()) {
                if (seen) {
                    seen(monitor.interfaces());
                }
                if (wanted(monitor.interfaces())) {
                    return true;
                }
            }
            if (left.count() <= 0) {
                return fail("timed out waiting for " + what + "; the snapshot:\n" +
                            describe(monitor.interfaces()));
            }
        }
    }

    bool expect(bool condition, const std::string& what, const NicMonitor& monitor) {
        return condition || fail(what + "; the snapshot:\n" + describe(monitor.interfaces()));
    }

    bool fail(const std::string& what) {
        report_ += what + "\n";
        return false;
    }

    int skip(const std::string& why) {
        report_ += why;
        return child_skipped;
    }

    // The monitor started in the fresh namespace, with lo up and a veth pair rgtest0/rgtest1 up.
    std::unique_ptr<NicMonitor> start_with_veth_pair() {
        auto monitor = make_netlink_nic_monitor();
        if (const auto error = monitor->start()) {
            fail("start() failed: " + error->message);
            return nullptr;
        }
        const bool ready = run("link set lo up") && run("link add rgtest0 type veth peer name rgtest1") &&
                           run("link set rgtest0 up") && run("link set rgtest1 up") &&
                           wait_for(*monitor, "rgtest0 and rgtest1 to run", [](const Snapshot& now) {
                               const auto* left = named(now, "rgtest0");
                               const auto* right = named(now, "rgtest1");
                               return left != nullptr && right != nullptr && left->running && right->running;
                           });
        return ready ? std::move(monitor) : nullptr;
    }

private:
    std::string& report_;
};

// Without iproute2 there is nothing to change the interfaces with.
int check_tools(Child& child) {
    return Child::ip().empty() ? child.skip("iproute2's ip is not installed") : child_passed;
}

bool has_link_local(const Snapshot& interfaces, const std::string& name) {
    const NetworkInterface* nic = named(interfaces, name);
    if (nic == nullptr) {
        return false;
    }
    for (const auto& address : nic->addresses) {
        if (address.link_local && address.ipv6 && address.address.rfind("fe80:", 0) == 0) {
            return true;
        }
    }
    return false;
}

void expect_child(const ChildOutcome& outcome) {
    if (outcome.status == child_skipped) {
        WARN("skipped: " << outcome.report);
        return;
    }
    INFO(outcome.report);
    REQUIRE(outcome.status == child_passed);
}

int links_and_ipv4(std::string& report) {
    Child child(report);
    if (check_tools(child) != child_passed) {
        return child_skipped;
    }
    auto monitor = make_netlink_nic_monitor();
    if (const auto error = monitor->start()) {
        child.fail("start() failed: " + error->message);
        return child_failed;
    }
    // A new namespace holds only lo, down and without addresses.
    const NetworkInterface* lo = monitor->find("lo");
    if (!child.expect(monitor->interfaces().size() == 1 && lo != nullptr && lo->loopback && !lo->up &&
                          lo->addresses.empty(),
                      "a fresh namespace should hold only lo, down", *monitor) ||
        !child.expect(!monitor->process_events(), "process_events() without a change reported one",
                      *monitor)) {
        return child_failed;
    }
    const bool passed =
        child.run("link set lo up") &&
        child.wait_for(*monitor, "lo to run with 127.0.0.1/8",
                       [](const Snapshot& now) {
                           const auto* loopback = named(now, "lo");
                           const auto* address = address_of(now, "lo", "127.0.0.1");
                           return loopback != nullptr && loopback->up && loopback->running &&
                                  address != nullptr && address->prefix_length == 8 && !address->ipv6;
                       }) &&
        child.run("link add rgtest0 type veth peer name rgtest1") &&
        child.wait_for(*monitor, "the veth pair to appear, down",
                       [](const Snapshot& now) {
                           const auto* left = named(now, "rgtest0");
                           const auto* right = named(now, "rgtest1");
                           return left != nullptr && right != nullptr && !left->up && !left->running &&
                                  !left->loopback && left->index != right->index;
                       }) &&
        child.run("address add 192.0.2.1/24 dev rgtest0") &&
        child.wait_for(*monitor, "192.0.2.1/24 on rgtest0",
                       [](const Snapshot& now) {
                           const auto* address = address_of(now, "rgtest0", "192.0.2.1");
                           return address != nullptr && address->prefix_length == 24 && !address->tentative &&
                                  !address->link_local;
                       }) &&
        child.run("link set rgtest0 up") && child.run("link set rgtest1 up") &&
        child.wait_for(*monitor, "rgtest0 to be up, running, with carrier",
                       [](const Snapshot& now) {
                           const auto* nic = named(now, "rgtest0");
                           return nic != nullptr && nic->up && nic->running && nic->lower_up;
                       }) &&
        child.run("link set rgtest1 down") &&
        child.wait_for(*monitor, "rgtest0 to lose its carrier",
                       [](const Snapshot& now) {
                           const auto* nic = named(now, "rgtest0");
                           return nic != nullptr && nic->up && !nic->running && !nic->lower_up;
                       }) &&
        child.run("address del 192.0.2.1/24 dev rgtest0") &&
        child.wait_for(*monitor, "192.0.2.1 to leave rgtest0",
                       [](const Snapshot& now) {
                           return named(now, "rgtest0") != nullptr &&
                                  address_of(now, "rgtest0", "192.0.2.1") == nullptr;
                       }) &&
        child.run("link set rgtest0 name rgrenamed") &&
        child.wait_for(*monitor, "rgtest0 to be renamed",
                       [](const Snapshot& now) {
                           return named(now, "rgtest0") == nullptr && named(now, "rgrenamed") != nullptr;
                       }) &&
        child.run("link del rgrenamed") &&
        child.wait_for(*monitor, "both ends of the pair to go", [](const Snapshot& now) {
            return named(now, "rgrenamed") == nullptr && named(now, "rgtest1") == nullptr && now.size() == 1;
        });
    return passed ? child_passed : child_failed;
}

int ipv6_and_dad(std::string& report) {
    Child child(report);
    if (check_tools(child) != child_passed) {
        return child_skipped;
    }
    auto monitor = child.start_with_veth_pair();
    if (!monitor) {
        return child_failed;
    }
    std::ifstream disabled("/proc/sys/net/ipv6/conf/rgtest0/disable_ipv6");
    int disabled_value = 1;
    if (!(disabled >> disabled_value) || disabled_value != 0) {
        return child.skip("IPv6 is not available on rgtest0");
    }

    bool first_sight_tentative = true;
    bool seen_nodad = false;
    bool seen_dad = false;
    bool tentative_reported = false;
    const bool passed =
        child.run("-6 address add 2001:db8::1/64 dev rgtest0 nodad") &&
        child.wait_for(
            *monitor, "2001:db8::1/64 on rgtest0",
            [](const Snapshot& now) { return address_of(now, "rgtest0", "2001:db8::1") != nullptr; },
            [&](const Snapshot& now) {
                const auto* address = address_of(now, "rgtest0", "2001:db8::1");
                if (address != nullptr && !seen_nodad) {
                    seen_nodad = true;
                    first_sight_tentative = address->tentative;
                }
            }) &&
        child.expect(!first_sight_tentative, "an address added with nodad was reported tentative",
                     *monitor) &&
        child.expect(address_of(monitor->interfaces(), "rgtest0", "2001:db8::1")->ipv6 &&
                         address_of(monitor->interfaces(), "rgtest0", "2001:db8::1")->prefix_length == 64,
                     "2001:db8::1 should be IPv6 with prefix length 64", *monitor) &&
        // Without nodad the kernel runs duplicate address detection (about a second on a veth with carrier):
        // first tentative, then another RTM_NEWADDR when it is done.
        child.run("-6 address add 2001:db8::2/64 dev rgtest0") &&
        child.wait_for(
            *monitor, "2001:db8::2 to finish duplicate address detection",
            [](const Snapshot& now) {
                const auto* address = address_of(now, "rgtest0", "2001:db8::2");
                return address != nullptr && !address->tentative;
            },
            [&](const Snapshot& now) {
                const auto* address = address_of(now, "rgtest0", "2001:db8::2");
                if (address != nullptr && !seen_dad) {
                    seen_dad = true;
                    tentative_reported = address->tentative;
                }
            }) &&
        child.expect(tentative_reported, "2001:db8::2 was never reported tentative", *monitor) &&
        // The veth's own fe80:: address, marked link-local. The kernel announces it only once its
        // duplicate address detection is over, which may be after 2001:db8::2's.
        (has_link_local(monitor->interfaces(), "rgtest0") ||
         child.wait_for(*monitor, "a link-local address on rgtest0",
                        [](const Snapshot& now) { return has_link_local(now, "rgtest0"); })) &&
        child.run("-6 address del 2001:db8::2/64 dev rgtest0") &&
        child.run("-6 address del 2001:db8::1/64 dev rgtest0") &&
        child.wait_for(*monitor, "the IPv6 addresses to leave rgtest0", [](const Snapshot& now) {
            return named(now, "rgtest0") != nullptr && address_of(now, "rgtest0", "2001:db8::1") == nullptr &&
                   address_of(now, "rgtest0", "2001:db8::2") == nullptr;
        });
    return passed ? child_passed : child_failed;
}

// The drops counter of our netlink socket in /proc/net/netlink, or -1 when it cannot be read.
long netlink_drops(int fd) {
    sockaddr_nl local{};
    socklen_t length = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
        return -1;
    }
    std::ifstream table("/proc/net/netlink");
    std::string line;
    std::getline(table, line); // the heading: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string socket_address;
        int protocol = -1;
        unsigned long portid = 0;
        std::string groups, receive_memory, send_memory, dump, locks;
        long drops = -1;
        if (fields >> socket_address >> protocol >> portid >> groups >> receive_memory >> send_memory >>
                dump >> locks >> drops &&
            protocol == NETLINK_ROUTE && portid == local.nl_pid) {
            return drops;
        }
    }
    return -1;
}

int overflow_resync(std::string& report) {
    Child child(report);
    if (check_tools(child) != child_passed) {
        return child_skipped;
    }
    auto monitor = child.start_with_veth_pair();
    if (!monitor) {
        return child_failed;
    }
    // The smallest buffer the kernel allows (a few KiB): a hundred address events cannot fit in it.
    const int tiny = 1;
    if (::setsockopt(monitor->event_descriptor(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny) != 0) {
        child.fail(std::string("setsockopt(SO_RCVBUF): ") + std::strerror(errno));
        return child_failed;
    }
    constexpr int count = 100;
    const std::string command = Child::ip() + " -batch - >/dev/null 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> batch(::popen(command.c_str(), "w"), ::pclose);
    if (!batch) {
        child.fail("cannot run " + command);
        return child_failed;
    }
    for (int host = 10; host < 10 + count; ++host) {
        std::fprintf(batch.get(), "address add 192.0.2.%d/24 dev rgtest0\n", host);
    }
    if (::pclose(batch.release()) != 0) {
        child.fail("`" + command + "` failed");
        return child_failed;
    }
    const long drops = netlink_drops(monitor->event_descriptor());
    if (drops == 0) {
        child.fail("the burst did not overflow the event socket: the test would prove nothing");
        return child_failed;
    }
    const bool passed = child.wait_for(
        *monitor, "all " + std::to_string(count) + " addresses after the overflow", [](const Snapshot& now) {
            const auto* nic = named(now, "rgtest0");
            int ipv4 = 0;
            for (const auto& address : nic != nullptr ? nic->addresses : std::vector<InterfaceAddress>{}) {
                ipv4 += address.ipv6 ? 0 : 1;
            }
            return ipv4 == count;
        });
    return passed ? child_passed : child_failed;
}

} // namespace nic_netlink_test

TEST_CASE("netlink monitor: the first snapshot holds the loopback interface", "[hal][nic][netlink][kernel]") {
    using namespace nic_netlink_test;
    auto monitor = make_netlink_nic_monitor();
    REQUIRE(monitor->event_descriptor() == -1);
    REQUIRE_FALSE(monitor->process_events());
    REQUIRE(monitor->interfaces().empty());

    const auto error = monitor->start();
    if (error && (error->code == EPERM || error->code == EACCES || error->code == EAFNOSUPPORT)) {
        WARN("skipped: this environment refuses NETLINK_ROUTE sockets: " << error->message);
        return;
    }
    INFO((error ? error->message : std::string()));
    REQUIRE_FALSE(error.has_value());
    REQUIRE(monitor->event_descriptor() >= 0);
    INFO("the snapshot:\n" << describe(monitor->interfaces()));

    const NetworkInterface* lo = monitor->find("lo");
    REQUIRE(lo != nullptr);
    CHECK(lo->index > 0);
    CHECK(lo->up);
    CHECK(lo->running);
    CHECK(lo->loopback);
    const InterfaceAddress* loopback_address = address_of(monitor->interfaces(), "lo", "127.0.0.1");
    REQUIRE(loopback_address != nullptr);
    CHECK(loopback_address->prefix_length == 8);
    CHECK_FALSE(loopback_address->ipv6);
    CHECK_FALSE(loopback_address->tentative);

    // Sorted by index, each index once.
    const auto& interfaces = monitor->interfaces();
    for (std::size_t i = 1; i < interfaces.size(); ++i) {
        CHECK(interfaces[i - 1].index < interfaces[i].index);
    }
    REQUIRE(monitor->start().has_value()); // only once
}

TEST_CASE("netlink monitor: links and IPv4 addresses come and go in a private network namespace",
          "[hal][nic][netlink][kernel][namespace]") {
    nic_netlink_test::expect_child(
        nic_netlink_test::run_in_network_namespace(nic_netlink_test::links_and_ipv4));
}

TEST_CASE("netlink monitor: IPv6 addresses, with and without duplicate address detection",
          "[hal][nic][netlink][kernel][namespace]") {
    nic_netlink_test::expect_child(
        nic_netlink_test::run_in_network_namespace(nic_netlink_test::ipv6_and_dad));
}

TEST_CASE("netlink monitor: events dropped by an overflowing socket (ENOBUFS) are repaired by a new dump",
          "[hal][nic][netlink][kernel][namespace]") {
    nic_netlink_test::expect_child(
        nic_netlink_test::run_in_network_namespace(nic_netlink_test::overflow_resync));
}
