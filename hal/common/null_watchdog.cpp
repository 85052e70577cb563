#include <relayguard/hal/watchdog.hpp>

namespace relayguard::hal {
namespace null_watchdog_detail {

class NullWatchdog final : public Watchdog {
public:
    std::optional<HalError> start(std::chrono::milliseconds timeout) override {
        timeout_ = timeout;
        return std::nullopt;
    }
    std::optional<HalError> feed() override { return std::nullopt; }
    std::optional<HalError> stop() override { return std::nullopt; }
    bool last_reset_was_watchdog() const override { return false; }
    std::chrono::milliseconds timeout() const override { return timeout_; }
    const char* backend_name() const override { return "none"; }

private:
    std::chrono::milliseconds timeout_{0};
};

} // namespace null_watchdog_detail

std::unique_ptr<Watchdog> make_null_watchdog() {
    return std::make_unique<null_watchdog_detail::NullWatchdog>();
}

} // namespace relayguard::hal
