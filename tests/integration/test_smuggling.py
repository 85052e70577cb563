"""SMTP smuggling (CVE-2023-51764/5/6): every end-of-data look-alike from ../shared/SMTP-NOTES.md (and a few
more), sent by an untrusted client to a local recipient, with a forged second envelope behind it.

The upstream is a *vulnerable* sink: it also ends DATA at bare-newline dot lines and ignores NULs before
the dot, as the servers of those CVEs did. So if relayguard let any look-alike through, the forged
envelope would show up there as a second transaction. In both <data bare-newline> modes the sink must get
at most one message per DATA, with no bare CR or LF and no forged envelope; in "reject" mode a message with
a bare CR or LF is refused with 550 5.5.2 and the sink gets nothing."""

import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

SPOOFED_SENDER = "spoof@outside.test"
FORGED = (f"MAIL FROM:<{SPOOFED_SENDER}>\r\nRCPT TO:<{h.REMOTE_RECIPIENT}>\r\nDATA\r\n"
          "Subject: smuggled\r\n\r\nforged\r\n").encode()
BEFORE = b"From: sender@outside.test\r\nSubject: smuggling test\r\n\r\nbefore"

# name: (octets before the forged envelope, octets that start the body)
VARIANTS = {
    # The scanners' list (SMTP-NOTES.md).
    "lf_dot_lf": b"\n.\n",
    "lf_dot_cr": b"\n.\r",
    "cr_dot_lf": b"\r.\n",
    "cr_dot_cr": b"\r.\r",
    "lf_dot_crlf": b"\n.\r\n",
    "cr_dot_crlf": b"\r.\r\n",
    "crlf_nul_dot_crlf": b"\r\n\x00.\r\n",
    "crlf_dot_cr_crlf": b"\r\n.\r\r\n",
    "cr_crlf_dot_cr_crlf": b"\r\r\n.\r\r\n",
    "crlf_dot_lf": b"\r\n.\n",
    "crlf_dot_cr": b"\r\n.\r",
    # More: a NUL after the dot, NULs with bare LFs, and a look-alike as the very first body line.
    "crlf_dot_nul_crlf": b"\r\n.\x00\r\n",
    "lf_nul_dot_lf": b"\n\x00.\n",
    "crlf_nul_dot_nul_lf": b"\r\n\x00.\x00\n",
}
FIRST_LINE_VARIANT = b".\n"


def payload(variant):
    if variant == "dot_lf_first_line":
        return FIRST_LINE_VARIANT + FORGED + b".\r\n"
    return BEFORE + VARIANTS[variant] + FORGED + b".\r\n"


class SmugglingChecks:
    """The checks, run by one class per <data bare-newline> mode."""

    mode = None

    def check(self, variant):
        data = payload(variant)
        sink = self.start_sink(vulnerable=True)
        relayguard = self.start_relayguard(sink, bare_newline=self.mode)
        client = self.greeted(relayguard, source=h.UNTRUSTED_CLIENT)
        self.open_data(client, sender=h.OUTSIDE_SENDER, rcpts=(h.LOCAL_RECIPIENT,))
        client.send(data)
        reply = client.read_reply(timeout=10)
        client.send(b"QUIT\r\n")
        try:
            after = client.read_until_closed(timeout=10)
        except h.ReplyTimeout:
            after = None
        self.settle(relayguard, sink)

        for transaction in sink.transactions:
            self.assertNoBareNewlines(transaction.body, "a message the upstream received")
        self.assertFalse(any(t.mail_from == SPOOFED_SENDER for t in sink.transactions), sink.transactions)
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT), sink.commands)
        self.assertLessEqual(len(sink.transactions), 1, sink.transactions)

        refuse = self.mode == "reject" and h.bare_newlines(data)
        if refuse:
            self.assertReply(reply, 550, "5.5.2")
            self.assertRegex(reply.text, r"5\.5\.2 Error: bare <(LF|CR)> received")
            self.assertEqual(sink.transactions, [])
        else:
            self.assertReply(reply, 250, message="the reply to the final dot")
            [transaction] = sink.transactions
            self.assertEqual((transaction.mail_from, transaction.rcpt_tos), (h.OUTSIDE_SENDER, [h.LOCAL_RECIPIENT]))
            # The forged envelope stayed what it was: text inside the one message.
            self.assertIn(b"RCPT TO:<victim@elsewhere.test>\r\n", transaction.body)
            self.assertTrue(transaction.body.endswith(b"forged\r\n"), transaction.body)
        # Nothing of the forged envelope was read as commands: the only reply after the message is QUIT's.
        self.assertIsNotNone(after, "relayguard did not close the connection after QUIT")
        self.assertEqual([reply.code for reply in after], [221], f"the replies after the message: {after}")

    def test_lf_dot_lf(self):
        self.check("lf_dot_lf")

    def test_lf_dot_cr(self):
        self.check("lf_dot_cr")

    def test_cr_dot_lf(self):
        self.check("cr_dot_lf")

    def test_cr_dot_cr(self):
        self.check("cr_dot_cr")

    def test_lf_dot_crlf(self):
        self.check("lf_dot_crlf")

    def test_cr_dot_crlf(self):
        self.check("cr_dot_crlf")

    def test_crlf_nul_dot_crlf(self):
        self.check("crlf_nul_dot_crlf")

    def test_crlf_dot_cr_crlf(self):
        self.check("crlf_dot_cr_crlf")

    def test_cr_crlf_dot_cr_crlf(self):
        self.check("cr_crlf_dot_cr_crlf")

    def test_crlf_dot_lf(self):
        self.check("crlf_dot_lf")

    def test_crlf_dot_cr(self):
        self.check("crlf_dot_cr")

    def test_crlf_dot_nul_crlf(self):
        self.check("crlf_dot_nul_crlf")

    def test_lf_nul_dot_lf(self):
        self.check("lf_nul_dot_lf")

    def test_crlf_nul_dot_nul_lf(self):
        self.check("crlf_nul_dot_nul_lf")

    def test_dot_lf_first_line(self):
        self.check("dot_lf_first_line")


class SmugglingRejectTests(SmugglingChecks, h.IntegrationTestCase):
    mode = "reject"


class SmugglingNormalizeTests(SmugglingChecks, h.IntegrationTestCase):
    mode = "normalize"


class SmugglingMiscTests(h.IntegrationTestCase):
    def test_default_mode_rejects_bare_lf(self):
        sink = self.start_sink(vulnerable=True)
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        reply = self.deliver(client, BEFORE + b"\n.\n" + FORGED)
        self.assertReply(reply, 550, "5.5.2")
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])

    def test_look_alikes_split_across_writes(self):
        # The same look-alikes, but each octet in its own write: relayguard's scanner must keep its
        # state across reads.
        sink = self.start_sink(vulnerable=True)
        relayguard = self.start_relayguard(sink, bare_newline="normalize")
        client = self.greeted(relayguard)
        self.open_data(client)
        data = BEFORE + b"\r.\nline\n.\n" + FORGED + b"\r\n\x00.\r\n" + b".\r\n"
        for index in range(len(data)):
            client.send(data[index : index + 1])
        self.assertReply(client.read_reply(timeout=10), 250)
        self.assertReply(client.command("QUIT"), 221)
        self.settle(relayguard, sink)
        [transaction] = sink.transactions
        self.assertNoBareNewlines(transaction.body)
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT))

    def test_bare_newline_message_then_clean_message_in_same_session(self):
        sink = self.start_sink(vulnerable=True)
        relayguard = self.start_relayguard(sink, bare_newline="reject")
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, BEFORE + b"\n.\n" + FORGED), 550, "5.5.2")
        self.assertReply(self.deliver(client, b"clean\r\n"), 250)
        self.settle(relayguard, sink)
        [transaction] = sink.transactions
        self.assertEqual(transaction.body, b"clean\r\n")


if __name__ == "__main__":
    unittest.main()
