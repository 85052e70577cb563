#include <relayguard/proxy/build_info.hpp>

#include <asio/version.hpp>
#include <mbedtls/version.h>

namespace relayguard::proxy {

// The static builds compile mbedTLS with toolchains/mbedtls/relayguard_mbedtls_config.h in place of
// its default configuration; `relayguard version` says so, because what such a binary can negotiate
// differs from a distribution's mbedTLS (docs/packaging.md).
#if defined(RELAYGUARD_MBEDTLS_CONFIG_H)
constexpr char mbedtls_configuration[] = " (relayguard configuration)";
#else
constexpr char mbedtls_configuration[] = "";
#endif

std::string library_versions() {
    // ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
    const int asio_major = ASIO_VERSION / 100000;
    const int asio_minor = ASIO_VERSION / 100 % 1000;
    const int asio_patch = ASIO_VERSION % 100;
    return std::string("mbedTLS ") + MBEDTLS_VERSION_STRING + mbedtls_configuration + ", Asio " +
           std::to_string(asio_major) + "." + std::to_string(asio_minor) + "." + std::to_string(asio_patch);
}

} // namespace relayguard::proxy
