"""Pipelining (RFC 2920): groups sent in one write are answered in order, a denied RCPT inside a group
disturbs nothing, no buffered input is lost, and a client that talks before the greeting is refused."""

import unittest

if __package__:
    from . import harness as h
else:
    import harness as h


class PipeliningTests(h.IntegrationTestCase):
    def test_group_with_denied_rcpt_answered_in_order(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        client.send(f"MAIL FROM:<{h.OUTSIDE_SENDER}>\r\nRCPT TO:<{h.REMOTE_RECIPIENT}>\r\n"
                    f"RCPT TO:<{h.LOCAL_RECIPIENT}>\r\nDATA\r\n")
        replies = client.read_replies(4)
        self.assertEqual([reply.code for reply in replies], [250, 554, 250, 354], [str(r) for r in replies])
        self.assertEqual(replies[1].line, f"554 5.7.1 <{h.REMOTE_RECIPIENT}>: Relay access denied")
        client.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        self.assertReply(client.read_reply(), 250)
        self.assertReply(client.read_reply(), 221)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])
        self.assertEqual(transaction.body, b"Subject: pipelined\r\n\r\nbody\r\n")
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT))

    def test_long_group_with_rset_answered_in_order(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        group = ["RSET", "MAIL FROM:<a@outside.test>", "RCPT TO:<x@elsewhere.test>", "RCPT TO:<one@example.com>",
                 "RCPT TO:<y@elsewhere.test>", "RSET", "MAIL FROM:<b@outside.test>", "RCPT TO:<two@example.com>",
                 "RCPT TO:<z@elsewhere.test>", "DATA"]
        client.send("".join(command + "\r\n" for command in group))
        codes = [reply.code for reply in client.read_replies(len(group))]
        self.assertEqual(codes, [250, 250, 554, 250, 554, 250, 250, 250, 554, 354])
        client.send(b"x\r\n.\r\n")
        self.assertReply(client.read_reply(), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual((transaction.mail_from, transaction.rcpt_tos), ("b@outside.test", ["two@example.com"]))

    def test_next_transaction_pipelined_after_final_dot(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(b"first\r\n.\r\nMAIL FROM:<b@outside.test>\r\nRCPT TO:<two@example.com>\r\nDATA\r\n")
        self.assertEqual([reply.code for reply in client.read_replies(4)], [250, 250, 250, 354])
        client.send(b"second\r\n.\r\nQUIT\r\n")
        self.assertEqual([reply.code for reply in client.read_replies(2)], [250, 221])
        first, second = sink.wait_for_transactions(2)
        self.assertEqual((first.body, first.rcpt_tos), (b"first\r\n", [h.LOCAL_RECIPIENT]))
        self.assertEqual((second.body, second.rcpt_tos), (b"second\r\n", ["two@example.com"]))

    def test_group_ending_in_noop(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        client.send(f"MAIL FROM:<{h.OUTSIDE_SENDER}>\r\nRCPT TO:<{h.LOCAL_RECIPIENT}>\r\nNOOP\r\n")
        self.assertEqual([reply.code for reply in client.read_replies(3)], [250, 250, 250])

    def test_swaks_pipelining(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        status, output = self.swaks(relayguard, "--pipeline", to=f"{h.REMOTE_RECIPIENT},{h.LOCAL_RECIPIENT}")
        self.assertEqual(status, 0, output)
        self.assertIn(f"<** 554 5.7.1 <{h.REMOTE_RECIPIENT}>: Relay access denied", output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])


class GreetDelayTests(h.IntegrationTestCase):
    def test_client_talking_before_greeting_is_refused(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"greet-delay": "2s"})
        client = self.connect(relayguard, timeout=10)
        client.send(f"EHLO spammer.test\r\nMAIL FROM:<{h.OUTSIDE_SENDER}>\r\nRCPT TO:<{h.LOCAL_RECIPIENT}>\r\n"
                    f"DATA\r\nSubject: too early\r\n\r\nspam\r\n.\r\nQUIT\r\n")
        replies = []
        try:
            while True:
                replies.append(client.read_reply(timeout=8))
        except (h.ConnectionClosed, h.ReplyTimeout):
            pass
        shown = [str(reply) for reply in replies]
        self.assertTrue(any(500 <= reply.code < 600 for reply in replies), f"no 5xx among {shown}")
        self.assertNotIn(354, [reply.code for reply in replies], shown)
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])
        self.assertEqual(sink.rcpt_commands(), [])

    def test_patient_client_served_after_greet_delay(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"greet-delay": "1s"})
        client = self.connect(relayguard, timeout=10)
        greeting = client.read_reply()
        self.assertReply(greeting, 220)
        self.assertReply(client.ehlo(), 250)
        self.assertReply(self.deliver(client, b"patient\r\n"), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"patient\r\n")


if __name__ == "__main__":
    unittest.main()
