#pragma once
// The rtnetlink parser behind the Linux NIC monitor, kept a pure function of bytes so that tests feed it
// truncated and hostile buffers without a socket. Internal to hal/ (the unit tests include it by path).
//
// Every length is checked before it is used: a message whose header claims more than the buffer holds
// ends the walk (the framing after it cannot be trusted); a message whose body or attributes do not fit
// its own length is skipped whole, never applied in part.
#include <relayguard/hal/nic.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace relayguard::hal::netlink_parse {

// IFF_LOWER_UP (carrier). It is defined in <linux/if.h>, which cannot share a translation unit with the C
// library's <net/if.h> (under musl in either order; unity builds make that likely), and glibc's
// <net/if.h> lacks it. The value is kernel ABI.
constexpr unsigned interface_lower_up = 0x10000;

struct BatchOutcome {
    bool changed = false;          // the snapshot is different afterwards
    bool done = false;             // NLMSG_DONE of the awaited dump arrived
    bool dump_interrupted = false; // NLM_F_DUMP_INTR: the tables changed while being dumped; dump again
    int error = 0;                 // errno from an NLMSG_ERROR (or a failed NLMSG_DONE) of the awaited dump
    unsigned applied = 0;          // well-formed link and address messages applied (changing or not)
    unsigned ignored = 0;          // well-formed but not ours: other types, families, sequence numbers
    unsigned malformed = 0;        // messages skipped as malformed, plus one for bytes that frame nothing
};

// Applies the RTM_NEWLINK/DELLINK/NEWADDR/DELADDR messages in `data` to `interfaces` (kept in the order of
// nic_snapshot.hpp). With `dump_sequence`, only messages carrying that sequence number count and the walk
// stops at the dump's NLMSG_DONE or NLMSG_ERROR; without it (multicast events), control messages are
// ignored. `data` needs no particular alignment.
BatchOutcome apply_messages(const void* data, std::size_t length, std::vector<NetworkInterface>& interfaces,
                            std::optional<std::uint32_t> dump_sequence);

} // namespace relayguard::hal::netlink_parse
