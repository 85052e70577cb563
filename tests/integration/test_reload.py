"""Live reload (SIGHUP and `relayguard reload`): a good file is used by new sessions at once while sessions
in flight keep the configuration they started with; listeners are added and removed; a broken file is
logged in full and changes nothing; and ten reloads in a row under traffic lose no connection and no
message."""

import subprocess
import threading
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

SECOND_CLIENT = "127.0.0.2"  # untrusted at first; the reloaded allowlist trusts it


class ReloadTests(h.IntegrationTestCase):
    def test_new_sessions_use_the_new_allowlist_and_open_ones_keep_the_old(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=["127.0.0.1/32"])
        before = self.greeted(relayguard, source=SECOND_CLIENT)
        self.assertReply(before.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250, message="MAIL")

        relayguard.reload(relay_allow=["127.0.0.1/32", f"{SECOND_CLIENT}/32"])

        # The session from before the reload still runs under the old allowlist ...
        self.assertReply(before.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1",
                         message="RCPT in the session opened before the reload")
        # ... and a new one from the same address may relay.
        after = self.greeted(relayguard, source=SECOND_CLIENT)
        self.assertReply(self.deliver(after, b"after the reload\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250,
                         message="delivery in a session opened after the reload")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        relayguard.wait_for_log(r"reload: done: new sessions use .*; 1 sessions in flight keep theirs")

    def test_a_message_in_flight_completes_across_a_reload(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.open_data(client, rcpts=(h.REMOTE_RECIPIENT,))
        client.send(b"Subject: across a reload\r\n\r\nfirst half\r\n")
        relayguard.reload(relay_allow=["127.0.0.3/32"])  # the client is no longer trusted for new sessions
        client.send(b"second half\r\n.\r\n")
        self.assertReply(client.read_reply(), 250, message="final dot after the reload")
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.body, b"Subject: across a reload\r\n\r\nfirst half\r\nsecond half\r\n")
        fresh = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(fresh.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250, message="MAIL")
        self.assertReply(fresh.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1",
                         message="RCPT from a client the new allowlist dropped")

    def test_a_broken_file_is_logged_in_full_and_the_old_configuration_stays(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        host, port = relayguard.address
        broken = (f'<relayguard>\n  <listen address="{host}" port="{port}"/>\n'
                  f'  <upstream host="{sink.host}" port="{sink.port}"/>\n'
                  '  <relay>\n    <allow network="127.0.0.2/33"/>\n    <domain name="example.com"/>\n  </relay>\n'
                  '  <limits max-recipients="lots"/>\n</relayguard>\n')
        line = relayguard.reload(config_text=broken, expect="failed")
        self.assertIn("2 errors", line)
        relayguard.wait_for_log(r'error: reload: .*relayguard\.xml:5: <allow network>: "127\.0\.0\.2/33"')
        relayguard.wait_for_log(r"error: reload: .*relayguard\.xml:8: <limits max-recipients>")
        # Still the old configuration: the trusted client relays, the untrusted one does not.
        trusted = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(trusted, b"still served\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)
        untrusted = self.greeted(relayguard, source=SECOND_CLIENT)
        self.assertReply(untrusted.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(untrusted.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")

    def test_an_unreadable_certificate_in_the_new_file_keeps_the_old_configuration(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        missing = self.workdir / "missing-cert.pem"
        relayguard.tls = {"certificate": missing, "key": missing}
        relayguard.listen_tls = ["none"]
        line = relayguard.reload(expect="failed")
        self.assertIn("still serving", line)
        relayguard.wait_for_log(r"error: reload: TLS: cannot open certificate file .*missing-cert\.pem")
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"old configuration\r\n"), 250)

    def test_reload_adds_and_removes_listeners_without_dropping_sessions(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        old_address = relayguard.address
        on_old_listener = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        new_address = ("127.0.0.1", h.free_port("127.0.0.1"))
        relayguard.listeners = [new_address]
        relayguard.reload()
        relayguard.wait_for_log(rf"listening on 127\.0\.0\.1:{new_address[1]}$")
        relayguard.wait_for_log(rf"no longer listening on 127\.0\.0\.1:{old_address[1]}$")
        # The new listener serves ...
        fresh = self.greeted(new_address, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(fresh, b"via the new listener\r\n"), 250)
        # ... the old one accepts nobody new ...
        with self.assertRaises(OSError):
            h.SmtpClient(*old_address, source=h.TRUSTED_CLIENT, timeout=2).close()
        # ... and the session it accepted before goes on.
        self.assertReply(self.deliver(on_old_listener, b"via the old session\r\n"), 250)
        sink.wait_for_transactions(2)

    def test_ten_reloads_under_traffic_lose_no_connection(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=["127.0.0.1/32"])
        workers, messages_each = 4, 6
        failures = []
        delivered = []
        lock = threading.Lock()
        started = threading.Barrier(workers + 1)

        def worker(number):
            started.wait()
            try:
                for index in range(messages_each):
                    client = h.SmtpClient(*relayguard.address, source=h.TRUSTED_CLIENT, timeout=h.scaled(20),
                                          transcript=self.transcript, name=f"worker{number}")
                    try:
                        if client.read_reply().code != 220 or client.ehlo().code != 250:
                            raise AssertionError("no greeting or EHLO")
                        for line, code in ((f"MAIL FROM:<{h.OUTSIDE_SENDER}>", 250),
                                           (f"RCPT TO:<{h.LOCAL_RECIPIENT}>", 250), ("DATA", 354)):
                            reply = client.command(line)
                            if reply.code != code:
                                raise AssertionError(f"{line}: {reply}")
                        client.send(f"Subject: worker {number} message {index}\r\n\r\nbody\r\n.\r\n".encode())
                        reply = client.read_reply()
                        if reply.code != 250:
                            raise AssertionError(f"final dot: {reply}")
                        with lock:
                            delivered.append((number, index))
                    finally:
                        client.close()
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                with lock:
                    failures.append(f"worker {number}: {error!r}")

        threads = [threading.Thread(target=worker, args=(number,)) for number in range(workers)]
        for thread in threads:
            thread.start()
        started.wait()
        for round_number in range(10):
            allow = ["127.0.0.1/32"] + ([f"{SECOND_CLIENT}/32"] if round_number % 2 == 0 else [])
            relayguard.reload(relay_allow=allow)
        for thread in threads:
            thread.join(timeout=h.scaled(120))
        self.assertEqual(failures, [])
        self.assertEqual(len(delivered), workers * messages_each)
        self.assertEqual(len(sink.wait_for_transactions(workers * messages_each)), workers * messages_each)
        self.assertEqual(relayguard.reloads, 10)


class ReloadCommandTests(h.IntegrationTestCase):
    def reload_command(self, *arguments):
        command = h.relayguard_emulator() + [str(h.relayguard_binary()), "reload", *map(str, arguments)]
        self.transcript.note("program", " ".join(command))
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=h.scaled(60), text=True)

    def test_reload_command_checks_the_file_then_signals_the_daemon(self):
        sink = self.start_sink()
        pid_file = self.workdir / "relayguard.pid"
        relayguard = self.start_relayguard(sink, sections={"run": {"pid-file": pid_file}})
        self.assertEqual(int(pid_file.read_text()), relayguard.pid)
        relayguard.relay_allow = ["127.0.0.1/32", f"{SECOND_CLIENT}/32"]
        relayguard.config_path.write_text(relayguard.config_xml())
        completed = self.reload_command("-c", relayguard.config_path)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertIn(f"reload signal sent to process {relayguard.pid}", completed.stdout)
        relayguard.wait_for_log(r"reload: done")
        client = self.greeted(relayguard, source=SECOND_CLIENT)
        self.assertReply(self.deliver(client, b"reloaded by command\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)

    def test_reload_command_refuses_a_broken_file_and_sends_nothing(self):
        sink = self.start_sink()
        pid_file = self.workdir / "relayguard.pid"
        relayguard = self.start_relayguard(sink, sections={"run": {"pid-file": pid_file}})
        broken = self.workdir / "broken.xml"
        broken.write_text("<relayguard>\n  <listen port='25'\n</relayguard>\n")
        completed = self.reload_command("-c", broken, "--pid-file", pid_file)
        self.assertEqual(completed.returncode, 1)
        self.assertIn("broken.xml", completed.stderr)
        self.assertIn("no reload signal sent", completed.stderr)
        self.assertFalse([line for line in relayguard.log_lines() if "reload:" in line])

    def test_reload_command_will_not_signal_a_process_that_is_not_relayguard(self):
        stale = self.workdir / "stale.pid"
        bystander = subprocess.Popen(["sleep", "30"])
        self.addCleanup(bystander.wait)
        self.addCleanup(bystander.kill)
        stale.write_text(f"{bystander.pid}\n")
        completed = self.reload_command("--pid-file", stale)
        self.assertEqual(completed.returncode, 1)
        self.assertIn("not a running relayguard", completed.stderr)
        self.assertIsNone(bystander.poll(), "the bystander was signalled")

    def test_the_pid_file_is_removed_at_exit(self):
        sink = self.start_sink()
        pid_file = self.workdir / "relayguard.pid"
        relayguard = self.start_relayguard(sink, sections={"run": {"pid-file": pid_file}})
        self.assertTrue(pid_file.exists())
        self.assertEqual(relayguard.stop(), 0)
        self.assertFalse(pid_file.exists())


if __name__ == "__main__":
    unittest.main()
