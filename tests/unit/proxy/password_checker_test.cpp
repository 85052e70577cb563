#include <relayguard/policy/credentials.hpp>
#include <relayguard/proxy/password_checker.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using relayguard::policy::PasswordHash;
using relayguard::proxy::PasswordChecker;
using CheckResult = relayguard::proxy::PasswordChecker::CheckResult;

namespace password_checker_test {

// Waits that should end at once; only a broken checker reaches this, and then the test fails instead
// of hanging. Nothing is asserted about how long anything takes.
constexpr std::chrono::seconds hang_guard{120};

// The test's stand-in for the event loop: the checker posts functions from its worker, the test
// thread runs them.
class EventLoop {
public:
    PasswordChecker::Deliver deliver() {
        return [this](std::function<void()> function) { post(std::move(function)); };
    }
    void post(std::function<void()> function) {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            queue_.push_back(std::move(function));
        }
        posted_.notify_all();
    }
    // Runs queued functions, waiting for more, until `done` holds after one of them.
    void run_until(const std::function<bool()>& done) {
        while (!done()) {
            std::function<void()> function;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                REQUIRE(posted_.wait_for(lock, hang_guard, [this] { return !queue_.empty(); }));
                function = std::move(queue_.front());
                queue_.pop_front();
            }
            function();
        }
    }
    // Waits until `count` functions are queued, without running them.
    void wait_until_queued(std::size_t count) {
        std::unique_lock<std::mutex> lock(mutex_);
        REQUIRE(posted_.wait_for(lock, hang_guard, [&] { return queue_.size() >= count; }));
    }
    std::size_t queued() {
        const std::lock_guard<std::mutex> lock(mutex_);
        return queue_.size();
    }
    void run_queued() {
        const std::size_t count = queued();
        std::size_t ran = 0;
        run_until([&] { return ran++ == count; });
    }

private:
    std::mutex mutex_;
    std::condition_variable posted_;
    std::deque<std::function<void()>> queue_;
};

// A gate a test opens to let a check that waits on it finish. Catch2's assertions may only be used
// on the test thread, so the worker records a guard that ran out in `stuck` for the test to check.
class Gate {
public:
    void open() {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        changed_.notify_all();
    }
    void close() {
        const std::lock_guard<std::mutex> lock(mutex_);
        open_ = false;
    }
    // Waits for the gate, then checks the password for real.
    bool verify_when_open(const PasswordHash& hash, std::string_view password) {
        if (!wait_open()) {
            stuck = true;
        }
        return hash.verify(password);
    }
    std::atomic<bool> stuck{false};

    // False when the guard ran out first.
    bool wait_open() {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, hang_guard, [this] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = false;
};

// Records events from both threads in the order they happened.
class Timeline {
public:
    void add(std::string event) {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            events_.push_back(std::move(event));
        }
        added_.notify_all();
    }
    // Waits until `event` has been recorded (by the other thread).
    bool wait_for(const std::string& event) {
        std::unique_lock<std::mutex> lock(mutex_);
        return added_.wait_for(lock, hang_guard, [&] {
            return std::find(events_.begin(), events_.end(), event) != events_.end();
        });
    }
    std::vector<std::string> events() {
        const std::lock_guard<std::mutex> lock(mutex_);
        return events_;
    }

private:
    std::mutex mutex_;
    std::condition_variable added_;
    std::vector<std::string> events_;
};

PasswordHash quick_hash(const std::string& password) {
    return PasswordHash::create(password, std::vector<std::uint8_t>(16, 0x42),
                                relayguard::policy::min_pbkdf2_iterations);
}

const char* name(CheckResult result) {
    switch (result) {
    case CheckResult::valid:
        return "valid";
    case CheckResult::invalid:
        return "invalid";
    case CheckResult::busy:
        return "busy";
    }
    return "?";
}

} // namespace password_checker_test

TEST_CASE("password checker tells right wrong and unknown apart", "[password_checker]") {
    password_checker_test::EventLoop loop;
    PasswordChecker checker(loop.deliver());
    const PasswordHash hash = password_checker_test::quick_hash("right");
    std::vector<CheckResult> results;
    checker.check(hash, "right", [&](CheckResult result) { results.push_back(result); });
    checker.check(hash, "wrong", [&](CheckResult result) { results.push_back(result); });
    checker.check(std::nullopt, "right", [&](CheckResult result) { results.push_back(result); });
    loop.run_until([&] { return results.size() == 3; });
    REQUIRE(results ==
            std::vector<CheckResult>{CheckResult::valid, CheckResult::invalid, CheckResult::invalid});
}

TEST_CASE("password checker checks unknown users against a dummy hash of the default cost",
          "[password_checker]") {
    password_checker_test::EventLoop loop;
    std::vector<std::uint32_t> iterations_seen;
    std::vector<std::string> passwords_seen;
    // This verifier accepts everything: an unknown user must still come out invalid.
    PasswordChecker checker(loop.deliver(), relayguard::proxy::default_max_pending_checks,
                            [&](const PasswordHash& hash, std::string_view password) {
                                iterations_seen.push_back(hash.iterations());
                                passwords_seen.emplace_back(password);
                                return true;
                            });
    std::vector<CheckResult> results;
    checker.check(std::nullopt, "guess", [&](CheckResult result) { results.push_back(result); });
    checker.check(password_checker_test::quick_hash("x"), "x",
                  [&](CheckResult result) { results.push_back(result); });
    loop.run_until([&] { return results.size() == 2; });
    REQUIRE(results == std::vector<CheckResult>{CheckResult::invalid, CheckResult::valid});
    // The worker wrote these before posting the results, which the test thread has run since.
    REQUIRE(iterations_seen == std::vector<std::uint32_t>{relayguard::policy::default_pbkdf2_iterations,
                                                          relayguard::policy::min_pbkdf2_iterations});
    REQUIRE(passwords_seen == std::vector<std::string>{"guess", "x"});
}

TEST_CASE("password checker delivers results in the order of the checks", "[password_checker]") {
    password_checker_test::EventLoop loop;
    PasswordChecker checker(loop.deliver());
    const PasswordHash hash = password_checker_test::quick_hash("right");
    std::vector<std::string> results;
    for (int index = 0; index < 8; ++index) {
        const bool right = index % 3 == 0;
        checker.check(hash, right ? "right" : "wrong", [&results, index](CheckResult result) {
            results.push_back(std::to_string(index) + " " + password_checker_test::name(result));
        });
    }
    loop.run_until([&] { return results.size() == 8; });
    REQUIRE(results == std::vector<std::string>{"0 valid", "1 invalid", "2 invalid", "3 valid", "4 invalid",
                                                "5 invalid", "6 valid", "7 invalid"});
}

TEST_CASE("password checker refuses checks beyond its limit as busy", "[password_checker]") {
    password_checker_test::EventLoop loop;
    password_checker_test::Gate gate;
    PasswordChecker checker(loop.deliver(), 2, [&](const PasswordHash& hash, std::string_view password) {
        return gate.verify_when_open(hash, password);
    });
    const PasswordHash hash = password_checker_test::quick_hash("right");
    std::vector<std::string> results;
    const auto record = [&results](const char* label) {
        return [&results, label](CheckResult result) {
            results.push_back(std::string(label) + " " + password_checker_test::name(result));
        };
    };
    checker.check(hash, "right", record("a"));
    checker.check(hash, "wrong", record("b"));
    // Two checks are pending (one waits at the gate, one in the queue): the third is refused at once,
    // though its answer also comes through the event loop, never from within check().
    checker.check(hash, "right", record("c"));
    REQUIRE(results.empty());
    loop.run_until([&] { return results.size() == 1; });
    REQUIRE(results == std::vector<std::string>{"c busy"});

    gate.open();
    loop.run_until([&] { return results.size() == 3; });
    REQUIRE(results == std::vector<std::string>{"c busy", "a valid", "b invalid"});
    // Their callbacks have run, so their places are free again.
    gate.close();
    checker.check(hash, "right", record("d"));
    checker.check(std::nullopt, "right", record("e"));
    checker.check(hash, "right", record("f"));
    loop.run_until([&] { return results.size() == 4; });
    gate.open();
    loop.run_until([&] { return results.size() == 6; });
    REQUIRE(results ==
            std::vector<std::string>{"c busy", "a valid", "b invalid", "f busy", "d valid", "e invalid"});
    REQUIRE_FALSE(gate.stuck);
}

TEST_CASE("password checker reports a failing verification as busy", "[password_checker]") {
    password_checker_test::EventLoop loop;
    PasswordChecker checker(loop.deliver(), 4, [](const PasswordHash&, std::string_view) -> bool {
        throw std::runtime_error("mbedTLS failed");
    });
    std::vector<CheckResult> results;
    checker.check(password_checker_test::quick_hash("x"), "x",
                  [&](CheckResult result) { results.push_back(result); });
    loop.run_until([&] { return !results.empty(); });
    REQUIRE(results == std::vector<CheckResult>{CheckResult::busy});
}

TEST_CASE("password checker verifies on its own thread while the event loop keeps running",
          "[password_checker]") {
    password_checker_test::EventLoop loop;
    password_checker_test::Gate gate;
    password_checker_test::Timeline timeline;
    const std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id verify_thread;
    std::thread::id callback_thread;
    PasswordChecker checker(loop.deliver(), 4, [&](const PasswordHash& hash, std::string_view password) {
        verify_thread = std::this_thread::get_id();
        timeline.add("check started");
        // If check() ran this inline, the test thread would be stuck here and the guard would fail it.
        const bool opened = gate.wait_open();
        timeline.add(opened ? "check resumed" : "gate never opened");
        return hash.verify(password);
    });
    bool answered = false;
    checker.check(password_checker_test::quick_hash("right"), "right", [&](CheckResult result) {
        callback_thread = std::this_thread::get_id();
        timeline.add(std::string("result ") + password_checker_test::name(result));
        answered = true;
    });
    timeline.add("check() returned");

    // Another session's command, answered by the event loop while the check waits on the worker.
    loop.post([&] { timeline.add("other session answered"); });
    loop.run_queued();
    // Wait for the worker to reach the check: proof that it is under way, not yet finished.
    REQUIRE(timeline.wait_for("check started"));
    loop.post([&] { timeline.add("other session answered again"); });
    loop.run_queued();
    timeline.add("gate opened");
    gate.open();
    loop.run_until([&] { return answered; });

    std::vector<std::string> events = timeline.events();
    // "check started" happens on the worker at some point after check() returned and before the gate
    // opened; the rest is in a fixed order.
    const auto started = std::find(events.begin(), events.end(), "check started");
    REQUIRE(started != events.end());
    events.erase(started);
    REQUIRE(events == std::vector<std::string>{"check() returned", "other session answered",
                                               "other session answered again", "gate opened", "check resumed",
                                               "result valid"});
    REQUIRE(verify_thread != loop_thread);
    REQUIRE(callback_thread == loop_thread);
}

TEST_CASE("password checker keeps the event loop running during a slow real check", "[password_checker]") {
    password_checker_test::EventLoop loop;
    PasswordChecker checker(loop.deliver());
    // A hash with many iterations (about 17 logins' worth) and fixed bytes: the check is real PBKDF2
    // and comes out invalid.
    const std::optional<PasswordHash> slow = PasswordHash::parse(
        "$pbkdf2-sha256$i=200000$QkJCQkJCQkJCQkJCQkJCQg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    REQUIRE(slow.has_value());
    std::vector<std::string> events;
    bool answered = false;
    checker.check(slow, "guess", [&](CheckResult result) {
        events.push_back(std::string("result ") + password_checker_test::name(result));
        answered = true;
    });
    // Another session keeps sending commands; each answer queues the next one until the check is done.
    unsigned commands = 0;
    std::function<void()> command = [&] {
        ++commands;
        if (events.empty() || events.back() != "command") {
            events.push_back("command");
        }
        if (!answered) {
            loop.post(command);
        }
    };
    loop.post(command);
    loop.run_until([&] { return answered; });
    // Had check() verified inline, its result would have been queued before the first command.
    REQUIRE(events == std::vector<std::string>{"command", "result invalid"});
    REQUIRE(commands > 1);
}

TEST_CASE("password checker results already delivered outlive the checker", "[password_checker]") {
    password_checker_test::EventLoop loop;
    std::vector<CheckResult> results;
    {
        PasswordChecker checker(loop.deliver());
        const PasswordHash hash = password_checker_test::quick_hash("right");
        checker.check(hash, "right", [&](CheckResult result) { results.push_back(result); });
        checker.check(hash, "wrong", [&](CheckResult result) { results.push_back(result); });
        loop.wait_until_queued(2);
    }
    REQUIRE(results.empty());
    loop.run_queued();
    REQUIRE(results == std::vector<CheckResult>{CheckResult::valid, CheckResult::invalid});
}

TEST_CASE("password checker destroyed with checks pending neither hangs nor calls back late",
          "[password_checker]") {
    password_checker_test::EventLoop loop;
    password_checker_test::Gate gate;
    std::vector<std::string> results;
    std::thread opener;
    {
        PasswordChecker checker(loop.deliver(), 8, [&](const PasswordHash& hash, std::string_view password) {
            return gate.verify_when_open(hash, password);
        });
        const PasswordHash hash = password_checker_test::quick_hash("right");
        for (const char* label : {"a", "b", "c", "d"}) {
            checker.check(hash, "right", [&results, label](CheckResult result) {
                results.push_back(std::string(label) + " " + password_checker_test::name(result));
            });
        }
        // The destructor waits for the check at the gate; another thread opens it at some point.
        opener = std::thread([&gate] { gate.open(); });
    }
    opener.join();
    // Whatever reached Deliver before the destructor returned runs now; it is some leading part of the
    // checks, in order, and nothing arrives afterwards.
    const std::size_t delivered = loop.queued();
    loop.run_queued();
    REQUIRE(results.size() == delivered);
    const std::vector<std::string> all{"a valid", "b valid", "c valid", "d valid"};
    REQUIRE(results ==
            std::vector<std::string>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(delivered)));
    REQUIRE(loop.queued() == 0);
    REQUIRE_FALSE(gate.stuck);
}
