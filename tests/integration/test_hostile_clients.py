"""Hostile clients, generated: many connections from an untrusted address send seeded random mixtures
of valid commands, relay attempts, binary noise, over-long lines, odd line ends, NULs and broken TLS
handshakes, split into random writes, and end by QUIT, a half-close, a close or a reset. Afterwards:

- everything relayguard sent them is well-formed SMTP (reply lines, no control characters);
- the upstream never saw a recipient outside the protected domain (nothing was relayed);
- relayguard still serves an ordinary client, and at the end exits 0 without a sanitizer report.

The seeds are fixed, so a failure reproduces; nothing measures time."""

import random
import re
import socket
import ssl
import struct
import threading
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

REPLY_LINE = re.compile(rb"\A[2-5][0-9][0-9]([ -][\t\x20-\x7e\x80-\xff]*)?\Z")
# What the upstream may see from an untrusted client: a recipient of the protected domain, or a bare local
# part (the upstream's own user, postmaster included), with any parameters.
LOCAL_RCPT = re.compile(r"\ARCPT TO:<([^<>@\"]*@example\.com|[^<>@\"]*)>( [^<>]*)?\Z", re.I)

COMMANDS = [b"EHLO client.test", b"HELO client.test", b"ehlo", b"MAIL FROM:<sender@outside.test>",
            b"MAIL FROM:<>", b"MAIL FROM:<a@b> SIZE=999999999999999999999", b"MAIL FROM:<x@outside.test> BODY=8BITMIME",
            b"RCPT TO:<user@example.com>", b"RCPT TO:<victim@elsewhere.test>",
            b"RCPT TO:<victim%elsewhere.test@example.com>", b"RCPT TO:<@example.com:victim@elsewhere.test>",
            b"RCPT TO:<\"victim@elsewhere.test\"@example.com>", b"RCPT TO:<elsewhere.test!victim@example.com>",
            b"RCPT TO:<victim@[192.0.2.1]>", b"RCPT TO:<postmaster>", b"RCPT TO:<user@example.com> NOTIFY=NEVER",
            b"DATA", b"BDAT 10 LAST", b"RSET", b"NOOP", b"HELP", b"VRFY root", b"EXPN staff", b"QUIT",
            b"STARTTLS", b"AUTH PLAIN", b"AUTH PLAIN AGFsaWNlAHdyb25n", b"AUTH LOGIN", b"*", b"YWxpY2U=",
            b"XCLIENT NAME=spoofed ADDR=10.0.0.1", b"ETRN example.com", b"TURN", b".", b"..", b"Subject: x", b""]
LINE_ENDS = [b"\r\n"] * 6 + [b"\n", b"\r", b"\r\r\n", b"\n\r", b"\0\r\n"]


def random_line(rng):
    kind = rng.random()
    if kind < 0.70:
        line = rng.choice(COMMANDS)
        if rng.random() < 0.1:
            position = rng.randrange(len(line) + 1)
            line = line[:position] + bytes([rng.randrange(256)]) + line[position:]
    elif kind < 0.85:
        line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
    elif kind < 0.95:
        line = b"RCPT TO:<" + b"a" * rng.choice([100, 300, 2100, 5000]) + b"@example.com>"
    else:
        line = rng.choice(COMMANDS).lower()
    return line + rng.choice(LINE_ENDS)


def random_writes(rng, payload):
    """`payload` cut into writes of random sizes, single octets included."""
    cuts, position = [], 0
    while position < len(payload):
        size = rng.choice([1, 2, 7, 64, 512, 4096])
        cuts.append(payload[position:position + size])
        position += size
    return cuts


def read_until_end(sock, limit=1 << 20):
    received = bytearray()
    while len(received) < limit:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionError, OSError):
            return bytes(received), False
        if not data:
            return bytes(received), True
        received += data
    return bytes(received), False


def client_hello():
    """The first flight of a real TLS client, to break in various ways."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = h.client_tls_context().wrap_bio(incoming, outgoing, server_hostname=h.RELAYGUARD_HOSTNAME)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class HostileClientTests(h.IntegrationTestCase):
    SESSIONS_PER_THREAD = 20
    THREADS = 3

    def hostile_session(self, rng, address, transcripts):
        sock = socket.create_connection(address, timeout=h.scaled(10), source_address=(h.UNTRUSTED_CLIENT, 0))
        with sock:
            # Half the sessions open a transaction properly first, so that the noise also lands among
            # recipients, inside messages and between transactions, not only before EHLO.
            prelude = b"EHLO client.test\r\nMAIL FROM:<sender@outside.test>\r\n" if rng.random() < 0.5 else b""
            payload = prelude + b"".join(random_line(rng) for _ in range(rng.randrange(1, 40)))
            ending = rng.choice(["quit", "quit", "quit", "half-close", "close", "reset"])
            if ending in ("quit", "half-close"):
                # Ends a message or an AUTH exchange left open, then the session.
                payload += b"\r\n.\r\nQUIT\r\n"
            try:
                for write in random_writes(rng, payload):
                    sock.sendall(write)
                if ending == "half-close":
                    sock.shutdown(socket.SHUT_WR)
                elif ending == "reset":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                elif ending == "close":
                    return
            except (BrokenPipeError, ConnectionResetError):
                pass  # relayguard hung up first (too many errors): what it sent is still checked
            received, ended = read_until_end(sock)
            transcripts.append((payload, received, ended))

    def test_random_sessions_get_only_well_formed_replies_and_relay_nothing(self):
        sink = self.start_sink()
        # A high error limit lets the noise go deep into sessions (recipients, messages, AUTH) instead
        # of ending most of them after ten mistakes.
        relayguard = self.start_relayguard(sink, limits={"max-errors": 200})
        transcripts, failures = [], []

        def worker(seed):
            rng = random.Random(seed)
            try:
                for _ in range(self.SESSIONS_PER_THREAD):
                    self.hostile_session(rng, relayguard.address, transcripts)
            except Exception as error:  # reported below, with the seed
                failures.append(f"seed {seed}: {error!r}")

        threads = [threading.Thread(target=worker, args=(2026 + index,)) for index in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=h.scaled(300))
        self.assertFalse(any(thread.is_alive() for thread in threads), "a hostile client hung")
        self.assertEqual(failures, [])
        self.assertGreater(len(transcripts), self.THREADS * self.SESSIONS_PER_THREAD // 2)

        for payload, received, ended in transcripts:
            context = f"sent {payload[:300]!r}... received {received[-300:]!r}"
            self.assertTrue(ended, f"relayguard did not end the session after QUIT: {context}")
            self.assertTrue(received.endswith(b"\r\n"), f"a reply was cut short: {context}")
            for line in received[:-2].split(b"\r\n"):
                self.assertRegex(line, REPLY_LINE, f"not a reply line: {line!r}; {context}")

        # Whatever got through to the upstream, nothing was addressed outside example.com — and some did get
        # through, or the check would say nothing.
        self.assertTrue(sink.rcpt_commands(), "no hostile session ever reached the upstream")
        for rcpt in sink.rcpt_commands():
            self.assertRegex(rcpt, LOCAL_RCPT, "a recipient outside the protected domain reached the upstream")
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT))

        # And an ordinary client is served as before.
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(b"Subject: after the storm\r\n\r\nstill here\r\n.\r\n")
        self.assertReply(client.read_reply(), 250)
        self.assertTrue(any(t.body == b"Subject: after the storm\r\n\r\nstill here\r\n" for t in sink.transactions))

    def test_broken_tls_handshakes_leave_the_listeners_serving(self):
        sink = self.start_sink()
        certificate, key = h.self_signed_certificate(self.workdir / "tls")
        relayguard = self.start_relayguard(sink, listen=("127.0.0.1", "127.0.0.1"), listen_tls=("starttls", "implicit"),
                                           tls={"certificate": certificate, "key": key})
        hello = client_hello()
        self.assertGreater(len(hello), 50)
        rng = random.Random(8446)
        for round_number in range(30):
            damaged = bytearray(hello)
            kind = round_number % 3
            if kind == 0:
                damaged = damaged[:rng.randrange(1, len(damaged))]  # cut short
            elif kind == 1:
                for _ in range(rng.randrange(1, 8)):  # bytes flipped anywhere, lengths included
                    damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            else:
                damaged = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
            starttls = round_number % 2 == 0
            listener = relayguard.listener("starttls" if starttls else "implicit")
            sock = socket.create_connection(listener, timeout=h.scaled(10), source_address=(h.UNTRUSTED_CLIENT, 0))
            with sock:
                if starttls:
                    self.assertTrue(sock.recv(512).startswith(b"220 "))
                    sock.sendall(b"EHLO client.test\r\nSTARTTLS\r\n")
                    answered = b""
                    while b"220 2.0.0" not in answered:
                        data = sock.recv(4096)
                        self.assertTrue(data, f"no 220 to STARTTLS: {answered!r}")
                        answered += data
                try:
                    sock.sendall(bytes(damaged))
                    # Nothing more comes: a handshake still waiting for the rest of a record ends at
                    # the end of input instead of at the 30-second handshake time-out.
                    sock.shutdown(socket.SHUT_WR)
                except (BrokenPipeError, ConnectionResetError):
                    continue
                received, _ = read_until_end(sock)
                # Whatever comes back is TLS (an alert record) or nothing: never clear text.
                self.assertFalse(received.startswith((b"2", b"4", b"5")), f"clear text after a broken hello: {received!r}")

        for tls_mode in ("starttls", "implicit"):
            client = self.connect(relayguard.listener(tls_mode), tls=tls_mode == "implicit")
            self.assertReply(client.read_reply(), 220)
            self.assertReply(client.ehlo("client.test"), 250)
            if tls_mode == "starttls":
                client.starttls()
                self.assertReply(client.ehlo("client.test"), 250)
            self.assertReply(client.command("NOOP"), 250)


if __name__ == "__main__":
    unittest.main()
