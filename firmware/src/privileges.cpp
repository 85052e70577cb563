#include "privileges.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace relayguard::firmware {
namespace privileges_detail {

// getpwnam_r and getgrnam_r want a caller's buffer; sysconf may not know a size. Entries from
// /etc/passwd are a few hundred bytes; NSS back-ends with long member lists need more, hence the retry.
constexpr std::size_t initial_lookup_buffer = 1024;
constexpr std::size_t max_lookup_buffer = 1024 * 1024;

std::string errno_text(int code) {
    return std::strerror(code);
}

// The capability sets of this process: version 3 has two 32-bit words per set.
struct CapabilitySets {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
};

bool read_capabilities(CapabilitySets& sets) {
    return syscall(SYS_capget, &sets.header, sets.data.data()) == 0;
}

bool has_effective(const CapabilitySets& sets, unsigned capability) {
    return (sets.data[capability / 32].effective & (1u << (capability % 32))) != 0;
}

// Only CAP_NET_BIND_SERVICE, permitted and effective; nothing inheritable.
bool keep_only_bind_service() {
    CapabilitySets sets;
    const unsigned bit = 1u << (CAP_NET_BIND_SERVICE % 32);
    sets.data[CAP_NET_BIND_SERVICE / 32].permitted = bit;
    sets.data[CAP_NET_BIND_SERVICE / 32].effective = bit;
    return syscall(SYS_capset, &sets.header, sets.data.data()) == 0;
}

// Drops every capability but CAP_NET_BIND_SERVICE from the bounding set (needs CAP_SETPCAP, so before
// the uid changes). Capabilities this kernel does not know end the loop with EINVAL.
void limit_bounding_set() {
    for (unsigned capability = 0; capability < 64; ++capability) {
        if (capability == CAP_NET_BIND_SERVICE) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno == EINVAL) {
            break;
        }
    }
}

} // namespace privileges_detail

std::optional<Account> find_account(const std::string& user, const std::string& group_name,
                                    std::string& error) {
    namespace local = privileges_detail;
    std::vector<char> buffer(local::initial_lookup_buffer);
    // Calls a *_r lookup, growing the buffer while it says ERANGE; returns its status.
    const auto with_room = [&buffer](const auto& lookup) {
        int status = 0;
        while ((status = lookup(buffer)) == ERANGE && buffer.size() < local::max_lookup_buffer) {
            buffer.resize(buffer.size() * 2);
        }
        return status;
    };
    const auto failure = [](int status) { return status != 0 ? " (" + local::errno_text(status) + ")" : ""; };

    passwd user_entry{};
    passwd* user_found = nullptr;
    int status = with_room([&](std::vector<char>& room) {
        return getpwnam_r(user.c_str(), &user_entry, room.data(), room.size(), &user_found);
    });
    if (user_found == nullptr) {
        error = "no user \"" + user + "\"" + failure(status);
        return std::nullopt;
    }
    Account account{user, user_found->pw_uid, group_name, user_found->pw_gid};

    group group_entry{};
    group* group_found = nullptr;
    if (group_name.empty()) {
        status = with_room([&](std::vector<char>& room) {
            return getgrgid_r(account.gid, &group_entry, room.data(), room.size(), &group_found);
        });
        account.group = group_found != nullptr ? group_found->gr_name : std::to_string(account.gid);
        return account;
    }
    status = with_room([&](std::vector<char>& room) {
        return getgrnam_r(group_name.c_str(), &group_entry, room.data(), room.size(), &group_found);
    });
    if (group_found == nullptr) {
        error = "no group \"" + group_name + "\"" + failure(status);
        return std::nullopt;
    }
    account.gid = group_found->gr_gid;
    return account;
}

std::optional<PrivilegeChange> drop_privileges(const Account& account, std::string& error) {
    namespace local = privileges_detail;
    const uid_t uid = static_cast<uid_t>(account.uid);
    const gid_t gid = static_cast<gid_t>(account.gid);
    if (geteuid() == uid && getuid() == uid && getegid() == gid) {
        return PrivilegeChange::already_that_account;
    }
    if (geteuid() != 0) {
        error = "started as uid " + std::to_string(geteuid()) + ", not as root: cannot switch to user " +
                account.user;
        return std::nullopt;
    }
    local::limit_bounding_set();
    // Keep the permitted set across setuid; the effective set is restored from it below.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
        error = "prctl(PR_SET_KEEPCAPS): " + local::errno_text(errno);
        return std::nullopt;
    }
    const gid_t groups[] = {gid};
    if (setgroups(1, groups) != 0) {
        error = "setgroups(" + account.group + "): " + local::errno_text(errno);
        return std::nullopt;
    }
    if (setresgid(gid, gid, gid) != 0) {
        error = "setresgid(" + account.group + "): " + local::errno_text(errno);
        return std::nullopt;
    }
    if (setresuid(uid, uid, uid) != 0) {
        error = "setresuid(" + account.user + "): " + local::errno_text(errno);
        return std::nullopt;
    }
    if (!local::keep_only_bind_service()) {
        error = "capset(CAP_NET_BIND_SERVICE): " + local::errno_text(errno);
        return std::nullopt;
    }
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        error = "prctl(PR_SET_NO_NEW_PRIVS): " + local::errno_text(errno);
        return std::nullopt;
    }
    // Belt and braces: a process that can become root again has dropped nothing.
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        error = "root could be regained after the switch";
        return std::nullopt;
    }
    return PrivilegeChange::switched;
}

bool can_bind_privileged_ports() {
    privileges_detail::CapabilitySets sets;
    return privileges_detail::read_capabilities(sets) &&
           privileges_detail::has_effective(sets, CAP_NET_BIND_SERVICE);
}

} // namespace relayguard::firmware
