#pragma once
// Reads the XML configuration (tinyxml2) into one validated Config, or reports every problem found.
// Never returns a half-built configuration: either `config` is set and `errors` is empty, or the reverse.
#include <relayguard/policy/config.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard::policy {

struct ConfigProblem {
    std::string file;
    int line = 0;     // 0 when the problem concerns the whole file
    std::string item; // the element or attribute, e.g. "<listen port>"
    std::string message;
    // "relayguard.xml:12: <listen port>: \"70000\" is not a port number (1-65535)"
    std::string to_string() const;
};

struct ConfigLoadResult {
    std::shared_ptr<const Config> config;
    std::vector<ConfigProblem> errors;
    std::vector<ConfigProblem> warnings;
};

// The configuration used when no file is given: listen 127.0.0.1:2525, upstream 127.0.0.1:25, relay
// allowed from 127.0.0.0/8 and ::1, no local domains.
extern const char* const embedded_default_config;
// The name that stands for the file in messages about the embedded default.
inline constexpr const char* embedded_default_source_name = "(embedded default)";
// load_config_text(embedded_default_config, embedded_default_source_name).
ConfigLoadResult load_embedded_default_config();

ConfigLoadResult load_config_file(const std::string& path);
// `source_name` stands for the file name in messages.
ConfigLoadResult load_config_text(std::string_view xml, const std::string& source_name);

} // namespace relayguard::policy
