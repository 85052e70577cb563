#pragma once
// Events per client per time window: connections for <limits max-connection-rate>, messages and
// recipients for max-message-rate and max-recipient-rate (Postfix's smtpd_client_*_rate_limit,
// counted as its anvil server counts them): a client's window begins at its first event and lasts
// `window`; its next event after that begins a new window. The caller refuses the event that takes the
// count over its limit. Pure: the time is passed in, so tests step it by hand.
//
// Clients are counted per IPv4 address and per IPv6 prefix (<limits client-ipv6-prefix>), as for the
// AUTH lockout: one IPv6 host can pick a fresh address of its /64 for every connection.
//
// Memory is bounded: at most `max_entries` clients are tracked. Entries are kept in the order their
// windows began, so the ended ones are at the front and go first, a few at each call; when the table
// is full of running windows, the oldest goes. So a client could only escape its count by making the
// table turn over within one window, from `max_entries` other clients of its own. O(1) amortized.
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/client_key_hash.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <unordered_map>

namespace relayguard::proxy {

class ClientRateTracker {
public:
    using Clock = std::chrono::steady_clock;

    // 10'000 entries: as for the AUTH failures, about 1.4 MB at most on a 64-bit board.
    static constexpr std::size_t default_max_entries = 10'000;

    // `window` > 0 (the configuration loader guarantees at least a second). `max_entries` >= 1.
    explicit ClientRateTracker(std::chrono::milliseconds window, unsigned ipv6_prefix = 64,
                               std::size_t max_entries = default_max_entries);

    // Counts one event and returns the client's events in its current window, this one included.
    unsigned record(const policy::IpAddress& client, Clock::time_point now);

    // Clients tracked now, ended windows not yet pruned included.
    std::size_t size() const { return entries_.size(); }

private:
    using Key = policy::IpAddress; // an IPv4 address or an IPv6 prefix (IpAddress::client_block)
    using Order = std::list<Key>;  // oldest window first
    struct Entry {
        unsigned events = 0;
        Clock::time_point window_start;
        Order::iterator position;
    };

    bool ended(const Entry& entry, Clock::time_point now) const {
        return now - entry.window_start >= window_;
    }
    void erase_front();

    Clock::duration window_;
    unsigned ipv6_prefix_;
    std::size_t max_entries_;
    std::unordered_map<Key, Entry, ClientKeyHash> entries_;
    Order order_;
};

} // namespace relayguard::proxy
