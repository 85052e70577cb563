#include <relayguard/policy/base64.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace relayguard::policy;

namespace base64_test {

const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::vector<std::uint8_t> bytes_of(std::string_view text) {
    return std::vector<std::uint8_t>(text.begin(), text.end());
}

bool decodes(std::string_view text, Padding padding) {
    return base64_decode(text, padding).has_value();
}

} // namespace base64_test

TEST_CASE("base64 encodes and decodes the RFC 4648 test vectors", "[base64]") {
    struct Vector {
        std::string_view data;
        std::string_view padded;
        std::string_view unpadded;
    };
    const Vector vectors[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    };
    for (const Vector& vector : vectors) {
        CAPTURE(vector.data);
        CHECK(base64_encode(vector.data, Padding::required) == vector.padded);
        CHECK(base64_encode(vector.data, Padding::forbidden) == vector.unpadded);
        CHECK(base64_decode(vector.padded, Padding::required) == base64_test::bytes_of(vector.data));
        CHECK(base64_decode(vector.unpadded, Padding::forbidden) == base64_test::bytes_of(vector.data));
    }
}

TEST_CASE("base64 maps every symbol of the standard alphabet", "[base64]") {
    // Decoding the alphabet in order gives these 48 bytes (each sextet 0..63 once).
    const std::vector<std::uint8_t> sextets = {
        0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51,
        0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a,
        0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf};
    CHECK(base64_encode(sextets.data(), sextets.size(), Padding::required) == base64_test::alphabet);
    CHECK(base64_decode(base64_test::alphabet, Padding::required) == sextets);
    CHECK(base64_decode(base64_test::alphabet, Padding::forbidden) == sextets);
}

TEST_CASE("base64 accepts exactly the 64 alphabet characters", "[base64]") {
    // "<c>A" is a canonical one-byte group for every alphabet character c.
    for (int code = 0; code < 256; ++code) {
        const char c = static_cast<char>(code);
        CAPTURE(code);
        const bool in_alphabet = base64_test::alphabet.find(c) != std::string::npos;
        CHECK(base64_test::decodes(std::string{c, 'A'}, Padding::forbidden) == in_alphabet);
        CHECK(base64_test::decodes(std::string{c, 'A', '=', '='}, Padding::required) == in_alphabet);
    }
}

TEST_CASE("base64 round-trips every length and byte value", "[base64]") {
    std::vector<std::uint8_t> data;
    for (std::size_t length = 0; length <= 300; ++length) {
        CAPTURE(length);
        const std::string padded = base64_encode(data.data(), data.size(), Padding::required);
        const std::string unpadded = base64_encode(data.data(), data.size(), Padding::forbidden);
        CHECK(padded.size() == (length + 2) / 3 * 4);
        CHECK(unpadded.size() == (length * 4 + 2) / 3);
        CHECK(base64_decode(padded, Padding::required) == data);
        CHECK(base64_decode(unpadded, Padding::forbidden) == data);
        data.push_back(static_cast<std::uint8_t>(length * 151 + 7));
    }
}

TEST_CASE("base64 with required padding rejects malformed text", "[base64]") {
    const std::string_view rejected[] = {
        "Zg",      "Zg=",  "Zm8",     "Z===",  "====",  "=",        "Zm9v====", "Zg==Zg==",
        "Zm=v",    "Zg=a", "Zm9vYg=", " Zm9v", "Zm9v ", "Zm9v\n",   "Zm9\rv",   "Zm-v",
        "Zm_v",    "Zm.v", "Zm9vY",   "Zh==",  "Zm9=",  "Zm9vYh==", "Zm9vYmF=", std::string_view("Zm\0v", 4),
        "Zm9\xc3",
    };
    for (const std::string_view text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(base64_test::decodes(text, Padding::required));
    }
}

TEST_CASE("base64 without padding rejects malformed text", "[base64]") {
    const std::string_view rejected[] = {
        "Zg==", "Zm8=", "Z",    "Zm9vY",  "Zg=",    "=",       "Zh", "Zm9", "Zm9vYh",
        "Zm v", "Zm-v", "\tZm", "Zm9v\n", "Z\xffv", "Zm9vYmF", "AB", "AAB", std::string_view("Zm\0v", 4),
    };
    for (const std::string_view text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(base64_test::decodes(text, Padding::forbidden));
    }
}

TEST_CASE("base64 rejects non-zero bits after the last byte", "[base64]") {
    // One byte leaves 4 unused bits in the second symbol, two bytes leave 2 in the third.
    CHECK(base64_decode("AA", Padding::forbidden) == std::vector<std::uint8_t>{0x00});
    CHECK_FALSE(base64_test::decodes("AB", Padding::forbidden));
    CHECK_FALSE(base64_test::decodes("AP", Padding::forbidden));
    CHECK(base64_decode("AQ", Padding::forbidden) == std::vector<std::uint8_t>{0x01});
    CHECK(base64_decode("AAA", Padding::forbidden) == (std::vector<std::uint8_t>{0x00, 0x00}));
    CHECK_FALSE(base64_test::decodes("AAB", Padding::forbidden));
    CHECK_FALSE(base64_test::decodes("AAD", Padding::forbidden));
    CHECK(base64_decode("AAE", Padding::forbidden) == (std::vector<std::uint8_t>{0x00, 0x01}));
    CHECK(base64_decode("//8=", Padding::required) == (std::vector<std::uint8_t>{0xff, 0xff}));
    CHECK_FALSE(base64_test::decodes("///=", Padding::required));
    CHECK(base64_decode("/w==", Padding::required) == std::vector<std::uint8_t>{0xff});
    CHECK_FALSE(base64_test::decodes("//==", Padding::required));
}

TEST_CASE("base64 encodes plus and slash", "[base64]") {
    const std::uint8_t data[] = {0xfb, 0xff, 0xbf};
    CHECK(base64_encode(data, sizeof data, Padding::required) == "+/+/");
    CHECK(base64_decode("+/+/", Padding::forbidden) == (std::vector<std::uint8_t>{0xfb, 0xff, 0xbf}));
}
