#pragma once
// Replies from the upstream server (RFC 5321 §4.2): one or more lines "DDD-text" ending with "DDD text".
// Pure and copy-free: the parsed reply refers to the caller's buffer. Each line is checked for shape
// (three digits, the same code on every line, "-" or " " or the end after it) and length, so nothing
// malformed is ever repeated to the client.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace relayguard::proxy {

inline constexpr std::size_t max_reply_line_length = 512; // RFC 5321 §4.5.3.1.5, CRLF included
inline constexpr std::size_t max_reply_lines = 32;        // EHLO replies have well under 20

// What makes a reply malformed (`problem` names it):
//   "reply line too long"      a line over max_reply_line_length octets terminator included, reported
//                              as soon as that many octets are buffered without an LF
//   "too many reply lines"     more than max_reply_lines lines, reported when line max_reply_lines
//                              arrives as a continuation
//   "bad reply code"           not three digits of RFC 5321 §4.2's grammar (2-5, 0-5, 0-9)
//   "reply code changed"       a line with another code than the first line
//   "bad reply separator"      something other than "-", " " or the line end after the code
//   "control character in reply"   an octet 0-31 other than TAB, or 127, NUL and a CR not followed
//                              by LF included: a client must never receive one, and a server that
//                              sends one is confused or hostile, so the reply is not repeated at all
// Octets above 127 are kept: servers may send UTF-8 text (RFC 6531).
struct ParsedReply {
    enum class Status : std::uint8_t { incomplete, complete, malformed };
    Status status = Status::incomplete;
    int code = 0;
    std::size_t line_count = 0;
    // The text of each line after "DDD-" / "DDD " (may be empty), without the line end.
    std::array<std::string_view, max_reply_lines> lines{};
    // complete: octets the reply occupied in the buffer, terminators included. Only a complete reply
    // fills code, line_count, lines and consumed; incomplete and malformed ones leave them zero.
    std::size_t consumed = 0;
    const char* problem = ""; // malformed: why, for the log ("reply line too long", ...)

    int code_class() const { return code / 100; } // 2, 3, 4, 5
};

// Parses the first reply in `buffered`. Lines end at CRLF or a bare LF. A bare "250" line is a final
// line with empty text. Incomplete while the final line has not arrived whole.
ParsedReply parse_reply(std::string_view buffered);

// "250 2.1.5 Ok": the code and the text of the last line, the one-line form a report shows.
std::string reply_summary(const ParsedReply& reply);

// What an upstream offers in its EHLO reply (RFC 5321 §4.1.1.1; keywords case-insensitive).
struct UpstreamCapabilities {
    bool pipelining = false;
    bool eight_bit_mime = false;
    bool smtputf8 = false;
    bool starttls = false;
    bool enhanced_status_codes = false;
    bool chunking = false;
    bool dsn = false;
    bool auth = false; // "AUTH PLAIN LOGIN"; the old "AUTH=..." form is not read
    bool size_given = false;
    // "SIZE 10240000"; 0 with size_given: no fixed limit, or a value that is not a decimal number.
    // A number too large for 64 bits saturates: it is larger than any limit relayguard applies.
    std::uint64_t size_limit = 0;
    bool xclient = false;
    // XCLIENT attributes offered ("XCLIENT ADDR NAME HELO PROTO LOGIN ..."), upper case.
    bool xclient_addr = false;
    bool xclient_name = false;
    bool xclient_helo = false;
    bool xclient_proto = false;
    bool xclient_login = false;
};

// Reads the capabilities from the lines after the first (the first line is the greeting text). Each
// line is a keyword and parameters separated by spaces (or TABs); unknown keywords are ignored. A reply
// that is not a complete 250 offers nothing.
UpstreamCapabilities parse_ehlo_capabilities(const ParsedReply& ehlo_reply);

} // namespace relayguard::proxy
