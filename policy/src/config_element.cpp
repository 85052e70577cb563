#include "config_element.hpp"

#include <relayguard/policy/ascii.hpp>

#include <algorithm>

namespace relayguard::policy {
namespace config_element_detail {

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && is_ascii_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_ascii_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

std::string known_attributes_text(const std::string& item, std::initializer_list<std::string_view> names) {
    std::string list;
    for (const std::string_view name : names) {
        list += list.empty() ? "" : ", ";
        list += name;
    }
    return list.empty() ? item + " takes no attributes" : item + " takes: " + list;
}

} // namespace config_element_detail

namespace config_detail {

ConfigElement::ConfigElement(const tinyxml2::XMLElement& element, ProblemLog& log,
                             std::initializer_list<std::string_view> known_attributes)
    : element_(element), log_(log) {
    for (const tinyxml2::XMLAttribute* attribute = element.FirstAttribute(); attribute != nullptr;
         attribute = attribute->Next()) {
        const std::string_view attribute_name = attribute->Name();
        if (std::find(known_attributes.begin(), known_attributes.end(), attribute_name) ==
            known_attributes.end()) {
            log.error(attribute->GetLineNum(), item(attribute_name),
                      "unknown attribute (" +
                          config_element_detail::known_attributes_text(item(), known_attributes) + ")");
            continue;
        }
        // tinyxml2 9 refuses a repeated attribute as a syntax error, but older releases (still found in
        // embedded SDKs) keep both copies, and which one wins is not something an operator should guess.
        for (const tinyxml2::XMLAttribute* earlier = element.FirstAttribute(); earlier != attribute;
             earlier = earlier->Next()) {
            if (attribute_name == earlier->Name()) {
                log.error(attribute->GetLineNum(), item(attribute_name), "attribute given twice");
                break;
            }
        }
    }
    for (const tinyxml2::XMLNode* child = element.FirstChild(); child != nullptr;
         child = child->NextSibling()) {
        const std::string_view text =
            child->ToText() != nullptr ? config_element_detail::trimmed(child->Value()) : "";
        if (!text.empty()) {
            log.error(child->GetLineNum(), item(),
                      "unexpected text " + quoted(text) + " (values go in attributes)");
        }
    }
}

std::string ConfigElement::item() const {
    return "<" + std::string(name()) + ">";
}

std::string ConfigElement::item(std::string_view attribute_name) const {
    return "<" + std::string(name()) + " " + std::string(attribute_name) + ">";
}

std::optional<AttributeText> ConfigElement::attribute(std::string_view attribute_name) const {
    for (const tinyxml2::XMLAttribute* attribute = element_.FirstAttribute(); attribute != nullptr;
         attribute = attribute->Next()) {
        if (attribute_name == attribute->Name()) {
            return AttributeText{attribute->Value(), attribute->GetLineNum()};
        }
    }
    return std::nullopt;
}

std::optional<AttributeText> ConfigElement::required(std::string_view attribute_name) const {
    std::optional<AttributeText> value = attribute(attribute_name);
    if (!value) {
        log_.error(line(), item(attribute_name), "missing (required)");
    }
    return value;
}

void ConfigElement::reject_children() const {
    for (const tinyxml2::XMLElement* child = element_.FirstChildElement(); child != nullptr;
         child = child->NextSiblingElement()) {
        log_.error(child->GetLineNum(), "<" + std::string(child->Name()) + ">",
                   "unknown element inside " + item() + ", which takes attributes only");
    }
}

void ConfigElement::error(std::string_view attribute_name, std::string message) const {
    const std::optional<AttributeText> value = attribute(attribute_name);
    log_.error(value ? value->line : line(), item(attribute_name), std::move(message));
}

void report_unknown_element(const tinyxml2::XMLElement& element, std::string_view parent,
                            std::string_view expected, ProblemLog& log) {
    log.error(element.GetLineNum(), "<" + std::string(element.Name()) + ">",
              "unknown element inside <" + std::string(parent) + "> (expected " + std::string(expected) +
                  ")");
}

} // namespace config_detail
} // namespace relayguard::policy
