#include "utf8.hpp"

namespace relayguard::policy {

// RFC 3629 §4: the number of octets the sequence starting at `text[index]` occupies, or 0 when it is
// not a well-formed sequence (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view text, std::size_t index) {
    const auto lead = static_cast<unsigned char>(text[index]);
    if (lead < 0x80) {
        return 1;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        low = lead == 0xe0 ? 0xa0 : 0x80;
        high = lead == 0xed ? 0x9f : 0xbf;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        low = lead == 0xf0 ? 0x90 : 0x80;
        high = lead == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (text.size() - index < length) {
        return 0;
    }
    for (std::size_t offset = 1; offset < length; ++offset) {
        const auto octet = static_cast<unsigned char>(text[index + offset]);
        const unsigned char min = offset == 1 ? low : 0x80;
        const unsigned char max = offset == 1 ? high : 0xbf;
        if (octet < min || octet > max) {
            return 0;
        }
    }
    return length;
}

bool is_well_formed_utf8(std::string_view text) {
    for (std::size_t index = 0; index < text.size();) {
        const std::size_t length = utf8_sequence_length(text, index);
        if (length == 0) {
            return false;
        }
        index += length;
    }
    return true;
}

} // namespace relayguard::policy
