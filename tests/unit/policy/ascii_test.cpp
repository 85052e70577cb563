#include <relayguard/policy/ascii.hpp>

#include <catch2/catch.hpp>

using namespace relayguard::policy;

TEST_CASE("ascii compares case-insensitively in ASCII only", "[ascii]") {
    CHECK(equals_ignoring_ascii_case("EHLO", "ehlo"));
    CHECK(equals_ignoring_ascii_case("StartTls", "STARTTLS"));
    CHECK(equals_ignoring_ascii_case("", ""));
    CHECK(equals_ignoring_ascii_case("8BITMIME", "8bitmime"));
    CHECK_FALSE(equals_ignoring_ascii_case("EHLO", "EHL"));
    CHECK_FALSE(equals_ignoring_ascii_case("EHLO", "HELO"));
    // '@' and '`' sit 0x20 below 'A' and 'a' kin; 0xC3 and 0xE3 differ by 0x20 too.
    CHECK_FALSE(equals_ignoring_ascii_case("@", "`"));
    CHECK_FALSE(equals_ignoring_ascii_case("[", "{"));
    CHECK_FALSE(equals_ignoring_ascii_case("\xc3", "\xe3"));
    CHECK(equals_ignoring_ascii_case("\xc3", "\xc3"));
    CHECK(to_ascii_lower('Z') == 'z');
    CHECK(to_ascii_lower('\xc9') == '\xc9');
}

TEST_CASE("ascii prefixes and white space", "[ascii]") {
    CHECK(starts_with_ignoring_ascii_case("ipv6:2001:db8::1", "IPv6:"));
    CHECK_FALSE(starts_with_ignoring_ascii_case("IPv", "IPv6:"));
    CHECK(starts_with_ignoring_ascii_case("anything", ""));
    for (const char c : {' ', '\t', '\r', '\n'}) {
        CHECK(is_ascii_space(c));
    }
    for (const char c : {'\v', '\f', '\0', 'a', '\xa0'}) {
        CHECK_FALSE(is_ascii_space(c));
    }
}
