#include <relayguard/proxy/client_rate_tracker.hpp>

#include <algorithm>
#include <limits>

namespace relayguard::proxy {
namespace client_rate_tracker_detail {

// Ended windows dropped per call: more than the one entry a call can add, so the table shrinks back
// after a burst of clients, and never a long sweep inside one accept.
constexpr std::size_t prune_batch = 4;

} // namespace client_rate_tracker_detail

ClientRateTracker::ClientRateTracker(std::chrono::milliseconds window, unsigned ipv6_prefix,
                                     std::size_t max_entries)
    : window_(std::chrono::duration_cast<Clock::duration>(std::max(window, std::chrono::milliseconds{1}))),
      ipv6_prefix_(ipv6_prefix), max_entries_(std::max<std::size_t>(max_entries, 1)),
      entries_(0, ClientKeyHash{unpredictable_seed()}) {
}

void ClientRateTracker::erase_front() {
    entries_.erase(order_.front());
    order_.pop_front();
}

unsigned ClientRateTracker::record(const policy::IpAddress& client, Clock::time_point now) {
    for (std::size_t pruned = 0; pruned < client_rate_tracker_detail::prune_batch && !order_.empty() &&
                                 ended(entries_.at(order_.front()), now);
         ++pruned) {
        erase_front();
    }
    const Key key = client.client_block(ipv6_prefix_);
    auto found = entries_.find(key);
    if (found == entries_.end()) {
        while (entries_.size() >= max_entries_) {
            erase_front(); // the oldest window, ended or not
        }
        found = entries_.emplace(key, Entry{}).first;
        try {
            found->second.position = order_.insert(order_.end(), key);
        } catch (...) {
            entries_.erase(found);
            throw;
        }
        found->second.window_start = now;
    }
    Entry& entry = found->second;
    if (ended(entry, now)) {
        // A new window: to the back of the order, which stays sorted by window start (the clock only
        // goes forward); splice moves the node without allocating.
        entry.events = 0;
        entry.window_start = now;
        order_.splice(order_.end(), order_, entry.position);
    }
    if (entry.events < std::numeric_limits<unsigned>::max()) {
        ++entry.events;
    }
    return entry.events;
}

} // namespace relayguard::proxy
