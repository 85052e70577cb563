#pragma once
// The abuse limits on mail, per <limits mail-rate-window>: messages (counted at MAIL) and recipients
// (at RCPT) per client — Postfix's smtpd_client_message_rate_limit and _recipient_rate_limit, the
// relay allowlist exempt as Postfix exempts $mynetworks — and per AUTH login, which neither Postfix
// nor nginx has: a phished password is the incident that follows closing an open relay, and it sends
// from many addresses under one name. A login over one of its rates in `login-lockout-after` windows,
// each beginning less than `login-lockout` after the one before ended (so a login that keeps sending
// window after window adds up), is disabled for `login-lockout` (an account that suddenly sends
// thousands of recipients an hour is a stolen account). Refused events count too, as in Postfix's
// anvil. Pure: the time is passed in, so tests step it by hand.
//
// Memory: the client tables are bounded as ClientRateTracker's; logins are only counted once
// authenticated, so there are at most as many as the configuration has users, and the logins of
// sessions still open under an earlier configuration (a reload forgets logins that are no longer users,
// except disabled ones: removing a phished account must not lift its lockout for its open sessions).
#include <relayguard/policy/config.hpp>
#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/client_rate_tracker.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace relayguard::proxy {

class MailRateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    enum class Event { message, recipient };

    struct Decision {
        enum class Outcome { within, client_over, login_over, login_disabled };
        Outcome outcome = Outcome::within;
        // Refused: the client's or the login's events of this kind in its window; within: the login's.
        unsigned count = 0;
        bool disabled_now = false; // this event disabled the login
        bool refused() const { return outcome != Outcome::within; }
    };

    explicit MailRateLimiter(const policy::LimitsConfig& limits);

    // A reload: new limits, the counts kept, unless the window or <limits client-ipv6-prefix> changed
    // (the windows then restart at the next event); logins that are no longer users are forgotten,
    // except disabled ones (their lockout runs out as it would have).
    void reconfigure(const policy::LimitsConfig& limits, const std::vector<policy::UserConfig>& users);

    // Counts one event of a session: against its login when it authenticated (`login` not empty),
    // then against its client unless `trusted_client`.
    Decision record(Event event, const policy::IpAddress& client, bool trusted_client,
                    const std::string& login, Clock::time_point now);

    // Whether the login is disabled now (AUTH answers it 454 before the password is checked).
    bool login_disabled(const std::string& login, Clock::time_point now) const;

    // The reply for a refused event, without its line end: Postfix's words for the client limits
    // ("450 4.7.1 Error: too much mail from 192.0.2.7"), the same words naming the login for the others.
    static std::string refusal(const Decision& decision, Event event, std::string_view client,
                               std::string_view login);

    std::size_t tracked_logins() const { return logins_.size(); }
    std::chrono::milliseconds login_lockout() const { return login_lockout_; }
    unsigned login_lockout_after() const { return login_lockout_after_; }

private:
    struct LoginState {
        bool window_open = false; // false: the next event begins a window (a new login, or after a reload)
        Clock::time_point window_start;
        unsigned messages = 0;
        unsigned recipients = 0;
        bool over_in_this_window = false;
        unsigned strikes = 0; // windows over a rate, each less than login_lockout after the one before
        Clock::time_point last_strike_window; // when the last window over a rate began
        Clock::time_point disabled_until;
        bool disabled = false;
    };

    void set_limits(const policy::LimitsConfig& limits);
    Decision record_login(Event event, const std::string& login, Clock::time_point now);
    bool limits_logins() const { return max_login_message_rate_ != 0 || max_login_recipient_rate_ != 0; }

    unsigned max_message_rate_ = 0;
    unsigned max_recipient_rate_ = 0;
    unsigned max_login_message_rate_ = 0;
    unsigned max_login_recipient_rate_ = 0;
    Clock::duration window_{};
    unsigned ipv6_prefix_ = 64;
    unsigned login_lockout_after_ = 0;
    std::chrono::milliseconds login_lockout_{};
    std::unique_ptr<ClientRateTracker> client_messages_;
    std::unique_ptr<ClientRateTracker> client_recipients_;
    std::unordered_map<std::string, LoginState> logins_;
};

} // namespace relayguard::proxy
