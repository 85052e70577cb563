#include <relayguard/proxy/build_info.hpp>

#include <asio/version.hpp>
#include <mbedtls/version.h>

namespace relayguard::proxy {

std::string library_versions() {
    // ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
    const int asio_major = ASIO_VERSION / 100000;
    const int asio_minor = ASIO_VERSION / 100 % 1000;
    const int asio_patch = ASIO_VERSION % 100;
    return std::string("mbedTLS ") + MBEDTLS_VERSION_STRING + ", Asio " + std::to_string(asio_major) + "." +
           std::to_string(asio_minor) + "." + std::to_string(asio_patch);
}

} // namespace relayguard::proxy
