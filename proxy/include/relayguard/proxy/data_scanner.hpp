#pragma once
// The message body between DATA's 354 and the final dot (RFC 5321 §4.1.1.4, §4.5.2), made safe for a
// legacy server that may be vulnerable to SMTP smuggling (CVE-2023-51764/5/6):
// - only <CR><LF>.<CR><LF> ends the message (the "." line must follow a real CRLF and end in CRLF);
// - the body is decoded line by line (transparency dot removed) and re-encoded for the upstream (every
//   line ends in CRLF, a line starting with "." gets its dot back), so the upstream can never see an
//   end-of-data, a bare CR or a bare LF that relayguard did not write itself;
// - a bare CR or LF is, per <data bare-newline>, a reason to reject the message (scanning continues to
//   the client's end of data, with no further output) or a line end to normalise to CRLF;
// - NUL octets are dropped in either mode (some servers ignore them, which turns "\0." into ".");
// - more than `max_size` octets from the client: the message is rejected, scanning continues.
// Pure: bytes in, bytes out; the session streams the output to the upstream as it arrives.
//
// Precisely:
// - In the client's stream a line ends at CRLF. A LF not preceded by CR is a bare LF; a CR not followed
//   by LF is a bare CR ("\r\r\n" is a bare CR, then a CRLF). A bare newline ends the line as CRLF does
//   (forwarded as CRLF in normalize mode), but only a line that follows a real CRLF, or opens the
//   message, can be the end.
// - The end of data is a line whose raw octets are exactly "." and that ends in CRLF. "\0." is not the
//   end, whatever some servers make of it: receivers disagree on NUL, so relayguard does not guess.
// - Transparency looks at the raw first octet only: a line starting with "." loses that dot. NUL
//   octets are then dropped from the content. The upstream receives every content that starts with "."
//   with one more dot, so "\0." is forwarded as ".." and can never read as an end of data there.
// - received() counts every client octet before the end-of-data line, including the CRLF in front of
//   it; the final ".\r\n" is not counted. The first problem found is the one reported.

#include <cstddef>
#include <cstdint>

namespace relayguard::proxy {

enum class BareNewlinePolicy : std::uint8_t { reject, normalize };

class DataScanner {
public:
    enum class Problem : std::uint8_t { none, bare_lf, bare_cr, too_big };

    struct Step {
        std::size_t consumed = 0; // input octets used (all of them unless `finished` or out of room)
        std::size_t produced = 0; // octets written to `out`
        bool finished = false;    // the end of data was seen; input after `consumed` is the next command
    };

    DataScanner(BareNewlinePolicy policy, std::uint64_t max_size);

    // Scans `in`, appending the canonical body to `out`. With `out_capacity` >= 2 * `in_size` all
    // input is consumed (unless the end comes first); with less, only as much as is sure to fit.
    // After a problem, nothing more is produced, but the end of data is still looked for.
    // The final "." line is never written to `out`: the session sends ".\r\n" itself.
    // One octet of output may be held back when `out` is full (a CR scanned in an earlier call is
    // known to be bare only when the next octet comes, which then yields "\r\n" and itself); the
    // next call writes it first, and `finished` is only reported once all of it has been written.
    // Once finished, further calls consume nothing until reset().
    Step scan(const char* in, std::size_t in_size, char* out, std::size_t out_capacity);

    Problem problem() const { return cursor_.problem; }
    // Octets received from the client for this message, as sent (end-of-data line excluded).
    std::uint64_t received() const { return cursor_.received; }
    std::uint64_t nul_octets_dropped() const { return cursor_.nul_dropped; }
    // Starts a new message with the same policy and limit.
    void reset();

private:
    // Where the current line stands; the difference between lone_dot and empty_content is whether
    // the raw line so far is exactly "." (an end-of-data candidate).
    enum class LinePhase : std::uint8_t {
        start,         // no octet of the line yet: a "." here is the transparency dot
        lone_dot,      // the raw line so far is exactly "."
        empty_content, // raw octets seen, but the content (after the dot and NULs) is still empty
        content,       // the content has started
    };

    struct Cursor {
        LinePhase phase = LinePhase::start;
        bool cr_pending = false;     // a CR was seen; the next octet tells CRLF from a bare CR
        bool line_after_crlf = true; // the previous line ended in a real CRLF (or there was none)
        bool finished = false;
        std::uint8_t uncounted = 0; // octets of a possible end-of-data line not yet in `received`
        Problem problem = Problem::none;
        std::uint64_t received = 0;
        std::uint64_t nul_dropped = 0;
    };

    // The octet after a bare CR yields the "\r\n" that ends the CR's line, then itself.
    static constexpr std::size_t max_output_per_octet = 3;
    static constexpr std::size_t max_held_output = 1;

    struct Emission {
        char octets[max_output_per_octet];
        std::size_t size = 0;
    };

    void advance(Cursor& cursor, char octet, Emission& emission) const;
    void count_received(Cursor& cursor, std::uint64_t octets) const;
    void end_line(Cursor& cursor, bool real_crlf, Emission& emission) const;
    void bare_newline(Cursor& cursor, Problem kind, Emission& emission) const;
    std::size_t write_held(char* out, std::size_t out_capacity);
    // The fast path: inside a line's content, the octets up to the next CR, LF or NUL change nothing but
    // the count, so they are copied in one go. Returns how many were taken (0: not in content).
    std::size_t plain_run(const char* in, std::size_t in_size, char* out, std::size_t room);

    BareNewlinePolicy policy_;
    std::uint64_t max_size_;
    Cursor cursor_;
    char held_[max_held_output] = {};
    std::size_t held_size_ = 0;
};

} // namespace relayguard::proxy
