// The DATA scanner (data_scanner.hpp) against its model. Whatever the client sends and however it is cut
// into reads and output buffers:
//   - the output never holds a bare CR or a bare LF, and never an end of data (".\r\n" opening the body
//     or "\r\n.\r\n" inside it), so the upstream cannot be made to see a line relayguard did not write;
//   - the output does not depend on the cutting (compared with one scan of the whole input);
//   - a finished message with no problem, scanned again as a client would send it (its output and
//     ".\r\n"), comes out unchanged: the scanner's output is its own fixed point.
#include "fuzz_check.hpp"

#include <relayguard/proxy/data_scanner.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using relayguard::proxy::BareNewlinePolicy;
using relayguard::proxy::DataScanner;

struct ScanResult {
    std::string output;
    bool finished = false;
    std::size_t consumed = 0; // input octets taken up to and including the end of data
    DataScanner::Problem problem = DataScanner::Problem::none;
};

// Scans `input` in reads of the sizes `cuts` names, each into an output buffer of the capacity it names.
ScanResult scan(BareNewlinePolicy policy, std::uint64_t max_size, std::string_view input,
                const std::vector<std::uint8_t>& cuts) {
    DataScanner scanner(policy, max_size);
    ScanResult result;
    std::vector<char> out;
    std::size_t position = 0;
    std::size_t cut = 0;
    unsigned idle_rounds = 0;
    while (!result.finished) {
        const std::uint8_t code = cuts.empty() ? 0 : cuts[cut++ % cuts.size()];
        const std::size_t read_size = cuts.empty() ? input.size() - position : 1u + code % 61u;
        const std::size_t chunk = std::min(read_size, input.size() - position);
        // At least three octets: one held-back CR that turns out bare comes out as "\r\n" with the octet
        // after it.
        const std::size_t capacity = cuts.empty() ? 2 * chunk + 2 : 3u + (code >> 4u) % 9u;
        out.assign(capacity, '\0');
        const DataScanner::Step step = scanner.scan(input.data() + position, chunk, out.data(), capacity);
        FUZZ_CHECK(step.consumed <= chunk);
        FUZZ_CHECK(step.produced <= capacity);
        result.output.append(out.data(), step.produced);
        position += step.consumed;
        result.finished = step.finished;
        if (step.consumed == 0 && step.produced == 0) {
            if (position == input.size() || ++idle_rounds > 4) {
                break; // no input left (or, with input left, no progress at all: checked below)
            }
        } else {
            idle_rounds = 0;
        }
    }
    const bool stalled = !result.finished && position < input.size(); // input left, and no progress
    FUZZ_CHECK(!stalled);
    result.consumed = position;
    result.problem = scanner.problem();
    return result;
}

void check_canonical(const ScanResult& result) {
    const std::string& out = result.output;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '\n') {
            FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
        }
        if (out[i] == '\r') {
            // The last CR may be one whose LF is still held back: until the octet after it comes
            // (unfinished), or for ever when a problem ended the output (the session then aborts the
            // upstream connection instead of ending the message, so the upstream never reads on).
            const bool may_be_held = !result.finished || result.problem != DataScanner::Problem::none;
            FUZZ_CHECK((i + 1 < out.size() && out[i + 1] == '\n') || (may_be_held && i + 1 == out.size()));
        }
    }
    FUZZ_CHECK(out.rfind(".\r\n", 0) != 0);
    FUZZ_CHECK(out.find("\r\n.\r\n") == std::string::npos);
    if (result.finished && result.problem == DataScanner::Problem::none) {
        // (after a problem the output stops where the problem was found, mid-line)
        FUZZ_CHECK(out.empty() || (out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) {
        return 0;
    }
    const BareNewlinePolicy policy =
        data[0] % 2 == 0 ? BareNewlinePolicy::normalize : BareNewlinePolicy::reject;
    // Mostly no practical limit; sometimes one small enough to be reached.
    const std::uint64_t max_size =
        data[1] < 200 ? (std::uint64_t{1} << 40) : std::uint64_t{data[1] - 200u} * 4u;
    const std::size_t cut_count = data[2] % 8u;
    if (size < 3 + cut_count) {
        return 0;
    }
    const std::vector<std::uint8_t> cuts(data + 3, data + 3 + cut_count);
    const std::string_view input(reinterpret_cast<const char*>(data + 3 + cut_count), size - 3 - cut_count);

    const ScanResult whole = scan(policy, max_size, input, {});
    check_canonical(whole);
    const ScanResult cut = scan(policy, max_size, input, cuts);
    check_canonical(cut);
    FUZZ_CHECK(cut.finished == whole.finished);
    FUZZ_CHECK(cut.problem == whole.problem);
    if (whole.finished) {
        FUZZ_CHECK(cut.consumed == whole.consumed);
    }
    if (whole.problem == DataScanner::Problem::none) {
        // With a problem the output stops at a point that depends on the cutting; without, it may not.
        FUZZ_CHECK(cut.output == whole.output ||
                   (!whole.finished && whole.output.compare(0, cut.output.size(), cut.output) == 0));
    }
    if (whole.finished && whole.problem == DataScanner::Problem::none) {
        const std::string again = whole.output + ".\r\n";
        // The output may be longer than what the client sent (restored dots), so no size limit here.
        const ScanResult rescanned = scan(policy, std::uint64_t{1} << 40, again, {});
        FUZZ_CHECK(rescanned.finished && rescanned.consumed == again.size());
        FUZZ_CHECK(rescanned.output == whole.output);
    }
    return 0;
}
