"""SMTP AUTH on the client leg (RFC 4954, RFC 4616): authenticated relaying from a non-allowlisted
address with swaks over STARTTLS, no AUTH without TLS, wrong passwords, the per-address lockout, the
exchange's edge cases (cancel, unknown mechanism, authorization identity), sender ownership, the failure
log lines read by the shipped fail2ban filter, and PBKDF2 off the event loop."""

import base64
import re
import shutil
import ssl
import threading
import unittest

if __package__:
    from . import harness as h
    from .test_logging import shipped_fail2ban_filters
    from .test_tls import PASSWORD, TlsTestCase, keywords, plain_response
else:
    import harness as h
    from test_logging import shipped_fail2ban_filters
    from test_tls import PASSWORD, TlsTestCase, keywords, plain_response

SASL_FAILED = r"warning: unknown\[{address}\]: SASL {mechanism} authentication failed: authentication failure$"
LOCKED_OUT = f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Too many authentication failures"


def b64(text):
    return base64.b64encode(text.encode()).decode()


class SwaksAuthTests(TlsTestCase):
    def swaks_auth(self, relayguard, mechanism, password=PASSWORD, tls=True, to=h.REMOTE_RECIPIENT,
                   source=h.UNTRUSTED_CLIENT, sender=h.OUTSIDE_SENDER):
        arguments = (["--tls"] if tls else []) + ["--auth", mechanism, "--auth-user", "alice",
                                                  "--auth-password", password]
        return self.swaks(relayguard.listener("starttls"), *arguments, to=to, source=source, sender=sender)

    def test_swaks_starttls_auth_plain_relays(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.swaks_auth(relayguard, "PLAIN")
        self.assertEqual(status, 0, output)
        self.assertIn("<~  235 2.7.0 Authentication successful", output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        self.assertEqual(transaction.mail_from, h.OUTSIDE_SENDER)
        relayguard.wait_for_log(r"unknown\[127\.0\.0\.2\]: authenticated: sasl_method=PLAIN, sasl_username=alice")
        # The audit trail says which login the relayed recipient used.
        relayguard.wait_for_log(r": relay: RCPT from unknown\[127\.0\.0\.2\]: relay allowed: authenticated as alice; "
                                r"from=<sender@outside\.test> to=<victim@elsewhere\.test> proto=ESMTP")
        # The upstream never sees the AUTH exchange.
        self.settle(relayguard, sink)
        self.assertNotIn("AUTH", sink.verbs())

    def test_swaks_starttls_auth_login_relays(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.swaks_auth(relayguard, "LOGIN")
        self.assertEqual(status, 0, output)
        self.assertIn("<~  235 2.7.0 Authentication successful", output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        self.settle(relayguard, sink)
        self.assertNotIn("AUTH", sink.verbs())

    def test_swaks_without_tls_cannot_authenticate(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        for mechanism in ("PLAIN", "LOGIN"):
            status, output = self.swaks_auth(relayguard, mechanism, tls=False)
            self.assertNotEqual(status, 0, output)
            self.assertNotIn("235 ", output)
            self.assertTrue("538 5.7.11" in output or "did not advertise authentication" in output, output)
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT))

    def test_swaks_wrong_password_535(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.swaks_auth(relayguard, "PLAIN", password="wrong password")
        self.assertNotEqual(status, 0, output)
        self.assertIn("<~* 535 5.7.8 Error: authentication failed: authentication failure", output)
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])
        self.assertNotIn("wrong password", relayguard.stderr())

    def test_swaks_sixth_wrong_try_locked_out(self):
        # Five swaks runs with a wrong password each get 535; the address is then locked out: the sixth
        # run is refused at connect, and so is one with the right password. 127.0.0.1 still gets through.
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"max-failures": "5", "lockout": "15m"})
        for attempt in range(5):
            status, output = self.swaks_auth(relayguard, "LOGIN", password=f"guess {attempt}")
            self.assertIn("535 5.7.8", output, f"attempt {attempt + 1}")
        for password in ("guess 5", PASSWORD):
            status, output = self.swaks_auth(relayguard, "PLAIN", password=password)
            self.assertNotEqual(status, 0, output)
            self.assertIn(f"<** {LOCKED_OUT}", output)
            self.assertNotIn("235 ", output)
        status, output = self.swaks_auth(relayguard, "PLAIN", source=h.TRUSTED_CLIENT)
        self.assertEqual(status, 0, output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        relayguard.wait_for_log(r"reject: connect from unknown\[127\.0\.0\.2\]: 421 4\.7\.0 Too many authentication failures$")


class AuthProtocolTests(TlsTestCase):
    def test_auth_not_offered_and_refused_before_tls(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.connect(relayguard.listener("starttls"))
        self.assertReply(client.read_reply(), 220)
        ehlo = client.ehlo()
        self.assertNotIn("AUTH", keywords(ehlo), str(ehlo))
        encryption_required = "5.7.11 Encryption required for requested authentication mechanism"
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', PASSWORD)}"), 538, encryption_required)
        self.assertReply(client.command("AUTH LOGIN"), 538, encryption_required)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")
        self.settle(relayguard, sink)
        self.assertEqual(sink.rcpt_commands(), [])

    def test_require_tls_false_offers_auth_in_plain_text(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"require-tls": "false"})
        client = self.greeted(relayguard.listener("starttls"))
        self.login(client)
        reply = self.deliver(client, b"Subject: plain auth\r\n\r\nhi\r\n", rcpts=(h.REMOTE_RECIPIENT,))
        self.assertReply(reply, 250)
        sink.wait_for_transactions(1)

    def test_wrong_password_then_right_one(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', 'nope')}"), 535,
                         "5.7.8 Error: authentication failed: authentication failure")
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('mallory', PASSWORD)}"), 535, "5.7.8",
                         message="unknown user")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1", message="not logged in")
        self.assertReply(client.command("RSET"), 250)
        self.login(client)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', PASSWORD)}"), 503,
                         message="a second AUTH")
        reply = self.deliver(client, b"hi\r\n", rcpts=(h.REMOTE_RECIPIENT,))
        self.assertReply(reply, 250)

    def test_plain_without_initial_response_and_login(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command("AUTH PLAIN"), 334)
        self.assertReply(client.command(plain_response("alice", PASSWORD)), 235, "2.7.0 Authentication successful")
        other, _ = self.tls_greeted(relayguard)
        challenge = other.command("AUTH LOGIN")
        self.assertReply(challenge, 334)
        self.assertEqual(base64.b64decode(challenge.lines[0]), b"Username:")
        challenge = other.command(b64("alice"))
        self.assertReply(challenge, 334)
        self.assertEqual(base64.b64decode(challenge.lines[0]), b"Password:")
        self.assertReply(other.command(b64(PASSWORD)), 235, "2.7.0")
        third, _ = self.tls_greeted(relayguard)
        self.assertReply(third.command(f"AUTH LOGIN {b64('alice')}"), 334, message="LOGIN with initial user")
        self.assertReply(third.command(b64(PASSWORD)), 235, "2.7.0")

    def test_cancel_with_star_501(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command("AUTH PLAIN"), 334)
        self.assertReply(client.command("*"), 501, "5.7.0 Authentication aborted")
        self.assertReply(client.command("AUTH LOGIN"), 334)
        self.assertReply(client.command(b64("alice")), 334)
        self.assertReply(client.command("*"), 501, "5.7.0 Authentication aborted")
        # The session goes on and a login still works.
        self.assertReply(client.command("NOOP"), 250)
        self.login(client)

    def test_unknown_mechanism_504(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        for mechanism in ("CRAM-MD5", "XOAUTH2 dGVzdA==", "GSSAPI"):
            self.assertReply(client.command(f"AUTH {mechanism}"), 504, "5.5.4 Unrecognized authentication type",
                             message=mechanism)
        self.login(client)

    def test_mechanism_not_configured_504(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"mechanisms": "PLAIN"})
        client, ehlo = self.tls_greeted(relayguard)
        self.assertIn("AUTH PLAIN", ehlo.lines, str(ehlo))
        self.assertReply(client.command("AUTH LOGIN"), 504, "5.5.4")
        self.login(client)

    def test_authorization_identity_must_match(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', PASSWORD, authzid='bob')}"), 535,
                         "5.7.8")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")
        self.assertReply(client.command("RSET"), 250)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', PASSWORD, authzid='alice')}"), 235,
                         "2.7.0", message="authzid equal to the login")

    def test_malformed_base64_refused(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        for response in ("not base64!", "AGFsaWNl=AHg", plain_response("alice", PASSWORD)[:-1]):
            reply = client.command(f"AUTH PLAIN {response}")
            self.assertTrue(500 <= reply.code < 600, f"AUTH PLAIN {response}: {reply}")
        self.assertReply(client.command("NOOP"), 250)

    def test_pipelined_envelope_waits_for_the_password_check(self):
        # A client that pipelines its envelope behind AUTH (not allowed, but done): the commands after
        # AUTH are decided with the AUTH's outcome, and the replies come in order.
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        for password, expected in ((PASSWORD, [235, 250, 250, 250]), ("wrong", [535, 250, 554, 250])):
            client, _ = self.tls_greeted(relayguard)
            client.send(f"AUTH PLAIN {plain_response('alice', password)}\r\nMAIL FROM:<{h.OUTSIDE_SENDER}>\r\n"
                        f"RCPT TO:<{h.REMOTE_RECIPIENT}>\r\nRSET\r\n")
            replies = client.read_replies(4)
            self.assertEqual([reply.code for reply in replies], expected, [str(reply) for reply in replies])
        self.settle(relayguard, sink)
        self.assertEqual(sink.transactions, [])

    def test_auth_refused_during_transaction_and_long_exchange_line(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', PASSWORD)}"), 503, "5.5.1",
                         message="AUTH inside a transaction")
        self.assertReply(client.command("RSET"), 250)
        self.assertReply(client.command("AUTH PLAIN"), 334)
        self.assertReply(client.command("A" * 20000), 500, "5.5.6", message="a 20000-octet exchange line")
        self.assertReply(client.command("NOOP"), 250)
        self.login(client)

    def test_sender_ownership(self):
        sink = self.start_sink()
        users = [{"name": "alice", "password-hash": self.password_hash, "senders": "alice@example.com @example.org"}]
        relayguard = self.start_secure(sink, users=users)
        client, _ = self.tls_greeted(relayguard)
        self.login(client)
        for sender in ("bob@example.com", "alice@example.net", h.OUTSIDE_SENDER):
            self.assertReply(client.command(f"MAIL FROM:<{sender}>"), 553,
                             f"5.7.1 <{sender}>: Sender address rejected: not owned by user alice")
        relayguard.wait_for_log(r"reject: MAIL from unknown\[127\.0\.0\.2\]: 553 5\.7\.1 <bob@example\.com>: "
                                r"Sender address rejected: not owned by user alice")
        for sender in ("alice@example.com", "anyone@example.org"):
            self.assertReply(client.command(f"MAIL FROM:<{sender}>"), 250, message=sender)
            self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 250)
            self.assertReply(client.command("RSET"), 250)
        reply = self.deliver(client, b"owned\r\n", sender="alice@example.com", rcpts=(h.REMOTE_RECIPIENT,))
        self.assertReply(reply, 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.mail_from, "alice@example.com")

    def test_user_without_senders_may_use_any_sender(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.login(client)
        for sender in ("boss@example.com", h.OUTSIDE_SENDER):
            self.assertReply(client.command(f"MAIL FROM:<{sender}>"), 250, message=sender)
            self.assertReply(client.command("RSET"), 250)


class LockoutTests(TlsTestCase):
    def test_sixth_failure_locked_out_and_reconnect_refused(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"max-failures": "5", "lockout": "15m"})
        client, _ = self.tls_greeted(relayguard)
        for attempt in range(5):
            self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', f'guess {attempt}')}"), 535,
                             "5.7.8", message=f"attempt {attempt + 1}")
        reply = client.command(f"AUTH PLAIN {plain_response('alice', 'guess 5')}")
        self.assertEqual(reply.code, 421, str(reply))
        self.assertIn("4.7.0", reply.line)
        self.assertTrue(reply.line.endswith("Too many authentication failures"), reply.line)
        self.assertTrue(client.is_closed(), "the connection stays open after the lockout")
        # A new connection from the address is refused at connect, even over implicit TLS with the right
        # password in hand.
        again = self.connect(relayguard.listener("starttls"))
        greeting = again.read_reply()
        self.assertEqual(greeting.code, 421, str(greeting))
        self.assertTrue(greeting.line.endswith("Too many authentication failures"), greeting.line)
        self.assertTrue(again.is_closed())
        relayguard.wait_for_log(r"reject: connect from unknown\[127\.0\.0\.2\]: 421 4\.7\.0 "
                                r"Too many authentication failures$")
        try:
            implicit = self.connect(relayguard.listener("implicit"), tls=True)
            greeting = implicit.read_reply()
            self.assertEqual(greeting.code, 421, f"implicit TLS listener: {greeting}")
        except (h.ConnectionClosed, ssl.SSLError, ConnectionError) as error:
            self.transcript.note("test", f"implicit TLS listener refused the locked-out address: {error!r}")
        # Another (untrusted) address is not affected, and the allowlisted one relays.
        other, _ = self.tls_greeted(relayguard, source="127.0.0.3")
        self.login(other)
        trusted = self.greeted(relayguard.listener("starttls"), source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(trusted, b"from the office\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])

    def test_failures_counted_across_connections_and_mechanisms(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"max-failures": "3"})
        first, _ = self.tls_greeted(relayguard)
        self.assertReply(first.command(f"AUTH PLAIN {plain_response('alice', 'a')}"), 535)
        self.assertReply(first.command("QUIT"), 221)
        second, _ = self.tls_greeted(relayguard)
        self.assertReply(second.command("AUTH LOGIN"), 334)
        self.assertReply(second.command(b64("alice")), 334)
        self.assertReply(second.command(b64("b")), 535)
        self.assertReply(second.command(f"AUTH PLAIN {plain_response('alice', 'c')}"), 535)
        self.assertEqual(second.command(f"AUTH PLAIN {plain_response('alice', PASSWORD)}").code, 421)
        refused = self.connect(relayguard.listener("starttls"))
        self.assertEqual(refused.read_reply().code, 421)

    def test_sasl_failures_logged_and_matched_by_fail2ban(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"max-failures": "2"})
        secret = "hunter2-never-logged"
        client, _ = self.tls_greeted(relayguard)
        self.assertReply(client.command(f"AUTH PLAIN {plain_response('alice', secret)}"), 535)
        self.assertReply(client.command("AUTH LOGIN"), 334)
        self.assertReply(client.command(b64("alice")), 334)
        self.assertReply(client.command(b64(secret)), 535)
        self.assertEqual(client.command(f"AUTH PLAIN {plain_response('alice', secret)}").code, 421)
        self.assertEqual(self.connect(relayguard.listener("starttls")).read_reply().code, 421)
        other, _ = self.tls_greeted(relayguard, source="127.0.0.3")
        self.assertReply(other.command(f"AUTH PLAIN {plain_response('alice', secret)}"), 535)
        self.assertReply(other.command("QUIT"), 221)
        # Successful logins are not failures.
        good, _ = self.tls_greeted(relayguard, source="127.0.0.4")
        self.login(good)
        relayguard.wait_for_log(SASL_FAILED.format(address=r"127\.0\.0\.3", mechanism="PLAIN"))
        self.settle(relayguard, sink)
        log = relayguard.stderr()
        self.assertNotIn(secret, log)
        self.assertNotIn(b64(secret), log)
        self.assertNotIn(plain_response("alice", secret), log)
        lines = relayguard.log_lines()
        for address, mechanism in (("127.0.0.2", "PLAIN"), ("127.0.0.2", "LOGIN"), ("127.0.0.3", "PLAIN")):
            pattern = re.compile(SASL_FAILED.format(address=re.escape(address), mechanism=mechanism))
            self.assertTrue(any(pattern.search(line) for line in lines), f"{address} {mechanism}:\n{log}")

        filters = shipped_fail2ban_filters()
        self.assertTrue(filters, "no fail2ban filter found under firmware/")
        for path in filters:
            matched, addresses, output = self.fail2ban(relayguard.stderr_path, path)
            # Three SASL failures and two lockout lines (the 421 to the third AUTH and the one at the next
            # connect); nothing from 127.0.0.4 (logged in) or 127.0.0.1 (the readiness probe).
            self.assertEqual(matched, 5, f"{path}:\n{output}\n--- log:\n{log}")
            self.assertEqual(addresses, ["127.0.0.2"] * 4 + ["127.0.0.3"], output)


    def fail2ban(self, log, shipped):
        """Runs fail2ban-regex with the shipped filter installed beside fail2ban's common.conf (as in
        test_logging); returns (matched lines, sorted addresses, output)."""
        filter_dir = self.workdir / "fail2ban" / "filter.d"
        filter_dir.mkdir(parents=True, exist_ok=True)
        for name in ("common.conf", "common.local"):
            stock = h.Path("/etc/fail2ban/filter.d") / name
            if stock.exists():
                shutil.copy(stock, filter_dir / name)
        installed = filter_dir / shipped.name
        shutil.copy(shipped, installed)
        status, output = self.run_program(["fail2ban-regex", "--print-all-matched", str(log), str(installed)])
        self.assertEqual(status, 0, output)
        counts = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", output)
        self.assertIsNotNone(counts, output)
        status, addresses = self.run_program(["fail2ban-regex", "-o", "ip", str(log), str(installed)])
        self.assertEqual(status, 0, addresses)
        return int(counts.group(3)), sorted(addresses.split()), output


class PasswordWorkerTests(TlsTestCase):
    """PBKDF2 runs off the event loop: while one session's slow password check runs, another session's
    commands are answered. Shown by the order of events, never by elapsed time."""

    SLOW_ITERATIONS = 3_000_000
    slow_hash = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.slow_hash = h.password_hash("slow secret", iterations=cls.SLOW_ITERATIONS)

    def test_other_sessions_answered_during_slow_check(self):
        sink = self.start_sink()
        users = [{"name": "alice", "password-hash": self.password_hash},
                 {"name": "slow", "password-hash": self.slow_hash}]
        relayguard = self.start_secure(sink, users=users)
        slow, _ = self.tls_greeted(relayguard, name="slow")
        quick = self.greeted(relayguard.listener("starttls"), source="127.0.0.3", name="quick")
        events = []
        lock = threading.Lock()

        def record(event):
            with lock:
                events.append(event)

        def wait_for_auth_reply():
            try:
                record(("slow AUTH reply", slow.read_reply(timeout=120).code))
            except Exception as error:  # reported through `events`
                record(("slow AUTH reply", repr(error)))

        slow.send(f"AUTH PLAIN {plain_response('slow', 'slow secret')}\r\n")
        record(("slow AUTH sent", None))
        reader = threading.Thread(target=wait_for_auth_reply, daemon=True)
        reader.start()
        # While the check runs: a few commands on the other session, each answered.
        for command, code in (("NOOP", 250), ("EHLO quick.test", 250), (f"MAIL FROM:<{h.OUTSIDE_SENDER}>", 250),
                              (f"RCPT TO:<{h.LOCAL_RECIPIENT}>", 250), ("RSET", 250), ("NOOP", 250)):
            reply = quick.command(command, timeout=120)
            self.assertReply(reply, code, message=command)
            record((f"quick {command.split()[0]} reply", reply.code))
        reader.join(timeout=h.scaled(150))
        self.assertFalse(reader.is_alive(), "no reply to the slow AUTH")
        with lock:
            order = [name for name, _ in events]
            final = dict(events)
        self.assertEqual(final["slow AUTH reply"], 235, events)
        self.assertEqual(order[0], "slow AUTH sent", events)
        self.assertEqual(order[-1], "slow AUTH reply", f"the slow check held up the other session: {events}")
        # And the slow login works: the session relays.
        self.assertReply(self.deliver(slow, b"slow\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)


if __name__ == "__main__":
    unittest.main()
