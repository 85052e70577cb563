#include <relayguard/policy/units.hpp>

#include <catch2/catch.hpp>

#include <limits>

using namespace relayguard::policy;

namespace units_test {

std::optional<std::int64_t> duration_ms(std::string_view text) {
    const auto duration = parse_duration(text);
    if (!duration) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(duration->count());
}

} // namespace units_test

TEST_CASE("units parse durations with every suffix", "[units]") {
    CHECK(units_test::duration_ms("250ms") == 250);
    CHECK(units_test::duration_ms("30s") == 30'000);
    CHECK(units_test::duration_ms("5m") == 300'000);
    CHECK(units_test::duration_ms("1h") == 3'600'000);
    CHECK(units_test::duration_ms("2d") == 172'800'000);
    CHECK(units_test::duration_ms("0ms") == 0);
    CHECK(units_test::duration_ms("0s") == 0);
    CHECK(units_test::duration_ms("15m") == 900'000);
    CHECK(units_test::duration_ms("10m") == 600'000);
}

TEST_CASE("units read a bare duration number as seconds", "[units]") {
    CHECK(units_test::duration_ms("45") == 45'000);
    CHECK(units_test::duration_ms("0") == 0);
    CHECK(units_test::duration_ms("1") == 1'000);
}

TEST_CASE("units accept leading zeros in a duration", "[units]") {
    CHECK(units_test::duration_ms("007s") == 7'000);
    CHECK(units_test::duration_ms("00") == 0);
}

TEST_CASE("units reject malformed durations", "[units]") {
    const std::string_view rejected[] = {
        "",          "s",     "ms",   "-1s", "+1s",  " 1s",  "1s ",
        "1 s",       "1.5s",  "1,5s", "1e3", "1S",   "1H",   "1M",
        "1D",        "1MS",   "1sec", "1w",  "1y",   "1ms5", "1ss",
        "0x10",      "1h30m", "1m30", "s1",  "\t1s", "1s\n", std::string_view("1\0s", 3),
        "\xd9\xa3s", "1us",
    };
    for (const std::string_view text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(parse_duration(text).has_value());
    }
}

TEST_CASE("units reject durations that std::chrono::nanoseconds cannot hold", "[units]") {
    // nanoseconds::max() is 9'223'372'036'854'775'807 ns, that is 9'223'372'036'854 whole milliseconds.
    CHECK(units_test::duration_ms("9223372036854ms") == 9'223'372'036'854);
    CHECK_FALSE(parse_duration("9223372036855ms").has_value());
    CHECK(units_test::duration_ms("9223372036") == 9'223'372'036'000);
    CHECK_FALSE(parse_duration("9223372037").has_value());
    CHECK(units_test::duration_ms("106751d") == 9'223'286'400'000);
    CHECK_FALSE(parse_duration("106752d").has_value());
    CHECK_FALSE(parse_duration("18446744073709551616ms").has_value());
    CHECK_FALSE(parse_duration("99999999999999999999999999999999999999h").has_value());
}

TEST_CASE("units parse sizes with binary suffixes in either case", "[units]") {
    CHECK(parse_size("512") == 512u);
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("64K") == 65'536u);
    CHECK(parse_size("64k") == 65'536u);
    CHECK(parse_size("10M") == 10'485'760u);
    CHECK(parse_size("10m") == 10'485'760u);
    CHECK(parse_size("50M") == 52'428'800u);
    CHECK(parse_size("1G") == 1'073'741'824u);
    CHECK(parse_size("1g") == 1'073'741'824u);
    CHECK(parse_size("4096G") == 4'398'046'511'104u);
    CHECK(parse_size("0010K") == 10'240u);
}

TEST_CASE("units reject malformed sizes", "[units]") {
    const std::string_view rejected[] = {
        "",
        "K",
        "64KB",
        "64kb",
        "64B",
        "64b",
        "1T",
        "1t",
        "-1",
        "+1",
        "1.5M",
        "1,5M",
        " 1",
        "1 ",
        "1 K",
        "1KK",
        "1Mi",
        "1KiB",
        "0x40",
        "1e6",
        "M1",
        std::string_view("6\0"
                         "4",
                         2),
    };
    for (const std::string_view text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(parse_size(text).has_value());
    }
}

TEST_CASE("units reject sizes beyond 64 bits", "[units]") {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    CHECK(parse_size("18446744073709551615") == max);
    CHECK_FALSE(parse_size("18446744073709551616").has_value());
    CHECK_FALSE(parse_size("184467440737095516150").has_value());
    // 2^64 / 2^30 = 17179869184
    CHECK(parse_size("17179869183G") == max - (1ull << 30) + 1);
    CHECK_FALSE(parse_size("17179869184G").has_value());
    CHECK(parse_size("18014398509481983K") == max - (1ull << 10) + 1);
    CHECK_FALSE(parse_size("18014398509481984K").has_value());
}
