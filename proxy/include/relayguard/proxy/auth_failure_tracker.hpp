#pragma once
// Failed AUTH attempts per client, for the brute-force lockout: after `max_failures` failures in a row
// a client is locked out until `lockout` has passed since its last failure (the session answers
// "421 4.7.0 Too many authentication failures" and the server refuses it at connect). Pure: the time is
// passed in, so tests step it by hand.
//
// Clients are counted per IPv4 address and per IPv6 prefix (<limits client-ipv6-prefix>, a /64 by
// default). A single IPv6 host normally owns a whole /64 (SLAAC, RFC 4291 §2.5.1 interface identifiers;
// providers delegate at least a /64), so it can pick a fresh address for every attempt; counting per
// address would let it guess without limit.
//
// Memory is bounded: at most `max_entries` clients are tracked. When a new one arrives and the table is
// full, entries whose lockout has expired go first, then the entry with the oldest last failure among
// clients not locked out, and a locked-out client only when every entry is locked out. So a
// flood of fresh addresses cannot flush a lockout unless it earns as many lockouts itself. Expired
// entries are otherwise pruned lazily, a few at each call. All operations are O(1) amortized.
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/client_key_hash.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

namespace relayguard::proxy {

// 10'000 entries take about 1.4 MB on a 64-bit board (map node, bucket and list node: some 140 bytes
// each), less on a 32-bit one: affordable on a router, and more clients than a small site's server
// sees failing within one lockout period unless it is under attack.
inline constexpr std::size_t default_max_tracked_clients = 10'000;

class AuthFailureTracker {
public:
    using Clock = std::chrono::steady_clock;

    // `max_failures` >= 1 (the configuration loader guarantees it; 0 is taken as 1). `max_entries` >= 1.
    AuthFailureTracker(unsigned max_failures, std::chrono::milliseconds lockout, unsigned ipv6_prefix = 64,
                       std::size_t max_entries = default_max_tracked_clients);

    // Counts one failure and returns the failures in a row, this one included. A client whose last
    // failure is `lockout` or longer ago starts again at 1.
    unsigned record_failure(const policy::IpAddress& client, Clock::time_point now);
    // A successful login forgets the client's failures.
    void record_success(const policy::IpAddress& client);
    // True when the client has `max_failures` failures in a row and the last one is less than
    // `lockout` ago.
    bool locked_out(const policy::IpAddress& client, Clock::time_point now) const;

    // Clients tracked now, expired ones not yet pruned included.
    std::size_t size() const { return entries_.size(); }

private:
    // An IPv4 address or an IPv6 prefix (IpAddress::client_block).
    using Key = policy::IpAddress;
    using KeyHash = ClientKeyHash;
    // Oldest last failure first; one list for clients below the limit, one for locked-out clients.
    using Order = std::list<Key>;
    struct Entry {
        unsigned failures = 0;
        Clock::time_point last_failure;
        bool in_locked_order = false;
        Order::iterator position;
    };

    Key key_of(const policy::IpAddress& client) const { return client.client_block(ipv6_prefix_); }
    bool expired(const Entry& entry, Clock::time_point now) const;
    void erase(const Key& key);
    // Drops expired entries from the front of both orders, at most `limit` of them.
    void prune(Clock::time_point now, std::size_t limit);
    void make_room(Clock::time_point now);

    unsigned max_failures_;
    Clock::duration lockout_;
    unsigned ipv6_prefix_;
    std::size_t max_entries_;
    std::unordered_map<Key, Entry, KeyHash> entries_;
    Order counting_order_;
    Order locked_order_;
};

} // namespace relayguard::proxy
