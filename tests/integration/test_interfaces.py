"""Listeners that follow an interface, against the real kernel: relayguard runs inside a network namespace
the test creates (ip netns, a veth pair), configured with <listen interface="..."> for an interface that
has no address yet. It must start, begin listening when an address is added, and stop listening when
the address is removed — through rtnetlink events, with no restart. The same namespace gives IPv6
clients several addresses of one /64, to show that max-connections-per-client counts them as one client.
The addresses are documentation ones (192.0.2.0/24, 2001:db8::/32) inside the private namespace, so
nothing leaves the machine.

Needs root (ip netns add); skipped with the reason where that is not permitted."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

if __package__:
    from . import harness as h
else:
    import harness as h

INTERFACE = "rgtest0"
PEER = "rgtest1"
PORT = 2525
ADDRESS_V4 = "192.0.2.1"
ADDRESS_V6 = "2001:db8::1"

# Runs inside the namespace: connects to relayguard and prints its greeting, or the error.
PROBE = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print(s.recv(512).decode(errors="replace").strip())
except OSError as error:
    print(f"ERROR {error.__class__.__name__}")
"""


def run(*command, check=True):
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=h.scaled(30), text=True)
    if check and completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}): {completed.stdout}")
    return completed


class NamespaceTestCase(unittest.TestCase):
    """One namespace per test with lo up and a veth pair whose first end relayguard is told to follow."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("network namespaces need root")
        self.namespace = f"rg-it-{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        created = run("ip", "netns", "add", self.namespace, check=False)
        if created.returncode != 0:
            self.skipTest(f"cannot create a network namespace here: {created.stdout.strip()}")
        self.addCleanup(run, "ip", "netns", "del", self.namespace, check=False)
        self.ns("ip", "link", "set", "lo", "up")
        self.ns("ip", "link", "add", INTERFACE, "type", "veth", "peer", "name", PEER)
        self.ns("ip", "link", "set", INTERFACE, "up")
        self.ns("ip", "link", "set", PEER, "up")
        self.workdir = Path(tempfile.mkdtemp(prefix="relayguard-netns-"))
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.stderr_path = self.workdir / "relayguard.stderr"
        self.process = None

    def tearDown(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=h.scaled(20))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.assertEqual(self.process.returncode, 0, f"relayguard exit status\n{self.log()}")
            self.assertIsNone(h.SANITIZER_REPORT.search(self.log()), "relayguard printed a sanitizer report")

    def ns(self, *command, check=True):
        return run("ip", "netns", "exec", self.namespace, *command, check=check)

    def start(self, listen_xml):
        config = self.workdir / "relayguard.xml"
        config.write_text(f"""<relayguard>
  {listen_xml}
  <upstream host="127.0.0.1" port="2"/>
  <identity hostname="{h.RELAYGUARD_HOSTNAME}"/>
  <log target="stderr" level="info"/>
</relayguard>
""")
        command = ["ip", "netns", "exec", self.namespace] + h.relayguard_emulator() + [
            str(h.relayguard_binary()), "run", "-c", str(config)]
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr)
        self.wait_for_log(r"boot: serving")

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern, timeout=15):
        regex = re.compile(pattern, re.M)

        def found():
            if self.process.poll() is not None:
                raise AssertionError(f"relayguard exited ({self.process.returncode}):\n{self.log()}")
            return regex.search(self.log())

        try:
            return h.wait_until(found, timeout, f"a log line matching {pattern!r}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- relayguard stderr:\n{self.log()}") from None

    def probe(self, address):
        return self.ns("python3", "-c", PROBE, address, str(PORT), str(h.scaled(5))).stdout.strip()

    def add_address(self, address, prefix, *options):
        self.ns("ip", "addr", "add", f"{address}/{prefix}", "dev", INTERFACE, *options)

    def delete_address(self, address, prefix):
        self.ns("ip", "addr", "del", f"{address}/{prefix}", "dev", INTERFACE)


class InterfaceFollowingTests(NamespaceTestCase):
    def test_listening_starts_and_stops_with_the_interface_address(self):
        self.start(f'<listen interface="{INTERFACE}" port="{PORT}"/>')
        self.wait_for_log(rf"boot: listeners: 0 bound, waiting for {INTERFACE} \(no address\)")
        self.assertTrue(self.probe(ADDRESS_V4).startswith("ERROR"), "reachable before the address exists")

        self.add_address(ADDRESS_V4, 24)
        self.wait_for_log(rf"listening on {re.escape(ADDRESS_V4)}:{PORT}%{INTERFACE}$")
        self.assertEqual(self.probe(ADDRESS_V4), f"220 {h.RELAYGUARD_HOSTNAME} ESMTP")

        self.delete_address(ADDRESS_V4, 24)
        self.wait_for_log(rf"no longer listening on {re.escape(ADDRESS_V4)}:{PORT}%{INTERFACE}$")
        self.assertTrue(self.probe(ADDRESS_V4).startswith("ERROR"), "still reachable after the address went")

    def test_ipv6_address_is_followed_once_it_can_be_bound(self):
        self.start(f'<listen interface="{INTERFACE}" port="{PORT}"/>')
        self.add_address(ADDRESS_V6, 64, "nodad")
        self.wait_for_log(rf"listening on \[{re.escape(ADDRESS_V6)}\]:{PORT}%{INTERFACE}$")
        self.assertEqual(self.probe(ADDRESS_V6), f"220 {h.RELAYGUARD_HOSTNAME} ESMTP")
        self.delete_address(ADDRESS_V6, 64)
        self.wait_for_log(rf"no longer listening on \[{re.escape(ADDRESS_V6)}\]:{PORT}%{INTERFACE}$")

    def test_an_interface_that_appears_after_the_start_is_followed(self):
        late = "rglate0"
        self.start(f'<listen interface="{late}" port="{PORT}"/>')
        self.wait_for_log(rf"waiting for {late} \(no such interface\)")
        self.ns("ip", "link", "add", late, "type", "veth", "peer", "name", "rglate1")
        self.ns("ip", "link", "set", late, "up")
        self.ns("ip", "link", "set", "rglate1", "up")
        self.ns("ip", "addr", "add", f"{ADDRESS_V4}/24", "dev", late)
        self.wait_for_log(rf"listening on {re.escape(ADDRESS_V4)}:{PORT}%{late}$")
        self.assertEqual(self.probe(ADDRESS_V4), f"220 {h.RELAYGUARD_HOSTNAME} ESMTP")
        self.ns("ip", "link", "del", late)
        self.wait_for_log(rf"no longer listening on {re.escape(ADDRESS_V4)}:{PORT}%{late}$")

    def test_a_new_address_leaves_sessions_on_the_others_alone(self):
        self.start(f'<listen interface="{INTERFACE}" port="{PORT}"/>')
        self.add_address(ADDRESS_V4, 24)
        self.wait_for_log(rf"listening on {re.escape(ADDRESS_V4)}:{PORT}%{INTERFACE}$")
        # A client inside the namespace that connects, waits for the test's go, then says NOOP.
        script = PROBE.replace('print(s.recv(512).decode(errors="replace").strip())',
                               'print(s.recv(512).decode().strip(), flush=True)\n'
                               '    sys.stdin.readline()\n'
                               '    s.sendall(b"NOOP\\r\\n")\n'
                               '    print(s.recv(512).decode().strip(), flush=True)')
        client = subprocess.Popen(["ip", "netns", "exec", self.namespace, "python3", "-c", script, ADDRESS_V4,
                                   str(PORT), str(h.scaled(10))],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(client.wait)
        self.addCleanup(client.kill)
        self.assertEqual(client.stdout.readline().strip(), f"220 {h.RELAYGUARD_HOSTNAME} ESMTP")

        second = "192.0.2.2"
        self.add_address(second, 24)
        self.wait_for_log(rf"listening on {re.escape(second)}:{PORT}%{INTERFACE}$")
        self.assertEqual(self.probe(second), f"220 {h.RELAYGUARD_HOSTNAME} ESMTP")
        client.stdin.write("go\n")
        client.stdin.flush()
        self.assertEqual(client.stdout.readline().strip(), "250 2.0.0 Ok")
        self.assertNotRegex(self.log(), rf"no longer listening on {re.escape(ADDRESS_V4)}")


# Runs inside the namespace: for each source address read from stdin, opens a connection from it and prints
# the greeting (or the error) on its own line; every connection stays open until stdin ends.
HOLDER = """
import socket, sys
target, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held = []
for line in sys.stdin:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((line.strip(), 0))
        s.connect((target, port))
        print(s.recv(512).decode(errors="replace").strip(), flush=True)
    except OSError as error:
        print(f"ERROR {error.__class__.__name__}", flush=True)
    held.append(s)
"""


class Ipv6ClientCountingTests(NamespaceTestCase):
    """max-connections-per-client counts an IPv6 client per prefix (a /64 unless configured), so a host
    cannot get around the limit by using a fresh address of its /64 for every connection."""

    SERVER = "2001:db8::1"
    SAME_64 = ["2001:db8::a", "2001:db8::b", "2001:db8::c"]
    OTHER_64 = "2001:db8:0:1::a"

    def start_counting(self, prefix_attribute):
        for address in [self.SERVER] + self.SAME_64 + [self.OTHER_64]:
            self.add_address(address, 64, "nodad")
        self.config_body = (f'<listen address="{self.SERVER}" port="{PORT}"/>\n'
                            f'  <limits max-connections-per-client="2" {{prefix}}/>')
        self.start(self.config_body.format(prefix=prefix_attribute))
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "python3", "-c", HOLDER, self.SERVER, str(PORT),
             str(h.scaled(5))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.holder.wait)
        self.addCleanup(self.holder.stdin.close)

    def connect_from(self, source):
        self.holder.stdin.write(source + "\n")
        self.holder.stdin.flush()
        return self.holder.stdout.readline().strip()

    def welcome(self):
        return f"220 {h.RELAYGUARD_HOSTNAME} ESMTP"

    def too_many(self):
        return f"421 4.7.0 {h.RELAYGUARD_HOSTNAME} Too many connections"

    def test_addresses_of_one_64_share_the_per_client_limit(self):
        self.start_counting("")
        self.assertEqual(self.connect_from(self.SAME_64[0]), self.welcome(), self.log())
        self.assertEqual(self.connect_from(self.SAME_64[1]), self.welcome(), self.log())
        self.assertEqual(self.connect_from(self.SAME_64[2]), self.too_many(), self.log())
        self.assertEqual(self.connect_from(self.OTHER_64), self.welcome(), f"another /64 is another client\n{self.log()}")
        self.assertRegex(self.log(), r"reject: connect from unknown\[2001:db8::c\]: 421 4\.7\.0 Too many connections")

    def test_a_prefix_of_128_counts_every_address_alone(self):
        self.start_counting('client-ipv6-prefix="128"')
        for source in self.SAME_64 + [self.OTHER_64]:
            self.assertEqual(self.connect_from(source), self.welcome(), self.log())

    def test_a_reload_that_changes_the_prefix_counts_the_open_sessions_again(self):
        self.start_counting('client-ipv6-prefix="128"')
        self.assertEqual(self.connect_from(self.SAME_64[0]), self.welcome(), self.log())
        self.assertEqual(self.connect_from(self.SAME_64[1]), self.welcome(), self.log())
        (self.workdir / "relayguard.xml").write_text(
            (self.workdir / "relayguard.xml").read_text().replace('client-ipv6-prefix="128"', ""))
        self.process.send_signal(signal.SIGHUP)
        self.wait_for_log(r"reload: done")
        # The two sessions held from one /64 now count against it together.
        self.assertEqual(self.connect_from(self.SAME_64[2]), self.too_many(), self.log())
        self.assertEqual(self.connect_from(self.OTHER_64), self.welcome(), self.log())


if __name__ == "__main__":
    unittest.main()
