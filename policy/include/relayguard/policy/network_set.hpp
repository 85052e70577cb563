#pragma once
// CIDR prefixes and a set of them with O(address bits) lookup (a binary trie per family).
#include <relayguard/policy/ip_address.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy {

struct NetworkPrefix {
    IpAddress address; // host bits below `length` are zero
    unsigned length = 0;

    // "192.0.2.0/24", "2001:db8::/32", or a bare address meaning a full-length prefix. Host bits set
    // below the prefix length are an error ("192.0.2.1/24"), as a likely typo. An IPv4-mapped prefix
    // ("::ffff:10.0.0.0/104") becomes the IPv4 prefix it denotes. On failure `error` says why.
    static std::optional<NetworkPrefix> parse(std::string_view text, std::string* error = nullptr);
    bool contains(const IpAddress& address) const;
    std::string to_string() const;
    bool operator==(const NetworkPrefix& other) const {
        return address == other.address && length == other.length;
    }
};

class NetworkSet {
public:
    NetworkSet();
    ~NetworkSet();
    NetworkSet(const NetworkSet& other);
    NetworkSet& operator=(const NetworkSet& other);
    NetworkSet(NetworkSet&&) noexcept;
    NetworkSet& operator=(NetworkSet&&) noexcept;

    // Adds a prefix; prefixes keep the rank of their insertion order (0, 1, 2 …). Adding a prefix that
    // is already present keeps its first rank.
    void add(const NetworkPrefix& prefix);
    bool contains(const IpAddress& address) const { return first_match(address).has_value(); }
    // The lowest rank among the prefixes that contain the address: "first match wins" for ordered
    // lists, still in O(address bits).
    std::optional<std::size_t> first_match(const IpAddress& address) const;
    // The prefixes in insertion order, for linting and printing.
    const std::vector<NetworkPrefix>& prefixes() const { return prefixes_; }
    bool empty() const { return prefixes_.empty(); }

private:
    struct Node;
    std::vector<NetworkPrefix> prefixes_;
    std::unique_ptr<Node> v4_root_;
    std::unique_ptr<Node> v6_root_;
};

} // namespace relayguard::policy
