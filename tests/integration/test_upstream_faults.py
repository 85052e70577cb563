"""Upstream faults never give the client a 250 for the message, and transient ones give a temporary (4xx)
error rather than a permanent one or a hang; a client that vanishes mid-DATA leaves nothing at the sink."""

import socket
import struct
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

# Short upstream timeouts, so a silent upstream costs seconds, not minutes.
UPSTREAM_TIMEOUTS = {"connect-timeout": "2s", "command-timeout": "2s", "data-timeout": "2s"}
BODY = b"Subject: fault injection\r\n\r\nfirst part\r\n"


class UpstreamFaultTests(h.IntegrationTestCase):
    def start_guard(self, upstream):
        return self.start_relayguard(upstream, upstream_options=UPSTREAM_TIMEOUTS)

    def attempt_delivery(self, client, body=BODY, between=None):
        """Tries MAIL, RCPT, DATA, the body and the final dot, one step at a time, stopping at the first
        step that does not succeed. Returns (step, reply); reply is None when the connection closed.
        `between` runs after the first half of the body has been sent."""
        steps = [("MAIL", f"MAIL FROM:<{h.OUTSIDE_SENDER}>", 250), ("RCPT", f"RCPT TO:<{h.LOCAL_RECIPIENT}>", 250),
                 ("DATA", "DATA", 354)]
        try:
            for step, command, success in steps:
                reply = client.command(command, timeout=15)
                if reply.code != success:
                    return step, reply
            half = len(body) // 2
            client.send(body[:half])
            if between:
                between()
            try:
                client.send(body[half:] + b".\r\n")
            except OSError:
                pass  # relayguard may have given up on the session; its reply (if any) is still read
            return "DOT", client.read_reply(timeout=15)
        except (h.ConnectionClosed, BrokenPipeError, ConnectionResetError):
            return "closed", None

    def assertTemporaryFailure(self, outcome, upstream=None):
        step, reply = outcome
        self.assertIsNotNone(reply, f"the connection closed at {step} without a reply")
        self.assertTrue(400 <= reply.code < 500, f"{step} got {reply}; a transient fault must be a 4xx")
        if upstream is not None:
            self.assertEqual(upstream.transactions, [])

    def test_upstream_connection_refused(self):
        relayguard = self.start_guard(("127.0.0.1", h.free_port()))
        client = self.greeted(relayguard)
        self.assertTemporaryFailure(self.attempt_delivery(client))

    def test_upstream_greets_421(self):
        upstream = self.start_upstream("greet-421")
        relayguard = self.start_guard(upstream)
        self.assertTemporaryFailure(self.attempt_delivery(self.greeted(relayguard)), upstream)

    def test_upstream_greets_554(self):
        upstream = self.start_upstream("greet-554")
        relayguard = self.start_guard(upstream)
        self.assertTemporaryFailure(self.attempt_delivery(self.greeted(relayguard)), upstream)

    def test_upstream_never_greets(self):
        upstream = self.start_upstream("no-greeting")
        relayguard = self.start_guard(upstream)
        self.assertTemporaryFailure(self.attempt_delivery(self.greeted(relayguard)), upstream)

    def test_upstream_silent_after_ehlo(self):
        upstream = self.start_upstream("silent", silent_after=1)
        relayguard = self.start_guard(upstream)
        self.assertTemporaryFailure(self.attempt_delivery(self.greeted(relayguard)), upstream)

    def test_upstream_silent_at_rcpt(self):
        upstream = self.start_upstream("silent", silent_after=2)
        relayguard = self.start_guard(upstream)
        outcome = self.attempt_delivery(self.greeted(relayguard))
        self.assertTemporaryFailure(outcome, upstream)

    def test_upstream_silent_at_data(self):
        upstream = self.start_upstream("silent", silent_after=3)
        relayguard = self.start_guard(upstream)
        self.assertTemporaryFailure(self.attempt_delivery(self.greeted(relayguard)), upstream)

    def test_upstream_silent_after_final_dot(self):
        upstream = self.start_upstream("silent", silent_after=4)
        relayguard = self.start_guard(upstream)
        outcome = self.attempt_delivery(self.greeted(relayguard))
        self.assertEqual(outcome[0], "DOT", outcome)
        self.assertTemporaryFailure(outcome)

    def test_upstream_closes_mid_data(self):
        upstream = self.start_upstream("close-mid-data")
        relayguard = self.start_guard(upstream)
        client = self.greeted(relayguard)
        outcome = self.attempt_delivery(client, between=lambda: upstream.wait_for_closed(1))
        self.assertEqual(outcome[0], "DOT", outcome)
        self.assertTemporaryFailure(outcome, upstream)

    def test_upstream_451_to_final_dot(self):
        upstream = self.start_upstream("final-451")
        relayguard = self.start_guard(upstream)
        step, reply = self.attempt_delivery(self.greeted(relayguard))
        self.assertEqual(step, "DOT")
        self.assertEqual(reply.line, "451 4.3.0 Error: queue file write error")

    def test_upstream_554_to_final_dot(self):
        upstream = self.start_upstream("final-554")
        relayguard = self.start_guard(upstream)
        step, reply = self.attempt_delivery(self.greeted(relayguard))
        self.assertEqual(step, "DOT")
        self.assertEqual(reply.line, "554 5.6.0 Error: message content rejected")

    def test_no_250_before_the_upstream_said_it(self):
        upstream = self.start_upstream("hold-final")
        relayguard = self.start_guard(upstream)
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(BODY + b".\r\n")
        h.wait_until(upstream.holding.is_set, 5, "the upstream to receive the final dot")
        self.assertTrue(client.nothing_within(0.5), "relayguard answered the final dot before the upstream did")
        upstream.release()
        self.assertEqual(client.read_reply(timeout=10).line, "250 2.0.0 Ok: queued as UPSTREAM0001")

    def assertMalformedReplyNotRepeated(self, reply_lines, needle):
        upstream = self.start_sink(replies={"MAIL": reply_lines})
        relayguard = self.start_guard(upstream)
        client = self.greeted(relayguard)
        reply = client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>", timeout=15)
        self.assertTrue(400 <= reply.code < 500, f"a malformed upstream reply must become a 4xx, got {reply}")
        self.assertNotIn(needle, reply.raw)

    def test_upstream_reply_with_control_character(self):
        self.assertMalformedReplyNotRepeated("250 2.1.0 Ok \x1b[2J\x1b]0;owned\x07", b"\x1b")

    def test_upstream_reply_line_too_long(self):
        self.assertMalformedReplyNotRepeated("250 2.1.0 " + "L" * 700, b"L" * 600)

    def test_upstream_reply_with_changing_code(self):
        self.assertMalformedReplyNotRepeated(["250-2.1.0 first", "550 5.1.0 second"], b"second")

    def test_upstream_reply_not_smtp(self):
        self.assertMalformedReplyNotRepeated("HTTP/1.1 400 Bad Request", b"HTTP")


class ClientVanishesTests(h.IntegrationTestCase):
    def vanish(self, tail, linger_reset=False):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(BODY + tail)
        if linger_reset:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        # relayguard drops the upstream connection without a final dot, so the sink ends up with nothing.
        sink.wait_for_closed(1, timeout=10)
        self.assertEqual(sink.transactions, [])
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])

    def test_client_disconnects_mid_data(self):
        self.vanish(b"more text without an end")

    def test_client_disconnects_after_partial_end_of_data(self):
        self.vanish(b"\r\n.")

    def test_client_resets_mid_data(self):
        self.vanish(b"more text", linger_reset=True)


if __name__ == "__main__":
    unittest.main()
