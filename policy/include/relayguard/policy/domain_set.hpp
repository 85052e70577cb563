#pragma once
// The local domains of <relay>: exact names, and "*.example.com" for every subdomain of example.com
// (not example.com itself). Matching is case-insensitive and ignores one trailing dot. A lookup costs
// O(labels of the domain), not O(entries).
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace relayguard::policy {

class DomainSet {
public:
    // Returns false (and sets *error) for a pattern that is not a valid domain or "*." + domain.
    bool add(std::string_view pattern, std::string* error = nullptr);
    bool contains(std::string_view domain) const;
    bool empty() const { return patterns_.empty(); }
    // The patterns as given (normalised to lower case), in insertion order.
    const std::vector<std::string>& patterns() const { return patterns_; }

private:
    std::vector<std::string> patterns_;
    std::unordered_set<std::string> exact_;
    std::unordered_set<std::string> parents_; // "example.com" for "*.example.com"
};

// Lower-cases ASCII letters and removes one trailing dot; returns an empty string when the result is not
// a syntactically valid domain (RFC 5321 Domain: letters, digits, hyphens, dots; labels of 1–63 octets,
// no leading or trailing hyphen, at most 255 octets). UTF-8 octets are kept for SMTPUTF8 (RFC 6531).
std::string normalise_domain(std::string_view domain);

} // namespace relayguard::policy
