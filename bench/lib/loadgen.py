"""The load: Postfix's smtp-source for messages, and small Python clients for what it cannot do —
idle sessions by the thousand, per-command round trips, STARTTLS handshakes. Standard library only.
"""

import multiprocessing
import select
import selectors
import socket
import ssl
import subprocess
import time

SMTP_SOURCE = "/usr/sbin/smtp-source"
SENDER = "sender@example.com"
RECIPIENT = "rcpt@example.com"


class LoadFailed(RuntimeError):
    pass


def comparison_arguments(parser, rounds):
    """The options of the scripts that compare the current build with an earlier one in one run
    (bench/allocations, bench/syscalls)."""
    parser.add_argument("--binary", default="build/release/firmware/relayguard")
    parser.add_argument("--baseline", help="an earlier glibc build to compare with, in the same run")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--json", help="write the counts here")
    return parser.parse_args()


def smtp_source(port, sessions, messages, size, many_per_connection, timeout):
    """Sends `messages` messages of `size` payload octets over `sessions` parallel sessions; returns
    the elapsed seconds. One message per connection, or all of a session's over one (-d)."""
    command = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", SENDER, "-t",
               RECIPIENT, "-M", "bench.client", "-C", "5"]
    if many_per_connection:
        command.append("-d")
    command.append(f"127.0.0.1:{port}")
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LoadFailed(f"smtp-source took longer than {timeout:.0f}s") from None
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        output = completed.stdout.decode(errors="replace").strip().splitlines()
        raise LoadFailed(f"smtp-source exited {completed.returncode}: {' / '.join(output[-3:])}")
    return elapsed


# ---------------------------------------------------------------------------------------------------
# Idle sessions.

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def source_addresses(count):
    """Loopback source addresses 127.0.1.1, 127.0.1.2, ...: each has its own ephemeral port range."""
    return [f"127.0.{1 + index // 250}.{1 + index % 250}" for index in range(count)]


class IdleSessions:
    """Holds plaintext SMTP sessions open after their 220 greeting."""

    def __init__(self):
        self.sockets = []

    def open(self, host, port, count, batch=400, timeout=60, sources=20):
        addresses = source_addresses(sources)
        opened = 0
        deadline = time.monotonic() + timeout
        while opened < count:
            size = min(batch, count - opened)
            self._open_batch(host, port, [addresses[(opened + i) % len(addresses)] for i in range(size)], deadline)
            opened += size
        return self

    def _open_batch(self, host, port, sources, deadline):
        selector = selectors.DefaultSelector()
        pending = {}
        try:
            for source in sources:
                conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                conn.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                conn.bind((source, 0))
                conn.setblocking(False)
                conn.connect_ex((host, port))
                selector.register(conn, selectors.EVENT_READ)
                pending[conn] = b""
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LoadFailed(f"{len(pending)} sessions got no greeting in time "
                                     f"({len(self.sockets)} held so far)")
                for key, _ in selector.select(timeout=min(remaining, 1.0)):
                    conn = key.fileobj
                    try:
                        chunk = conn.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as error:
                        raise LoadFailed(f"a session failed before its greeting after {len(self.sockets)} "
                                         f"were held: {error}") from None
                    if not chunk:
                        raise LoadFailed(f"a session was closed before its greeting after {len(self.sockets)} "
                                         "were held")
                    pending[conn] += chunk
                    if b"\r\n" in pending[conn]:
                        if not pending[conn].startswith(b"220"):
                            raise LoadFailed(f"greeting was {pending[conn][:60]!r}")
                        selector.unregister(conn)
                        del pending[conn]
                        self.sockets.append(conn)
        except BaseException:
            for conn in pending:
                conn.close()
            raise
        finally:
            selector.close()

    def still_open(self):
        """How many sessions are still open: none may have been closed or sent anything unasked."""
        poller = select.poll()
        for conn in self.sockets:
            poller.register(conn, 0x001 | 0x008 | 0x010)  # POLLIN | POLLERR | POLLHUP
        troubled = {fd for fd, _ in poller.poll(0)}
        return len(self.sockets) - len(troubled)

    def close(self):
        for conn in self.sockets:
            try:
                conn.close()
            except OSError:
                pass
        self.sockets = []


def read_reply(conn, buffered=b""):
    """One SMTP reply (all its lines); returns (code, text, rest of the buffer)."""
    data = buffered
    while True:
        end = 0
        while True:
            newline = data.find(b"\r\n", end)
            if newline < 0:
                break
            line = data[end:newline]
            end = newline + 2
            if len(line) >= 4 and line[3:4] == b" " or len(line) == 3:
                return int(line[:3]), data[:end], data[end:]
        chunk = conn.recv(65536)
        if not chunk:
            raise LoadFailed(f"connection closed mid-reply: {data[:80]!r}")
        data += chunk


def client_tls_context(max_tls12=True):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if max_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def starttls_session(host, port, context, source=None, timeout=10, session=None):
    """Greeting, EHLO, STARTTLS, handshake (offering `session` to resume), EHLO again: returns the TLS
    socket, idle and ready."""
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        if source:
            conn.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            conn.bind((source, 0))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.connect((host, port))
        code, _, rest = read_reply(conn)
        if code != 220:
            raise LoadFailed(f"greeting {code}")
        conn.sendall(b"EHLO bench.client\r\n")
        code, text, rest = read_reply(conn, rest)
        if code != 250 or b"STARTTLS" not in text.upper():
            raise LoadFailed(f"EHLO did not offer STARTTLS: {text[:200]!r}")
        conn.sendall(b"STARTTLS\r\n")
        code, _, rest = read_reply(conn, rest)
        if code != 220:
            raise LoadFailed(f"STARTTLS answered {code}")
        tls = context.wrap_socket(conn, server_hostname="relayguard.bench", session=session)
        tls.sendall(b"EHLO bench.client\r\n")
        code, _, _ = read_reply(tls)
        if code != 250:
            raise LoadFailed(f"EHLO after STARTTLS answered {code}")
        return tls
    except BaseException:
        conn.close()
        raise


class TlsIdleSessions(IdleSessions):
    """Holds STARTTLS sessions open after their handshake (still_open and close are IdleSessions')."""

    def __init__(self):
        super().__init__()
        self.version = ""
        self.cipher = ""

    def open(self, host, port, count, max_tls12=False):
        context = client_tls_context(max_tls12=max_tls12)
        addresses = source_addresses(20)
        for index in range(count):
            tls = starttls_session(host, port, context, source=addresses[index % len(addresses)])
            tls.settimeout(None)
            self.version = tls.version()
            self.cipher = tls.cipher()[0] if tls.cipher() else ""
            self.sockets.append(tls)
        return self


# ---------------------------------------------------------------------------------------------------
# Per-command round trips.


class CommandClient:
    """One plaintext session that times single commands (no pipelining)."""

    def __init__(self, host, port, timeout=10):
        self.conn = socket.create_connection((host, port), timeout=timeout)
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rest = b""
        code = self._reply()
        if code != 220:
            raise LoadFailed(f"greeting {code}")
        self.command(b"EHLO bench.client", 250)

    def _reply(self):
        code, _, self.rest = read_reply(self.conn, self.rest)
        return code

    def command(self, line, expected):
        self.conn.sendall(line + b"\r\n")
        code = self._reply()
        if code != expected:
            raise LoadFailed(f"{line[:40]!r} answered {code}, not {expected}")

    def timed(self, line, expected):
        started = time.perf_counter_ns()
        self.conn.sendall(line + b"\r\n")
        code = self._reply()
        elapsed = time.perf_counter_ns() - started
        if code != expected:
            raise LoadFailed(f"{line[:40]!r} answered {code}, not {expected}")
        return elapsed / 1000.0  # microseconds

    def close(self):
        try:
            self.conn.sendall(b"QUIT\r\n")
            self._reply()
        except (OSError, LoadFailed):
            pass
        self.conn.close()


def command_round_trips(host, port, count, per_transaction=100):
    """`count` timed RCPT TO and `count` timed NOOP round trips (microseconds) over one session."""
    client = CommandClient(host, port)
    rcpt, noop = [], []
    try:
        # A few untimed commands first, so that the upstream connection exists before timing starts.
        client.command(b"NOOP", 250)
        client.command(b"MAIL FROM:<" + SENDER.encode() + b">", 250)
        in_transaction = 0
        for index in range(count):
            if in_transaction == per_transaction:
                client.command(b"RSET", 250)
                client.command(b"MAIL FROM:<" + SENDER.encode() + b">", 250)
                in_transaction = 0
            rcpt.append(client.timed(b"RCPT TO:<r%d@example.com>" % index, 250))
            in_transaction += 1
        client.command(b"RSET", 250)
        for _ in range(count):
            noop.append(client.timed(b"NOOP", 250))
    finally:
        client.close()
    return rcpt, noop


# ---------------------------------------------------------------------------------------------------
# STARTTLS handshakes.


def _handshake_worker(host, port, count, start, results, resume):
    context = client_tls_context(max_tls12=True)
    done = resumed = 0
    error = ""
    version = cipher = ""
    session = None
    if resume:
        # The ticket to resume with comes from one full handshake before the clock starts.
        try:
            tls = starttls_session(host, port, context)
            session = tls.session
            tls.close()
        except (OSError, LoadFailed, ssl.SSLError) as failure:
            error = str(failure)
    start.wait()
    try:
        for _ in range(count if not error else 0):
            tls = starttls_session(host, port, context, session=session)
            version, cipher = tls.version(), (tls.cipher() or ("",))[0]
            if resume:
                resumed += tls.session_reused
                session = tls.session  # a server may renew the ticket
            tls.close()
            done += 1
    except (OSError, LoadFailed, ssl.SSLError) as failure:
        error = str(failure)
    results.put((done, error, version, cipher, resumed))


def starttls_handshakes(host, port, count, workers, resume=False):
    """`count` complete STARTTLS sessions (greeting, EHLO, STARTTLS, full handshake, EHLO) from
    `workers` client processes in parallel; returns (elapsed seconds, TLS version, cipher suite, how
    many resumed). With `resume`, each worker first makes one full handshake and then offers its session
    ticket every time: the handshakes are resumed ones where the server takes the ticket."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()
    share = [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
    processes = [context.Process(target=_handshake_worker, args=(host, port, n, start, results, resume))
                 for n in share]
    for process in processes:
        process.start()
    time.sleep(0.2)
    started = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=10)
    errors = [error for _, error, _, _, _ in outcomes if error]
    completed = sum(done for done, _, _, _, _ in outcomes)
    if errors or completed != count:
        raise LoadFailed(f"{completed}/{count} handshakes completed: {errors[:1]}")
    version, cipher = next(((v, c) for _, _, v, c, _ in outcomes if v), ("", ""))
    return elapsed, version, cipher, sum(resumed for _, _, _, _, resumed in outcomes)


def ecdhe_group(host, port):
    """The key exchange group the server picks for OpenSSL's default offer (as Python's client makes),
    from `openssl s_client`'s "Server Temp Key" line; "" when it cannot tell."""
    try:
        completed = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-tls1_2", "-connect", f"{host}:{port}"],
                                   input=b"QUIT\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in completed.stdout.decode(errors="replace").splitlines():
        if "Server Temp Key:" in line:
            return line.split(":", 1)[1].strip()
    return ""


def loopback_source_ok(address="127.0.1.1"):
    try:
        with socket.socket() as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False

