#pragma once
// <log server>: RFC 5424 messages to a syslog collector, over UDP (one datagram each, RFC 5426) or TCP
// (octet counting, RFC 6587), from a thread of its own. Whoever logs only formats the message and
// queues it under a mutex, so a slow, unreachable or hostile collector never holds up the event loop:
// the queue is bounded (the oldest messages go first, and their number is reported once the collector
// takes messages again), a TCP collector that goes away is reconnected with a growing pause.
#include <relayguard/policy/config.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace relayguard::proxy {

class RemoteSyslog {
public:
    static constexpr std::size_t max_queued = 2000;
    // RFC 5426 §3.2: 2048 octets is what every receiver should take in one datagram.
    static constexpr std::size_t max_datagram = 2048;

    // `hostname` goes into every message's HOSTNAME, `program` ("relayguard/smtpd") into its APP-NAME.
    RemoteSyslog(policy::SyslogServer server, std::string hostname, std::string program);
    // Sends what is queued (for at most 1.5 s when the collector is slow or away) and stops the thread.
    ~RemoteSyslog();
    RemoteSyslog(const RemoteSyslog&) = delete;
    RemoteSyslog& operator=(const RemoteSyslog&) = delete;

    // Formats `text` (already cleaned) at syslog `severity` and queues it. Thread-safe; never blocks on
    // the network.
    void send(int severity, std::string_view text);

private:
    void run();
    // Sends one message; false when the connection failed (TCP: it is closed, the message kept).
    bool deliver(const std::string& message);
    bool open_socket(std::chrono::milliseconds connect_timeout);
    void close_socket();
    bool peer_closed() const;
    // Waits until the socket is ready for `events`; false on time-out or when the destructor stops it.
    bool wait_for_socket(short events, std::chrono::milliseconds timeout);
    // `timeout`, or what is left of the stop's budget when that is shorter.
    std::chrono::milliseconds bounded(std::chrono::milliseconds timeout);

    const policy::SyslogServer server_;
    const std::string hostname_;
    const std::string program_;
    const long pid_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::string> queue_;
    std::size_t dropped_ = 0;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point stop_deadline_; // set with stopping_
    bool finished_ = false;                               // the thread has sent (or given up on) the queue
    std::condition_variable finished_cv_;
    int fd_ = -1;                 // the sender thread's only
    int stop_pipe_[2] = {-1, -1}; // written by the destructor to end the thread's waits
    std::thread thread_;
};

} // namespace relayguard::proxy
