#include <relayguard/policy/ip_address.hpp>
#include <relayguard/proxy/smtp_client_opening.hpp>

#include <optional>

namespace relayguard::proxy {
namespace smtp_client_opening_detail {

// RFC 3461 §4 xtext, which XCLIENT attribute values use: "+" followed by two upper-case hex digits for
// anything outside "!" … "~", and for "+" and "=".
std::string xtext(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string encoded;
    encoded.reserve(value.size());
    for (const char c : value) {
        const auto octet = static_cast<unsigned char>(c);
        if (octet < 33 || octet > 126 || c == '+' || c == '=') {
            encoded += '+';
            encoded += hex[octet >> 4];
            encoded += hex[octet & 0x0f];
        } else {
            encoded += c;
        }
    }
    return encoded;
}

} // namespace smtp_client_opening_detail

std::string xclient_command(const UpstreamCapabilities& offered, const ClientIdentity& client,
                            bool overwrite) {
    using smtp_client_opening_detail::xtext;
    std::string line = "XCLIENT";
    if (offered.xclient_addr) {
        const std::optional<policy::IpAddress> address = policy::IpAddress::parse(client.address);
        const bool v6 = address && !address->is_v4();
        line += " ADDR=" + std::string(v6 ? "IPV6:" : "") + xtext(client.address);
    }
    if (offered.xclient_name) {
        line += " NAME=[UNAVAILABLE]"; // relayguard does no reverse lookups
    }
    if (offered.xclient_helo && (!client.helo.empty() || overwrite)) {
        line += " HELO=" + (client.helo.empty() ? std::string("[UNAVAILABLE]") : xtext(client.helo));
    }
    if (offered.xclient_login && (!client.login.empty() || overwrite)) {
        line += " LOGIN=" + (client.login.empty() ? std::string("[UNAVAILABLE]") : xtext(client.login));
    }
    if (offered.xclient_proto) {
        line += client.esmtp ? " PROTO=ESMTP" : " PROTO=SMTP";
    }
    return line;
}

SmtpClientOpening::SmtpClientOpening(Options options) : options_(std::move(options)) {
}

SmtpClientOpening::Step SmtpClientOpening::send(std::string line, Stage next) {
    stage_ = next;
    Step step;
    step.kind = Step::Kind::send;
    step.line = std::move(line);
    return step;
}

SmtpClientOpening::Step SmtpClientOpening::ready() {
    stage_ = Stage::done;
    Step step;
    step.kind = Step::Kind::ready;
    return step;
}

SmtpClientOpening::Step SmtpClientOpening::failed(Refusal refusal, int code) {
    stage_ = Stage::done;
    Step step;
    step.kind = Step::Kind::failed;
    step.refusal = refusal;
    step.code = code;
    return step;
}

SmtpClientOpening::Step SmtpClientOpening::received(const ParsedReply& reply) {
    const bool positive = reply.code_class() == 2;
    switch (stage_) {
    case Stage::greeting:
        if (!positive) {
            return failed(Refusal::greeting, reply.code);
        }
        return send("EHLO " + options_.helo_name, Stage::ehlo);
    case Stage::ehlo:
        if (!positive) {
            if (reply.code_class() == 5 && options_.helo_fallback && options_.tls != Tls::required) {
                return send("HELO " + options_.helo_name, Stage::helo);
            }
            return failed(Refusal::ehlo, reply.code);
        }
        capabilities_ = parse_ehlo_capabilities(reply);
        first_capabilities_ = capabilities_;
        if (options_.tls == Tls::none) {
            return after_ehlo({});
        }
        if (!capabilities_.starttls) {
            if (options_.tls == Tls::required) {
                return failed(Refusal::starttls_not_offered, 0);
            }
            return after_ehlo("STARTTLS not offered");
        }
        return send("STARTTLS", Stage::starttls);
    case Stage::helo:
        if (!positive) {
            return failed(Refusal::helo, reply.code);
        }
        capabilities_ = {}; // HELO offers nothing
        return ready();
    case Stage::starttls:
        if (reply.code != 220) {
            if (options_.tls == Tls::required) {
                return failed(Refusal::starttls_refused, reply.code);
            }
            return after_ehlo("STARTTLS answered " + std::to_string(reply.code));
        }
        // Nothing the server offered before the handshake counts after it.
        capabilities_ = {};
        stage_ = Stage::tls_handshake;
        {
            Step step;
            step.kind = Step::Kind::start_tls;
            return step;
        }
    case Stage::tls_ehlo:
    case Stage::xclient_ehlo:
        if (!positive) {
            return failed(stage_ == Stage::tls_ehlo ? Refusal::tls_ehlo : Refusal::xclient_ehlo, reply.code);
        }
        capabilities_ = parse_ehlo_capabilities(reply);
        if (stage_ == Stage::xclient_ehlo) {
            return ready();
        }
        return after_ehlo({});
    case Stage::xclient:
        // XCLIENT starts a new session on the server: it greets again, and wants EHLO again.
        if (!positive) {
            return failed(Refusal::xclient, reply.code);
        }
        return send("EHLO " + options_.helo_name, Stage::xclient_ehlo);
    case Stage::health_check:
        if (!positive) {
            return failed(Refusal::health_check, reply.code);
        }
        return ready();
    case Stage::tls_handshake:
    case Stage::done:
        break;
    }
    // A reply when none was asked for: the caller never hands one over (its reader stops at each step).
    return failed(Refusal::greeting, reply.code);
}

SmtpClientOpening::Step SmtpClientOpening::tls_established() {
    return send("EHLO " + options_.helo_name, Stage::tls_ehlo);
}

SmtpClientOpening::Step SmtpClientOpening::resume(const UpstreamCapabilities& capabilities,
                                                  const UpstreamCapabilities& xclient_offer) {
    capabilities_ = capabilities;
    first_capabilities_ = capabilities;
    resumed_ = true;
    if (options_.xclient && xclient_offer.xclient && !options_.client.address.empty()) {
        return send(xclient_command(xclient_offer, options_.client, true), Stage::xclient);
    }
    return send("NOOP", Stage::health_check);
}

// XCLIENT when it is on and offered, and there is a client to tell of (a connection opened ahead of
// any client, to be pooled, has none: it says XCLIENT when a client takes it up).
bool SmtpClientOpening::introduces_client() const {
    return options_.xclient && capabilities_.xclient && !options_.client.address.empty();
}

SmtpClientOpening::Step SmtpClientOpening::after_ehlo(std::string tls_skipped) {
    Step step = introduces_client()
                    ? send(xclient_command(capabilities_, options_.client, resumed_), Stage::xclient)
                    : ready();
    step.tls_skipped = std::move(tls_skipped);
    return step;
}

} // namespace relayguard::proxy
