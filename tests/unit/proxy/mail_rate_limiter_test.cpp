#include "client_addresses.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/proxy/mail_rate_limiter.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using relayguard::proxy::MailRateLimiter;

namespace mail_rate_limiter_test {

using client_addresses::address;
using client_addresses::start;
using Event = MailRateLimiter::Event;
using Outcome = MailRateLimiter::Decision::Outcome;

relayguard::policy::LimitsConfig limits(unsigned client_messages, unsigned client_recipients,
                                        unsigned login_messages, unsigned login_recipients) {
    relayguard::policy::LimitsConfig config;
    config.max_message_rate = client_messages;
    config.max_recipient_rate = client_recipients;
    config.max_login_message_rate = login_messages;
    config.max_login_recipient_rate = login_recipients;
    config.mail_rate_window = std::chrono::hours(1);
    config.login_lockout_after = 3;
    config.login_lockout = std::chrono::hours(2);
    return config;
}

std::vector<relayguard::policy::UserConfig> users(std::vector<std::string> names) {
    std::vector<relayguard::policy::UserConfig> result;
    for (std::string& name : names) {
        relayguard::policy::UserConfig user;
        user.name = std::move(name);
        result.push_back(std::move(user));
    }
    return result;
}

} // namespace mail_rate_limiter_test

TEST_CASE("mail rate limiter refuses a client's messages and recipients over their rates",
          "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    MailRateLimiter limiter(limits(2, 3, 0, 0));
    const auto client = address("192.0.2.7");
    REQUIRE(limiter.record(Event::message, client, false, "", start).outcome == Outcome::within);
    REQUIRE(limiter.record(Event::message, client, false, "", start).outcome == Outcome::within);
    const auto third = limiter.record(Event::message, client, false, "", start);
    REQUIRE(third.outcome == Outcome::client_over);
    REQUIRE(third.count == 3);
    REQUIRE(MailRateLimiter::refusal(third, Event::message, "192.0.2.7", "") ==
            "450 4.7.1 Error: too much mail from 192.0.2.7");
    // Recipients have a count of their own.
    for (int recipient = 0; recipient < 3; ++recipient) {
        REQUIRE(limiter.record(Event::recipient, client, false, "", start).outcome == Outcome::within);
    }
    const auto fourth = limiter.record(Event::recipient, client, false, "", start);
    REQUIRE(fourth.outcome == Outcome::client_over);
    REQUIRE(MailRateLimiter::refusal(fourth, Event::recipient, "192.0.2.7", "") ==
            "450 4.7.1 Error: too many recipients from 192.0.2.7");
    // Another client, a trusted one, and the next window are not affected.
    REQUIRE(limiter.record(Event::message, address("192.0.2.8"), false, "", start).outcome ==
            Outcome::within);
    for (int message = 0; message < 10; ++message) {
        REQUIRE_FALSE(limiter.record(Event::message, client, true, "", start).refused());
    }
    REQUIRE(limiter.record(Event::message, client, false, "", start + std::chrono::hours(1)).outcome ==
            Outcome::within);
}

TEST_CASE("mail rate limiter counts a login wherever it connects from", "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    MailRateLimiter limiter(limits(0, 0, 0, 4));
    for (unsigned number = 0; number < 4; ++number) {
        const auto client = client_addresses::numbered_v4(number);
        REQUIRE(limiter.record(Event::recipient, client, true, "alice", start).outcome == Outcome::within);
    }
    const auto over = limiter.record(Event::recipient, address("198.51.100.1"), false, "alice", start);
    REQUIRE(over.outcome == Outcome::login_over);
    REQUIRE(over.count == 5);
    REQUIRE(MailRateLimiter::refusal(over, Event::recipient, "198.51.100.1", "alice") ==
            "450 4.7.1 Error: too many recipients from login alice");
    // Other logins and unauthenticated sessions are not affected; messages are not limited here.
    REQUIRE(limiter.record(Event::recipient, address("198.51.100.1"), false, "bob", start).outcome ==
            Outcome::within);
    REQUIRE(limiter.record(Event::recipient, address("198.51.100.1"), false, "", start).outcome ==
            Outcome::within);
    REQUIRE(limiter.record(Event::message, address("198.51.100.1"), false, "alice", start).outcome ==
            Outcome::within);
    REQUIRE_FALSE(limiter.login_disabled("alice", start));
}

TEST_CASE("mail rate limiter disables a login over its rate in repeated windows", "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    MailRateLimiter limiter(limits(0, 0, 1, 0)); // one message an hour; disabled after 3 windows over it
    const auto client = address("192.0.2.7");
    auto window = start;
    for (int strike = 1; strike <= 2; ++strike) {
        REQUIRE(limiter.record(Event::message, client, false, "alice", window).outcome == Outcome::within);
        REQUIRE(limiter.record(Event::message, client, false, "alice", window).outcome ==
                Outcome::login_over);
        // More refusals in the same window are one strike.
        REQUIRE(limiter.record(Event::message, client, false, "alice", window).outcome ==
                Outcome::login_over);
        window += std::chrono::hours(1);
    }
    REQUIRE(limiter.record(Event::message, client, false, "alice", window).outcome == Outcome::within);
    const auto third = limiter.record(Event::message, client, false, "alice", window);
    REQUIRE(third.outcome == Outcome::login_disabled);
    REQUIRE(third.disabled_now);
    REQUIRE(MailRateLimiter::refusal(third, Event::message, "192.0.2.7", "alice") ==
            "450 4.7.1 Error: login alice is disabled for sending too much mail");
    REQUIRE(limiter.login_disabled("alice", window));
    // Disabled for login-lockout (2h), for every event and whatever the client.
    const auto later = window + std::chrono::hours(2) - std::chrono::seconds(1);
    const auto refused = limiter.record(Event::recipient, address("198.51.100.1"), true, "alice", later);
    REQUIRE(refused.outcome == Outcome::login_disabled);
    REQUIRE_FALSE(refused.disabled_now);
    REQUIRE_FALSE(limiter.login_disabled("bob", later));
    // Then a clean start.
    const auto served = window + std::chrono::hours(2);
    REQUIRE_FALSE(limiter.login_disabled("alice", served));
    REQUIRE(limiter.record(Event::message, client, false, "alice", served).outcome == Outcome::within);
    REQUIRE(limiter.record(Event::message, client, false, "alice", served).outcome == Outcome::login_over);
}

TEST_CASE("mail rate limiter forgets strikes further apart than the lockout period", "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    MailRateLimiter limiter(limits(0, 0, 1, 0));
    const auto client = address("192.0.2.7");
    auto window = start;
    for (int strike = 0; strike < 5; ++strike) {
        limiter.record(Event::message, client, false, "alice", window);
        REQUIRE(limiter.record(Event::message, client, false, "alice", window).outcome ==
                Outcome::login_over);
        window += std::chrono::hours(3); // beyond the 2h lockout period since the last strike
    }
    REQUIRE_FALSE(limiter.login_disabled("alice", window));
}

TEST_CASE("mail rate limiter keeps counts and lockouts across a reload of the same window",
          "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    auto config = limits(1, 0, 1, 0);
    config.login_lockout_after = 1;
    MailRateLimiter limiter(config);
    const auto client = address("192.0.2.7");
    limiter.record(Event::message, client, false, "", start);
    limiter.record(Event::message, client, false, "alice", start);
    REQUIRE(limiter.record(Event::message, client, false, "alice", start).disabled_now);
    limiter.record(Event::message, client, false, "bob", start);

    config.max_message_rate = 2;
    limiter.reconfigure(config, users({"alice", "bob"}));
    REQUIRE(limiter.login_disabled("alice", start));
    REQUIRE(limiter.record(Event::message, address("192.0.2.9"), false, "", start).outcome ==
            Outcome::within);
    limiter.record(Event::message, client, false, "", start);
    REQUIRE(limiter.record(Event::message, client, false, "", start).outcome == Outcome::client_over);
    REQUIRE(limiter.tracked_logins() == 2);

    // A login that is no longer a user is forgotten; a new window length restarts the counts but a
    // lockout in force is served out.
    config.mail_rate_window = std::chrono::minutes(30);
    limiter.reconfigure(config, users({"alice"}));
    REQUIRE(limiter.tracked_logins() == 1);
    REQUIRE(limiter.login_disabled("alice", start));
    REQUIRE(limiter.record(Event::message, client, false, "", start).outcome == Outcome::within);
}

TEST_CASE("mail rate limiter counts nothing when no limit is set", "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    MailRateLimiter limiter(limits(0, 0, 0, 0));
    for (int event = 0; event < 1000; ++event) {
        REQUIRE_FALSE(
            limiter.record(Event::recipient, address("192.0.2.7"), false, "alice", start).refused());
    }
    REQUIRE(limiter.tracked_logins() == 0);
}

TEST_CASE("mail rate limiter with the default window and lockout disables a login that keeps sending",
          "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    relayguard::policy::LimitsConfig config; // mail-rate-window 1h, login-lockout-after 3, login-lockout 1h
    config.max_login_recipient_rate = 100;
    REQUIRE(config.mail_rate_window == config.login_lockout);
    MailRateLimiter limiter(config);
    const auto client = address("192.0.2.7");
    // A steady 120 recipients an hour: each window begins right after the one before ended.
    auto window = start;
    for (int hour = 0; hour < 3; ++hour) {
        MailRateLimiter::Decision last;
        for (int recipient = 0; recipient < 120; ++recipient) {
            last = limiter.record(Event::recipient, client, false, "alice",
                                  window + std::chrono::seconds(recipient * 30));
        }
        REQUIRE(last.outcome == (hour < 2 ? Outcome::login_over : Outcome::login_disabled));
        window += std::chrono::hours(1);
    }
    REQUIRE(limiter.login_disabled("alice", window));
}

TEST_CASE("mail rate limiter keeps a disabled login that a reload removes", "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    auto config = limits(0, 0, 1, 0);
    config.login_lockout_after = 1;
    MailRateLimiter limiter(config);
    const auto client = address("192.0.2.7");
    limiter.record(Event::message, client, false, "alice", start);
    REQUIRE(limiter.record(Event::message, client, false, "alice", start).disabled_now);
    limiter.record(Event::message, client, false, "bob", start);
    REQUIRE(limiter.tracked_logins() == 2);
    // Sessions logged in as alice may still be open under the old configuration.
    limiter.reconfigure(config, users({}));
    REQUIRE(limiter.tracked_logins() == 1);
    REQUIRE(limiter.login_disabled("alice", start + std::chrono::minutes(1)));
    REQUIRE(limiter.record(Event::message, client, false, "alice", start + std::chrono::minutes(1)).outcome ==
            Outcome::login_disabled);
}

TEST_CASE("mail rate limiter begins new windows at the next event after the window length changes",
          "[mail_rate_limiter]") {
    using namespace mail_rate_limiter_test;
    auto config = limits(0, 0, 2, 0);
    MailRateLimiter limiter(config);
    const auto client = address("192.0.2.7");
    limiter.record(Event::message, client, false, "alice", start);
    REQUIRE(limiter.record(Event::message, client, false, "alice", start).outcome == Outcome::within);
    REQUIRE(limiter.record(Event::message, client, false, "alice", start).outcome == Outcome::login_over);
    config.mail_rate_window = std::chrono::minutes(10);
    limiter.reconfigure(config, users({"alice"}));
    const auto after = start + std::chrono::minutes(1);
    REQUIRE(limiter.record(Event::message, client, false, "alice", after).count == 1);
    REQUIRE(limiter.record(Event::message, client, false, "alice", after + std::chrono::minutes(9)).count ==
            2);
    REQUIRE(limiter.record(Event::message, client, false, "alice", after + std::chrono::minutes(10)).count ==
            1);
}
