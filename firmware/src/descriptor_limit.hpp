#pragma once
// The process's limit on open file descriptors (RLIMIT_NOFILE). A session holds two (the client and its
// upstream connection), so the soft limit most service managers and shells start a daemon with (1024)
// caps relayguard below a few hundred sessions whatever <limits max-connections> says. At boot the soft
// limit is raised to the hard limit, which only root can raise (systemd's LimitNOFILE=, procd's
// `procd_set_param limits nofile=`), as nginx's worker_rlimit_nofile and Postfix's master do.
#include <cstdint>
#include <string>

namespace relayguard::firmware {

struct DescriptorLimit {
    std::uint64_t before = 0; // the soft limit found
    std::uint64_t now = 0;    // the soft limit afterwards (the hard limit, unless raising failed)
    std::string error;        // why it could not be raised (it stays `before`); empty otherwise
};

// Raises the soft RLIMIT_NOFILE to the hard one. An unlimited hard limit (which Linux refuses as a soft
// descriptor limit) raises it to fs.nr_open's default ceiling instead.
DescriptorLimit raise_descriptor_limit();

// Descriptors `sessions` (both connection pools) need with their upstream connections, plus the listeners,
// the log, the watchdog and netlink: what the limit should allow.
std::uint64_t descriptors_needed(unsigned sessions, std::size_t listeners);

} // namespace relayguard::firmware
