"""The harness checked against itself and against the real tools, without relayguard: if these fail, the
other integration tests' verdicts mean nothing."""

import re
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h


class HarnessTests(h.IntegrationTestCase):
    def deliver(self, client, body, rcpts=(h.LOCAL_RECIPIENT,)):
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        for rcpt in rcpts:
            self.assertReply(client.command(f"RCPT TO:<{rcpt}>"), 250)
        self.assertReply(client.command("DATA"), 354)
        client.send(body)
        return client.read_reply()

    def test_sink_records_envelope_and_raw_body(self):
        sink = self.start_sink()
        client = self.connect(sink, source=h.UNTRUSTED_CLIENT)
        self.assertReply(client.read_reply(), 220)
        ehlo = client.ehlo("client.test")
        self.assertReply(ehlo, 250)
        for keyword in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"):
            self.assertIn(keyword, ehlo.lines)
        self.assertTrue(any(line.startswith("SIZE") for line in ehlo.lines))
        body = b"Subject: t\r\n\r\n..leading dot\r\nlast\r\n"
        reply = self.deliver(client, body + b".\r\n", rcpts=(h.LOCAL_RECIPIENT, "second@example.com"))
        self.assertReply(reply, 250, "2.0.0 Ok: queued as SINK0001")
        self.assertReply(client.command("QUIT"), 221)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.helo, "client.test")
        self.assertEqual(transaction.mail_from, h.OUTSIDE_SENDER)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT, "second@example.com"])
        self.assertEqual(transaction.body, body)
        self.assertEqual(h.unstuff(transaction.body), b"Subject: t\r\n\r\n.leading dot\r\nlast\r\n")
        self.assertTrue(sink.saw_recipient("SECOND@example.com"))
        self.assertTrue(client.is_closed())

    def test_sink_reads_pipelined_commands_and_split_data(self):
        sink = self.start_sink()
        client = self.connect(sink)
        client.read_reply()
        client.send(b"EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n")
        self.assertEqual([reply.code for reply in client.read_replies(4)], [250, 250, 250, 354])
        client.send(b"line one\r")
        self.assertTrue(client.nothing_within(0.2))
        client.send(b"\n.")
        self.assertTrue(client.nothing_within(0.2))
        client.send(b"\r\nQUIT\r\n")
        self.assertEqual([reply.code for reply in client.read_replies(2)], [250, 221])
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"line one\r\n")
        self.assertEqual(transaction.mail_from, "")

    def test_strict_sink_keeps_smuggled_text_in_one_message(self):
        sink = self.start_sink()
        client = self.connect(sink)
        client.read_reply()
        client.ehlo()
        body = b"hello\n.\nMAIL FROM:<evil@outside.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nDATA\r\nx\r\n.\r\n"
        self.assertReply(self.deliver(client, body), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, body[:-3])
        self.assertEqual(h.bare_newlines(transaction.body), [5, 7])

    def test_vulnerable_sink_falls_for_smuggling(self):
        # The detector the smuggling tests rely on: a bare "\n.\n" passed through ends the first message
        # at this sink, and the forged envelope becomes a second transaction.
        sink = self.start_sink(vulnerable=True)
        client = self.connect(sink)
        client.read_reply()
        client.ehlo()
        body = b"hello\n.\nMAIL FROM:<evil@outside.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nDATA\r\nx\r\n.\r\n"
        self.assertReply(self.deliver(client, body), 250)
        replies = [client.read_reply() for _ in range(4)]
        self.assertEqual([reply.code for reply in replies], [250, 250, 354, 250])
        first, second = sink.wait_for_transactions(2)
        self.assertEqual(first.body, b"hello\n")
        self.assertEqual((second.mail_from, second.rcpt_tos), ("evil@outside.test", ["victim@elsewhere.test"]))

    def test_vulnerable_sink_needs_more_than_a_trailing_cr(self):
        sink = self.start_sink(vulnerable=True)
        client = self.connect(sink)
        client.read_reply()
        client.ehlo()
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        self.assertReply(client.command("RCPT TO:<b@example.com>"), 250)
        self.assertReply(client.command("DATA"), 354)
        client.send(b"text\r\n.\r")
        self.assertTrue(client.nothing_within(0.2))
        client.send(b"\n")
        self.assertReply(client.read_reply(), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"text\r\n")

    def test_client_reads_multiline_replies(self):
        sink = self.start_sink(replies={"NOOP": ["250-first", "250-second", "250 2.0.0 third"]})
        client = self.connect(sink)
        client.read_reply()
        reply = client.command("NOOP")
        self.assertEqual(reply.lines, ["first", "second", "2.0.0 third"])
        self.assertEqual(reply.line, "250 2.0.0 third")
        self.assertEqual(reply.enhanced, None)
        self.assertEqual(client.command("RSET").enhanced, "2.0.0")

    def test_upstream_greeting_421_closes(self):
        upstream = self.start_upstream("greet-421")
        client = self.connect(upstream)
        self.assertReply(client.read_reply(), 421)
        self.assertTrue(client.is_closed())

    def test_upstream_greeting_554_refuses_commands(self):
        upstream = self.start_upstream("greet-554")
        client = self.connect(upstream)
        self.assertReply(client.read_reply(), 554)
        self.assertReply(client.ehlo(), 503)
        self.assertReply(client.command("QUIT"), 221)

    def test_upstream_final_replies(self):
        for mode, code in (("final-451", 451), ("final-554", 554)):
            with self.subTest(mode=mode):
                upstream = self.start_upstream(mode)
                client = self.connect(upstream)
                client.read_reply()
                client.ehlo()
                self.assertReply(self.deliver(client, b"x\r\n.\r\n"), code)
                self.assertEqual(upstream.transactions, [])

    def test_upstream_closes_mid_data(self):
        upstream = self.start_upstream("close-mid-data")
        client = self.connect(upstream)
        client.read_reply()
        client.ehlo()
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        self.assertReply(client.command("RCPT TO:<b@example.com>"), 250)
        self.assertReply(client.command("DATA"), 354)
        client.send(b"first part\r\n")
        self.assertTrue(client.is_closed())
        upstream.wait_for_closed(1)
        self.assertEqual(upstream.transactions, [])
        self.assertEqual(len(upstream.aborted), 1)

    def test_upstream_goes_silent(self):
        upstream = self.start_upstream("silent", silent_after=2)
        client = self.connect(upstream)
        client.read_reply()
        client.ehlo()
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        client.send("RCPT TO:<b@example.com>\r\n")
        self.assertTrue(client.nothing_within(0.3))
        self.assertEqual(upstream.rcpt_commands(), ["RCPT TO:<b@example.com>"])

    def test_upstream_holds_final_reply_until_released(self):
        upstream = self.start_upstream("hold-final")
        client = self.connect(upstream)
        client.read_reply()
        client.ehlo()
        self.assertReply(client.command("MAIL FROM:<a@outside.test>"), 250)
        self.assertReply(client.command("RCPT TO:<b@example.com>"), 250)
        self.assertReply(client.command("DATA"), 354)
        client.send(b"x\r\n.\r\n")
        h.wait_until(upstream.holding.is_set, 5, "the upstream to hold its reply")
        self.assertTrue(client.nothing_within(0.3))
        upstream.release()
        self.assertReply(client.read_reply(), 250, "2.0.0 Ok: queued as UPSTREAM0001")

    def test_ipv6_sink_and_client(self):
        sink = self.start_sink("::1")
        client = self.connect(sink, source="::1")
        self.assertReply(client.read_reply(), 220)
        self.assertEqual(client.local_address, "::1")

    def test_client_source_address_is_used(self):
        sink = self.start_sink()
        client = self.connect(sink, source="127.0.0.3")
        self.assertEqual(client.local_address, "127.0.0.3")

    def test_swaks_delivers_to_sink(self):
        sink = self.start_sink()
        status, output = self.swaks(sink, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 0, output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        self.assertEqual(transaction.helo, "client.test")
        self.assertNoBareNewlines(transaction.body)

    def test_swaks_exit_status_when_upstream_refuses_data(self):
        upstream = self.start_upstream("final-554")
        status, output = self.swaks(upstream)
        self.assertEqual(status, 26, output)
        self.assertIn("<** 554 5.6.0", output)

    def test_nmap_reports_the_sink_as_open_relay(self):
        sink = self.start_sink()
        status, output = self.run_program(
            ["nmap", "-n", "-Pn", "-sT", "-S", h.UNTRUSTED_CLIENT, "-e", "lo", "-p", str(sink.port),
             "--script", "+smtp-open-relay", "--script-args",
             "smtp-open-relay.domain=elsewhere.test,smtp-open-relay.ip=127.0.0.1", "127.0.0.1"])
        self.assertEqual(status, 0, output)
        self.assertRegex(output, r"Server is an open relay \(16/16 tests\)")
        # nmap's script sockets really come from -S: the sink saw MAIL/RCPT from 127.0.0.2's session.
        self.assertGreaterEqual(len(sink.rcpt_commands()), 16)

    def test_postfix_smtp_sink_accepts_and_dumps(self):
        sink = self.start_postfix_sink()
        status, output = self.swaks(sink, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 0, output)
        dumps = h.wait_until(sink.dumps, 5, "smtp-sink to write its dump")
        self.assertRegex(dumps[0].decode(errors="replace"), re.escape(h.REMOTE_RECIPIENT))

    def test_config_xml(self):
        relayguard = h.Relayguard(self.workdir, ("::1", 2526), listen=("::1",), relay_allow=("::1/128",),
                                  clients=("allow", [("deny", "127.0.0.4/32")]), limits={"max-recipients": 2},
                                  upstream_options={"command-timeout": "2s"}, bare_newline="normalize")
        relayguard.listeners = [("::1", 4025)]
        text = relayguard.config_xml()
        self.assertIn('<listen address="::1" port="4025" />', text)
        self.assertIn('<upstream host="::1" port="2526" command-timeout="2s" />', text)
        self.assertIn('<deny network="127.0.0.4/32" />', text)
        self.assertIn('<limits max-recipients="2" />', text)
        self.assertIn('<data bare-newline="normalize" />', text)
        self.assertIn('<allow network="::1/128" />', text)


if __name__ == "__main__":
    unittest.main()
