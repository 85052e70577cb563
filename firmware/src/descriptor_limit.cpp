#include "descriptor_limit.hpp"

#include <cerrno>
#include <cstring>
#include <sys/resource.h>

namespace relayguard::firmware {
namespace descriptor_limit_detail {

// Linux's default fs.nr_open: the most a process may have when the hard limit says "unlimited".
constexpr rlim_t nr_open_default = 1024 * 1024;
// stdin/out/err, the log and pid files, the watchdog, netlink, the PBKDF2 worker's wake-up, some slack.
constexpr std::uint64_t fixed_descriptors = 32;

} // namespace descriptor_limit_detail

DescriptorLimit raise_descriptor_limit() {
    DescriptorLimit result;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.error = std::string("getrlimit: ") + std::strerror(errno);
        return result;
    }
    result.before = limit.rlim_cur;
    result.now = limit.rlim_cur;
    const rlim_t target =
        limit.rlim_max == RLIM_INFINITY ? descriptor_limit_detail::nr_open_default : limit.rlim_max;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= target) {
        return result;
    }
    limit.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.error = std::string("setrlimit: ") + std::strerror(errno);
        return result;
    }
    result.now = target;
    return result;
}

std::uint64_t descriptors_needed(unsigned sessions, std::size_t listeners) {
    return 2 * std::uint64_t{sessions} + listeners + descriptor_limit_detail::fixed_descriptors;
}

} // namespace relayguard::firmware
