#include <relayguard/policy/domain_set.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace relayguard::policy;

namespace domain_set_test {

std::string add_error(const std::string& pattern) {
    DomainSet set;
    std::string error;
    INFO("pattern: \"" << pattern << "\"");
    CHECK_FALSE(set.add(pattern, &error));
    CHECK(set.empty());
    return error;
}

std::string labels(std::size_t count, std::size_t length) {
    std::string domain;
    for (std::size_t index = 0; index < count; ++index) {
        if (index > 0) {
            domain += '.';
        }
        domain += std::string(length, 'a');
    }
    return domain;
}

} // namespace domain_set_test

TEST_CASE("normalise_domain lower-cases and drops one trailing dot", "[domain]") {
    CHECK(normalise_domain("Example.COM") == "example.com");
    CHECK(normalise_domain("example.com.") == "example.com");
    CHECK(normalise_domain("MX-1.Example.Org.") == "mx-1.example.org");
    CHECK(normalise_domain("localhost") == "localhost");
    CHECK(normalise_domain("a") == "a");
    CHECK(normalise_domain("123.example") == "123.example");
    CHECK(normalise_domain("xn--bcher-kva.example") == "xn--bcher-kva.example");
    CHECK(normalise_domain("B\xC3\xBC"
                           "cher.Example") == "b\xC3\xBC"
                                              "cher.example"); // UTF-8 kept as is
    CHECK(normalise_domain("\xC3\x9C"
                           "ber.example") == "\xC3\x9C"
                                             "ber.example"); // only ASCII folds
}

TEST_CASE("normalise_domain rejects invalid domains", "[domain]") {
    for (const std::string text : {"",
                                   ".",
                                   "..",
                                   "example.com..",
                                   ".example.com",
                                   "example..com",
                                   "-example.com",
                                   "example-.com",
                                   "a.-b.c",
                                   "exa mple.com",
                                   "example.com ",
                                   " example.com",
                                   "exam_ple.com",
                                   "*.example.com",
                                   "*",
                                   "example.com/",
                                   "user@example.com",
                                   "[192.0.2.1]",
                                   "exa\tmple.com",
                                   "ex%ample.com",
                                   "ex!ample.com",
                                   "example.com\r\n"}) {
        INFO("text: \"" << text << "\"");
        CHECK(normalise_domain(text).empty());
    }
    CHECK(normalise_domain(std::string("exa\0mple.com", 12)).empty());
}

TEST_CASE("normalise_domain enforces label and total length limits", "[domain]") {
    using domain_set_test::labels;
    CHECK(normalise_domain(std::string(63, 'a') + ".example") == std::string(63, 'a') + ".example");
    CHECK(normalise_domain(std::string(64, 'a') + ".example").empty());

    const std::string longest = labels(4, 63); // 4 * 63 + 3 dots = 255 octets
    REQUIRE(longest.size() == 255u);
    CHECK(normalise_domain(longest) == longest);
    CHECK(normalise_domain(longest + ".") == longest);
    CHECK(normalise_domain("a" + longest).empty());
    CHECK(normalise_domain(longest + "..").empty());
    CHECK(normalise_domain(std::string(100000, 'a')).empty());
}

TEST_CASE("normalise_domain accepts only well-formed UTF-8", "[domain]") {
    CHECK(normalise_domain("\xE4\xBE\x8B\xE3\x81\x88.jp") == "\xE4\xBE\x8B\xE3\x81\x88.jp");
    CHECK(normalise_domain("\xF0\x9F\x98\x80.example") == "\xF0\x9F\x98\x80.example");
    for (const char* text : {"\xC3.example", "\xC0\xAF.example", "\xE0\x80\xAF.example",
                             "\xED\xA0\x80.example", "\xF4\x90\x80\x80.example",
                             "\xF8\x88\x80\x80\x80.example", "\xBF.example", "ab\xE4\xBE", "\xFF.example"}) {
        INFO("text: " << text);
        CHECK(normalise_domain(text).empty());
    }
}

TEST_CASE("DomainSet matches exact domains case-insensitively", "[domain]") {
    DomainSet set;
    REQUIRE(set.add("Example.COM"));
    CHECK(set.contains("example.com"));
    CHECK(set.contains("EXAMPLE.com"));
    CHECK(set.contains("example.com."));
    CHECK_FALSE(set.contains("example.com.."));
    CHECK_FALSE(set.contains("mail.example.com"));
    CHECK_FALSE(set.contains("example.co"));
    CHECK_FALSE(set.contains("xexample.com"));
    CHECK_FALSE(set.contains("example.com.evil.test"));
    CHECK_FALSE(set.contains("com"));
    CHECK_FALSE(set.contains(""));
}

TEST_CASE("DomainSet wildcard covers subdomains but not the parent", "[domain]") {
    DomainSet set;
    REQUIRE(set.add("*.Example.com."));
    CHECK(set.contains("mail.example.com"));
    CHECK(set.contains("a.b.c.example.com"));
    CHECK(set.contains("MAIL.EXAMPLE.COM."));
    CHECK_FALSE(set.contains("example.com"));
    CHECK_FALSE(set.contains("badexample.com"));
    CHECK_FALSE(set.contains("mail.example.com.evil.test"));
    CHECK_FALSE(set.contains(".example.com"));
    CHECK_FALSE(set.contains("*.example.com"));
    CHECK_FALSE(set.contains("mail..example.com"));
    CHECK_FALSE(set.contains("-mail.example.com"));

    REQUIRE(set.add("example.com"));
    CHECK(set.contains("example.com"));
    CHECK(set.contains("mail.example.com"));
}

TEST_CASE("DomainSet never matches an invalid domain", "[domain]") {
    DomainSet set;
    REQUIRE(set.add("*.example.com"));
    REQUIRE(set.add("example.org"));
    CHECK_FALSE(set.contains("bad_label.example.com"));
    CHECK_FALSE(set.contains(std::string(64, 'a') + ".example.com"));
    CHECK_FALSE(set.contains("example.org "));
    CHECK_FALSE(set.contains("[example.org]"));
    CHECK_FALSE(set.contains(domain_set_test::labels(40, 10) + ".example.com"));
    CHECK_FALSE(set.contains(std::string("example.org\0", 12)));
}

TEST_CASE("DomainSet reports its patterns normalised and in order", "[domain]") {
    DomainSet set;
    CHECK(set.empty());
    REQUIRE(set.add("Example.ORG."));
    REQUIRE(set.add("*.Example.NET"));
    REQUIRE(set.add("example.com"));
    REQUIRE(set.add("example.org")); // a repeat is accepted once
    REQUIRE(set.add("*.example.net."));
    CHECK_FALSE(set.empty());
    CHECK(set.patterns() == std::vector<std::string>{"example.org", "*.example.net", "example.com"});
}

TEST_CASE("DomainSet rejects invalid patterns with a reason", "[domain]") {
    using domain_set_test::add_error;
    const std::string wildcard = "a wildcard is allowed only as a leading \"*.\", as in \"*.example.com\"";
    CHECK(add_error("*") == wildcard);
    CHECK(add_error("a.*.b") == wildcard);
    CHECK(add_error("*example.com") == wildcard);
    CHECK(add_error("*.*.example.com") == wildcard);
    CHECK(add_error("example.*") == wildcard);
    CHECK(add_error("**.example.com") == wildcard);
    CHECK(add_error("*.") == "the domain is empty");
    CHECK(add_error("") == "the domain is empty");
    CHECK(add_error(".") == "the domain is empty");
    CHECK(add_error("example..com") == "the domain has an empty label");
    CHECK(add_error(".example.com") == "the domain has an empty label");
    CHECK(add_error("*..example.com") == "the domain has an empty label");
    CHECK(add_error(std::string(64, 'a') + ".com") == "a label of the domain is longer than 63 octets");
    CHECK(add_error(domain_set_test::labels(26, 9)) == "the domain is longer than 255 octets");
    CHECK(add_error("-example.com") == "a label of the domain starts or ends with a hyphen");
    CHECK(add_error("example-.com") == "a label of the domain starts or ends with a hyphen");
    CHECK(add_error("exa_mple.com") == "the domain may contain only letters, digits, hyphens and dots");
    CHECK(add_error("example.com ") == "the domain may contain only letters, digits, hyphens and dots");
    CHECK(add_error("[192.0.2.1]") == "the domain may contain only letters, digits, hyphens and dots");
    CHECK(add_error("\xC3.example") == "the domain is not well-formed UTF-8");

    DomainSet set;
    CHECK_FALSE(set.add("a..b")); // no error pointer: still safe
    CHECK(set.patterns().empty());
}
