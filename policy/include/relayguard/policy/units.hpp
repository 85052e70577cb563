#pragma once
// Durations and sizes as written in the configuration: "30s", "5m", "1h", "2d", "250ms" (a bare number
// is seconds, as in nginx); "512", "64K", "10M", "1G" (binary multiples; a bare number is bytes).
// Strict: decimal digits then at most one suffix; no sign, space, fraction or "B" ("64KB" fails).
// Duration suffixes are lower case only; size suffixes k/K, m/M, g/G. Values that overflow fail:
// sizes beyond 2^64 - 1, durations beyond what std::chrono::nanoseconds holds (about 292 years).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace relayguard::policy {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);

} // namespace relayguard::policy
