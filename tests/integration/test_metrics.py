"""The Prometheus endpoint (<metrics listen>), over the wire: the counters follow real SMTP traffic
(recipients by outcome and reason, messages, connections refused, AUTH, TLS, upstream faults,
reloads); the 0.0.4 text passes `promtool check metrics` and the OpenMetrics text passes
prometheus_client's strict parser; anything but GET/HEAD /metrics gets 404/405/400/431 and a fifth
concurrent client 503; and a real Prometheus server scrapes it and answers queries about it."""

import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

if __package__:
    from . import harness as h
    from .test_tls import PASSWORD, TlsTestCase, plain_response
else:
    import harness as h
    from test_tls import PASSWORD, TlsTestCase, plain_response

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-prometheus-client lives in its dist-packages
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, ((label, value), ...)): value} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if not match:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = tuple(sorted(LABEL.findall(match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class MetricsTestCase(TlsTestCase):
    def start_with_metrics(self, sink, secure=False, **options):
        self.metrics_port = h.free_port()
        sections = dict(options.pop("sections", {}))
        sections["metrics"] = {"listen": f"127.0.0.1:{self.metrics_port}"}
        if secure:
            return self.start_secure(sink, sections=sections, **options)
        return self.start_relayguard(sink, sections=sections, **options)

    def http(self, path="/metrics", method="GET", headers=None):
        """(status, headers, body) of one request to the metrics endpoint."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}{path}", method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=h.scaled(5)) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def scrape(self, openmetrics=False):
        headers = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"} if openmetrics else {}
        status, response_headers, body = self.http(headers=headers)
        self.assertEqual(status, 200, body)
        return response_headers, body

    def samples(self):
        return parse_exposition(self.scrape()[1])

    def settled_samples(self):
        """The samples once every client session has ended (their counts are then final)."""
        latest = {}

        def settled():
            latest["samples"] = self.samples()
            return all(sample_value == 0 for (name, _), sample_value in latest["samples"].items()
                       if name == "relayguard_sessions_open")

        h.wait_until(settled, h.scaled(10), "every session to end")
        return latest["samples"]

    def raw_request(self, data, read_limit=65536, timeout=5):
        """What the endpoint answers to `data`, read until it closes; empty when it says nothing in time."""
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=h.scaled(5)) as connection:
            connection.settimeout(h.scaled(timeout))
            connection.sendall(data)
            received = b""
            try:
                while len(received) < read_limit:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            except socket.timeout:
                pass
            except ConnectionResetError:
                # A busy endpoint answers 503 and closes before reading the request: the unread request
                # turns the close into a reset, which may overtake the answer.
                pass
            return received.decode(errors="replace")


class ExpositionTests(MetricsTestCase):
    def test_counters_follow_the_smtp_traffic(self):
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink)
        before = self.samples()
        # An untrusted client: one local recipient delivered, one relay attempt denied, one bad address.
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>"), 250)
        self.assertReply(client.command(f"RCPT TO:<{h.REMOTE_RECIPIENT}>"), 554)
        self.assertReply(client.command("RCPT TO:<no-at-sign-but>spaces>"), 501)
        self.assertReply(client.command("DATA"), 354)
        self.assertReply(client.command("Subject: counted\r\n\r\nbody\r\n."), 250)
        self.assertReply(client.command("QUIT"), 221)
        # A client on the allowlist relays anywhere.
        trusted = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.deliver(trusted, b"Subject: relayed\r\n\r\nbody\r\n", rcpts=(h.REMOTE_RECIPIENT,))
        self.assertReply(trusted.command("QUIT"), 221)
        after = self.settled_samples()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        recipients = "relayguard_recipients_total"
        self.assertEqual(delta(recipients, outcome="accepted", reason="local_domain"), 1)
        self.assertEqual(delta(recipients, outcome="accepted", reason="network"), 1)
        self.assertEqual(delta(recipients, outcome="rejected", reason="relay_denied"), 1)
        self.assertEqual(delta(recipients, outcome="rejected", reason="syntax"), 1)
        self.assertEqual(delta(recipients, outcome="accepted", reason="auth"), 0)
        self.assertEqual(delta("relayguard_senders_total", outcome="accepted", reason="allowed"), 2)
        self.assertEqual(delta("relayguard_messages_total", outcome="accepted"), 2)
        self.assertEqual(delta("relayguard_messages_total", outcome="refused"), 0)
        listener = f"127.0.0.1:{relayguard.port}"
        self.assertEqual(delta("relayguard_sessions_accepted_total", listener=listener), 2)
        self.assertEqual(value(after, "relayguard_sessions_open", listener=listener), 0)
        self.assertEqual(delta("relayguard_upstream_connects_total"), 2)
        # Every command relayguard sent upstream was timed: MAIL, RCPT, DATA, the final dot, twice.
        self.assertEqual(delta("relayguard_upstream_reply_duration_seconds_count"), 8)
        self.assertEqual(delta("relayguard_upstream_reply_duration_seconds_bucket", le="+Inf"), 8)
        self.assertGreater(delta("relayguard_received_bytes_total", peer="client"), 0)
        self.assertGreater(delta("relayguard_sent_bytes_total", peer="upstream"),
                           len(b"Subject: relayed\r\n\r\nbody\r\n") * 2)
        self.assertEqual(value(after, "relayguard_config_last_reload_successful"), 1)
        sha256 = hashlib.sha256(relayguard.config_path.read_bytes()).hexdigest()
        self.assertEqual(value(after, "relayguard_config_info", sha256=sha256), 1)
        self.assertGreater(value(after, "relayguard_config_load_timestamp_seconds"), time.time() - 3600)
        self.assertTrue(any(name == "relayguard_build_info" for name, _ in after))

    def test_refusals_upstream_faults_and_reloads_are_counted(self):
        # Nobody listens where the upstream should be.
        relayguard = self.start_with_metrics(("127.0.0.1", h.free_port()),
                                             clients=("allow", [("deny", "127.0.0.4/32")]))
        before = self.samples()
        denied = self.connect(relayguard, source="127.0.0.4")
        self.assertTrue(denied.read_reply().line.startswith("554 5.7.1"))
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 451)
        client.close()
        # A broken file is refused and counted; the configuration in force (and its hash) stays.
        old_sha256 = hashlib.sha256(relayguard.config_path.read_bytes()).hexdigest()
        relayguard.reload(config_text="<relayguard><listen", expect="failed")
        failed = self.samples()
        self.assertEqual(value(failed, "relayguard_config_reloads_total", result="failed"), 1)
        self.assertEqual(value(failed, "relayguard_config_last_reload_successful"), 0)
        self.assertEqual(value(failed, "relayguard_config_info", sha256=old_sha256), 1)
        relayguard.reload(limits={"max-errors": 7})
        after = self.samples()
        new_sha256 = hashlib.sha256(relayguard.config_path.read_bytes()).hexdigest()
        self.assertNotEqual(new_sha256, old_sha256)
        self.assertEqual(value(after, "relayguard_config_info", sha256=new_sha256), 1)
        self.assertEqual(value(after, "relayguard_config_info", sha256=old_sha256), 0)
        self.assertEqual(value(after, "relayguard_config_reloads_total", result="ok"), 1)
        self.assertEqual(value(after, "relayguard_config_last_reload_successful"), 1)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("relayguard_connections_refused_total", reason="acl"), 1)
        self.assertEqual(delta("relayguard_upstream_errors_total", kind="unreachable"), 1)
        self.assertEqual(delta("relayguard_senders_total", outcome="deferred", reason="upstream"), 1)

    def test_an_upstream_reply_out_of_turn_is_counted_once(self):
        # 354 to RCPT is no answer to it: the client hears a temporary error, counted as deferred.
        sink = self.start_sink(replies={"RCPT": "354 go ahead"})
        relayguard = self.start_with_metrics(sink)
        before = self.samples()
        client = self.greeted(relayguard)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
        reply = client.command(f"RCPT TO:<{h.LOCAL_RECIPIENT}>")
        self.assertEqual(reply.code // 100, 4, str(reply))
        client.close()
        after = self.settled_samples()
        recipients = {labels: after[("relayguard_recipients_total", labels)] -
                      before.get(("relayguard_recipients_total", labels), 0)
                      for name, labels in after if name == "relayguard_recipients_total"}
        self.assertEqual({labels: count for labels, count in recipients.items() if count},
                         {(("outcome", "deferred"), ("reason", "upstream")): 1})
        self.assertEqual(value(after, "relayguard_upstream_errors_total", kind="invalid_reply")
                         - value(before, "relayguard_upstream_errors_total", kind="invalid_reply"), 1)

    def test_auth_and_tls_are_counted_by_mechanism_and_protocol(self):
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink, secure=True, auth={"max-failures": 2})
        before = self.samples()
        client, _ = self.tls_greeted(relayguard)
        self.login(client)
        self.deliver(client, b"Subject: auth\r\n\r\nbody\r\n", rcpts=(h.REMOTE_RECIPIENT,))
        client.close()
        for _ in range(2):
            failing, _ = self.tls_greeted(relayguard, source="127.0.0.3")
            self.assertReply(failing.command(f"AUTH PLAIN {plain_response('alice', 'wrong')}"), 535)
            failing.close()
        after = self.settled_samples()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("relayguard_auth_attempts_total", mechanism="plain", result="success"), 1)
        self.assertEqual(delta("relayguard_auth_attempts_total", mechanism="plain", result="failure"), 2)
        self.assertEqual(delta("relayguard_auth_lockouts_total", mechanism="plain"), 1)
        self.assertEqual(delta("relayguard_recipients_total", outcome="accepted", reason="auth"), 1)
        listener = "127.0.0.1:%d" % relayguard.listener("starttls")[1]
        handshakes = sum(delta("relayguard_tls_handshakes_total", listener=listener, protocol=protocol)
                         for protocol in ("tls1.2", "tls1.3", "other"))
        self.assertEqual(handshakes, 3)
        self.assertEqual(delta("relayguard_tls_handshakes_total", listener=listener, protocol="other"), 0)
        # The locked-out client is refused at its next connection, and counted.
        refused = self.connect(relayguard.listener("starttls"), source="127.0.0.3")
        self.assertTrue(refused.read_reply().line.startswith("421 4.7.0"))
        self.assertEqual(value(self.samples(), "relayguard_connections_refused_total", reason="lockout")
                         - value(before, "relayguard_connections_refused_total", reason="lockout"), 1)

    @unittest.skipUnless(PROMTOOL, "promtool (Debian package prometheus) is not installed")
    def test_text_format_passes_promtool(self):
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink)
        client = self.greeted(relayguard)
        self.deliver(client, b"Subject: lint\r\n\r\nbody\r\n")
        client.close()
        headers, body = self.scrape()
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True,
                                 timeout=h.scaled(30))
        self.assertEqual(checked.returncode, 0, f"promtool:\n{checked.stdout}{checked.stderr}\n{body}")
        self.assertEqual(checked.stdout + checked.stderr, "", "promtool's lint found something")

    def test_openmetrics_passes_the_strict_parser(self):
        if not shutil.which(SYSTEM_PYTHON) or subprocess.run(
                [SYSTEM_PYTHON, "-c", "import prometheus_client.openmetrics.parser"],
                capture_output=True).returncode != 0:
            self.skipTest("python3-prometheus-client is not installed")
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink)
        client = self.greeted(relayguard)
        self.deliver(client, b"Subject: openmetrics\r\n\r\nbody\r\n")
        client.close()
        headers, body = self.scrape(openmetrics=True)
        self.assertEqual(headers["Content-Type"], "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertTrue(body.endswith("# EOF\n"))
        self.assertIn("# TYPE relayguard_recipients counter\n", body)
        program = ("import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n"
                   "families = list(text_string_to_metric_families(sys.stdin.read()))\n"
                   "print(sum(len(family.samples) for family in families))\n")
        parsed = subprocess.run([SYSTEM_PYTHON, "-c", program], input=body, capture_output=True, text=True,
                                timeout=h.scaled(30))
        self.assertEqual(parsed.returncode, 0, f"{parsed.stderr}\n{body}")
        lines = [line for line in body.splitlines() if line and not line.startswith("#")]
        self.assertEqual(int(parsed.stdout), len(lines))


class EndpointTests(MetricsTestCase):
    def test_only_get_and_head_of_metrics_are_served(self):
        sink = self.start_sink()
        self.start_with_metrics(sink)
        status, _, body = self.http("/")
        self.assertEqual(status, 404)
        self.assertIn("/metrics", body)
        status, headers, _ = self.http("/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        status, _, body = self.http("/", method="HEAD")
        self.assertEqual((status, body), (404, ""))
        status, headers, body = self.http("/metrics", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, "")
        self.assertGreater(int(headers["Content-Length"]), 1000)
        self.assertTrue(self.http("/metrics?debug=1")[2].startswith("# HELP"))
        self.assertTrue(self.raw_request(b"EHLO scanner.test\r\n\r\n").startswith("HTTP/1.1 400 Bad Request"))
        self.assertTrue(self.raw_request(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 5000 + b"\r\n\r\n")
                        .startswith("HTTP/1.1 431 "))
        # Every answer gives the length it announced, and the connection is closed after it.
        answer = self.raw_request(b"GET /nothing HTTP/1.0\r\n\r\n")
        head, _, body = answer.partition("\r\n\r\n")
        self.assertEqual(int(re.search(r"Content-Length: (\d+)", head).group(1)), len(body.encode()))

    def test_a_fifth_concurrent_client_is_told_to_come_back(self):
        sink = self.start_sink()
        self.start_with_metrics(sink)
        idle = []
        for _ in range(4):
            connection = socket.create_connection(("127.0.0.1", self.metrics_port), timeout=h.scaled(5))
            connection.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the end of the head
            idle.append(connection)

        def told_to_come_back():
            # A client in a free slot would be waiting for its request: it hears nothing within a second.
            return self.raw_request(b"", timeout=1).startswith("HTTP/1.1 503 Service Unavailable")

        try:
            h.wait_until(told_to_come_back, h.scaled(10), "a fifth client to get 503 at once")
        finally:
            for connection in idle:
                connection.close()
        # Their slots come back once they have gone.
        h.wait_until(lambda: self.raw_request(b"GET /metrics HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 200"),
                     h.scaled(5), "a free slot")

    def test_no_endpoint_without_the_element(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard(sink)
        self.assertNotIn("metrics:", relayguard.stderr())

    def test_the_endpoint_follows_a_reload(self):
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink)
        self.assertEqual(self.http()[0], 200)
        old_port = self.metrics_port
        self.metrics_port = h.free_port()
        relayguard.reload(sections={"metrics": {"listen": f"127.0.0.1:{self.metrics_port}"}})
        self.assertEqual(self.http()[0], 200)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", old_port), timeout=h.scaled(2)).close()


@unittest.skipUnless(PROMETHEUS, "prometheus (Debian package prometheus) is not installed")
class PrometheusServerTests(MetricsTestCase):
    def start_prometheus(self, target_port):
        port = h.free_port()
        directory = self.workdir / "prometheus"
        directory.mkdir()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: relayguard\n    static_configs:\n"
                          f"      - targets: ['127.0.0.1:{target_port}']\n")
        log = open(directory / "prometheus.log", "wb")
        self.addCleanup(log.close)
        process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory}/data",
                                    f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=directory)

        def stop():
            process.terminate()
            try:
                process.wait(timeout=h.scaled(20))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.addCleanup(stop)
        self.prometheus_port = port
        self.prometheus_log = directory / "prometheus.log"
        return process

    def query(self, expression):
        url = (f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expression}))
        try:
            with urllib.request.urlopen(url, timeout=h.scaled(5)) as response:
                answer = json.load(response)
        except OSError:
            return None  # not up yet
        if answer.get("status") != "success":
            raise AssertionError(f"query {expression!r}: {answer}")
        return answer["data"]["result"]

    def wait_for_value(self, expression, expected, timeout=60):
        def reached():
            result = self.query(expression)
            return result and float(result[0]["value"][1]) == expected

        try:
            h.wait_until(reached, h.scaled(timeout), f"Prometheus to see {expression} == {expected}", interval=0.5)
        except TimeoutError as error:
            raise AssertionError(f"{error}; last answer {self.query(expression)}\n"
                                 f"--- prometheus log:\n{self.prometheus_log.read_text(errors='replace')}") from None

    def test_a_real_prometheus_scrapes_and_queries_the_counters(self):
        sink = self.start_sink()
        relayguard = self.start_with_metrics(sink)
        self.start_prometheus(self.metrics_port)
        self.wait_for_value('up{job="relayguard"}', 1)
        for number in range(3):
            client = self.greeted(relayguard)
            self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250)
            self.assertReply(client.command(f"RCPT TO:<victim{number}@elsewhere.test>"), 554)
            client.close()
        self.wait_for_value('relayguard_recipients_total{outcome="rejected",reason="relay_denied"}', 3)
        self.wait_for_value('sum(relayguard_sessions_open)', 0)
        # The scrape was clean: Prometheus took every sample relayguard exposes.
        self.wait_for_value('scrape_samples_scraped{job="relayguard"}', len(self.samples()))
        targets = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{self.prometheus_port}/api/v1/targets", timeout=h.scaled(5)))
        active = targets["data"]["activeTargets"]
        self.assertEqual([target["health"] for target in active], ["up"], active)
        self.assertEqual(active[0]["lastError"], "")


if __name__ == "__main__":
    unittest.main()
