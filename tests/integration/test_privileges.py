"""Dropping root (<run user group>): after binding its listeners relayguard runs as the configured account
with CAP_NET_BIND_SERVICE alone, so a reload can still open port 25-style ports below 1024, and nothing
can make it root again. Needs root to start with; skipped (with the reason) otherwise."""

import os
import socket
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

CAP_NET_BIND_SERVICE = 1 << 10


def process_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def free_privileged_port(host="127.0.0.1"):
    """A port below 1024 that nobody listens on (binding it proves root or the capability)."""
    for port in range(700, 1000):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            probe.close()
    raise unittest.SkipTest("no free port between 700 and 1000")


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs relayguard to start as root")
class PrivilegeTests(h.IntegrationTestCase):
    def test_runs_as_the_configured_account_with_only_net_bind_service(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, sections={"run": {"user": "nobody", "group": "nogroup"}})
        relayguard.wait_for_log(r"boot: privileges: now user nobody \(uid 65534\), group nogroup \(gid 65534\)")
        status = process_status(relayguard.pid)
        self.assertEqual(status["Uid"], ["65534"] * 4)
        self.assertEqual(status["Gid"], ["65534"] * 4)
        self.assertEqual(status["Groups"], ["65534"])
        self.assertEqual(int(status["CapEff"][0], 16), CAP_NET_BIND_SERVICE)
        self.assertEqual(int(status["CapPrm"][0], 16), CAP_NET_BIND_SERVICE)
        self.assertEqual(int(status["CapInh"][0], 16), 0)
        self.assertEqual(int(status["CapBnd"][0], 16), CAP_NET_BIND_SERVICE)
        self.assertEqual(status["NoNewPrivs"], ["1"])
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"from an unprivileged relayguard\r\n"), 250)

    def test_a_reload_can_still_open_a_privileged_port(self):
        sink = self.start_sink()
        # A reload reads the file as the unprivileged account, so that account must be able to.
        os.chmod(self.workdir, 0o755)
        relayguard = self.start_relayguard(sink, sections={"run": {"user": "nobody", "group": "nogroup"}})
        os.chmod(relayguard.workdir, 0o755)
        port = free_privileged_port()
        relayguard.listeners = relayguard.listeners + [("127.0.0.1", port)]
        relayguard.listen_tls = relayguard.listen_tls + [None]
        relayguard.config_path.write_text(relayguard.config_xml())
        os.chmod(relayguard.config_path, 0o644)
        relayguard.reload()
        relayguard.wait_for_log(rf"listening on 127\.0\.0\.1:{port}$")
        client = self.greeted(("127.0.0.1", port), source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"via a privileged port after the drop\r\n"), 250)

    def test_an_unknown_account_stops_the_boot_before_anything_listens(self):
        sink = self.start_sink()
        relayguard = h.Relayguard(self.workdir / "rg-nouser", sink.address, transcript=self.transcript,
                                  sections={"run": {"user": "relayguard-no-such-user"}})
        relayguard.workdir.mkdir()
        with self.assertRaises(h.RelayguardFailed):
            relayguard.start(attempts=1)
        self.assertIn('no user "relayguard-no-such-user"', relayguard.stderr())
        self.assertIn('not starting: the boot step "configuration" failed', relayguard.stderr())
        self.assertNotIn("boot: listeners", relayguard.stderr())


if __name__ == "__main__":
    unittest.main()
