#include <relayguard/proxy/auth_failure_tracker.hpp>

#include <algorithm>
#include <limits>

namespace relayguard::proxy {
namespace auth_failure_tracker_detail {

// Expired entries dropped per record_failure besides those make_room drops: enough to keep up with the
// rate at which entries are created, small enough that no call does a long sweep.
constexpr std::size_t prune_batch = 4;

} // namespace auth_failure_tracker_detail

AuthFailureTracker::AuthFailureTracker(unsigned max_failures, std::chrono::milliseconds lockout,
                                       unsigned ipv6_prefix, std::size_t max_entries)
    : max_failures_(std::max(max_failures, 1u)),
      lockout_(std::chrono::duration_cast<Clock::duration>(lockout)), ipv6_prefix_(ipv6_prefix),
      max_entries_(std::max<std::size_t>(max_entries, 1)), entries_(0, ClientKeyHash{unpredictable_seed()}) {
}

bool AuthFailureTracker::expired(const Entry& entry, Clock::time_point now) const {
    return now - entry.last_failure >= lockout_;
}

void AuthFailureTracker::erase(const Key& key) {
    const auto found = entries_.find(key);
    if (found == entries_.end()) {
        return;
    }
    Order& order = found->second.in_locked_order ? locked_order_ : counting_order_;
    order.erase(found->second.position);
    entries_.erase(found);
}

void AuthFailureTracker::prune(Clock::time_point now, std::size_t limit) {
    for (Order* order : {&counting_order_, &locked_order_}) {
        // Each order is sorted by last failure, so its expired entries are at its front.
        while (limit > 0 && !order->empty() && expired(entries_.at(order->front()), now)) {
            erase(order->front());
            --limit;
        }
    }
}

void AuthFailureTracker::make_room(Clock::time_point now) {
    if (entries_.size() < max_entries_) {
        return;
    }
    prune(now, std::numeric_limits<std::size_t>::max());
    if (entries_.size() < max_entries_) {
        return;
    }
    // A client still below the limit loses at most a few counted failures; a lockout is kept as long
    // as there is anything else to give up.
    erase(!counting_order_.empty() ? counting_order_.front() : locked_order_.front());
}

unsigned AuthFailureTracker::record_failure(const policy::IpAddress& client, Clock::time_point now) {
    prune(now, auth_failure_tracker_detail::prune_batch);
    const Key key = key_of(client);
    auto found = entries_.find(key);
    if (found != entries_.end() && expired(found->second, now)) {
        erase(key);
        found = entries_.end();
    }
    if (found == entries_.end()) {
        make_room(now);
        found = entries_.emplace(key, Entry{}).first;
        try {
            found->second.position = counting_order_.insert(counting_order_.end(), key);
        } catch (...) {
            entries_.erase(found);
            throw;
        }
    }

    Entry& entry = found->second;
    if (entry.failures < std::numeric_limits<unsigned>::max()) {
        ++entry.failures;
    }
    entry.last_failure = now;
    // Moving the entry to the back of its order keeps both orders sorted by last failure (the clock
    // only goes forward); splice moves the node without allocating.
    const bool locked = entry.failures >= max_failures_;
    Order& from = entry.in_locked_order ? locked_order_ : counting_order_;
    Order& to = locked ? locked_order_ : counting_order_;
    to.splice(to.end(), from, entry.position);
    entry.in_locked_order = locked;
    return entry.failures;
}

void AuthFailureTracker::record_success(const policy::IpAddress& client) {
    erase(key_of(client));
}

bool AuthFailureTracker::locked_out(const policy::IpAddress& client, Clock::time_point now) const {
    const auto found = entries_.find(key_of(client));
    return found != entries_.end() && found->second.failures >= max_failures_ && !expired(found->second, now);
}

} // namespace relayguard::proxy
