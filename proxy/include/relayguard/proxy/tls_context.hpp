#pragma once
// The TLS configurations relayguard's sessions share: one for the client-facing listeners (certificate
// and key) and one for the upstream leg (optional CA). Each is built once per configuration, parsed and
// checked up front, and then only read: every TlsSession holds a shared_ptr to the context it was made
// from, so a reload can build a new context while existing sessions finish on the old one.
//
// What both configurations allow, written down narrowly:
//   - TLS 1.2 and, when the mbedTLS in use has it (3.x built with MBEDTLS_SSL_PROTO_TLS1_3), TLS 1.3;
//   - ECDHE key exchange only, with AEAD ciphers: TLS 1.3's AES-GCM and CHACHA20-POLY1305 suites, and
//     ECDHE-ECDSA / ECDHE-RSA with AES-GCM or CHACHA20-POLY1305 for TLS 1.2 (suites the library was
//     built without are left out; a context with no suite left is refused);
//   - in TLS 1.3, the ephemeral key exchange, and for the listeners, when tickets are on, resumption
//     with psk_dhe_ke only: a resumed session still has an ephemeral (EC)DHE exchange of its own, so
//     it keeps forward secrecy (plain psk_ke, which has none, is never accepted);
//   - on the listeners, session tickets (RFC 5077 for TLS 1.2, RFC 8446 §4.6.1 for TLS 1.3) under
//     AES-256-GCM keys made from the context's random generator, held in memory only and replaced every
//     ticket lifetime (a ticket is good for at most one lifetime after its full handshake; mbedTLS
//     keeps the previous key that long); a reload makes new keys. The upstream leg never uses tickets;
//   - no renegotiation.
//
// Threading: the random generator and the ticket keys inside a context are not locked. All sessions made from
// one context must run on one thread (relayguard's single io_context thread).
//
// mbedTLS types stay out of this header except for one forward declaration, so that code including it
// (the session engine, the tests) does not depend on which mbedTLS version the library was built with.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct mbedtls_ssl_config;

namespace relayguard::proxy {

// Upper bounds for what load() reads: a CA bundle of a whole distribution is about 220 KiB, a
// certificate chain a few KiB, an RSA-4096 key in PEM about 3.3 KiB.
inline constexpr std::size_t max_certificate_file_size = 1024 * 1024;
inline constexpr std::size_t max_key_file_size = 64 * 1024;

namespace tls_context_detail {
struct ContextState;
} // namespace tls_context_detail

// Whether this build can negotiate TLS 1.3 (mbedTLS 3.x with TLS 1.3 compiled in).
bool tls13_supported();

// The largest payload of a record this build's mbedTLS writes (MBEDTLS_SSL_OUT_CONTENT_LEN): 16384 with
// a distribution's mbedTLS, 4096 in the static builds (toolchains/mbedtls/relayguard_mbedtls_config.h).
// A server's certificate chain must fit in one such record; TlsServerContext::load refuses one that does not.
std::size_t tls_output_record_limit();

// An mbedTLS error code as "<mbedtls_strerror text> (-0xNNNN)", for error messages and logs.
std::string describe_mbedtls_error(int code);

class TlsServerContext {
public:
    // Reads and parses the certificate chain (PEM or DER, leaf first) and the unencrypted private key,
    // checks that the key belongs to the leaf certificate (mbedtls_pk_check_pair), seeds the random
    // generator and builds the server configuration. On failure returns null and sets `error` to one
    // line that names the file and says what is wrong; it never contains key material.
    // `ticket_lifetime`: issue session tickets under keys replaced that often; zero: none (<tls
    // session-tickets="off">, and a build whose mbedTLS lacks MBEDTLS_SSL_TICKET_C).
    static std::shared_ptr<const TlsServerContext> load(const std::string& certificate_file,
                                                        const std::string& key_file, std::string& error,
                                                        std::chrono::seconds ticket_lifetime = {});
    // The same from PEM text (tests, embedded defaults). Error messages say "(in memory)" instead of a
    // file name.
    static std::shared_ptr<const TlsServerContext>
    load_from_memory(std::string_view certificate_pem, std::string_view key_pem, std::string& error,
                     std::chrono::seconds ticket_lifetime = {});
    // Whether sessions made from this context may be resumed with a ticket.
    bool issues_tickets() const;

    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    // For TlsSession: the shared, read-only configuration.
    const mbedtls_ssl_config& ssl_config() const;

private:
    explicit TlsServerContext(std::unique_ptr<tls_context_detail::ContextState> state);
    std::unique_ptr<tls_context_detail::ContextState> state_;
};

// The upstream leg. With a CA file the upstream's certificate must chain to one of its certificates
// (MBEDTLS_SSL_VERIFY_REQUIRED), and when the session is given a host name (not an IP address) the
// certificate must also be issued for that name. Without a CA file nothing is verified
// (MBEDTLS_SSL_VERIFY_NONE): the link is encrypted against passive listeners only (opportunistic
// encryption, as RFC 7435 describes and as MTAs do by default on port 25).
//
// With a TLS 1.2-only mbedTLS (2.28) the client asks the upstream for 4096-octet records (RFC 6066
// maximum_fragment_length, an extension that servers not knowing it ignore). A build with TLS 1.3 does
// not ask: mbedTLS 3.6's TLS 1.3 client aborts when an OpenSSL server answers the extension. With the 2.28
// system library, whose record buffers have a fixed size, that saves no memory; a library built with
// MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH shrinks both record buffers to the negotiated size after the handshake.
// Only a client can ask for it, so the listeners cannot.
// Whether TLS sessions of separate contexts may run on several threads at once: mbedTLS built with
// MBEDTLS_THREADING_C (Debian's is). Without it, PSA's global state (mbedTLS 3's TLS 1.3 key exchange)
// is unlocked, so `relayguard probe --targets` runs TLS probes one at a time.
bool tls_thread_safe();

class TlsClientContext {
public:
    // `ca_file` may be empty: no verification. Otherwise its certificates (PEM bundle or one DER
    // certificate) are the trust anchors; certificates in a bundle that mbedTLS cannot parse are skipped
    // as long as at least one can be, since distribution bundles carry a few such.
    static std::shared_ptr<const TlsClientContext> load(const std::string& ca_file, std::string& error);
    // `ca_pem` may be empty: no verification.
    static std::shared_ptr<const TlsClientContext> load_from_memory(std::string_view ca_pem,
                                                                    std::string& error);

    ~TlsClientContext();
    TlsClientContext(const TlsClientContext&) = delete;
    TlsClientContext& operator=(const TlsClientContext&) = delete;

    bool verifies_peer() const;
    const mbedtls_ssl_config& ssl_config() const;

private:
    explicit TlsClientContext(std::unique_ptr<tls_context_detail::ContextState> state);
    std::unique_ptr<tls_context_detail::ContextState> state_;
};

} // namespace relayguard::proxy
