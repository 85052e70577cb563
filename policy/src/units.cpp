#include <relayguard/policy/units.hpp>

#include <cstddef>
#include <limits>

namespace relayguard::policy {
namespace units_detail {

// Durations end up in timers that count nanoseconds (Asio's steady_timer does), so anything longer
// than std::chrono::nanoseconds can hold (about 292 years) is refused here rather than overflowing there.
constexpr std::uint64_t max_duration_milliseconds =
    static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count() / 1'000'000);

struct Unit {
    std::string_view suffix;
    std::uint64_t multiplier;
};

// Lower case only, as nginx: "M" would read as months there, and one spelling per unit keeps
// configurations greppable.
constexpr Unit duration_units[] = {
    {"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

// Binary multiples in either case, as nginx. No "B" suffix: "64KB" reads as kilobytes to some and
// kibibytes to others, and a bare number already means bytes.
constexpr Unit size_units[] = {
    {"k", 1ull << 10}, {"K", 1ull << 10}, {"m", 1ull << 20},
    {"M", 1ull << 20}, {"g", 1ull << 30}, {"G", 1ull << 30},
};

// Splits "<digits><suffix>" and returns digits * multiplier of the suffix, or nothing when the text
// has no digits, anything but a listed suffix after them, or the product exceeds `max_value`.
// Signs, spaces, fractions and exponents all fail because they are neither digits nor a suffix.
template <std::size_t UnitCount>
std::optional<std::uint64_t> parse_quantity(std::string_view text, const Unit (&units)[UnitCount],
                                            std::uint64_t bare_multiplier, std::uint64_t max_value) {
    std::size_t digit_count = 0;
    std::uint64_t number = 0;
    for (; digit_count < text.size() && text[digit_count] >= '0' && text[digit_count] <= '9'; ++digit_count) {
        const auto digit = static_cast<std::uint64_t>(text[digit_count] - '0');
        if (number > (max_value - digit) / 10) {
            return std::nullopt;
        }
        number = number * 10 + digit;
    }
    if (digit_count == 0) {
        return std::nullopt;
    }
    const std::string_view suffix = text.substr(digit_count);
    std::uint64_t multiplier = bare_multiplier;
    if (!suffix.empty()) {
        multiplier = 0;
        for (const Unit& unit : units) {
            if (unit.suffix == suffix) {
                multiplier = unit.multiplier;
            }
        }
        if (multiplier == 0) {
            return std::nullopt;
        }
    }
    if (number > max_value / multiplier) {
        return std::nullopt;
    }
    return number * multiplier;
}

} // namespace units_detail

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    // A bare number is seconds, as in nginx.
    const auto milliseconds = units_detail::parse_quantity(text, units_detail::duration_units, 1'000,
                                                           units_detail::max_duration_milliseconds);
    if (!milliseconds) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*milliseconds));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    return units_detail::parse_quantity(text, units_detail::size_units, 1,
                                        std::numeric_limits<std::uint64_t>::max());
}

} // namespace relayguard::policy
