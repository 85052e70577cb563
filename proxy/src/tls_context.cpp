#include <relayguard/proxy/tls_context.hpp>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#endif

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <system_error>
#include <vector>

namespace relayguard::proxy {
namespace tls_context_detail {

// What relayguard offers, most preferred first: AES-GCM leads (most peers, and ARMv8 routers with the
// crypto extension, have AES instructions), CHACHA20-POLY1305 follows for those without. Everything
// else stays off: CBC (padding oracles), static RSA and plain DH (no forward secrecy), PSK.
constexpr int wanted_ciphersuites[] = {
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
};
constexpr std::size_t wanted_ciphersuite_count = sizeof(wanted_ciphersuites) / sizeof(wanted_ciphersuites[0]);

// Key exchange groups, cheapest first: X25519 and P-256 cost a fraction of P-521's CPU per handshake
// (on a router's Cortex-A7/A53 the difference decides how many handshakes per second it can take), and
// both are what clients offer first. The library's own default order puts the largest curves first.
// Groups this build lacks are left out (X25519 is optional in mbedTLS).
#if MBEDTLS_VERSION_MAJOR >= 3
constexpr std::uint16_t preferred_groups[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
#endif
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1,
#endif
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
#else
constexpr mbedtls_ecp_group_id preferred_groups[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
    MBEDTLS_ECP_DP_CURVE25519,
#endif
    MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_NONE};
#endif

// Mixed into the random generator's seed so that the server and the client generator differ even if
// the entropy source were to repeat itself (NIST SP 800-90A personalization string).
constexpr char server_personalization[] = "relayguard tls server";
constexpr char client_personalization[] = "relayguard tls client";

// RFC 6066 maximum_fragment_length requested on the upstream leg (see tls_context.hpp). Not with TLS 1.3
// in the build: an OpenSSL server answers the extension in its EncryptedExtensions, and mbedTLS 3.6's
// TLS 1.3 client then aborts the handshake ("unsupported extension").
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH) &&                                                              \
    !(MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3))
#define RELAYGUARD_REQUEST_MAX_FRAGMENT_LENGTH 1
constexpr unsigned char upstream_max_fragment_code = MBEDTLS_SSL_MAX_FRAG_LEN_4096;
#endif

// Session tickets need the ticket module and the session ticket extension; mbedTLS 3's TLS 1.3 also
// needs the psk_dhe_ke key exchange mode compiled in to resume (without it only TLS 1.2 resumes).
#if defined(MBEDTLS_SSL_TICKET_C) && defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_SRV_C)
#define RELAYGUARD_SESSION_TICKETS 1
#endif

// Everything one configuration needs, at a fixed address: mbedtls_ssl_config keeps pointers to the
// random generator, the certificates, the key and the cipher suite list.
struct ContextState {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context random;
    mbedtls_x509_crt certificates; // server: its own chain, leaf first; client: the trust anchors
    mbedtls_pk_context key;        // server only
    mbedtls_ssl_config config;
    std::array<int, wanted_ciphersuite_count + 1> ciphersuites{}; // zero-terminated
    bool verifies_peer = false;
#if defined(RELAYGUARD_SESSION_TICKETS)
    mbedtls_ssl_ticket_context tickets; // server only, when tickets are on
#endif
    bool issues_tickets = false;

    ContextState() {
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&random);
        mbedtls_x509_crt_init(&certificates);
        mbedtls_pk_init(&key);
        mbedtls_ssl_config_init(&config);
#if defined(RELAYGUARD_SESSION_TICKETS)
        mbedtls_ssl_ticket_init(&tickets);
#endif
    }
    ~ContextState() {
        mbedtls_ssl_config_free(&config);
#if defined(RELAYGUARD_SESSION_TICKETS)
        mbedtls_ssl_ticket_free(&tickets); // wipes the ticket keys
#endif
        mbedtls_pk_free(&key); // wipes the private key
        mbedtls_x509_crt_free(&certificates);
        mbedtls_ctr_drbg_free(&random);
        mbedtls_entropy_free(&entropy);
    }
    ContextState(const ContextState&) = delete;
    ContextState& operator=(const ContextState&) = delete;
};

// The contents of a certificate or key file followed by one NUL octet (mbedTLS's PEM parser wants the
// terminator counted in the length). Sized once, so no reallocation leaves a copy of a key behind, and
// wiped when done.
class FileBytes {
public:
    FileBytes() = default;
    explicit FileBytes(std::string_view text) : bytes_(text.size() + 1, 0) {
        if (!text.empty()) {
            std::memcpy(bytes_.data(), text.data(), text.size());
        }
    }
    ~FileBytes() { mbedtls_platform_zeroize(bytes_.data(), bytes_.size()); }
    FileBytes(const FileBytes&) = delete;
    FileBytes& operator=(const FileBytes&) = delete;

    void allocate(std::size_t content_size) { bytes_.assign(content_size + 1, 0); }
    unsigned char* data() { return bytes_.data(); }
    const unsigned char* data() const { return bytes_.data(); }
    std::size_t content_size() const { return bytes_.empty() ? 0 : bytes_.size() - 1; }
    // PEM text is passed with its terminator, DER without (the DER parser would see a stray octet).
    std::size_t parse_length() const {
        static constexpr char pem_marker[] = "-----BEGIN ";
        const auto* text = reinterpret_cast<const char*>(bytes_.data());
        const bool is_pem = content_size() > 0 && std::strstr(text, pem_marker) != nullptr;
        return is_pem ? content_size() + 1 : content_size();
    }

private:
    std::vector<unsigned char> bytes_;
};

std::string file_source(const char* what, const std::string& path) {
    return std::string(what) + " file \"" + path + "\"";
}

std::string memory_source(const char* what) {
    return std::string(what) + " (in memory)";
}

bool read_file(const std::string& path, std::size_t limit, const std::string& source, FileBytes& contents,
               std::string& error) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        error = "cannot open " + source + ": " + std::generic_category().message(errno);
        return false;
    }
    bool ok = false;
    struct stat status {};
    if (::fstat(::fileno(file), &status) != 0 || !S_ISREG(status.st_mode)) {
        error = "cannot read " + source + ": not a regular file";
    } else if (static_cast<std::uintmax_t>(status.st_size) > limit) {
        error = source + " is larger than " + std::to_string(limit) + " octets";
    } else {
        const auto content_size = static_cast<std::size_t>(status.st_size);
        contents.allocate(content_size);
        if (std::fread(contents.data(), 1, content_size, file) != content_size) {
            error = "cannot read " + source + ": it changed while being read";
        } else {
            ok = true;
        }
    }
    std::fclose(file);
    return ok;
}

bool start_crypto(std::string& error) {
#if MBEDTLS_VERSION_MAJOR >= 3
    // TLS 1.3 (and, in 3.x, parts of TLS 1.2 and key parsing) run on PSA; repeated calls are harmless.
    const psa_status_t status = psa_crypto_init();
    if (status != PSA_SUCCESS) {
        error = "cannot initialise PSA crypto (status " + std::to_string(status) + ")";
        return false;
    }
#else
    (void)error;
#endif
    return true;
}

bool seed_random(ContextState& state, const char* personalization, std::string& error) {
    const int ret = mbedtls_ctr_drbg_seed(&state.random, mbedtls_entropy_func, &state.entropy,
                                          reinterpret_cast<const unsigned char*>(personalization),
                                          std::strlen(personalization));
    if (ret != 0) {
        error = "cannot seed the TLS random generator: " + describe_mbedtls_error(ret);
        return false;
    }
    return true;
}

// `allow_unparsable`: accept a bundle in which some certificates cannot be parsed, as long as one can.
bool parse_certificates(ContextState& state, const FileBytes& contents, const std::string& source,
                        bool allow_unparsable, std::string& error) {
    if (contents.content_size() == 0) {
        error = source + " is empty";
        return false;
    }
    const int ret = mbedtls_x509_crt_parse(&state.certificates, contents.data(), contents.parse_length());
    if (ret < 0) {
        error = source + ": no certificate could be parsed: " + describe_mbedtls_error(ret);
        return false;
    }
    if (ret > 0 && !allow_unparsable) {
        error = source + ": " + std::to_string(ret) + " of its certificates could not be parsed";
        return false;
    }
    return true;
}

bool parse_key(ContextState& state, const FileBytes& contents, const std::string& source,
               std::string& error) {
    if (contents.content_size() == 0) {
        error = source + " is empty";
        return false;
    }
#if MBEDTLS_VERSION_MAJOR >= 3
    const int ret = mbedtls_pk_parse_key(&state.key, contents.data(), contents.parse_length(), nullptr, 0,
                                         mbedtls_ctr_drbg_random, &state.random);
#else
    const int ret = mbedtls_pk_parse_key(&state.key, contents.data(), contents.parse_length(), nullptr, 0);
#endif
    if (ret != 0) {
        // Only mbedTLS's fixed error text: nothing of the file's contents.
        error = source + ": not a usable unencrypted private key: " + describe_mbedtls_error(ret);
        return false;
    }
    return true;
}

// The whole chain goes out in one Certificate handshake message, which mbedTLS writes into one record
// of at most MBEDTLS_SSL_OUT_CONTENT_LEN octets: 4 octets of handshake header and 3 of list length,
// then per certificate 3 octets of length and, in TLS 1.3, 2 of (empty) extensions, plus TLS 1.3's
// 1-octet request context. The TLS 1.3 octets are always counted: one bound that holds for both
// versions, at most a few dozen octets too strict for TLS 1.2. Checked when the file is loaded, so that a
// chain too large for this build stops the start (or the reload) with its name instead of failing every
// handshake later.
bool chain_fits_one_record(const ContextState& state, const std::string& certificate_source,
                           std::string& error) {
    std::size_t message_size = 4 + 1 + 3;
    std::size_t certificates = 0;
    for (const mbedtls_x509_crt* certificate = &state.certificates; certificate != nullptr;
         certificate = certificate->next) {
        message_size += 3 + 2 + certificate->raw.len;
        ++certificates;
    }
    if (message_size <= tls_output_record_limit()) {
        return true;
    }
    error = certificate_source + ": its chain of " + std::to_string(certificates) + " certificates needs " +
            std::to_string(message_size) + " octets in the TLS Certificate message, more than the " +
            std::to_string(tls_output_record_limit()) +
            " this build writes in one record (MBEDTLS_SSL_OUT_CONTENT_LEN); leave the root and "
            "cross-signed certificates out of the file";
    return false;
}

bool key_matches_certificate(ContextState& state, const std::string& certificate_source,
                             const std::string& key_source, std::string& error) {
#if MBEDTLS_VERSION_MAJOR >= 3
    const int ret =
        mbedtls_pk_check_pair(&state.certificates.pk, &state.key, mbedtls_ctr_drbg_random, &state.random);
#else
    const int ret = mbedtls_pk_check_pair(&state.certificates.pk, &state.key);
#endif
    if (ret != 0) {
        error = key_source + " does not belong to the certificate in " + certificate_source + " (" +
                describe_mbedtls_error(ret) + ")";
        return false;
    }
    return true;
}

// Keeps the wanted suites this mbedTLS build knows; mbedTLS holds on to the list, so it lives in `state`.
bool choose_ciphersuites(ContextState& state, std::string& error) {
    std::size_t count = 0;
    for (const int suite : wanted_ciphersuites) {
        if (mbedtls_ssl_ciphersuite_from_id(suite) != nullptr) {
            state.ciphersuites[count++] = suite;
        }
    }
    state.ciphersuites[count] = 0;
    if (count == 0) {
        error = "this mbedTLS build has none of the ECDHE AEAD cipher suites relayguard allows";
        return false;
    }
    mbedtls_ssl_conf_ciphersuites(&state.config, state.ciphersuites.data());
    return true;
}

// What the server and the client configuration have in common.
bool configure_common(ContextState& state, int endpoint, std::string& error) {
    const int ret = mbedtls_ssl_config_defaults(&state.config, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        error = "cannot set up the TLS configuration: " + describe_mbedtls_error(ret);
        return false;
    }
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_min_tls_version(&state.config, MBEDTLS_SSL_VERSION_TLS1_2);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    mbedtls_ssl_conf_max_tls_version(&state.config, MBEDTLS_SSL_VERSION_TLS1_3);
    // Ephemeral (EC)DHE only; configure_tickets adds psk_dhe_ke to a listener's configuration.
    mbedtls_ssl_conf_tls13_key_exchange_modes(&state.config, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
#else
    mbedtls_ssl_conf_max_tls_version(&state.config, MBEDTLS_SSL_VERSION_TLS1_2);
#endif
#else
    mbedtls_ssl_conf_min_version(&state.config, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&state.config, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    // The default already, set explicitly: a renegotiation is a second handshake relayguard never needs.
    mbedtls_ssl_conf_renegotiation(&state.config, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    mbedtls_ssl_conf_rng(&state.config, mbedtls_ctr_drbg_random, &state.random);
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_groups(&state.config, preferred_groups);
#else
    mbedtls_ssl_conf_curves(&state.config, preferred_groups);
#endif
    return choose_ciphersuites(state, error);
}

// Ticket keys and callbacks for a server configuration (see tls_context.hpp).
bool configure_tickets(ContextState& state, std::chrono::seconds lifetime, std::string& error) {
#if defined(RELAYGUARD_SESSION_TICKETS)
    if (lifetime.count() <= 0) {
        return true;
    }
    const int ret =
        mbedtls_ssl_ticket_setup(&state.tickets, mbedtls_ctr_drbg_random, &state.random,
                                 MBEDTLS_CIPHER_AES_256_GCM, static_cast<std::uint32_t>(lifetime.count()));
    if (ret != 0) {
        error = "cannot set up TLS session tickets: " + describe_mbedtls_error(ret);
        return false;
    }
    mbedtls_ssl_conf_session_tickets_cb(&state.config, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                        &state.tickets);
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3) &&                                       \
    defined(MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED)
    mbedtls_ssl_conf_tls13_key_exchange_modes(&state.config,
                                              MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL |
                                                  MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL);
#endif
    state.issues_tickets = true;
#else
    (void)state;
    (void)lifetime;
    (void)error;
#endif
    return true;
}

std::unique_ptr<ContextState> build_server_state(const FileBytes& certificate,
                                                 const std::string& certificate_source, const FileBytes& key,
                                                 const std::string& key_source,
                                                 std::chrono::seconds ticket_lifetime, std::string& error) {
    auto state = std::make_unique<ContextState>();
    if (!start_crypto(error) || !seed_random(*state, server_personalization, error) ||
        !parse_certificates(*state, certificate, certificate_source, false, error) ||
        !chain_fits_one_record(*state, certificate_source, error) ||
        !parse_key(*state, key, key_source, error) ||
        !key_matches_certificate(*state, certificate_source, key_source, error) ||
        !configure_common(*state, MBEDTLS_SSL_IS_SERVER, error)) {
        return nullptr;
    }
    // SMTP clients do not present certificates; relayguard authenticates them with AUTH.
    mbedtls_ssl_conf_authmode(&state->config, MBEDTLS_SSL_VERIFY_NONE);
    const int ret = mbedtls_ssl_conf_own_cert(&state->config, &state->certificates, &state->key);
    if (ret != 0) {
        error = "cannot use the certificate and key: " + describe_mbedtls_error(ret);
        return nullptr;
    }
    if (!configure_tickets(*state, ticket_lifetime, error)) {
        return nullptr;
    }
    return state;
}

std::unique_ptr<ContextState> build_client_state(const FileBytes* ca, const std::string& ca_source,
                                                 std::string& error) {
    auto state = std::make_unique<ContextState>();
    if (!start_crypto(error) || !seed_random(*state, client_personalization, error) ||
        (ca != nullptr && !parse_certificates(*state, *ca, ca_source, true, error)) ||
        !configure_common(*state, MBEDTLS_SSL_IS_CLIENT, error)) {
        return nullptr;
    }
    state->verifies_peer = ca != nullptr;
    if (state->verifies_peer) {
        mbedtls_ssl_conf_authmode(&state->config, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(&state->config, &state->certificates, nullptr);
    } else {
        mbedtls_ssl_conf_authmode(&state->config, MBEDTLS_SSL_VERIFY_NONE);
    }
#if defined(RELAYGUARD_REQUEST_MAX_FRAGMENT_LENGTH)
    const int ret = mbedtls_ssl_conf_max_frag_len(&state->config, upstream_max_fragment_code);
    if (ret != 0) {
        error = "cannot limit the TLS fragment length: " + describe_mbedtls_error(ret);
        return nullptr;
    }
#endif
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
    // Every upstream connection is a full handshake; a ticket would only cost the upstream work.
    mbedtls_ssl_conf_session_tickets(&state->config, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
    return state;
}

} // namespace tls_context_detail

bool tls13_supported() {
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
    return true;
#else
    return false;
#endif
}

std::size_t tls_output_record_limit() {
    return MBEDTLS_SSL_OUT_CONTENT_LEN;
}

std::string describe_mbedtls_error(int code) {
    std::array<char, 256> text{};
    mbedtls_strerror(code, text.data(), text.size());
    std::array<char, 16> number{};
    const unsigned magnitude = code < 0 ? 0u - static_cast<unsigned>(code) : static_cast<unsigned>(code);
    std::snprintf(number.data(), number.size(), "%s0x%04X", code < 0 ? "-" : "", magnitude);
    return std::string(text.data()) + " (" + number.data() + ")";
}

TlsServerContext::TlsServerContext(std::unique_ptr<tls_context_detail::ContextState> state)
    : state_(std::move(state)) {
}

TlsServerContext::~TlsServerContext() = default;

std::shared_ptr<const TlsServerContext> TlsServerContext::load(const std::string& certificate_file,
                                                               const std::string& key_file,
                                                               std::string& error,
                                                               std::chrono::seconds ticket_lifetime) {
    using namespace tls_context_detail;
    const std::string certificate_source = file_source("certificate", certificate_file);
    const std::string key_source = file_source("key", key_file);
    FileBytes certificate;
    FileBytes key;
    if (!read_file(certificate_file, max_certificate_file_size, certificate_source, certificate, error) ||
        !read_file(key_file, max_key_file_size, key_source, key, error)) {
        return nullptr;
    }
    auto state = build_server_state(certificate, certificate_source, key, key_source, ticket_lifetime, error);
    if (!state) {
        return nullptr;
    }
    return std::shared_ptr<const TlsServerContext>(new TlsServerContext(std::move(state)));
}

std::shared_ptr<const TlsServerContext>
TlsServerContext::load_from_memory(std::string_view certificate_pem, std::string_view key_pem,
                                   std::string& error, std::chrono::seconds ticket_lifetime) {
    using namespace tls_context_detail;
    const FileBytes certificate(certificate_pem);
    const FileBytes key(key_pem);
    auto state = build_server_state(certificate, memory_source("certificate"), key, memory_source("key"),
                                    ticket_lifetime, error);
    if (!state) {
        return nullptr;
    }
    return std::shared_ptr<const TlsServerContext>(new TlsServerContext(std::move(state)));
}

bool TlsServerContext::issues_tickets() const {
    return state_->issues_tickets;
}

const mbedtls_ssl_config& TlsServerContext::ssl_config() const {
    return state_->config;
}

TlsClientContext::TlsClientContext(std::unique_ptr<tls_context_detail::ContextState> state)
    : state_(std::move(state)) {
}

TlsClientContext::~TlsClientContext() = default;

std::shared_ptr<const TlsClientContext> TlsClientContext::load(const std::string& ca_file,
                                                               std::string& error) {
    using namespace tls_context_detail;
    const std::string ca_source = file_source("CA", ca_file);
    FileBytes ca;
    if (!ca_file.empty() && !read_file(ca_file, max_certificate_file_size, ca_source, ca, error)) {
        return nullptr;
    }
    auto state = build_client_state(ca_file.empty() ? nullptr : &ca, ca_source, error);
    if (!state) {
        return nullptr;
    }
    return std::shared_ptr<const TlsClientContext>(new TlsClientContext(std::move(state)));
}

std::shared_ptr<const TlsClientContext> TlsClientContext::load_from_memory(std::string_view ca_pem,
                                                                           std::string& error) {
    using namespace tls_context_detail;
    const FileBytes ca(ca_pem);
    auto state = build_client_state(ca_pem.empty() ? nullptr : &ca, memory_source("CA"), error);
    if (!state) {
        return nullptr;
    }
    return std::shared_ptr<const TlsClientContext>(new TlsClientContext(std::move(state)));
}

bool TlsClientContext::verifies_peer() const {
    return state_->verifies_peer;
}

const mbedtls_ssl_config& TlsClientContext::ssl_config() const {
    return state_->config;
}

bool tls_thread_safe() {
#if defined(MBEDTLS_THREADING_C)
    return true;
#else
    return false;
#endif
}

} // namespace relayguard::proxy
