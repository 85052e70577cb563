#include <relayguard/policy/base64.hpp>
#include <relayguard/policy/credentials.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace relayguard::policy;

namespace credentials_test {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t index = 0; index + 1 < hex.size(); index += 2) {
        bytes.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(index, 2)), nullptr, 16)));
    }
    return bytes;
}

std::vector<std::uint8_t> pbkdf2(std::string_view password, std::string_view salt, std::uint32_t iterations,
                                 std::size_t output_size) {
    return pbkdf2_hmac_sha256(password, reinterpret_cast<const std::uint8_t*>(salt.data()), salt.size(),
                              iterations, output_size);
}

bool equal(std::string_view a, std::string_view b) {
    return constant_time_equal(reinterpret_cast<const std::uint8_t*>(a.data()), a.size(),
                               reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
}

std::string unpadded(std::size_t length, char filler) {
    return base64_encode(std::string(length, filler), Padding::forbidden);
}

// Hashes made with Python's hashlib.pbkdf2_hmac, an implementation independent of ours; salt = 01..10.
constexpr std::string_view correct_horse =
    "$pbkdf2-sha256$i=1000$AQIDBAUGBwgJCgsMDQ4PEA$m33AcPJmtZT4BCk55kw6VMWgiuKxPOc9CEFW8cSB5g8";
constexpr std::string_view a_times_1024 =
    "$pbkdf2-sha256$i=1000$AQIDBAUGBwgJCgsMDQ4PEA$o9GiaEGoZTc5bc7hX8oNkfrNWbjQJprCU5AEyaVbTMg";
constexpr std::string_view a_times_1025 =
    "$pbkdf2-sha256$i=1000$AQIDBAUGBwgJCgsMDQ4PEA$cvBsXcfMbUsXqrj1pBhmIc0x2EDlErJegcfRfFfbQ+s";
constexpr std::string_view short_hash = "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ";

std::string parse_error(std::string_view phc) {
    std::string error;
    const auto parsed = PasswordHash::parse(phc, &error);
    if (parsed) {
        return "parsed";
    }
    return error;
}

} // namespace credentials_test

TEST_CASE("pbkdf2 matches the published PBKDF2-HMAC-SHA256 vectors", "[credentials]") {
    using credentials_test::from_hex;
    using credentials_test::pbkdf2;
    CHECK(pbkdf2("password", "salt", 1, 32) ==
          from_hex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"));
    CHECK(pbkdf2("password", "salt", 2, 32) ==
          from_hex("ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"));
    CHECK(pbkdf2("password", "salt", 4096, 32) ==
          from_hex("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"));
    CHECK(pbkdf2("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40) ==
          from_hex("348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"));
    CHECK(pbkdf2(std::string_view("pass\0word", 9), std::string_view("sa\0lt", 5), 4096, 16) ==
          from_hex("89b69d0516f829893c696226650a8687"));
}

TEST_CASE("pbkdf2 matches the RFC 7914 section 11 vectors", "[credentials]") {
    using credentials_test::from_hex;
    using credentials_test::pbkdf2;
    CHECK(pbkdf2("passwd", "salt", 1, 64) ==
          from_hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                   "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"));
    CHECK(pbkdf2("Password", "NaCl", 80000, 64) ==
          from_hex("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                   "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"));
}

TEST_CASE("pbkdf2 handles keys around the SHA-256 block size", "[credentials]") {
    // HMAC hashes keys longer than 64 bytes first (RFC 2104 §2). Expected values from hashlib.
    using credentials_test::from_hex;
    using credentials_test::pbkdf2;
    CHECK(pbkdf2(std::string(64, 'x'), "saltsalt", 1000, 32) ==
          from_hex("7a020e4b5f54baf06b4f284075797f01f5b5d634f646a40cc90adcef99a5e2de"));
    CHECK(pbkdf2(std::string(65, 'x'), "saltsalt", 1000, 32) ==
          from_hex("4aac202623fba26fd21fff053a2e84696ae0aa2d9388bd33369cabcaa7e85011"));
    CHECK(pbkdf2(std::string(100, 'p'), "salt-for-long-key", 1000, 32) ==
          from_hex("9b9c89e62c12060f47d3c69846e36cda0beec802d24c2b4d4482adc0e33bffe0"));
    CHECK(pbkdf2("", "saltsalt", 1000, 32) ==
          from_hex("3e0661ee06a100bed97329d06f71c16ab8ca76a14b7dc1fe6ad3f29ae3efffdb"));
}

TEST_CASE("pbkdf2 produces partial trailing blocks and refuses zero iterations", "[credentials]") {
    using credentials_test::from_hex;
    using credentials_test::pbkdf2;
    CHECK(pbkdf2("password", "salt", 1000, 65) ==
          from_hex("632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3"
                   "88b3b1131f741bcbeb02541c8c2e97bd8bed62ab6425542e45512b7312f440eb"
                   "c6"));
    CHECK(pbkdf2("password", "salt", 1000, 0).empty());
    CHECK_THROWS_AS(pbkdf2("password", "salt", 0, 32), std::invalid_argument);
}

TEST_CASE("constant_time_equal compares contents and lengths", "[credentials]") {
    using credentials_test::equal;
    CHECK(equal("", ""));
    CHECK(constant_time_equal(nullptr, 0, nullptr, 0));
    CHECK(equal("secret", "secret"));
    CHECK_FALSE(equal("secret", "Secret"));
    CHECK_FALSE(equal("secret", "secreT"));
    CHECK_FALSE(equal("secret", "secre"));
    CHECK_FALSE(equal("secret", "secrets"));
    CHECK_FALSE(equal("", "x"));
    CHECK_FALSE(equal(std::string_view("a\0", 2), std::string_view("a\1", 2)));
    // Each bit position on its own must make a difference.
    for (int bit = 0; bit < 8; ++bit) {
        const std::string flipped(1, static_cast<char>(0x55 ^ (1 << bit)));
        CHECK_FALSE(equal("\x55", flipped));
    }
}

TEST_CASE("password hash verifies the password it was made from", "[credentials]") {
    const auto hash = PasswordHash::parse(credentials_test::correct_horse);
    REQUIRE(hash);
    CHECK(hash->iterations() == 1000);
    CHECK(hash->verify("correct horse battery staple"));
    CHECK_FALSE(hash->verify("correct horse battery stapl"));
    CHECK_FALSE(hash->verify("correct horse battery staplE"));
    CHECK_FALSE(hash->verify("correct horse battery staple "));
    CHECK_FALSE(hash->verify(""));
    // HMAC pads keys shorter than a block with zeros (RFC 2104 §2), so in every PBKDF2 trailing NULs
    // are invisible. Harmless: only someone who knows the password can append them.
    CHECK(hash->verify(std::string_view("correct horse battery staple\0", 29)));
    CHECK_FALSE(hash->verify(std::string_view("correct horse battery\0staple", 28)));
}

TEST_CASE("password hash verifies a 16 byte hash", "[credentials]") {
    const auto hash = PasswordHash::parse(credentials_test::short_hash);
    REQUIRE(hash);
    CHECK(hash->verify("pw"));
    CHECK_FALSE(hash->verify("pW"));
}

TEST_CASE("password hash refuses passwords over the length limit without hashing", "[credentials]") {
    const auto at_limit = PasswordHash::parse(credentials_test::a_times_1024);
    REQUIRE(at_limit);
    CHECK(at_limit->verify(std::string(max_password_length, 'a')));
    // This hash really is of the 1025-byte password; the length limit alone refuses it.
    const auto over_limit = PasswordHash::parse(credentials_test::a_times_1025);
    REQUIRE(over_limit);
    CHECK_FALSE(over_limit->verify(std::string(max_password_length + 1, 'a')));
}

TEST_CASE("password hash default value verifies nothing", "[credentials]") {
    const PasswordHash empty;
    CHECK_FALSE(empty.verify(""));
    CHECK_FALSE(empty.verify("password"));
}

TEST_CASE("password hash text round-trips through parse and to_string", "[credentials]") {
    for (const std::string_view text :
         {credentials_test::correct_horse, credentials_test::short_hash, credentials_test::a_times_1024}) {
        const auto hash = PasswordHash::parse(text);
        REQUIRE(hash);
        CHECK(hash->to_string() == text);
    }
    const std::string longest = "$pbkdf2-sha256$i=10000000$" +
                                credentials_test::unpadded(max_salt_length, 's') + "$" +
                                credentials_test::unpadded(max_hash_length, 'h');
    const auto hash = PasswordHash::parse(longest);
    REQUIRE(hash);
    CHECK(hash->iterations() == max_pbkdf2_iterations);
    CHECK(hash->to_string() == longest);
}

TEST_CASE("password hash create produces a verifiable PHC string", "[credentials]") {
    std::vector<std::uint8_t> salt;
    for (std::uint8_t value = 1; value <= 16; ++value) {
        salt.push_back(value);
    }
    const PasswordHash created = PasswordHash::create("correct horse battery staple", salt, 1000);
    CHECK(created.to_string() == credentials_test::correct_horse);
    CHECK(created.iterations() == 1000);
    CHECK(created.verify("correct horse battery staple"));
    CHECK_FALSE(created.verify("Correct horse battery staple"));
    const auto reparsed = PasswordHash::parse(created.to_string());
    REQUIRE(reparsed);
    CHECK(reparsed->verify("correct horse battery staple"));
}

TEST_CASE("password hash create enforces the limits parse enforces", "[credentials]") {
    const std::vector<std::uint8_t> salt(default_salt_length, 0x42);
    CHECK_THROWS_AS(PasswordHash::create("pw", std::vector<std::uint8_t>(min_salt_length - 1, 1), 1000),
                    std::invalid_argument);
    CHECK_THROWS_AS(PasswordHash::create("pw", std::vector<std::uint8_t>(max_salt_length + 1, 1), 1000),
                    std::invalid_argument);
    CHECK_THROWS_AS(PasswordHash::create("pw", salt, min_pbkdf2_iterations - 1), std::invalid_argument);
    CHECK_THROWS_AS(PasswordHash::create("pw", salt, max_pbkdf2_iterations + 1), std::invalid_argument);
    CHECK_THROWS_AS(PasswordHash::create(std::string(max_password_length + 1, 'a'), salt, 1000),
                    std::invalid_argument);
    CHECK_NOTHROW(PasswordHash::create("pw", std::vector<std::uint8_t>(min_salt_length, 1), 1000));
}

TEST_CASE("password hash default iteration count is within the accepted range", "[credentials]") {
    CHECK(default_pbkdf2_iterations >= min_pbkdf2_iterations);
    CHECK(default_pbkdf2_iterations <= max_pbkdf2_iterations);
    const auto hash = PasswordHash::parse(
        PasswordHash::create("pw", std::vector<std::uint8_t>(16, 7), default_pbkdf2_iterations).to_string());
    REQUIRE(hash);
    CHECK(hash->iterations() == default_pbkdf2_iterations);
}

TEST_CASE("password hash parse rejects the wrong scheme or layout", "[credentials]") {
    using credentials_test::parse_error;
    const std::string layout = "password hash must have the form $pbkdf2-sha256$i=<iterations>$<salt>$<hash>";
    CHECK(parse_error("") == layout);
    CHECK(parse_error("secret") == layout);
    CHECK(parse_error("pbkdf2-sha256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error("$pbkdf2-sha512$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error("$PBKDF2-SHA256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error("$pbkdf2-sha256$1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error("$pbkdf2-sha256$I=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error(" $pbkdf2-sha256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ") == layout);
    CHECK(parse_error("$pbkdf2-sha256$i=1000") ==
          "password hash has no salt and hash after the iteration count");
    CHECK(parse_error("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ") == "password hash has no hash after the salt");
    CHECK(parse_error("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ$") ==
          "password hash has fields after the hash");
    CHECK(parse_error("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ$extra") ==
          "password hash has fields after the hash");
    const std::string too_long = "$pbkdf2-sha256$i=1000$" + credentials_test::unpadded(max_salt_length, 's') +
                                 "$" + credentials_test::unpadded(max_hash_length, 'h') +
                                 std::string(30, 'A');
    CHECK(parse_error(too_long) == "password hash is too long to be a $pbkdf2-sha256$ hash");
}

TEST_CASE("password hash parse rejects malformed iteration counts", "[credentials]") {
    using credentials_test::parse_error;
    const std::string not_decimal =
        "password hash iteration count must be a decimal number without leading zeros";
    const std::string out_of_range = "password hash iteration count must be between 1000 and 10000000";
    const std::string_view tail = "$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ";
    const auto with_iterations = [&](std::string_view iterations) {
        return parse_error("$pbkdf2-sha256$i=" + std::string(iterations) + std::string(tail));
    };
    CHECK(with_iterations("") == not_decimal);
    CHECK(with_iterations("01000") == not_decimal);
    CHECK(with_iterations("00") == not_decimal);
    CHECK(with_iterations("+1000") == not_decimal);
    CHECK(with_iterations("-1000") == not_decimal);
    CHECK(with_iterations(" 1000") == not_decimal);
    CHECK(with_iterations("1000 ") == not_decimal);
    CHECK(with_iterations("1e4") == not_decimal);
    CHECK(with_iterations("0x3e8") == not_decimal);
    CHECK(with_iterations("1000,l=32") == not_decimal);
    CHECK(with_iterations("0") == out_of_range);
    CHECK(with_iterations("999") == out_of_range);
    CHECK(with_iterations("10000001") == out_of_range);
    CHECK(with_iterations("99999999") == out_of_range);
    CHECK(with_iterations("4294968296") == out_of_range);
    CHECK(with_iterations("99999999999999999999") == out_of_range);
    CHECK(with_iterations("1000") == "parsed");
    CHECK(with_iterations("10000000") == "parsed");
}

TEST_CASE("password hash parse rejects malformed salts", "[credentials]") {
    using credentials_test::parse_error;
    using credentials_test::unpadded;
    const std::string not_base64 = "password hash salt is not unpadded standard base64";
    const std::string bad_length = "password hash salt must be 8 to 64 bytes";
    const auto with_salt = [&](const std::string& salt) {
        return parse_error("$pbkdf2-sha256$i=1000$" + salt + "$A+Pkljr7A4W/zbzUWSStAQ");
    };
    CHECK(with_salt("c2FsdHNhbHQ=") == not_base64);
    CHECK(with_salt("c2FsdHNh-HQ") == not_base64);
    CHECK(with_salt("c2FsdHNh_HQ") == not_base64);
    CHECK(with_salt("c2FsdHNhbHR") == not_base64);
    CHECK(with_salt("c2FsdHNhbHQab") == not_base64);
    CHECK(with_salt("c2Fsd HNhbHQ") == not_base64);
    CHECK(with_salt("") == bad_length);
    CHECK(with_salt(unpadded(min_salt_length - 1, 's')) == bad_length);
    CHECK(with_salt(unpadded(max_salt_length + 1, 's')) == bad_length);
    CHECK(with_salt(unpadded(min_salt_length, 's')) == "parsed");
    CHECK(with_salt(unpadded(max_salt_length, 's')) == "parsed");
}

TEST_CASE("password hash parse rejects malformed hashes", "[credentials]") {
    using credentials_test::parse_error;
    using credentials_test::unpadded;
    const std::string not_base64 = "password hash hash is not unpadded standard base64";
    const std::string bad_length = "password hash hash must be 16 to 64 bytes";
    const auto with_hash = [&](const std::string& hash) {
        return parse_error("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$" + hash);
    };
    CHECK(with_hash("A+Pkljr7A4W/zbzUWSStAQ==") == not_base64);
    CHECK(with_hash("A-Pkljr7A4W_zbzUWSStAQ") == not_base64);
    CHECK(with_hash("A+Pkljr7A4W/zbzUWSStAR") == not_base64);
    CHECK(with_hash("A+Pkljr7A4W/zbzUWSStAQ\n") == not_base64);
    CHECK(with_hash(std::string("A+Pkljr7A4W/zbzUWSStAQ\0", 23)) == not_base64);
    CHECK(with_hash("") == bad_length);
    CHECK(with_hash(unpadded(min_hash_length - 1, 'h')) == bad_length);
    CHECK(with_hash(unpadded(max_hash_length + 1, 'h')) == bad_length);
    CHECK(with_hash(unpadded(min_hash_length, 'h')) == "parsed");
    CHECK(with_hash(unpadded(max_hash_length, 'h')) == "parsed");
}

TEST_CASE("password hash parse errors never repeat the hash", "[credentials]") {
    const std::string salt_text = "c2VjcmV0c2FsdHRleHQ";         // "secretsalttext"
    const std::string hash_text = "QUJDREVGR0hJSktMTU5PUFFSU1Q"; // 20 bytes
    const std::string broken[] = {
        "$pbkdf2-sha256$i=999$" + salt_text + "$" + hash_text,
        "$pbkdf2-sha256$i=01000$" + salt_text + "$" + hash_text,
        "$pbkdf2-sha256$i=1000$" + salt_text + "=$" + hash_text,
        "$pbkdf2-sha256$i=1000$" + salt_text + "$" + hash_text + "=",
        "$pbkdf2-sha256$i=1000$" + salt_text + "$" + hash_text + "$",
        "$pbkdf2-sha512$i=1000$" + salt_text + "$" + hash_text,
        "$pbkdf2-sha256$i=1000$" + salt_text.substr(0, 8) + "$" + hash_text,
        "$pbkdf2-sha256$i=1000$" + salt_text + "$" + hash_text.substr(0, 12),
    };
    for (const std::string& phc : broken) {
        CAPTURE(phc);
        std::string error;
        CHECK_FALSE(PasswordHash::parse(phc, &error).has_value());
        CHECK_FALSE(error.empty());
        CHECK(error.find(salt_text.substr(0, 6)) == std::string::npos);
        CHECK(error.find(hash_text.substr(0, 6)) == std::string::npos);
        CHECK(error.find(phc) == std::string::npos);
    }
}

TEST_CASE("password hash parse without an error pointer", "[credentials]") {
    CHECK_FALSE(PasswordHash::parse("$pbkdf2-sha256$i=1$c2FsdHNhbHQ$A+Pkljr7A4W/zbzUWSStAQ").has_value());
    CHECK(PasswordHash::parse(credentials_test::short_hash).has_value());
}
