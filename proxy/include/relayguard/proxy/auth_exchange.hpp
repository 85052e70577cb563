#pragma once
// One SMTP AUTH exchange (RFC 4954) for the PLAIN (RFC 4616) and LOGIN mechanisms, as a pure state
// machine: the session feeds it the AUTH command's mechanism and initial response, then each client
// line, and gets back the next challenge, the final reply, or the decoded credentials to verify.
// Nothing here touches sockets, the clock or the user table, so every branch is testable alone.
//
// Line length: RFC 4954 §4 lets a client answer a challenge with a line of up to max_auth_line_length
// octets, much more than the command line limit (max_command_line_length, 2048). So while an exchange
// is in progress the session frames the client's lines with max_auth_line_length (its 16 kB buffers
// hold that), and answers a longer line with auth_replies::line_too_long itself, which ends the
// exchange; AuthExchange never sees such a line. The AUTH command itself, initial response included,
// stays a command line under the command limit: RFC 4954 §4 tells a client whose initial response
// would not fit to send it after the empty 334 challenge instead.
#include <relayguard/policy/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace relayguard::proxy {

// RFC 4954 §4: servers must take the longest response their mechanisms produce, whatever their other
// line limits, and "12288 octets is considered to be a sufficient line length limit". Counted like
// max_command_line_length, terminator included; the base64 text then decodes to at most 9 kB.
inline constexpr std::size_t max_auth_line_length = 12288;
// Longer login names are refused as invalid credentials before any lookup; 255 matches the longest
// domain (RFC 5321 §4.5.3.1.2), so a login spelled as a mail address fits in most cases.
inline constexpr std::size_t max_auth_username_length = 255;

// Replies of the exchange, without CRLF (the session appends it).
namespace auth_replies {
inline constexpr std::string_view aborted = "501 5.7.0 Authentication aborted";
inline constexpr std::string_view cannot_decode = "501 5.5.2 Cannot decode response";
inline constexpr std::string_view invalid_credentials = "535 5.7.8 Authentication credentials invalid";
inline constexpr std::string_view line_too_long = "500 5.5.6 Authentication Exchange line is too long";
// RFC 4954 §4, for a mechanism that is unknown or not enabled; AuthExchange itself only answers it for
// a mechanism value outside the enumeration.
inline constexpr std::string_view unrecognized_mechanism = "504 5.5.4 Unrecognized authentication type";
inline constexpr std::string_view no_exchange = "503 5.5.1 Error: no authentication exchange in progress";
} // namespace auth_replies

// Zeroes every octet `secret` holds, including what a shorter earlier value left in its capacity, and
// empties it. Use it on a password once it has been handed on or is no longer needed.
void wipe_secret(std::string& secret);

// What the session does next.
struct AuthStep {
    enum class Kind : std::uint8_t {
        challenge,   // send `line` and hand the client's next line to respond()
        credentials, // verify `username` / `password`; the exchange is over
        // send `line`; the exchange is over. invalid_credentials (a malformed PLAIN message, an empty
        // or overlong name or password, a foreign authorization identity) is a failed login like a
        // wrong password; aborted and cannot_decode are protocol errors.
        reply,
    };
    Kind kind = Kind::reply;
    // challenge: the whole "334 ..." line; reply: the whole reply line (one of auth_replies).
    // Neither ends with CRLF.
    std::string line;
    // credentials only. `password` never lives in the short-string buffer inside the object, so moving
    // it out moves the heap block and leaves no copy behind; the destructor wipes whatever is left.
    std::string username;
    std::string password;

    AuthStep() = default;
    AuthStep(Kind step_kind, std::string_view step_line) : kind(step_kind), line(step_line) {}
    ~AuthStep() { wipe_secret(password); }
    AuthStep(AuthStep&&) = default;
    AuthStep& operator=(AuthStep&&) = default;
    // Copies of a password are copies to wipe: there are none.
    AuthStep(const AuthStep&) = delete;
    AuthStep& operator=(const AuthStep&) = delete;
};

class AuthExchange {
public:
    AuthExchange() = default;
    ~AuthExchange();
    AuthExchange(const AuthExchange&) = delete;
    AuthExchange& operator=(const AuthExchange&) = delete;

    // Starts an exchange ("AUTH <mechanism> [initial-response]"), abandoning any earlier one.
    // `has_initial_response` tells an absent response from "=", which RFC 4954 §4 uses for an empty
    // one; an empty `initial_response` with the flag set is not base64 and fails as undecodable.
    //   PLAIN without a response: challenge "334 " (empty); with one: decoded at once.
    //   LOGIN: challenge "334 VXNlcm5hbWU6" ("Username:"), then "334 UGFzc3dvcmQ6" ("Password:");
    //   an initial response is taken as the user name (as Outlook and others send it), and the
    //   exchange goes straight to the password.
    AuthStep begin(policy::AuthMechanism mechanism, std::string_view initial_response,
                   bool has_initial_response);

    // The client's line after a challenge, without CRLF. "*" cancels (auth_replies::aborted); text
    // that is not strict padded base64 ends the exchange with auth_replies::cannot_decode. Called with
    // no exchange in progress it answers auth_replies::no_exchange.
    AuthStep respond(std::string_view client_line);

    // True between a challenge and the client's answer to it.
    bool in_progress() const { return state_ != State::idle; }
    // Ends an exchange early (the connection closed, STARTTLS reset the session) and wipes what it held.
    void reset();

private:
    enum class State : std::uint8_t { idle, plain_response, login_username, login_password };

    AuthStep take_login_username(std::string_view encoded);
    AuthStep finish_plain(std::string_view encoded);
    AuthStep finish_login(std::string_view encoded);

    State state_ = State::idle;
    std::string login_username_; // LOGIN: decoded user name, kept between the two challenges
};

} // namespace relayguard::proxy
