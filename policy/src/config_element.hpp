#pragma once
// Internal to the configuration loader: one XML element under inspection. It knows which attributes its
// element may carry, reports the others (and stray text) as soon as it is made, and turns attribute
// values into typed fields, reporting bad ones with the attribute's own line.
#include "config_problems.hpp"
#include "config_values.hpp"

#include <tinyxml2.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::policy::config_detail {

struct AttributeText {
    std::string_view text;
    int line = 0;
};

class ConfigElement {
public:
    ConfigElement(const tinyxml2::XMLElement& element, ProblemLog& log,
                  std::initializer_list<std::string_view> known_attributes);

    std::string_view name() const { return element_.Name(); }
    int line() const { return element_.GetLineNum(); }
    // "<listen>" and "<listen port>": how messages name the element and its attributes.
    std::string item() const;
    std::string item(std::string_view attribute) const;

    std::optional<AttributeText> attribute(std::string_view attribute_name) const;
    // Like attribute(), but a missing attribute is reported.
    std::optional<AttributeText> required(std::string_view attribute_name) const;

    // Reads the attribute into `target` when it is present and valid; reports a bad value and, when
    // `is_required`, a missing one. Returns whether `target` was set. An absent optional attribute leaves
    // the default in `target`.
    template <typename T, typename Parser>
    bool read(std::string_view attribute_name, T& target, const Parser& parse,
              bool is_required = false) const {
        const std::optional<AttributeText> value =
            is_required ? required(attribute_name) : attribute(attribute_name);
        if (!value) {
            return false;
        }
        std::string why;
        auto parsed = parse(value->text, why);
        if (!parsed) {
            log_.error(value->line, item(attribute_name), why);
            return false;
        }
        target = std::move(*parsed);
        return true;
    }

    // Children of an element that may have none are reported as unknown.
    void reject_children() const;
    void error(std::string message) const { log_.error(line(), item(), std::move(message)); }
    void error(std::string_view attribute_name, std::string message) const;

    const tinyxml2::XMLElement& xml() const { return element_; }
    ProblemLog& log() const { return log_; }

private:
    const tinyxml2::XMLElement& element_;
    ProblemLog& log_;
};

// Reports an element that is not allowed where it stands; `expected` lists what is, e.g. "<allow> or
// <domain>".
void report_unknown_element(const tinyxml2::XMLElement& element, std::string_view parent,
                            std::string_view expected, ProblemLog& log);

} // namespace relayguard::policy::config_detail
