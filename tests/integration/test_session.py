"""relayguard speaking for itself: the commands it answers locally, its sequence and syntax errors, its
limits, and its connection ACL. None of this may involve the upstream."""

import re
import time
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h


class CommandTests(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        self.sink = self.start_sink()

    def assertUpstreamUntouched(self, relayguard):
        self.settle(relayguard, self.sink)
        self.assertEqual(self.sink.connection_count, 0, self.sink.commands)

    def test_help_noop_rset_quit(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        self.assertEqual(client.command("HELP").code, 214)
        self.assertReply(client.command("NOOP"), 250, "2.0.0")
        self.assertReply(client.command("RSET"), 250, "2.0.0")
        self.assertReply(client.command("QUIT"), 221, "2.0.0")
        self.assertTrue(client.is_closed())
        self.assertUpstreamUntouched(relayguard)

    def test_rset_forgets_the_transaction(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(client.command("RSET"), 250, "2.0.0")
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 503, "5.5.1")
        self.assertReply(client.command("DATA"), 503, "5.5.1")

    def test_vrfy_answered_locally(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"VRFY {h.LOCAL_RECIPIENT}"), 252, "2.5.2")
        self.assertReply(client.command("VRFY postmaster"), 252, "2.5.2")
        self.assertUpstreamUntouched(relayguard)

    def test_expn_etrn_turn_refused(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        for command in ("EXPN staff", "ETRN example.com", "TURN"):
            reply = client.command(command)
            self.assertTrue(500 <= reply.code < 600, f"{command}: {reply}")
        self.assertReply(client.command("NOOP"), 250)
        self.assertUpstreamUntouched(relayguard)

    def test_unknown_verb_and_bdat_refused(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        for command in ("FROBNICATE now", "BDAT 5 LAST", "XCLIENT ADDR=192.0.2.1"):
            reply = client.command(command)
            self.assertTrue(500 <= reply.code < 600, f"{command}: {reply}")
        self.assertReply(client.command("NOOP"), 250)
        self.assertUpstreamUntouched(relayguard)

    def test_bad_sequence(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.connect(relayguard)
        self.assertReply(client.read_reply(), 220)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 503, "5.5.1")
        self.assertReply(client.ehlo(), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 503, "5.5.1")
        self.assertReply(client.command("DATA"), 503, "5.5.1")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 503, "5.5.1")

    def test_over_long_line_refused_and_session_continues(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command("NOOP " + "x" * 5000), 500, "5.5.2 Line too long")
        self.assertReply(client.command("NOOP"), 250)
        self.assertReply(client.command(f"RCPT TO:<{'a' * 3000}@example.com>"), 500, "5.5.2 Line too long")
        self.assertReply(client.command("NOOP"), 250)

    def test_too_many_errors_end_the_session(self):
        relayguard = self.start_relayguard(self.sink, limits={"max-errors": 3})
        client = self.greeted(relayguard)
        replies = []
        for attempt in range(6):
            try:
                replies.append(client.command(f"FROBNICATE {attempt}"))
            except (h.ConnectionClosed, BrokenPipeError, ConnectionResetError):
                break
            if replies[-1].code == 421:
                break
        codes = [reply.code for reply in replies]
        self.assertIn(421, codes, f"replies: {[str(reply) for reply in replies]}")
        self.assertLessEqual(codes.index(421), 3, f"421 came late: {codes}")
        self.assertTrue(client.is_closed())

    def test_data_without_accepted_recipient(self):
        relayguard = self.start_relayguard(self.sink)
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")
        self.assertReply(client.command("DATA"), 554, "5.5.1 Error: no valid recipients")
        self.assertReply(client.command("QUIT"), 221)
        self.settle(relayguard, self.sink)
        self.assertNotIn("DATA", self.sink.verbs())
        self.assertEqual(self.sink.transactions, [])

    def test_max_recipients(self):
        relayguard = self.start_relayguard(self.sink, limits={"max-recipients": 2})
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command("RCPT TO:<one@example.com>"), 250)
        self.assertReply(client.command("RCPT TO:<two@example.com>"), 250)
        reply = client.command("RCPT TO:<three@example.com>")
        self.assertReply(reply, 452, "4.5.3")
        self.assertIn("too many recipients", reply.text.lower())
        self.assertReply(client.command("DATA"), 354)
        client.send(b"x\r\n.\r\n")
        self.assertReply(client.read_reply(), 250)
        [transaction] = self.sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, ["one@example.com", "two@example.com"])
        self.assertFalse(self.sink.saw_recipient("three@example.com"))

    def test_max_message_size(self):
        relayguard = self.start_relayguard(self.sink, limits={"max-message-size": "1K"})
        client = self.greeted(relayguard)
        body = b"".join(b"line %04d " % number + b"z" * 60 + b"\r\n" for number in range(100))
        reply = self.deliver(client, body)
        self.assertReply(reply, 552, "5.3.4 Message size exceeds fixed limit")
        self.assertReply(client.command("NOOP"), 250)
        self.assertReply(self.deliver(client, b"small\r\n"), 250)
        self.settle(relayguard, self.sink)
        [transaction] = self.sink.transactions
        self.assertEqual(transaction.body, b"small\r\n")

    def test_declared_size_over_limit_refused_at_mail(self):
        relayguard = self.start_relayguard(self.sink, limits={"max-message-size": "1K"})
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}> SIZE=5000"), 552, "5.3.4")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}> SIZE=500"), 250)

    def test_clients_that_connect_and_quit_never_reach_upstream(self):
        relayguard = self.start_relayguard(self.sink)
        for source in (h.UNTRUSTED_CLIENT, h.TRUSTED_CLIENT, "127.0.0.3"):
            client = self.connect(relayguard, source=source)
            self.assertReply(client.read_reply(), 220)
            self.assertReply(client.command("QUIT"), 221)
            client = self.greeted(relayguard, source=source)
            self.assertReply(client.command("NOOP"), 250)
            self.assertReply(client.command("QUIT"), 221)
            client = self.connect(relayguard, source=source)
            client.close()
        client = self.greeted(relayguard)
        self.assertReply(client.command("FROBNICATE"), 500)
        client.close()
        self.assertUpstreamUntouched(relayguard)


class ConnectionLimitTests(h.IntegrationTestCase):
    def greeted_eventually(self, relayguard, source):
        """A 220 from relayguard; a 421 is retried (bounded) because relayguard may not yet have seen an
        earlier connection of this test end."""
        def attempt():
            client = self.connect(relayguard, source=source)
            reply = client.read_reply()
            if reply.code == 220:
                return client
            client.close()
            return None
        return h.wait_until(attempt, 5, f"a 220 for {source}", interval=0.05)

    def test_client_acl_denies_at_connect(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, clients=("allow", [("deny", "127.0.0.4/32")]))
        refused = self.connect(relayguard, source="127.0.0.4")
        self.assertEqual(refused.read_reply().line, "554 5.7.1 Access denied")
        self.assertTrue(refused.is_closed())
        admitted = self.connect(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertReply(admitted.read_reply(), 220)
        self.settle(relayguard, sink)
        self.assertEqual(sink.connection_count, 0)

    def test_client_acl_default_deny(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, clients=("deny", [("allow", "127.0.0.1/32")]))
        refused = self.connect(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertEqual(refused.read_reply().line, "554 5.7.1 Access denied")
        self.assertTrue(refused.is_closed())
        self.assertReply(self.connect(relayguard, source=h.TRUSTED_CLIENT).read_reply(), 220)

    def assertTooManyConnections(self, client):
        reply = client.read_reply()
        self.assertReply(reply, 421, "4.7.0")
        self.assertIn("too many connections", reply.text.lower())
        self.assertTrue(client.is_closed())

    def test_max_connections_per_client(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections-per-client": 2})
        self.greeted_eventually(relayguard, h.UNTRUSTED_CLIENT)
        self.greeted_eventually(relayguard, h.UNTRUSTED_CLIENT)
        self.assertTooManyConnections(self.connect(relayguard, source=h.UNTRUSTED_CLIENT))
        other = self.connect(relayguard, source="127.0.0.3")
        self.assertReply(other.read_reply(), 220)

    def test_per_client_slot_freed_after_disconnect(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections-per-client": 1})
        first = self.greeted_eventually(relayguard, h.UNTRUSTED_CLIENT)
        self.assertTooManyConnections(self.connect(relayguard, source=h.UNTRUSTED_CLIENT))
        self.assertReply(first.command("QUIT"), 221)
        first.close()
        self.greeted_eventually(relayguard, h.UNTRUSTED_CLIENT)

    def test_max_connections_total(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections": 2, "max-connections-per-client": 2})
        self.greeted_eventually(relayguard, h.UNTRUSTED_CLIENT)
        self.greeted_eventually(relayguard, "127.0.0.3")
        self.assertTooManyConnections(self.connect(relayguard, source="127.0.0.5"))


class ConnectionPoolTests(h.IntegrationTestCase):
    """max-connections counts the internet's sessions, trusted-connections the relay allowlist's: a
    flood that fills the one does not lock the other out."""

    def assertTooManyConnections(self, client):
        reply = client.read_reply()
        self.assertEqual(reply.line, f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Too many connections")
        self.assertTrue(client.is_closed())

    def test_a_full_untrusted_pool_leaves_the_trusted_one_open(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections": 2, "trusted-connections": 2})
        held = [self.greeted(relayguard, source=source) for source in ("127.0.0.2", "127.0.0.3")]
        self.assertTooManyConnections(self.connect(relayguard, source="127.0.0.5"))
        trusted = [h.wait_until(lambda: self._greeted_or_none(relayguard, h.TRUSTED_CLIENT), 5, "a trusted 220")
                   for _ in range(2)]
        # The trusted pool has its own limit.
        self.assertTooManyConnections(self.connect(relayguard, source=h.TRUSTED_CLIENT))
        # A trusted client delivers while the internet's pool is full.
        self.assertReply(trusted[0].ehlo(), 250)
        self.assertEqual(self.deliver(trusted[0], h.crlf_message("Subject: pool", "", "body")).code, 250)
        self.assertTrue(all(not client.is_closed(timeout=0.1) for client in held))
        relayguard.wait_for_log(r"reject: connect from unknown\[127\.0\.0\.5\]: 421 4\.7\.0 Too many connections")

    def test_the_trusted_pool_defaults_to_max_connections(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections": 1})
        self.greeted(relayguard, source="127.0.0.2")
        self.assertTooManyConnections(self.connect(relayguard, source="127.0.0.3"))
        h.wait_until(lambda: self._greeted_or_none(relayguard, h.TRUSTED_CLIENT), 5, "a trusted 220")

    def _greeted_or_none(self, relayguard, source):
        client = self.connect(relayguard, source=source)
        if client.read_reply().code == 220:
            return client
        client.close()
        return None


class ConnectionRateTests(h.IntegrationTestCase):
    """<limits max-connection-rate>: connections per client per rate-window, counted as Postfix's anvil
    counts them (refused ones too), answered and logged in Postfix's words; the relay allowlist is exempt."""

    RATE_WARNING = r"warning: Connection rate limit exceeded: {count} from unknown\[{address}\] for service smtp$"

    def greet_and_quit(self, relayguard, source):
        client = self.connect(relayguard, source=source)
        self.assertReply(client.read_reply(), 220)
        self.assertReply(client.command("QUIT"), 221)
        client.close()

    def assertRateRefused(self, relayguard, source, count):
        client = self.connect(relayguard, source=source)
        reply = client.read_reply()
        self.assertEqual(reply.line, f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Error: too many connections from {source}")
        self.assertTrue(client.is_closed())
        relayguard.wait_for_log(self.RATE_WARNING.format(count=count, address=re.escape(source)))

    def test_connections_over_the_rate_are_refused_per_client(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connection-rate": 3, "rate-window": "1h"})
        for _ in range(3):
            self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)
        self.assertRateRefused(relayguard, h.UNTRUSTED_CLIENT, 4)
        self.assertRateRefused(relayguard, h.UNTRUSTED_CLIENT, 5)  # refused ones count too
        self.greet_and_quit(relayguard, "127.0.0.3")  # another client has its own count
        for _ in range(6):
            self.greet_and_quit(relayguard, h.TRUSTED_CLIENT)  # the relay allowlist is not counted
        self.assertNotRegex(relayguard.stderr(), r"rate limit exceeded: \d+ from unknown\[127\.0\.0\.(1|3)\]")
        # Only the warning is logged for it, not a second reject line per connection.
        self.assertNotIn("reject: connect from unknown[127.0.0.2]", relayguard.stderr())

    def test_no_rate_limit_by_default(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        for _ in range(40):
            self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)
        self.assertNotIn("Connection rate limit exceeded", relayguard.stderr())

    def test_reload_keeps_the_counts_unless_the_window_changes(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connection-rate": 2, "rate-window": "1h"})
        self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)
        self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)
        self.assertRateRefused(relayguard, h.UNTRUSTED_CLIENT, 3)
        # A new limit keeps the counts: this is the client's fourth connection in its window.
        relayguard.reload(limits={"max-connection-rate": 3, "rate-window": "1h"})
        self.assertRateRefused(relayguard, h.UNTRUSTED_CLIENT, 4)
        # A new window length starts counting afresh.
        relayguard.reload(limits={"max-connection-rate": 3, "rate-window": "30m"})
        self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)

    def test_a_new_window_lets_the_client_in_again(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connection-rate": 1, "rate-window": "1s"})
        self.greet_and_quit(relayguard, h.UNTRUSTED_CLIENT)
        self.assertRateRefused(relayguard, h.UNTRUSTED_CLIENT, 2)

        def greeted_again():
            client = self.connect(relayguard, source=h.UNTRUSTED_CLIENT)
            greeted = client.read_reply().code == 220
            client.close()
            return greeted
        # Bounded, not timed: a connection after the window ends begins a new one.
        h.wait_until(greeted_again, 15, "a 220 once the window has ended", interval=0.3)


class StressModeTests(h.IntegrationTestCase):
    """Stress mode: while the untrusted sessions are at stress-threshold percent of max-connections, the
    untrusted ones get stress-command-timeout, stress-mail-deadline and stress-greet-delay; trusted
    sessions keep theirs. Entering and leaving are each logged once."""

    def test_entering_stress_shortens_the_waits_of_untrusted_sessions_only(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={
            "max-connections": 4, "stress-threshold": 50, "command-timeout": "1h", "mail-deadline": "1h",
            "stress-command-timeout": "1s", "stress-greet-delay": "0s"})
        trusted = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        first = self.greeted(relayguard, source="127.0.0.2")  # 1 of 4: not yet
        self.assertReply(first.command("NOOP"), 250)
        second = self.greeted(relayguard, source="127.0.0.3")  # 2 of 4: 50%
        relayguard.wait_for_log(r"warning: stress: entering: 2 untrusted sessions of max-connections 4 "
                                r"\(stress-threshold 50%\): shorter timeouts, longer greet delay$")
        # Both untrusted sessions, the one already waiting included, time out in stress-command-timeout
        # rather than the hour of command-timeout.
        for client in (first, second):
            replies = client.read_until_closed(timeout=20)
            self.assertTrue(replies and replies[-1].code == 421 and replies[-1].enhanced == "4.4.2",
                            [str(reply) for reply in replies])
        # It is left once the pool is down and six stress command timeouts have passed since it began, at
        # the next connection that comes or goes (the trusted ones poll here).
        def left():
            self.connect(relayguard, source=h.TRUSTED_CLIENT).close()
            return "stress: leaving" in relayguard.stderr()
        h.wait_until(left, 30, "stress mode to be left", interval=0.5)
        relayguard.wait_for_log(r"warning: stress: leaving: 0 untrusted sessions of max-connections 4$")
        self.assertReply(trusted.command("NOOP"), 250)
        self.assertEqual(relayguard.stderr().count("stress: entering"), 1)
        self.assertEqual(relayguard.stderr().count("stress: leaving"), 1)

    def test_under_stress_untrusted_clients_must_wait_for_the_greeting(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={
            "max-connections": 4, "stress-threshold": 25, "stress-greet-delay": "1s",
            "stress-command-timeout": "1h"})
        self.greeted(relayguard, source="127.0.0.2")  # 1 of 4 is 25%: stress
        relayguard.wait_for_log(r"stress: entering: 1 untrusted sessions")
        talker = self.connect(relayguard, source="127.0.0.3")
        talker.send(b"EHLO bot.test\r\n")
        self.assertEqual(talker.read_reply().line, "554 5.5.0 Error: SMTP protocol synchronization")
        # A trusted client is greeted at once, however early it talks.
        trusted = self.connect(relayguard, source=h.TRUSTED_CLIENT)
        trusted.send(b"EHLO office.test\r\n")
        self.assertReply(trusted.read_reply(), 220)
        self.assertReply(trusted.read_reply(), 250)

    def test_stress_threshold_zero_never_enters(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"max-connections": 2, "stress-threshold": 0})
        held = [self.greeted(relayguard, source=source) for source in ("127.0.0.2", "127.0.0.3")]
        self.assertReply(held[1].command("NOOP"), 250)
        self.assertNotIn("stress: entering", relayguard.stderr())


class MailDeadlineTests(h.IntegrationTestCase):
    """<limits mail-deadline>: an untrusted session must have its first recipient accepted in time, however
    busily it sends other commands; trusted sessions and sessions past that are not bound by it."""

    def keep_busy(self, client, seconds):
        """NOOPs every 0.2 s for `seconds`; the replies, ending with whatever came when it was closed."""
        replies = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                client.send(b"NOOP\r\n")
                replies.append(client.read_reply())
            except (h.ConnectionClosed, OSError):
                break
            if replies[-1].code != 250:
                replies += client.read_until_closed()
                break
            time.sleep(0.2)
        return replies

    def test_noops_do_not_keep_an_untrusted_session_before_mail(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"mail-deadline": "1s", "command-timeout": "1h"})
        untrusted = self.greeted(relayguard, source="127.0.0.2")
        replies = self.keep_busy(untrusted, 20)
        self.assertEqual(replies[-1].line, f"421 4.4.2 {h.RELAYGUARD_HOSTNAME} Error: timeout exceeded")
        self.assertTrue(untrusted.is_closed())
        relayguard.wait_for_log(r"mail-deadline exceeded: no recipient from unknown\[127\.0\.0\.2\]$")

    def test_a_mail_without_a_recipient_does_not_lift_it(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"mail-deadline": "1s", "command-timeout": "1h"})
        untrusted = self.greeted(relayguard, source="127.0.0.2")
        self.assertReply(untrusted.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(untrusted.command("RSET"), 250)
        replies = self.keep_busy(untrusted, 20)
        self.assertEqual(replies[-1].line, f"421 4.4.2 {h.RELAYGUARD_HOSTNAME} Error: timeout exceeded")
        relayguard.wait_for_log(r"mail-deadline exceeded: no recipient from unknown\[127\.0\.0\.2\]$")

    def test_trusted_sessions_and_sessions_past_a_recipient_are_not_bound(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"mail-deadline": "1s", "command-timeout": "1h"})
        trusted = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        mailer = self.greeted(relayguard, source="127.0.0.3")
        self.assertReply(mailer.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(mailer.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(mailer.command("RSET"), 250)
        for client in (trusted, mailer):
            replies = self.keep_busy(client, 2.5)
            self.assertTrue(all(reply.code == 250 for reply in replies), [str(reply) for reply in replies])
        self.assertNotIn("mail-deadline exceeded", relayguard.stderr())


class ClientTimeoutTests(h.IntegrationTestCase):
    def test_idle_client_disconnected_after_command_timeout(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"command-timeout": "1s"})
        client = self.greeted(relayguard)
        replies = client.read_until_closed(timeout=15)
        self.assertTrue(all(reply.code == 421 for reply in replies), [str(reply) for reply in replies])
        self.settle(relayguard, sink)
        self.assertEqual(sink.connection_count, 0)

    def test_a_command_trickled_in_does_not_extend_the_command_timeout(self):
        # Slowloris: one octet four times per command-timeout. Re-arming the timeout per read would keep
        # the session open for ever; the line as a whole gets command-timeout.
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"command-timeout": "1s"})
        client = self.greeted(relayguard)
        sent = 0
        try:
            for octet in b"NOOP NOOP NOOP NOOP NOOP NOOP":
                client.send(bytes([octet]))
                sent += 1
                if not client.nothing_within(h.scaled(0.25)):
                    break  # relayguard answered (its 421) before the line was complete
        except (BrokenPipeError, ConnectionResetError, h.ConnectionClosed):
            pass
        replies = client.read_until_closed(timeout=15)
        self.assertLess(sent, 29, "the whole line went in, one octet at a time, without a time-out")
        self.assertTrue(replies and all(reply.code == 421 for reply in replies), [str(reply) for reply in replies])
        relayguard.wait_for_log(r"timeout after command from unknown\[127\.0\.0\.2\]")

    def test_stalled_message_dropped_after_data_timeout(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, limits={"data-timeout": "1s"})
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(b"Subject: stalled\r\n\r\nand then nothing")
        replies = client.read_until_closed(timeout=15)
        self.assertTrue(all(400 <= reply.code < 500 for reply in replies), [str(reply) for reply in replies])
        # The upstream connection is dropped without a final dot.
        sink.wait_for_closed(1, timeout=10)
        self.assertEqual(sink.transactions, [])


if __name__ == "__main__":
    unittest.main()
