"""<log target="syslog" server=…>: relayguard sends RFC 5424 messages itself, over UDP and over TCP with
octet counting, to a real rsyslog listening on loopback, with its host name, APP-NAME
relayguard/smtpd, its PID, the decision as MSGID and structured data; a TCP collector that goes away
and comes back loses nothing logged meanwhile; and pflogsumm, fed the traditional-format file that
rsyslog writes from those messages, counts relayguard's rejections as it counts Postfix's."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
PFLOGSUMM = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"
SD = r"\[relayguard@32473 "


class Rsyslog:
    """rsyslogd in the foreground with a configuration of its own: UDP and TCP inputs on loopback, every
    message to fields.log (one field per column) and to mail.log in the shape of a Postfix mail log."""

    def __init__(self, directory):
        self.directory = directory
        directory.mkdir(exist_ok=True)
        self.udp_port = h.free_port()
        self.tcp_port = h.free_port()
        self.fields = directory / "fields.log"
        self.traditional = directory / "mail.log"
        self.process = None

    def config(self):
        return f"""global(workDirectory="{self.directory}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}")
template(name="fields" type="string"
         string="%hostname%|%app-name%|%procid%|%msgid%|%syslogfacility-text%|%syslogseverity-text%|%structured-data%|%msg%\\n")
mail.* action(type="omfile" file="{self.fields}" template="fields")
# The mail log a Postfix site keeps (docs/logging.md): rsyslog's RSYSLOG_TraditionalFileFormat leaves
# the colon after the tag out for RFC 5424 input, and pflogsumm wants it.
template(name="maillog" type="string" string="%timestamp% %hostname% %app-name%[%procid%]: %msg%\n")
mail.* action(type="omfile" file="{self.traditional}" template="maillog")
"""

    def start(self):
        path = self.directory / "rsyslog.conf"
        path.write_text(self.config())
        log = open(self.directory / "rsyslogd.out", "ab")
        self.process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(path), "-i", str(self.directory / "pid")],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        h.wait_until(lambda: self._listening(), 10, "rsyslogd to listen")
        return self

    def _listening(self):
        if self.process.poll() is not None:
            raise AssertionError(f"rsyslogd exited: {(self.directory / 'rsyslogd.out').read_text()}")
        with open("/proc/net/tcp") as tcp, open("/proc/net/udp") as udp:
            return (f":{self.tcp_port:04X} 00000000:0000 0A" in tcp.read() and
                    f":{self.udp_port:04X} 00000000:0000 07" in udp.read())

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=h.scaled(10))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def records(self):
        """Each message as a dict of the template's fields; a line rsyslog is still writing is left out."""
        if not self.fields.exists():
            return []
        names = ("hostname", "app", "procid", "msgid", "facility", "severity", "sd", "msg")
        lines = self.fields.read_text().split("\n")[:-1]  # the last piece has no line end yet, or is empty
        return [dict(zip(names, fields)) for fields in (line.split("|", 7) for line in lines) if len(fields) == 8]

    def wait_for(self, pattern, count=1, timeout=10):
        def found():
            matching = [record for record in self.records() if re.search(pattern, record["msg"])]
            return matching if len(matching) >= count else None

        try:
            return h.wait_until(found, timeout, f"rsyslog to receive {count} x {pattern!r}")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- received:\n" + "\n".join(map(str, self.records()))) from None


@unittest.skipUnless(os.path.exists(RSYSLOGD), "rsyslog (Debian package rsyslog) is not installed")
class RemoteSyslogTests(h.IntegrationTestCase):
    def start_collector(self):
        collector = Rsyslog(self.workdir / "rsyslog").start()
        self.addCleanup(collector.stop)
        return collector

    def start_logging_to(self, sink, server, **options):
        return self.start_relayguard(sink, log_options={"target": "syslog", "server": server}, **options)

    def deny_and_deliver(self, relayguard):
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554)
        self.assertReply(client.command("QUIT"), 221)
        trusted = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(trusted, b"Subject: logged\r\n\r\nbody\r\n", rcpts=(h.REMOTE_RECIPIENT,)), 250)
        self.assertReply(trusted.command("QUIT"), 221)

    def check_messages(self, collector, relayguard):
        [denied] = collector.wait_for(r"^NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 "
                                      r"<victim@elsewhere\.test>: Relay access denied; from=<sender@outside\.test> "
                                      r"to=<victim@elsewhere\.test> proto=ESMTP helo=<client\.test>$")
        self.assertEqual(denied["hostname"], h.RELAYGUARD_HOSTNAME)
        self.assertEqual(denied["app"], "relayguard/smtpd")
        self.assertEqual(denied["procid"], str(relayguard.pid))
        self.assertEqual((denied["facility"], denied["severity"]), ("mail", "info"))
        self.assertEqual(denied["msgid"], "reject")
        self.assertEqual(denied["sd"], '[relayguard@32473 event="reject" command="RCPT" client="127.0.0.2" '
                                       'code="554" status="5.7.1"]')
        [relayed] = collector.wait_for(r"^relay: RCPT from unknown\[127\.0\.0\.1\]: relay allowed: ")
        self.assertEqual(relayed["sd"], '[relayguard@32473 event="relay" command="RCPT" client="127.0.0.1" '
                                        'basis="network" network="127.0.0.1/32"]')
        [accepted] = collector.wait_for(r"^message accepted from unknown\[127\.0\.0\.1\]")
        self.assertEqual(accepted["msgid"], "accepted")
        [plain] = collector.wait_for(r"^connect from unknown\[127\.0\.0\.2\]")
        self.assertEqual((plain["msgid"], plain["sd"]), ("-", "-"))

    def test_udp_messages_carry_host_decision_and_structured_data(self):
        collector = self.start_collector()
        sink = self.start_sink()
        relayguard = self.start_logging_to(sink, f"udp://127.0.0.1:{collector.udp_port}")
        self.deny_and_deliver(relayguard)
        self.check_messages(collector, relayguard)

    def test_tcp_octet_counted_and_nothing_lost_while_the_collector_is_away(self):
        collector = self.start_collector()
        sink = self.start_sink()
        relayguard = self.start_logging_to(sink, f"tcp://127.0.0.1:{collector.tcp_port}")
        self.deny_and_deliver(relayguard)
        self.check_messages(collector, relayguard)
        collector.stop()
        # Logged while nobody listens: kept, and sent once the collector is back.
        for number in range(3):
            client = self.greeted(relayguard)
            self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            self.assertReply(client.command(f"RCPT TO:<away{number}@elsewhere.test>"), 554)
            client.close()
        time.sleep(h.scaled(0.5))  # the sender notices the closed connection on its next message
        collector.start()
        for number in range(3):
            collector.wait_for(rf"Relay access denied; from=<sender@outside\.test> to=<away{number}@elsewhere\.test>",
                               timeout=45)
        # relayguard served on meanwhile, and every line of the outage arrived: the client's connect
        # lines (one before, three during, this one after) as well as its rejections.
        client = self.greeted(relayguard)
        self.assertReply(client.command("QUIT"), 221)
        collector.wait_for(r"^connect from unknown\[127\.0\.0\.2\]$", count=5)

    def test_a_collector_that_never_answers_does_not_hold_up_the_mail(self):
        # A listener whose accept queue is full drops further SYNs: relayguard's connect to it hangs, as
        # to a collector behind a firewall that drops. Every session logs several lines meanwhile.
        blackhole = socket.socket()
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)
        self.addCleanup(blackhole.close)
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(blackhole.getsockname())
            self.addCleanup(filler.close)
        sink = self.start_sink()
        relayguard = self.start_logging_to(sink, "tcp://127.0.0.1:%d" % blackhole.getsockname()[1])
        for _ in range(3):
            client = self.greeted(relayguard, timeout=2)
            self.assertReply(self.deliver(client, b"Subject: on\r\n\r\nbody\r\n"), 250)
            client.close()
        self.settle(relayguard, sink)
        self.assertEqual(len(sink.transactions), 3)

    def test_the_last_lines_reach_the_collector_at_shutdown(self):
        collector = self.start_collector()
        sink = self.start_sink()
        relayguard = self.start_logging_to(sink, f"tcp://127.0.0.1:{collector.tcp_port}")
        client = self.greeted(relayguard)
        self.assertReply(client.command("QUIT"), 221)
        self.settle(relayguard, sink)  # SIGTERM: relayguard logs its stop, then sends what is queued
        collector.wait_for(r"^received SIGTERM, stopping$")
        collector.wait_for(r"^stopped$")

    @unittest.skipUnless(os.path.exists(PFLOGSUMM), "pflogsumm is not installed")
    def test_pflogsumm_counts_relayguard_rejections_as_postfix_ones(self):
        collector = self.start_collector()
        sink = self.start_sink()
        relayguard = self.start_logging_to(sink, f"udp://127.0.0.1:{collector.udp_port}",
                                           relay_options={"local-senders": "trusted-only"})
        for number in range(3):
            client = self.greeted(relayguard, source=f"127.0.0.{2 + number}")
            self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            self.assertReply(client.command(f"RCPT TO:<victim{number}@elsewhere.test>"), 554)
            client.close()
        spoof = self.greeted(relayguard, source="127.0.0.9")
        self.assertReply(spoof.command(f"MAIL FROM:<boss@{h.LOCAL_DOMAIN}>"), 553)
        spoof.close()
        collector.wait_for(r"Relay access denied", count=3)
        collector.wait_for(r"^NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.9\]")
        # The mail log is another action of rsyslog's, written on its own.
        h.wait_until(lambda: collector.traditional.exists() and
                     collector.traditional.read_text().count("NOQUEUE: reject:") == 4, 10, "mail.log")
        traditional = collector.traditional.read_text()
        self.assertRegex(traditional, r"(?m)^\w{3} [ \d]\d \d\d:\d\d:\d\d mx\.example\.com relayguard/smtpd\[\d+\]: "
                                      r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 ")
        summary = subprocess.run([PFLOGSUMM, "--syslog-name=relayguard", str(collector.traditional)],
                                 capture_output=True, text=True, timeout=h.scaled(60))
        self.assertEqual(summary.returncode, 0, summary.stderr)
        report = summary.stdout
        self.assertRegex(report, r"(?m)^\s+4\s+rejected \(100%\)$", report)
        self.assertRegex(report, r"Relay access denied \(total: 3\)", report)
        self.assertRegex(report, r"(?s)MAIL\s+5\.7\.1 <boss@example\.com> \(total: 1\)\s+1\s+127\.0\.0\.9", report)
        for number in range(3):
            self.assertRegex(report, rf"(?m)^\s+1\s+127\.0\.0\.{2 + number}$")


if __name__ == "__main__":
    unittest.main()
