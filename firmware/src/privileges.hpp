#pragma once
// Dropping root after the listeners are bound (<run user group>), keeping CAP_NET_BIND_SERVICE so that
// listeners opened later (an interface gained an address, a reload added a port) can still bind port
// 25. Linux capabilities are set with the raw capset system call: no libcap on the board.
#include <optional>
#include <string>

namespace relayguard::firmware {

struct Account {
    std::string user;
    unsigned uid = 0;
    std::string group;
    unsigned gid = 0;
};

// Looks up `user` and `group` (empty: the user's primary group). Error text names what is missing.
std::optional<Account> find_account(const std::string& user, const std::string& group_name,
                                    std::string& error);

// What drop_privileges did, for the boot log.
enum class PrivilegeChange { switched, already_that_account };

// Switches the process to `account`: the supplementary groups become the account's group alone, then
// the gid, then the uid; every capability is dropped from the bounding, permitted and effective sets but
// CAP_NET_BIND_SERVICE, and no-new-privileges is set. Already running as that account (a systemd unit
// with User=): nothing to do. Another non-root account: an error. Afterwards it checks that root cannot
// be regained; if it could, that is an error too (the caller must not go on).
std::optional<PrivilegeChange> drop_privileges(const Account& account, std::string& error);

// Whether CAP_NET_BIND_SERVICE is in the effective set now.
bool can_bind_privileged_ports();

} // namespace relayguard::firmware
