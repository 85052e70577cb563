#include "netlink_parse.hpp"

#include "../common/nic_snapshot.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string>
#include <sys/socket.h>
#include <utility>

namespace relayguard::hal::netlink_parse {
namespace netlink_parse_detail {

enum class Verdict { applied, ignored, malformed };
enum class Walk { next, stop };

struct Payload {
    const std::uint8_t* data;
    std::size_t length;
};

// Calls visit(type, payload) for each attribute in [first, first + length) and says whether the attributes
// tile that span exactly (the last one may lack its alignment padding). The visitor only collects: the
// caller decides once the whole list is known to be well-formed.
template <typename Visit>
bool for_each_attribute(const rtattr* first, std::size_t length, Visit&& visit) {
    int remaining = static_cast<int>(length); // bounded by the message length, itself at most INT_MAX
    const rtattr* attribute = first;
    while (RTA_OK(attribute, remaining)) {
        visit(static_cast<unsigned>(attribute->rta_type & NLA_TYPE_MASK),
              Payload{static_cast<const std::uint8_t*>(RTA_DATA(attribute)),
                      static_cast<std::size_t>(RTA_PAYLOAD(attribute))});
        if (RTA_ALIGN(attribute->rta_len) >= static_cast<unsigned>(remaining)) {
            return true; // the last one: stepping on would leave the message
        }
        attribute = RTA_NEXT(attribute, remaining);
    }
    return remaining == 0;
}

// The fixed-size family header (ifinfomsg, ifaddrmsg) after the netlink header, or nullptr when the message
// is too short to hold it; the attributes follow it.
template <typename FamilyHeader>
const FamilyHeader* family_header(const nlmsghdr& header) {
    if (header.nlmsg_len < NLMSG_LENGTH(sizeof(FamilyHeader))) {
        return nullptr;
    }
    return static_cast<const FamilyHeader*>(NLMSG_DATA(&header));
}

template <typename FamilyHeader>
std::size_t attributes_length(const nlmsghdr& header) {
    const std::size_t start = NLMSG_SPACE(sizeof(FamilyHeader));
    return header.nlmsg_len > start ? header.nlmsg_len - start : 0;
}

// An interface name as the kernel's dev_valid_name() allows it, less anything that would garble a log line:
// NUL-terminated within IFNAMSIZ, not empty, no '/', ':', blanks or control characters.
std::optional<std::string> interface_name(Payload payload) {
    const auto* end = static_cast<const std::uint8_t*>(
        std::memchr(payload.data, '\0', std::min<std::size_t>(payload.length, IFNAMSIZ)));
    if (end == nullptr || end == payload.data) {
        return std::nullopt;
    }
    const bool clean = std::none_of(payload.data, end, [](std::uint8_t octet) {
        return octet <= ' ' || octet == 0x7f || octet == '/' || octet == ':';
    });
    if (!clean) {
        return std::nullopt;
    }
    return std::string(reinterpret_cast<const char*>(payload.data),
                       static_cast<std::size_t>(end - payload.data));
}

template <typename T>
bool assign(T& field, T value) {
    if (field == value) {
        return false;
    }
    field = std::move(value);
    return true;
}

Verdict apply_link(const nlmsghdr& header, std::vector<NetworkInterface>& interfaces, bool& changed) {
    const auto* info = family_header<ifinfomsg>(header);
    if (info == nullptr) {
        return Verdict::malformed;
    }
    // Bridges send RTM_NEWLINK/DELLINK with AF_BRIDGE about their ports: a DELLINK there means "left the
    // bridge", not "gone". The device itself is always described with AF_UNSPEC.
    if (info->ifi_family != AF_UNSPEC) {
        return Verdict::ignored;
    }
    if (info->ifi_index <= 0) {
        return Verdict::malformed;
    }
    std::optional<std::string> name;
    bool bad_name = false;
    const bool tiled = for_each_attribute(IFLA_RTA(info), attributes_length<ifinfomsg>(header),
                                          [&](unsigned type, Payload payload) {
                                              if (type == IFLA_IFNAME) {
                                                  name = interface_name(payload);
                                                  bad_name = bad_name || !name;
                                              }
                                          });
    if (!tiled || bad_name) {
        return Verdict::malformed;
    }

    const auto index = static_cast<unsigned>(info->ifi_index);
    if (header.nlmsg_type == RTM_DELLINK) {
        changed = nic_snapshot::erase_interface(interfaces, index) || changed;
        return Verdict::applied;
    }
    NetworkInterface* nic = nic_snapshot::find_by_index(interfaces, index);
    if (nic == nullptr) {
        if (!name) {
            return Verdict::malformed; // a new interface must say what it is called
        }
        NetworkInterface added;
        added.index = index;
        nic = &nic_snapshot::insert_interface(interfaces, std::move(added));
        changed = true;
    }
    const unsigned flags = info->ifi_flags;
    if (name) {
        changed = assign(nic->name, std::move(*name)) || changed;
    }
    changed = assign(nic->up, (flags & IFF_UP) != 0) || changed;
    changed = assign(nic->running, (flags & IFF_RUNNING) != 0) || changed;
    changed = assign(nic->lower_up, (flags & interface_lower_up) != 0) || changed;
    changed = assign(nic->loopback, (flags & IFF_LOOPBACK) != 0) || changed;
    return Verdict::applied;
}

Verdict apply_address(const nlmsghdr& header, std::vector<NetworkInterface>& interfaces, bool& changed) {
    const auto* info = family_header<ifaddrmsg>(header);
    if (info == nullptr) {
        return Verdict::malformed;
    }
    if (info->ifa_family != AF_INET && info->ifa_family != AF_INET6) {
        return Verdict::ignored;
    }
    const bool ipv6 = info->ifa_family == AF_INET6;
    const std::size_t width = ipv6 ? 16 : 4;
    const std::uint8_t* address = nullptr;
    const std::uint8_t* local = nullptr;
    std::uint32_t flags = info->ifa_flags; // IFA_FLAGS, when present, holds all 32 bits of them
    bool bad_attribute = false;
    const bool tiled = for_each_attribute(IFA_RTA(info), attributes_length<ifaddrmsg>(header),
                                          [&](unsigned type, Payload payload) {
                                              if (type == IFA_ADDRESS || type == IFA_LOCAL) {
                                                  bad_attribute = bad_attribute || payload.length != width;
                                                  (type == IFA_LOCAL ? local : address) = payload.data;
                                              } else if (type == IFA_FLAGS) {
                                                  if (payload.length != sizeof flags) {
                                                      bad_attribute = true;
                                                      return;
                                                  }
                                                  std::memcpy(&flags, payload.data, sizeof flags);
                                              }
                                          });
    if (!tiled || bad_attribute) {
        return Verdict::malformed;
    }
    // With a peer (point-to-point), IFA_LOCAL is our end and IFA_ADDRESS the peer's; without one the
    // kernel sends IFA_ADDRESS alone for IPv6 and both, equal, for IPv4.
    const std::uint8_t* ours = local != nullptr ? local : address;
    if (ours == nullptr) {
        return Verdict::malformed;
    }
    auto described = nic_snapshot::describe_address(ipv6, ours, info->ifa_prefixlen);
    if (!described) {
        return Verdict::malformed;
    }
    // An optimistic address (RFC 4429) may be bound while DAD runs; one whose DAD failed never can be.
    described->tentative = ipv6 && ((flags & IFA_F_DADFAILED) != 0 ||
                                    ((flags & IFA_F_TENTATIVE) != 0 && (flags & IFA_F_OPTIMISTIC) == 0));

    NetworkInterface* nic = nic_snapshot::find_by_index(interfaces, info->ifa_index);
    if (nic == nullptr) {
        return Verdict::ignored; // its RTM_NEWLINK is still to come, or the link is already gone
    }
    const bool touched = header.nlmsg_type == RTM_NEWADDR
                             ? nic_snapshot::put_address(*nic, std::move(*described))
                             : nic_snapshot::erase_address(*nic, *described);
    changed = touched || changed;
    return Verdict::applied;
}

// NLMSG_OK compares the header's unsigned length with the int the macros count in, which clang reports
// (GCC does not, the macro being a system header's).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
bool message_fits(const nlmsghdr* header, int remaining) {
    return NLMSG_OK(header, remaining);
}
#pragma GCC diagnostic pop

// A negative errno from the kernel as a positive one; anything outside errno's range is a protocol error.
int errno_from(int negative) {
    return negative < 0 && negative > -4096 ? -negative : EPROTO;
}

Walk handle(const nlmsghdr& header, std::vector<NetworkInterface>& interfaces,
            std::optional<std::uint32_t> dump_sequence, BatchOutcome& outcome) {
    if (dump_sequence && header.nlmsg_seq != *dump_sequence) {
        ++outcome.ignored; // a late answer to an earlier request
        return Walk::next;
    }
    if (dump_sequence && (header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
        outcome.dump_interrupted = true;
    }
    Verdict verdict = Verdict::ignored;
    switch (header.nlmsg_type) {
    case NLMSG_DONE:
        if (!dump_sequence) {
            break;
        }
        outcome.done = true;
        // The DONE message carries the dump's status (0, or a negative errno).
        if (header.nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
            int status = 0;
            std::memcpy(&status, NLMSG_DATA(&header), sizeof status);
            outcome.error = status < 0 ? errno_from(status) : 0;
        }
        return Walk::stop;
    case NLMSG_ERROR:
        if (!dump_sequence) {
            break;
        }
        if (header.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
            ++outcome.malformed;
            outcome.error = EPROTO;
            return Walk::stop;
        }
        {
            nlmsgerr answer{};
            std::memcpy(&answer, NLMSG_DATA(&header), sizeof answer);
            if (answer.error == 0) {
                break; // an acknowledgement
            }
            outcome.error = errno_from(answer.error);
        }
        return Walk::stop;
    case RTM_NEWLINK:
    case RTM_DELLINK:
        verdict = apply_link(header, interfaces, outcome.changed);
        break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
        verdict = apply_address(header, interfaces, outcome.changed);
        break;
    default:
        break;
    }
    switch (verdict) {
    case Verdict::applied:
        ++outcome.applied;
        break;
    case Verdict::ignored:
        ++outcome.ignored;
        break;
    case Verdict::malformed:
        ++outcome.malformed;
        break;
    }
    return Walk::next;
}

} // namespace netlink_parse_detail

BatchOutcome apply_messages(const void* data, std::size_t length, std::vector<NetworkInterface>& interfaces,
                            std::optional<std::uint32_t> dump_sequence) {
    namespace local = netlink_parse_detail;
    BatchOutcome outcome;
    if (data == nullptr || length == 0) {
        return outcome;
    }
    // The headers are read in place, which needs their alignment; a receive buffer has it, a test's byte
    // string may not.
    std::vector<std::uint32_t> aligned;
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(nlmsghdr) != 0) {
        aligned.resize(length / sizeof(std::uint32_t) + 1);
        std::memcpy(aligned.data(), data, length);
        data = aligned.data();
    }
    // The NLMSG_* macros count in int; netlink lengths are 32-bit anyway.
    int remaining = static_cast<int>(std::min<std::size_t>(length, INT_MAX));
    const auto* header = static_cast<const nlmsghdr*>(data);
    while (local::message_fits(header, remaining)) {
        if (local::handle(*header, interfaces, dump_sequence, outcome) == local::Walk::stop) {
            return outcome;
        }
        if (NLMSG_ALIGN(header->nlmsg_len) >= static_cast<unsigned>(remaining)) {
            return outcome; // the last one: stepping on would leave the buffer
        }
        header = NLMSG_NEXT(header, remaining);
    }
    // A header that claims less than itself or more than the buffer holds: nothing after it can be framed.
    ++outcome.malformed;
    return outcome;
}

} // namespace relayguard::hal::netlink_parse
