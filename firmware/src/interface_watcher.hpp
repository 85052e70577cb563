#pragma once
// Waits on the NIC monitor's descriptor in the event loop and calls back when the interfaces changed.
#include <relayguard/hal/nic.hpp>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <functional>

namespace relayguard::firmware {

class InterfaceWatcher {
public:
    // `monitor` must be started and outlive the watcher. `on_change` runs in the loop after
    // process_events() reported a change.
    InterfaceWatcher(asio::io_context& io, hal::NicMonitor& monitor, std::function<void()> on_change);
    ~InterfaceWatcher();
    InterfaceWatcher(const InterfaceWatcher&) = delete;
    InterfaceWatcher& operator=(const InterfaceWatcher&) = delete;

    void start();
    void stop();

private:
    void wait();

    hal::NicMonitor& monitor_;
    std::function<void()> on_change_;
    // The monitor owns the descriptor; the stream_descriptor only borrows it (released, never closed).
    asio::posix::stream_descriptor descriptor_;
    bool running_ = false;
};

} // namespace relayguard::firmware
