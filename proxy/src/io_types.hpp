#pragma once

// The Asio I/O objects of the proxy, bound to io_context's own executor rather than the default
// any_io_executor. The proxy only ever runs on one io_context, and the polymorphic executor costs
// memory and time on every pending operation: each async_wait or async_read carries handler_work with
// two type-erased executor copies (bench: an idle session's pending wait took a 288-byte block with
// glibc, 320 with musl's size classes), and every completion dispatches through it.

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>

namespace relayguard::proxy {

using IoExecutor = asio::io_context::executor_type;
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, IoExecutor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, IoExecutor>;
using TcpResolver = asio::ip::basic_resolver<asio::ip::tcp, IoExecutor>;
using SteadyTimer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                               asio::wait_traits<std::chrono::steady_clock>, IoExecutor>;

} // namespace relayguard::proxy
