#pragma once
// The client side of an SMTP session's opening, as one pure state machine shared by relayguard's
// upstream link and by `relayguard probe`: the greeting (RFC 5321 §3.1), EHLO with a HELO fallback
// (§3.2), STARTTLS and the EHLO that must follow the handshake (RFC 3207 §4.2), and XCLIENT with the EHLO
// that must follow it (Postfix's XCLIENT_README). It is handed each reply and says what to do next: send
// a command, start the TLS handshake, go on with the session, or give up (and why, so each caller words
// it its own way). It does no I/O: the link drives it from Asio, the probe from its blocking reads.
#include <relayguard/proxy/reply_parser.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace relayguard::proxy {

// What the server is told about the client when XCLIENT is on.
struct ClientIdentity {
    std::string address; // textual IP address
    std::string helo;
    bool esmtp = false;
    std::string login; // the AUTH user, empty when not authenticated
};

// "XCLIENT ADDR=… NAME=[UNAVAILABLE] HELO=… LOGIN=… PROTO=…" with the attributes `offered` names, values
// in RFC 3461 xtext. `overwrite`: a connection that served an earlier client, so HELO and LOGIN are
// sent as [UNAVAILABLE] when this client has none, never left as the earlier client's.
std::string xclient_command(const UpstreamCapabilities& offered, const ClientIdentity& client,
                            bool overwrite = false);

class SmtpClientOpening {
public:
    // none: never STARTTLS. if_offered: STARTTLS when offered, clear text when it is not offered or is
    // refused. required: no session without it.
    enum class Tls : std::uint8_t { none, if_offered, required };
    struct Options {
        std::string helo_name; // what EHLO and HELO say
        Tls tls = Tls::none;
        bool helo_fallback = false; // HELO after a 5xx to the first EHLO (never when TLS is required)
        bool xclient = false;       // XCLIENT when the server offers it
        ClientIdentity client;      // what XCLIENT says
    };
    // Which reply refused the opening.
    enum class Refusal : std::uint8_t {
        greeting,             // not 2xx
        ehlo,                 // the first EHLO, and HELO was not tried
        helo,                 // HELO after the EHLO
        starttls_not_offered, // Tls::required and the EHLO did not offer STARTTLS (`code` is 0)
        starttls_refused,     // Tls::required and STARTTLS not answered 220
        tls_ehlo,             // the EHLO after the handshake
        xclient,              // XCLIENT
        xclient_ehlo,         // the EHLO after XCLIENT
        health_check,         // the NOOP that checks a reused connection
    };
    struct Step {
        enum class Kind : std::uint8_t { send, start_tls, ready, failed };
        Kind kind = Kind::send;
        std::string line;                    // send: the command, without its line end
        Refusal refusal = Refusal::greeting; // failed: which reply refused
        int code = 0;                        // failed: that reply's code
        // Tls::if_offered and STARTTLS could not be used ("STARTTLS not offered", "STARTTLS answered
        // 454"): the opening goes on in clear text, and the caller may say so.
        std::string tls_skipped;
    };

    explicit SmtpClientOpening(Options options);

    // The server's reply to what the last step sent; the first is its greeting.
    Step received(const ParsedReply& reply);
    // The handshake that start_tls asked for is done: EHLO again.
    Step tls_established();
    // A connection that is already open and was introduced (a pooled one, see upstream_pool.hpp) is
    // taken up for options.client: XCLIENT with this client when it is on and `xclient_offer` offers it
    // (the server's 220 to it shows the connection alive), otherwise a NOOP to check it. `capabilities`
    // are what the connection's opening ended with; `xclient_offer` the EHLO that offered XCLIENT when
    // the connection has already carried one (so it is said again even if the server offers it no
    // more), else the same.
    Step resume(const UpstreamCapabilities& capabilities, const UpstreamCapabilities& xclient_offer);

    // What the server offers: its latest EHLO (after a handshake only what it said over TLS; nothing
    // after HELO or during a handshake).
    const UpstreamCapabilities& capabilities() const { return capabilities_; }
    // What the first EHLO offered, before any TLS.
    const UpstreamCapabilities& first_capabilities() const { return first_capabilities_; }

private:
    enum class Stage : std::uint8_t {
        greeting,
        ehlo,
        helo,
        starttls,
        tls_handshake,
        tls_ehlo,
        xclient,
        xclient_ehlo,
        health_check,
        done
    };
    Step send(std::string line, Stage next);
    Step ready();
    Step failed(Refusal refusal, int code);
    // After the EHLO the session goes on with (in clear text, or the one after the handshake).
    Step after_ehlo(std::string tls_skipped);
    bool introduces_client() const;

    Options options_;
    Stage stage_ = Stage::greeting;
    UpstreamCapabilities capabilities_;
    UpstreamCapabilities first_capabilities_;
    bool resumed_ = false; // resume(): XCLIENT overwrites what an earlier client left
};

} // namespace relayguard::proxy
