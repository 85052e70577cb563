#include <relayguard/proxy/client_key_hash.hpp>

#include <chrono>
#include <random>

namespace relayguard::proxy {
namespace client_key_hash_detail {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): every input bit affects every output bit.
constexpr std::uint64_t mix(std::uint64_t value) {
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

} // namespace client_key_hash_detail

std::size_t ClientKeyHash::operator()(const policy::IpAddress& key) const {
    // Both halves of the octets go through the mixer; the family goes into the seed, so an IPv4 address
    // and an IPv6 prefix with the same leading octets differ.
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    for (unsigned index = 0; index < 8; ++index) {
        high = high << 8 | key.octets()[index];
        low = low << 8 | key.octets()[index + 8];
    }
    const std::uint64_t family_tweak = key.is_v4() ? 0 : 0x9e3779b97f4a7c15ull;
    const std::uint64_t mixed_high = client_key_hash_detail::mix(high ^ seed ^ family_tweak);
    return static_cast<std::size_t>(client_key_hash_detail::mix(mixed_high ^ low));
}

// std::random_device may be unavailable on some C libraries; the clock is a weaker fallback, still
// unknown to a remote client to the nanosecond.
std::uint64_t unpredictable_seed() {
    try {
        std::random_device device;
        return std::uint64_t{device()} << 32 | device();
    } catch (...) {
        return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
}

} // namespace relayguard::proxy
