"""A chaotic upstream, generated: for every reply it owes, a seeded random choice between a proper reply and
trouble — refusals, garbage, control characters, replies cut into pieces, unsolicited extra replies, a
half multi-line reply and a hang-up, silence until relayguard's upstream time-out, a closed connection.
Ordinary clients send one message each through relayguard to it. Afterwards:

- every message a client was told "250" for is one the upstream accepted with a proper 250 to its final
  dot (relayguard never answers 250 for mail the server did not take);
- everything the clients received is well-formed SMTP;
- relayguard still delivers to a well-behaved upstream after a reload, and exits 0 at the end.

Seeded: the choices repeat from run to run (up to thread interleaving); nothing measures time."""

import random
import re
import socket
import threading
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

REPLY_LINE = re.compile(rb"\A[2-5][0-9][0-9]([ -][\t\x20-\x7e\x80-\xff]*)?\Z")
TOKEN = re.compile(rb"X-Chaos-Token: (\d+)")
# Proper answers to a final dot that accept the message, each as the writes that carry it.
ACCEPTING = [[b"250 2.0.0 Ok: queued as CHAOS\r\n"], [b"25", b"0 2.0.0 Ok: in two pieces\r\n"],
             [b"250 2.0.0 Ok: bare line feed\n"], [b"250-2.0.0 Ok\r\n250 2.0.0 queued\r\n"]]
# Answers that do not accept it (and must never turn into a 250 for the client).
TROUBLE = [[b"451 4.3.0 Error: queue file write error\r\n"], [b"554 5.6.0 Rejected\r\n"],
           [b"250 o\x00k\r\n"], [b"25O 2.0.0 Ok\r\n"], [b"250-2.0.0 Ok\r\n"], [b"\x16\x03\x01\x00\x05hello"],
           [b"2" * 600 + b"\r\n"], [b"250 2.0.0 Ok\rqueued\r\n"], [b"999 weird\r\n"], []]


class ChaosUpstream:
    """A threaded SMTP server on 127.0.0.1 that misbehaves at random; records the tokens of the messages
    it accepted with a proper 250."""

    def __init__(self, seed, trouble_percent=25):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.address = self.listener.getsockname()
        self.seed = seed
        self.trouble_percent = trouble_percent
        self.accepted_tokens = set()
        self.lock = threading.Lock()
        self.connections = 0
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(target=self.accept_loop, daemon=True)
        self.acceptor.start()

    def stop(self):
        self.stopping = True
        try:
            socket.create_connection(self.address, timeout=1).close()
        except OSError:
            pass
        self.acceptor.join(timeout=5)
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def accept_loop(self):
        while True:
            connection, _ = self.listener.accept()
            if self.stopping:
                connection.close()
                return
            with self.lock:
                self.connections += 1
                rng = random.Random(self.seed * 1000 + self.connections)
            thread = threading.Thread(target=self.serve, args=(connection, rng), daemon=True)
            self.threads.append(thread)
            thread.start()

    def troubled(self, rng):
        return rng.randrange(100) < self.trouble_percent

    def send(self, connection, writes):
        for write in writes:
            connection.sendall(write)
        return bool(writes)

    def serve(self, connection, rng):
        connection.settimeout(h.scaled(30))
        reader = connection.makefile("rb")
        try:
            with connection, reader:
                if not self.send(connection, rng.choice(TROUBLE) if self.troubled(rng) else [b"220 chaos.test ESMTP\r\n"]):
                    return
                while True:
                    line = reader.readline(4096)
                    if not line:
                        return
                    verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
                    if verb == b"QUIT":
                        connection.sendall(b"221 2.0.0 Bye\r\n")
                        return
                    if self.troubled(rng):
                        writes = rng.choice(TROUBLE)
                        if not writes or rng.random() < 0.1:
                            return  # hang up (with or without a last word)
                        self.send(connection, writes)
                        continue
                    if verb == b"EHLO":
                        connection.sendall(b"250-chaos.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n")
                    elif verb == b"DATA":
                        connection.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        body = bytearray()
                        while not body.endswith(b"\r\n.\r\n"):
                            chunk = reader.readline(65536)
                            if not chunk:
                                return
                            body += chunk
                        if self.troubled(rng):
                            writes = rng.choice(TROUBLE)
                            if not self.send(connection, writes):
                                return
                            if writes == [b"250-2.0.0 Ok\r\n"]:
                                return  # half a multi-line 250, then gone
                            continue
                        token = TOKEN.search(body)
                        with self.lock:
                            if token:
                                self.accepted_tokens.add(int(token.group(1)))
                        writes = rng.choice(ACCEPTING)
                        if rng.random() < 0.1:
                            writes = writes + [b"250 2.0.0 unsolicited\r\n"]
                        self.send(connection, writes)
                    else:
                        connection.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            return


def read_reply(sock, pending):
    """One whole reply (lines up to the final "DDD "); returns (lines, pending) or (None, pending) at the end."""
    lines = []
    while True:
        while b"\r\n" not in pending:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return None, pending
            pending += data
        line, pending = pending.split(b"\r\n", 1)
        lines.append(line)
        if line[3:4] != b"-":
            return lines, pending


class HostileUpstreamTests(h.IntegrationTestCase):
    MESSAGES = 90

    def send_message(self, relayguard, token, received_lines):
        """One message from the trusted client; returns True when relayguard said 250 to its final dot."""
        sock = socket.create_connection(relayguard.address, timeout=h.scaled(20), source_address=(h.TRUSTED_CLIENT, 0))
        pending = b""
        with sock:
            steps = [None, b"EHLO client.test\r\n", b"MAIL FROM:<sender@example.com>\r\n",
                     b"RCPT TO:<user@example.com>\r\n", b"DATA\r\n",
                     b"X-Chaos-Token: %d\r\nSubject: chaos\r\n\r\nbody\r\n.\r\n" % token]
            expected = [b"220", b"250", b"250", b"250", b"354", b"250"]
            accepted = False
            for step, code in zip(steps, expected):
                if step is not None:
                    sock.sendall(step)
                lines, pending = read_reply(sock, pending)
                if lines is None:
                    return False
                received_lines.extend(lines)
                if not lines[-1].startswith(code):
                    break
                accepted = step is steps[-1]
            try:
                sock.sendall(b"QUIT\r\n")
                lines, pending = read_reply(sock, pending)
                received_lines.extend(lines or [])
            except OSError:
                pass
            return accepted

    def test_no_250_for_a_message_the_chaotic_upstream_did_not_take(self):
        upstream = ChaosUpstream(seed=5321, trouble_percent=15)
        self.addCleanup(upstream.stop)
        relayguard = self.start_relayguard(upstream.address,
                                           upstream_options={"connect-timeout": "2s", "command-timeout": "1s",
                                                             "data-timeout": "2s"})
        told_250, received_lines, failures = [], [], []

        def client(first_token):
            try:
                for token in range(first_token, first_token + self.MESSAGES // 3):
                    if self.send_message(relayguard, token, received_lines):
                        told_250.append(token)
            except Exception as error:
                failures.append(repr(error))

        threads = [threading.Thread(target=client, args=(start,)) for start in (1000, 2000, 3000)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=h.scaled(300))
        self.assertFalse(any(thread.is_alive() for thread in threads), "a client hung")
        self.assertEqual(failures, [])

        for line in received_lines:
            self.assertRegex(line, REPLY_LINE, "a client received a line that is not a reply line")
        not_taken = sorted(set(told_250) - upstream.accepted_tokens)
        self.assertEqual(not_taken, [], "relayguard said 250 for messages the upstream did not accept")
        # Both outcomes happened, or the check above says little.
        self.assertGreater(len(told_250), 5)
        self.assertLess(len(told_250), self.MESSAGES)

        # Pointed at a well-behaved upstream by a reload, relayguard delivers again.
        sink = self.start_sink()
        relayguard.reload(upstream=sink.address)
        self.assertTrue(self.send_message(relayguard, 9999, received_lines), "no delivery after the chaos")
        [transaction] = sink.wait_for_transactions(1)
        self.assertIn(b"X-Chaos-Token: 9999", transaction.body)


if __name__ == "__main__":
    unittest.main()
