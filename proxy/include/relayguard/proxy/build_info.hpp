#pragma once
// Versions of the libraries the proxy was built against, for `relayguard version` and the startup line.
#include <string>

namespace relayguard::proxy {

// e.g. "mbedTLS 2.28.3, Asio 1.22.1"
std::string library_versions();

} // namespace relayguard::proxy
