#include "listening_socket.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace relayguard::proxy {

std::optional<std::string> open_listening_socket(TcpAcceptor& acceptor, const ListenerSpec& spec,
                                                 int backlog) {
    asio::error_code error;
    const asio::ip::address address = asio::ip::make_address(spec.address, error);
    const asio::ip::tcp::endpoint endpoint(address, spec.port);
    if (!error) {
        acceptor.open(endpoint.protocol(), error);
    }
    if (!error) {
        acceptor.set_option(TcpAcceptor::reuse_address(true), error);
    }
    if (!error && !spec.interface.empty()) {
        // Pin the listener to its interface, so it never answers on another one.
        if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_BINDTODEVICE, spec.interface.c_str(),
                       static_cast<socklen_t>(spec.interface.size())) != 0) {
            error.assign(errno, asio::error::get_system_category());
        }
    }
    if (!error) {
        acceptor.bind(endpoint, error);
    }
    if (!error) {
        acceptor.listen(backlog, error);
    }
    if (error) {
        asio::error_code ignored;
        acceptor.close(ignored);
        return "cannot listen on " + spec.name() + ": " + error.message();
    }
    return std::nullopt;
}

} // namespace relayguard::proxy
