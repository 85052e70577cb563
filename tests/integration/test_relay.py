"""The relay decision on the wire: untrusted clients reach only the local domain, trusted ones reach
everything, and what reaches the upstream is exactly what the client sent for the accepted recipients."""

import re
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

DENIED = f"554 5.7.1 <{h.REMOTE_RECIPIENT}>: Relay access denied"


class RelayTests(h.IntegrationTestCase):
    def test_untrusted_client_to_local_domain_delivered(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, source=h.UNTRUSTED_CLIENT, to=h.LOCAL_RECIPIENT)
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"(?m)^<-  250 2\.0\.0 Ok: queued as SINK0001$")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.mail_from, h.OUTSIDE_SENDER)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])
        self.assertIn(b"\r\nSubject: test ", transaction.body)
        self.assertNoBareNewlines(transaction.body)

    def test_untrusted_client_to_other_domain_relay_denied(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, source=h.UNTRUSTED_CLIENT, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 24, f"swaks should report 'no RCPTs accepted':\n{output}")
        self.assertIn(f"<** {DENIED}", output)
        self.settle(relayguard, sink)
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT), sink.commands)
        self.assertEqual(sink.transactions, [])

    def test_trusted_client_delivered_anywhere(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, source=h.TRUSTED_CLIENT,
                                    to=f"{h.REMOTE_RECIPIENT},{h.LOCAL_RECIPIENT}")
        self.assertEqual(status, 0, output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT, h.LOCAL_RECIPIENT])

    def test_untrusted_mixed_recipients_only_local_forwarded(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, source=h.UNTRUSTED_CLIENT,
                                    to=f"{h.REMOTE_RECIPIENT},{h.LOCAL_RECIPIENT},other@elsewhere.test")
        self.assertEqual(status, 0, output)
        self.assertIn(f"<** {DENIED}", output)
        self.assertIn("<** 554 5.7.1 <other@elsewhere.test>: Relay access denied", output)
        self.settle(relayguard, sink)
        [transaction] = sink.transactions
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])
        self.assertEqual(sink.rcpt_commands(), [f"RCPT TO:<{h.LOCAL_RECIPIENT}>"])

    def test_subdomain_and_case_of_local_domain(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, domains=(h.LOCAL_DOMAIN, "*.example.com"))
        client = self.greeted(relayguard)
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        self.assertReply(client.command("RCPT TO:<Someone@Sales.EXAMPLE.com>"), 250)
        self.assertReply(client.command("RCPT TO:<x@example.com.elsewhere.test>"), 554,
                         "5.7.1 <x@example.com.elsewhere.test>: Relay access denied")
        self.assertReply(client.command("RCPT TO:<x@notexample.com>"), 554,
                         "5.7.1 <x@notexample.com>: Relay access denied")

    def test_routing_tricks_to_local_domain_denied(self):
        # Forms that name the local domain last but route elsewhere (RFC 5321 §3.6.1, percent hack,
        # bang paths, quoted local parts): none may reach the upstream from an untrusted client.
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        tricks = ["victim%elsewhere.test@example.com", "elsewhere.test!victim@example.com",
                  '"victim@elsewhere.test"@example.com', "@example.com:victim@elsewhere.test",
                  "victim@elsewhere.test@example.com", "victim@[192.0.2.1]"]
        for trick in tricks:
            reply = client.command(f"RCPT TO:<{trick}>")
            self.assertGreaterEqual(reply.code, 500, f"RCPT TO:<{trick}> got {reply}")
        self.assertReply(client.command("DATA"), 554, "5.5.1 Error: no valid recipients")
        self.settle(relayguard, sink)
        self.assertEqual(sink.rcpt_commands(), [])

    def test_untrusted_client_may_not_use_local_sender(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        reply = client.command("MAIL FROM:<boss@example.com>")
        self.assertReply(reply, 553, "5.7.1 <boss@example.com>: Sender address rejected")
        self.settle(relayguard, sink)
        self.assertFalse(any("boss@example.com" in text for _, text in sink.commands), sink.commands)

    def test_greeting_and_ehlo_are_relayguards_own(self):
        sink = self.start_sink(banner="220 legacy.internal ESMTP Sendmail 8.9.3; leaky banner")
        relayguard = self.start_relayguard(sink, limits={"max-message-size": "1M"})
        client = self.connect(relayguard)
        greeting = client.read_reply()
        self.assertEqual(greeting.code, 220)
        self.assertTrue(greeting.lines[0].startswith(f"{h.RELAYGUARD_HOSTNAME} ESMTP"), str(greeting))
        ehlo = client.ehlo()
        self.assertEqual(ehlo.code, 250)
        self.assertTrue(ehlo.lines[0].startswith(h.RELAYGUARD_HOSTNAME), str(ehlo))
        keywords = {line.split(" ")[0].upper(): line for line in ehlo.lines[1:]}
        for keyword in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"):
            self.assertIn(keyword, keywords, str(ehlo))
        self.assertEqual(keywords.get("SIZE"), "SIZE 1048576", str(ehlo))
        for keyword in ("CHUNKING", "BDAT", "XCLIENT", "XFORWARD", "SMTPUTF8"):
            self.assertNotIn(keyword, keywords, str(ehlo))
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        self.assertReply(client.command("QUIT"), 221)
        self.assertNotIn("legacy.internal", str(greeting) + str(ehlo))
        self.assertEqual(sink.connection_count, 1)

    def test_upstream_introduced_under_relayguard_hostname(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard, helo="client-name.test")
        self.assertReply(self.deliver(client, h.crlf_message("Subject: hello", "", "text")), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.helo, h.RELAYGUARD_HOSTNAME)
        self.assertEqual(sink.verbs()[0], "EHLO")

    def test_reply_to_final_dot_is_the_upstreams_own(self):
        sink = self.start_sink(replies={"DOT": "250 2.0.0 Ok: queued as 4VfX9w0ZQk"})
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        reply = self.deliver(client, h.crlf_message("Subject: x", "", "y"))
        self.assertEqual(reply.line, "250 2.0.0 Ok: queued as 4VfX9w0ZQk")

    def test_body_arrives_exactly_as_sent(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        body = (b"From: a@outside.test\r\nSubject: dots and bytes\r\n\r\n..one dot\r\n...two dots\r\n..\r\n"
                b"\xc3\xa4 8-bit line\tand tab\r\n" + b"x" * 998 + b"\r\n\r\nlast line\r\n")
        self.assertReply(self.deliver(client, body), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, body)

    def test_empty_body_delivered(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, b""), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"")

    def test_second_transaction_reuses_upstream_connection(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, b"first\r\n"), 250)
        self.assertReply(self.deliver(client, b"second\r\n", rcpts=("other@example.com",)), 250)
        self.assertReply(client.command("QUIT"), 221)
        first, second = sink.wait_for_transactions(2)
        self.assertEqual((first.body, second.body), (b"first\r\n", b"second\r\n"))
        self.assertEqual(second.rcpt_tos, ["other@example.com"])
        self.assertEqual(sink.connection_count, 1)

    def test_upstream_reply_to_rcpt_reaches_client(self):
        refusal = f"550 5.1.1 <{h.LOCAL_RECIPIENT}>: Recipient address rejected: User unknown"
        sink = self.start_sink(replies={"RCPT": refusal})
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertEqual(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>").line, refusal)

    def test_multiline_upstream_reply_rebuilt(self):
        sink = self.start_sink(replies={"MAIL": ["250-2.1.0 first line", "250-second line", "250 2.1.0 Ok"]})
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        reply = client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>")
        self.assertEqual(reply.code, 250)
        self.assertEqual(reply.lines, ["2.1.0 first line", "second line", "2.1.0 Ok"])

    def test_xclient_tells_upstream_the_real_client(self):
        sink = self.start_sink(xclient=True)
        relayguard = self.start_relayguard(sink, upstream_options={"xclient": "on"})
        client = self.greeted(relayguard, helo="client-name.test")
        self.assertReply(self.deliver(client, b"x\r\n"), 250)
        [transaction] = sink.wait_for_transactions(1)
        # The sink files the XCLIENT attributes in force at MAIL with the transaction.
        self.assertEqual(transaction.xclient.get("ADDR"), h.UNTRUSTED_CLIENT, sink.commands)
        self.assertNotIn("\r", "".join(text for _, text in sink.commands))

    def test_xclient_not_sent_when_upstream_does_not_offer_it(self):
        sink = self.start_sink(xclient=False)
        relayguard = self.start_relayguard(sink, upstream_options={"xclient": "on"})
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, b"x\r\n"), 250)
        sink.wait_for_transactions(1)
        self.assertNotIn("XCLIENT", sink.verbs())


class PostfixSmtpSinkTests(h.IntegrationTestCase):
    """The same checks with Postfix's own smtp-sink as the open relay behind relayguard."""

    def test_local_delivered_and_relay_denied_through_smtp_sink(self):
        sink = self.start_postfix_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, to=h.LOCAL_RECIPIENT)
        self.assertEqual(status, 0, output)
        status, output = self.swaks(relayguard, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 24, output)
        self.assertIn(f"<** {DENIED}", output)
        self.settle(relayguard)
        dumps = h.wait_until(sink.dumps, 5, "smtp-sink to write its dump")
        self.assertEqual(len(dumps), 1, dumps)
        self.assertRegex(dumps[0].decode(errors="replace"), rf"(?m)^X-Rcpt-Args: <{re.escape(h.LOCAL_RECIPIENT)}>")
        self.assertNotIn(h.REMOTE_RECIPIENT.encode(), dumps[0])

    def test_trusted_client_relays_through_smtp_sink(self):
        sink = self.start_postfix_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, source=h.TRUSTED_CLIENT, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 0, output)
        dumps = h.wait_until(sink.dumps, 5, "smtp-sink to write its dump")
        self.assertRegex(dumps[0].decode(errors="replace"), rf"(?m)^X-Rcpt-Args: <{re.escape(h.REMOTE_RECIPIENT)}>")


class Smtputf8DowngradeTests(h.IntegrationTestCase):
    """relayguard offers SMTPUTF8 at EHLO when the upstream last offered it. When the server answering a
    new connection no longer does (a restart, a reload, a failover), an address that needs SMTPUTF8 gets
    553 5.6.7 and is never sent to it; the session goes on with ASCII addresses."""

    UTF8_SENDER = "s\u00e9nder@outside.test"
    UTF8_RECIPIENT = "\u00fcser@" + h.LOCAL_DOMAIN

    def learn_smtputf8(self, relayguard, sink):
        """A first session's MAIL opens an upstream connection that offers SMTPUTF8: relayguard notes it."""
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250, message="MAIL")
        self.assertReply(client.command("QUIT"), 221, message="QUIT")
        client.close()
        sink.wait_for_closed(1)

    def session_offering_smtputf8(self, upstream_still_offers):
        """A session whose EHLO offers SMTPUTF8 because the upstream did, to which the upstream (still, or
        no longer) offers it on the session's own connection."""
        sink = self.start_sink(smtputf8=True)
        relayguard = self.start_relayguard(sink)
        self.learn_smtputf8(relayguard, sink)
        sink.smtputf8 = upstream_still_offers
        client = self.connect(relayguard)
        self.assertEqual(client.read_reply().code, 220)
        ehlo = client.ehlo()
        self.assertIn("SMTPUTF8", ehlo.lines, "relayguard should offer what the upstream offered last")
        return sink, relayguard, client

    def non_ascii_commands(self, sink):
        return [text for _, text in sink.commands if any(ord(c) > 127 for c in text)]

    def test_a_utf8_sender_is_refused_when_the_upstream_stopped_offering_smtputf8(self):
        sink, relayguard, client = self.session_offering_smtputf8(upstream_still_offers=False)
        self.assertReply(client.command(f"MAIL FROM:<{self.UTF8_SENDER}> SMTPUTF8"), 553, "5.6.7 ")
        relayguard.wait_for_log(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.2\]: 553 5\.6\.7 Non-ASCII address")
        # The session is not spoilt: an ASCII transaction on the same (already open) upstream link.
        self.assertEqual(self.deliver(client, h.crlf_message("Subject: ascii", "", "body")).code, 250)
        self.settle(relayguard, sink)
        self.assertEqual(self.non_ascii_commands(sink), [])
        [transaction] = sink.transactions
        self.assertEqual(transaction.mail_from, h.OUTSIDE_SENDER)

    def test_a_utf8_recipient_is_refused_when_the_upstream_does_not_offer_smtputf8(self):
        sink, relayguard, client = self.session_offering_smtputf8(upstream_still_offers=False)
        # An ASCII sender with SMTPUTF8 goes on, without the parameter the upstream did not offer.
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}> SMTPUTF8"), 250, message="MAIL")
        self.assertReply(client.command(f"RCPT TO:<{self.UTF8_RECIPIENT}>"), 553, "5.6.7 ")
        relayguard.wait_for_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 553 5\.6\.7 .* to=<")
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250, message="ASCII RCPT")
        self.assertReply(client.command("DATA"), 354)
        client.send(h.crlf_message("Subject: t", "", "body") + b".\r\n")
        self.assertEqual(client.read_reply().code, 250)
        self.settle(relayguard, sink)
        self.assertEqual(self.non_ascii_commands(sink), [])
        self.assertNotIn("SMTPUTF8", " ".join(text for _, text in sink.commands))
        self.assertEqual(sink.transactions[-1].rcpt_tos, [h.LOCAL_RECIPIENT])

    def test_utf8_addresses_go_through_while_the_upstream_offers_smtputf8(self):
        sink, relayguard, client = self.session_offering_smtputf8(upstream_still_offers=True)
        self.assertReply(client.command(f"MAIL FROM:<{self.UTF8_SENDER}> SMTPUTF8"), 250, message="MAIL")
        self.assertReply(client.command(f"RCPT TO:<{self.UTF8_RECIPIENT}>"), 250, message="RCPT")
        self.assertReply(client.command("DATA"), 354)
        client.send(h.crlf_message("Subject: t", "", "body") + b".\r\n")
        self.assertEqual(client.read_reply().code, 250)
        self.settle(relayguard, sink)
        self.assertIn(f"MAIL FROM:<{self.UTF8_SENDER}> SMTPUTF8", [text for _, text in sink.commands])
        self.assertIn(f"RCPT TO:<{self.UTF8_RECIPIENT}>", [text for _, text in sink.commands])


if __name__ == "__main__":
    unittest.main()
