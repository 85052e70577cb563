// Command framing and parsing (command_parser.hpp), as the session applies them to its input buffer:
// frame a line, parse it, drop it, repeat; a too-long line is skipped to its end.
#include "fuzz_check.hpp"

#include <relayguard/proxy/command_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using relayguard::proxy::LineFrame;

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() ||
           (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_command(std::string_view line) {
    const relayguard::proxy::Command command = relayguard::proxy::parse_command(line);
    FUZZ_CHECK(inside(command.name, line));
    FUZZ_CHECK(inside(command.argument, line));
    if (relayguard::proxy::contains_control_character(line)) {
        FUZZ_CHECK(command.verb == relayguard::proxy::Verb::invalid);
    }
    if (command.verb == relayguard::proxy::Verb::invalid) {
        FUZZ_CHECK(command.name.empty() && command.argument.empty());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // The first octet picks the line limit: the command limit, or a small one that is reached often.
    const std::size_t max_length =
        data[0] % 2 == 0 ? relayguard::proxy::max_command_line_length : 8u + data[0] % 64u;
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    bool skipping = false;
    while (!rest.empty()) {
        if (skipping) {
            bool found_end = false;
            const std::size_t skipped = relayguard::proxy::skip_rest_of_line(rest, found_end);
            FUZZ_CHECK(skipped <= rest.size());
            FUZZ_CHECK(found_end == (rest.find('\n') != std::string_view::npos));
            if (!found_end) {
                FUZZ_CHECK(skipped == rest.size());
                break;
            }
            FUZZ_CHECK(skipped == rest.find('\n') + 1);
            rest.remove_prefix(skipped);
            skipping = false;
            continue;
        }
        const LineFrame frame = relayguard::proxy::frame_line(rest, max_length);
        const std::size_t line_feed = rest.find('\n');
        if (frame.status == LineFrame::Status::incomplete) {
            FUZZ_CHECK(line_feed == std::string_view::npos);
            FUZZ_CHECK(rest.size() < max_length);
            break;
        }
        if (frame.status == LineFrame::Status::too_long) {
            FUZZ_CHECK(line_feed == std::string_view::npos || line_feed >= max_length);
            skipping = true;
            continue;
        }
        // A whole line: it ends at the first LF, within the limit, and loses only its CRLF or LF.
        FUZZ_CHECK(line_feed != std::string_view::npos && frame.consumed == line_feed + 1);
        FUZZ_CHECK(frame.consumed <= max_length);
        FUZZ_CHECK(frame.line.data() == rest.data());
        const bool had_cr = line_feed > 0 && rest[line_feed - 1] == '\r';
        FUZZ_CHECK(frame.line.size() == line_feed - (had_cr ? 1 : 0));
        FUZZ_CHECK(frame.line.find('\n') == std::string_view::npos);
        check_command(frame.line);
        rest.remove_prefix(frame.consumed);
    }
    return 0;
}
