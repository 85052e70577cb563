#include <relayguard/policy/base64.hpp>
#include <relayguard/policy/credentials.hpp>
#include <relayguard/proxy/auth_exchange.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>

using relayguard::policy::AuthMechanism;
using relayguard::proxy::AuthExchange;
using relayguard::proxy::AuthStep;
namespace auth_replies = relayguard::proxy::auth_replies;

namespace auth_exchange_test {

std::string encode(const std::string& text) {
    return relayguard::policy::base64_encode(text, relayguard::policy::Padding::required);
}

void require_reply(const AuthStep& step, std::string_view line) {
    REQUIRE(step.kind == AuthStep::Kind::reply);
    REQUIRE(step.line == line);
    REQUIRE(step.username.empty());
    REQUIRE(step.password.empty());
}

void require_challenge(const AuthStep& step, std::string_view line) {
    REQUIRE(step.kind == AuthStep::Kind::challenge);
    REQUIRE(step.line == line);
    REQUIRE(step.username.empty());
    REQUIRE(step.password.empty());
}

void require_credentials(const AuthStep& step, std::string_view username, std::string_view password) {
    REQUIRE(step.kind == AuthStep::Kind::credentials);
    REQUIRE(step.line.empty());
    REQUIRE(step.username == username);
    REQUIRE(step.password == password);
}

// PLAIN with the whole message as initial response.
AuthStep plain(AuthExchange& exchange, const std::string& message) {
    return exchange.begin(AuthMechanism::plain, encode(message), true);
}

} // namespace auth_exchange_test

TEST_CASE("auth exchange PLAIN without initial response sends an empty challenge", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::plain, {}, false), "334 ");
    REQUIRE(exchange.in_progress());
    // RFC 4616 §4's example message: no authzid, authcid "tim", passwd "tanstaaftanstaaf".
    auth_exchange_test::require_credentials(exchange.respond("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), "tim",
                                            "tanstaaftanstaaf");
    REQUIRE_FALSE(exchange.in_progress());
    auth_exchange_test::require_reply(exchange.respond("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
                                      auth_replies::no_exchange);
}

TEST_CASE("auth exchange PLAIN decodes an initial response at once", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_credentials(
        exchange.begin(AuthMechanism::plain, "AGFsaWNlAHNlY3JldA==", true), "alice", "secret");
    REQUIRE_FALSE(exchange.in_progress());
}

TEST_CASE("auth exchange PLAIN accepts an authorization identity equal to the login", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_credentials(
        exchange.begin(AuthMechanism::plain, "YWxpY2UAYWxpY2UAc2VjcmV0", true), "alice", "secret");
}

TEST_CASE("auth exchange PLAIN refuses acting for another identity", "[auth_exchange]") {
    using namespace std::string_literals;
    AuthExchange exchange;
    // authzid "bob", authcid "alice": alice may not act as bob.
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "Ym9iAGFsaWNlAHNlY3JldA==", true),
                                      "535 5.7.8 Authentication credentials invalid");
    REQUIRE_FALSE(exchange.in_progress());
    // Case matters: "Alice" is not "alice".
    auth_exchange_test::require_reply(auth_exchange_test::plain(exchange, "Alice\0alice\0secret"s),
                                      auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange PLAIN needs exactly two NULs", "[auth_exchange]") {
    AuthExchange exchange;
    // One NUL ("alice\0secret").
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "YWxpY2UAc2VjcmV0", true),
                                      auth_replies::invalid_credentials);
    // Three NULs ("\0alice\0sec\0ret").
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "AGFsaWNlAHNlYwByZXQ=", true),
                                      auth_replies::invalid_credentials);
    // None ("alice").
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "YWxpY2U=", true),
                                      auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange PLAIN refuses an empty login or password", "[auth_exchange]") {
    AuthExchange exchange;
    // "\0\0secret"
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "AABzZWNyZXQ=", true),
                                      auth_replies::invalid_credentials);
    // "\0alice\0"
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "AGFsaWNlAA==", true),
                                      auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange PLAIN takes = as an empty initial response", "[auth_exchange]") {
    AuthExchange exchange;
    // RFC 4954 §4: "=" is an empty response, which is no valid PLAIN message.
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "=", true),
                                      auth_replies::invalid_credentials);
    // An empty line after the challenge is the same empty message.
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::plain, {}, false), "334 ");
    auth_exchange_test::require_reply(exchange.respond(""), auth_replies::invalid_credentials);
    // "=" is only special as an initial response; after a challenge it is broken base64.
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::plain, {}, false), "334 ");
    auth_exchange_test::require_reply(exchange.respond("="), "501 5.5.2 Cannot decode response");
}

TEST_CASE("auth exchange refuses an initial response flagged but empty", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "", true),
                                      auth_replies::cannot_decode);
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::login, "", true),
                                      auth_replies::cannot_decode);
    REQUIRE_FALSE(exchange.in_progress());
}

TEST_CASE("auth exchange PLAIN accepts only strict padded base64", "[auth_exchange]") {
    AuthExchange exchange;
    for (const char* bad : {"AGFsaWNlAHNlY3JldA",     // padding missing
                            "AGFsaWNlAHNlY3JldA=",    // padding short
                            "AGFsaWNl AHNlY3JldA==",  // space inside
                            "AGFsaWNlAHNlY3JldA==\t", // trailing TAB
                            "AGFsaWNlAHNlY3JldB==",   // non-zero bits in the last group
                            "AGFsaWNl-HNlY3JldA==",   // URL-safe alphabet
                            "*x"}) {
        INFO(bad);
        auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, bad, true),
                                          "501 5.5.2 Cannot decode response");
        auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::plain, {}, false), "334 ");
        auth_exchange_test::require_reply(exchange.respond(bad), auth_replies::cannot_decode);
        REQUIRE_FALSE(exchange.in_progress());
    }
}

TEST_CASE("auth exchange star cancels at every challenge", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::plain, {}, false), "334 ");
    auth_exchange_test::require_reply(exchange.respond("*"), "501 5.7.0 Authentication aborted");
    REQUIRE_FALSE(exchange.in_progress());

    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    auth_exchange_test::require_reply(exchange.respond("*"), auth_replies::aborted);
    REQUIRE_FALSE(exchange.in_progress());

    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    auth_exchange_test::require_challenge(exchange.respond("YWxpY2U="), "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("*"), auth_replies::aborted);
    REQUIRE_FALSE(exchange.in_progress());
}

TEST_CASE("auth exchange star as initial response is not a cancel", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "*", true),
                                      auth_replies::cannot_decode);
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::login, "*", true),
                                      auth_replies::cannot_decode);
}

TEST_CASE("auth exchange LOGIN asks for the user name and then the password", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    REQUIRE(exchange.in_progress());
    auth_exchange_test::require_challenge(exchange.respond("YWxpY2U="), "334 UGFzc3dvcmQ6");
    REQUIRE(exchange.in_progress());
    auth_exchange_test::require_credentials(exchange.respond("c2VjcmV0"), "alice", "secret");
    REQUIRE_FALSE(exchange.in_progress());
}

TEST_CASE("auth exchange LOGIN takes an initial response as the user name", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "YWxpY2U=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_credentials(exchange.respond("c2VjcmV0"), "alice", "secret");
}

TEST_CASE("auth exchange LOGIN answers broken base64 at either prompt", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    auth_exchange_test::require_reply(exchange.respond("YWxpY2U"), auth_replies::cannot_decode);
    REQUIRE_FALSE(exchange.in_progress());

    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "YWxpY2U=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0="), auth_replies::cannot_decode);
    REQUIRE_FALSE(exchange.in_progress());
}

TEST_CASE("auth exchange LOGIN checks the user name only with the password", "[auth_exchange]") {
    AuthExchange exchange;
    // An empty name still gets the password prompt, then fails like a wrong password.
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::invalid_credentials);

    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    auth_exchange_test::require_challenge(exchange.respond(""), "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::invalid_credentials);

    // An empty password.
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "YWxpY2U=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond(""), auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange LOGIN refuses a NUL in the password as PLAIN cannot carry one", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "YWxpY2U=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjAHJldA=="), auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange refuses control characters in the user name", "[auth_exchange]") {
    AuthExchange exchange;
    // "\0al\nice\0secret": a line break would split a log line.
    auth_exchange_test::require_reply(exchange.begin(AuthMechanism::plain, "AGFsCmljZQBzZWNyZXQ=", true),
                                      auth_replies::invalid_credentials);
    auth_exchange_test::require_challenge(
        exchange.begin(AuthMechanism::login, auth_exchange_test::encode("al\rice"), true),
        "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::invalid_credentials);
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login,
                                                         auth_exchange_test::encode("al\x7f"
                                                                                    "ice"),
                                                         true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange bounds the user name and password lengths", "[auth_exchange]") {
    using namespace std::string_literals;
    using relayguard::policy::max_password_length;
    using relayguard::proxy::max_auth_username_length;
    REQUIRE(max_auth_username_length == 255);
    const std::string longest_name(max_auth_username_length, 'n');
    const std::string longest_password(max_password_length, 'p');
    AuthExchange exchange;

    auth_exchange_test::require_credentials(
        auth_exchange_test::plain(exchange, "\0"s + longest_name + "\0"s + "pw"), longest_name, "pw");
    auth_exchange_test::require_reply(
        auth_exchange_test::plain(exchange, "\0"s + longest_name + "n\0"s + "pw"),
        auth_replies::invalid_credentials);
    auth_exchange_test::require_credentials(
        auth_exchange_test::plain(exchange, "\0alice\0"s + longest_password), "alice", longest_password);
    auth_exchange_test::require_reply(
        auth_exchange_test::plain(exchange, "\0alice\0"s + longest_password + "p"),
        auth_replies::invalid_credentials);

    auth_exchange_test::require_challenge(
        exchange.begin(AuthMechanism::login, auth_exchange_test::encode(longest_name + "n"), true),
        "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::invalid_credentials);
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "YWxpY2U=", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_reply(exchange.respond(auth_exchange_test::encode(longest_password + "p")),
                                      auth_replies::invalid_credentials);
}

TEST_CASE("auth exchange line limit is the one RFC 4954 gives", "[auth_exchange]") {
    REQUIRE(relayguard::proxy::max_auth_line_length == 12288);
    REQUIRE(auth_replies::line_too_long == "500 5.5.6 Authentication Exchange line is too long");
    // The longest response that fits decodes to 9 kB: PLAIN messages of every allowed size fit.
    REQUIRE((relayguard::proxy::max_auth_line_length - 2) / 4 * 3 >=
            2 + relayguard::proxy::max_auth_username_length * 2 + relayguard::policy::max_password_length);
}

TEST_CASE("auth exchange begin abandons an exchange in progress", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "Ym9i", true),
                                          "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, {}, false),
                                          "334 VXNlcm5hbWU6");
    auth_exchange_test::require_challenge(exchange.respond("YWxpY2U="), "334 UGFzc3dvcmQ6");
    auth_exchange_test::require_credentials(exchange.respond("c2VjcmV0"), "alice", "secret");

    auth_exchange_test::require_challenge(exchange.begin(AuthMechanism::login, "Ym9i", true),
                                          "334 UGFzc3dvcmQ6");
    exchange.reset();
    REQUIRE_FALSE(exchange.in_progress());
    auth_exchange_test::require_reply(exchange.respond("c2VjcmV0"), auth_replies::no_exchange);
}

TEST_CASE("auth exchange answers a line when no exchange is in progress", "[auth_exchange]") {
    AuthExchange exchange;
    auth_exchange_test::require_reply(exchange.respond("*"),
                                      "503 5.5.1 Error: no authentication exchange in progress");
}

TEST_CASE("auth exchange hands out a short password in a block that moves without copying",
          "[auth_exchange]") {
    AuthExchange exchange;
    AuthStep step = exchange.begin(AuthMechanism::plain, "AGFsaWNlAHB3AA==", true); // "\0alice\0pw\0"
    auth_exchange_test::require_reply(step, auth_replies::invalid_credentials);
    step = exchange.begin(AuthMechanism::plain, "AGFsaWNlAHB3", true); // "\0alice\0pw"
    auth_exchange_test::require_credentials(step, "alice", "pw");
    const char* const characters = step.password.data();
    const std::string moved = std::move(step.password);
    REQUIRE(moved == "pw");
    REQUIRE(moved.data() == characters);
}

TEST_CASE("auth exchange wipe_secret zeroes the whole buffer and empties the string", "[auth_exchange]") {
    std::string secret = "correct horse battery staple";
    secret = "short";
    const char* const characters = secret.data();
    const std::size_t capacity = secret.capacity();
    REQUIRE(capacity >= 28);
    relayguard::proxy::wipe_secret(secret);
    REQUIRE(secret.empty());
    REQUIRE(secret.data() == characters);
    REQUIRE(std::string(characters, capacity) == std::string(capacity, '\0'));
}
