#!/usr/bin/env python3
"""What the Prometheus endpoint costs the mail (docs/metrics.md, "What it costs").

Two relayguards from the same binary in front of one smtp-sink: one without <metrics>, one with it and
a scraper polling /metrics (OpenMetrics, as Prometheus asks) every --interval seconds while the mail
flows; smtp-source sends the same load through each, interleaved round by round. Reported as ratios
of medians from this run: message rate with the scraper over without, the proxy's CPU per message,
then, on the idle scraped process, CPU microseconds and wall latency per scrape and the body size.
Nothing here asserts a threshold. --smoke: tiny counts, checks the pipeline (exit 0 when it ran).
"""

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))

import contenders as cs  # noqa: E402
import loadgen  # noqa: E402

ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def scrape(port):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


class Scraper(threading.Thread):
    def __init__(self, port, interval):
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.stopping = threading.Event()
        self.count = 0
        self.errors = 0

    def run(self):
        while not self.stopping.is_set():
            try:
                scrape(self.port)
                self.count += 1
            except OSError:
                self.errors += 1
            self.stopping.wait(self.interval)


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(HERE.parent / "build" / "release" / "firmware" / "relayguard"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between scrapes under load")
    parser.add_argument("--scrapes", type=int, default=5000, help="back-to-back scrapes of the idle process")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.messages, args.scrapes = 1, 50, 20
    work = HERE.parent / "build" / "bench" / "results" / "work" / "metrics"
    sink = cs.SmtpSink(work / "sink", max_sessions=2000).start()
    plain = cs.Relayguard(work / "off", sink, args.binary).start()
    scraped = cs.Relayguard(work / "on", sink, args.binary, metrics=True).start()
    contenders = {"without metrics": plain, "scraped": scraped}
    rates = {name: [] for name in contenders}
    cpu = {name: [] for name in contenders}
    try:
        scraper = Scraper(scraped.metrics_port, args.interval)
        scraper.start()
        order = list(contenders)
        for round_index in range(args.rounds):
            for name in order[round_index % 2:] + order[:round_index % 2]:
                contender = contenders[name]
                before = cs.cpu_seconds(contender.process.popen.pid)
                elapsed = loadgen.smtp_source(contender.port, args.sessions, args.messages, 10240, False, 600)
                used = cs.cpu_seconds(contender.process.popen.pid) - before
                rates[name].append(args.messages / elapsed)
                cpu[name].append(used * 1e6 / args.messages)
                print(f"  round {round_index + 1} {name:<16} {args.messages / elapsed:8.1f} msg/s "
                      f"{used * 1e6 / args.messages:7.1f} CPU us/msg", flush=True)
        scraper.stopping.set()
        scraper.join()
        # The idle process, scraped back to back: CPU and wall time per scrape.
        body = scrape(scraped.metrics_port)
        latencies = []
        before = cs.cpu_seconds(scraped.process.popen.pid)
        for _ in range(args.scrapes):
            started = time.perf_counter()
            scrape(scraped.metrics_port)
            latencies.append((time.perf_counter() - started) * 1e6)
        scrape_cpu = (cs.cpu_seconds(scraped.process.popen.pid) - before) * 1e6 / args.scrapes
        latencies.sort()
    finally:
        for process in (scraped, plain, sink):
            process.stop()
    base = median(rates["without metrics"])
    print(f"\nmetrics cost: {args.rounds} rounds of {args.messages} messages over {args.sessions} sessions, "
          f"one per connection; scraped every {args.interval}s during the load ({scraper.count} scrapes, "
          f"{scraper.errors} errors)")
    print(f"  message rate, scraped / without metrics: {median(rates['scraped']) / base:.3f} "
          f"({median(rates['scraped']):.0f} / {base:.0f} msg/s)")
    cpu_base = median(cpu["without metrics"])
    # CPU time comes in clock ticks (10 ms): a smoke run's 50 messages may take less than one.
    cpu_ratio = f"{median(cpu['scraped']) / cpu_base:.3f}" if cpu_base > 0 else "n/a (under one clock tick)"
    print(f"  CPU per message, scraped / without metrics: {cpu_ratio} "
          f"({median(cpu['scraped']):.1f} / {cpu_base:.1f} us)")
    print(f"  idle scrape: {scrape_cpu:.1f} us of relayguard CPU per scrape ({args.scrapes} scrapes), wall "
          f"p50 {latencies[len(latencies) // 2]:.0f} us, p99 {latencies[int(len(latencies) * 0.99)]:.0f} us "
          f"(client included), body {len(body)} octets")
    return 0 if scraper.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
