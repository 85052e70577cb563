#include <relayguard/policy/base64.hpp>

#include <cstddef>
#include <stdexcept>

namespace relayguard::policy {
namespace base64_detail {

// The decoded bytes are often secret (AUTH PLAIN carries the password, the hash in the configuration
// is a verifier), so symbols are mapped with arithmetic instead of a table lookup whose cache
// footprint would depend on the data. All masks below are either all zeros or all ones.

constexpr std::uint32_t invalid_symbol = 0xFF;
constexpr char pad_character = '=';

// All ones when value >= threshold (threshold >= 1, value < 2^31).
constexpr std::uint32_t at_least_mask(std::uint32_t value, std::uint32_t threshold) {
    return 0u - ((threshold - 1u - value) >> 31);
}

// All ones when low <= value <= high (low >= 1, value < 2^31).
constexpr std::uint32_t in_range_mask(std::uint32_t value, std::uint32_t low, std::uint32_t high) {
    return 0u - (((low - 1u - value) & (value - high - 1u)) >> 31);
}

// Maps a 6-bit value to its symbol: A-Z a-z 0-9 + / (RFC 4648 table 1). Starts from 'A' + value and
// adds the distance to the next run of the alphabet for every run boundary the value has passed.
constexpr char encode_symbol(std::uint32_t value) {
    std::uint32_t symbol = 'A' + value;
    symbol += at_least_mask(value, 26) & ('a' - 'A' - 26u);
    symbol -= at_least_mask(value, 52) & (('a' + 26u) - '0');
    symbol -= at_least_mask(value, 62) & (('0' + 10u) - '+');
    symbol += at_least_mask(value, 63) & ('/' - ('+' + 1u));
    return static_cast<char>(symbol);
}

// The 6-bit value of `symbol`, or invalid_symbol when it is not in the alphabet.
constexpr std::uint32_t decode_symbol(char symbol) {
    const std::uint32_t code = static_cast<std::uint8_t>(symbol);
    std::uint32_t value = 0;
    std::uint32_t valid = 0;
    const auto take_run = [&](std::uint32_t first, std::uint32_t last, std::uint32_t first_value) {
        const std::uint32_t mask = in_range_mask(code, first, last);
        value |= mask & (code - first + first_value);
        valid |= mask;
    };
    take_run('A', 'Z', 0);
    take_run('a', 'z', 26);
    take_run('0', '9', 52);
    take_run('+', '+', 62);
    take_run('/', '/', 63);
    return value | (~valid & invalid_symbol);
}

// Base64 of `size` bytes; the length check keeps 4 * (size / 3 + 1) from wrapping on 32-bit targets.
std::size_t encoded_length(std::size_t size, Padding padding) {
    if (size / 3 >= std::string().max_size() / 4 - 1) {
        throw std::length_error("base64 input too large");
    }
    const std::size_t remainder = size % 3;
    if (remainder == 0) {
        return size / 3 * 4;
    }
    return size / 3 * 4 + (padding == Padding::required ? 4 : remainder + 1);
}

// The number of trailing '=' that strict padded text may end with: none, one or two.
std::size_t padding_length(std::string_view text) {
    if (text.empty() || text.back() != pad_character) {
        return 0;
    }
    if (text.size() >= 2 && text[text.size() - 2] == pad_character) {
        return 2;
    }
    return 1;
}

} // namespace base64_detail

std::string base64_encode(const std::uint8_t* data, std::size_t size, Padding padding) {
    using base64_detail::encode_symbol;
    std::string text;
    text.reserve(base64_detail::encoded_length(size, padding));
    std::size_t index = 0;
    for (; size - index >= 3; index += 3) {
        const std::uint32_t group = std::uint32_t{data[index]} << 16 | std::uint32_t{data[index + 1]} << 8 |
                                    std::uint32_t{data[index + 2]};
        text.push_back(encode_symbol(group >> 18));
        text.push_back(encode_symbol(group >> 12 & 0x3F));
        text.push_back(encode_symbol(group >> 6 & 0x3F));
        text.push_back(encode_symbol(group & 0x3F));
    }
    const std::size_t remainder = size - index;
    if (remainder == 0) {
        return text;
    }
    const std::uint32_t group =
        std::uint32_t{data[index]} << 16 | (remainder == 2 ? std::uint32_t{data[index + 1]} << 8 : 0u);
    text.push_back(encode_symbol(group >> 18));
    text.push_back(encode_symbol(group >> 12 & 0x3F));
    if (remainder == 2) {
        text.push_back(encode_symbol(group >> 6 & 0x3F));
    }
    if (padding == Padding::required) {
        text.append(3 - remainder, base64_detail::pad_character);
    }
    return text;
}

std::string base64_encode(std::string_view data, Padding padding) {
    return base64_encode(reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), padding);
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text, Padding padding) {
    using base64_detail::decode_symbol;
    if (padding == Padding::required) {
        if (text.size() % 4 != 0) {
            return std::nullopt;
        }
        // Any other '=' stays in the text and fails below as a character outside the alphabet.
        text.remove_suffix(base64_detail::padding_length(text));
    }
    // A single symbol left over carries only six bits: not even one byte.
    const std::size_t remainder = text.size() % 4;
    if (remainder == 1) {
        return std::nullopt;
    }

    std::vector<std::uint8_t> bytes;
    bytes.reserve(text.size() / 4 * 3 + 2);
    // Every symbol is decoded even after an invalid one, so the time does not tell where it was.
    std::uint32_t invalid = 0;
    const auto symbol_at = [&](std::size_t index) {
        const std::uint32_t value = decode_symbol(text[index]);
        invalid |= value & ~0x3Fu;
        return value & 0x3F;
    };
    std::size_t index = 0;
    for (; text.size() - index >= 4; index += 4) {
        const std::uint32_t group = symbol_at(index) << 18 | symbol_at(index + 1) << 12 |
                                    symbol_at(index + 2) << 6 | symbol_at(index + 3);
        bytes.push_back(static_cast<std::uint8_t>(group >> 16));
        bytes.push_back(static_cast<std::uint8_t>(group >> 8));
        bytes.push_back(static_cast<std::uint8_t>(group));
    }
    if (remainder != 0) {
        std::uint32_t group = symbol_at(index) << 18 | symbol_at(index + 1) << 12;
        if (remainder == 3) {
            group |= symbol_at(index + 2) << 6;
        }
        // The final partial group must not carry bits beyond the last whole byte (RFC 4648 §3.5):
        // otherwise several texts would decode to the same bytes.
        const std::uint32_t unused_bits = remainder == 2 ? 0xFFFFu : 0xFFu;
        invalid |= group & unused_bits;
        bytes.push_back(static_cast<std::uint8_t>(group >> 16));
        if (remainder == 3) {
            bytes.push_back(static_cast<std::uint8_t>(group >> 8));
        }
    }
    if (invalid != 0) {
        return std::nullopt;
    }
    return bytes;
}

} // namespace relayguard::policy
