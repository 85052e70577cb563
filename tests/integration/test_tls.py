"""TLS on the client leg: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with real clients (openssl
s_client, Python's ssl module, swaks, nmap), the STARTTLS command-injection defence (CVE-2011-0411: what
the client pipelined after STARTTLS is discarded, and the session starts over after the handshake), and
the relay rule unchanged over TLS. Every certificate is a throwaway self-signed one made per test."""

import base64
import re
import socket
import ssl
import subprocess
import time
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

PASSWORD = "correct horse battery staple"
ROUTING_TRICKS = ["victim%elsewhere.test@example.com",      # percent hack
                  '"victim@elsewhere.test"@example.com',    # quoted local part with @
                  "@example.com:victim@elsewhere.test",     # source route
                  "elsewhere.test!victim@example.com",      # bang path
                  "victim@[192.0.2.1]"]                     # address literal
# relayguard drops a source route (RFC 5321 §3.6.1 and appendix C: servers ignore it), so replies, log
# lines and the upstream name the address without it.
AS_FORWARDED = {"@example.com:victim@elsewhere.test": "victim@elsewhere.test"}


def plain_response(user, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


class TlsTestCase(h.IntegrationTestCase):
    """Starts relayguard with <tls>, a STARTTLS listener and an implicit-TLS listener (both on 127.0.0.1),
    and a user alice with a cheap password hash."""

    password_hash = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.password_hash = h.password_hash(PASSWORD, iterations=1000)

    def start_secure(self, sink, listen_tls=("starttls", "implicit"), auth=None, users=None, tls_options=None,
                     **options):
        certificate, key = h.self_signed_certificate(self.workdir / "tls")
        if users is None:
            users = [{"name": "alice", "password-hash": self.password_hash}]
        return self.start_relayguard(sink, listen=("127.0.0.1",) * len(listen_tls), listen_tls=listen_tls,
                                     tls={"certificate": certificate, "key": key, **(tls_options or {})},
                                     auth=auth or {}, users=users, **options)

    def tls_greeted(self, relayguard, source=h.UNTRUSTED_CLIENT, **options):
        """A client past the greeting, EHLO, STARTTLS and the EHLO after it; returns (client, EHLO reply)."""
        client = self.greeted(relayguard.listener("starttls"), source=source, **options)
        client.starttls()
        reply = client.ehlo()
        self.assertReply(reply, 250, message="EHLO over TLS")
        return client, reply

    def login(self, client, user="alice", password=PASSWORD):
        self.assertReply(client.command(f"AUTH PLAIN {plain_response(user, password)}"), 235, "2.7.0",
                         message="AUTH PLAIN")


def keywords(ehlo):
    return [line.split(" ")[0].upper() for line in ehlo.lines[1:]]


class StartTlsTests(TlsTestCase):
    def test_openssl_s_client_starttls_handshake(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        host, port = relayguard.listener("starttls")
        command = ["openssl", "s_client", "-starttls", "smtp", "-connect", f"{host}:{port}",
                   "-servername", h.RELAYGUARD_HOSTNAME, "-crlf", "-ign_eof"]
        self.transcript.note("program", " ".join(command))
        try:
            completed = subprocess.run(command, input=b"EHLO x\nQUIT\n", stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, timeout=h.scaled(30))
        except subprocess.TimeoutExpired as expired:
            self.fail(f"openssl s_client did not finish:\n{(expired.stdout or b'').decode(errors='replace')}")
        output = completed.stdout.decode(errors="replace")
        self.transcript.note("program", f"exit status {completed.returncode}\n{output}")
                # (Its exit status is not looked at: the orderly close is test_quit_over_tls_ends_with_close_notify's.)
        negotiated = re.search(r"New, (TLSv1\.[23]), Cipher is (\S+)", output)
        self.assertIsNotNone(negotiated, output)
                # (No "Protocol :" line is asserted: s_client prints the TLS 1.3 session block only after a
        # session ticket, which mbedTLS 3.6 servers do not send.)

        if negotiated.group(1) == "TLSv1.2":
            self.assertRegex(negotiated.group(2), r"^ECDHE-", output)  # forward secrecy only
        self.assertNotRegex(output, r"Cipher is \(NONE\)")
        # The EHLO sent over TLS is answered 250 (without STARTTLS), then QUIT 221.
        self.assertRegex(output, r"(?m)^250-mx\.example\.com")
        self.assertRegex(output, r"(?m)^250 ")
        self.assertRegex(output, r"(?m)^221 ")
        after_handshake = output.split("---\n")[-1]
        self.assertNotIn("STARTTLS", after_handshake, output)
        relayguard.wait_for_log(r"TLS established with unknown\[127\.0\.0\.1\]: TLSv1\.[23] ")
        print(f"\nopenssl s_client negotiated {negotiated.group(1)} {negotiated.group(2)}")

    def test_quit_over_tls_ends_with_close_notify(self):
        # RFC 5246 §7.2.1 / RFC 8446 §6.1: the side that closes sends close_notify first. Without it,
        # OpenSSL 3 clients report "unexpected eof while reading" (and s_client exits 1) after a clean QUIT.
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        raw = socket.create_connection(relayguard.listener("implicit"), timeout=h.scaled(5),
                                       source_address=(h.UNTRUSTED_CLIENT, 0))
        self.addCleanup(raw.close)
        context = h.client_tls_context()
        # Some Python builds (Debian's) set OP_IGNORE_UNEXPECTED_EOF by default, hiding a missing close_notify.
        context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        tls = context.wrap_socket(raw, server_hostname=h.RELAYGUARD_HOSTNAME, suppress_ragged_eofs=False)
        self.addCleanup(tls.close)
        received = b""
        while b"\n" not in received:
            received += tls.recv(4096)
        self.assertTrue(received.startswith(b"220 "), received)
        tls.sendall(b"QUIT\r\n")
        try:
            while True:
                data = tls.recv(4096)
                if not data:
                    break  # a close_notify arrived: a clean TLS end
                received += data
        except ssl.SSLEOFError as error:
            self.fail(f"the connection ended without a TLS close_notify after {received!r}: {error}")
        self.assertIn(b"221 2.0.0", received)

    def test_close_notify_in_the_same_flight_as_the_last_commands_loses_nothing(self):
        # A client may end its side right behind its last commands: the final dot, QUIT and close_notify
        # in one flight. As after a TCP half-close (and as RFC 8446 §6.1 says of close_notify), what came
        # before the alert is processed and answered: the message is delivered and the client reads the
        # 250 and the 221, then relayguard's own close_notify.
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.greeted(relayguard.listener("starttls"))
        self.assertReply(client.command("STARTTLS"), 220)
        context = h.client_tls_context()
        context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=h.RELAYGUARD_HOSTNAME)
        raw = client.sock
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                self.assertTrue(data, "the connection ended during the handshake")
                incoming.write(data)
        raw.sendall(outgoing.read())
        tls.write((f"EHLO client.test\r\nMAIL FROM:<{h.OUTSIDE_SENDER}>\r\nRCPT TO:<{h.LOCAL_RECIPIENT}>\r\n"
                   "DATA\r\nSubject: last flight\r\n\r\nbody\r\n.\r\nQUIT\r\n").encode())
        with self.assertRaises(ssl.SSLWantReadError):
            tls.unwrap()  # queues close_notify behind the data; the peer's comes later
        raw.sendall(outgoing.read())  # commands and close_notify leave in one write
        received, clean_end = b"", False
        while not clean_end:
            data = raw.recv(65536)
            if not data:
                break
            incoming.write(data)
            while True:
                try:
                    chunk = tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    clean_end = True  # relayguard's close_notify
                    break
                received += chunk
        codes = [line[:3] for line in received.decode().split("\r\n") if line[3:4] == " "]
        self.assertEqual(codes, ["250", "250", "250", "354", "250", "221"], received)
        self.assertTrue(clean_end, f"no close_notify from relayguard after {received!r}")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"Subject: last flight\r\n\r\nbody\r\n")

    def test_close_notify_in_the_middle_of_a_message_delivers_nothing(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.open_data(client)
        client.send(b"Subject: cut short\r\n\r\nno final dot\r\n")
        client.sock.unwrap()
        relayguard.wait_for_log(r"lost connection after DATA from unknown\[127\.0\.0\.2\]: TLS closed by the client")
        sink.wait_for_closed(1)
        self.assertEqual(sink.transactions, [], "a message without its final dot was delivered")
        self.assertEqual(len(sink.aborted), 1, "the upstream did not see the transaction abandoned")

    def test_python_client_starttls_negotiates_ecdhe(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.greeted(relayguard.listener("starttls"))
        reply = client.starttls()
        self.assertReply(reply, 220, "2.0.0 Ready to start TLS")
        version, cipher = client.sock.version(), client.sock.cipher()[0]
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        if version == "TLSv1.2":
            self.assertRegex(cipher, r"^ECDHE-", cipher)
        self.assertReply(client.ehlo(), 250)
        self.assertReply(client.command("QUIT"), 221)

    def test_starttls_offered_before_tls_and_not_after(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.connect(relayguard.listener("starttls"))
        self.assertReply(client.read_reply(), 220)
        before = client.ehlo()
        self.assertIn("STARTTLS", keywords(before), str(before))
        self.assertNotIn("AUTH", keywords(before), "AUTH offered before TLS:\n" + str(before))
        client.starttls()
        after = client.ehlo()
        self.assertReply(after, 250)
        self.assertNotIn("STARTTLS", keywords(after), str(after))
        self.assertIn("AUTH", keywords(after), str(after))
        self.assertReply(client.command("STARTTLS"), 554, "5.5.1", message="a second STARTTLS")
        # The session goes on over TLS after the refusal.
        self.assertReply(client.command("NOOP"), 250)
        self.assertTrue(client.tls)

    def test_starttls_injection_discarded(self):
        # CVE-2011-0411: a man in the middle appends a command to the client's STARTTLS in plain text.
        # Whatever followed STARTTLS in the same write must not be executed inside the TLS session.
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.greeted(relayguard.listener("starttls"))
        client.send(b"STARTTLS\r\nRSET\r\n")
        self.assertReply(client.read_reply(), 220, "2.0.0")
        client.wrap_tls()  # also fails if an answer to RSET arrived in plain text after the 220
        # Over TLS, the first reply must be the one to MAIL: no answer to the injected RSET, and the EHLO
        # given before STARTTLS is forgotten (RFC 3207 §4.2).
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 503, "5.5.1",
                         message="MAIL before a new EHLO")
        ehlo = client.ehlo()
        self.assertReply(ehlo, 250)
        self.assertTrue(ehlo.lines[0].startswith(h.RELAYGUARD_HOSTNAME), str(ehlo))
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(client.command("QUIT"), 221)
        self.assertTrue(client.is_closed())
        self.settle(relayguard, sink)
        self.assertNotIn("RSET", sink.verbs())

    def test_starttls_injection_of_envelope_discarded(self):
        # The same with a whole injected envelope: nothing of it may reach the upstream.
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.greeted(relayguard.listener("starttls"))
        client.send(b"STARTTLS\r\nMAIL FROM:<evil@outside.test>\r\nRCPT TO:<user@example.com>\r\n")
        self.assertReply(client.read_reply(), 220, "2.0.0")
        client.wrap_tls()
        self.assertReply(client.command("RCPT TO:<user@example.com>"), 503, message="RCPT without MAIL")
        self.assertReply(client.ehlo(), 250)
        self.assertReply(client.command("RCPT TO:<user@example.com>"), 503, message="RCPT without MAIL after EHLO")
        self.assertReply(client.command("QUIT"), 221)
        self.settle(relayguard, sink)
        self.assertFalse(any("evil@outside.test" in text for _, text in sink.commands), sink.commands)

    def test_auth_state_forgotten_after_starttls(self):
        # require-tls="false": a login made in plain text does not survive STARTTLS.
        sink = self.start_sink()
        relayguard = self.start_secure(sink, auth={"require-tls": "false"})
        client = self.greeted(relayguard.listener("starttls"))
        self.login(client)
        client.starttls()
        self.assertReply(client.ehlo(), 250)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554,
                         f"5.7.1 <{h.REMOTE_RECIPIENT}>: Relay access denied")

    def test_listener_with_tls_none_offers_no_starttls(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, listen_tls=("none", "starttls"))
        client = self.connect(relayguard.listener("none"))
        self.assertReply(client.read_reply(), 220)
        ehlo = client.ehlo()
        self.assertNotIn("STARTTLS", keywords(ehlo), str(ehlo))
        reply = client.command("STARTTLS")
        self.assertTrue(500 <= reply.code < 600, f"STARTTLS on a tls=none listener: {reply}")
        self.assertReply(client.command("NOOP"), 250)

    def test_swaks_starttls_delivers_locally(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.swaks(relayguard.listener("starttls"), "--tls", to=h.LOCAL_RECIPIENT)
        self.assertEqual(status, 0, output)
        self.assertIn("<-  220 2.0.0 Ready to start TLS", output)
        self.assertRegex(output, r"=== TLS started with cipher TLSv1\.[23]:")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])


class TlsResumptionTests(TlsTestCase):
    """Session tickets: a client that reconnects resumes without the certificate and signature (TLS 1.2
    tickets; TLS 1.3 psk_dhe_ke, with a fresh key exchange); a reload makes new ticket keys; <tls
    session-tickets="off"> issues none."""

    def starttls_session(self, relayguard, context, ticket=None):
        """A STARTTLS session offering `ticket`; returns (resumed, the session to resume next time)."""
        client = self.greeted(relayguard.listener("starttls"))
        client.starttls(context, session=ticket)
        # TLS 1.3 tickets come after the handshake, with the first records: read a reply first.
        self.assertReply(client.ehlo(), 250)
        resumed, session = client.sock.session_reused, client.sock.session
        self.assertReply(client.command("QUIT"), 221)
        client.close()
        return resumed, session

    def test_a_reconnecting_client_resumes_until_a_reload(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        context = h.client_tls_context()
        resumed, ticket = self.starttls_session(relayguard, context)
        self.assertFalse(resumed)
        self.assertTrue(ticket is not None and ticket.has_ticket, "no session ticket was issued")
        resumed, _ = self.starttls_session(relayguard, context, ticket)
        self.assertTrue(resumed, "the second connection did not resume")
        # A resumed session carries mail like any other, on the implicit-TLS listener too.
        client = self.connect(relayguard.listener("implicit"), source=h.TRUSTED_CLIENT)
        client.wrap_tls(context, session=ticket)
        self.assertTrue(client.sock.session_reused)
        self.assertReply(client.read_reply(), 220)
        self.assertReply(client.ehlo(), 250)
        self.assertEqual(self.deliver(client, h.crlf_message("Subject: resumed", "", "body")).code, 250)
        client.close()
        # A reload makes new ticket keys: the old ticket no longer resumes, and a new one does.
        relayguard.reload()
        resumed, fresh = self.starttls_session(relayguard, context, ticket)
        self.assertFalse(resumed, "a ticket from before the reload resumed")
        resumed, _ = self.starttls_session(relayguard, context, fresh)
        self.assertTrue(resumed)
        self.settle(relayguard, sink)
        self.assertEqual(len(sink.transactions), 1)

    def test_session_tickets_off_issues_none(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, tls_options={"session-tickets": "off"})
        context = h.client_tls_context()
        resumed, ticket = self.starttls_session(relayguard, context)
        self.assertFalse(ticket is not None and ticket.has_ticket)
        resumed, _ = self.starttls_session(relayguard, context, ticket)
        self.assertFalse(resumed)


class ImplicitTlsTests(TlsTestCase):
    def test_greeting_after_handshake(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.connect(relayguard.listener("implicit"), tls=True)
        self.assertIn(client.sock.version(), ("TLSv1.2", "TLSv1.3"))
        greeting = client.read_reply()
        self.assertReply(greeting, 220)
        self.assertTrue(greeting.lines[0].startswith(f"{h.RELAYGUARD_HOSTNAME} ESMTP"), str(greeting))
        ehlo = client.ehlo()
        self.assertReply(ehlo, 250)
        self.assertNotIn("STARTTLS", keywords(ehlo), str(ehlo))
        self.assertIn("AUTH", keywords(ehlo), str(ehlo))
        reply = client.command("STARTTLS")
        self.assertTrue(500 <= reply.code < 600, f"STARTTLS on the implicit TLS listener: {reply}")
        reply = self.deliver(client, b"Subject: over implicit TLS\r\n\r\nhello\r\n")
        self.assertReply(reply, 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.LOCAL_RECIPIENT])
        self.assertIn(b"over implicit TLS", transaction.body)

    def test_plain_text_client_gets_no_greeting(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client = self.connect(relayguard.listener("implicit"))
        client.send(b"EHLO client.test\r\n")
        received = b""
        try:
            while True:
                data = client._receive(time.monotonic() + client.timeout)
                if not data:
                    break
                received += data
        except (OSError, socket.timeout) as error:
            self.transcript.note("client", f"ended with {error!r}")
        self.assertFalse(received.startswith(b"2"), f"a plain-text reply on the implicit TLS listener: {received!r}")
        self.assertNotIn(b"250", received)
        # relayguard is still fine afterwards.
        other = self.connect(relayguard.listener("implicit"), tls=True)
        self.assertReply(other.read_reply(), 220)

    def test_swaks_implicit_tls_auth_relays(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.swaks(relayguard.listener("implicit"), "--tls-on-connect", "--auth", "PLAIN",
                                    "--auth-user", "alice", "--auth-password", PASSWORD, to=h.REMOTE_RECIPIENT)
        self.assertEqual(status, 0, output)
        self.assertIn("<~  235 2.7.0 Authentication successful", output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])


class RelayOverTlsTests(TlsTestCase):
    def test_relay_battery_over_tls_unauthenticated_denied(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        for listener in ("starttls", "implicit"):
            if listener == "starttls":
                client, _ = self.tls_greeted(relayguard)
            else:
                client = self.greeted(relayguard.listener("implicit"), tls=True)
            self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            for recipient in [h.REMOTE_RECIPIENT] + ROUTING_TRICKS:
                shown = AS_FORWARDED.get(recipient, recipient)
                self.assertReply(client.command(f"RCPT TO:<{recipient}>"), 554,
                                 f"5.7.1 <{shown}>: Relay access denied", message=f"{listener}: {recipient}")
            self.assertReply(client.command("DATA"), 554, "5.5.1", message=listener)
            self.assertReply(client.command("QUIT"), 221)
        self.settle(relayguard, sink)
        self.assertEqual(sink.rcpt_commands(), [])

    def test_relay_battery_over_tls_authenticated_accepted(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        client, _ = self.tls_greeted(relayguard)
        self.login(client)
        recipients = [h.REMOTE_RECIPIENT] + ROUTING_TRICKS
        reply = self.deliver(client, b"Subject: authenticated relay\r\n\r\nhi\r\n", rcpts=recipients)
        self.assertReply(reply, 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [AS_FORWARDED.get(recipient, recipient) for recipient in recipients])

    def test_nmap_finds_no_open_relay_with_tls_configured(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        host, port = relayguard.listener("starttls")
        status, output = self.run_program(
            ["nmap", "-n", "-Pn", "-sT", "-S", h.UNTRUSTED_CLIENT, "-e", "lo", "-p", str(port), "--script",
             "+smtp-open-relay", "--script-args", "smtp-open-relay.domain=elsewhere.test,smtp-open-relay.ip=127.0.0.1",
             host], timeout=90)
        self.assertEqual(status, 0, output)
        self.assertIn("smtp-open-relay: Server doesn't seem to be an open relay, all tests failed", output)
        self.assertNotRegex(output, r"Server is an open relay")
        relayguard.wait_for_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 ")
        self.settle(relayguard, sink)
        self.assertEqual(sink.rcpt_commands(), [])


if __name__ == "__main__":
    unittest.main()
