"""`relayguard probe`: it finds the open relay (and nmap agrees on the same target), finds none through
relayguard from an untrusted address (nmap agrees again), finds the relay again from an allowlisted
address — so it measures what the server does, not what it expects — and fails with exit status 2 and
a clear message when the connection, TLS or the server's conversation fails."""

import json
import unittest

if __package__:
    from . import harness as h
    from .test_nmap import NOT_OPEN, OPEN_RELAY
else:
    import harness as h
    from test_nmap import NOT_OPEN, OPEN_RELAY

PASSWORD = "correct horse battery staple"
RELAY_FORMS = 31  # nmap's 16, Nessus's 3 senders, 12 routing forms


class ProbeTestCase(h.IntegrationTestCase):
    def probe(self, target, *options, source=h.UNTRUSTED_CLIENT, environment=None, timeout=180):
        host, port = target.address if hasattr(target, "address") else target
        command = h.relayguard_emulator() + [str(h.relayguard_binary()), "probe", f"{host}:{port}", "--pace", "0",
                                             "--timeout", "20s", *map(str, options)]
        if source:
            command += ["--source", source]
        if environment:
            command = ["env", *[f"{key}={value}" for key, value in environment.items()], *command]
        return self.run_program(command, timeout=timeout)

    def probe_json(self, target, *options, **keywords):
        status, output = self.probe(target, "--json", *options, **keywords)
        try:
            return status, json.loads(output)
        except json.JSONDecodeError as error:
            self.fail(f"--json printed something that is not JSON ({error}):\n{output}")



class ProbeVerdictTests(ProbeTestCase):
    def test_open_sink_is_reported_as_open_relay_and_nmap_agrees(self):
        sink = self.start_sink()
        status, output = self.probe(sink)
        self.assertEqual(status, 1, output)
        self.assertRegex(output, rf"relay \(unauthenticated\)\s+{RELAY_FORMS}\s+OPEN RELAY \({RELAY_FORMS} forms\)")
        self.assertIn("nmap-percent-hack-literal: MAIL FROM:<relayguard-probe@[127.0.0.1]> "
                      "RCPT TO:<relayguard-probe%probe-elsewhere.test@[127.0.0.1]> -> 250", output)
        self.assertIn("result: OPEN RELAY", output)
        nmap_status, nmap_output = self.nmap_open_relay(sink, h.UNTRUSTED_CLIENT)
        self.assertEqual(nmap_status, 0, nmap_output)
        self.assertRegex(nmap_output, OPEN_RELAY)

    def test_relayguard_from_an_untrusted_address_is_closed_and_nmap_agrees(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=("127.0.0.1/32",),
                                           domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        status, output = self.probe(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, output)
        self.assertRegex(output, rf"relay \(unauthenticated\)\s+{RELAY_FORMS}\s+no relay\s+554 5\.7\.1 ")
        self.assertIn("result: no relay found", output)
        nmap_status, nmap_output = self.nmap_open_relay(relayguard, h.UNTRUSTED_CLIENT)
        self.assertEqual(nmap_status, 0, nmap_output)
        self.assertIn(NOT_OPEN, nmap_output)
        self.settle(relayguard, sink)
        self.assertFalse(sink.saw_recipient("probe-elsewhere.test"), sink.rcpt_commands())

    def test_relayguard_from_an_allowlisted_address_relays(self):
        # The counter-check: the same probe from an address on the allowlist does get through.
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=("127.0.0.3/32",),
                                           domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        status, output = self.probe(relayguard, source="127.0.0.3")
        self.assertEqual(status, 1, output)
        self.assertIn("nmap-plain: MAIL FROM:<relayguard-probe@probe-sender.test> "
                      "RCPT TO:<relayguard-probe@probe-elsewhere.test> -> 250", output)
        self.assertTrue(sink.saw_recipient("relayguard-probe@probe-elsewhere.test"))

    def test_data_counts_354_and_sends_nothing_without_send(self):
        sink = self.start_sink()
        status, report = self.probe_json(sink, "--data")
        self.assertEqual(status, 1)
        relayed = [attempt for attempt in report["attempts"] if attempt["verdict"] == "relayed"]
        self.assertEqual(len(relayed), RELAY_FORMS)
        self.assertTrue(all(attempt["data_reply"].startswith("354") for attempt in relayed))
        sink.wait_for_closed(sink.connection_count)
        self.assertEqual(sink.transactions, [], "the probe delivered a message without --send")
        self.assertEqual(len(sink.aborted), RELAY_FORMS)


class ProbeJsonTests(ProbeTestCase):
    def test_json_has_one_record_per_attempt(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, relay_allow=("127.0.0.1/32",))
        status, report = self.probe_json(relayguard, source=h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0)
        self.assertEqual(report["exit_status"], 0)
        self.assertEqual(report["result"], "no-relay")
        self.assertEqual(report["target"], f"{relayguard.host}:{relayguard.port}")
        self.assertEqual(report["source"], h.UNTRUSTED_CLIENT)
        attempts = report["attempts"]
        self.assertEqual(len(attempts), RELAY_FORMS)
        self.assertEqual(len({attempt["form"] for attempt in attempts}), RELAY_FORMS)
        for attempt in attempts:
            self.assertEqual(attempt["check"], "relay")
            self.assertIn(attempt["origin"], ("nmap", "nessus", "routing"))
            self.assertEqual(attempt["verdict"], "refused", attempt)
            self.assertTrue(attempt["mail_reply"][:1] in "25", attempt)
        by_form = {attempt["form"]: attempt for attempt in attempts}
        self.assertEqual(by_form["nmap-null-sender"]["mail_from"], "<>")
        self.assertRegex(by_form["nmap-plain"]["rcpt_reply"], r"^554 5\.7\.1 ")
        checks = {check["name"]: check for check in report["checks"]}
        self.assertEqual(checks["relay (unauthenticated)"]["tried"], RELAY_FORMS)
        self.assertFalse(checks["relay (unauthenticated)"]["finding"])


class ProbeTlsAndAuthTests(ProbeTestCase):
    def start_secure(self, sink, listen_tls=("starttls",), **options):
        certificate, key = h.self_signed_certificate(self.workdir / "tls")
        users = [{"name": "alice", "password-hash": h.password_hash(PASSWORD)}]
        return self.start_relayguard(sink, listen=("127.0.0.1",) * len(listen_tls), listen_tls=listen_tls,
                                     tls={"certificate": certificate, "key": key}, users=users, **options)

    def test_starttls_checks_and_the_authenticated_path(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, relay_allow=("127.0.0.1/32",))
        status, report = self.probe_json(relayguard, "--starttls", source=h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, report)
        checks = {check["name"]: check for check in report["checks"]}
        self.assertEqual(checks["AUTH before TLS"]["verdict"], "not offered")
        self.assertEqual(checks["STARTTLS injection"]["verdict"], "not vulnerable")
        self.assertRegex(report["tls"], r"^STARTTLS TLSv1\.[23] ")
        # Authenticated, the same battery relays: the probe tests the authenticated path separately.
        status, report = self.probe_json(relayguard, "--starttls", "--auth", "alice", source=h.UNTRUSTED_CLIENT,
                                         environment={"RELAYGUARD_PROBE_PASSWORD": PASSWORD})
        self.assertEqual(status, 1, report)
        self.assertEqual(report["login"], "alice")
        self.assertIn("relay (as alice)", {check["name"] for check in report["checks"]})
        self.assertNotIn(PASSWORD, json.dumps(report))

    def test_implicit_tls(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink, listen_tls=("implicit",), relay_allow=("127.0.0.1/32",))
        status, report = self.probe_json(relayguard.listener("implicit"), "--tls", source=h.UNTRUSTED_CLIENT)
        self.assertEqual(status, 0, report)
        self.assertRegex(report["tls"], r"^implicit TLSv1\.[23] ")

    def test_wrong_password_is_a_probe_failure(self):
        sink = self.start_sink()
        relayguard = self.start_secure(sink)
        status, output = self.probe(relayguard, "--starttls", "--auth", "alice",
                                    environment={"RELAYGUARD_PROBE_PASSWORD": "wrong"})
        self.assertEqual(status, 2, output)
        self.assertIn("authentication as alice failed: 535", output)
        self.assertNotIn("wrong", output.replace("wrong password", ""))


class ProbeSmugglingTests(ProbeTestCase):
    def test_smuggling_forms_a_vulnerable_server_accepts_and_relayguard_does_not(self):
        vulnerable = self.start_sink(vulnerable=True)
        status, report = self.probe_json(vulnerable, "--smuggling", h.LOCAL_RECIPIENT, "--no-injection-check")
        smuggling = [attempt for attempt in report["attempts"] if attempt["check"] == "smuggling"]
        self.assertEqual(len(smuggling), 11)
        self.assertTrue(any(attempt["verdict"] == "accepted" for attempt in smuggling), smuggling)
        self.assertEqual({check["name"]: check for check in report["checks"]}["SMTP smuggling"]["finding"], True)

        guarded_sink = self.start_sink(vulnerable=True, name="guarded")
        relayguard = self.start_relayguard(guarded_sink)
        status, report = self.probe_json(relayguard, "--smuggling", h.LOCAL_RECIPIENT, source=h.TRUSTED_CLIENT)
        smuggling = [attempt for attempt in report["attempts"] if attempt["check"] == "smuggling"]
        self.assertEqual(len(smuggling), 11)
        self.assertEqual([attempt for attempt in smuggling if attempt["verdict"] == "accepted"], [])
        self.assertFalse({check["name"]: check for check in report["checks"]}["SMTP smuggling"]["finding"])


class ProbeFailureTests(ProbeTestCase):
    def test_closed_port(self):
        status, output = self.probe(("127.0.0.1", h.free_port("127.0.0.1")), source=None)
        self.assertEqual(status, 2, output)
        reason = "Connection refused"
        if "qemu-mipsel" in h.relayguard_emulator():
            # qemu-user 7.2 hands getsockopt(SO_ERROR) the host's errno untranslated (111), and MIPS numbers
            # its errors differently (ECONNREFUSED is 146), so the emulated binary cannot name the reason;
            # on a MIPS board it does. The rest of the message must still be there.
            reason = ".+"
        self.assertRegex(output, rf"relayguard probe: cannot connect to 127\.0\.0\.1 port \d+: {reason}")

    def test_tls_failure(self):
        sink = self.start_sink()  # plain SMTP: the ClientHello is answered with a greeting
        status, output = self.probe(sink, "--tls")
        self.assertEqual(status, 2, output)
        self.assertIn("relayguard probe: TLS handshake failed", output)

    def test_starttls_not_offered(self):
        sink = self.start_sink()
        status, output = self.probe(sink, "--starttls")
        self.assertEqual(status, 2, output)
        self.assertIn("STARTTLS was asked for and the server does not offer it", output)

    def test_server_that_hangs_up_mid_session(self):
        upstream = self.start_upstream("hang-up", silent_after=6)
        status, output = self.probe(upstream)
        self.assertEqual(status, 2, output)
        self.assertRegex(output, r"relayguard probe: relay test nmap-\S+: the server closed the connection")

    def test_usage_errors(self):
        status, output = self.run_program(h.relayguard_emulator() + [str(h.relayguard_binary()), "probe"])
        self.assertEqual(status, 2)
        self.assertIn("which server?", output)
        status, output = self.run_program(h.relayguard_emulator() + [str(h.relayguard_binary()), "probe",
                                                                     "127.0.0.1:25", "--send"])
        self.assertEqual(status, 2)
        self.assertIn("--send needs --data", output)


class ProbeFleetTests(ProbeTestCase):
    def probe_fleet(self, lines, *options):
        targets = self.workdir / "targets.txt"
        targets.write_text("# the fleet\n" + "".join(line + "\n" for line in lines))
        command = h.relayguard_emulator() + [str(h.relayguard_binary()), "probe", "--targets", str(targets),
                                             "--pace", "0", "--timeout", "20s", "--source", h.UNTRUSTED_CLIENT,
                                             *map(str, options)]
        status, output = self.run_program(command, timeout=300)
        try:
            return status, [json.loads(line) for line in output.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            self.fail(f"--targets printed a line that is not JSON ({error}):\n{output}")

    def test_every_target_gets_one_line_and_the_status_says_one_is_open(self):
        open_sink = self.start_sink()
        sink = self.start_sink()
        guarded = [self.start_relayguard(sink, domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME)) for _ in range(2)]
        dead = ("127.0.0.1", h.free_port())
        addresses = [guarded[0].address, open_sink.address, dead, guarded[1].address]
        lines = [f"{host}:{port}" for host, port in addresses]
        status, results = self.probe_fleet(lines, "--parallel", 2)
        self.assertEqual(status, 1, results)
        by_target = {result["target"]: result for result in results}
        self.assertEqual(sorted(by_target), sorted(lines), "one line per target")
        self.assertEqual(len(results), len(lines))
        self.assertEqual(by_target[lines[0]]["result"], "closed")
        self.assertEqual(by_target[lines[3]]["result"], "closed")
        self.assertEqual(by_target[lines[0]]["relayed"], [])
        self.assertEqual(by_target[lines[1]]["result"], "open")
        self.assertEqual(len(by_target[lines[1]]["relayed"]), RELAY_FORMS)
        self.assertIn("nmap-plain", by_target[lines[1]]["relayed"])
        self.assertEqual(by_target[lines[2]]["result"], "failed")
        # The reason as the C library words it ("Connection refused"; under qemu-mipsel the socket's
        # error number arrives untranslated and musl has no text for it).
        self.assertTrue(by_target[lines[2]]["failure"].startswith("cannot connect to 127.0.0.1 port "),
                        by_target[lines[2]])
        self.assertEqual({result["source"] for result in results}, {h.UNTRUSTED_CLIENT})

    def test_a_closed_fleet_exits_0_and_a_failed_probe_2(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink, domains=(h.LOCAL_DOMAIN, h.RELAYGUARD_HOSTNAME))
        target = "%s:%d" % relayguard.address
        status, results = self.probe_fleet([target])
        self.assertEqual((status, [result["result"] for result in results]), (0, ["closed"]))
        status, results = self.probe_fleet([target, "127.0.0.1:%d" % h.free_port()], "--parallel", 1)
        self.assertEqual(status, 2, results)
        self.assertEqual(sorted(result["result"] for result in results), ["closed", "failed"])

    def test_a_bad_targets_file_names_its_line(self):
        targets = self.workdir / "targets.txt"
        targets.write_text("127.0.0.1:2525\nnot a target\n")
        status, output = self.run_program(h.relayguard_emulator() + [str(h.relayguard_binary()), "probe",
                                                                      "--targets", str(targets)])
        self.assertEqual(status, 2, output)
        self.assertIn('line 2: "not a target" is not HOST, HOST:PORT or [IPv6]:PORT', output)
        status, output = self.run_program(h.relayguard_emulator() + [str(h.relayguard_binary()), "probe",
                                                                      "--targets", str(targets), "127.0.0.1"])
        self.assertEqual(status, 2, output)
        self.assertIn("not both", output)


if __name__ == "__main__":
    unittest.main()
