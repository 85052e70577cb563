#include "interface_watcher.hpp"

namespace relayguard::firmware {

InterfaceWatcher::InterfaceWatcher(asio::io_context& io, hal::NicMonitor& monitor,
                                   std::function<void()> on_change)
    : monitor_(monitor), on_change_(std::move(on_change)), descriptor_(io) {
}

InterfaceWatcher::~InterfaceWatcher() {
    stop();
}

void InterfaceWatcher::start() {
    if (running_ || monitor_.event_descriptor() < 0) {
        return;
    }
    descriptor_.assign(monitor_.event_descriptor());
    running_ = true;
    wait();
}

void InterfaceWatcher::stop() {
    if (!running_) {
        return;
    }
    running_ = false;
    asio::error_code ignored;
    descriptor_.cancel(ignored);
    descriptor_.release();
}

void InterfaceWatcher::wait() {
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& error) {
        if (error || !running_) {
            return;
        }
        if (monitor_.process_events()) {
            on_change_();
        }
        if (running_) {
            wait();
        }
    });
}

} // namespace relayguard::firmware
