#include "utf8.hpp"

#include <relayguard/policy/domain_set.hpp>

#include <cstddef>
#include <utility>

namespace relayguard::policy {
namespace domain_set_detail {

constexpr std::size_t kMaxDomainOctets = 255; // RFC 5321 §4.5.3.1.2
constexpr std::size_t kMaxLabelOctets = 63;   // RFC 1035 §2.3.4
constexpr std::string_view kWildcardPrefix = "*.";

bool is_label_octet(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c >= 0x80;
}

// Writes the normalised domain to `normalised` and returns nullptr, or returns why it is invalid.
const char* normalise(std::string_view domain, std::string& normalised) {
    normalised.clear();
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    if (domain.empty()) {
        return "the domain is empty";
    }
    if (domain.size() > kMaxDomainOctets) {
        return "the domain is longer than 255 octets";
    }
    std::string lowered(domain);
    for (char& c : lowered) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    std::size_t label_start = 0;
    while (label_start <= lowered.size()) {
        std::size_t label_end = lowered.find('.', label_start);
        if (label_end == std::string::npos) {
            label_end = lowered.size();
        }
        const std::string_view label = std::string_view(lowered).substr(label_start, label_end - label_start);
        if (label.empty()) {
            return "the domain has an empty label";
        }
        if (label.size() > kMaxLabelOctets) {
            return "a label of the domain is longer than 63 octets";
        }
        for (const char c : label) {
            if (!is_label_octet(static_cast<unsigned char>(c))) {
                return "the domain may contain only letters, digits, hyphens and dots";
            }
        }
        if (label.front() == '-' || label.back() == '-') {
            return "a label of the domain starts or ends with a hyphen";
        }
        label_start = label_end + 1;
    }
    if (!is_well_formed_utf8(lowered)) {
        return "the domain is not well-formed UTF-8";
    }
    normalised = std::move(lowered);
    return nullptr;
}

} // namespace domain_set_detail

std::string normalise_domain(std::string_view domain) {
    std::string normalised;
    domain_set_detail::normalise(domain, normalised);
    return normalised;
}

bool DomainSet::add(std::string_view pattern, std::string* error) {
    const bool wildcard =
        pattern.substr(0, domain_set_detail::kWildcardPrefix.size()) == domain_set_detail::kWildcardPrefix;
    const std::string_view name =
        wildcard ? pattern.substr(domain_set_detail::kWildcardPrefix.size()) : pattern;
    if (name.find('*') != std::string_view::npos) {
        if (error != nullptr) {
            *error = "a wildcard is allowed only as a leading \"*.\", as in \"*.example.com\"";
        }
        return false;
    }
    std::string normalised;
    if (const char* reason = domain_set_detail::normalise(name, normalised)) {
        if (error != nullptr) {
            *error = reason;
        }
        return false;
    }
    const bool inserted = wildcard ? parents_.insert(normalised).second : exact_.insert(normalised).second;
    if (inserted) {
        patterns_.push_back(wildcard ? std::string(domain_set_detail::kWildcardPrefix) + normalised
                                     : normalised);
    }
    return true;
}

bool DomainSet::contains(std::string_view domain) const {
    const std::string normalised = normalise_domain(domain);
    if (normalised.empty()) {
        return false;
    }
    if (exact_.count(normalised) != 0) {
        return true;
    }
    // Each proper parent suffix ("b.c" and "c" for "a.b.c") may be a "*." pattern's parent.
    for (std::size_t dot = normalised.find('.'); dot != std::string::npos;
         dot = normalised.find('.', dot + 1)) {
        if (parents_.count(normalised.substr(dot + 1)) != 0) {
            return true;
        }
    }
    return false;
}

} // namespace relayguard::policy
