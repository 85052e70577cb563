#include <relayguard/policy/ip_address.hpp>

#include <cstddef>

namespace relayguard::policy {
namespace ip_address_detail {

// The longest valid text is "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"; anything longer is
// rejected before it is looked at.
constexpr std::size_t kMaxAddressText = 45;
constexpr std::size_t kV6Groups = 8;
constexpr std::size_t kMaxHexDigitsPerGroup = 4;
constexpr std::size_t kMaxDecimalDigitsPerOctet = 3;

bool is_decimal_digit(char c) {
    return c >= '0' && c <= '9';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Strict dotted quad: four decimal octets, no leading zeros ("010" is octal to some parsers and
// decimal to others, so it is refused rather than guessed).
bool parse_v4(std::string_view text, std::array<std::uint8_t, 4>& octets) {
    std::size_t position = 0;
    for (std::size_t index = 0; index < octets.size(); ++index) {
        if (index > 0) {
            if (position >= text.size() || text[position] != '.') {
                return false;
            }
            ++position;
        }
        const std::size_t start = position;
        unsigned value = 0;
        while (position < text.size() && is_decimal_digit(text[position]) &&
               position - start < kMaxDecimalDigitsPerOctet) {
            value = value * 10 + static_cast<unsigned>(text[position] - '0');
            ++position;
        }
        const std::size_t digits = position - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) {
            return false;
        }
        octets[index] = static_cast<std::uint8_t>(value);
    }
    return position == text.size();
}

// RFC 4291 §2.2: eight groups of one to four hex digits, at most one "::" standing for one or more
// zero groups, and optionally a dotted quad in place of the last two groups.
bool parse_v6(std::string_view text, std::array<std::uint8_t, 16>& octets) {
    std::array<std::uint16_t, kV6Groups> groups{};
    std::size_t count = 0;
    std::size_t gap_at = kV6Groups + 1; // group index where "::" stands; > kV6Groups means none
    std::size_t position = 0;

    if (text.size() >= 2 && text[0] == ':' && text[1] == ':') {
        gap_at = 0;
        position = 2;
    }
    while (position < text.size()) {
        const std::size_t start = position;
        unsigned value = 0;
        while (position < text.size() && hex_value(text[position]) >= 0) {
            if (position - start < kMaxHexDigitsPerGroup) {
                value = value * 16 + static_cast<unsigned>(hex_value(text[position]));
            }
            ++position;
        }
        if (position < text.size() && text[position] == '.') {
            std::array<std::uint8_t, 4> tail{};
            if (count + 2 > kV6Groups || !parse_v4(text.substr(start), tail)) {
                return false;
            }
            groups[count++] = static_cast<std::uint16_t>(tail[0] << 8 | tail[1]);
            groups[count++] = static_cast<std::uint16_t>(tail[2] << 8 | tail[3]);
            position = text.size();
            break;
        }
        const std::size_t digits = position - start;
        if (digits == 0 || digits > kMaxHexDigitsPerGroup || count == kV6Groups) {
            return false;
        }
        groups[count++] = static_cast<std::uint16_t>(value);
        if (position == text.size()) {
            break;
        }
        if (text[position] != ':') {
            return false;
        }
        ++position;
        if (position < text.size() && text[position] == ':') {
            if (gap_at <= kV6Groups) {
                return false;
            }
            gap_at = count;
            ++position;
        } else if (position == text.size()) {
            return false; // a single trailing colon
        }
    }

    std::array<std::uint16_t, kV6Groups> expanded{};
    if (gap_at <= kV6Groups) {
        if (count >= kV6Groups) {
            return false; // "::" must stand for at least one group
        }
        const std::size_t zeros = kV6Groups - count;
        for (std::size_t index = 0; index < count; ++index) {
            expanded[index < gap_at ? index : index + zeros] = groups[index];
        }
    } else {
        if (count != kV6Groups) {
            return false;
        }
        expanded = groups;
    }
    for (std::size_t index = 0; index < kV6Groups; ++index) {
        octets[2 * index] = static_cast<std::uint8_t>(expanded[index] >> 8);
        octets[2 * index + 1] = static_cast<std::uint8_t>(expanded[index] & 0xffu);
    }
    return true;
}

std::string v4_text(const std::array<std::uint8_t, 16>& octets) {
    std::string text;
    for (std::size_t index = 0; index < 4; ++index) {
        if (index > 0) {
            text += '.';
        }
        text += std::to_string(octets[index]);
    }
    return text;
}

// RFC 5952 §4: lower case, no leading zeros, "::" for the longest run (leftmost on a tie) of two or
// more zero groups.
std::string v6_text(const std::array<std::uint8_t, 16>& octets) {
    std::array<unsigned, kV6Groups> groups{};
    for (std::size_t index = 0; index < kV6Groups; ++index) {
        groups[index] = static_cast<unsigned>(octets[2 * index] << 8 | octets[2 * index + 1]);
    }
    std::size_t best_start = kV6Groups;
    std::size_t best_length = 1;
    for (std::size_t index = 0; index < kV6Groups;) {
        if (groups[index] != 0) {
            ++index;
            continue;
        }
        std::size_t end = index;
        while (end < kV6Groups && groups[end] == 0) {
            ++end;
        }
        if (end - index > best_length) {
            best_start = index;
            best_length = end - index;
        }
        index = end;
    }

    static constexpr char kHexDigits[] = "0123456789abcdef";
    std::string text;
    for (std::size_t index = 0; index < kV6Groups; ++index) {
        if (index == best_start) {
            text += "::";
            index += best_length - 1;
            continue;
        }
        if (!text.empty() && text.back() != ':') {
            text += ':';
        }
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned digit = (groups[index] >> shift) & 0xfu;
            if (digit != 0 || started || shift == 0) {
                text += kHexDigits[digit];
                started = true;
            }
        }
    }
    return text;
}

} // namespace ip_address_detail

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() > ip_address_detail::kMaxAddressText) {
        return std::nullopt;
    }
    if (text.find(':') == std::string_view::npos) {
        std::array<std::uint8_t, 4> octets{};
        if (!ip_address_detail::parse_v4(text, octets)) {
            return std::nullopt;
        }
        return from_v4(octets);
    }
    std::array<std::uint8_t, 16> octets{};
    if (!ip_address_detail::parse_v6(text, octets)) {
        return std::nullopt;
    }
    return from_v6(octets);
}

IpAddress IpAddress::from_v4(const std::array<std::uint8_t, 4>& octets) {
    IpAddress address;
    address.family_ = Family::v4;
    for (std::size_t index = 0; index < octets.size(); ++index) {
        address.octets_[index] = octets[index];
    }
    return address;
}

IpAddress IpAddress::from_v6(const std::array<std::uint8_t, 16>& octets) {
    // ::ffff:0:0/96 (RFC 4291 §2.5.5.2) is how a dual-stack socket shows an IPv4 client.
    bool mapped = octets[10] == 0xff && octets[11] == 0xff;
    for (std::size_t index = 0; index < 10 && mapped; ++index) {
        mapped = octets[index] == 0;
    }
    if (mapped) {
        return from_v4({octets[12], octets[13], octets[14], octets[15]});
    }
    IpAddress address;
    address.family_ = Family::v6;
    address.octets_ = octets;
    return address;
}

IpAddress IpAddress::client_block(unsigned ipv6_prefix) const {
    if (is_v4()) {
        return *this;
    }
    IpAddress block = *this;
    for (unsigned index = 0; index < block.octets_.size(); ++index) {
        const unsigned first_bit = index * 8;
        if (ipv6_prefix <= first_bit) {
            block.octets_[index] = 0;
        } else if (ipv6_prefix < first_bit + 8) {
            block.octets_[index] &= static_cast<std::uint8_t>(0xff00u >> (ipv6_prefix - first_bit));
        }
    }
    return block;
}

std::string IpAddress::to_string() const {
    return is_v4() ? ip_address_detail::v4_text(octets_) : ip_address_detail::v6_text(octets_);
}

} // namespace relayguard::policy
