#pragma once
// The read-only HTTP endpoint for Prometheus (<metrics listen>): GET or HEAD /metrics answers the
// exposition, OpenMetrics when the scraper's Accept header asks for it, the 0.0.4 text format
// otherwise. Any other path is 404, any other method 405; a request that is not HTTP or too long is
// 400 or 431. Every connection is closed after one answer. It runs on the server's io_context, with a
// fixed number of connection slots (a further client gets 503 at once) and a deadline per request, so
// a scraper gone wrong or a port scan cannot take time or memory from the mail.
#include <relayguard/proxy/server.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace asio {
class io_context;
}

namespace relayguard::proxy {

class EventLog;
class Metrics;

class MetricsEndpoint {
public:
    // Scrapes served at the same time: Prometheus scrapes a target with one connection, so four is
    // room for two servers (HA pairs) and a person with curl.
    static constexpr std::size_t max_connections = 4;
    // The request line and headers; Prometheus sends a few hundred bytes.
    static constexpr std::size_t max_request_size = 4096;
    // From the connection to the end of the request headers.
    static constexpr std::chrono::seconds request_timeout{10};

    // `metrics` and `log` must outlive the endpoint.
    MetricsEndpoint(asio::io_context& io, const Metrics& metrics, EventLog& log);
    ~MetricsEndpoint();
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

    // Makes the listening sockets exactly `specs` (as Server::set_listeners) and accepts on new ones at
    // once. Returns one message per spec that could not be bound.
    std::vector<std::string> set_listeners(const std::vector<ListenerSpec>& specs);
    // Closes the listeners and every connection (shutdown).
    void close();

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace relayguard::proxy
