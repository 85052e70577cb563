"""Start, stop and scale: SIGTERM ends relayguard with status 0 even with sessions open, and 1,000 idle
sessions are held at once (their memory cost is printed for the closing note)."""

import resource
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

IDLE_SESSIONS = 1000


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class LifecycleTests(h.IntegrationTestCase):
    def test_sigterm_with_idle_session_exits_zero(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        idle = self.greeted(relayguard)
        self.assertEqual(relayguard.stop(timeout=30), 0, relayguard.stderr())
        self.assertTrue(idle.is_closed(timeout=5))

    def test_sigterm_lets_a_message_in_progress_finish_or_fail_cleanly(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        client = self.greeted(relayguard)
        self.open_data(client)
        client.send(b"Subject: during shutdown\r\n\r\nfirst part\r\n")
        relayguard.terminate()
        try:
            client.send(b"second part\r\n.\r\n")
            reply = client.read_reply(timeout=20)
        except (h.ConnectionClosed, BrokenPipeError, ConnectionResetError):
            reply = None
        self.assertEqual(relayguard.stop(timeout=30), 0, relayguard.stderr())
        sink.wait_for_closed(sink.connection_count)
        if reply is not None and reply.code == 250:
            [transaction] = sink.transactions
            self.assertEqual(transaction.body, b"Subject: during shutdown\r\n\r\nfirst part\r\nsecond part\r\n")
        else:
            self.assertEqual(sink.transactions, [], f"the client heard {reply} but the sink has the message")

    def test_thousand_idle_sessions(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = IDLE_SESSIONS * 2 + 200
        if soft < wanted:
            if hard != resource.RLIM_INFINITY and hard < wanted:
                self.skipTest(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        sink = self.start_sink()
        relayguard = self.start_relayguard(
            sink, limits={"max-connections": IDLE_SESSIONS + 50, "max-connections-per-client": IDLE_SESSIONS})
        baseline = resident_kib(relayguard.pid)
        sources = [f"127.0.1.{index}" for index in range(1, 5)]
        clients = [h.SmtpClient(*relayguard.address, source=sources[index % len(sources)], timeout=10)
                   for index in range(IDLE_SESSIONS)]
        for client in clients:
            self.addCleanup(client.close)
        for client in clients:
            self.assertEqual(client.read_reply().code, 220)
        loaded = resident_kib(relayguard.pid)
        print(f"\nrelayguard RSS: {baseline} KiB at start, {loaded} KiB with {IDLE_SESSIONS} idle sessions open "
              f"({(loaded - baseline) * 1024 / IDLE_SESSIONS:.0f} bytes per session)")
        # Still serving while they wait.
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, b"while 1000 wait\r\n"), 250)
        for client in clients:
            client.close()


if __name__ == "__main__":
    unittest.main()
