// The configuration loader (policy/config_loader.hpp) on arbitrary XML: it never crashes or leaks, every
// problem names its file, and a configuration comes back exactly when there is no error.
#include "fuzz_check.hpp"

#include <relayguard/policy/config.hpp>
#include <relayguard/policy/config_loader.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view xml(reinterpret_cast<const char*>(data), size);
    const relayguard::policy::ConfigLoadResult result = relayguard::policy::load_config_text(xml, "fuzz.xml");
    FUZZ_CHECK((result.config != nullptr) == result.errors.empty());
    for (const auto& problem : result.errors) {
        FUZZ_CHECK(problem.file == "fuzz.xml" && !problem.message.empty());
        FUZZ_CHECK(problem.line >= 0);
        (void)problem.to_string();
    }
    for (const auto& problem : result.warnings) {
        FUZZ_CHECK(problem.file == "fuzz.xml" && !problem.message.empty());
    }
    if (result.config) {
        FUZZ_CHECK(!result.config->listeners.empty());
    }
    return 0;
}
