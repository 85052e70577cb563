// Upstream reply parsing (reply_parser.hpp) with the input split where the first octet says, as replies
// arrive in pieces: a prefix never completes a reply the whole input does not, and once the whole reply
// is there the parse is the one of the whole input. EHLO replies also go through the capability reader.
#include "fuzz_check.hpp"

#include <relayguard/proxy/command_parser.hpp>
#include <relayguard/proxy/reply_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using relayguard::proxy::ParsedReply;

void check_complete(const ParsedReply& reply, std::string_view buffered) {
    FUZZ_CHECK(reply.consumed > 0 && reply.consumed <= buffered.size());
    FUZZ_CHECK(buffered[reply.consumed - 1] == '\n');
    FUZZ_CHECK(reply.code >= 200 && reply.code <= 599);
    FUZZ_CHECK(reply.line_count >= 1 && reply.line_count <= relayguard::proxy::max_reply_lines);
    for (std::size_t i = 0; i < reply.line_count; ++i) {
        const std::string_view line = reply.lines[i];
        FUZZ_CHECK(line.empty() || (line.data() >= buffered.data() &&
                                    line.data() + line.size() <= buffered.data() + reply.consumed));
        FUZZ_CHECK(!relayguard::proxy::contains_control_character(line)); // never repeated to a client
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view whole(reinterpret_cast<const char*>(data + 1), size - 1);
    const ParsedReply full = relayguard::proxy::parse_reply(whole);
    if (full.status == ParsedReply::Status::complete) {
        check_complete(full, whole);
        if (full.code == 250) {
            (void)relayguard::proxy::parse_ehlo_capabilities(full);
        }
    }
    const std::size_t split = whole.empty() ? 0 : data[0] % (whole.size() + 1);
    const std::string_view prefix = whole.substr(0, split);
    const ParsedReply partial = relayguard::proxy::parse_reply(prefix);
    switch (full.status) {
    case ParsedReply::Status::complete:
        if (prefix.size() < full.consumed) {
            FUZZ_CHECK(partial.status == ParsedReply::Status::incomplete);
        } else {
            FUZZ_CHECK(partial.status == ParsedReply::Status::complete);
            FUZZ_CHECK(partial.consumed == full.consumed && partial.code == full.code &&
                       partial.line_count == full.line_count);
        }
        break;
    case ParsedReply::Status::incomplete:
        FUZZ_CHECK(partial.status == ParsedReply::Status::incomplete);
        break;
    case ParsedReply::Status::malformed:
        FUZZ_CHECK(partial.status != ParsedReply::Status::complete);
        break;
    }
    return 0;
}
