#pragma once
// The recipients the upstream accepted in one transaction, kept in one string as the log line writes
// them ("<a@b.example>,<c@d.example>"): a transaction of many recipients costs a few growths of one
// buffer, not a string and a vector slot each.
#include <cstddef>
#include <string>
#include <string_view>

namespace relayguard::proxy {

class RecipientList {
public:
    // `recipient` in canonical form ("<local@domain>"), which a comma cannot end.
    void add(std::string_view recipient) {
        if (count_ == 0) {
            first_length_ = recipient.size();
        } else {
            joined_ += ',';
        }
        joined_.append(recipient);
        ++count_;
    }
    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    // The first recipient; empty when there is none.
    std::string_view front() const { return std::string_view(joined_).substr(0, first_length_); }
    // Every recipient in order, separated by commas.
    std::string_view joined() const { return joined_; }

private:
    std::string joined_;
    std::size_t first_length_ = 0;
    std::size_t count_ = 0;
};

} // namespace relayguard::proxy
