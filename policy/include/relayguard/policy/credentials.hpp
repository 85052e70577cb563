#pragma once
// Password hashes in the PHC string format with PBKDF2-HMAC-SHA256, as produced by `relayguard passwd`:
//   $pbkdf2-sha256$i=<iterations>$<salt>$<hash>      (salt and hash: unpadded standard base64)
// Verification recomputes the hash with mbedTLS and compares in constant time.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy {

// Chosen so that one verification costs about 50 ms on a Cortex-A53; see credentials.cpp for the
// measurement behind the number.
extern const std::uint32_t default_pbkdf2_iterations;
inline constexpr std::uint32_t min_pbkdf2_iterations = 1000;
inline constexpr std::uint32_t max_pbkdf2_iterations = 10'000'000;
inline constexpr std::size_t default_salt_length = 16;
inline constexpr std::size_t min_salt_length = 8;
inline constexpr std::size_t max_salt_length = 64;
inline constexpr std::size_t min_hash_length = 16;
inline constexpr std::size_t max_hash_length = 64;
inline constexpr std::size_t max_password_length = 1024;

// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2). Throws std::invalid_argument for zero iterations or an output
// longer than RFC 8018 allows, std::runtime_error only if mbedTLS fails internally.
std::vector<std::uint8_t> pbkdf2_hmac_sha256(std::string_view password, const std::uint8_t* salt,
                                             std::size_t salt_size, std::uint32_t iterations,
                                             std::size_t output_size);

// Equal-length comparison whose time does not depend on where the inputs differ; different lengths
// compare unequal (the length is not secret).
bool constant_time_equal(const std::uint8_t* a, std::size_t a_size, const std::uint8_t* b,
                         std::size_t b_size);

class PasswordHash {
public:
    // Parses the PHC string; on failure returns nothing and sets *error to a message that never
    // repeats the hash itself.
    static std::optional<PasswordHash> parse(std::string_view phc, std::string* error = nullptr);
    // Hashes `password` with `salt`; used by `relayguard passwd` (which draws the salt from a CSPRNG).
    // Throws std::invalid_argument when the password, salt or iteration count is outside the limits
    // above (parse would refuse the result), so every created hash reads back.
    static PasswordHash create(std::string_view password, std::vector<std::uint8_t> salt,
                               std::uint32_t iterations);

    // Recomputes and compares in constant time. Passwords longer than max_password_length never verify.
    bool verify(std::string_view password) const;
    std::string to_string() const;
    std::uint32_t iterations() const { return iterations_; }

private:
    std::uint32_t iterations_ = 0;
    std::vector<std::uint8_t> salt_;
    std::vector<std::uint8_t> hash_;
};

} // namespace relayguard::policy
