#include "config_element.hpp"
#include "config_sections.hpp"

#include <chrono>

namespace relayguard::policy {
namespace config_platform_sections_detail {

// Linux watchdog drivers take whole seconds, most of them up to a minute or a few; beyond an hour a
// hung box would stay hung for too long to be worth a watchdog.
constexpr std::chrono::milliseconds min_watchdog_timeout = std::chrono::seconds(1);
constexpr std::chrono::milliseconds max_watchdog_timeout = std::chrono::hours(1);
constexpr std::size_t max_account_name_length = 32; // useradd's limit on Debian, busybox's on OpenWrt

// A system account or group name as useradd and busybox adduser accept them: letters, digits, "_", "-"
// and ".", not starting with "-" or a digit (so it can never be mistaken for an option or a number).
std::optional<std::string> parse_account_name_value(std::string_view text, std::string& why) {
    bool valid = !text.empty() && text.size() <= max_account_name_length && text.front() != '-' &&
                 (text.front() < '0' || text.front() > '9');
    for (const char c : text) {
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool digit = c >= '0' && c <= '9';
        valid = valid && (letter || digit || c == '_' || c == '-' || c == '.');
    }
    if (!valid) {
        why = config_detail::quoted(text) + " is not an account name (1-" +
              std::to_string(max_account_name_length) +
              " letters, digits, _ - or ., not starting with - or a digit)";
        return std::nullopt;
    }
    return std::string(text);
}

} // namespace config_platform_sections_detail

namespace config_detail {

void read_run_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_platform_sections_detail;
    const ConfigElement element(xml, log, {"user", "group", "pid-file"});
    element.reject_children();
    RunConfig& run = draft.config.run;
    element.read("user", run.user, local::parse_account_name_value);
    const bool group_given = element.read("group", run.group, local::parse_account_name_value);
    element.read("pid-file", run.pid_file, parse_file_path_value);
    if (group_given && !element.attribute("user")) {
        element.error("group", "a group without a user changes nothing; add user=\"...\"");
    }
}

void read_watchdog_section(const tinyxml2::XMLElement& xml, ConfigDraft& draft, ProblemLog& log) {
    namespace local = config_platform_sections_detail;
    const ConfigElement element(xml, log, {"backend", "device", "timeout"});
    element.reject_children();
    WatchdogConfig& watchdog = draft.config.watchdog;
    const bool backend_read = element.read("backend", watchdog.backend,
                                           one_of<WatchdogMode>({{"auto", WatchdogMode::automatic},
                                                                 {"device", WatchdogMode::device},
                                                                 {"systemd", WatchdogMode::systemd},
                                                                 {"procd", WatchdogMode::procd},
                                                                 {"none", WatchdogMode::none}}));
    const bool device_given = element.read("device", watchdog.device, parse_file_path_value);
    element.read("timeout", watchdog.timeout,
                 duration_in(local::min_watchdog_timeout, local::max_watchdog_timeout));
    const bool backend_known = backend_read || !element.attribute("backend");
    if (device_given && backend_known && watchdog.backend != WatchdogMode::device) {
        // The device is never opened unless named by backend="device": opening it arms a reset.
        element.error("device", "is only used with backend=\"device\"");
    }
}

} // namespace config_detail
} // namespace relayguard::policy
