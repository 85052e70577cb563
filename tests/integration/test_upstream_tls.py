"""TLS towards the upstream (<upstream tls="starttls|required" ca="...">): relayguard asks the server behind
it for STARTTLS, starts over with EHLO after the handshake, verifies the certificate when given a CA,
refuses clear text that follows the server's 220 (CVE-2011-0411 from the server's side), and fails the
transaction with a temporary 451 whenever "required" cannot be met — never passing mail in clear text
that the operator asked to encrypt. The upstream is a RecordingSink that speaks STARTTLS with Python's
ssl module and records which TLS version each message came over."""

import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

SINK_NAME = "sink.test"


class UpstreamTlsTestCase(h.IntegrationTestCase):
    def tls_sink(self, **options):
        certificate, key = h.self_signed_certificate(self.workdir / "sink-tls", hostname=SINK_NAME)
        return self.start_sink(tls=(certificate, key), **options), certificate

    def upstream_guard(self, sink, **upstream_options):
        return self.start_relayguard(sink, upstream_options=upstream_options)

    def send_one(self, relayguard, body=b"Subject: over TLS\r\n\r\nhello\r\n"):
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        return client, self.deliver(client, body, rcpts=(h.REMOTE_RECIPIENT,))

    def assert_refused_temporarily(self, relayguard, sink):
        """MAIL is answered 451 4.7.5 and nothing of the envelope reached the sink."""
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 451, "4.7.5", message="MAIL")
        self.assertNotIn("MAIL", sink.verbs())
        self.assertEqual(sink.transactions, [])
        return client

    def verbs_of_connection(self, sink, number):
        return [text.split(" ", 1)[0].upper() for connection, text in sink.commands if connection == number]


class UpstreamStartTlsTests(UpstreamTlsTestCase):
    def test_starttls_encrypts_the_message_and_starts_over_with_ehlo(self):
        sink, _ = self.tls_sink()
        relayguard = self.upstream_guard(sink, tls="starttls")
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        [transaction] = sink.wait_for_transactions(1)
        self.assertIn(transaction.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        self.assertEqual(transaction.body, b"Subject: over TLS\r\n\r\nhello\r\n")
        self.assertEqual(self.verbs_of_connection(sink, 1)[:4], ["EHLO", "STARTTLS", "EHLO", "MAIL"])
        relayguard.wait_for_log(r"upstream TLS established: TLSv1\.[23] ")

    def test_required_delivers_over_tls(self):
        sink, _ = self.tls_sink()
        relayguard = self.upstream_guard(sink, tls="required")
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        self.assertIsNotNone(sink.wait_for_transactions(1)[0].tls)

    def test_large_message_crosses_many_tls_records_intact(self):
        sink, _ = self.tls_sink()
        relayguard = self.upstream_guard(sink, tls="required")
        line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
        body = b"Subject: big\r\n\r\n" + line * 12000  # about 880 KB: dozens of 16 KiB records
        _, reply = self.send_one(relayguard, body)
        self.assertReply(reply, 250, message="final dot")
        self.assertEqual(sink.wait_for_transactions(1)[0].body, body)

    def test_connection_is_reused_for_a_second_message_over_tls(self):
        sink, _ = self.tls_sink()
        relayguard = self.upstream_guard(sink, tls="required")
        client, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="first message")
        self.assertReply(self.deliver(client, b"second\r\n", rcpts=(h.LOCAL_RECIPIENT,)), 250, message="second")
        transactions = sink.wait_for_transactions(2)
        self.assertEqual(sink.connection_count, 1)
        self.assertEqual(sink.handshakes, 1)
        self.assertTrue(all(transaction.tls for transaction in transactions))

    def test_xclient_follows_the_handshake(self):
        sink, _ = self.tls_sink(xclient=True)
        relayguard = self.upstream_guard(sink, tls="required", xclient="on")
        client = self.greeted(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"via xclient\r\n"), 250, message="final dot")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.xclient.get("ADDR"), h.UNTRUSTED_CLIENT)
        self.assertIsNotNone(transaction.tls)
        self.assertEqual(self.verbs_of_connection(sink, 1)[:5], ["EHLO", "STARTTLS", "EHLO", "XCLIENT", "EHLO"])


class UpstreamTlsFailureTests(UpstreamTlsTestCase):
    def test_required_without_starttls_offered_is_a_temporary_failure(self):
        sink = self.start_sink()  # no STARTTLS in its EHLO
        relayguard = self.upstream_guard(sink, tls="required")
        self.assert_refused_temporarily(relayguard, sink)
        relayguard.wait_for_log(r"upstream .* TLS failed \(STARTTLS not offered")

    def test_starttls_without_offer_continues_in_clear_text(self):
        sink = self.start_sink()
        relayguard = self.upstream_guard(sink, tls="starttls")
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        self.assertIsNone(sink.wait_for_transactions(1)[0].tls)
        relayguard.wait_for_log(r"warning: upstream TLS not used: STARTTLS not offered")

    def test_required_and_starttls_refused_is_a_temporary_failure(self):
        sink, _ = self.tls_sink(starttls="refuse")
        relayguard = self.upstream_guard(sink, tls="required")
        self.assert_refused_temporarily(relayguard, sink)

    def test_starttls_refused_continues_in_clear_text(self):
        sink, _ = self.tls_sink(starttls="refuse")
        relayguard = self.upstream_guard(sink, tls="starttls")
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        self.assertIsNone(sink.wait_for_transactions(1)[0].tls)

    def test_clear_text_after_the_220_is_refused(self):
        sink, _ = self.tls_sink(starttls="inject")
        relayguard = self.upstream_guard(sink, tls="starttls")
        self.assert_refused_temporarily(relayguard, sink)
        relayguard.wait_for_log(r"clear text after the 220 to STARTTLS")

    def test_failed_handshake_without_ca_reconnects_in_clear_text_once(self):
        sink, _ = self.tls_sink(starttls="garbage")
        relayguard = self.upstream_guard(sink, tls="starttls")
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        [transaction] = sink.wait_for_transactions(1)
        self.assertIsNone(transaction.tls)
        self.assertEqual(transaction.connection, 2)
        self.assertNotIn("STARTTLS", self.verbs_of_connection(sink, 2))
        relayguard.wait_for_log(r"TLS handshake failed: .*; reconnecting in clear text")

    def test_failed_handshake_with_required_is_a_temporary_failure(self):
        sink, _ = self.tls_sink(starttls="garbage")
        relayguard = self.upstream_guard(sink, tls="required")
        self.assert_refused_temporarily(relayguard, sink)
        self.assertEqual(sink.connection_count, 1)


class HostileTlsUpstreamTests(UpstreamTlsTestCase):
    """An upstream that misbehaves inside TLS must never shift the client's replies: each command gets
    exactly one answer, and nothing arrives that the client did not ask for."""

    def assert_one_reply_per_command(self, sink):
        client = self.greeted(self.relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250, message="MAIL")
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250, message="RCPT")
        self.assertTrue(client.nothing_within(0.5), "a reply the client did not ask for")
        # The link is gone: DATA gets one temporary failure, and the session goes on.
        reply = client.command("DATA")
        self.assertEqual(reply.code // 100, 4, f"DATA: {reply}")
        self.assertTrue(client.nothing_within(0.5), "a second reply to DATA")
        self.assertReply(client.command("NOOP"), 250, message="NOOP")
        self.assertEqual(sink.transactions, [])

    def test_close_notify_right_behind_a_reply(self):
        sink, _ = self.tls_sink(tls_after_reply={"RCPT": "close_notify"})
        self.relayguard = self.upstream_guard(sink, tls="required")
        self.assert_one_reply_per_command(sink)
        # Seen behind the reply, in time for DATA's look at what was read, or when DATA's reply is read.
        self.relayguard.wait_for_log(r"upstream connection dropped: TLS closed by the upstream|"
                                     r"connection lost \(unsolicited data before a command\)|"
                                     r"connection lost \(TLS closed by the upstream\)")

    def test_unsolicited_reply_in_its_own_record(self):
        sink, _ = self.tls_sink(tls_after_reply={"RCPT": "extra"})
        self.relayguard = self.upstream_guard(sink, tls="required")
        self.assert_one_reply_per_command(sink)
        # Where it is seen depends on when its record arrives: behind the reply, in time for DATA's
        # look at what was read, or as DATA's "answer" (a 250, no answer to DATA).
        self.relayguard.wait_for_log(r"upstream connection dropped: unsolicited data after a reply|"
                                     r"connection lost \(unsolicited data before a command\)|"
                                     r"invalid reply \(unexpected reply to DATA\)")


class UpstreamCertificateTests(UpstreamTlsTestCase):
    def test_certificate_signed_by_the_configured_ca_is_accepted(self):
        sink, certificate = self.tls_sink()
        # A self-signed certificate is its own CA; the upstream is an address, so only the chain counts.
        relayguard = self.upstream_guard(sink, tls="required", ca=certificate)
        _, reply = self.send_one(relayguard)
        self.assertReply(reply, 250, message="final dot")
        self.assertIsNotNone(sink.wait_for_transactions(1)[0].tls)

    def test_certificate_from_another_ca_is_refused_without_falling_back_to_clear_text(self):
        sink, _ = self.tls_sink()
        other_ca, _ = h.self_signed_certificate(self.workdir / "other-ca", hostname="other.test")
        relayguard = self.upstream_guard(sink, tls="starttls", ca=other_ca)
        self.assert_refused_temporarily(relayguard, sink)
        self.assertEqual(sink.connection_count, 1)
        relayguard.wait_for_log(r"TLS failed \(TLS handshake failed: .*")

    def test_unreadable_ca_file_stops_the_start_with_its_name(self):
        sink, _ = self.tls_sink()
        missing = self.workdir / "no-such-ca.pem"
        relayguard = h.Relayguard(self.workdir / "rg-bad", sink.address, transcript=self.transcript,
                                  upstream_options={"tls": "required", "ca": missing})
        relayguard.workdir.mkdir()
        with self.assertRaises(h.RelayguardFailed):
            relayguard.start(attempts=1)
        self.assertNotEqual(relayguard.exit_code, 0)
        self.assertIn(str(missing), relayguard.stderr())
        self.assertIn("not starting", relayguard.stderr())


if __name__ == "__main__":
    unittest.main()
