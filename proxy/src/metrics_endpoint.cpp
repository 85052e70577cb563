#include "io_types.hpp"
#include "listening_socket.hpp"

#include <relayguard/proxy/event_log.hpp>
#include <relayguard/proxy/metrics.hpp>
#include <relayguard/proxy/metrics_endpoint.hpp>
#include <relayguard/proxy/metrics_request.hpp>

#include <asio/buffer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>

namespace relayguard::proxy {
namespace metrics_endpoint_detail {

constexpr int listen_backlog = 16;
// How long to pause accepting after an error (out of descriptors), so the loop does not spin on it.
constexpr std::chrono::milliseconds accept_pause{100};

// The whole answer to a request that is not a scrape; each closes the connection.
std::string_view error_response(MetricsRequestStatus status) {
    switch (status) {
    case MetricsRequestStatus::not_found:
        return "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\n"
               "Connection: close\r\n\r\nNot found: the metrics are /metrics\n";
    case MetricsRequestStatus::method_not_allowed:
        return "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain; "
               "charset=utf-8\r\n"
               "Content-Length: 42\r\nConnection: close\r\n\r\nMethod not allowed: /metrics is read-only\n";
    case MetricsRequestStatus::too_large:
        return "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: "
               "close\r\n\r\n";
    case MetricsRequestStatus::incomplete:
    case MetricsRequestStatus::ok:
    case MetricsRequestStatus::bad_request:
        break;
    }
    return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

constexpr std::string_view busy_response =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

} // namespace metrics_endpoint_detail

class MetricsEndpoint::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(asio::io_context& io, const Metrics& metrics, EventLog& log)
        : io_(io), metrics_(metrics), log_(log) {
        for (auto& slot : slots_) {
            slot = std::make_unique<Connection>(io);
        }
    }

    std::vector<std::string> set_listeners(const std::vector<ListenerSpec>& specs);
    void close();

private:
    struct Listener {
        Listener(asio::io_context& io, ListenerSpec listener_spec)
            : acceptor(io), spec(std::move(listener_spec)), pause(io) {}
        TcpAcceptor acceptor;
        ListenerSpec spec;
        SteadyTimer pause;
        bool closed = false;
    };
    // One slot per concurrent request, made once: its buffers are reused by every scrape it serves.
    struct Connection {
        explicit Connection(asio::io_context& io) : socket(io), timer(io) {}
        TcpSocket socket;
        SteadyTimer timer;
        std::array<char, max_request_size> request{};
        std::size_t received = 0;
        std::array<char, 192> head{}; // the status line and headers of a 200
        std::string body;             // the exposition; keeps its capacity between scrapes
        bool busy = false;
        std::uint32_t generation = 0; // bumped when the connection ends: older handlers do nothing
    };

    void accept(const std::shared_ptr<Listener>& listener);
    void serve(Connection& connection);
    void read(Connection& connection);
    void answer(Connection& connection, const MetricsRequest& request);
    void drain(Connection& connection);
    // request_timeout from now, for the request and again for the answer.
    void arm_deadline(Connection& connection);
    void finish(Connection& connection);

    asio::io_context& io_;
    const Metrics& metrics_;
    EventLog& log_;
    std::vector<std::shared_ptr<Listener>> listeners_;
    std::array<std::unique_ptr<Connection>, max_connections> slots_;
    bool closed_ = false;
};

std::vector<std::string> MetricsEndpoint::Impl::set_listeners(const std::vector<ListenerSpec>& specs) {
    std::vector<std::string> problems;
    std::vector<std::shared_ptr<Listener>> kept;
    for (const std::shared_ptr<Listener>& listener : listeners_) {
        const bool wanted = std::any_of(specs.begin(), specs.end(), [&](const ListenerSpec& spec) {
            return spec.same_socket(listener->spec);
        });
        if (!wanted) {
            listener->closed = true;
            asio::error_code ignored;
            listener->acceptor.close(ignored);
            listener->pause.cancel();
            log_.info("metrics: no longer listening on " + listener->spec.name());
            continue;
        }
        kept.push_back(listener);
    }
    listeners_ = std::move(kept);
    for (const ListenerSpec& spec : specs) {
        const bool open = std::any_of(listeners_.begin(), listeners_.end(),
                                      [&](const auto& listener) { return listener->spec.same_socket(spec); });
        if (open || closed_) {
            continue;
        }
        auto listener = std::make_shared<Listener>(io_, spec);
        if (const std::optional<std::string> problem =
                open_listening_socket(listener->acceptor, spec, metrics_endpoint_detail::listen_backlog)) {
            problems.push_back("metrics: " + *problem);
            continue;
        }
        listeners_.push_back(listener);
        log_.info("metrics: serving http://" + spec.name() + "/metrics");
        accept(listener);
    }
    return problems;
}

void MetricsEndpoint::Impl::close() {
    closed_ = true;
    for (const std::shared_ptr<Listener>& listener : listeners_) {
        listener->closed = true;
        asio::error_code ignored;
        listener->acceptor.close(ignored);
        listener->pause.cancel();
    }
    listeners_.clear();
    for (const auto& slot : slots_) {
        if (slot->busy) {
            finish(*slot);
        }
    }
}

void MetricsEndpoint::Impl::accept(const std::shared_ptr<Listener>& listener) {
    listener->acceptor.async_accept(
        [this, listener, keep = shared_from_this()](const asio::error_code& error, TcpSocket socket) {
            if (closed_ || listener->closed || error == asio::error::operation_aborted) {
                return;
            }
            if (error) {
                // Out of descriptors: the mail needs them more. Try again in a moment.
                log_.warning("metrics: accept on " + listener->spec.name() + ": " + error.message());
                listener->pause.expires_after(metrics_endpoint_detail::accept_pause);
                listener->pause.async_wait(
                    [this, listener, keep = shared_from_this()](const asio::error_code& wait_error) {
                        if (!wait_error && !closed_ && !listener->closed) {
                            accept(listener);
                        }
                    });
                return;
            }
            const auto free_slot =
                std::find_if(slots_.begin(), slots_.end(), [](const auto& slot) { return !slot->busy; });
            if (free_slot == slots_.end()) {
                // A fresh socket's send buffer takes these few bytes at once; the answer is best effort.
                asio::error_code ignored;
                socket.non_blocking(true, ignored);
                socket.write_some(asio::buffer(metrics_endpoint_detail::busy_response.data(),
                                               metrics_endpoint_detail::busy_response.size()),
                                  ignored);
                socket.close(ignored);
            } else {
                (*free_slot)->socket = std::move(socket);
                serve(**free_slot);
            }
            accept(listener);
        });
}

void MetricsEndpoint::Impl::serve(Connection& connection) {
    connection.busy = true;
    connection.received = 0;
    arm_deadline(connection); // a client that does not finish its request in time gets nothing
    read(connection);
}

void MetricsEndpoint::Impl::read(Connection& connection) {
    const std::uint32_t generation = connection.generation;
    connection.socket.async_read_some(
        asio::buffer(connection.request.data() + connection.received,
                     connection.request.size() - connection.received),
        [this, &connection, generation, keep = shared_from_this()](const asio::error_code& error,
                                                                   std::size_t count) {
            if (connection.generation != generation || !connection.busy) {
                return;
            }
            if (error) {
                finish(connection);
                return;
            }
            connection.received += count;
            const MetricsRequest request = parse_metrics_request(
                std::string_view(connection.request.data(), connection.received), connection.request.size());
            if (request.status == MetricsRequestStatus::incomplete) {
                read(connection);
                return;
            }
            answer(connection, request);
        });
}

void MetricsEndpoint::Impl::answer(Connection& connection, const MetricsRequest& request) {
    std::array<asio::const_buffer, 2> parts{}; // the head, and the body when there is one
    if (request.status != MetricsRequestStatus::ok) {
        std::string_view response = metrics_endpoint_detail::error_response(request.status);
        if (request.head_only) {
            response = response.substr(0, response.find("\r\n\r\n") + 4); // HEAD: no body
        }
        parts[0] = asio::buffer(response.data(), response.size());
    } else {
        connection.body.clear();
        metrics_.write(connection.body, request.format);
        char* const begin = connection.head.data();
        char* const end = begin + connection.head.size();
        char* out = begin;
        const auto append = [&](std::string_view text) {
            const std::size_t room = static_cast<std::size_t>(end - out);
            const std::size_t length = std::min(text.size(), room);
            std::copy(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(length), out);
            out += length;
        };
        append("HTTP/1.1 200 OK\r\nContent-Type: ");
        append(Metrics::content_type(request.format));
        append("\r\nContent-Length: ");
        out = std::to_chars(out, end, connection.body.size()).ptr;
        append("\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
        parts[0] = asio::buffer(begin, static_cast<std::size_t>(out - begin));
        if (!request.head_only) {
            parts[1] = asio::buffer(connection.body.data(), connection.body.size());
        }
    }
    const std::uint32_t generation = connection.generation;
    // The answer gets its own deadline (a scraper reading slowly), which also bounds the drain after it.
    arm_deadline(connection);
    asio::async_write(connection.socket, parts,
                      [this, &connection, generation,
                       keep = shared_from_this()](const asio::error_code& error, std::size_t) {
                          if (connection.generation != generation || !connection.busy) {
                              return;
                          }
                          if (error) {
                              finish(connection);
                              return;
                          }
                          drain(connection); // one answer per connection
                      });
}

void MetricsEndpoint::Impl::drain(Connection& connection) {
    // Closing with unread input (the rest of a 431's headers, a POST's body) would reset the connection
    // and could discard the answer before the client read it: say we are done, then read and drop what
    // the client still sends until it closes or the deadline passes.
    asio::error_code ignored;
    connection.socket.shutdown(TcpSocket::shutdown_send, ignored);
    const std::uint32_t generation = connection.generation;
    connection.socket.async_read_some(
        asio::buffer(connection.request.data(), connection.request.size()),
        [this, &connection, generation, keep = shared_from_this()](const asio::error_code& error,
                                                                   std::size_t) {
            if (connection.generation != generation || !connection.busy) {
                return;
            }
            if (error) {
                finish(connection); // end of file: the client has read the answer and closed
                return;
            }
            drain(connection);
        });
}

void MetricsEndpoint::Impl::arm_deadline(Connection& connection) {
    const std::uint32_t generation = connection.generation;
    connection.timer.expires_after(request_timeout);
    connection.timer.async_wait(
        [this, &connection, generation, keep = shared_from_this()](const asio::error_code& error) {
            if (!error && connection.busy && connection.generation == generation) {
                finish(connection);
            }
        });
}

void MetricsEndpoint::Impl::finish(Connection& connection) {
    ++connection.generation;
    connection.busy = false;
    asio::error_code ignored;
    connection.socket.shutdown(TcpSocket::shutdown_both, ignored);
    connection.socket.close(ignored);
    connection.timer.cancel();
}

MetricsEndpoint::MetricsEndpoint(asio::io_context& io, const Metrics& metrics, EventLog& log)
    : impl_(std::make_shared<Impl>(io, metrics, log)) {
}

MetricsEndpoint::~MetricsEndpoint() {
    impl_->close();
}

std::vector<std::string> MetricsEndpoint::set_listeners(const std::vector<ListenerSpec>& specs) {
    return impl_->set_listeners(specs);
}

void MetricsEndpoint::close() {
    impl_->close();
}

} // namespace relayguard::proxy
