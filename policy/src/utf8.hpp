#pragma once
// UTF-8 well-formedness (RFC 3629), shared by the address parser and the domain set: byte-wise comparison
// of addresses and domains is only meaningful when both sides are one well-formed encoding.
#include <cstddef>
#include <string_view>

namespace relayguard::policy {

// The number of octets the sequence starting at `text[index]` occupies, or 0 when it is not a
// well-formed sequence (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view text, std::size_t index);
bool is_well_formed_utf8(std::string_view text);

} // namespace relayguard::policy
