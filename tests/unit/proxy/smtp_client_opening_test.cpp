// SmtpClientOpening: the client side of the opening, fed replies, checked step by step.
#include <relayguard/proxy/reply_parser.hpp>
#include <relayguard/proxy/smtp_client_opening.hpp>

#include <catch2/catch.hpp>

#include <string>

using relayguard::proxy::SmtpClientOpening;
using Kind = SmtpClientOpening::Step::Kind;
using Refusal = SmtpClientOpening::Refusal;

namespace smtp_client_opening_test {

// The reply text must outlive the parsed reply only for the call.
SmtpClientOpening::Step reply(SmtpClientOpening& opening, const std::string& text) {
    const relayguard::proxy::ParsedReply parsed = relayguard::proxy::parse_reply(text);
    REQUIRE(parsed.status == relayguard::proxy::ParsedReply::Status::complete);
    return opening.received(parsed);
}

SmtpClientOpening::Options link_options(SmtpClientOpening::Tls tls, bool xclient = false) {
    SmtpClientOpening::Options options;
    options.helo_name = "relay.test";
    options.tls = tls;
    options.helo_fallback = true;
    options.xclient = xclient;
    options.client = {"192.0.2.7", "client.test", true, "al+ce=x y"};
    return options;
}

} // namespace smtp_client_opening_test

using smtp_client_opening_test::reply;

TEST_CASE("SmtpClientOpening: greeting, EHLO, STARTTLS, EHLO again, XCLIENT, EHLO again", "[opening]") {
    SmtpClientOpening opening(
        smtp_client_opening_test::link_options(SmtpClientOpening::Tls::if_offered, true));
    SmtpClientOpening::Step step = reply(opening, "220 mx.test ESMTP\r\n");
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "EHLO relay.test");
    step = reply(opening, "250-mx.test\r\n250-STARTTLS\r\n250-XCLIENT ADDR HELO\r\n250 SMTPUTF8\r\n");
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "STARTTLS");
    CHECK(opening.first_capabilities().starttls);
    step = reply(opening, "220 2.0.0 Ready to start TLS\r\n");
    CHECK(step.kind == Kind::start_tls);
    // Nothing offered in clear text counts once the handshake begins.
    CHECK_FALSE(opening.capabilities().smtputf8);
    CHECK_FALSE(opening.capabilities().xclient);
    step = opening.tls_established();
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "EHLO relay.test");
    step = reply(opening, "250-mx.test\r\n250-XCLIENT ADDR HELO LOGIN PROTO\r\n250 8BITMIME\r\n");
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "XCLIENT ADDR=192.0.2.7 HELO=client.test LOGIN=al+2Bce+3Dx+20y PROTO=ESMTP");
    step = reply(opening, "220 mx.test ESMTP\r\n");
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "EHLO relay.test");
    step = reply(opening, "250-mx.test\r\n250 DSN\r\n");
    CHECK(step.kind == Kind::ready);
    CHECK(step.tls_skipped.empty());
    CHECK(opening.capabilities().dsn);
    CHECK_FALSE(opening.capabilities().eight_bit_mime); // the last EHLO's offer, not an earlier one
}

TEST_CASE("SmtpClientOpening falls back to HELO, which offers nothing", "[opening]") {
    SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none, true));
    reply(opening, "220 old.test\r\n");
    SmtpClientOpening::Step step = reply(opening, "502 5.5.1 what is EHLO\r\n");
    REQUIRE(step.kind == Kind::send);
    CHECK(step.line == "HELO relay.test");
    step = reply(opening, "250 old.test\r\n");
    CHECK(step.kind == Kind::ready);
    CHECK_FALSE(opening.capabilities().xclient);
}

TEST_CASE("SmtpClientOpening says which reply refused it", "[opening]") {
    SECTION("the greeting") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none));
        const SmtpClientOpening::Step step = reply(opening, "554 5.3.2 go away\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::greeting);
        CHECK(step.code == 554);
    }
    SECTION("EHLO, with no HELO when TLS is required") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::required));
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "502 no\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::ehlo);
        CHECK(step.code == 502);
    }
    SECTION("EHLO 4xx is not answered with HELO") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none));
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "421 busy\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::ehlo);
    }
    SECTION("STARTTLS required and not offered") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::required));
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "250-mx.test\r\n250 8BITMIME\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::starttls_not_offered);
        CHECK(step.code == 0);
    }
    SECTION("STARTTLS required and refused") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::required));
        reply(opening, "220 mx.test\r\n");
        reply(opening, "250-mx.test\r\n250 STARTTLS\r\n");
        const SmtpClientOpening::Step step = reply(opening, "454 4.7.0 TLS not available\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::starttls_refused);
        CHECK(step.code == 454);
    }
    SECTION("the EHLO after the handshake") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::required));
        reply(opening, "220 mx.test\r\n");
        reply(opening, "250-mx.test\r\n250 STARTTLS\r\n");
        REQUIRE(reply(opening, "220 go\r\n").kind == Kind::start_tls);
        opening.tls_established();
        const SmtpClientOpening::Step step = reply(opening, "550 no\r\n");
        CHECK(step.refusal == Refusal::tls_ehlo);
    }
}

TEST_CASE("SmtpClientOpening goes on in clear text when STARTTLS is only wanted", "[opening]") {
    SECTION("not offered") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::if_offered));
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "250-mx.test\r\n250 8BITMIME\r\n");
        CHECK(step.kind == Kind::ready);
        CHECK(step.tls_skipped == "STARTTLS not offered");
        CHECK(opening.capabilities().eight_bit_mime);
    }
    SECTION("refused, then XCLIENT") {
        SmtpClientOpening opening(
            smtp_client_opening_test::link_options(SmtpClientOpening::Tls::if_offered, true));
        reply(opening, "220 mx.test\r\n");
        reply(opening, "250-mx.test\r\n250-STARTTLS\r\n250 XCLIENT ADDR NAME\r\n");
        const SmtpClientOpening::Step step = reply(opening, "454 4.7.0 later\r\n");
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line == "XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]");
        CHECK(step.tls_skipped == "STARTTLS answered 454");
    }
}

TEST_CASE("xclient_command marks IPv6 addresses and leaves out what is not offered", "[opening]") {
    relayguard::proxy::UpstreamCapabilities offered;
    offered.xclient_addr = true;
    offered.xclient_proto = true;
    CHECK(relayguard::proxy::xclient_command(offered, {"2001:db8::7", "h", false, "u"}) ==
          "XCLIENT ADDR=IPV6:2001:db8::7 PROTO=SMTP");
}

TEST_CASE("SmtpClientOpening resumes a pooled connection with NOOP, or XCLIENT for the new client",
          "[opening]") {
    relayguard::proxy::UpstreamCapabilities offered;
    offered.xclient = offered.xclient_addr = offered.xclient_helo = offered.xclient_login = true;
    offered.dsn = true;
    SECTION("no XCLIENT: a NOOP checks the connection, and what it offered stays") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none));
        SmtpClientOpening::Step step = opening.resume(offered, offered);
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line == "NOOP");
        step = reply(opening, "250 2.0.0 Ok\r\n");
        CHECK(step.kind == Kind::ready);
        CHECK(opening.capabilities().dsn);
    }
    SECTION("a NOOP refused or answered 421 is a failed check") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none));
        opening.resume(offered, offered);
        const SmtpClientOpening::Step step = reply(opening, "421 4.4.2 idle too long\r\n");
        CHECK(step.kind == Kind::failed);
        CHECK(step.refusal == Refusal::health_check);
        CHECK(step.code == 421);
    }
    SECTION("XCLIENT overwrites what the previous client left: HELO and LOGIN as [UNAVAILABLE]") {
        SmtpClientOpening::Options options =
            smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none, true);
        options.client.helo.clear();
        options.client.login.clear();
        SmtpClientOpening opening(options);
        SmtpClientOpening::Step step = opening.resume(offered, offered);
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line == "XCLIENT ADDR=192.0.2.7 HELO=[UNAVAILABLE] LOGIN=[UNAVAILABLE]");
        step = reply(opening, "220 mx.test ESMTP\r\n");
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line == "EHLO relay.test");
        step = reply(opening, "250-mx.test\r\n250 XCLIENT ADDR\r\n");
        CHECK(step.kind == Kind::ready);
        CHECK_FALSE(opening.capabilities().dsn); // the EHLO after XCLIENT is what counts
    }
    SECTION("XCLIENT is said again when the connection carried one, though the server offers it no more") {
        SmtpClientOpening opening(smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none, true));
        relayguard::proxy::UpstreamCapabilities after_xclient; // an EHLO that no longer lists XCLIENT
        after_xclient.dsn = true;
        const SmtpClientOpening::Step step = opening.resume(after_xclient, offered);
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line.rfind("XCLIENT ADDR=192.0.2.7 ", 0) == 0);
    }
    SECTION("a fresh connection's XCLIENT leaves out what the client did not say") {
        SmtpClientOpening::Options options =
            smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none, true);
        options.client.login.clear();
        SmtpClientOpening opening(options);
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "250-mx.test\r\n250 XCLIENT ADDR HELO LOGIN\r\n");
        REQUIRE(step.kind == Kind::send);
        CHECK(step.line == "XCLIENT ADDR=192.0.2.7 HELO=client.test");
    }
    SECTION("a connection opened ahead of any client (prewarm) sends no XCLIENT") {
        SmtpClientOpening::Options options =
            smtp_client_opening_test::link_options(SmtpClientOpening::Tls::none, true);
        options.client = {};
        SmtpClientOpening opening(options);
        reply(opening, "220 mx.test\r\n");
        const SmtpClientOpening::Step step = reply(opening, "250-mx.test\r\n250 XCLIENT ADDR HELO LOGIN\r\n");
        CHECK(step.kind == Kind::ready);
    }
}
