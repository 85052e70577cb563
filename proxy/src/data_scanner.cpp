#include <relayguard/proxy/data_scanner.hpp>

#include <algorithm>
#include <cstring>

namespace relayguard::proxy {
namespace data_scanner_detail {

constexpr char line_end[] = {'\r', '\n'};
constexpr char stuffed_dot[] = {'.', '.'};

// The length of the prefix of [text, text + size) that holds no CR, LF or NUL: inside a line's content
// only those octets change the scanner's state. memchr is vectorised in every C library; a line is
// usually ended by its CR, so the LF and NUL searches stop there.
std::size_t plain_prefix(const char* text, std::size_t size) {
    std::size_t span = size;
    for (const char special : {'\r', '\n', '\0'}) {
        if (const void* found = std::memchr(text, special, span)) {
            span = static_cast<std::size_t>(static_cast<const char*>(found) - text);
        }
    }
    return span;
}

// Whether a line that starts with `octet` starts with plain content: a dot may be a transparency dot
// or the end of data, and CR, LF and NUL are the state machine's.
bool plain_line_start(char octet) {
    return octet != '.' && octet != '\r' && octet != '\n' && octet != '\0';
}

template <std::size_t size, typename Emission>
void append(Emission& emission, const char (&octets)[size]) {
    std::copy(octets, octets + size, emission.octets + emission.size);
    emission.size += size;
}

} // namespace data_scanner_detail

DataScanner::DataScanner(BareNewlinePolicy policy, std::uint64_t max_size)
    : policy_(policy), max_size_(max_size) {
}

void DataScanner::reset() {
    cursor_ = Cursor{};
    held_size_ = 0;
}

void DataScanner::count_received(Cursor& cursor, std::uint64_t octets) const {
    cursor.received += octets;
    if (cursor.received > max_size_ && cursor.problem == Problem::none) {
        cursor.problem = Problem::too_big;
    }
}

void DataScanner::end_line(Cursor& cursor, bool real_crlf, Emission& emission) const {
    if (cursor.problem == Problem::none) {
        data_scanner_detail::append(emission, data_scanner_detail::line_end);
    }
    cursor.phase = LinePhase::start;
    cursor.line_after_crlf = real_crlf;
}

void DataScanner::bare_newline(Cursor& cursor, Problem kind, Emission& emission) const {
    if (policy_ == BareNewlinePolicy::reject && cursor.problem == Problem::none) {
        cursor.problem = kind;
    }
    end_line(cursor, false, emission);
}

void DataScanner::advance(Cursor& cursor, char octet, Emission& emission) const {
    // The octets of a line that may still turn out to be the final ".\r\n" are counted only once it
    // is clear that it is not, so that a message of exactly max_size octets is not rejected.
    const bool may_end_here = cursor.line_after_crlf && cursor.phase == LinePhase::lone_dot;
    if (cursor.cr_pending && octet == '\n' && may_end_here) {
        cursor.cr_pending = false;
        cursor.uncounted = 0;
        cursor.finished = true;
        return;
    }
    const bool opens_candidate =
        cursor.line_after_crlf && cursor.phase == LinePhase::start && !cursor.cr_pending && octet == '.';
    const bool continues_candidate = may_end_here && !cursor.cr_pending && octet == '\r';
    if (opens_candidate || continues_candidate) {
        ++cursor.uncounted;
    } else {
        count_received(cursor, cursor.uncounted + 1u);
        cursor.uncounted = 0;
    }

    if (cursor.cr_pending) {
        cursor.cr_pending = false;
        if (octet == '\n') {
            end_line(cursor, true, emission);
            return;
        }
        bare_newline(cursor, Problem::bare_cr, emission);
    }

    const bool producing = cursor.problem == Problem::none;
    switch (octet) {
    case '\r':
        cursor.cr_pending = true;
        return;
    case '\n':
        bare_newline(cursor, Problem::bare_lf, emission);
        return;
    case '\0':
        ++cursor.nul_dropped;
        if (cursor.phase != LinePhase::content) {
            cursor.phase = LinePhase::empty_content;
        }
        return;
    case '.':
        if (cursor.phase == LinePhase::start) {
            cursor.phase = LinePhase::lone_dot;
            return;
        }
        if (cursor.phase != LinePhase::content) {
            if (producing) {
                data_scanner_detail::append(emission, data_scanner_detail::stuffed_dot);
            }
            cursor.phase = LinePhase::content;
            return;
        }
        break;
    default:
        break;
    }
    if (producing) {
        emission.octets[emission.size++] = octet;
    }
    cursor.phase = LinePhase::content;
}

std::size_t DataScanner::write_held(char* out, std::size_t out_capacity) {
    const std::size_t written = std::min(held_size_, out_capacity);
    std::copy(held_, held_ + written, out);
    std::copy(held_ + written, held_ + held_size_, held_);
    held_size_ -= written;
    return written;
}

// Content a run at a time, and whole lines of it: the content up to the next CR, LF or NUL; then, for a
// CRLF right after content, the line end, and the next line too when it starts with plain content (not
// a dot, CR, LF or NUL). For all of these the output is the input, so they are one copy, and the state
// machine walks octet by octet only through what is left (dots at line starts, bare newlines, NULs,
// the end of data).
std::size_t DataScanner::plain_run(const char* in, std::size_t in_size, char* out, std::size_t room) {
    if ((cursor_.phase != LinePhase::content && cursor_.phase != LinePhase::start) || cursor_.cr_pending ||
        cursor_.uncounted != 0 || held_size_ != 0) {
        return 0;
    }
    const bool producing = cursor_.problem == Problem::none;
    std::size_t limit = producing ? std::min(in_size, room) : in_size;
    if (producing) {
        // The octet that takes the message over max_size is not written: the per-octet path finds it.
        const std::uint64_t allowed = max_size_ > cursor_.received ? max_size_ - cursor_.received : 0;
        limit = static_cast<std::size_t>(std::min<std::uint64_t>(limit, allowed));
    }
    std::size_t taken = 0;
    for (;;) {
        if (cursor_.phase == LinePhase::start) {
            if (taken == limit || !data_scanner_detail::plain_line_start(in[taken])) {
                break;
            }
            cursor_.phase = LinePhase::content; // its first octet is in the run below
        }
        taken += data_scanner_detail::plain_prefix(in + taken, limit - taken);
        if (limit - taken < 2 || in[taken] != '\r' || in[taken + 1] != '\n') {
            break;
        }
        taken += 2;
        cursor_.phase = LinePhase::start;
        cursor_.line_after_crlf = true;
    }
    if (producing && taken > 0) {
        std::memcpy(out, in, taken);
    }
    count_received(cursor_, taken);
    return taken;
}

DataScanner::Step DataScanner::scan(const char* in, std::size_t in_size, char* out,
                                    std::size_t out_capacity) {
    Step step;
    if (cursor_.finished) {
        step.finished = true;
        return step;
    }
    // Output still held back may stay held back, but never grow beyond one octet.
    const std::size_t held_at_start = held_size_;
    step.produced = write_held(out, out_capacity);
    while (step.consumed < in_size) {
        // The body is mostly line content: copy it a run at a time, and walk the state machine octet by
        // octet only at line starts and ends (and around NULs).
        const bool producing = cursor_.problem == Problem::none;
        const std::size_t run = plain_run(in + step.consumed, in_size - step.consumed, out + step.produced,
                                          out_capacity - step.produced);
        if (run > 0) {
            step.consumed += run;
            step.produced += producing ? run : 0;
            continue;
        }
        Cursor next = cursor_;
        Emission emission;
        advance(next, in[step.consumed], emission);
        // A problem ends the output, including whatever was held back.
        const std::size_t held = next.problem == Problem::none ? held_size_ : 0;
        const std::size_t room = out_capacity - step.produced;
        const std::size_t owed = held + emission.size;
        const std::size_t left_over = owed > room ? owed - room : 0;
        // Holding back more is allowed only for the one octet that can produce more than two, so
        // that a full `out` still stops the scan and `out_capacity` >= 2 * `in_size` is enough.
        const bool fits = left_over <= held_at_start ||
                          (emission.size == max_output_per_octet && left_over <= max_held_output);
        if (!fits || (next.finished && left_over != 0)) {
            break;
        }
        cursor_ = next;
        held_size_ = held;
        step.produced += write_held(out + step.produced, room);
        const std::size_t written = std::min(emission.size, out_capacity - step.produced);
        std::copy(emission.octets, emission.octets + written, out + step.produced);
        std::copy(emission.octets + written, emission.octets + emission.size, held_ + held_size_);
        held_size_ += emission.size - written;
        step.produced += written;
        ++step.consumed;
        if (cursor_.finished) {
            step.finished = true;
            break;
        }
    }
    return step;
}

} // namespace relayguard::proxy
