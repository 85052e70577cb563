"""nmap's smtp-open-relay script: the sink is an open relay; relayguard in front of it is not, for a client
that is not on the allowlist (nmap's -S puts the script's sockets on 127.0.0.2).

relayguard's host name is mx.example.com and both example.com and mx.example.com are local domains, so
the script's "relaytest%elsewhere.test@mx.example.com", "elsewhere.test!relaytest@mx.example.com" and
"@mx.example.com:relaytest@elsewhere.test" forms all name a local domain last: routing tricks, not
local mail."""

import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

OPEN_RELAY = r"smtp-open-relay: Server is an open relay \((\d+)/16 tests\)"
NOT_OPEN = "smtp-open-relay: Server doesn't seem to be an open relay, all tests failed"


class NmapTests(h.IntegrationTestCase):

    def test_nmap_reports_recording_sink_as_open_relay(self):
        sink = self.start_sink()
        status, output = self.nmap_open_relay(sink, h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, output)
        self.assertRegex(output, OPEN_RELAY.replace(r"(\d+)", "16"))

    def test_nmap_reports_postfix_smtp_sink_as_open_relay(self):
        sink = self.start_postfix_sink()
        status, output = self.nmap_open_relay(sink, h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, output)
        self.assertRegex(output, OPEN_RELAY.replace(r"(\d+)", "16"))

    def test_nmap_from_untrusted_address_finds_no_open_relay(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=("127.0.0.1/32",),
                                           domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        status, output = self.nmap_open_relay(relayguard, h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, output)
        self.assertIn(NOT_OPEN, output)
        self.assertNotRegex(output, OPEN_RELAY)
        relayguard.wait_for_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 ")
        self.settle(relayguard, sink)
        self.assertEqual(sink.rcpt_commands(), [])

    def test_nmap_from_allowlisted_address_is_relayed(self):
        # The counter-check: the same scan from an allowlisted address does relay, so the verdict above
        # comes from the policy, not from nmap failing to talk to relayguard.
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=("127.0.0.3/32",),
                                           domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        status, output = self.nmap_open_relay(relayguard, "127.0.0.3")
        self.assertEqual(status, 0, output)
        self.assertRegex(output, OPEN_RELAY)
        self.assertTrue(sink.saw_recipient("relaytest@elsewhere.test"))


if __name__ == "__main__":
    unittest.main()
