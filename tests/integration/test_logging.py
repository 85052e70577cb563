"""relayguard's log on standard error: one line per event, the relay denials in Postfix's exact format,
readable by fail2ban (the filter shipped in firmware/, and fail2ban's own postfix filter)."""

import re
import shutil
import unittest
from pathlib import Path

if __package__:
    from . import harness as h
else:
    import harness as h

LINE_PREFIX = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) relayguard/smtpd\[{pid}\]: "
# The example line, produced for real.
DENIED_TEXT = ("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 <victim@elsewhere.test>: Relay access "
               "denied; from=<spoof@example.com> to=<victim@elsewhere.test> proto=ESMTP helo=<test.com>")


def shipped_fail2ban_filters():
    """Filter files in firmware/ (any *.conf or *.local with a failregex)."""
    found = []
    for path in sorted((h.REPO_ROOT / "firmware").rglob("*")):
        if path.is_file() and path.suffix in (".conf", ".local"):
            if re.search(r"(?m)^\s*failregex\s*=", path.read_text(errors="replace")):
                found.append(path)
    return found


class LoggingTests(h.IntegrationTestCase):
    def deny_relays(self, relayguard, recipients, source=h.UNTRUSTED_CLIENT, sender="spoof@example.com",
                    helo="test.com"):
        client = self.greeted(relayguard, source=source, helo=helo)
        self.assertReply(client.command(f"MAIL FROM:<{sender}>"), 250)
        for recipient in recipients:
            self.assertReply(client.command(f"RCPT TO:<{recipient}>"), 554, "5.7.1")
        self.assertReply(client.command("QUIT"), 221)

    def start_logged(self, sink, **options):
        # local-senders="anyone": the example line uses a local-domain sender from outside.
        return self.start_relayguard(sink, relay_options={"local-senders": "anyone"}, **options)

    def test_relay_denied_line_in_postfix_format(self):
        sink = self.start_sink()
        relayguard = self.start_logged(sink)
        self.deny_relays(relayguard, [h.REMOTE_RECIPIENT])
        pattern = LINE_PREFIX.replace("{pid}", str(relayguard.pid)) + re.escape(DENIED_TEXT) + "$"
        line = relayguard.wait_for_log(pattern)
        print(f"\nrelay-denied log line as printed: {line}")

    def test_every_denied_recipient_logged_once(self):
        sink = self.start_sink()
        relayguard = self.start_logged(sink)
        recipients = ["a@elsewhere.test", "b@elsewhere.test", "c%d@example.com"]
        self.deny_relays(relayguard, recipients)
        self.settle(relayguard, sink)
        for recipient in recipients:
            matching = [line for line in relayguard.log_lines() if f"RCPT from unknown[127.0.0.2]: 554 5.7.1 <{recipient}>" in line]
            self.assertEqual(len(matching), 1, f"{recipient}:\n{relayguard.stderr()}")

    def test_connect_and_disconnect_logged(self):
        sink = self.start_sink()
        relayguard = self.start_logged(sink)
        client = self.greeted(relayguard, source="127.0.0.3")
        self.assertReply(client.command("QUIT"), 221)
        self.assertTrue(client.is_closed())
        relayguard.wait_for_log(r"\bconnect from unknown\[127\.0\.0\.3\]")
        relayguard.wait_for_log(r"\bdisconnect from unknown\[127\.0\.0\.3\]")

    def test_accepted_message_logged(self):
        sink = self.start_sink(replies={"DOT": "250 2.0.0 Ok: queued as 7QX4D2"})
        relayguard = self.start_logged(sink)
        client = self.greeted(relayguard)
        self.assertReply(self.deliver(client, b"Subject: logged\r\n\r\nhello\r\n", sender="a@outside.test"), 250)
        relayguard.wait_for_log(r"a@outside\.test.*user@example\.com.*7QX4D2|7QX4D2.*a@outside\.test.*user@example\.com")

    def test_relayed_recipient_logged_with_the_allowlist_entry(self):
        sink = self.start_sink()
        relayguard = self.start_logged(sink, relay_allow=("10.0.0.0/8", "127.0.0.0/24"))
        client = self.greeted(relayguard, source="127.0.0.5")
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(client.command("QUIT"), 221)
        relayguard.wait_for_log(
            r"relayguard/smtpd\[\d+\]: relay: RCPT from unknown\[127\.0\.0\.5\]: relay allowed: allowlisted "
            r"network 127\.0\.0\.0/24; from=<sender@outside\.test> to=<victim@elsewhere\.test> proto=ESMTP "
            r"helo=<client\.test>$")
        self.settle(relayguard, sink)
        # Only the relayed recipient: a local one needs no reason.
        relayed = [line for line in relayguard.log_lines() if ": relay: RCPT from" in line]
        self.assertEqual(len(relayed), 1, relayguard.stderr())

    def test_upstream_fault_logged(self):
        port = h.free_port()
        relayguard = self.start_relayguard(("127.0.0.1", port), upstream_options={"connect-timeout": "2s"})
        client = self.greeted(relayguard)
        reply = client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>", timeout=10)
        self.assertTrue(400 <= reply.code < 500, str(reply))
        relayguard.wait_for_log(rf"\b{port}\b")

    def test_client_text_cannot_forge_log_lines(self):
        # A bare CR inside a command line is not a line end; if relayguard accepts the EHLO, its text
        # reaches the reject line's helo=<...>, where the CR must not survive.
        sink = self.start_sink()
        relayguard = self.start_logged(sink)
        client = self.connect(relayguard)
        self.assertReply(client.read_reply(), 220)
        reply = client.command("EHLO test.com\r2030-01-01T00:00:00.000+00:00 relayguard/smtpd[1]: forged")
        if reply.code != 250:
            self.assertReply(client.ehlo("test.com"), 250)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554)
        relayguard.wait_for_log(re.escape(f"<{h.REMOTE_RECIPIENT}>: Relay access denied"))
        self.settle(relayguard, sink)
        raw = relayguard.stderr_path.read_bytes()
        self.assertNotIn(b"\r", raw)
        self.assertFalse(any(line.startswith("2030-") for line in relayguard.log_lines()))

    def write_denials(self):
        """A log with three relay denials among other lines; returns (relayguard, log path)."""
        sink = self.start_sink()
        relayguard = self.start_logged(sink)
        self.deny_relays(relayguard, ["a@elsewhere.test", "b@elsewhere.test"])
        self.deny_relays(relayguard, ["c@elsewhere.test"], source="127.0.0.3", helo="other.test")
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"accepted\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)
        self.settle(relayguard, sink)
        return relayguard, relayguard.stderr_path

    def fail2ban(self, log, filter_spec):
        status, output = self.run_program(["fail2ban-regex", "--print-all-matched", str(log), filter_spec])
        self.assertEqual(status, 0, output)
        counts = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", output)
        self.assertIsNotNone(counts, output)
        status, addresses = self.run_program(["fail2ban-regex", "-o", "ip", str(log), filter_spec])
        self.assertEqual(status, 0, addresses)
        return int(counts.group(3)), sorted(addresses.split()), output

    def installed_copy(self, shipped):
        """The shipped filter as it is installed: in a filter.d beside fail2ban's own common.conf, which
        filters include with "before = common.conf"."""
        filter_dir = self.workdir / "fail2ban" / "filter.d"
        filter_dir.mkdir(parents=True, exist_ok=True)
        for name in ("common.conf", "common.local"):
            stock = Path("/etc/fail2ban/filter.d") / name
            if stock.exists():
                shutil.copy(stock, filter_dir / name)
        installed = filter_dir / shipped.name
        shutil.copy(shipped, installed)
        return installed

    def test_shipped_fail2ban_filter_matches_relay_denied_lines(self):
        filters = shipped_fail2ban_filters()
        self.assertTrue(filters, "no fail2ban filter (a *.conf with failregex) found under firmware/")
        relayguard, log = self.write_denials()
        for path in filters:
            matched, addresses, output = self.fail2ban(log, str(self.installed_copy(path)))
            self.assertEqual(matched, 3, f"{path}:\n{output}\n--- log:\n{relayguard.stderr()}")
            self.assertEqual(addresses, ["127.0.0.2", "127.0.0.2", "127.0.0.3"], output)

    def test_fail2ban_stock_postfix_filter_reads_relay_denied_lines(self):
        relayguard, log = self.write_denials()
        matched, addresses, output = self.fail2ban(log, 'postfix[_daemon="relayguard/smtpd"]')
        self.assertEqual(matched, 3, f"{output}\n--- log:\n{relayguard.stderr()}")
        self.assertEqual(addresses, ["127.0.0.2", "127.0.0.2", "127.0.0.3"], output)


if __name__ == "__main__":
    unittest.main()
