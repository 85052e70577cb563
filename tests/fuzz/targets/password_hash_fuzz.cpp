// The PBKDF2 hash string parser (policy/credentials.hpp, PasswordHash::parse): a string it accepts is
// written back by to_string() in a form that parses to the same string; a refusal comes with a reason
// that never repeats a salt or a hash (a run of 16 or more base64 characters), which are secrets.
#include "fuzz_check.hpp"

#include <relayguard/policy/credentials.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool is_base64_character(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view phc(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto hash = relayguard::policy::PasswordHash::parse(phc, &error);
    if (!hash) {
        FUZZ_CHECK(!error.empty());
        // A salt or hash is a long run of base64 characters; the reasons are made of short words.
        std::size_t run_start = 0;
        for (std::size_t i = 0; i <= phc.size(); ++i) {
            if (i < phc.size() && is_base64_character(phc[i])) {
                continue;
            }
            if (i - run_start >= 16) {
                FUZZ_CHECK(error.find(phc.substr(run_start, i - run_start)) == std::string::npos);
            }
            run_start = i + 1;
        }
        return 0;
    }
    const std::string written = hash->to_string();
    const auto again = relayguard::policy::PasswordHash::parse(written);
    FUZZ_CHECK(again && again->to_string() == written && again->iterations() == hash->iterations());
    return 0;
}
