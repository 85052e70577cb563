/*
 * The mbedTLS 3.6 configuration of relayguard's static builds (the musl-* presets).
 *
 * toolchains/build-musl-deps.sh copies this file over include/mbedtls/mbedtls_config.h of the mbedTLS
 * source before building it, so the library and every file that includes its installed headers see the
 * same options. It replaces the whole default configuration: only what relayguard uses is compiled in.
 * The glibc presets keep Debian's mbedTLS 2.28 (and the mbedtls3 preset the untrimmed 3.6) as they are.
 *
 * What relayguard uses (proxy/src/tls_context.cpp, policy/src/password_hash.cpp):
 *   - TLS 1.2 and TLS 1.3, server side (clients of relayguard) and client side (the upstream leg);
 *   - ECDHE with X25519 and P-256 (P-384 too, see below); ECDSA and RSA certificates and keys;
 *   - chain verification against the configured upstream CA, host name checked;
 *   - AES-GCM and ChaCha20-Poly1305; SHA-256 and SHA-384;
 *   - HMAC-SHA-256 for PBKDF2 (<user password-hash>), computed by relayguard through the MD layer;
 *   - CTR-DRBG seeded from the kernel (getrandom).
 * Everything else (DTLS, PSK, static RSA and DH key exchange, CBC, CCM, SHA-1, MD5, CRLs, certificate
 * writing, PSA storage, ALPN, renegotiation, the SSL session cache, debug output) is left out. A
 * relayguard built with this file still refuses what it refused before; what it can no longer do is
 * listed in docs/packaging.md ("What the static builds leave out").
 */
#ifndef RELAYGUARD_MBEDTLS_CONFIG_H
#define RELAYGUARD_MBEDTLS_CONFIG_H

/* ---- System ---- */

/* Assembly for bignum multiplication where the compiler supports it: RSA and ECP speed. */
#define MBEDTLS_HAVE_ASM
/* Certificate validity periods are checked against the clock. */
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
/* No deprecated interfaces: relayguard builds against 3.6 without them, and they only cost code. */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---- Public keys and certificates ---- */

#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C /* ECDSA signatures are written as ASN.1 */
#define MBEDTLS_BASE64_C     /* PEM */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_OID_C
#define MBEDTLS_PEM_PARSE_C /* certificate and key files are PEM; encrypted keys are not supported */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C /* TLS 1.3 hands keys to the PSA layer in exported form */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C

#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15 /* RSA signatures in TLS 1.2 and in most certificate chains */
#define MBEDTLS_PKCS1_V21 /* RSA-PSS, which TLS 1.3 requires for RSA certificates */
/* RSA-PSS signatures in certificates; in 3.6 this option also decides whether the TLS 1.3 client offers
 * rsa_pss_rsae_* at all, so without it the upstream leg could not talk TLS 1.3 to an RSA server. */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT
/* RSA keys up to 4096 bits (the default allows 8192): halves the size of every bignum buffer. */
#define MBEDTLS_MPI_MAX_SIZE 512

#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
/* The nonce of every ECDSA signature is derived from the key and the message (RFC 6979), so a weak
 * moment of the random generator on a freshly booted router cannot leak the key. Needs HMAC-DRBG. */
#define MBEDTLS_ECDSA_DETERMINISTIC
#define MBEDTLS_HMAC_DRBG_C
/* Curves: X25519 and P-256 for the key exchange (tls_context.cpp offers them in that order). P-384 is
 * kept because common chains are signed with it (Let's Encrypt's ECDSA intermediates E5-E9 and ISRG
 * Root X2): without it an upstream with such a chain could not be verified. P-521, the Koblitz and
 * Brainpool curves and X448 are left out. */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
/* ECP speed options, set deliberately (docs/benchmarks.md has the handshake cost with them):
 * - NIST_OPTIM: the fast modular reduction for P-256/P-384 (a few KiB of code, several times faster);
 * - FIXED_POINT_OPTIM: multiplications by the base point (every ECDSA signature, every key pair made
 *   for ECDHE) use the comb tables that mbedTLS keeps precomputed in read-only data (flash, not RAM);
 * - WINDOW_SIZE 4: the window for multiplications by other points (the peer's ECDHE share, ECDSA
 *   verification). 4 is the speed/RAM balance the mbedTLS authors chose; each step up doubles the
 *   temporary table (P-256, window 4: 8 points, about 1 KiB while a handshake computes). */
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 1
#define MBEDTLS_ECP_WINDOW_SIZE 4

/* ---- Symmetric cryptography and hashes ---- */

#define MBEDTLS_AES_C
/* The AES tables live in read-only data instead of being computed into 8 KiB of RAM at start-up. */
#define MBEDTLS_AES_ROM_TABLES
/* Hardware AES where the CPU has it (detected at run time): AES-NI on x86-64, the ARMv8 crypto
 * extension on aarch64 (Cortex-A53/A72 routers usually have it). Other targets compile them to nothing. */
#define MBEDTLS_AESNI_C
#define MBEDTLS_AESCE_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA224_C /* sha256.c builds both; TLS never offers SHA-224 */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C /* SHA-384 is computed by sha512.c; SHA-512 certificate signatures exist */
#define MBEDTLS_HKDF_C   /* the TLS 1.3 key schedule */

/* ---- Random numbers ---- */

#define MBEDTLS_ENTROPY_C /* getrandom(2), /dev/urandom where that is missing */
#define MBEDTLS_CTR_DRBG_C

/* ---- PSA: TLS 1.3 in mbedTLS 3.6 does its key schedule and record protection through it ---- */

#define MBEDTLS_PSA_CRYPTO_C
/* Key slots grow with use instead of a fixed table of 32: every TLS 1.3 session holds its traffic keys
 * in slots, so a fixed table would cap the number of concurrent TLS 1.3 sessions. */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC

/* ---- TLS ---- */

#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
/* Resumption with a ticket, still with a fresh (EC)DHE exchange (psk_dhe_ke): forward secrecy is kept.
 * Plain psk_ke (MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED), which has none, stays out. */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* middlebox compatibility, as OpenSSL clients expect */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET /* RFC 7627 for TLS 1.2 */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION /* the upstream leg names the host it verifies */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES     /* a peer learns why a handshake failed */
/* Required by TLS 1.3 in 3.6. It costs nothing towards clients (relayguard asks none for a certificate);
 * on the upstream leg the upstream's chain stays in memory for as long as the link is open. */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
/* Session tickets: the listeners issue them (<tls session-tickets>, on by default) so that a client that
 * reconnects skips the certificate and signature, the costliest part of a handshake on a router; and the
 * TLS 1.3 client must understand an upstream's NewSessionTicket (OpenSSL sends two after every
 * handshake), without this option an error. The ticket module encrypts them (AES-256-GCM, keys in
 * memory, rotated every ticket lifetime). */
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_TICKET_C
/* A client that asks for smaller records (RFC 6066 max_fragment_length) gets them, and with variable
 * buffer lengths the session's record buffers shrink to that size once the handshake is over. */
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
/* Only the suites tls_context.cpp configures are compiled in (the table and the code behind it). */
#define MBEDTLS_SSL_CIPHERSUITES                                                                             \
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384, MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,                              \
        MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,                  \
        MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,                                                       \
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                                               \
        MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,                                                 \
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
/* Record buffers, sized for mail:
 * - in: 16 KiB, the TLS maximum. A peer may send full-size records (OpenSSL does for a message body)
 *   and almost no mail client or server negotiates smaller ones, so anything less would break them.
 * - out: 4 KiB. relayguard's own records are replies (a few hundred octets) towards clients and
 *   message data towards the upstream, which it may cut into any record size it likes. The largest
 *   message it must write in one piece is its Certificate: the certificate chain must fit in 4 KiB
 *   (a leaf and one intermediate, RSA-2048/4096 or ECDSA, does; tls_context.cpp refuses a chain that
 *   does not, naming the file, at start-up and on reload).
 * This takes each TLS session from 2 x 16.7 KiB of record buffers to 16.7 + 4.4 KiB. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* ---- Errors ---- */

/* Error texts ("X509 - Certificate verification failed ..."): logs and check-config name the reason. */
#define MBEDTLS_ERROR_C

/* mbedtls/build_info.h checks this set of options (check_config.h) after deriving the PSA ones. */

#endif /* RELAYGUARD_MBEDTLS_CONFIG_H */
