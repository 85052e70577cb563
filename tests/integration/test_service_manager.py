"""relayguard under a service manager, played by the test: systemd's notify protocol over a real AF_UNIX
datagram socket (READY=1 once serving, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then READY=1
around a reload, STOPPING=1 at SIGTERM), the watchdog back-ends chosen by <watchdog>, and the boot
sequence's one line per step."""

import os
import re
import socket
import subprocess
import unittest
from pathlib import Path

if __package__:
    from . import harness as h
else:
    import harness as h


class NotifySocket:
    """What systemd listens on: a datagram socket whose messages the test reads."""

    def __init__(self, path):
        self.path = str(path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.messages = []

    def close(self):
        self.socket.close()

    def collect(self, timeout=0.05):
        """Reads what has arrived (waiting at most `timeout` for the first datagram)."""
        self.socket.settimeout(timeout)
        while True:
            try:
                self.messages.append(self.socket.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages
            self.socket.settimeout(0.01)

    def wait_for(self, predicate, what, timeout=10):
        return h.wait_until(lambda: predicate(self.collect()), timeout, what)

    def states(self):
        """Every "KEY=value" assignment received, in order."""
        return [line for message in self.messages for line in message.split("\n") if line]


class SystemdNotifyTests(h.IntegrationTestCase):
    def start_notified(self, sink, watchdog_usec=None, **options):
        notify = NotifySocket(self.workdir / "notify.sock")
        self.addCleanup(notify.close)
        environment = {"NOTIFY_SOCKET": notify.path}
        if watchdog_usec:
            environment["WATCHDOG_USEC"] = str(watchdog_usec)
        relayguard = self.start_relayguard(sink, environment=environment, **options)
        return relayguard, notify

    def test_ready_reloading_and_stopping_are_announced(self):
        sink = self.start_sink()
        relayguard, notify = self.start_notified(sink)
        notify.wait_for(lambda messages: any("READY=1" in m for m in messages), "READY=1")
        ready_index = notify.states().index("READY=1")
        relayguard.reload()
        notify.wait_for(lambda messages: notify.states().count("READY=1") >= 2, "READY=1 after the reload")
        states = notify.states()
        reloading = states.index("RELOADING=1")
        self.assertGreater(reloading, ready_index)
        self.assertTrue(any(state.startswith("MONOTONIC_USEC=") for state in states[reloading:]))
        self.assertGreater(len(states) - 1 - states[::-1].index("READY=1"), reloading)
        self.assertEqual(relayguard.stop(), 0)
        notify.collect()
        self.assertIn("STOPPING=1", notify.states())
        self.assertLess(notify.states().index("RELOADING=1"), notify.states().index("STOPPING=1"))

    def test_watchdog_is_fed_at_half_of_watchdog_usec(self):
        sink = self.start_sink()
        relayguard, notify = self.start_notified(sink, watchdog_usec=400_000)
        notify.wait_for(lambda messages: notify.states().count("WATCHDOG=1") >= 4, "four WATCHDOG=1 datagrams")
        relayguard.wait_for_log(r"boot: watchdog: systemd, timeout 400ms, fed every 200ms")
        # Serving all the while.
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"watched\r\n"), 250)

    def test_watchdog_usec_meant_for_another_process_is_left_alone(self):
        sink = self.start_sink()
        notify = NotifySocket(self.workdir / "notify.sock")
        self.addCleanup(notify.close)
        relayguard = self.start_relayguard(sink, environment={"NOTIFY_SOCKET": notify.path,
                                                              "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"})
        notify.wait_for(lambda messages: "READY=1" in notify.states(), "READY=1")
        relayguard.wait_for_log(r"boot: watchdog: none")
        self.assertNotIn("WATCHDOG=1", notify.collect(timeout=0.5) and notify.states())

    def test_a_named_backend_that_is_not_there_stops_the_boot_at_its_step(self):
        sink = self.start_sink()
        relayguard = h.Relayguard(self.workdir / "rg-systemd", sink.address, transcript=self.transcript,
                                  sections={"watchdog": {"backend": "systemd"}},
                                  environment={"NOTIFY_SOCKET": "", "WATCHDOG_USEC": ""})
        relayguard.workdir.mkdir()
        with self.assertRaises(h.RelayguardFailed):
            relayguard.start(attempts=1)
        self.assertEqual(relayguard.exit_code, 1)
        self.assertIn('not starting: the boot step "watchdog" failed', relayguard.stderr())

    def test_a_named_device_that_is_not_a_watchdog_stops_the_boot(self):
        sink = self.start_sink()
        not_a_watchdog = self.workdir / "not-a-watchdog"
        not_a_watchdog.write_text("")
        relayguard = h.Relayguard(self.workdir / "rg-device", sink.address, transcript=self.transcript,
                                  sections={"watchdog": {"backend": "device", "device": not_a_watchdog}})
        relayguard.workdir.mkdir()
        with self.assertRaises(h.RelayguardFailed):
            relayguard.start(attempts=1)
        self.assertRegex(relayguard.stderr(), rf"boot: watchdog: device: .*{re.escape(str(not_a_watchdog))}")


class BootSequenceTests(h.IntegrationTestCase):
    def test_each_boot_step_logs_one_line_in_order(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        relayguard.wait_for_log(r"boot: serving")
        steps = [re.search(r"boot: (\w+)", line).group(1) for line in relayguard.log_lines() if "boot: " in line]
        self.assertEqual(steps, ["configuration", "watchdog", "descriptors", "listeners", "privileges", "serving"])

    def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, descriptor_limit=(256, 4096))
        relayguard.wait_for_log(r"boot: descriptors: 4096 \(raised from 256\)")
        limits = Path(f"/proc/{relayguard.process.pid}/limits").read_text()
        self.assertRegex(limits, r"(?m)^Max open files +4096 +4096 ")
        self.assertNotIn("boot: descriptors: 4096 are fewer", relayguard.stderr())

    def test_a_hard_limit_below_what_max_connections_needs_is_a_warning(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, descriptor_limit=(100, 100), limits={"max-connections": 64})
        # 2 x (64 + 64 trusted, the default) sessions + 1 listener + 32: 289 needed.
        relayguard.wait_for_log(r"warning: boot: descriptors: 100 are fewer than the 289 that "
                                r"<limits max-connections=\"64\" trusted-connections=\"64\"> sessions and their "
                                r"upstream connections need")
        client = self.greeted(relayguard)
        self.assertEqual(self.deliver(client, h.crlf_message("Subject: t", "", "body")).code, 250)

    def test_a_listener_that_cannot_be_bound_names_the_step(self):
        sink = self.start_sink()
        first = self.start_relayguard(sink)
        # A second relayguard on the same address and port cannot bind it.
        second = h.Relayguard(self.workdir / "rg-second", sink.address, transcript=self.transcript)
        second.workdir.mkdir()
        second.listeners = [first.address]
        second.config_path.write_text(second.config_xml())
        command = h.relayguard_emulator() + [str(h.relayguard_binary()), "run", "-c", str(second.config_path)]
        completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=h.scaled(60), text=True)
        self.assertEqual(completed.returncode, 1)
        self.assertRegex(completed.stderr, r"boot: listeners: cannot listen on 127\.0\.0\.1:\d+: .*in use")
        self.assertIn('not starting: the boot step "listeners" failed', completed.stderr)

    @unittest.skipUnless(hasattr(os, "geteuid") and os.geteuid() == 0, "needs root to see the warning")
    def test_running_as_root_without_run_user_warns(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        relayguard.wait_for_log(r"warning: boot: privileges: RUNNING AS ROOT")


if __name__ == "__main__":
    unittest.main()
