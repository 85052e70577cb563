#include "config_checks.hpp"
#include "config_element.hpp"
#include "config_sections.hpp"

#include <relayguard/policy/config_loader.hpp>

#include <mbedtls/md.h>
#include <tinyxml2.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace relayguard::policy {
namespace config_loader_detail {

// A full configuration is a few kilobytes; the bound keeps a wrong path (a log file, a disk image) from
// being read into memory whole.
constexpr std::size_t max_config_size = 1024 * 1024;

struct SectionReader {
    std::string_view name;
    void (*read)(const tinyxml2::XMLElement&, config_detail::ConfigDraft&, config_detail::ProblemLog&);
    bool repeatable;
};

constexpr SectionReader section_readers[] = {
    {"listen", config_detail::read_listen_section, true},
    {"upstream", config_detail::read_upstream_section, false},
    {"identity", config_detail::read_identity_section, false},
    {"tls", config_detail::read_tls_section, false},
    {"clients", config_detail::read_clients_section, false},
    {"relay", config_detail::read_relay_section, false},
    {"auth", config_detail::read_auth_section, false},
    {"limits", config_detail::read_limits_section, false},
    {"data", config_detail::read_data_section, false},
    {"log", config_detail::read_log_section, false},
    {"metrics", config_detail::read_metrics_section, false},
    {"run", config_detail::read_run_section, false},
    {"watchdog", config_detail::read_watchdog_section, false},
};

std::string section_names() {
    std::string names;
    for (const SectionReader& reader : section_readers) {
        names += names.empty() ? "<" : ", <";
        names += std::string(reader.name) + ">";
    }
    return names;
}

const char* describe_xml_error(tinyxml2::XMLError error) {
    switch (error) {
    case tinyxml2::XML_ERROR_PARSING_ELEMENT:
        return "malformed element (a broken or unclosed tag?)";
    case tinyxml2::XML_ERROR_PARSING_ATTRIBUTE:
        return "malformed attribute (values need quotes: name=\"value\")";
    case tinyxml2::XML_ERROR_PARSING_TEXT:
        return "malformed text (a stray < or &?)";
    case tinyxml2::XML_ERROR_PARSING_CDATA:
        return "malformed CDATA section";
    case tinyxml2::XML_ERROR_PARSING_COMMENT:
        return "malformed comment (comments are <!-- ... -->)";
    case tinyxml2::XML_ERROR_PARSING_DECLARATION:
        return "malformed declaration (<?xml ... ?>)";
    case tinyxml2::XML_ERROR_PARSING_UNKNOWN:
        return "malformed <!...> construct";
    case tinyxml2::XML_ERROR_EMPTY_DOCUMENT:
        return "the document is empty";
    case tinyxml2::XML_ERROR_MISMATCHED_ELEMENT:
        return "a closing tag does not match the element it closes (or an element is not closed)";
    case tinyxml2::XML_ELEMENT_DEPTH_EXCEEDED:
        return "elements are nested too deeply";
    default:
        return "malformed XML";
    }
}

int line_of_offset(std::string_view text, std::size_t offset) {
    int line = 1;
    for (std::size_t index = 0; index < offset && index < text.size(); ++index) {
        line += text[index] == '\n' ? 1 : 0;
    }
    return line;
}

const SectionReader* find_section_reader(std::string_view name) {
    for (const SectionReader& reader : section_readers) {
        if (reader.name == name) {
            return &reader;
        }
    }
    return nullptr;
}

void read_sections(const tinyxml2::XMLElement& root, config_detail::ConfigDraft& draft,
                   config_detail::ProblemLog& log) {
    const config_detail::ConfigElement root_element(root, log, {});
    for (const tinyxml2::XMLElement* child = root.FirstChildElement(); child != nullptr;
         child = child->NextSiblingElement()) {
        const std::string_view name = child->Name();
        const SectionReader* reader = find_section_reader(name);
        if (reader == nullptr) {
            config_detail::report_unknown_element(*child, "relayguard", "one of " + section_names(), log);
            continue;
        }
        const auto [first, inserted] = draft.section_lines.emplace(std::string(name), child->GetLineNum());
        if (!inserted && !reader->repeatable) {
            log.error(child->GetLineNum(), "<" + std::string(name) + ">",
                      "given twice (first at line " + std::to_string(first->second) +
                          "); only one is allowed");
            continue;
        }
        reader->read(*child, draft, log);
    }
}

// The single top-level element, or nothing (reported) when there is none or more than one.
const tinyxml2::XMLElement* find_root(const tinyxml2::XMLDocument& document, config_detail::ProblemLog& log) {
    const tinyxml2::XMLElement* root = document.FirstChildElement();
    if (root == nullptr) {
        log.error(0, "<relayguard>", "missing: the file holds no XML element");
        return nullptr;
    }
    if (std::string_view(root->Name()) != "relayguard") {
        log.error(root->GetLineNum(), "<" + std::string(root->Name()) + ">",
                  "the top-level element must be <relayguard>");
        return nullptr;
    }
    if (const tinyxml2::XMLElement* second = root->NextSiblingElement()) {
        log.error(second->GetLineNum(), "<" + std::string(second->Name()) + ">",
                  "a second top-level element; everything belongs inside the one <relayguard>");
    }
    return root;
}

// Lower-case hex, as sha256sum prints it, so an operator can compare it with the file on disk.
std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, 32> digest{};
    const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == nullptr || mbedtls_md(info, reinterpret_cast<const unsigned char*>(bytes.data()),
                                      bytes.size(), digest.data()) != 0) {
        return {};
    }
    constexpr std::string_view hex_digits = "0123456789abcdef";
    std::string text;
    text.reserve(digest.size() * 2);
    for (const unsigned char byte : digest) {
        text += hex_digits[byte >> 4];
        text += hex_digits[byte & 0x0f];
    }
    return text;
}

std::shared_ptr<const Config> build_config(config_detail::ConfigDraft& draft, const std::string& source_name,
                                           std::string_view text) {
    Config& config = draft.config;
    config.source = source_name;
    config.sha256 = sha256_hex(text);
    NetworkSet relay_networks;
    for (const config_detail::RelayNetworkEntry& entry : draft.relay_networks) {
        relay_networks.add(entry.network);
    }
    config.relay =
        RelayPolicy(draft.relay_requirement, std::move(relay_networks), std::move(draft.local_domains));
    std::map<std::string, std::vector<SenderPattern>> user_senders;
    for (const UserConfig& user : config.auth.users) {
        if (!user.senders.empty()) {
            user_senders.emplace(user.name, user.senders);
        }
    }
    config.senders = SenderPolicy(draft.local_senders, std::move(user_senders));
    return std::make_shared<const Config>(std::move(config));
}

ConfigLoadResult result_of(config_detail::ProblemLog& log, std::shared_ptr<const Config> config) {
    ConfigLoadResult result;
    result.errors = log.take_errors();
    result.warnings = log.take_warnings();
    if (result.errors.empty()) {
        result.config = std::move(config);
    }
    return result;
}

} // namespace config_loader_detail

ConfigLoadResult load_config_text(std::string_view xml, const std::string& source_name) {
    namespace local = config_loader_detail;
    config_detail::ProblemLog log(source_name);
    if (xml.size() > local::max_config_size) {
        log.error(0, "",
                  "the configuration is larger than " + std::to_string(local::max_config_size / 1024) +
                      " KiB; is this the right file?");
        return local::result_of(log, nullptr);
    }
    // tinyxml2 would stop at a NUL and read the rest of the file as if it were not there.
    if (const std::size_t nul = xml.find('\0'); nul != std::string_view::npos) {
        log.error(local::line_of_offset(xml, nul), "", "the configuration contains a NUL byte");
        return local::result_of(log, nullptr);
    }

    tinyxml2::XMLDocument document;
    if (document.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
        log.error(document.ErrorLineNum(), "",
                  std::string("XML syntax error: ") + local::describe_xml_error(document.ErrorID()));
        return local::result_of(log, nullptr);
    }
    const tinyxml2::XMLElement* root = local::find_root(document, log);
    if (root == nullptr) {
        return local::result_of(log, nullptr);
    }

    config_detail::ConfigDraft draft;
    draft.root_line = root->GetLineNum();
    local::read_sections(*root, draft, log);
    config_detail::check_consistency(draft, log);
    config_detail::lint_relay_allowlist(draft, log);
    if (log.has_errors()) {
        return local::result_of(log, nullptr);
    }
    config_detail::lint_mail_flow(draft, log);
    return local::result_of(log, local::build_config(draft, source_name, xml));
}

ConfigLoadResult load_config_file(const std::string& path) {
    namespace local = config_loader_detail;
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        const int error = errno;
        config_detail::ProblemLog log(path);
        log.error(0, "", std::string("cannot open the configuration: ") + std::strerror(error));
        return local::result_of(log, nullptr);
    }
    // One byte more than allowed, so that an oversized file is recognised as such.
    std::string text(local::max_config_size + 1, '\0');
    const std::size_t size = std::fread(text.data(), 1, text.size(), file);
    const int error = std::ferror(file) != 0 ? errno : 0;
    std::fclose(file);
    if (error != 0) {
        config_detail::ProblemLog log(path);
        log.error(0, "", std::string("cannot read the configuration: ") + std::strerror(error));
        return local::result_of(log, nullptr);
    }
    text.resize(size);
    return load_config_text(text, path);
}

} // namespace relayguard::policy
