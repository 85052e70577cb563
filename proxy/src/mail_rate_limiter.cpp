#include <relayguard/proxy/mail_rate_limiter.hpp>

#include <algorithm>
#include <limits>
#include <unordered_set>

namespace relayguard::proxy {
namespace mail_rate_limiter_detail {

unsigned saturating_increment(unsigned& count) {
    if (count < std::numeric_limits<unsigned>::max()) {
        ++count;
    }
    return count;
}

} // namespace mail_rate_limiter_detail

MailRateLimiter::MailRateLimiter(const policy::LimitsConfig& limits) {
    set_limits(limits);
    client_messages_ = std::make_unique<ClientRateTracker>(limits.mail_rate_window, ipv6_prefix_);
    client_recipients_ = std::make_unique<ClientRateTracker>(limits.mail_rate_window, ipv6_prefix_);
}

void MailRateLimiter::set_limits(const policy::LimitsConfig& limits) {
    max_message_rate_ = limits.max_message_rate;
    max_recipient_rate_ = limits.max_recipient_rate;
    max_login_message_rate_ = limits.max_login_message_rate;
    max_login_recipient_rate_ = limits.max_login_recipient_rate;
    window_ = std::chrono::duration_cast<Clock::duration>(limits.mail_rate_window);
    ipv6_prefix_ = limits.client_ipv6_prefix;
    login_lockout_after_ = limits.login_lockout_after;
    login_lockout_ = limits.login_lockout;
}

void MailRateLimiter::reconfigure(const policy::LimitsConfig& limits,
                                  const std::vector<policy::UserConfig>& users) {
    const bool recount = std::chrono::duration_cast<Clock::duration>(limits.mail_rate_window) != window_ ||
                         limits.client_ipv6_prefix != ipv6_prefix_;
    set_limits(limits);
    if (recount) {
        client_messages_ = std::make_unique<ClientRateTracker>(limits.mail_rate_window, ipv6_prefix_);
        client_recipients_ = std::make_unique<ClientRateTracker>(limits.mail_rate_window, ipv6_prefix_);
        for (auto& [login, state] : logins_) {
            state.window_open = false; // the windows restart at the next event; a lockout is served out
        }
    }
    std::unordered_set<std::string_view> names;
    for (const policy::UserConfig& user : users) {
        names.insert(user.name);
    }
    for (auto entry = logins_.begin(); entry != logins_.end();) {
        const bool keep = names.count(entry->first) != 0 || entry->second.disabled;
        entry = keep ? std::next(entry) : logins_.erase(entry);
    }
}

bool MailRateLimiter::login_disabled(const std::string& login, Clock::time_point now) const {
    if (logins_.empty()) {
        return false;
    }
    const auto found = logins_.find(login);
    return found != logins_.end() && found->second.disabled && now < found->second.disabled_until;
}

MailRateLimiter::Decision MailRateLimiter::record_login(Event event, const std::string& login,
                                                        Clock::time_point now) {
    using Outcome = Decision::Outcome;
    if (!limits_logins() && logins_.empty()) {
        return {}; // the common case: nothing to count against and no lockout in force
    }
    const unsigned limit = event == Event::message ? max_login_message_rate_ : max_login_recipient_rate_;
    const auto found = logins_.find(login);
    if (limit == 0 && (found == logins_.end() || !found->second.disabled)) {
        return {};
    }
    LoginState& state = found != logins_.end() ? found->second : logins_[login];
    if (state.disabled) {
        if (now < state.disabled_until) {
            return {Outcome::login_disabled, 0, false};
        }
        state = LoginState{}; // the lockout is served: a clean start
    }
    if (limit == 0) {
        return {};
    }
    if (!state.window_open || now - state.window_start >= window_) {
        state.window_open = true;
        state.window_start = now;
        state.messages = state.recipients = 0;
        state.over_in_this_window = false;
    }
    const unsigned count = mail_rate_limiter_detail::saturating_increment(
        event == Event::message ? state.messages : state.recipients);
    if (count <= limit) {
        return {Outcome::within, count, false};
    }
    if (!state.over_in_this_window) {
        state.over_in_this_window = true;
        // Windows are back to back while the login keeps sending, so the gap is measured from the end
        // of the last window over a rate to the start of this one.
        const Clock::time_point last_window_end = state.last_strike_window + window_;
        if (state.strikes > 0 && state.window_start - last_window_end >= login_lockout_) {
            state.strikes = 0; // too long ago to add up with this one
        }
        ++state.strikes;
        state.last_strike_window = state.window_start;
        if (login_lockout_after_ > 0 && state.strikes >= login_lockout_after_) {
            state.disabled = true;
            state.disabled_until = now + std::chrono::duration_cast<Clock::duration>(login_lockout_);
            return {Outcome::login_disabled, count, true};
        }
    }
    return {Outcome::login_over, count, false};
}

MailRateLimiter::Decision MailRateLimiter::record(Event event, const policy::IpAddress& client,
                                                  bool trusted_client, const std::string& login,
                                                  Clock::time_point now) {
    Decision decision;
    if (!login.empty()) {
        decision = record_login(event, login, now);
        if (decision.refused()) {
            return decision;
        }
    }
    const unsigned limit = event == Event::message ? max_message_rate_ : max_recipient_rate_;
    if (limit == 0 || trusted_client) {
        return decision;
    }
    ClientRateTracker& tracker = event == Event::message ? *client_messages_ : *client_recipients_;
    const unsigned count = tracker.record(client, now);
    if (count > limit) {
        return {Decision::Outcome::client_over, count, false};
    }
    return decision;
}

std::string MailRateLimiter::refusal(const Decision& decision, Event event, std::string_view client,
                                     std::string_view login) {
    std::string reply = "450 4.7.1 Error: ";
    if (decision.outcome == Decision::Outcome::login_disabled) {
        reply += "login ";
        reply.append(login);
        reply += " is disabled for sending too much mail";
        return reply;
    }
    reply += event == Event::message ? "too much mail from " : "too many recipients from ";
    if (decision.outcome == Decision::Outcome::login_over) {
        reply += "login ";
        reply.append(login);
    } else {
        reply.append(client);
    }
    return reply;
}

} // namespace relayguard::proxy
