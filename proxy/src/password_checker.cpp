#include <relayguard/policy/base64.hpp>
#include <relayguard/proxy/auth_exchange.hpp>
#include <relayguard/proxy/password_checker.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

namespace relayguard::proxy {
namespace password_checker_detail {

// The shape `relayguard passwd` gives every hash (16-byte salt, 32-byte hash), so checking the dummy
// costs exactly what checking a real user's password costs.
constexpr std::size_t dummy_salt_length = policy::default_salt_length;
constexpr std::size_t dummy_hash_length = 32;

// A hash no password is expected to match: its salt and hash are fixed bytes, not derived from any
// password. Its result is ignored anyway; only the time it takes matters.
policy::PasswordHash make_dummy_hash() {
    std::array<std::uint8_t, dummy_salt_length> salt{};
    std::array<std::uint8_t, dummy_hash_length> hash{};
    salt.fill(0x5a);
    hash.fill(0xa5);
    const std::string phc = "$pbkdf2-sha256$i=" + std::to_string(policy::default_pbkdf2_iterations) + "$" +
                            policy::base64_encode(salt.data(), salt.size(), policy::Padding::forbidden) +
                            "$" + policy::base64_encode(hash.data(), hash.size(), policy::Padding::forbidden);
    std::optional<policy::PasswordHash> parsed = policy::PasswordHash::parse(phc);
    if (!parsed) {
        throw std::logic_error("the dummy password hash does not parse");
    }
    return std::move(*parsed);
}

bool verify_with_hash(const policy::PasswordHash& hash, std::string_view password) {
    return hash.verify(password);
}

} // namespace password_checker_detail

PasswordChecker::Job::Job(std::optional<policy::PasswordHash> job_hash, std::string job_password,
                          std::function<void(CheckResult)> job_done)
    : hash(std::move(job_hash)), password(std::move(job_password)), done(std::move(job_done)) {
    // A short password moved out of the parameter may have left its characters behind in it.
    wipe_secret(job_password);
}

PasswordChecker::Job::~Job() {
    wipe_secret(password);
}

PasswordChecker::PasswordChecker(Deliver deliver, std::size_t max_pending, Verify verify)
    : deliver_(std::move(deliver)),
      verify_(verify ? std::move(verify) : Verify(password_checker_detail::verify_with_hash)),
      max_pending_(std::max<std::size_t>(max_pending, 1)),
      dummy_hash_(password_checker_detail::make_dummy_hash()),
      pending_(std::make_shared<std::atomic<std::size_t>>(0)) {
    worker_ = std::thread(&PasswordChecker::run, this);
}

PasswordChecker::~PasswordChecker() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
    // queue_ is destroyed after this body; each dropped Job wipes its password.
}

void PasswordChecker::check(std::optional<policy::PasswordHash> hash, std::string password,
                            std::function<void(CheckResult)> done) {
    if (pending_->load() >= max_pending_) {
        wipe_secret(password);
        deliver_([done = std::move(done)]() { done(CheckResult::busy); });
        return;
    }
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        queue_.emplace_back(std::move(hash), std::move(password), std::move(done));
        // Counted only once queued (emplace_back may throw), and before the worker can take it.
        pending_->fetch_add(1);
    }
    wake_.notify_one();
    wipe_secret(password);
}

PasswordChecker::CheckResult PasswordChecker::verify(const Job& job) const {
    try {
        if (!job.hash) {
            // The same work as for a real user; the outcome cannot make an unknown user valid.
            static_cast<void>(verify_(dummy_hash_, job.password));
            return CheckResult::invalid;
        }
        return verify_(*job.hash, job.password) ? CheckResult::valid : CheckResult::invalid;
    } catch (...) {
        // mbedTLS failed or memory ran out: not the client's fault, so a temporary failure.
        return CheckResult::busy;
    }
}

void PasswordChecker::deliver(std::function<void(CheckResult)> done, CheckResult result) const {
    try {
        // The count goes down before `done` runs, so `done` may start the next check at once.
        deliver_([pending = pending_, done = std::move(done), result]() {
            pending->fetch_sub(1);
            done(result);
        });
    } catch (...) {
        // Nothing was handed over (the event loop's queue could not grow): the check no longer
        // occupies a place, and its session learns nothing until its own timeout.
        pending_->fetch_sub(1);
    }
}

void PasswordChecker::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;
        }
        Job job = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();

        const CheckResult result = verify(job);
        wipe_secret(job.password);

        lock.lock();
        if (stopping_) {
            return;
        }
        // Delivered without the lock held: Deliver is the caller's code, and a check() it might lead
        // to takes the lock. The destructor may begin meanwhile; it waits for this delivery to end.
        lock.unlock();
        deliver(std::move(job.done), result);
        lock.lock();
    }
}

} // namespace relayguard::proxy
