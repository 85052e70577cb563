// The DATA body scanner against every SMTP smuggling variant of ../shared/SMTP-NOTES.md, against a
// plain whole-message reference model of the same rules, and under every way of cutting the stream.
#include <relayguard/proxy/data_scanner.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

// The test cases live in the helper namespace too, so that no name leaks into a unity build's
// global scope.
namespace data_scanner_test {

using relayguard::proxy::BareNewlinePolicy;
using relayguard::proxy::DataScanner;
using Problem = DataScanner::Problem;

constexpr std::uint64_t no_limit = std::uint64_t{1} << 40;
constexpr char canary = '#';
constexpr std::size_t canary_size = 8;

// A string from a literal that may hold NUL octets.
template <std::size_t size>
std::string text(const char (&literal)[size]) {
    return std::string(literal, size - 1);
}

// The octets as C would spell them, for failure messages.
std::string visible(const std::string& octets) {
    std::string shown;
    for (char octet : octets) {
        switch (octet) {
        case '\r':
            shown += "\\r";
            break;
        case '\n':
            shown += "\\n";
            break;
        case '\0':
            shown += "\\0";
            break;
        default:
            shown += octet;
            break;
        }
    }
    return shown;
}

struct Outcome {
    std::string output;
    bool finished = false;
    std::size_t consumed = 0; // octets of the input that belonged to the message
    int finish_reports = 0;   // calls that reported `finished`
    Problem problem = Problem::none;
    std::uint64_t received = 0;
    std::uint64_t nul_octets = 0;
};

bool operator==(const Outcome& left, const Outcome& right) {
    return left.output == right.output && left.finished == right.finished &&
           left.consumed == right.consumed && left.problem == right.problem &&
           left.received == right.received && left.nul_octets == right.nul_octets;
}

std::ostream& operator<<(std::ostream& stream, const Outcome& outcome) {
    return stream << "{output=" << visible(outcome.output) << " finished=" << outcome.finished
                  << " consumed=" << outcome.consumed << " problem=" << static_cast<int>(outcome.problem)
                  << " received=" << outcome.received << " nuls=" << outcome.nul_octets << "}";
}

// Calls scan() once with `out_capacity` octets of room, checking that nothing beyond them is touched.
DataScanner::Step scan_guarded(DataScanner& scanner, const std::string& input, std::size_t offset,
                               std::size_t size, std::size_t out_capacity, std::string& output) {
    std::vector<char> out(out_capacity + canary_size, canary);
    const DataScanner::Step step = scanner.scan(input.data() + offset, size, out.data(), out_capacity);
    const bool canary_intact =
        std::all_of(out.begin() + out_capacity, out.end(), [](char octet) { return octet == canary; });
    // Checked without an assertion per call: the exhaustive tests below make millions of calls.
    if (step.consumed > size || step.produced > out_capacity || !canary_intact) {
        FAIL("scan() went past its input or its output: consumed "
             << step.consumed << " of " << size << ", produced " << step.produced << " into "
             << out_capacity);
    }
    output.append(out.data(), step.produced);
    return step;
}

void record_state(const DataScanner& scanner, Outcome& outcome) {
    outcome.problem = scanner.problem();
    outcome.received = scanner.received();
    outcome.nul_octets = scanner.nul_octets_dropped();
}

// Feeds `input` in the chunks that `cuts` marks, each call with 2 * chunk octets of room, which
// must always be enough to take the whole chunk.
Outcome scan_in_chunks(BareNewlinePolicy policy, std::uint64_t max_size, const std::string& input,
                       const std::vector<std::size_t>& cuts) {
    DataScanner scanner(policy, max_size);
    Outcome outcome;
    std::size_t offset = 0;
    std::size_t cut_index = 0;
    while (offset < input.size()) {
        std::size_t end = input.size();
        while (cut_index < cuts.size() && cuts[cut_index] <= offset) {
            ++cut_index;
        }
        if (cut_index < cuts.size() && cuts[cut_index] < end) {
            end = cuts[cut_index];
        }
        const std::size_t size = end - offset;
        const DataScanner::Step step = scan_guarded(scanner, input, offset, size, 2 * size, outcome.output);
        if (step.finished) {
            ++outcome.finish_reports;
            outcome.finished = true;
            outcome.consumed = offset + step.consumed;
            break;
        }
        if (step.consumed != size) {
            FAIL("a chunk of " << size << " octets with twice the room was not taken whole: " << step.consumed
                               << " at offset " << offset);
        }
        offset = end;
    }
    if (!outcome.finished) {
        outcome.consumed = input.size();
    }
    record_state(scanner, outcome);
    return outcome;
}

Outcome scan_whole(BareNewlinePolicy policy, std::uint64_t max_size, const std::string& input) {
    return scan_in_chunks(policy, max_size, input, {});
}

Outcome scan_bytewise(BareNewlinePolicy policy, std::uint64_t max_size, const std::string& input) {
    std::vector<std::size_t> cuts;
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        cuts.push_back(cut);
    }
    return scan_in_chunks(policy, max_size, input, cuts);
}

// Feeds `input` through an `out` of a fixed, possibly tiny, capacity, as a session whose upstream
// buffer is nearly full would, offering the unconsumed rest again after each call.
Outcome scan_through_small_out(BareNewlinePolicy policy, const std::string& input, std::size_t out_capacity) {
    DataScanner scanner(policy, no_limit);
    Outcome outcome;
    std::size_t offset = 0;
    for (;;) {
        const std::size_t size = input.size() - offset;
        const DataScanner::Step step =
            scan_guarded(scanner, input, offset, size, out_capacity, outcome.output);
        offset += step.consumed;
        if (step.finished) {
            ++outcome.finish_reports;
            outcome.finished = true;
            break;
        }
        if (offset == input.size()) {
            // Output held back for want of room is written by a call without input.
            const DataScanner::Step flush =
                scan_guarded(scanner, input, offset, 0, out_capacity, outcome.output);
            REQUIRE_FALSE(flush.finished);
            break;
        }
        REQUIRE(step.consumed + step.produced > 0); // a call with room must make progress
    }
    outcome.consumed = offset;
    record_state(scanner, outcome);
    return outcome;
}

// The rules of data_scanner.hpp applied to a whole message at once, the plain way: split into lines,
// decide each line from its raw octets and its terminator. Limits are not modelled here.
std::string encode_line_content(const std::string& raw) {
    std::string content;
    for (std::size_t index = raw.empty() || raw[0] != '.' ? 0 : 1; index < raw.size(); ++index) {
        if (raw[index] != '\0') {
            content += raw[index];
        }
    }
    return !content.empty() && content[0] == '.' ? "." + content : content;
}

Outcome reference_scan(BareNewlinePolicy policy, const std::string& input) {
    Outcome outcome;
    std::size_t line_begin = 0;
    bool after_crlf = true;
    for (;;) {
        std::size_t line_end = line_begin;
        while (line_end < input.size() && input[line_end] != '\r' && input[line_end] != '\n') {
            ++line_end;
        }
        const std::string raw = input.substr(line_begin, line_end - line_begin);
        for (char octet : raw) {
            outcome.nul_octets += octet == '\0' ? 1 : 0;
        }
        const bool incomplete =
            line_end == input.size() || (input[line_end] == '\r' && line_end + 1 == input.size());
        if (incomplete) {
            if (outcome.problem == Problem::none) {
                outcome.output += encode_line_content(raw);
            }
            outcome.consumed = input.size();
            return outcome;
        }
        const bool real_crlf = input[line_end] == '\r' && input[line_end + 1] == '\n';
        if (real_crlf && raw == "." && after_crlf) {
            outcome.finished = true;
            outcome.finish_reports = 1;
            outcome.consumed = line_end + 2;
            outcome.received = line_begin;
            return outcome;
        }
        if (outcome.problem == Problem::none) {
            outcome.output += encode_line_content(raw);
        }
        if (!real_crlf && policy == BareNewlinePolicy::reject && outcome.problem == Problem::none) {
            outcome.problem = input[line_end] == '\n' ? Problem::bare_lf : Problem::bare_cr;
        }
        if (outcome.problem == Problem::none) {
            outcome.output += "\r\n";
        }
        after_crlf = real_crlf;
        line_begin = line_end + (real_crlf ? 2 : 1);
    }
}

// What a vulnerable upstream could make of the output: every CR must start a CRLF, every LF end one,
// and no line may be a lone "." (which such a server would take as an end of data).
void check_upstream_safe(const std::string& output) {
    INFO("output: " << visible(output));
    std::size_t line_begin = 0;
    for (std::size_t index = 0; index < output.size(); ++index) {
        if (output[index] == '\r') {
            REQUIRE(index + 1 < output.size());
            REQUIRE(output[index + 1] == '\n');
            REQUIRE(output.compare(line_begin, index - line_begin, ".") != 0);
            ++index;
            line_begin = index + 1;
        } else {
            REQUIRE(output[index] != '\n');
        }
    }
    REQUIRE(output.compare(line_begin, std::string::npos, ".") != 0);
}

// ../shared/SMTP-NOTES.md, "SMTP smuggling": what the public scanners put where a final dot would be.
std::vector<std::string> smuggling_variants() {
    return {text("\n.\n"),         text("\n.\r"),   text("\r.\n"),         text("\r.\r"),
            text("\n.\r\n"),       text("\r.\r\n"), text("\r\n\x00.\r\n"), text("\r\n.\r\r\n"),
            text("\r\r\n.\r\r\n"), text("\r\n.\n"), text("\r\n.\r")};
}

const std::string smuggling_head = "Subject: a\r\n\r\nfirst";
const std::string smuggling_tail =
    "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\nsmuggled\r\n\r\n.\r\n";
const std::string pipelined_command = "QUIT\r\n";

std::string smuggling_message(const std::string& variant) {
    return smuggling_head + variant + smuggling_tail;
}

// Cut points chosen by a fixed generator, so that failures reproduce.
std::vector<std::size_t> random_cuts(std::mt19937& generator, std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t cut = 1; cut < size; ++cut) {
        if (generator() % 3 == 0) {
            cuts.push_back(cut);
        }
    }
    return cuts;
}

// Every string of up to `length` octets over the alphabet that matters to the scanner.
std::vector<std::string> all_short_inputs(std::size_t length) {
    const std::string alphabet = text("\r\n.\0a");
    std::vector<std::string> inputs = {""};
    std::size_t previous_begin = 0;
    for (std::size_t size = 1; size <= length; ++size) {
        const std::size_t previous_end = inputs.size();
        for (std::size_t index = previous_begin; index < previous_end; ++index) {
            for (char octet : alphabet) {
                inputs.push_back(inputs[index] + octet);
            }
        }
        previous_begin = previous_end;
    }
    return inputs;
}

std::string random_body(std::mt19937& generator, std::size_t size) {
    const std::string pieces[] = {text("\r"),   text("\n"),    text("."),         text("\0"), text("a"),
                                  text("\r\n"), text("\r\n."), text("\r\n.\r\n"), text("..")};
    std::string body;
    while (body.size() < size) {
        body += pieces[generator() % (sizeof pieces / sizeof pieces[0])];
    }
    return body;
}

TEST_CASE("DataScanner ends a plain message at CRLF dot CRLF and keeps the next command", "[data]") {
    const std::string message = "Subject: hi\r\n\r\nHello.\r\n.\r\n";
    for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
        const Outcome outcome = scan_whole(policy, no_limit, message + pipelined_command);
        CHECK(outcome.finished);
        CHECK(outcome.consumed == message.size());
        CHECK(outcome.output == "Subject: hi\r\n\r\nHello.\r\n");
        CHECK(outcome.problem == Problem::none);
        CHECK(outcome.received == message.size() - 3);
        CHECK(outcome.nul_octets == 0);
    }
}

TEST_CASE("DataScanner takes a lone dot as the first line as an empty message", "[data]") {
    const Outcome outcome = scan_whole(BareNewlinePolicy::reject, no_limit, ".\r\nQUIT\r\n");
    CHECK(outcome.finished);
    CHECK(outcome.consumed == 3);
    CHECK(outcome.output.empty());
    CHECK(outcome.received == 0);
    CHECK(outcome.problem == Problem::none);

    const Outcome one_empty_line = scan_whole(BareNewlinePolicy::reject, no_limit, "\r\n.\r\n");
    CHECK(one_empty_line.finished);
    CHECK(one_empty_line.output == "\r\n");
    CHECK(one_empty_line.received == 2);
}

TEST_CASE("DataScanner is not finished before the end of data arrives", "[data]") {
    for (const std::string& partial :
         {text(""), text("abc"), text("abc\r\n"), text("abc\r\n."), text("abc\r\n.\r"), text(".\r")}) {
        INFO("partial: " << visible(partial));
        const Outcome outcome = scan_whole(BareNewlinePolicy::reject, no_limit, partial);
        CHECK_FALSE(outcome.finished);
        CHECK(outcome.consumed == partial.size());
    }
}

TEST_CASE("DataScanner applies and restores dot transparency", "[data]") {
    struct Case {
        std::string body;
        std::string output;
    };
    const Case cases[] = {
        {text("..\r\n"), text("..\r\n")},   // a stuffed dot stays stuffed
        {text(".x\r\n"), text("x\r\n")},    // a needless transparency dot goes
        {text("...\r\n"), text("...\r\n")}, // content ".." gets its one dot back
        {text(". \r\n"), text(" \r\n")},
        {text("a.b\r\n.a\r\n"), text("a.b\r\na\r\n")},
        {text("a\r\n..\r\n"), text("a\r\n..\r\n")},
        {text("\x00.\r\n"), text("..\r\n")},       // raw first octet NUL: no dot removed, ".." out
        {text(".\x00.\r\n"), text("..\r\n")},      // dot removed, NUL dropped, content "."
        {text(".\x00\r\n"), text("\r\n")},         // not exactly ".": an empty line, not the end
        {text("\x00\x00.x\r\n"), text("..x\r\n")}, // content ".x" must not lose its dot upstream
    };
    for (const Case& item : cases) {
        INFO("item.body: " << visible(item.body));
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            const Outcome outcome = scan_whole(policy, no_limit, item.body + ".\r\n");
            CHECK(outcome.finished);
            CHECK(outcome.consumed == item.body.size() + 3);
            CHECK(outcome.output == item.output);
            CHECK(outcome.problem == Problem::none);
            CHECK(outcome.received == item.body.size());
            check_upstream_safe(outcome.output);
        }
    }
}

TEST_CASE("DataScanner drops NUL octets and counts them", "[data]") {
    const std::string message = text("a\0b\0\r\n\0\r\n.\r\n");
    const Outcome outcome = scan_whole(BareNewlinePolicy::reject, no_limit, message);
    CHECK(outcome.finished);
    CHECK(outcome.output == "ab\r\n\r\n");
    CHECK(outcome.nul_octets == 3);
    CHECK(outcome.problem == Problem::none);
    CHECK(outcome.received == message.size() - 3);
}

TEST_CASE("DataScanner finishes every smuggling variant only at the real end", "[data][smuggling]") {
    for (const std::string& variant : smuggling_variants()) {
        INFO("variant: " << visible(variant));
        const std::string message = smuggling_message(variant);
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            CAPTURE(static_cast<int>(policy));
            const Outcome whole = scan_whole(policy, no_limit, message + pipelined_command);
            CHECK(whole.finished);
            CHECK(whole.finish_reports == 1);
            CHECK(whole.consumed == message.size());
            CHECK(whole.received == message.size() - 3);
            const Outcome bytewise = scan_bytewise(policy, no_limit, message + pipelined_command);
            CHECK(bytewise == whole);
            CHECK(whole == reference_scan(policy, message + pipelined_command));
        }
    }
}

TEST_CASE("DataScanner in reject mode reports the bare newline of each smuggling variant",
          "[data][smuggling]") {
    const Problem expected[] = {Problem::bare_lf, Problem::bare_lf, Problem::bare_cr, Problem::bare_cr,
                                Problem::bare_lf, Problem::bare_cr, Problem::none,    Problem::bare_cr,
                                Problem::bare_cr, Problem::bare_lf, Problem::bare_cr};
    const std::vector<std::string> variants = smuggling_variants();
    REQUIRE(variants.size() == sizeof expected / sizeof expected[0]);
    for (std::size_t index = 0; index < variants.size(); ++index) {
        INFO("variants[index]: " << visible(variants[index]));
        const Outcome outcome =
            scan_whole(BareNewlinePolicy::reject, no_limit, smuggling_message(variants[index]));
        CHECK(outcome.finished);
        CHECK(outcome.problem == expected[index]);
        if (expected[index] != Problem::none) {
            // Nothing after the bare newline reaches the upstream, the smuggled envelope least of all.
            const bool real_crlf_first = variants[index].compare(0, 2, "\r\n") == 0;
            CHECK(outcome.output == smuggling_head + (real_crlf_first ? "\r\n" : ""));
        }
    }
}

TEST_CASE("DataScanner in reject mode forwards the NUL variant as a stuffed dot", "[data][smuggling]") {
    const Outcome outcome =
        scan_whole(BareNewlinePolicy::reject, no_limit, smuggling_message(text("\r\n\x00.\r\n")));
    CHECK(outcome.finished);
    CHECK(outcome.problem == Problem::none);
    CHECK(outcome.nul_octets == 1);
    CHECK(outcome.output == "Subject: a\r\n\r\nfirst\r\n..\r\nMAIL FROM:<evil@x.test>\r\n"
                            "RCPT TO:<v@example.com>\r\nDATA\r\nsmuggled\r\n\r\n");
    check_upstream_safe(outcome.output);
}

TEST_CASE("DataScanner in normalize mode leaves no smuggling variant readable upstream",
          "[data][smuggling]") {
    for (const std::string& variant : smuggling_variants()) {
        INFO("variant: " << visible(variant));
        const Outcome outcome =
            scan_whole(BareNewlinePolicy::normalize, no_limit, smuggling_message(variant));
        CHECK(outcome.finished);
        CHECK(outcome.problem == Problem::none);
        check_upstream_safe(outcome.output);
        // The forged envelope is still there, but only as body text the upstream stores, never as commands.
        CHECK(outcome.output.find("\r\nMAIL FROM:<evil@x.test>\r\n") != std::string::npos);
    }
}

TEST_CASE("DataScanner normalizes the smuggling variants to these exact bodies", "[data][smuggling]") {
    const std::string tail = "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@example.com>\r\nDATA\r\nsmuggled\r\n\r\n";
    struct Case {
        std::string variant;
        std::string middle; // what replaces the variant upstream
    };
    const Case cases[] = {
        {text("\n.\n"), "\r\n\r\n"},           {text("\n.\r"), "\r\n\r\n"},
        {text("\r.\n"), "\r\n\r\n"},           {text("\r.\r"), "\r\n\r\n"},
        {text("\n.\r\n"), "\r\n\r\n"},         {text("\r.\r\n"), "\r\n\r\n"},
        {text("\r\n.\r\r\n"), "\r\n\r\n\r\n"}, {text("\r\r\n.\r\r\n"), "\r\n\r\n\r\n\r\n"},
        {text("\r\n.\n"), "\r\n\r\n"},         {text("\r\n.\r"), "\r\n\r\n"},
    };
    for (const Case& item : cases) {
        INFO("item.variant: " << visible(item.variant));
        const Outcome outcome =
            scan_whole(BareNewlinePolicy::normalize, no_limit, smuggling_message(item.variant));
        CHECK(outcome.output == "Subject: a\r\n\r\nfirst" + item.middle + tail);
    }
}

TEST_CASE("DataScanner gives the same result for smuggling variants cut at random points",
          "[data][smuggling]") {
    std::mt19937 generator(20231218);
    for (const std::string& variant : smuggling_variants()) {
        INFO("variant: " << visible(variant));
        const std::string input = smuggling_message(variant) + pipelined_command;
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            const Outcome whole = scan_whole(policy, no_limit, input);
            for (int round = 0; round < 50; ++round) {
                const std::vector<std::size_t> cuts = random_cuts(generator, input.size());
                const Outcome chunked = scan_in_chunks(policy, no_limit, input, cuts);
                REQUIRE(chunked == whole);
                REQUIRE(chunked.finish_reports == 1);
            }
        }
    }
}

TEST_CASE("DataScanner agrees with the reference model on every short input", "[data]") {
    for (const std::string& body : all_short_inputs(6)) {
        INFO("body: " << visible(body));
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            const std::string input = body + "\r\n.\r\nQUIT\r\n";
            const Outcome expected = reference_scan(policy, input);
            REQUIRE(expected.finished);
            REQUIRE(scan_whole(policy, no_limit, input) == expected);
            REQUIRE(scan_bytewise(policy, no_limit, input) == expected);
            // Without its end the body streams out just as far as the model says.
            const Outcome unfinished = reference_scan(policy, body);
            if (!unfinished.finished) {
                const Outcome outcome = scan_whole(policy, no_limit, body);
                REQUIRE(outcome.output == unfinished.output);
                REQUIRE(outcome.problem == unfinished.problem);
                REQUIRE(outcome.nul_octets == unfinished.nul_octets);
                REQUIRE_FALSE(outcome.finished);
            }
            if (policy == BareNewlinePolicy::normalize) {
                check_upstream_safe(expected.output);
            }
        }
    }
}

TEST_CASE("DataScanner agrees with the reference model on long random bodies", "[data]") {
    std::mt19937 generator(5321);
    for (int round = 0; round < 300; ++round) {
        const std::string input = random_body(generator, generator() % 200) + "\r\n.\r\nQUIT\r\n";
        INFO("input: " << visible(input));
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            const Outcome expected = reference_scan(policy, input);
            REQUIRE(expected.finished);
            REQUIRE(scan_whole(policy, no_limit, input) == expected);
            REQUIRE(scan_in_chunks(policy, no_limit, input, random_cuts(generator, input.size())) ==
                    expected);
            REQUIRE(scan_bytewise(policy, no_limit, input) == expected);
            if (policy == BareNewlinePolicy::normalize) {
                check_upstream_safe(expected.output);
            }
        }
    }
}

TEST_CASE("DataScanner accepts a message of exactly the size limit", "[data][size]") {
    // received() counts "abc\r\n" (5 octets); the final ".\r\n" is not part of the message.
    const Outcome outcome = scan_bytewise(BareNewlinePolicy::reject, 5, "abc\r\n.\r\n");
    CHECK(outcome.finished);
    CHECK(outcome.problem == Problem::none);
    CHECK(outcome.received == 5);
    CHECK(outcome.output == "abc\r\n");

    const Outcome empty = scan_whole(BareNewlinePolicy::reject, 0, ".\r\n");
    CHECK(empty.finished);
    CHECK(empty.problem == Problem::none);
}

TEST_CASE("DataScanner rejects a message one octet over the size limit", "[data][size]") {
    for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
        const Outcome outcome = scan_whole(policy, 5, "abcd\r\nmore\r\n.\r\nQUIT\r\n");
        CHECK(outcome.finished);
        CHECK(outcome.consumed == 15);
        CHECK(outcome.problem == Problem::too_big);
        CHECK(outcome.received == 12);
        // The sixth octet is the first one not forwarded.
        CHECK(outcome.output == "abcd");
        CHECK(scan_bytewise(policy, 5, "abcd\r\nmore\r\n.\r\nQUIT\r\n") == outcome);
    }
}

TEST_CASE("DataScanner counts a lone dot line toward the size once it is not the end", "[data][size]") {
    // "a\r\n" fits in 3; ".\r" might be the final dot until "x" shows it is not.
    const Outcome over = scan_bytewise(BareNewlinePolicy::normalize, 3, "a\r\n.\rx\r\n.\r\n");
    CHECK(over.finished);
    CHECK(over.problem == Problem::too_big);
    CHECK(over.received == 8);
    CHECK(over.output == "a\r\n");

    const Outcome dotted = scan_bytewise(BareNewlinePolicy::reject, 7, "a\r\n.x\r\n.\r\n");
    CHECK(dotted.problem == Problem::none);
    CHECK(dotted.received == 7);
    CHECK(dotted.output == "a\r\nx\r\n");
}

TEST_CASE("DataScanner reports the first problem it finds", "[data][size]") {
    const Outcome bare_first = scan_whole(BareNewlinePolicy::reject, 4, "a\nbcdefg\r\n.\r\n");
    CHECK(bare_first.problem == Problem::bare_lf);
    CHECK(bare_first.finished);
    const Outcome size_first = scan_whole(BareNewlinePolicy::reject, 4, "abcdefg\nh\r\n.\r\n");
    CHECK(size_first.problem == Problem::too_big);
    CHECK(size_first.finished);
}

TEST_CASE("DataScanner consumes nothing once finished and starts over after reset", "[data]") {
    DataScanner scanner(BareNewlinePolicy::reject, 10);
    char out[64];
    const std::string first = "a\nbcdefghijkl\r\n.\r\nQUIT\r\n";
    const DataScanner::Step step = scanner.scan(first.data(), first.size(), out, sizeof out);
    CHECK(step.finished);
    CHECK(step.consumed == first.size() - 6);
    CHECK(scanner.problem() == Problem::bare_lf);

    const DataScanner::Step again = scanner.scan(first.data(), first.size(), out, sizeof out);
    CHECK(again.finished);
    CHECK(again.consumed == 0);
    CHECK(again.produced == 0);

    scanner.reset();
    CHECK(scanner.problem() == Problem::none);
    CHECK(scanner.received() == 0);
    CHECK(scanner.nul_octets_dropped() == 0);
    const std::string second = ".x\r\n.\r\n";
    const DataScanner::Step next = scanner.scan(second.data(), second.size(), out, sizeof out);
    CHECK(next.finished);
    CHECK(next.consumed == second.size());
    CHECK(std::string(out, next.produced) == "x\r\n");
    CHECK(scanner.problem() == Problem::none);
    CHECK(scanner.received() == 4);
}

TEST_CASE("DataScanner produces nothing after a problem in later calls", "[data]") {
    DataScanner scanner(BareNewlinePolicy::reject, no_limit);
    char out[64];
    const std::string head = "ok\r\nbad\rline\r\n";
    const DataScanner::Step first = scanner.scan(head.data(), head.size(), out, sizeof out);
    CHECK(std::string(out, first.produced) == "ok\r\nbad");
    CHECK(scanner.problem() == Problem::bare_cr);
    const std::string rest = "more text\r\n.\r\n";
    const DataScanner::Step second = scanner.scan(rest.data(), rest.size(), out, sizeof out);
    CHECK(second.produced == 0);
    CHECK(second.finished);
    CHECK(second.consumed == rest.size());
    CHECK(scanner.received() == head.size() + rest.size() - 3);
}

TEST_CASE("DataScanner takes only octets whose output fits a tiny out buffer", "[data][capacity]") {
    DataScanner scanner(BareNewlinePolicy::normalize, no_limit);
    std::string output;
    const std::string input = "ab\r\n..\r\n.\r\n";
    // No room: only octets that produce nothing (none here: "a" produces one) are taken.
    CHECK(scan_guarded(scanner, input, 0, input.size(), 0, output).consumed == 0);
    DataScanner::Step step = scan_guarded(scanner, input, 0, input.size(), 1, output);
    CHECK(step.consumed == 1);
    CHECK(step.produced == 1);
    // "b" fits, the CR produces nothing yet, the LF needs two octets.
    step = scan_guarded(scanner, input, 1, input.size() - 1, 1, output);
    CHECK(step.consumed == 2);
    CHECK(step.produced == 1);
    step = scan_guarded(scanner, input, 3, input.size() - 3, 2, output);
    CHECK(step.consumed == 2); // LF, then the transparency dot; the second dot needs ".."
    CHECK(step.produced == 2);
    step = scan_guarded(scanner, input, 5, input.size() - 5, 2, output);
    CHECK(step.consumed == 2); // ".." then CR, then the LF finds no room
    CHECK(step.produced == 2);
    step = scan_guarded(scanner, input, 7, input.size() - 7, 2, output);
    CHECK(step.finished);
    CHECK(step.consumed == 4);
    CHECK(output == "ab\r\n..\r\n");
}

TEST_CASE("DataScanner holds back one octet when a bare CR after a lone dot arrives alone",
          "[data][capacity]") {
    // ".\r" might be the end; "b" shows it is a lone dot ended by a bare CR, worth "\r\n" and "b":
    // three octets for one, with only two octets of room.
    DataScanner scanner(BareNewlinePolicy::normalize, no_limit);
    std::string output;
    const std::string input = "\r\n.\rb\r\n.\r\n";
    DataScanner::Step step = scan_guarded(scanner, input, 0, 4, 8, output);
    CHECK(step.consumed == 4);
    CHECK(output == "\r\n");
    // One octet of room is not enough for the two that must go out now.
    step = scan_guarded(scanner, input, 4, 1, 1, output);
    CHECK(step.consumed == 0);
    step = scan_guarded(scanner, input, 4, 1, 2, output);
    CHECK(step.consumed == 1);
    CHECK(step.produced == 2);
    CHECK(output == "\r\n\r\n");
    // The held "b" goes first; with no room left, the CR (no output) is taken, the LF is not.
    step = scan_guarded(scanner, input, 5, 5, 1, output);
    CHECK(step.consumed == 1);
    CHECK(step.produced == 1);
    CHECK_FALSE(step.finished);
    step = scan_guarded(scanner, input, 6, 4, 2, output);
    CHECK(step.finished);
    CHECK(step.consumed == 4);
    CHECK(output == "\r\n\r\nb\r\n");
}

TEST_CASE("DataScanner writes held output in a call without input", "[data][capacity]") {
    DataScanner scanner(BareNewlinePolicy::normalize, no_limit);
    std::string output;
    const std::string input = ".\rb";
    scan_guarded(scanner, input, 0, 2, 4, output);
    scan_guarded(scanner, input, 2, 1, 2, output);
    CHECK(output == "\r\n");
    const DataScanner::Step flush = scan_guarded(scanner, input, 3, 0, 4, output);
    CHECK(flush.produced == 1);
    CHECK(output == "\r\nb");
}

TEST_CASE("DataScanner gives the same output through any out capacity", "[data][capacity]") {
    std::mt19937 generator(2920);
    std::vector<std::string> inputs;
    for (const std::string& variant : smuggling_variants()) {
        inputs.push_back(smuggling_message(variant) + pipelined_command);
    }
    for (int round = 0; round < 100; ++round) {
        inputs.push_back(random_body(generator, generator() % 120) + "\r\n.\r\nQUIT\r\n");
    }
    for (const std::string& input : inputs) {
        INFO("input: " << visible(input));
        for (BareNewlinePolicy policy : {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
            const Outcome expected = reference_scan(policy, input);
            for (std::size_t capacity : {2, 3, 4, 5, 7, 16, 1000}) {
                CAPTURE(capacity);
                const Outcome outcome = scan_through_small_out(policy, input, capacity);
                REQUIRE(outcome == expected);
                REQUIRE(outcome.finish_reports == 1);
            }
        }
    }
}

} // namespace data_scanner_test
