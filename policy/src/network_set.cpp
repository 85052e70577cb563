#include <relayguard/policy/network_set.hpp>

#include <array>
#include <cstddef>
#include <utility>

namespace relayguard::policy {
namespace network_set_detail {

// An address (at most 45 characters), a slash and three digits.
constexpr std::size_t kMaxPrefixText = 49;
constexpr unsigned kMappedPrefixBits = 96; // ::ffff:0:0/96
constexpr std::size_t kMaxLengthDigits = 3;

void set_error(std::string* error, std::string message) {
    if (error != nullptr) {
        *error = std::move(message);
    }
}

// Decimal, no sign, no leading zeros: "24" but not "+24", "024" or "0x18".
std::optional<unsigned> parse_length(std::string_view text) {
    if (text.empty() || text.size() > kMaxLengthDigits || (text.size() > 1 && text[0] == '0')) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value;
}

IpAddress with_host_bits_cleared(const IpAddress& address, unsigned length) {
    std::array<std::uint8_t, 16> octets = address.octets();
    for (unsigned index = length; index < address.bit_count(); ++index) {
        octets[index / 8] = static_cast<std::uint8_t>(octets[index / 8] & ~(0x80u >> (index % 8)));
    }
    if (address.is_v4()) {
        return IpAddress::from_v4({octets[0], octets[1], octets[2], octets[3]});
    }
    return IpAddress::from_v6(octets);
}

} // namespace network_set_detail

std::optional<NetworkPrefix> NetworkPrefix::parse(std::string_view text, std::string* error) {
    using network_set_detail::set_error;
    if (text.empty()) {
        set_error(error, "empty network");
        return std::nullopt;
    }
    if (text.size() > network_set_detail::kMaxPrefixText) {
        set_error(error, "network is too long to be an address or prefix");
        return std::nullopt;
    }
    const std::size_t slash = text.find('/');
    const std::string_view address_text = text.substr(0, slash);
    const std::optional<IpAddress> address = IpAddress::parse(address_text);
    if (!address) {
        set_error(error, "not an IPv4 or IPv6 address: \"" + std::string(address_text) + "\"");
        return std::nullopt;
    }
    // IpAddress folds ::ffff:a.b.c.d to IPv4, so the written length counts IPv6 bits when the text
    // was IPv6 but the address is now IPv4.
    const bool written_as_v6 = address_text.find(':') != std::string_view::npos;
    const unsigned written_bits = written_as_v6 ? 128u : 32u;
    unsigned length = written_bits;
    if (slash != std::string_view::npos) {
        const std::optional<unsigned> parsed = network_set_detail::parse_length(text.substr(slash + 1));
        if (!parsed || *parsed > written_bits) {
            set_error(error,
                      "prefix length must be a decimal number from 0 to " + std::to_string(written_bits));
            return std::nullopt;
        }
        length = *parsed;
    }
    if (written_as_v6 && address->is_v4()) {
        if (length < network_set_detail::kMappedPrefixBits) {
            set_error(error, "an IPv4-mapped prefix needs a length of at least 96");
            return std::nullopt;
        }
        length -= network_set_detail::kMappedPrefixBits;
    }

    NetworkPrefix prefix{network_set_detail::with_host_bits_cleared(*address, length), length};
    if (prefix.address != *address) {
        set_error(error, "host bits set; did you mean " + prefix.to_string() + "?");
        return std::nullopt;
    }
    return prefix;
}

bool NetworkPrefix::contains(const IpAddress& candidate) const {
    if (candidate.family() != address.family() || length > address.bit_count()) {
        return false;
    }
    const auto& mine = address.octets();
    const auto& theirs = candidate.octets();
    const unsigned whole_octets = length / 8;
    for (unsigned index = 0; index < whole_octets; ++index) {
        if (mine[index] != theirs[index]) {
            return false;
        }
    }
    const unsigned remaining_bits = length % 8;
    if (remaining_bits == 0) {
        return true;
    }
    const unsigned mask = (0xffu << (8 - remaining_bits)) & 0xffu;
    return ((mine[whole_octets] ^ theirs[whole_octets]) & mask) == 0;
}

std::string NetworkPrefix::to_string() const {
    return address.to_string() + "/" + std::to_string(length);
}

// One node per prefix bit; a node carries a rank when a prefix ends there.
struct NetworkSet::Node {
    std::optional<std::size_t> rank;
    std::unique_ptr<Node> children[2];

    // Recursion depth is bounded by 129 (an IPv6 prefix's bits plus the root).
    std::unique_ptr<Node> clone() const {
        auto copy = std::make_unique<Node>();
        copy->rank = rank;
        for (std::size_t side = 0; side < 2; ++side) {
            if (children[side]) {
                copy->children[side] = children[side]->clone();
            }
        }
        return copy;
    }
};

NetworkSet::NetworkSet() = default;
NetworkSet::~NetworkSet() = default;
NetworkSet::NetworkSet(NetworkSet&&) noexcept = default;
NetworkSet& NetworkSet::operator=(NetworkSet&&) noexcept = default;

NetworkSet::NetworkSet(const NetworkSet& other)
    : prefixes_(other.prefixes_), v4_root_(other.v4_root_ ? other.v4_root_->clone() : nullptr),
      v6_root_(other.v6_root_ ? other.v6_root_->clone() : nullptr) {
}

NetworkSet& NetworkSet::operator=(const NetworkSet& other) {
    if (this != &other) {
        NetworkSet copy(other);
        *this = std::move(copy);
    }
    return *this;
}

void NetworkSet::add(const NetworkPrefix& prefix) {
    std::unique_ptr<Node>& root = prefix.address.is_v4() ? v4_root_ : v6_root_;
    if (!root) {
        root = std::make_unique<Node>();
    }
    const unsigned length =
        prefix.length < prefix.address.bit_count() ? prefix.length : prefix.address.bit_count();
    Node* node = root.get();
    for (unsigned index = 0; index < length; ++index) {
        std::unique_ptr<Node>& child = node->children[prefix.address.bit(index) ? 1 : 0];
        if (!child) {
            child = std::make_unique<Node>();
        }
        node = child.get();
    }
    if (node->rank) {
        return; // already present: the first insertion's rank stands
    }
    node->rank = prefixes_.size();
    prefixes_.push_back(
        NetworkPrefix{network_set_detail::with_host_bits_cleared(prefix.address, length), length});
}

std::optional<std::size_t> NetworkSet::first_match(const IpAddress& address) const {
    const Node* node = address.is_v4() ? v4_root_.get() : v6_root_.get();
    std::optional<std::size_t> best;
    for (unsigned index = 0; node != nullptr; ++index) {
        if (node->rank && (!best || *node->rank < *best)) {
            best = node->rank;
        }
        if (index == address.bit_count()) {
            break;
        }
        node = node->children[address.bit(index) ? 1 : 0].get();
    }
    return best;
}

} // namespace relayguard::policy
