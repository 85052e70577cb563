#pragma once
// Strict base64 (RFC 4648 §4, standard alphabet). Used for password hashes (unpadded) and, later, for
// SMTP AUTH exchanges (padded). Strict means: no whitespace, no characters outside the alphabet, no
// non-zero bits in the final partial group, and padding only where the Padding argument says.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy {

enum class Padding : std::uint8_t { required, forbidden };

std::string base64_encode(const std::uint8_t* data, std::size_t size, Padding padding);
std::string base64_encode(std::string_view data, Padding padding);
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text, Padding padding);

} // namespace relayguard::policy
