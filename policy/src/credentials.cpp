#include <relayguard/policy/base64.hpp>
#include <relayguard/policy/credentials.hpp>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

namespace relayguard::policy {

// Target: one verification costs about 50 ms on a Cortex-A53 at 1.2 GHz with mbedTLS 2.28, which has
// no ARMv8 SHA-256 instructions. How 12'000 was reached:
// - Measured on the x86-64 build host (AMD EPYC, Debian's mbedTLS 2.28.3, -O2, a throwaway timing
//   program): one PBKDF2 round of this file takes 0.41 us, bulk SHA-256 takes 178 ns per 64-byte
//   block, so a round costs about 2.3 compressions (two, plus the clone/finish/padding overhead). The
//   same round through mbedtls_md_hmac_reset/_finish took 0.76 us (4.3 compressions); see HmacSha256.
// - Cortex-A53 software SHA-256: OpenSSL's sha512-armv8.pl reports 15.5 cycles/byte for its
//   hand-scheduled assembly and says that is 115% faster than compiler-generated code, so C such as
//   mbedTLS's runs at about 33 cycles/byte: 2'100 cycles or 1.76 us per block at 1.2 GHz.
// - One round on the A53: 2.3 x 1.76 us = 4.05 us; 50 ms / 4.05 us = 12'350, rounded to 12'000
//   (about 49 ms; the same check takes about 5 ms on the build host).
// Boards whose mbedTLS uses the ARMv8 SHA-256 instructions verify roughly ten times faster; the number
// is set for the slowest plausible board so that a login there still takes only about 50 ms.
const std::uint32_t default_pbkdf2_iterations = 12'000;

namespace credentials_detail {

constexpr std::size_t sha256_size = 32;
constexpr std::size_t sha256_block_size = 64;
constexpr std::uint8_t hmac_inner_pad = 0x36; // RFC 2104 §2
constexpr std::uint8_t hmac_outer_pad = 0x5c;
constexpr std::size_t created_hash_length = sha256_size;

constexpr std::string_view phc_prefix = "$pbkdf2-sha256$i=";
constexpr std::size_t max_iteration_digits = 8; // max_pbkdf2_iterations is 10'000'000
constexpr std::size_t unpadded_base64_length(std::size_t bytes) {
    return (bytes * 4 + 2) / 3;
}
// Longer input cannot be valid, so parse refuses it before looking at it.
constexpr std::size_t max_phc_length = phc_prefix.size() + max_iteration_digits + 1 +
                                       unpadded_base64_length(max_salt_length) + 1 +
                                       unpadded_base64_length(max_hash_length);

void check_mbedtls(int result, const char* operation) {
    if (result != 0) {
        throw std::runtime_error(std::string("mbedTLS ") + operation + " failed");
    }
}

// Zeroes a buffer that held key material when the scope ends, also when an exception leaves it.
class WipeOnExit {
public:
    WipeOnExit(void* buffer, std::size_t size) : buffer_(buffer), size_(size) {}
    ~WipeOnExit() { mbedtls_platform_zeroize(buffer_, size_); }
    WipeOnExit(const WipeOnExit&) = delete;
    WipeOnExit& operator=(const WipeOnExit&) = delete;

private:
    void* buffer_;
    std::size_t size_;
};

// One SHA-256 digest context. mbedtls_md_free zeroes the state, which after the HMAC pad blocks is
// as good as the key.
class Sha256 {
public:
    Sha256() {
        mbedtls_md_init(&context_);
        const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
        const int result = info == nullptr ? -1 : mbedtls_md_setup(&context_, info, 0);
        if (result != 0) {
            mbedtls_md_free(&context_);
            check_mbedtls(result, "SHA-256 setup");
        }
    }
    ~Sha256() { mbedtls_md_free(&context_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void start() { check_mbedtls(mbedtls_md_starts(&context_), "SHA-256 start"); }
    void continue_from(const Sha256& other) {
        check_mbedtls(mbedtls_md_clone(&context_, &other.context_), "SHA-256 clone");
    }
    void update(const std::uint8_t* data, std::size_t size) {
        if (size != 0) {
            check_mbedtls(mbedtls_md_update(&context_, data, size), "SHA-256 update");
        }
    }
    void finish(std::uint8_t* digest) {
        check_mbedtls(mbedtls_md_finish(&context_, digest), "SHA-256 finish");
    }

private:
    mbedtls_md_context_t context_;
};

// HMAC-SHA256 (RFC 2104) under one key, with the key's inner and outer pad blocks hashed once up front
// and each MAC continuing from copies of those two states. A PBKDF2 round then costs two SHA-256
// compressions instead of the four that mbedtls_md_hmac_reset/_finish spend (they re-hash the pad
// blocks every time). Attackers' implementations take the shortcut too, so without it a defender
// would pay double for the same work factor.
class HmacSha256 {
public:
    explicit HmacSha256(std::string_view key) {
        std::array<std::uint8_t, sha256_block_size> key_block{};
        std::array<std::uint8_t, sha256_block_size> pad_block{};
        const WipeOnExit wipe_key(key_block.data(), key_block.size());
        const WipeOnExit wipe_pad(pad_block.data(), pad_block.size());
        const auto* key_bytes = reinterpret_cast<const std::uint8_t*>(key.data());
        if (key.size() > sha256_block_size) {
            work_.start();
            work_.update(key_bytes, key.size());
            work_.finish(key_block.data());
        } else {
            std::copy(key_bytes, key_bytes + key.size(), key_block.begin());
        }
        absorb_pad_block(inner_start_, key_block, hmac_inner_pad, pad_block);
        absorb_pad_block(outer_start_, key_block, hmac_outer_pad, pad_block);
    }
    ~HmacSha256() { mbedtls_platform_zeroize(inner_digest_.data(), inner_digest_.size()); }
    HmacSha256(const HmacSha256&) = delete;
    HmacSha256& operator=(const HmacSha256&) = delete;

    // mac = HMAC(key, first || second). `mac` may overlap `first` or `second`.
    void compute(const std::uint8_t* first, std::size_t first_size, const std::uint8_t* second,
                 std::size_t second_size, std::uint8_t* mac) {
        work_.continue_from(inner_start_);
        work_.update(first, first_size);
        work_.update(second, second_size);
        work_.finish(inner_digest_.data());
        work_.continue_from(outer_start_);
        work_.update(inner_digest_.data(), inner_digest_.size());
        work_.finish(mac);
    }

private:
    static void absorb_pad_block(Sha256& digest, const std::array<std::uint8_t, sha256_block_size>& key_block,
                                 std::uint8_t pad, std::array<std::uint8_t, sha256_block_size>& pad_block) {
        for (std::size_t index = 0; index < key_block.size(); ++index) {
            pad_block[index] = static_cast<std::uint8_t>(key_block[index] ^ pad);
        }
        digest.start();
        digest.update(pad_block.data(), pad_block.size());
    }

    Sha256 inner_start_;
    Sha256 outer_start_;
    Sha256 work_;
    std::array<std::uint8_t, sha256_size> inner_digest_{};
};

std::nullopt_t fail(std::string* error, std::string message) {
    if (error != nullptr) {
        *error = std::move(message);
    }
    return std::nullopt;
}

bool is_decimal(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string length_range_text(std::size_t min_length, std::size_t max_length) {
    return std::to_string(min_length) + " to " + std::to_string(max_length) + " bytes";
}

std::string iteration_range_text() {
    return "between " + std::to_string(min_pbkdf2_iterations) + " and " +
           std::to_string(max_pbkdf2_iterations);
}

} // namespace credentials_detail

std::vector<std::uint8_t> pbkdf2_hmac_sha256(std::string_view password, const std::uint8_t* salt,
                                             std::size_t salt_size, std::uint32_t iterations,
                                             std::size_t output_size) {
    using credentials_detail::sha256_size;
    using credentials_detail::WipeOnExit;
    if (iterations == 0) {
        throw std::invalid_argument("PBKDF2 needs at least one iteration");
    }
    // RFC 8018 §5.2 step 1: the block counter is 32 bits.
    const std::size_t block_count = output_size / sha256_size + (output_size % sha256_size != 0 ? 1 : 0);
    if (static_cast<std::uint64_t>(block_count) > std::numeric_limits<std::uint32_t>::max()) {
        throw std::invalid_argument("PBKDF2 derived key too long");
    }

    credentials_detail::HmacSha256 hmac(password);
    std::vector<std::uint8_t> output(output_size);
    std::array<std::uint8_t, sha256_size> chain{}; // U_j of RFC 8018
    std::array<std::uint8_t, sha256_size> block{}; // T_i
    const WipeOnExit wipe_chain(chain.data(), chain.size());
    const WipeOnExit wipe_block(block.data(), block.size());
    try {
        for (std::size_t block_index = 0; block_index < block_count; ++block_index) {
            const auto counter = static_cast<std::uint32_t>(block_index + 1);
            const std::array<std::uint8_t, 4> counter_bytes = {
                static_cast<std::uint8_t>(counter >> 24), static_cast<std::uint8_t>(counter >> 16),
                static_cast<std::uint8_t>(counter >> 8), static_cast<std::uint8_t>(counter)};
            hmac.compute(salt, salt_size, counter_bytes.data(), counter_bytes.size(), chain.data());
            block = chain;
            for (std::uint32_t round = 1; round < iterations; ++round) {
                hmac.compute(chain.data(), chain.size(), nullptr, 0, chain.data());
                for (std::size_t index = 0; index < sha256_size; ++index) {
                    block[index] ^= chain[index];
                }
            }
            const std::size_t offset = block_index * sha256_size;
            const std::size_t length = std::min(sha256_size, output_size - offset);
            std::copy(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(length),
                      output.begin() + static_cast<std::ptrdiff_t>(offset));
        }
    } catch (...) {
        mbedtls_platform_zeroize(output.data(), output.size());
        throw;
    }
    return output;
}

bool constant_time_equal(const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b,
                         std::size_t b_size) {
    if (a_size != b_size) {
        return false;
    }
    // Every byte is visited whatever the earlier ones held: no early exit tells where they differ.
    std::uint8_t difference = 0;
    for (std::size_t index = 0; index < a_size; ++index) {
        difference = static_cast<std::uint8_t>(difference | (a[index] ^ b[index]));
    }
    return difference == 0;
}

std::optional<PasswordHash> PasswordHash::parse(std::string_view phc, std::string* error) {
    using credentials_detail::fail;
    // Messages name the part that is wrong but never quote it: the hash is a password verifier.
    if (phc.size() > credentials_detail::max_phc_length) {
        return fail(error, "password hash is too long to be a $pbkdf2-sha256$ hash");
    }
    if (phc.substr(0, credentials_detail::phc_prefix.size()) != credentials_detail::phc_prefix) {
        return fail(error, "password hash must have the form $pbkdf2-sha256$i=<iterations>$<salt>$<hash>");
    }
    phc.remove_prefix(credentials_detail::phc_prefix.size());

    const std::size_t iterations_end = phc.find('$');
    if (iterations_end == std::string_view::npos) {
        return fail(error, "password hash has no salt and hash after the iteration count");
    }
    const std::string_view iterations_text = phc.substr(0, iterations_end);
    if (!credentials_detail::is_decimal(iterations_text) ||
        (iterations_text.size() > 1 && iterations_text[0] == '0')) {
        return fail(error, "password hash iteration count must be a decimal number without leading zeros");
    }
    std::uint32_t iterations = 0;
    if (iterations_text.size() <= credentials_detail::max_iteration_digits) {
        for (const char digit : iterations_text) {
            iterations = iterations * 10 + static_cast<std::uint32_t>(digit - '0');
        }
    }
    if (iterations < min_pbkdf2_iterations || iterations > max_pbkdf2_iterations) {
        return fail(error,
                    "password hash iteration count must be " + credentials_detail::iteration_range_text());
    }
    phc.remove_prefix(iterations_end + 1);

    const std::size_t salt_end = phc.find('$');
    if (salt_end == std::string_view::npos) {
        return fail(error, "password hash has no hash after the salt");
    }
    const std::string_view salt_text = phc.substr(0, salt_end);
    const std::string_view hash_text = phc.substr(salt_end + 1);
    if (hash_text.find('$') != std::string_view::npos) {
        return fail(error, "password hash has fields after the hash");
    }

    auto salt = base64_decode(salt_text, Padding::forbidden);
    if (!salt) {
        return fail(error, "password hash salt is not unpadded standard base64");
    }
    if (salt->size() < min_salt_length || salt->size() > max_salt_length) {
        return fail(error, "password hash salt must be " +
                               credentials_detail::length_range_text(min_salt_length, max_salt_length));
    }
    auto hash = base64_decode(hash_text, Padding::forbidden);
    if (!hash) {
        return fail(error, "password hash hash is not unpadded standard base64");
    }
    if (hash->size() < min_hash_length || hash->size() > max_hash_length) {
        return fail(error, "password hash hash must be " +
                               credentials_detail::length_range_text(min_hash_length, max_hash_length));
    }

    PasswordHash parsed;
    parsed.iterations_ = iterations;
    parsed.salt_ = std::move(*salt);
    parsed.hash_ = std::move(*hash);
    return parsed;
}

PasswordHash PasswordHash::create(std::string_view password, std::vector<std::uint8_t> salt,
                                  std::uint32_t iterations) {
    // The same limits as parse, so that every created hash reads back.
    if (password.size() > max_password_length) {
        throw std::invalid_argument("password longer than " + std::to_string(max_password_length) + " bytes");
    }
    if (salt.size() < min_salt_length || salt.size() > max_salt_length) {
        throw std::invalid_argument("salt must be " +
                                    credentials_detail::length_range_text(min_salt_length, max_salt_length));
    }
    if (iterations < min_pbkdf2_iterations || iterations > max_pbkdf2_iterations) {
        throw std::invalid_argument("iteration count must be " + credentials_detail::iteration_range_text());
    }
    PasswordHash created;
    created.iterations_ = iterations;
    created.hash_ = pbkdf2_hmac_sha256(password, salt.data(), salt.size(), iterations,
                                       credentials_detail::created_hash_length);
    created.salt_ = std::move(salt);
    return created;
}

bool PasswordHash::verify(std::string_view password) const {
    // Refusing overlong passwords unhashed bounds the work one attempt can cause. Their length is
    // visible on the wire anyway. A default-constructed hash has nothing to match.
    if (password.size() > max_password_length || hash_.empty()) {
        return false;
    }
    std::vector<std::uint8_t> computed =
        pbkdf2_hmac_sha256(password, salt_.data(), salt_.size(), iterations_, hash_.size());
    const credentials_detail::WipeOnExit wipe_computed(computed.data(), computed.size());
    return constant_time_equal(computed.data(), computed.size(), hash_.data(), hash_.size());
}

std::string PasswordHash::to_string() const {
    return std::string(credentials_detail::phc_prefix) + std::to_string(iterations_) + "$" +
           base64_encode(salt_.data(), salt_.size(), Padding::forbidden) + "$" +
           base64_encode(hash_.data(), hash_.size(), Padding::forbidden);
}

} // namespace relayguard::policy
