#pragma once
// An IPv4 or IPv6 address as plain bytes. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are folded to
// IPv4 when parsed or built, so a mapped client always meets the IPv4 rules written for it.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::policy {

class IpAddress {
public:
    enum class Family : std::uint8_t { v4, v6 };

    // Accepts dotted-quad IPv4 and every RFC 4291 text form of IPv6 (no zone index, no brackets).
    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress from_v4(const std::array<std::uint8_t, 4>& octets);
    // Folds an IPv4-mapped address to IPv4.
    static IpAddress from_v6(const std::array<std::uint8_t, 16>& octets);

    Family family() const { return family_; }
    bool is_v4() const { return family_ == Family::v4; }
    // 32 for IPv4, 128 for IPv6.
    unsigned bit_count() const { return is_v4() ? 32u : 128u; }
    // Bit i counted from the most significant bit of the first octet.
    bool bit(unsigned index) const { return (octets_[index / 8] >> (7 - index % 8)) & 1u; }
    // The first 4 (IPv4) or 16 (IPv6) octets are meaningful.
    const std::array<std::uint8_t, 16>& octets() const { return octets_; }

    // The block of addresses one client is taken to control, for counting clients: an IPv4 address
    // alone; for IPv6 the first `ipv6_prefix` bits (at most 128) with the rest zeroed, since one host
    // normally owns a whole /64 and can use a fresh address for every connection.
    IpAddress client_block(unsigned ipv6_prefix) const;

    // Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6.
    std::string to_string() const;

    bool operator==(const IpAddress& other) const {
        return family_ == other.family_ && octets_ == other.octets_;
    }
    bool operator!=(const IpAddress& other) const { return !(*this == other); }

private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> octets_{};
};

} // namespace relayguard::policy
