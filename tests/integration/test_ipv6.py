"""IPv6 end to end: a listener on ::1, an allowlist entry ::1/128, and an upstream at ::1."""

import unittest

if __package__:
    from . import harness as h
else:
    import harness as h


class Ipv6Tests(h.IntegrationTestCase):
    def test_ipv6_end_to_end_trusted_relay(self):
        sink = self.start_sink("::1")
        relayguard = self.start_relayguard(sink, listen=("::1",), relay_allow=("::1/128",))
        status, output = self.swaks(relayguard, source="::1", to=h.REMOTE_RECIPIENT)
        if "IO::Socket::INET6" in output:
            self.skipTest("swaks needs IO::Socket::INET6 for IPv6 (Debian: libio-socket-inet6-perl)")
        self.assertEqual(status, 0, output)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT])
        self.assertEqual(transaction.helo, h.RELAYGUARD_HOSTNAME)

    def test_ipv6_raw_client_relay_and_local(self):
        sink = self.start_sink("::1")
        relayguard = self.start_relayguard(sink, listen=("::1",), relay_allow=("::1/128",))
        client = self.greeted(relayguard, source="::1")
        reply = self.deliver(client, b"over IPv6\r\n", rcpts=(h.REMOTE_RECIPIENT, h.LOCAL_RECIPIENT))
        self.assertReply(reply, 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertEqual(transaction.rcpt_tos, [h.REMOTE_RECIPIENT, h.LOCAL_RECIPIENT])
        self.assertEqual(transaction.body, b"over IPv6\r\n")

    def test_ipv6_client_not_on_allowlist_denied(self):
        sink = self.start_sink("::1")
        relayguard = self.start_relayguard(sink, listen=("::1",), relay_allow=("127.0.0.1/32",))
        client = self.greeted(relayguard, source="::1")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertEqual(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>").line,
                         f"554 5.7.1 <{h.REMOTE_RECIPIENT}>: Relay access denied")
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        relayguard.wait_for_log(r"NOQUEUE: reject: RCPT from unknown\[::1\]: 554 5\.7\.1 ")
        self.settle(relayguard, sink)
        self.assertFalse(sink.saw_recipient(h.REMOTE_RECIPIENT))

    def test_dual_stack_listeners(self):
        sink = self.start_sink("::1")
        relayguard = self.start_relayguard(sink, listen=("127.0.0.1", "::1"), relay_allow=("::1/128",))
        v6_port = relayguard.listeners[1][1]
        trusted = self.greeted(("::1", v6_port), source="::1")
        self.assertReply(self.deliver(trusted, b"v6\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)
        untrusted = self.greeted(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertReply(untrusted.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(untrusted.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")
        self.assertReply(untrusted.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(untrusted.command("DATA"), 354)
        untrusted.send(b"v4\r\n.\r\n")
        self.assertReply(untrusted.read_reply(), 250)
        first, second = sink.wait_for_transactions(2)
        self.assertEqual((first.rcpt_tos, second.rcpt_tos), ([h.REMOTE_RECIPIENT], [h.LOCAL_RECIPIENT]))

    def test_ipv4_mapped_allowlist_does_not_admit_ipv6_loopback(self):
        # ::ffff:127.0.0.1 means the IPv4 address: it must not make ::1 trusted.
        sink = self.start_sink("::1")
        relayguard = self.start_relayguard(sink, listen=("::1",), relay_allow=("::ffff:127.0.0.1",))
        client = self.greeted(relayguard, source="::1")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554, "5.7.1")


if __name__ == "__main__":
    unittest.main()
