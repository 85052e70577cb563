// Base64 (policy/base64.hpp) and the AUTH exchange (proxy/auth_exchange.hpp). The input is lines: the
// first is the AUTH command's mechanism choice and initial response, the rest are the client's answers.
//   - decoding inverts encoding, in both padding modes;
//   - every step is a "334 " challenge, one of the exchange's fixed replies, or credentials within
//     the limits; after anything but a challenge no exchange is in progress.
#include "fuzz_check.hpp"

#include <relayguard/policy/base64.hpp>
#include <relayguard/proxy/auth_exchange.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

namespace replies = relayguard::proxy::auth_replies;
using relayguard::proxy::AuthStep;

void check_base64(std::string_view text) {
    for (const auto padding :
         {relayguard::policy::Padding::required, relayguard::policy::Padding::forbidden}) {
        const std::string encoded = relayguard::policy::base64_encode(text, padding);
        const auto decoded = relayguard::policy::base64_decode(encoded, padding);
        FUZZ_CHECK(decoded &&
                   std::string_view(reinterpret_cast<const char*>(decoded->data()), decoded->size()) == text);
        if (const auto parsed = relayguard::policy::base64_decode(text, padding)) {
            // What decodes is well-formed base64 of those octets: encoding them again gives a string
            // that decodes to the same octets.
            const std::string reencoded =
                relayguard::policy::base64_encode(parsed->data(), parsed->size(), padding);
            FUZZ_CHECK(relayguard::policy::base64_decode(reencoded, padding) == parsed);
        }
    }
}

void check_step(const AuthStep& step, const relayguard::proxy::AuthExchange& exchange) {
    switch (step.kind) {
    case AuthStep::Kind::challenge:
        FUZZ_CHECK(step.line.rfind("334 ", 0) == 0);
        FUZZ_CHECK(exchange.in_progress());
        break;
    case AuthStep::Kind::credentials:
        FUZZ_CHECK(!step.username.empty() &&
                   step.username.size() <= relayguard::proxy::max_auth_username_length);
        FUZZ_CHECK(!step.password.empty());
        FUZZ_CHECK(!exchange.in_progress());
        break;
    case AuthStep::Kind::reply:
        FUZZ_CHECK(step.line == replies::aborted || step.line == replies::cannot_decode ||
                   step.line == replies::invalid_credentials ||
                   step.line == replies::unrecognized_mechanism || step.line == replies::no_exchange);
        FUZZ_CHECK(!exchange.in_progress());
        break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    check_base64(rest.substr(0, 256));

    relayguard::proxy::AuthExchange exchange;
    const auto mechanism = data[0] % 2 == 0 ? relayguard::policy::AuthMechanism::plain
                                            : relayguard::policy::AuthMechanism::login;
    const bool has_initial_response = data[0] % 4 >= 2;
    const std::size_t first_end = rest.find('\n');
    const std::string_view initial = rest.substr(0, first_end);
    rest.remove_prefix(first_end == std::string_view::npos ? rest.size() : first_end + 1);
    AuthStep step =
        exchange.begin(mechanism, has_initial_response ? initial : std::string_view(), has_initial_response);
    check_step(step, exchange);
    while (!rest.empty()) {
        const std::size_t end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
        const bool was_in_progress = exchange.in_progress();
        step = exchange.respond(line);
        check_step(step, exchange);
        if (!was_in_progress) {
            FUZZ_CHECK(step.kind == AuthStep::Kind::reply && step.line == replies::no_exchange);
        }
    }
    return 0;
}
