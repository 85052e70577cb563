// Envelope paths and domains (policy/envelope.hpp): MAIL FROM and RCPT TO arguments. What the parser
// accepts, it writes back canonically, and the canonical form is accepted again and is its own canonical
// form (what the upstream receives reads the same a second time); it never carries a control character.
#include "fuzz_check.hpp"

#include <relayguard/policy/envelope.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool has_control_character(std::string_view text) {
    for (const char c : text) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 0x20 || octet == 0x7f) {
            return true;
        }
    }
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const bool rcpt = data[0] % 2 == 1;
    const bool smtputf8 = data[0] % 4 >= 2;
    const std::string_view argument(reinterpret_cast<const char*>(data + 1), size - 1);
    if (!rcpt) {
        const auto mail = relayguard::policy::parse_mail_from(argument);
        if (!mail) {
            FUZZ_CHECK(mail.error.code >= 400 && mail.error.code <= 599);
            return 0;
        }
        const std::string canonical = mail.value->path.canonical();
        FUZZ_CHECK(!has_control_character(canonical));
        const auto again =
            relayguard::policy::parse_mail_from(canonical + (mail.value->smtputf8 ? " SMTPUTF8" : ""));
        FUZZ_CHECK(again);
        FUZZ_CHECK(again.value->path.canonical() == canonical);
        return 0;
    }
    const auto recipient = relayguard::policy::parse_rcpt_to(argument, smtputf8);
    if (!recipient) {
        FUZZ_CHECK(recipient.error.code >= 400 && recipient.error.code <= 599);
        return 0;
    }
    const std::string canonical = recipient.value->path.canonical();
    FUZZ_CHECK(!has_control_character(canonical));
    const auto again = relayguard::policy::parse_rcpt_to(canonical, smtputf8);
    FUZZ_CHECK(again);
    FUZZ_CHECK(again.value->path.canonical() == canonical);
    FUZZ_CHECK(again.value->path.postmaster == recipient.value->path.postmaster);
    return 0;
}
