#pragma once
// Seeded generators of hostile input for the property tests (unit/*/hostile_input_test.cpp): the same
// octets every run, so a failure reproduces, and no clock involved.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

namespace relayguard_test {

class HostileInput {
public:
    explicit HostileInput(std::uint32_t seed) : engine_(seed) {}

    // 0 <= result < bound; `bound` must be positive.
    std::size_t below(std::size_t bound) {
        return std::uniform_int_distribution<std::size_t>(0, bound - 1)(engine_);
    }
    bool chance(unsigned percent) { return below(100) < percent; }
    char any_octet() { return static_cast<char>(below(256)); }
    char one_of(std::string_view choices) { return choices[below(choices.size())]; }

    // `count` octets, each from `choices` or, `noise_percent` of the time, any octet at all.
    std::string octets_from(std::string_view choices, std::size_t count, unsigned noise_percent) {
        std::string text;
        for (std::size_t index = 0; index < count; ++index) {
            text += chance(noise_percent) ? any_octet() : one_of(choices);
        }
        return text;
    }

    // Pieces joined at random, with any octet now and then: inputs that reach a parser's deeper states
    // far more often than uniform noise would.
    template <std::size_t N>
    std::string joined(const std::string_view (&pieces)[N], std::size_t max_pieces, unsigned noise_percent) {
        std::string text;
        for (std::size_t count = 1 + below(max_pieces); count > 0; --count) {
            if (chance(noise_percent)) {
                text += any_octet();
            } else {
                text += pieces[below(N)];
            }
        }
        return text;
    }

private:
    std::mt19937 engine_;
};

} // namespace relayguard_test
