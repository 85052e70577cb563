#pragma once
// Internal to the configuration loader: the parsers of single attribute values. Each returns nothing on
// failure and sets `why` to a message that quotes the value (never a secret) and says what was expected.
#include "config_problems.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/policy/network_set.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relayguard::policy::config_detail {

template <typename T>
using ValueParser = std::function<std::optional<T>(std::string_view text, std::string& why)>;

std::optional<std::uint16_t> parse_port_value(std::string_view text, std::string& why);
std::optional<bool> parse_boolean_value(std::string_view text, std::string& why);
std::optional<IpAddress> parse_ip_address_value(std::string_view text, std::string& why);
std::optional<NetworkPrefix> parse_network_value(std::string_view text, std::string& why);
// A literal address (returned in canonical form) or a host name (returned without a trailing dot).
std::optional<std::string> parse_host_value(std::string_view text, std::string& why);
// A host name only, as announced in the greeting and in EHLO replies.
std::optional<std::string> parse_host_name_value(std::string_view text, std::string& why);
std::optional<std::string> parse_interface_name_value(std::string_view text, std::string& why);
std::optional<std::string> parse_file_path_value(std::string_view text, std::string& why);
std::optional<std::string> parse_user_name_value(std::string_view text, std::string& why);
std::optional<PasswordHash> parse_password_hash_value(std::string_view text, std::string& why);
std::optional<std::vector<AuthMechanism>> parse_mechanisms_value(std::string_view text, std::string& why);
std::optional<std::vector<SenderPattern>> parse_senders_value(std::string_view text, std::string& why);

ValueParser<unsigned> whole_number_in(unsigned min, unsigned max);
ValueParser<std::chrono::milliseconds> duration_in(std::chrono::milliseconds min,
                                                   std::chrono::milliseconds max);
ValueParser<std::uint64_t> size_in(std::uint64_t min, std::uint64_t max);

// "1h", "15m", "250ms": the shortest exact way to write a duration in the configuration's own units.
std::string format_duration(std::chrono::milliseconds duration);
// "50M", "64K", "100": likewise for sizes.
std::string format_size(std::uint64_t size);

template <typename E>
struct Choice {
    std::string_view name;
    E value;
};

// One of a fixed set of keywords, matched exactly (lower case, as documented).
template <typename E>
ValueParser<E> one_of(std::vector<Choice<E>> choices) {
    return [choices = std::move(choices)](std::string_view text, std::string& why) -> std::optional<E> {
        std::string names;
        for (const Choice<E>& choice : choices) {
            if (choice.name == text) {
                return choice.value;
            }
            names += names.empty() ? "" : ", ";
            names += choice.name;
        }
        why = quoted(text) + " is not one of: " + names;
        return std::nullopt;
    };
}

} // namespace relayguard::policy::config_detail
