#pragma once
// Password verification off the event loop. One PBKDF2 check costs about 50 ms on the slowest board
// (see policy/src/credentials.cpp); done inline it would stall every other session for that long, and
// a client guessing passwords would stall them continuously. So checks run on one worker thread, one
// at a time, and their results come back to the event loop through `Deliver`.
//
// One worker, not a pool: the routers have one to four cores, and the event loop needs one. A bounded
// number of checks may wait; beyond that a check is refused at once with `busy`, which the session
// answers "454 4.7.0 Temporary authentication failure": a legitimate client retries later, and a flood
// of guesses cannot build an unbounded backlog or make every login wait behind it.
#include <relayguard/policy/credentials.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace relayguard::proxy {

// At 50 ms a check on the slowest board, 32 checks drain in 1.6 s: a client at the back of a full
// queue still gets its answer promptly, and more than that at once is a guessing attack.
inline constexpr std::size_t default_max_pending_checks = 32;

class PasswordChecker {
public:
    enum class CheckResult : std::uint8_t {
        valid,
        invalid, // wrong password, or an unknown user
        busy,    // refused without checking (too many pending), or the check itself failed: temporary
    };
    // Runs a function on the event loop's thread; must be callable from any thread. The server passes
    // [&io](std::function<void()> f) { asio::post(io, std::move(f)); }.
    using Deliver = std::function<void(std::function<void()>)>;
    // How one password is compared with one hash. Only tests replace it (to make a check wait at a
    // point they control); the default is policy::PasswordHash::verify.
    using Verify = std::function<bool(const policy::PasswordHash&, std::string_view password)>;

    // `max_pending` >= 1: checks accepted whose callback has not run yet, the one in progress included.
    explicit PasswordChecker(Deliver deliver, std::size_t max_pending = default_max_pending_checks,
                             Verify verify = {});
    // Stops the worker and waits for it: a check in progress runs to its end (PBKDF2 cannot be
    // interrupted) and its result is dropped, unless the worker was already handing it to Deliver.
    // Queued checks are dropped with their passwords wiped; their callbacks never run. Results handed
    // to Deliver before still run when the event loop gets to them (they do not refer to the checker).
    // Deliver is not called once the destructor has returned.
    ~PasswordChecker();
    PasswordChecker(const PasswordChecker&) = delete;
    PasswordChecker& operator=(const PasswordChecker&) = delete;

    // Verifies `password` against `hash` and calls `done` with the result through Deliver, never from
    // within check() itself, also when the check is refused. Pass std::nullopt for a user name that is
    // not configured: a fixed dummy hash with the default iteration count is checked instead, so the
    // answer takes as long as for a real user and the timing does not tell which names exist; the
    // result is then always invalid. The password is wiped once checked (or dropped).
    // Call from the event loop's thread; results of accepted checks arrive in the order of the calls.
    void check(std::optional<policy::PasswordHash> hash, std::string password,
               std::function<void(CheckResult)> done);

private:
    struct Job {
        std::optional<policy::PasswordHash> hash;
        std::string password;
        std::function<void(CheckResult)> done;

        Job(std::optional<policy::PasswordHash> job_hash, std::string job_password,
            std::function<void(CheckResult)> job_done);
        ~Job();
        Job(Job&&) = default;
        Job& operator=(Job&&) = default;
        Job(const Job&) = delete;
        Job& operator=(const Job&) = delete;
    };

    void run();
    CheckResult verify(const Job& job) const;
    void deliver(std::function<void(CheckResult)> done, CheckResult result) const;

    Deliver deliver_;
    Verify verify_;
    std::size_t max_pending_;
    policy::PasswordHash dummy_hash_;
    // Shared with the delivered callbacks, which decrement it on the event loop and may outlive the
    // checker.
    std::shared_ptr<std::atomic<std::size_t>> pending_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_; // guarded by mutex_
    bool stopping_ = false; // guarded by mutex_
    std::thread worker_;    // last: started once everything above exists
};

} // namespace relayguard::proxy
