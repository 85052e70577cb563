#!/usr/bin/env python3
"""What upstream connection reuse (<upstream pool-size>) saves in front of a slow legacy server.

    bench/upstream_reuse/upstream_reuse.py [--binary PATH] [--sessions N] [--concurrency N] [--rounds N]
                                           [--greeting-delay S] [--ehlo-delay S] [--markdown FILE]

The upstream is a sink on loopback that greets only after --greeting-delay (1 s: a tarpit, or a reverse
DNS lookup of every client) and answers EHLO after --ehlo-delay (200 ms), and answers everything else at
once. Two relayguard configurations run in turn, interleaved round by round: no pool (pool-size 0, every
session opens its own connection) and a pool (pool-size 8, prewarm 1). Each round measures
  mail-rtt   N sessions one after another, one message each: the time from sending MAIL FROM to its
             reply, as the client sees it (without a pool this holds the upstream's greeting and EHLO)
  msg/s      N sessions, --concurrency at a time, one message per connection
and the tables give the medians of the rounds and the ratio pool ÷ no pool. Counts of upstream
connections are printed too: with a pool, the sessions share a few.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = ROOT / "build" / "release" / "firmware" / "relayguard"


class SlowSink:
    """A threaded SMTP sink with a slow greeting and EHLO, counting connections and messages."""

    def __init__(self, greeting_delay, ehlo_delay):
        self.greeting_delay = greeting_delay
        self.ehlo_delay = ehlo_delay
        self.connections = 0
        self.messages = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    def serve(self, connection):
        try:
            self.converse(connection)
        except OSError:
            pass  # a client (relayguard) that hung up: nothing to record

    def converse(self, connection):
        with connection:
            time.sleep(self.greeting_delay)
            connection.sendall(b"220 slow.test ESMTP\r\n")
            buffer = b""
            in_data = False
            while True:
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while True:
                    if in_data:
                        end = buffer.find(b"\r\n.\r\n")
                        if end < 0:
                            buffer = buffer[-4:]
                            break
                        buffer = buffer[end + 5:]
                        in_data = False
                        with self.lock:
                            self.messages += 1
                        connection.sendall(b"250 2.0.0 Ok: queued\r\n")
                        continue
                    line_end = buffer.find(b"\r\n")
                    if line_end < 0:
                        break
                    line, buffer = buffer[:line_end].decode("ascii", "replace"), buffer[line_end + 2:]
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        time.sleep(self.ehlo_delay)
                        connection.sendall(b"250-slow.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                    elif verb == "DATA":
                        in_data = True
                        buffer = b"\r\n" + buffer  # so that an empty body's dot is found
                        connection.sendall(b"354 go ahead\r\n")
                    elif verb == "QUIT":
                        connection.sendall(b"221 2.0.0 Bye\r\n")
                        return
                    else:
                        connection.sendall(b"250 2.0.0 Ok\r\n")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Relayguard:
    def __init__(self, binary, workdir, upstream_port, pool):
        self.port = free_port()
        attributes = 'pool-size="8" prewarm="1"' if pool else 'pool-size="0"'
        self.config = Path(workdir) / ("pool.xml" if pool else "nopool.xml")
        self.config.write_text(f"""<relayguard>
  <listen address="127.0.0.1" port="{self.port}"/>
  <upstream host="127.0.0.1" port="{upstream_port}" {attributes}/>
  <relay><allow network="127.0.0.1/32"/><domain name="example.com"/></relay>
  <log target="stderr" level="warning"/>
</relayguard>
""")
        self.process = subprocess.Popen([str(binary), "run", "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.recv(512)
                    probe.sendall(b"QUIT\r\n")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"relayguard did not listen: {self.process.stderr.read().decode()}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def read_reply(stream):
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("closed")
        if len(line) < 4 or line[3:4] != b"-":
            return line


def one_session(port):
    """One client session with one message; returns the MAIL FROM round trip in seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = connection.makefile("rb")
        read_reply(stream)
        connection.sendall(b"EHLO bench.test\r\n")
        read_reply(stream)
        started = time.perf_counter()
        connection.sendall(b"MAIL FROM:<bench@outside.test>\r\n")
        reply = read_reply(stream)
        rtt = time.perf_counter() - started
        if not reply.startswith(b"250"):
            raise RuntimeError(f"MAIL: {reply!r}")
        for line in (b"RCPT TO:<user@example.com>\r\n", b"DATA\r\n"):
            connection.sendall(line)
            read_reply(stream)
        connection.sendall(b"Subject: bench\r\n\r\n" + b"x" * 1000 + b"\r\n.\r\n")
        reply = read_reply(stream)
        if not reply.startswith(b"250"):
            raise RuntimeError(f"final dot: {reply!r}")
        connection.sendall(b"QUIT\r\n")
        read_reply(stream)
        return rtt


def measure(relayguard, sessions, concurrency):
    rtts = [one_session(relayguard.port) for _ in range(sessions)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: one_session(relayguard.port), range(sessions)))
    elapsed = time.perf_counter() - started
    return statistics.median(rtts), sessions / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(DEFAULT_BINARY))
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--greeting-delay", type=float, default=1.0)
    parser.add_argument("--ehlo-delay", type=float, default=0.2)
    parser.add_argument("--markdown", help="also write the table to this file")
    options = parser.parse_args()

    results = {False: [], True: []}
    connections = {False: 0, True: 0}
    with tempfile.TemporaryDirectory(prefix="rg-reuse-") as workdir:
        for round_number in range(options.rounds):
            order = (False, True) if round_number % 2 == 0 else (True, False)
            for pool in order:
                sink = SlowSink(options.greeting_delay, options.ehlo_delay)
                relayguard = Relayguard(options.binary, workdir, sink.port, pool)
                try:
                    if pool:  # the prewarmed connection is what a freshly started pool offers
                        time.sleep(options.greeting_delay + options.ehlo_delay + 0.5)
                    rtt, rate = measure(relayguard, options.sessions, options.concurrency)
                finally:
                    relayguard.stop()
                    sink.listener.close()
                results[pool].append((rtt, rate))
                connections[pool] = sink.connections
                print(f"  round {round_number + 1} {'pool   ' if pool else 'no pool'}  MAIL FROM round trip "
                      f"{rtt * 1000:9.2f} ms  {rate:8.2f} msg/s  upstream connections {sink.connections}"
                      f" for {2 * options.sessions} sessions", flush=True)

    def medians(pool):
        return (statistics.median(r for r, _ in results[pool]), statistics.median(m for _, m in results[pool]))

    (rtt_off, rate_off), (rtt_on, rate_on) = medians(False), medians(True)
    table = "\n".join([
        f"Upstream greeting delayed {options.greeting_delay:g} s and EHLO reply {options.ehlo_delay * 1000:g} ms; "
        f"{options.sessions} sessions one after another (round trip) and {options.sessions} sessions "
        f"{options.concurrency} at a time (msg/s), one message per connection; median of {options.rounds} "
        "interleaved rounds.",
        "",
        "| relayguard | MAIL FROM round trip | msg/s, one per connection | upstream connections (last round) |",
        "|---|---:|---:|---:|",
        f"| no pool (pool-size 0) | {rtt_off * 1000:,.1f} ms | {rate_off:,.2f} | {connections[False]} |",
        f"| pool-size 8, prewarm 1 | {rtt_on * 1000:,.2f} ms | {rate_on:,.2f} | {connections[True]} |",
        f"| pool ÷ no pool | {rtt_on / rtt_off:.4f}× | {rate_on / rate_off:,.1f}× | |",
    ])
    print()
    print(table)
    if options.markdown:
        Path(options.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
