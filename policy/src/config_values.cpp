#include "config_values.hpp"

#include <relayguard/policy/ascii.hpp>
#include <relayguard/policy/units.hpp>

#include <cstddef>

namespace relayguard::policy {
namespace config_values_detail {

constexpr std::size_t max_host_name_length = 253;     // RFC 1035 §3.1, written without the final dot
constexpr std::size_t max_label_length = 63;          // RFC 1035 §2.3.4
constexpr std::size_t max_interface_name_length = 15; // Linux IFNAMSIZ - 1
constexpr std::size_t max_file_path_length = 4095;    // Linux PATH_MAX - 1
constexpr std::size_t max_user_name_length = 255;
constexpr std::size_t max_number_digits = 10;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_visible_ascii(char c) {
    return c > ' ' && c < 0x7f;
}

bool all_visible_ascii(std::string_view text) {
    for (const char c : text) {
        if (!is_visible_ascii(c)) {
            return false;
        }
    }
    return true;
}

std::optional<std::uint64_t> parse_digits(std::string_view text) {
    if (text.empty() || text.size() > max_number_digits) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        if (!is_digit(c)) {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

// RFC 1123 §2.1 host names: letters, digits and hyphens in dot-separated labels. A name whose last label
// is all digits is refused, because it is almost always a mistyped IPv4 address ("192.0.2.300").
bool is_host_name(std::string_view name) {
    if (name.empty() || name.size() > max_host_name_length) {
        return false;
    }
    std::size_t label_start = 0;
    bool label_all_digits = true;
    for (std::size_t index = 0; index <= name.size(); ++index) {
        if (index == name.size() || name[index] == '.') {
            const std::size_t length = index - label_start;
            if (length == 0 || length > max_label_length || name[label_start] == '-' ||
                name[index - 1] == '-') {
                return false;
            }
            if (index == name.size() && label_all_digits) {
                return false;
            }
            label_start = index + 1;
            label_all_digits = true;
            continue;
        }
        const char c = name[index];
        if (!is_letter(c) && !is_digit(c) && c != '-') {
            return false;
        }
        label_all_digits = label_all_digits && is_digit(c);
    }
    return true;
}

std::string_view without_final_dot(std::string_view name) {
    if (name.size() > 1 && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t index = 0;
    while (index < text.size()) {
        while (index < text.size() && is_ascii_space(text[index])) {
            ++index;
        }
        const std::size_t start = index;
        while (index < text.size() && !is_ascii_space(text[index])) {
            ++index;
        }
        if (index > start) {
            words.push_back(text.substr(start, index - start));
        }
    }
    return words;
}

} // namespace config_values_detail

namespace config_detail {

std::optional<std::uint16_t> parse_port_value(std::string_view text, std::string& why) {
    const std::optional<std::uint64_t> number = config_values_detail::parse_digits(text);
    if (!number || *number < 1 || *number > 65535) {
        why = quoted(text) + " is not a port number (1-65535)";
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(*number);
}

std::optional<bool> parse_boolean_value(std::string_view text, std::string& why) {
    if (text == "true") {
        return true;
    }
    if (text == "false") {
        return false;
    }
    why = quoted(text) + " is not a boolean (true or false)";
    return std::nullopt;
}

std::optional<IpAddress> parse_ip_address_value(std::string_view text, std::string& why) {
    std::optional<IpAddress> address = IpAddress::parse(text);
    if (!address) {
        why = quoted(text) + " is not an IPv4 or IPv6 address";
    }
    return address;
}

std::optional<NetworkPrefix> parse_network_value(std::string_view text, std::string& why) {
    std::string reason;
    std::optional<NetworkPrefix> network = NetworkPrefix::parse(text, &reason);
    if (!network) {
        why = quoted(text) + " is not a network (such as 192.0.2.0/24 or 2001:db8::/32)";
        if (!reason.empty()) {
            why += ": " + reason;
        }
    }
    return network;
}

std::optional<std::string> parse_host_value(std::string_view text, std::string& why) {
    if (const std::optional<IpAddress> address = IpAddress::parse(text)) {
        return address->to_string();
    }
    const std::string_view name = config_values_detail::without_final_dot(text);
    if (!config_values_detail::is_host_name(name)) {
        why = quoted(text) + " is neither an IP address nor a host name";
        return std::nullopt;
    }
    return std::string(name);
}

std::optional<std::string> parse_host_name_value(std::string_view text, std::string& why) {
    const std::string_view name = config_values_detail::without_final_dot(text);
    if (!config_values_detail::is_host_name(name)) {
        why =
            quoted(text) + " is not a host name (letters, digits, hyphens and dots, such as mx.example.com)";
        return std::nullopt;
    }
    return std::string(name);
}

std::optional<std::string> parse_interface_name_value(std::string_view text, std::string& why) {
    // The kernel's own rule (dev_valid_name): no slash, colon or white space, and not "." or "..".
    const bool valid = !text.empty() && text.size() <= config_values_detail::max_interface_name_length &&
                       config_values_detail::all_visible_ascii(text) &&
                       text.find_first_of("/:") == std::string_view::npos && text != "." && text != "..";
    if (!valid) {
        why = quoted(text) + " is not a network interface name (1-15 characters, no / or :)";
        return std::nullopt;
    }
    return std::string(text);
}

std::optional<std::string> parse_file_path_value(std::string_view text, std::string& why) {
    if (text.empty() || text.size() > config_values_detail::max_file_path_length) {
        why = "a file name of 1-" + std::to_string(config_values_detail::max_file_path_length) +
              " characters is required";
        return std::nullopt;
    }
    for (const char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            why = quoted(text) + " contains a control character";
            return std::nullopt;
        }
    }
    return std::string(text);
}

std::optional<std::string> parse_user_name_value(std::string_view text, std::string& why) {
    if (text.empty() || text.size() > config_values_detail::max_user_name_length ||
        !config_values_detail::all_visible_ascii(text)) {
        why = quoted(text) + " is not a user name (1-" +
              std::to_string(config_values_detail::max_user_name_length) +
              " visible ASCII characters, no spaces)";
        return std::nullopt;
    }
    return std::string(text);
}

std::optional<PasswordHash> parse_password_hash_value(std::string_view text, std::string& why) {
    std::string reason;
    std::optional<PasswordHash> hash = PasswordHash::parse(text, &reason);
    if (!hash) {
        // The value itself is never shown: even a mangled hash is secret material.
        why = "not a valid password hash";
        if (!reason.empty()) {
            why += " (" + reason + ")";
        }
        why += "; create one with `relayguard passwd`";
    }
    return hash;
}

std::optional<std::vector<AuthMechanism>> parse_mechanisms_value(std::string_view text, std::string& why) {
    static const std::vector<Choice<AuthMechanism>> supported{{"PLAIN", AuthMechanism::plain},
                                                              {"LOGIN", AuthMechanism::login}};
    std::vector<AuthMechanism> mechanisms;
    for (const std::string_view word : config_values_detail::split_words(text)) {
        const Choice<AuthMechanism>* match = nullptr;
        for (const Choice<AuthMechanism>& choice : supported) {
            if (equals_ignoring_ascii_case(choice.name, word)) {
                match = &choice;
            }
        }
        if (match == nullptr) {
            why = quoted(word) + " is not a supported mechanism (supported: PLAIN LOGIN)";
            return std::nullopt;
        }
        for (const AuthMechanism listed : mechanisms) {
            if (listed == match->value) {
                why = quoted(word) + " is listed twice";
                return std::nullopt;
            }
        }
        mechanisms.push_back(match->value);
    }
    if (mechanisms.empty()) {
        why = "no mechanism given (supported: PLAIN LOGIN)";
        return std::nullopt;
    }
    return mechanisms;
}

std::optional<std::vector<SenderPattern>> parse_senders_value(std::string_view text, std::string& why) {
    std::vector<SenderPattern> senders;
    for (const std::string_view word : config_values_detail::split_words(text)) {
        std::optional<SenderPattern> sender = SenderPattern::parse(word);
        if (!sender) {
            why =
                quoted(word) + " is neither a sender address (alice@example.com) nor a domain (@example.com)";
            return std::nullopt;
        }
        senders.push_back(std::move(*sender));
    }
    if (senders.empty()) {
        why = "no sender given; leave the attribute out to let the user send as anyone";
        return std::nullopt;
    }
    return senders;
}

ValueParser<unsigned> whole_number_in(unsigned min, unsigned max) {
    return [min, max](std::string_view text, std::string& why) -> std::optional<unsigned> {
        const std::optional<std::uint64_t> number = config_values_detail::parse_digits(text);
        if (!number) {
            why = quoted(text) + " is not a whole number";
            return std::nullopt;
        }
        if (*number < min || *number > max) {
            why = quoted(text) + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")";
            return std::nullopt;
        }
        return static_cast<unsigned>(*number);
    };
}

ValueParser<std::chrono::milliseconds> duration_in(std::chrono::milliseconds min,
                                                   std::chrono::milliseconds max) {
    return [min, max](std::string_view text, std::string& why) -> std::optional<std::chrono::milliseconds> {
        const std::optional<std::chrono::milliseconds> duration = parse_duration(text);
        if (!duration) {
            why = quoted(text) + " is not a duration (such as 250ms, 30s, 5m, 1h)";
            return std::nullopt;
        }
        if (*duration < min || *duration > max) {
            why =
                quoted(text) + " is out of range (" + format_duration(min) + "-" + format_duration(max) + ")";
            return std::nullopt;
        }
        return duration;
    };
}

ValueParser<std::uint64_t> size_in(std::uint64_t min, std::uint64_t max) {
    return [min, max](std::string_view text, std::string& why) -> std::optional<std::uint64_t> {
        const std::optional<std::uint64_t> size = parse_size(text);
        if (!size) {
            why = quoted(text) + " is not a size (such as 512K, 50M, 1G)";
            return std::nullopt;
        }
        if (*size < min || *size > max) {
            why = quoted(text) + " is out of range (" + format_size(min) + "-" + format_size(max) + ")";
            return std::nullopt;
        }
        return size;
    };
}

std::string format_duration(std::chrono::milliseconds duration) {
    const auto count = static_cast<std::uint64_t>(duration.count());
    static const std::vector<Choice<std::uint64_t>> units{
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}};
    for (const Choice<std::uint64_t>& unit : units) {
        if (count != 0 && count % unit.value == 0) {
            return std::to_string(count / unit.value) + std::string(unit.name);
        }
    }
    return std::to_string(count) + "ms";
}

std::string format_size(std::uint64_t size) {
    static const std::vector<Choice<std::uint64_t>> units{
        {"G", 1024ull * 1024 * 1024}, {"M", 1024ull * 1024}, {"K", 1024}};
    for (const Choice<std::uint64_t>& unit : units) {
        if (size != 0 && size % unit.value == 0) {
            return std::to_string(size / unit.value) + std::string(unit.name);
        }
    }
    return std::to_string(size);
}

} // namespace config_detail
} // namespace relayguard::policy
