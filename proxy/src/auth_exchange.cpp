#include <relayguard/policy/base64.hpp>
#include <relayguard/policy/credentials.hpp>
#include <relayguard/proxy/auth_exchange.hpp>
#include <relayguard/proxy/command_parser.hpp>

#include <mbedtls/platform_util.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace relayguard::proxy {
namespace auth_exchange_detail {

// RFC 4954 §4: the challenges are base64 too; LOGIN's are the traditional prompts.
constexpr std::string_view empty_challenge = "334 ";
constexpr std::string_view username_challenge = "334 VXNlcm5hbWU6"; // "Username:"
constexpr std::string_view password_challenge = "334 UGFzc3dvcmQ6"; // "Password:"
constexpr std::string_view cancel_line = "*";
// RFC 4954 §4: an initial response of "=" stands for an empty one.
constexpr std::string_view empty_initial_response = "=";
constexpr char plain_separator = '\0'; // RFC 4616 §2: authzid NUL authcid NUL passwd

// Decoded client text, which may hold a password: zeroed when it goes out of scope.
class DecodedSecret {
public:
    explicit DecodedSecret(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
    ~DecodedSecret() { mbedtls_platform_zeroize(bytes_.data(), bytes_.size()); }
    DecodedSecret(const DecodedSecret&) = delete;
    DecodedSecret& operator=(const DecodedSecret&) = delete;

    std::string_view text() const { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }

private:
    std::vector<std::uint8_t> bytes_;
};

std::optional<std::vector<std::uint8_t>> decode_response(std::string_view encoded) {
    return policy::base64_decode(encoded, policy::Padding::required);
}

// A copy of `text` held in a heap block: the reserved capacity exceeds any short-string buffer (which
// lives inside the string object, so it is smaller than the object), and a later move of the string
// hands over that block instead of copying the characters into the destination.
std::string heap_copy(std::string_view text) {
    std::string copy;
    copy.reserve(std::max(text.size(), sizeof(std::string)));
    copy.assign(text.data(), text.size());
    return copy;
}

AuthStep reply(std::string_view line) {
    return AuthStep(AuthStep::Kind::reply, line);
}

// The checks both mechanisms share, on input that is attacker-chosen but already decoded. Control
// characters in the name are refused because the name goes into log lines and XCLIENT; a NUL in a
// LOGIN password is refused so that both mechanisms accept the same passwords (PLAIN cannot carry one).
AuthStep credentials(std::string_view username, std::string_view password) {
    if (username.empty() || username.size() > max_auth_username_length ||
        contains_control_character(username) || password.empty() ||
        password.size() > policy::max_password_length ||
        password.find(plain_separator) != std::string_view::npos) {
        return reply(auth_replies::invalid_credentials);
    }
    AuthStep step(AuthStep::Kind::credentials, {});
    step.username = std::string(username);
    step.password = heap_copy(password);
    return step;
}

} // namespace auth_exchange_detail

void wipe_secret(std::string& secret) {
    // Growing to the capacity overwrites what an earlier, longer value left past size(), without
    // reallocating; then every octet is zeroed in a way the compiler may not drop.
    secret.resize(secret.capacity());
    mbedtls_platform_zeroize(secret.data(), secret.size());
    secret.clear();
}

AuthExchange::~AuthExchange() {
    reset();
}

void AuthExchange::reset() {
    state_ = State::idle;
    wipe_secret(login_username_);
}

AuthStep AuthExchange::begin(policy::AuthMechanism mechanism, std::string_view initial_response,
                             bool has_initial_response) {
    using namespace auth_exchange_detail;
    reset();
    // "=" is the only way to send an empty initial response; a bare empty one is a malformed command.
    std::string_view encoded = initial_response;
    if (has_initial_response) {
        if (initial_response.empty()) {
            return reply(auth_replies::cannot_decode);
        }
        if (initial_response == empty_initial_response) {
            encoded = {};
        }
    }
    switch (mechanism) {
    case policy::AuthMechanism::plain:
        if (!has_initial_response) {
            state_ = State::plain_response;
            return AuthStep(AuthStep::Kind::challenge, empty_challenge);
        }
        return finish_plain(encoded);
    case policy::AuthMechanism::login:
        if (!has_initial_response) {
            state_ = State::login_username;
            return AuthStep(AuthStep::Kind::challenge, username_challenge);
        }
        return take_login_username(encoded);
    }
    return reply(auth_replies::unrecognized_mechanism);
}

AuthStep AuthExchange::respond(std::string_view client_line) {
    using namespace auth_exchange_detail;
    const State state = state_;
    if (state == State::idle) {
        return reply(auth_replies::no_exchange);
    }
    if (client_line == cancel_line) {
        reset();
        return reply(auth_replies::aborted);
    }
    switch (state) {
    case State::plain_response:
        return finish_plain(client_line);
    case State::login_username:
        return take_login_username(client_line);
    case State::login_password:
        return finish_login(client_line);
    case State::idle:
        break;
    }
    reset();
    return reply(auth_replies::no_exchange);
}

AuthStep AuthExchange::take_login_username(std::string_view encoded) {
    using namespace auth_exchange_detail;
    std::optional<std::vector<std::uint8_t>> decoded = decode_response(encoded);
    if (!decoded) {
        reset();
        return reply(auth_replies::cannot_decode);
    }
    // The name is checked together with the password, so a bad name costs the client the whole
    // exchange and gets the same answer as a wrong password.
    const DecodedSecret username(std::move(*decoded));
    login_username_ = heap_copy(username.text());
    state_ = State::login_password;
    return AuthStep(AuthStep::Kind::challenge, password_challenge);
}

AuthStep AuthExchange::finish_plain(std::string_view encoded) {
    using namespace auth_exchange_detail;
    reset();
    std::optional<std::vector<std::uint8_t>> decoded = decode_response(encoded);
    if (!decoded) {
        return reply(auth_replies::cannot_decode);
    }
    const DecodedSecret message(std::move(*decoded));
    const std::string_view text = message.text();
    // RFC 4616 §2: exactly two NULs; the password may not contain a third.
    const std::size_t first = text.find(plain_separator);
    const std::size_t second =
        first == std::string_view::npos ? first : text.find(plain_separator, first + 1);
    if (second == std::string_view::npos) {
        return reply(auth_replies::invalid_credentials);
    }
    const std::string_view authzid = text.substr(0, first);
    const std::string_view authcid = text.substr(first + 1, second - first - 1);
    const std::string_view passwd = text.substr(second + 1);
    // Acting for another identity is what the authorization identity is for; relayguard has no such
    // rights to grant, so it must be absent or name the login itself.
    if (!authzid.empty() && authzid != authcid) {
        return reply(auth_replies::invalid_credentials);
    }
    return credentials(authcid, passwd);
}

AuthStep AuthExchange::finish_login(std::string_view encoded) {
    using namespace auth_exchange_detail;
    std::optional<std::vector<std::uint8_t>> decoded = decode_response(encoded);
    if (!decoded) {
        reset();
        return reply(auth_replies::cannot_decode);
    }
    const DecodedSecret password(std::move(*decoded));
    AuthStep step = credentials(login_username_, password.text());
    reset();
    return step;
}

} // namespace relayguard::proxy
