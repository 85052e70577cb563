#pragma once
// Opening a listening socket for a ListenerSpec: the SMTP listeners and the metrics endpoint bind the
// same way (SO_REUSEADDR, pinned to an interface with SO_BINDTODEVICE when the spec names one).
#include "io_types.hpp"

#include <relayguard/proxy/server.hpp>

#include <optional>
#include <string>

namespace relayguard::proxy {

// Opens, binds and listens; on failure the acceptor is closed and the message names the spec
// ("cannot listen on 127.0.0.1:25: Address already in use").
std::optional<std::string> open_listening_socket(TcpAcceptor& acceptor, const ListenerSpec& spec,
                                                 int backlog);

} // namespace relayguard::proxy
