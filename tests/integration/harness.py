"""Integration test harness: real TCP peers on loopback around a real `relayguard run`.

- free_port(): a port nobody listens on, for relayguard's listeners and for "connection refused".
- RecordingSink: an open relay that accepts everything and records every envelope and body exactly as
  received, so a test can see what relayguard let through. ScriptedUpstream adds faults.
- Relayguard: writes a configuration, starts `relayguard run -c FILE`, waits until it listens, keeps
  its standard error for log assertions, stops it with SIGTERM and checks that it exits 0.
- SmtpClient: a raw socket client that can come from any loopback address, send bytes in one write
  (pipelining, smuggling) and read multi-line replies.
- IntegrationTestCase: unittest glue; every test gets its own directory, peers and ports, and a failing
  test prints relayguard's configuration, its log and the transcript of every SMTP conversation.

Every wait is bounded (socket timeouts, deadlines); no test measures elapsed time. Python 3 stdlib only.
"""

import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "build" / "dev" / "firmware" / "relayguard"

# The test world: 127.0.0.1 is the trusted (allowlisted) client, 127.0.0.2 an untrusted one, and
# example.com the protected server's own domain; elsewhere.test is somebody else's.
TRUSTED_CLIENT = "127.0.0.1"
UNTRUSTED_CLIENT = "127.0.0.2"
RELAYGUARD_HOSTNAME = "mx.example.com"
LOCAL_DOMAIN = "example.com"
LOCAL_RECIPIENT = "user@example.com"
REMOTE_RECIPIENT = "victim@elsewhere.test"
OUTSIDE_SENDER = "sender@outside.test"

# Slow machines (emulators, sanitizers) stretch every bound; tests never measure elapsed time.
TIMEOUT_SCALE = float(os.environ.get("RELAYGUARD_TEST_TIMEOUT_SCALE", "1") or "1")


def scaled(seconds):
    return seconds * TIMEOUT_SCALE


def relayguard_binary():
    """The binary under test: $RELAYGUARD_BINARY, else the dev build in this checkout."""
    configured = os.environ.get("RELAYGUARD_BINARY")
    return Path(configured) if configured else DEFAULT_BINARY


def relayguard_emulator():
    """A command prefix for cross-built binaries, e.g. RELAYGUARD_EMULATOR="qemu-aarch64" (';' or spaces)."""
    text = os.environ.get("RELAYGUARD_EMULATOR", "")
    return [part for part in re.split(r"[;\s]+", text) if part]


def address_family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# Listening ports come from below Linux's ephemeral range (32768-60999 by default): a port the kernel
# hands out for port 0 may be handed out again at once as the source port of some client connection,
# and tests running in parallel would then collide.
LISTEN_PORTS = range(20000, 32000)
# Drawn from the operating system's randomness: tests started together (ctest -j) must not share a
# sequence, as seeds made of the process id and the start time did (two such seeds collided in CI).
_port_picker = random.SystemRandom()
# Ports this process has handed out already: a test that asks twice before it binds either (two
# <listen> elements, say) would otherwise get the same free port twice now and then (seen in CI).
_ports_handed_out = set()


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that nothing listens on right now, outside the ephemeral range, and that
    this process has not handed out before."""
    for _ in range(200):
        port = _port_picker.choice(LISTEN_PORTS)
        if port in _ports_handed_out:
            continue
        with socket.socket(address_family(host), socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            _ports_handed_out.add(port)
            return port
    raise RuntimeError("no free listening port found on %s" % host)


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls `predicate` until it returns something true; raises TimeoutError after `timeout` (scaled)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {scaled(timeout):.1f}s waiting for {what}")
        time.sleep(interval)


def client_tls_context():
    """A TLS client context for tests: no certificate or host name verification (the test certificates
    are self-signed throwaways), TLS 1.2 at least."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def self_signed_certificate(directory, hostname=None, curve="P-256"):
    """A throwaway self-signed EC certificate and key for `hostname` in `directory` (made with openssl);
    returns (certificate path, key path)."""
    hostname = hostname or RELAYGUARD_HOSTNAME
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-nodes",
               "-keyout", str(key), "-out", str(certificate), "-days", "2", "-subj", f"/CN={hostname}",
               "-addext", f"subjectAltName=DNS:{hostname}"]
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=scaled(30))
    if completed.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {completed.stdout.decode(errors='replace')}")
    return certificate, key


def password_hash(password, iterations=1000):
    """A password hash as `relayguard passwd --iterations N` prints it (the password on standard input).
    Tests use few iterations for speed."""
    command = relayguard_emulator() + [str(relayguard_binary()), "passwd", "--iterations", str(iterations)]
    completed = subprocess.run(command, input=password.encode() + b"\n", stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=scaled(120))
    if completed.returncode != 0:
        raise RuntimeError(f"relayguard passwd failed ({completed.returncode}): {completed.stderr!r}")
    lines = completed.stdout.decode().split()
    hashes = [line for line in lines if line.startswith("$pbkdf2-sha256$")]
    if len(hashes) != 1:
        raise RuntimeError(f"relayguard passwd printed no single hash: {completed.stdout!r}")
    return hashes[0]


def bare_newlines(data):
    """Offsets of every CR not followed by LF and every LF not preceded by CR."""
    found = []
    for index, octet in enumerate(data):
        if octet == 0x0D and data[index + 1 : index + 2] != b"\n":
            found.append(index)
        elif octet == 0x0A and (index == 0 or data[index - 1] != 0x0D):
            found.append(index)
    return found


def crlf_message(*lines):
    """A message body from text lines, each ending in CRLF (no final dot)."""
    return "".join(line + "\r\n" for line in lines).encode()


def unstuff(body):
    """The body without SMTP dot-stuffing (RFC 5321 §4.5.2)."""
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


# ---------------------------------------------------------------------------------------------------
# Transcript: what every peer said, in order, for the failure report.


class Transcript:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._started = time.monotonic()

    def record(self, who, direction, data):
        with self._lock:
            self._entries.append((time.monotonic() - self._started, who, direction, bytes(data)))

    def note(self, who, text):
        self.record(who, "note", text.encode(errors="replace"))

    def render(self, limit=400):
        with self._lock:
            entries = list(self._entries)
        skipped = max(0, len(entries) - limit)
        lines = [f"... {skipped} earlier entries left out"] if skipped else []
        for elapsed, who, direction, data in entries[skipped:]:
            shown = data if len(data) <= 600 else data[:600] + b"...(%d octets)" % len(data)
            lines.append(f"{elapsed:8.3f} {who:>14} {direction:>4} {shown!r}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The raw SMTP client.


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete reply arrived."""


class ReplyTimeout(Exception):
    """No complete reply within the timeout."""


class Reply:
    """One SMTP reply: `code` and the text of each line (after "DDD-" / "DDD ")."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def line(self):
        """The last line as sent, e.g. "554 5.7.1 <x@y>: Relay access denied"."""
        return f"{self.code} {self.lines[-1]}" if self.lines and self.lines[-1] else str(self.code)

    @property
    def enhanced(self):
        match = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0] if self.lines else "")
        return match.group(1) if match else None

    def __repr__(self):
        return f"Reply({self.raw!r})"

    def __str__(self):
        return self.raw.decode(errors="replace").rstrip("\r\n")


_REPLY_LINE = re.compile(rb"^(\d{3})([ -]?)(.*)$", re.S)


class SmtpClient:
    """A minimal SMTP client on a raw socket; every read has a timeout."""

    def __init__(self, host, port, source=None, timeout=5.0, transcript=None, name="client", tls=False):
        self.name = name
        self.timeout = scaled(timeout)
        self.transcript = transcript
        self._buffer = b""
        self.tls = False
        source_address = (source, 0) if source else None
        try:
            self.sock = socket.create_connection((host, port), timeout=self.timeout, source_address=source_address)
        except OSError as error:
            self._note(f"cannot connect from {source} to [{host}]:{port}: {error!r}")
            raise
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local_address = self.sock.getsockname()[0]
        self._note("connected from %s to %s:%d" % (self.local_address, host, port))
        if tls:
            self.wrap_tls()

    def wrap_tls(self, context=None, server_hostname=RELAYGUARD_HOSTNAME, session=None):
        """Runs a TLS handshake on the connection (implicit TLS, or after "220 Ready to start TLS"); octets
        already buffered in plain text are an error (the server answered something it should not have).
        `session`: an earlier connection's ssl.SSLSession (from the same context) to resume."""
        if self._buffer:
            raise AssertionError(f"{self.name}: plain-text octets left before the TLS handshake: {self._buffer!r}")
        self._note("TLS handshake" + (" (offering to resume)" if session else ""))
        self.sock.settimeout(self.timeout)
        self.sock = (context or client_tls_context()).wrap_socket(self.sock, server_hostname=server_hostname,
                                                                   session=session)
        self.tls = True
        self._note(f"TLS established: {self.sock.version()} {self.sock.cipher()[0]}"
                   + (" (resumed)" if self.sock.session_reused else ""))
        return self.sock.version(), self.sock.cipher()

    def starttls(self, context=None, session=None):
        """STARTTLS, which must be answered 220, then the handshake; returns the 220 reply."""
        reply = self.command("STARTTLS")
        if reply.code != 220:
            raise AssertionError(f"{self.name}: STARTTLS answered {reply}")
        self.wrap_tls(context, session=session)
        return reply

    def _note(self, text):
        if self.transcript:
            self.transcript.note(self.name, text)

    def send(self, data):
        """Sends `data` (bytes or str) in one write."""
        if isinstance(data, str):
            data = data.encode()
        if self.transcript:
            self.transcript.record(self.name, ">>", data)
        self.sock.sendall(data)

    def _receive(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if self.transcript:
            self.transcript.record(self.name, "<<", data if data else b"(connection closed)")
        return data

    def read_reply(self, timeout=None):
        """Reads one complete (possibly multi-line) reply."""
        deadline = time.monotonic() + (scaled(timeout) if timeout is not None else self.timeout)
        lines = []
        consumed = 0
        while True:
            newline = self._buffer.find(b"\n", consumed)
            if newline >= 0:
                line = self._buffer[consumed:newline].rstrip(b"\r")
                consumed = newline + 1
                match = _REPLY_LINE.match(line)
                if not match:
                    raise AssertionError(f"{self.name}: malformed reply line {line!r}")
                lines.append(match.group(3).decode(errors="replace"))
                if match.group(2) != b"-":
                    raw = self._buffer[:consumed]
                    self._buffer = self._buffer[consumed:]
                    return Reply(int(match.group(1)), lines, raw)
                continue
            try:
                data = self._receive(deadline)
            except socket.timeout:
                raise ReplyTimeout(f"{self.name}: no complete reply; buffered {self._buffer!r}") from None
            except (ConnectionResetError, ssl.SSLEOFError):
                data = b""
            if not data:
                raise ConnectionClosed(f"{self.name}: connection closed; buffered {self._buffer!r}")
            self._buffer += data

    def read_replies(self, count, timeout=None):
        return [self.read_reply(timeout) for _ in range(count)]

    def command(self, line, timeout=None):
        """Sends one command line (CRLF added) and returns its reply."""
        self.send(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.read_reply(timeout)

    def ehlo(self, name="client.test"):
        return self.command(f"EHLO {name}")

    def nothing_within(self, seconds):
        """True when no octet arrives within `seconds` (used to show a reply is being held back)."""
        if self._buffer:
            return False
        try:
            data = self._receive(time.monotonic() + seconds)
        except socket.timeout:
            return True
        self._buffer += data
        return False

    def read_until_closed(self, timeout=None):
        """Reads replies until the peer closes; returns them. Raises ReplyTimeout if it stays open."""
        deadline = time.monotonic() + (scaled(timeout) if timeout is not None else self.timeout)
        replies = []
        while True:
            try:
                replies.append(self.read_reply(max(0.0, deadline - time.monotonic()) / TIMEOUT_SCALE))
            except ConnectionClosed:
                return replies

    def is_closed(self, timeout=None):
        """True when the peer closes the connection within the timeout (pending replies are discarded)."""
        try:
            self.read_until_closed(timeout)
            return True
        except ReplyTimeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------------
# The recording sink and the scripted upstream.


class Transaction:
    """One message the sink accepted (or saw begin, for aborted ones)."""

    def __init__(self, connection, helo, xclient):
        self.connection = connection
        self.helo = helo
        self.xclient = dict(xclient)
        self.mail_from = None
        self.mail_parameters = ""
        self.rcpt_tos = []
        self.body = b""
        self.reply = None
        self.tls = None  # the TLS version the message came over ("TLSv1.2"), None in clear text

    def __repr__(self):
        return (f"Transaction(connection={self.connection}, tls={self.tls}, helo={self.helo!r}, "
                f"mail_from={self.mail_from!r}, "
                f"rcpt_tos={self.rcpt_tos!r}, body={self.body[:200]!r}{'...' if len(self.body) > 200 else ''})")


# Only <CR><LF>.<CR><LF> ends DATA at a correct server. The vulnerable sink also ends it at any line end
# around a "." (with NULs around the dot ignored), like the servers of CVE-2023-51764/5/6; a bare CR
# only counts once something follows it, so a CRLF split across two reads is not mistaken for one.
_VULNERABLE_END = re.compile(rb"(\r\n|\r|\n)\x00*\.\x00*(\r\n|\n|\r(?=[^\n]))")


class RecordingSink:
    """A threaded SMTP server on loopback that accepts everything, like an open relay, and records it.

    Recorded (all under one lock): connections (count, closed count), every command line per
    connection, every completed transaction (helo, mail_from, rcpt_tos, the raw body octets as
    received between 354 and the final dot, dot-stuffing included, and the TLS version it came over)
    and aborted ones (DATA begun, no final dot before the connection ended).

    tls_after_reply: {verb: "extra" | "close_notify"}: once TLS is up, follow the reply to `verb` with an
    unsolicited reply in its own record, or with close_notify.
    tls: (certificate path, key path) to offer STARTTLS. starttls: how to answer it — "ok"; "refuse"
    (454); "inject" (220 followed by a clear-text reply in the same write, as an attacker in the path
    would, CVE-2011-0411); "garbage" (220, then answer the ClientHello with bytes that are not TLS).
    """

    def __init__(self, host="127.0.0.1", *, name="sink", hostname="sink.test", xclient=False, smtputf8=False,
                 vulnerable=False, transcript=None, banner=None, replies=None, tls=None, starttls="ok",
                 tls_after_reply=None):
        self.host = host
        self.name = name
        self.hostname = hostname
        self.xclient = xclient
        self.smtputf8 = smtputf8
        self.vulnerable = vulnerable
        self.transcript = transcript
        self.banner = banner or f"220 {hostname} ESMTP RecordingSink"
        self.tls = tls
        self.starttls = starttls
        self.tls_after_reply = dict(tls_after_reply or {})
        self.handshakes = 0  # completed TLS handshakes
        # Fixed replies per verb ("MAIL", "RCPT", "DATA", "DOT", ...): a string or a list of lines.
        self.replies = dict(replies or {})
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = []
        self._connections = []
        self.connection_count = 0
        self.closed_count = 0
        self._commands = []
        self._transactions = []
        self._aborted = []
        self._queue_id = 0
        self._listener = socket.socket(address_family(host), socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self.port = self._listener.getsockname()[1]

    # -- public view -------------------------------------------------------------------------------

    @property
    def address(self):
        return (self.host, self.port)

    @property
    def transactions(self):
        with self._lock:
            return list(self._transactions)

    @property
    def aborted(self):
        with self._lock:
            return list(self._aborted)

    @property
    def commands(self):
        """Every command line received, as (connection number, text)."""
        with self._lock:
            return list(self._commands)

    def verbs(self):
        return [text.split(" ", 1)[0].split(":", 1)[0].upper() for _, text in self.commands]

    def rcpt_commands(self):
        return [text for _, text in self.commands if text.upper().startswith("RCPT")]

    def saw_recipient(self, address):
        """True when any RCPT command naming `address` (case-insensitive) reached the sink."""
        needle = address.lower()
        return any(needle in text.lower() for text in self.rcpt_commands())

    def wait_for_transactions(self, count, timeout=5):
        return wait_until(lambda: len(self.transactions) >= count and self.transactions, timeout,
                          f"{self.name} to record {count} transaction(s)")

    def wait_for_closed(self, count, timeout=5):
        wait_until(lambda: self.closed_count >= count, timeout, f"{self.name} to see {count} connection(s) end")

    # -- lifetime ----------------------------------------------------------------------------------

    def start(self):
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self):
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(timeout=3)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- hooks for ScriptedUpstream ----------------------------------------------------------------

    def _greets(self):
        return True

    def _greeting_closes(self):
        return False

    def _should_answer(self, session):
        return True

    def _on_data_octets(self, session):
        """Called when body octets arrive; return True to drop the connection right there."""
        return False

    def _before_final_reply(self, session):
        pass

    # -- the server --------------------------------------------------------------------------------

    def _record(self, direction, connection_number, data):
        if self.transcript:
            self.transcript.record(f"{self.name}#{connection_number}", direction, data)

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connection_count += 1
                number = self.connection_count
                self._connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection, number),
                                      name=f"{self.name}-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    class _Session:
        def __init__(self, number, connection):
            self.number = number
            self.connection = connection
            self.helo = None
            self.xclient = {}
            self.transaction = None
            self.in_data = False
            self.answered = 0
            self.closing = False
            self.start_tls = False  # STARTTLS was answered 220: the handshake comes next
            self.tls_version = None

    def _send(self, session, lines):
        if isinstance(lines, str):
            lines = [lines]
        data = "".join(line + "\r\n" for line in lines).encode()
        self._record("<<", session.number, data)
        try:
            session.connection.sendall(data)
        except OSError:
            session.closing = True

    def _answer(self, session, verb, default):
        """Sends the reply for `verb` (an override, or `default`) unless the script says to stay silent."""
        if not self._should_answer(session):
            self._record("note", session.number, b"(silent: no reply)")
            return
        session.answered += 1
        self._send(session, self.replies.get(verb, default))
        trick = self.tls_after_reply.get(verb) if session.tls_version else None
        if trick == "extra":
            # A second reply nobody asked for, in a TLS record of its own.
            self._send(session, "250 2.0.0 unsolicited")
        elif trick == "close_notify":
            # The TLS session ends right behind the reply, in the same flight.
            self._record("note", session.number, b"(close_notify after the reply)")
            try:
                session.connection.unwrap()
            except (OSError, ssl.SSLError):
                pass
            session.closing = True

    def _start_tls(self, session):
        """The server side of the handshake after 220; False when it failed."""
        session.start_tls = False
        if self.starttls == "garbage":
            # Answer the ClientHello (not before it: then the bytes would be clear text after the 220).
            session.connection.settimeout(scaled(10))
            try:
                hello = session.connection.recv(65536)
            except OSError:
                return False
            self._record(">>", session.number, hello)
            self._send(session, "this is not a TLS record")
            return False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.tls)
        session.connection.settimeout(scaled(10))
        try:
            session.connection = context.wrap_socket(session.connection, server_side=True)
        except (OSError, ssl.SSLError) as error:
            self._record("note", session.number, f"(TLS handshake failed: {error})".encode())
            return False
        session.connection.settimeout(0.1)
        session.tls_version = session.connection.version()
        session.helo = None  # RFC 3207 §4.2: the session starts over
        session.transaction = None
        with self._lock:
            self.handshakes += 1
        self._record("note", session.number, f"(TLS established: {session.tls_version})".encode())
        return True

    def _serve(self, connection, number):
        session = self._Session(number, connection)
        buffer = b""
        try:
            connection.settimeout(0.1)
            if self._greets():
                self._send(session, self.banner)
            if self._greeting_closes():
                return
            while not self._stopping.is_set() and not session.closing:
                try:
                    data = session.connection.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                self._record(">>", number, data if data else b"(connection closed)")
                if not data:
                    break
                buffer = self._process(session, buffer + data)
                if session.start_tls:
                    buffer = b""  # what came with STARTTLS is not trusted (RFC 3207 §4.2)
                    if not self._start_tls(session):
                        break
        finally:
            if session.in_data and session.transaction is not None:
                session.transaction.body = buffer
                with self._lock:
                    self._aborted.append(session.transaction)
            try:
                session.connection.close()
            except OSError:
                pass
            with self._lock:
                self.closed_count += 1
                if connection in self._connections:
                    self._connections.remove(connection)

    def _find_end(self, buffer):
        """(body, rest) when the data in `buffer` is complete, else None."""
        framed = b"\r\n" + buffer  # the DATA command's own CRLF precedes the first body line
        if self.vulnerable:
            match = _VULNERABLE_END.search(framed)
            if not match:
                return None
            return buffer[: max(0, match.end(1) - 2)], buffer[match.end() - 2 :]
        index = framed.find(b"\r\n.\r\n")
        if index < 0:
            return None
        return buffer[:index], buffer[index + 3 :]

    def _process(self, session, buffer):
        while not session.closing and not session.start_tls:
            if session.in_data:
                if buffer and self._on_data_octets(session):
                    session.closing = True
                    return buffer
                end = self._find_end(buffer)
                if end is None:
                    return buffer
                session.transaction.body, buffer = end
                session.in_data = False
                self._finish_transaction(session)
                continue
            newline = buffer.find(b"\n")
            if newline < 0:
                return buffer
            line, buffer = buffer[:newline].rstrip(b"\r"), buffer[newline + 1 :]
            self._command(session, line.decode("utf-8", errors="replace"))
        return buffer

    def _finish_transaction(self, session):
        transaction = session.transaction
        session.transaction = None
        self._before_final_reply(session)
        with self._lock:
            self._queue_id += 1
            queue_id = f"{self.name.upper()}{self._queue_id:04d}"
        reply = self.replies.get("DOT", f"250 2.0.0 Ok: queued as {queue_id}")
        transaction.reply = reply if isinstance(reply, str) else reply[-1]
        if transaction.reply.startswith("2"):
            with self._lock:
                self._transactions.append(transaction)
        self._answer(session, "DOT", reply)

    def _ehlo_lines(self, session, argument):
        lines = [f"250-{self.hostname} Hello {argument}", "250-PIPELINING", "250-SIZE 104857600"]
        if self.tls and session.tls_version is None:
            lines.append("250-STARTTLS")
        if self.xclient:
            lines.append("250-XCLIENT NAME ADDR PROTO HELO LOGIN")
        if self.smtputf8:
            lines.append("250-SMTPUTF8")
        lines += ["250-8BITMIME", "250 ENHANCEDSTATUSCODES"]
        return lines

    def _command(self, session, line):
        with self._lock:
            self._commands.append((session.number, line))
        verb, _, argument = line.partition(" ")
        verb = verb.upper()
        if verb in ("EHLO", "HELO"):
            session.helo = argument.strip()
            session.transaction = None
            self._answer(session, verb, self._ehlo_lines(session, argument) if verb == "EHLO" else f"250 {self.hostname}")
        elif verb == "XCLIENT" and self.xclient:
            for item in argument.split():
                key, _, value = item.partition("=")
                session.xclient[key.upper()] = value
            session.helo = None
            session.transaction = None
            self._answer(session, verb, f"220 {self.hostname} ESMTP RecordingSink")
        elif verb == "MAIL":
            match = re.match(r"(?i)FROM:\s*<([^>]*)>\s*(.*)$", argument)
            if session.transaction is not None:
                self._answer(session, verb, "503 5.5.1 Error: nested MAIL command")
            elif not match:
                self._answer(session, verb, "501 5.5.4 Syntax: MAIL FROM:<address>")
            else:
                session.transaction = Transaction(session.number, session.helo, session.xclient)
                session.transaction.tls = session.tls_version
                session.transaction.mail_from = match.group(1)
                session.transaction.mail_parameters = match.group(2)
                self._answer(session, verb, "250 2.1.0 Ok")
        elif verb == "RCPT":
            match = re.match(r"(?i)TO:\s*<([^>]*)>", argument)
            if session.transaction is None:
                self._answer(session, verb, "503 5.5.1 Error: need MAIL command")
            elif not match:
                self._answer(session, verb, "501 5.5.4 Syntax: RCPT TO:<address>")
            else:
                session.transaction.rcpt_tos.append(match.group(1))
                self._answer(session, verb, "250 2.1.5 Ok")
        elif verb == "DATA":
            if session.transaction is None or not session.transaction.rcpt_tos:
                self._answer(session, verb, "554 5.5.1 Error: no valid recipients")
            else:
                reply = self.replies.get("DATA", "354 End data with <CR><LF>.<CR><LF>")
                first = reply if isinstance(reply, str) else reply[-1]
                if first.startswith("354"):
                    session.in_data = True
                self._answer(session, verb, reply)
        elif verb == "STARTTLS" and self.tls and session.tls_version is None:
            if self.starttls == "refuse":
                self._answer(session, verb, "454 4.7.0 TLS not available due to local problem")
            elif self.starttls == "inject":
                self._answer(session, verb, ["220 2.0.0 Ready to start TLS", "250 2.0.0 injected"])
                session.closing = True  # an attacker's stream: nothing sensible follows
            else:
                self._answer(session, verb, "220 2.0.0 Ready to start TLS")
                session.start_tls = True
        elif verb == "RSET":
            session.transaction = None
            self._answer(session, verb, "250 2.0.0 Ok")
        elif verb == "NOOP":
            self._answer(session, verb, "250 2.0.0 Ok")
        elif verb == "VRFY":
            self._answer(session, verb, "252 2.0.0 Send some mail, I'll try my best")
        elif verb == "QUIT":
            self._answer(session, verb, "221 2.0.0 Bye")
            session.closing = True
        else:
            self._answer(session, verb, "502 5.5.2 Error: command not recognized")


class ScriptedUpstream(RecordingSink):
    """A RecordingSink that misbehaves on purpose. Modes:

    "no-greeting"    accepts the connection and never says anything
    "greet-421"      greets 421 and closes
    "greet-554"      greets 554 and answers 503 to everything but QUIT (RFC 5321 §3.1)
    "final-451"      answers 451 4.3.0 to the final dot (the message is not recorded)
    "final-554"      answers 554 5.6.0 to the final dot (the message is not recorded)
    "close-mid-data" closes the connection as soon as the first body octets arrive
    "silent"         stops answering after `silent_after` replies (EHLO=1, MAIL=2, RCPT=3, DATA=4,
                     final dot=5 in a plain session), keeping the connection open
    "hold-final"     records the message but holds its 250 until release() (bounded), so a test can
                     show that nobody hears 250 before the upstream said it
    "hang-up"        closes the connection without a word after `silent_after` replies
    """

    MODES = ("no-greeting", "greet-421", "greet-554", "final-451", "final-554", "close-mid-data", "silent",
             "hold-final", "hang-up")

    def __init__(self, mode, host="127.0.0.1", *, silent_after=1, hold_limit=30, **options):
        if mode not in self.MODES:
            raise ValueError(f"unknown upstream mode {mode!r}")
        replies = dict(options.pop("replies", None) or {})
        banner = options.pop("banner", None)
        if mode == "greet-421":
            banner = "421 4.3.2 sink.test Service shutting down"
        elif mode == "greet-554":
            banner = "554 5.3.2 sink.test No SMTP service here"
        elif mode == "final-451":
            replies["DOT"] = "451 4.3.0 Error: queue file write error"
        elif mode == "final-554":
            replies["DOT"] = "554 5.6.0 Error: message content rejected"
        super().__init__(host, banner=banner, replies=replies, **options)
        self.mode = mode
        self.silent_after = silent_after
        self.hold_limit = hold_limit
        self.released = threading.Event()
        self.holding = threading.Event()  # set while a final reply is being held back

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        super().stop()

    def _greets(self):
        return self.mode != "no-greeting"

    def _greeting_closes(self):
        return self.mode == "greet-421"

    def _command(self, session, line):
        if self.mode == "greet-554" and not line.upper().startswith("QUIT"):
            with self._lock:
                self._commands.append((session.number, line))
            self._answer(session, "any", "503 5.5.1 Error: no SMTP service")
            return
        super()._command(session, line)

    def _should_answer(self, session):
        if self.mode == "hang-up" and session.answered >= self.silent_after:
            self._record("note", session.number, b"(hanging up)")
            session.closing = True
            return False
        return self.mode != "silent" or session.answered < self.silent_after

    def _on_data_octets(self, session):
        if self.mode == "close-mid-data":
            self._record("note", session.number, b"(closing mid-DATA)")
            return True
        return False

    def _before_final_reply(self, session):
        if self.mode == "hold-final":
            self.holding.set()
            self._record("note", session.number, b"(holding the final reply)")
            self.released.wait(scaled(self.hold_limit))


class PostfixSmtpSink:
    """Postfix's own smtp-sink as the upstream; every message is dumped to a file in `dump_dir`."""

    PROGRAM = "/usr/sbin/smtp-sink"

    def __init__(self, workdir, host="127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.dump_dir = Path(workdir) / "smtp-sink"
        self.dump_dir.mkdir(exist_ok=True)
        # Started by root, smtp-sink writes as "nobody": it must reach and write the dump directory.
        Path(workdir).chmod(0o711)
        self.dump_dir.chmod(0o777)
        self.process = None

    @property
    def address(self):
        return (self.host, self.port)

    def start(self):
        command = [self.PROGRAM]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        endpoint = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        command += ["-d", str(self.dump_dir) + "/%H%M%S.", endpoint, "100"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)

        def accepting():
            if self.process.poll() is not None:
                raise RuntimeError(f"smtp-sink exited: {self.process.stdout.read()!r}")
            try:
                socket.create_connection(self.address, timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(accepting, 10, "smtp-sink to listen")
        return self

    def dumps(self):
        """The dump files' contents (headers X-Mail-Args, X-Rcpt-Args, ... then the message)."""
        return [path.read_bytes() for path in sorted(self.dump_dir.iterdir()) if path.is_file()]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process and self.process.stdout:
            self.process.stdout.close()


# ---------------------------------------------------------------------------------------------------
# relayguard itself.


class RelayguardFailed(AssertionError):
    pass


class Relayguard:
    """One `relayguard run -c FILE` process with a generated configuration.

    listen: addresses to listen on, each with a fresh port; upstream: (host, port);
    relay_allow / domains: the <relay> allowlist and local domains; relay_options: more <relay>
    attributes ({"local-senders": "anyone"}); clients: (default, [("deny", "127.0.0.4/32"), ...]) or
    None; limits / upstream_options: attribute dicts ({"max-recipients": 2}); bare_newline: "reject" /
    "normalize" / None for the default. probe_source: the address the readiness probe comes from.
    tls: the <tls> attributes ({"certificate": PATH, "key": PATH}) or None; listen_tls: each listener's
    tls attribute, in the order of `listen` ("starttls", "implicit", "none", or None for no attribute);
    auth: the <auth> attributes ({"max-failures": 5}) or None for no <auth>; users: the <user> elements'
    attributes ([{"name": "alice", "password-hash": ..., "senders": ...}]), inside <auth>.
    sections: more elements as {name: attributes} ({"run": {"pid-file": ...}, "watchdog": {...}});
    environment: variables added to relayguard's environment (NOTIFY_SOCKET, WATCHDOG_USEC).
    log_options: <log> attributes over target="stderr" ({"target": "syslog", "server": "udp://…"}): such a
    relayguard's standard error holds only what it prints before its log is set up.
    descriptor_limit: (soft, hard) RLIMIT_NOFILE relayguard starts with, or None for the test's own.
    """

    def __init__(self, workdir, upstream, *, listen=("127.0.0.1",), hostname=RELAYGUARD_HOSTNAME,
                 relay_allow=("127.0.0.1/32",), domains=(LOCAL_DOMAIN,), relay_options=None, clients=None,
                 limits=None, upstream_options=None, bare_newline=None, log_level="info", probe_source=None,
                 transcript=None, tls=None, listen_tls=None, auth=None, users=(), sections=None,
                 environment=None, descriptor_limit=None, log_options=None):
        self.workdir = Path(workdir)
        self.descriptor_limit = descriptor_limit
        self.upstream = upstream
        self.listen_addresses = list(listen)
        self.hostname = hostname
        self.relay_allow = list(relay_allow)
        self.domains = list(domains)
        self.relay_options = dict(relay_options or {})
        self.clients = clients
        self.limits = dict(limits or {})
        self.upstream_options = dict(upstream_options or {})
        self.bare_newline = bare_newline
        self.log_level = log_level
        self.probe_source = probe_source
        self.transcript = transcript
        self.tls = dict(tls) if tls is not None else None
        self.listen_tls = list(listen_tls) if listen_tls is not None else [None] * len(self.listen_addresses)
        if len(self.listen_tls) != len(self.listen_addresses):
            raise ValueError("listen_tls needs one entry per listen address")
        self.auth = dict(auth) if auth is not None else ({} if users else None)
        self.users = [dict(user) for user in users]
        self.sections = {name: dict(attributes) for name, attributes in (sections or {}).items()}
        self.log_options = dict(log_options or {})
        self.environment = dict(environment or {})
        self.reloads = 0
        self.listeners = []
        self.process = None
        self.exit_code = None
        self.terminated = False
        self.stop_failed = False
        self.config_path = self.workdir / "relayguard.xml"
        self.stderr_path = self.workdir / "relayguard.stderr"
        self.stdout_path = self.workdir / "relayguard.stdout"

    # -- configuration -----------------------------------------------------------------------------

    def config_xml(self):
        root = ElementTree.Element("relayguard")
        for (host, port), tls_mode in zip(self.listeners, self.listen_tls):
            attributes = {"tls": tls_mode} if tls_mode else {}
            ElementTree.SubElement(root, "listen", address=host, port=str(port), **attributes)
        upstream_host, upstream_port = self.upstream
        ElementTree.SubElement(root, "upstream", host=upstream_host, port=str(upstream_port),
                               **{key: str(value) for key, value in self.upstream_options.items()})
        ElementTree.SubElement(root, "identity", hostname=self.hostname)
        if self.tls is not None:
            ElementTree.SubElement(root, "tls", **{key: str(value) for key, value in self.tls.items()})
        if self.clients is not None:
            default, rules = self.clients
            clients = ElementTree.SubElement(root, "clients", default=default)
            for action, network in rules:
                ElementTree.SubElement(clients, action, network=network)
        relay = ElementTree.SubElement(root, "relay", **{key: str(value) for key, value in self.relay_options.items()})
        for network in self.relay_allow:
            ElementTree.SubElement(relay, "allow", network=network)
        for domain in self.domains:
            ElementTree.SubElement(relay, "domain", name=domain)
        if self.auth is not None:
            auth = ElementTree.SubElement(root, "auth", **{key: str(value) for key, value in self.auth.items()})
            for user in self.users:
                ElementTree.SubElement(auth, "user", **{key: str(value) for key, value in user.items()})
        if self.limits:
            ElementTree.SubElement(root, "limits", **{key: str(value) for key, value in self.limits.items()})
        if self.bare_newline:
            ElementTree.SubElement(root, "data", **{"bare-newline": self.bare_newline})
        ElementTree.SubElement(root, "log", **{"target": "stderr", "level": self.log_level, **self.log_options})
        for name, attributes in self.sections.items():
            ElementTree.SubElement(root, name, **{key: str(value) for key, value in attributes.items()})
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode") + "\n"

    @property
    def port(self):
        return self.listeners[0][1]

    @property
    def host(self):
        return self.listeners[0][0]

    @property
    def address(self):
        return self.listeners[0]

    @property
    def pid(self):
        return self.process.pid if self.process else None

    # -- lifetime ----------------------------------------------------------------------------------

    def start(self, attempts=3):
        """Starts relayguard and waits until every listener answers. A port taken meanwhile by someone
        else (the ports are picked before relayguard binds them) is retried with fresh ports."""
        for attempt in range(attempts):
            self.listeners = [(host, free_port(host)) for host in self.listen_addresses]
            self.config_path.write_text(self.config_xml())
            try:
                self._launch()
                return self
            except RelayguardFailed as failure:
                if attempt + 1 < attempts and re.search(r"in use|EADDRINUSE", str(failure), re.I):
                    self._note(f"attempt {attempt + 1} failed, retrying with other ports: {failure}")
                    continue
                raise

    def _launch(self):
        binary = relayguard_binary()
        if not binary.exists():
            raise RelayguardFailed(f"relayguard binary not found: {binary} (set RELAYGUARD_BINARY)")
        command = relayguard_emulator() + [str(binary), "run", "-c", str(self.config_path)]
        environment = dict(os.environ, **self.environment) if self.environment else None
        with open(self.stderr_path, "wb") as stderr, open(self.stdout_path, "wb") as stdout:
            limit = self.descriptor_limit
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                            cwd=self.workdir, env=environment,
                                            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit))
                                            if limit else None)
        self.exit_code = None
        self.terminated = False
        if self.transcript:
            self.transcript.note("relayguard", f"started pid {self.process.pid}: {shlex.join(command)}")
        for (host, port), tls_mode in zip(self.listeners, self.listen_tls):
            self._wait_for_listener(host, port, implicit_tls=tls_mode == "implicit")

    def listener(self, tls_mode):
        """The (host, port) of the first listener whose tls attribute is `tls_mode`."""
        for address, mode in zip(self.listeners, self.listen_tls):
            if mode == tls_mode:
                return address
        raise KeyError(f"no listener with tls={tls_mode!r}")

    def _wait_for_listener(self, host, port, implicit_tls=False):
        deadline = time.monotonic() + scaled(10)
        source = self.probe_source or ("::1" if ":" in host else "127.0.0.1")
        while True:
            if self.process.poll() is not None:
                self.exit_code = self.process.returncode
                raise RelayguardFailed(
                    f"relayguard exited with status {self.exit_code} before listening on [{host}]:{port}\n"
                    f"--- command: {shlex.join(self.process.args)}\n--- configuration:\n{self.config_xml()}"
                    f"--- stderr:\n{self.stderr()}")
            if not self._owns_listener(port):
                # Not listening yet, or the port belongs to another test's relayguard (two tests running
                # at once may pick the same port; the second relayguard then fails and is retried).
                if time.monotonic() >= deadline:
                    self.kill()
                    raise RelayguardFailed(f"relayguard did not listen on [{host}]:{port} within "
                                           f"{scaled(10):.0f}s\n--- stderr:\n{self.stderr()}")
                time.sleep(0.03)
                continue
            try:
                probe = socket.create_connection((host, port), timeout=1, source_address=(source, 0))
                if probe.getsockname()[:2] == probe.getpeername()[:2]:
                    # Before relayguard binds, a loopback connect can pick the target port as its own
                    # and connect to itself (TCP simultaneous open); that is nobody listening.
                    probe.close()
                    raise ConnectionRefusedError("connected to itself")
            except OSError:
                if time.monotonic() >= deadline:
                    self.kill()
                    raise RelayguardFailed(f"relayguard did not listen on [{host}]:{port} within "
                                           f"{scaled(10):.0f}s\n--- stderr:\n{self.stderr()}") from None
                time.sleep(0.03)
                continue
            self._note(f"probe connected to [{host}]:{port} from {probe.getsockname()[:2]}")
            if implicit_tls:
                try:
                    probe.settimeout(scaled(5))
                    probe = client_tls_context().wrap_socket(probe, server_hostname=self.hostname)
                    self._note(f"probe: TLS established ({probe.version()})")
                except OSError as error:
                    self._note(f"probe: TLS handshake failed: {error!r}")
                    probe.close()
                    return
            self._finish_probe(probe)
            return

    def _owns_listener(self, port):
        """Whether this relayguard process (the emulator's, under qemu) has a socket listening on `port`:
        the kernel's socket table names the listening socket's inode, and /proc/PID/fd its owner."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as lines:
                    next(lines)
                    for line in lines:
                        fields = line.split()
                        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                            inodes.add(fields[9])
            except OSError:
                continue
        if not inodes:
            return False
        try:
            descriptors = os.listdir(f"/proc/{self.process.pid}/fd")
        except OSError:
            return False
        for descriptor in descriptors:
            try:
                target = os.readlink(f"/proc/{self.process.pid}/fd/{descriptor}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
        return False

    def _finish_probe(self, probe):
        """Reads the greeting and says QUIT, so the probe's session is over before the test begins."""
        with probe:
            probe.settimeout(scaled(5))
            received = b""
            try:
                while not re.search(rb"(?:^|\n)\d{3}(?: [^\n]*)?\n", received):
                    data = probe.recv(4096)
                    if not data:
                        self._note(f"probe: connection closed after {received!r}")
                        return
                    received += data
                self._note(f"probe received {received!r}")
                if received.startswith(b"220"):
                    probe.sendall(b"QUIT\r\n")
                    while probe.recv(4096):
                        pass
                self._note("probe done")
            except OSError as error:
                self._note(f"probe: {error!r} after {received!r}")

    def stop(self, timeout=20):
        """SIGTERM, then waits (bounded) for the exit; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
                self.stop_failed = True
                raise RelayguardFailed(f"relayguard did not exit within {scaled(timeout):.0f}s of SIGTERM\n"
                                       f"--- stderr:\n{self.stderr()}") from None
        self.exit_code = self.process.returncode
        return self.exit_code

    def _note(self, text):
        if self.transcript:
            self.transcript.note("relayguard", text)

    def reload(self, config_text=None, expect="done", timeout=10, **changes):
        """Rewrites the configuration (the same listener ports; `changes` replace constructor settings,
        e.g. relay_allow=[...], or `config_text` replaces the whole file), sends SIGHUP and waits
        (bounded) for relayguard to log that the reload is "done" or "failed"; returns that line."""
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError(f"Relayguard has no setting {name!r}")
            setattr(self, name, value)
        self.config_path.write_text(config_text if config_text is not None else self.config_xml())
        pattern = re.compile(r"reload: done|reload failed")
        before = sum(1 for line in self.log_lines() if pattern.search(line))
        self.reloads += 1
        self._note(f"sending SIGHUP (reload {self.reloads})")
        self.process.send_signal(signal.SIGHUP)

        def finished():
            lines = [line for line in self.log_lines() if pattern.search(line)]
            return lines[before] if len(lines) > before else None

        try:
            line = wait_until(finished, timeout, "relayguard to finish reloading")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- relayguard stderr:\n{self.stderr()}") from None
        if expect and ("reload: done" if expect == "done" else "reload failed") not in line:
            raise AssertionError(f"reload {self.reloads}: expected {expect!r}, relayguard logged: {line}\n"
                                 f"--- stderr:\n{self.stderr()}")
        return line

    def terminate(self):
        """Sends SIGTERM once (a second one could mean "stop now" to relayguard)."""
        if not self.terminated and self.process.poll() is None:
            self._note("sending SIGTERM")
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def running(self):
        return self.process is not None and self.process.poll() is None

    # -- output ------------------------------------------------------------------------------------

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.stderr().splitlines()

    def wait_for_log(self, pattern, timeout=5):
        """The first log line matching the regular expression `pattern`, waiting (bounded) for it."""
        regex = re.compile(pattern)

        def find():
            return next((line for line in self.log_lines() if regex.search(line)), None)

        try:
            return wait_until(find, timeout, f"a log line matching {pattern!r}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- relayguard stderr:\n{self.stderr()}") from None


# ---------------------------------------------------------------------------------------------------
# unittest glue.

SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error: |ThreadSanitizer")


class IntegrationTestCase(unittest.TestCase):
    """Base class: per-test directory, peers and ports; diagnostics when a test fails."""

    def setUp(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="relayguard-it-"))
        self.transcript = Transcript()
        self.relayguards = []
        self.clients = []

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        super().run(result)
        problems = [entry for entry in result.failures + result.errors if entry[0] is self]
        workdir = getattr(self, "workdir", None)
        if problems:
            self._report_diagnostics()
        if workdir and not os.environ.get("RELAYGUARD_TEST_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir:
            sys.stderr.write(f"kept {workdir}\n")
        return result

    def _report_diagnostics(self):
        out = [f"\n===== diagnostics for {self.id()}"]
        for index, relayguard in enumerate(getattr(self, "relayguards", [])):
            out.append(f"--- relayguard #{index} configuration ({relayguard.config_path}):\n"
                       f"{relayguard.config_xml() if relayguard.listeners else '(not started)'}")
            out.append(f"--- relayguard #{index} stderr (exit status {relayguard.exit_code}):\n{relayguard.stderr()}")
        transcript = getattr(self, "transcript", None)
        if transcript:
            out.append("--- transcript (time, peer, direction, octets):\n" + transcript.render())
        out.append("===== end of diagnostics\n")
        sys.stderr.write("\n".join(out))
        sys.stderr.flush()

    # -- peers -------------------------------------------------------------------------------------

    def start_sink(self, host="127.0.0.1", **options):
        sink = RecordingSink(host, transcript=self.transcript, **options).start()
        self.addCleanup(sink.stop)
        return sink

    def start_upstream(self, mode, host="127.0.0.1", **options):
        upstream = ScriptedUpstream(mode, host, transcript=self.transcript, name="upstream", **options).start()
        self.addCleanup(upstream.stop)
        return upstream

    def start_postfix_sink(self, host="127.0.0.1"):
        if not os.path.exists(PostfixSmtpSink.PROGRAM):
            self.fail(f"{PostfixSmtpSink.PROGRAM} is missing (Debian package postfix)")
        sink = PostfixSmtpSink(self.workdir, host)
        self.addCleanup(sink.stop)
        return sink.start()

    def start_relayguard(self, upstream, **options):
        """Starts relayguard in front of `upstream` (a sink or a (host, port) pair). Stopping it at the
        end of the test is part of the test: it must exit 0 and print no sanitizer report."""
        address = upstream.address if hasattr(upstream, "address") else upstream
        relayguard = Relayguard(self.workdir / f"rg{len(self.relayguards)}", address, transcript=self.transcript,
                                **options)
        relayguard.workdir.mkdir()
        self.relayguards.append(relayguard)
        self.addCleanup(self._stop_relayguard, relayguard)
        return relayguard.start()

    def _stop_relayguard(self, relayguard):
        if relayguard.stop_failed:
            return  # already reported
        status = relayguard.stop()
        if status is None:
            return
        self.assertEqual(status, 0, f"relayguard exited with status {status} after SIGTERM")
        report = SANITIZER_REPORT.search(relayguard.stderr())
        self.assertIsNone(report, "relayguard printed a sanitizer report")

    def connect(self, relayguard, source=UNTRUSTED_CLIENT, timeout=5, name=None, tls=False):
        """A raw client connected to relayguard's first listener (or to a (host, port) pair); with
        tls=True it starts with a TLS handshake (implicit TLS)."""
        host, port = relayguard.address if hasattr(relayguard, "address") else relayguard
        client = SmtpClient(host, port, source=source, timeout=timeout, transcript=self.transcript,
                            name=name or f"client@{source}", tls=tls)
        self.addCleanup(client.close)
        self.clients.append(client)
        return client

    def greeted(self, relayguard, source=UNTRUSTED_CLIENT, helo="client.test", **options):
        """A client past the greeting and EHLO."""
        client = self.connect(relayguard, source, **options)
        greeting = client.read_reply()
        self.assertEqual(greeting.code, 220, f"greeting: {greeting}")
        reply = client.ehlo(helo)
        self.assertEqual(reply.code, 250, f"EHLO: {reply}")
        return client

    def open_data(self, client, sender=OUTSIDE_SENDER, rcpts=(LOCAL_RECIPIENT,)):
        """MAIL, RCPT (each must be accepted) and DATA (must be 354), one command at a time."""
        self.assertReply(client.command(f"MAIL FROM:<{sender}>"), 250, message="MAIL")
        for rcpt in rcpts:
            self.assertReply(client.command(f"RCPT TO:<{rcpt}>"), 250, message=f"RCPT {rcpt}")
        self.assertReply(client.command("DATA"), 354, message="DATA")

    def deliver(self, client, body, sender=OUTSIDE_SENDER, rcpts=(LOCAL_RECIPIENT,)):
        """A whole transaction; `body` is sent as is, then the final dot. Returns the final reply."""
        self.open_data(client, sender, rcpts)
        client.send(body + b".\r\n")
        return client.read_reply()

    def settle(self, relayguard, *sinks):
        """Closes the test's clients, stops relayguard (it must exit 0) and waits until every sink has seen
        each of its connections end, so that everything relayguard sent has been recorded before the test
        looks. (Clients go first: relayguard lets a session in a transaction finish before it exits.)"""
        for client in self.clients:
            client.close()
        self._stop_relayguard(relayguard)
        for sink in sinks:
            sink.wait_for_closed(sink.connection_count)

    # -- programs ----------------------------------------------------------------------------------

    def nmap_open_relay(self, target, source):
        """nmap's smtp-open-relay script against `target` from `source` (nmap's -S on lo); returns (exit
        status, output). The relay domain is elsewhere.test and the server address 127.0.0.1."""
        host, port = target.address
        return self.run_program(
            ["nmap", "-n", "-Pn", "-sT", "-S", source, "-e", "lo", "-p", str(port), "--script", "+smtp-open-relay",
             "--script-args", "smtp-open-relay.domain=elsewhere.test,smtp-open-relay.ip=127.0.0.1", host],
            timeout=90)

    def run_program(self, command, timeout=60):
        """Runs a program (bounded); returns (exit status, stdout+stderr as text)."""
        self.transcript.note("program", shlex.join(command))
        try:
            completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, timeout=scaled(timeout))
        except subprocess.TimeoutExpired as expired:
            output = (expired.stdout or b"").decode(errors="replace")
            self.fail(f"{command[0]} did not finish within {scaled(timeout):.0f}s:\n{output}")
        output = completed.stdout.decode(errors="replace")
        self.transcript.note("program", f"exit status {completed.returncode}\n{output}")
        return completed.returncode, output

    def swaks(self, server, *arguments, source=UNTRUSTED_CLIENT, sender=OUTSIDE_SENDER, to=LOCAL_RECIPIENT,
              helo="client.test"):
        """Runs swaks against `server` (relayguard, a sink or (host, port)); returns (status, output)."""
        host, port = server.address if hasattr(server, "address") else server
        command = ["swaks", "--server", host, "--port", str(port), "--from", sender, "--to", to,
                   "--helo", helo, "--timeout", str(int(scaled(10)))]
        if source:
            command += ["--local-interface", source]
        if ":" in host:
            command.append("-6")
        return self.run_program(command + list(arguments))

    # -- assertions --------------------------------------------------------------------------------

    def assertReply(self, reply, code, starts_with=None, message=None):
        """`reply` has `code` and, when given, its last line starts with `starts_with` ("5.7.1 <x@y>: ...")."""
        detail = f"{message + ': ' if message else ''}got {str(reply)!r}"
        self.assertEqual(reply.code, code, detail)
        if starts_with is not None:
            self.assertTrue(reply.lines[-1].startswith(starts_with),
                            f"{detail}; expected text starting with {starts_with!r}")

    def assertNoBareNewlines(self, body, what="body"):
        self.assertEqual(bare_newlines(body), [], f"{what} has bare CR or LF: {body!r}")
