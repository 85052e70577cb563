"""Upstream connection reuse (<upstream pool-size>), over the wire: sessions that end cleanly park their
connection (RSET answered 250) and the next session takes it up (NOOP, or XCLIENT for the new client);
a message one client aborted never reaches the upstream through the next client's session; a parked
connection the upstream closed is replaced without the client noticing; pool-max-transactions,
pool-idle-time, prewarm and a reload each do what docs/configuration.md says. Counts, never times: the
waits are bounded polls of the sink and of relayguard's metrics endpoint."""
import re
import socket
import unittest
import urllib.request

try:
    from . import harness as h
except ImportError:
    import harness as h

IDLE_GAUGE = re.compile(r"^relayguard_upstream_pool_idle (\d+)$", re.MULTILINE)
REUSES = re.compile(r"^relayguard_upstream_reuses_total (\d+)$", re.MULTILINE)


class UpstreamPoolTest(h.IntegrationTestCase):
    def start_pooled(self, sink, **pool):
        self.metrics_port = h.free_port()
        options = {"pool-size": 2}
        options.update(pool)
        return self.start_relayguard(sink.address, upstream_options=options,
                                     sections={"metrics": {"listen": f"127.0.0.1:{self.metrics_port}"}})

    def metric(self, pattern):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=h.scaled(5)) as r:
            match = pattern.search(r.read().decode())
        self.assertIsNotNone(match, f"no {pattern.pattern} in the metrics")
        return int(match.group(1))

    def wait_for_parked(self, count):
        h.wait_until(lambda: self.metric(IDLE_GAUGE) == count, h.scaled(5), f"{count} parked connection(s)")

    def one_message(self, relayguard, source=h.UNTRUSTED_CLIENT, helo="client.test", text="hello"):
        client = self.greeted(relayguard, source=source, helo=helo)
        reply = self.deliver(client, h.crlf_message("Subject: pool", "", text))
        self.assertReply(reply, 250, message="final dot")
        self.assertReply(client.command("QUIT"), 221)
        client.close()

    def commands_on(self, sink, connection):
        return [text.split(" ", 1)[0].upper() for number, text in sink.commands if number == connection]

    def test_sessions_one_after_another_share_one_connection(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink)
        for number in range(5):
            self.one_message(relayguard, text=f"message {number}")
            self.wait_for_parked(1)
        self.assertEqual(sink.connection_count, 1)
        transactions = sink.wait_for_transactions(5)
        self.assertEqual([t.connection for t in transactions], [1] * 5)
        self.assertEqual([t.body for t in transactions],
                         [h.crlf_message("Subject: pool", "", f"message {n}") for n in range(5)])
        verbs = self.commands_on(sink, 1)
        self.assertEqual(verbs.count("EHLO"), 1, verbs)
        self.assertEqual(verbs.count("RSET"), 5, verbs)  # each session's end, before it was parked
        self.assertEqual(verbs.count("NOOP"), 4, verbs)  # each reuse's check
        self.assertEqual(self.metric(REUSES), 4)

    def test_a_message_aborted_by_one_client_never_reaches_the_upstream_through_the_next(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink)
        self.one_message(relayguard, text="first")
        self.wait_for_parked(1)
        # The second client vanishes in the middle of its message, on the pooled connection.
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(b"Subject: aborted\r\n\r\nhalf a message that must never be delivered\r\n")
        h.wait_until(lambda: sink.commands and any(t == "DATA" for _, t in sink.commands), h.scaled(5), "DATA")
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()
        sink.wait_for_closed(1)  # the connection that carried the half message was closed, not parked
        self.one_message(relayguard, text="third")
        transactions = sink.wait_for_transactions(2)
        self.assertEqual(len(transactions), 2, transactions)
        self.assertTrue(all(b"never be delivered" not in t.body for t in transactions), transactions)
        self.assertEqual([t.connection for t in transactions], [1, 2])
        self.assertEqual(len(sink.aborted), 1)
        self.assertIn(b"never be delivered", sink.aborted[0].body)

    def test_an_envelope_left_by_one_client_is_reset_before_the_next(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command("RCPT TO:<left-behind@example.com>"), 250)
        self.assertReply(client.command("QUIT"), 221)
        client.close()
        self.wait_for_parked(1)
        self.one_message(relayguard, text="second")
        transactions = sink.wait_for_transactions(1)
        self.assertEqual(len(transactions), 1)
        self.assertEqual(transactions[0].rcpt_tos, [h.LOCAL_RECIPIENT])
        self.assertEqual(transactions[0].connection, 1)
        self.assertEqual(sink.connection_count, 1)

    def test_xclient_is_sent_again_for_each_client_on_a_reused_connection(self):
        sink = self.start_sink(xclient=True)
        relayguard = self.start_pooled(sink, xclient="on")
        self.one_message(relayguard, source="127.0.0.2", helo="first.test")
        self.wait_for_parked(1)
        self.one_message(relayguard, source="127.0.0.3", helo="second.test")
        transactions = sink.wait_for_transactions(2)
        self.assertEqual([t.connection for t in transactions], [1, 1])
        self.assertEqual([t.xclient.get("ADDR") for t in transactions], ["127.0.0.2", "127.0.0.3"])
        self.assertEqual([t.xclient.get("HELO") for t in transactions], ["first.test", "second.test"])
        self.assertEqual(self.commands_on(sink, 1).count("NOOP"), 0)  # XCLIENT's 220 is the check

    def test_a_parked_connection_the_upstream_closed_is_replaced_unnoticed(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink)
        self.one_message(relayguard, text="first")
        self.wait_for_parked(1)
        with sink._lock:
            parked = list(sink._connections)
        self.assertEqual(len(parked), 1)
        parked[0].shutdown(socket.SHUT_RDWR)  # the upstream hangs up on the idle connection
        sink.wait_for_closed(1)
        self.one_message(relayguard, text="second")  # asserts the 250: the client noticed nothing
        transactions = sink.wait_for_transactions(2)
        self.assertEqual([t.connection for t in transactions], [1, 2])
        self.assertEqual(self.metric(REUSES), 0)

    def test_pool_max_transactions_retires_a_connection(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink, **{"pool-max-transactions": 2})
        for number in range(3):
            self.one_message(relayguard, text=f"message {number}")
            if number == 0:
                self.wait_for_parked(1)
        transactions = sink.wait_for_transactions(3)
        self.assertEqual([t.connection for t in transactions], [1, 1, 2])
        sink.wait_for_closed(1)
        self.assertIn("QUIT", self.commands_on(sink, 1))

    def test_pool_idle_time_closes_a_parked_connection_with_quit(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink, **{"pool-idle-time": "300ms"})
        self.one_message(relayguard)
        sink.wait_for_closed(1, timeout=h.scaled(10))
        self.assertEqual(self.commands_on(sink, 1)[-2:], ["RSET", "QUIT"])
        self.assertEqual(self.metric(IDLE_GAUGE), 0)

    def test_prewarm_opens_a_connection_before_any_client_and_a_reload_replaces_it(self):
        sink = self.start_sink()
        relayguard = self.start_pooled(sink, prewarm=1)
        self.wait_for_parked(1)
        self.assertEqual(sink.connection_count, 1)
        self.assertEqual(self.commands_on(sink, 1), ["EHLO"])  # greeted and introduced, no client yet
        self.one_message(relayguard, text="first")
        transactions = sink.wait_for_transactions(1)
        self.assertEqual(transactions[0].connection, 1)
        # Taking the prewarmed connection opened another; the session's own came back beside it.
        self.wait_for_parked(2)
        self.assertEqual(sink.connection_count, 2)
        # A reload: the parked connections belong to the old configuration. They get QUIT, and one new
        # connection is prewarmed for the new configuration.
        relayguard.reload()
        sink.wait_for_closed(2)
        self.wait_for_parked(1)
        self.assertIn("QUIT", self.commands_on(sink, 1))
        self.assertIn("QUIT", self.commands_on(sink, 2))
        self.assertEqual(sink.connection_count, 3)
        self.one_message(relayguard, text="after the reload")
        transactions = sink.wait_for_transactions(2)
        self.assertEqual(transactions[1].connection, 3)

    def test_without_a_pool_each_session_opens_its_own_connection(self):
        sink = self.start_sink()
        self.metrics_port = h.free_port()
        relayguard = self.start_relayguard(sink.address,
                                           sections={"metrics": {"listen": f"127.0.0.1:{self.metrics_port}"}})
        for number in range(2):
            self.one_message(relayguard, text=f"message {number}")
        transactions = sink.wait_for_transactions(2)
        self.assertEqual([t.connection for t in transactions], [1, 2])
        self.assertNotIn("RSET", [verb for _, verb in ((n, t.split(" ")[0].upper()) for n, t in sink.commands)])


if __name__ == "__main__":
    unittest.main()
