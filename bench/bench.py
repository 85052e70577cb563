#!/usr/bin/env python3
"""relayguard's benchmarks: started by bench/run (which installs and builds first), Python 3 stdlib only.

Every comparison is measured in one run, interleaved between the contenders (A B C A B C ..., the
order rotated each round so none always goes first), and reported as the median of the rounds with
the ratio to the direct path (or to haproxy's blind hop) of the same run. Nothing here asserts a
wall-clock threshold: the targets are ratios and byte counts, judged in the report.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))
sys.path.insert(0, str(HERE / "upstream_reuse"))
sys.path.insert(0, str(HERE / "syscalls"))

import contenders as cs  # noqa: E402
import loadgen  # noqa: E402
import report  # noqa: E402
import syscalls  # noqa: E402
import upstream_reuse  # noqa: E402

REPO = HERE.parent

# relayguard as it is measured: the glibc release build and the static musl build, side by side in
# every step that measures relayguard.
RELAYGUARDS = ("relayguard", "relayguard-musl", "relayguard-baseline")

FULL = {
    "rounds": 3,  # throughput at 20 sessions: medians of 3 interleaved rounds
    "sessions": 20,
    "messages": 10000,
    "message_size": 10240,
    "sweep_sessions": [1, 5, 20, 50],
    "sweep_messages": {1: 100, 5: 500, 50: 2500},  # 20 sessions: the main measurement above
    "sweep_rounds": 3,
    "bulk_size": 25 * 1024 * 1024,
    "bulk_rounds": 7,
    "latency_rounds": 5,
    "latency_commands": 400,
    "idle_counts": [1000, 10000],
    "tls_sessions": 200,
    "handshakes": 400,
    "handshake_rounds": 3,
    "handshake_workers": 3,
    "reuse_sessions": 40,
    "reuse_concurrency": 4,
    "reuse_rounds": 3,
    "syscall_messages": 1000,
    "syscall_rounds": 3,
    "timeout": 900,
}

SMOKE = {
    "rounds": 1,
    "sessions": 5,
    "messages": 40,
    "message_size": 10240,
    "sweep_sessions": [1, 5],
    "sweep_messages": {1: 10},
    "sweep_rounds": 1,
    "bulk_size": 1024 * 1024,
    "bulk_rounds": 1,
    "latency_rounds": 1,
    "latency_commands": 20,
    "idle_counts": [50],
    "tls_sessions": 5,
    "handshakes": 10,
    "handshake_rounds": 1,
    "handshake_workers": 2,
    "reuse_sessions": 3,
    "reuse_concurrency": 2,
    "reuse_rounds": 1,
    "syscall_messages": 20,
    "syscall_rounds": 1,
    "timeout": 60,
}


class Run:
    def __init__(self, args):
        self.args = args
        self.plan = dict(SMOKE if args.smoke else FULL)
        if args.rounds:
            self.plan["rounds"] = self.plan["sweep_rounds"] = args.rounds
        self.out = Path(args.out).resolve()
        self.work = self.out / "work"
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.binary = Path(args.binary).resolve()
        self.binary_musl = Path(args.binary_musl).resolve() if args.binary_musl else None
        self.binary_baseline = Path(args.binary_baseline).resolve() if args.binary_baseline else None
        self.results = {
            "mode": "smoke" if args.smoke else "full",
            # --steps or --only: docs/benchmarks.md keeps the last full run's results (report.write_docs)
            "partial": bool(args.steps or args.only),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": args.command_line,
            "plan": {key: (value if not isinstance(value, dict) else {str(k): v for k, v in value.items()})
                     for key, value in self.plan.items()},
            "machine": machine(),
            "contenders": {},
            "skipped": {},
            "errors": [],
        }
        self.failures = 0
        self.running = []
        self.nofile = cs.raise_nofile(65536)
        self.results["machine"]["descriptor_limit"] = self.nofile

    # -- bookkeeping -----------------------------------------------------------------------------

    def say(self, text):
        print(f"bench: {text}", flush=True)

    def skip(self, what, reason):
        self.results["skipped"][what] = reason
        print(f"SKIP {what}: {reason}", flush=True)

    def fail(self, what, error):
        self.failures += 1
        text = f"{what}: {error}"
        self.results["errors"].append(text)
        print(f"FAIL {text}", flush=True)

    def start(self, contender):
        contender.start()
        self.running.append(contender)
        return contender

    def start_behind(self, names, sink, what, **options):
        """Starts each named contender in front of `sink` (options as for make()); one that cannot start
        is reported and left out of the step `what`."""
        started = {}
        for name in names:
            try:
                started[name] = self.start(self.make(name, sink, **options))
            except Exception as error:  # noqa: BLE001 - a contender that cannot start is reported, not fatal
                self.fail(f"starting {name} {what}", error)
        return started

    def stop(self, contender):
        contender.stop()
        if contender in self.running:
            self.running.remove(contender)

    def stop_all(self):
        for contender in list(reversed(self.running)):
            contender.stop()
        self.running = []

    # -- which contenders exist ------------------------------------------------------------------

    def available(self):
        names = ["direct", "haproxy", "relayguard", "relayguard-reuse", "relayguard-musl", "relayguard-baseline",
                 "nginx", "haraka"]
        present = {"direct": True, "relayguard": self.binary.exists(), "relayguard-reuse": self.binary.exists(),
                   "relayguard-musl": bool(self.binary_musl and self.binary_musl.exists()),
                   "relayguard-baseline": bool(self.binary_baseline and self.binary_baseline.exists())}
        reasons = {"relayguard": f"{self.binary} does not exist", "relayguard-reuse": f"{self.binary} does not exist",
                   "relayguard-musl": f"{self.binary_musl} does not exist" if self.binary_musl else
                   "no static musl build (the musl-x86_64 preset did not build, or --binary-musl was not given)",
                   "relayguard-baseline": f"{self.binary_baseline} does not exist" if self.binary_baseline else
                   "no --binary-baseline given"}
        present["haproxy"] = cs.Haproxy.available()
        reasons["haproxy"] = "haproxy is not installed (apt-get install haproxy)"
        present["nginx"] = cs.Nginx.available()
        reasons["nginx"] = "nginx or its mail module is not installed (apt-get install nginx libnginx-mod-mail)"
        present["haraka"] = cs.Haraka.available_in(self.args.haraka_dir)
        reasons["haraka"] = f"Haraka is not installed in {self.args.haraka_dir} (npm install Haraka)"
        wanted = [name for name in names if not self.args.only or name in self.args.only]
        chosen = []
        for name in wanted:
            if present[name]:
                chosen.append(name)
            else:
                self.skip(name, reasons[name])
        return chosen

    def make(self, name, sink, **options):
        workdir = self.work / options.pop("folder", "throughput")
        if name == "direct":
            return cs.Direct(workdir, sink)
        if name == "haproxy":
            return cs.Haproxy(workdir, sink, **options)
        if name == "relayguard":
            return cs.Relayguard(workdir, sink, self.binary, **options)
        if name == "relayguard-reuse":
            return cs.RelayguardReuse(workdir, sink, self.binary, **options)
        if name == "relayguard-musl":
            return cs.RelayguardMusl(workdir, sink, self.binary_musl, **options)
        if name == "relayguard-baseline":
            return cs.RelayguardBaseline(workdir, sink, self.binary_baseline, **options)
        if name == "nginx":
            return cs.Nginx(workdir, sink, **options)
        if name == "haraka":
            return cs.Haraka(workdir, sink, self.args.haraka_dir, HERE / "haraka" / "bench_no_rdns.js")
        raise ValueError(name)

    # -- 1 and 2: message throughput ---------------------------------------------------------------

    def throughput(self, names):
        plan = self.plan
        sink = cs.SmtpSink(self.work / "throughput", max_sessions=2000).start()
        self.running.append(sink)
        started = {}
        for name in names:
            contender = self.make(name, sink)
            try:
                started[name] = self.start(contender)
                self.results["contenders"][name] = {"label": contender.label, "version": contender.version(),
                                                    "configuration": contender.describe()}
            except Exception as error:  # noqa: BLE001 - a contender that cannot start is reported, not fatal
                self.fail(f"starting {name}", error)
        order = [name for name in names if name in started]
        results = self.results.setdefault("throughput", {})
        # The 20-session measurement with the full count first (the table), then the sweep's other points.
        points = [(plan["sessions"], plan["messages"], plan["rounds"])]
        for sessions in plan["sweep_sessions"]:
            if sessions != plan["sessions"]:
                points.append((sessions, plan["sweep_messages"][sessions], plan["sweep_rounds"]))
        for sessions, messages, rounds in points:
            for many in (False, True):
                mode = "many" if many else "one"
                key = f"{mode}/{sessions}"
                self.say(f"throughput: {sessions} sessions, {messages} messages of {plan['message_size']} octets, "
                         f"{'many messages' if many else 'one message'} per connection, {rounds} rounds")
                samples = {name: [] for name in order}
                cpu = {name: [] for name in order}
                for round_index in range(rounds):
                    for name in rotate(order, round_index):
                        contender = started[name]
                        if not contender.alive():
                            continue
                        before = sum(cs.cpu_seconds(pid) for pid in contender.pids())
                        try:
                            elapsed = loadgen.smtp_source(contender.port, sessions, messages, plan["message_size"],
                                                          many, plan["timeout"])
                        except loadgen.LoadFailed as error:
                            self.fail(f"throughput {key} {name}", error)
                            continue
                        after = sum(cs.cpu_seconds(pid) for pid in contender.pids())
                        samples[name].append(messages / elapsed)
                        cpu[name].append((after - before) * 1e6 / messages)
                        print(f"  round {round_index + 1} {name:<15} {messages / elapsed:9.1f} msg/s", flush=True)
                results[key] = {"sessions": sessions, "messages": messages, "many_per_connection": many,
                                "rounds": rounds, "samples": samples, "cpu_us_per_message": cpu,
                                "median": {name: median(values) for name, values in samples.items()},
                                "median_cpu_us_per_message": {name: median(values) for name, values in cpu.items()}}
                summary = ", ".join(f"{name} {value:.0f}" for name, value in results[key]["median"].items()
                                    if value is not None)
                self.say(f"  medians (msg/s): {summary}")
        for name in order:
            contender = started[name]
            if not contender.alive():
                self.fail(f"throughput {name}", f"exited during the run: {contender.process.log_tail(5)}")
            self.stop(contender)
        self.stop(sink)

    # -- 1b: upstream connection reuse in front of a slow upstream --------------------------------------

    def reuse(self, names):
        """bench/upstream_reuse's measurement: an upstream that greets after 1 s and answers EHLO after
        200 ms; relayguard without a pool against pool-size 8, prewarm 1 (the same binary)."""
        if "relayguard" not in names:
            return
        plan = self.plan
        greeting_delay, ehlo_delay = (1.0, 0.2) if not self.args.smoke else (0.2, 0.05)
        self.say(f"reuse: upstream greeting after {greeting_delay:g} s, EHLO after {ehlo_delay * 1000:g} ms; "
                 f"{plan['reuse_sessions']} sessions, {plan['reuse_rounds']} rounds")
        samples = {"no pool": [], "pool": []}
        connections = {}
        for round_index in range(plan["reuse_rounds"]):
            for label in rotate(["no pool", "pool"], round_index):
                pool = label == "pool"
                sink = upstream_reuse.SlowSink(greeting_delay, ehlo_delay)
                workdir = self.work / "reuse"
                workdir.mkdir(exist_ok=True)
                relayguard = upstream_reuse.Relayguard(self.binary, workdir, sink.port, pool)
                try:
                    if pool:  # the prewarmed connection is what a freshly started pool offers
                        time.sleep(greeting_delay + ehlo_delay + 0.5)
                    rtt, rate = upstream_reuse.measure(relayguard, plan["reuse_sessions"], plan["reuse_concurrency"])
                except (OSError, RuntimeError, ConnectionError) as error:
                    self.fail(f"reuse {label}", error)
                    continue
                finally:
                    relayguard.stop()
                    sink.listener.close()
                samples[label].append({"mail_rtt_ms": rtt * 1000, "msg_per_s": rate})
                connections[label] = sink.connections
                print(f"  round {round_index + 1} {label:<8} MAIL FROM round trip {rtt * 1000:9.2f} ms  "
                      f"{rate:8.2f} msg/s  upstream connections {sink.connections}", flush=True)
        self.results["reuse"] = {
            "greeting_delay_s": greeting_delay, "ehlo_delay_s": ehlo_delay, "sessions": plan["reuse_sessions"],
            "concurrency": plan["reuse_concurrency"], "rounds": plan["reuse_rounds"], "samples": samples,
            "upstream_connections": connections, "pool": cs.RelayguardReuse.POOL,
            "median": {label: {key: median([sample[key] for sample in values])
                               for key in ("mail_rtt_ms", "msg_per_s")} if values else None
                       for label, values in samples.items()}}

    # -- 1c: system calls per message ------------------------------------------------------------------

    def syscalls(self, names):
        """bench/syscalls's count (strace -c) for relayguard, its baseline build and reuse, and haproxy."""
        if not shutil.which(syscalls.STRACE):
            self.skip("syscalls", "strace is not installed (apt-get install strace)")
            return
        names = [name for name in ("haproxy", "relayguard", "relayguard-reuse", "relayguard-baseline")
                 if name in names]
        plan = self.plan
        sink = cs.SmtpSink(self.work / "syscalls", max_sessions=100, name="smtp-sink-syscalls").start()
        self.running.append(sink)
        self.say(f"syscalls: strace -c, {plan['syscall_messages']} messages per workload, "
                 f"{plan['syscall_rounds']} rounds")
        counts = {name: [] for name in names}
        for round_index in range(plan["syscall_rounds"]):
            for name in rotate(names, round_index):
                try:
                    counts[name].append(syscalls.measure(self.make(name, sink, folder="syscalls"), self.work,
                                                         plan["syscall_messages"]))
                except syscalls.StraceUnavailable as error:
                    self.skip("syscalls", str(error))
                    self.stop(sink)
                    return
                except (OSError, RuntimeError, loadgen.LoadFailed, subprocess.SubprocessError) as error:
                    self.fail(f"syscalls {name}", error)
        messages = plan["syscall_messages"]
        self.results["syscalls"] = {
            "messages": messages, "rounds": plan["syscall_rounds"], "counts": counts,
            "per_message": {name: {workload: {"total": median([sum(r[workload].values()) for r in rounds]) / messages,
                                              "calls": {call: median([r[workload].get(call, 0) for r in rounds]) / messages
                                                        for call in rounds[0][workload]}}
                                   for workload, _ in syscalls.WORKLOADS}
                            for name, rounds in counts.items() if rounds}}
        self.stop(sink)

    # -- 3: bulk DATA -----------------------------------------------------------------------------

    def bulk(self, names):
        names = [name for name in ("direct", "haproxy", *RELAYGUARDS) if name in names]
        plan = self.plan
        sink = cs.SmtpSink(self.work / "bulk", max_sessions=100, name="smtp-sink-bulk").start()
        self.running.append(sink)
        started = self.start_behind(names, sink, "for bulk DATA", folder="bulk")
        samples = {name: [] for name in started}
        size = plan["bulk_size"]
        self.say(f"bulk DATA: one message of {size} octets, {plan['bulk_rounds']} rounds")
        for round_index in range(plan["bulk_rounds"]):
            for name in rotate(list(started), round_index):
                try:
                    elapsed = loadgen.smtp_source(started[name].port, 1, 1, size, False, plan["timeout"])
                except loadgen.LoadFailed as error:
                    self.fail(f"bulk {name}", error)
                    continue
                samples[name].append(size / elapsed)
        self.results["bulk"] = {"size": size, "rounds": plan["bulk_rounds"], "samples": samples,
                                "median": {name: median(values) for name, values in samples.items()}}
        self.say("  medians (MB/s): " + ", ".join(f"{n} {v / 1e6:.0f}" for n, v in
                                                   self.results["bulk"]["median"].items() if v))
        for contender in started.values():
            self.stop(contender)
        self.stop(sink)

    # -- 4: per-command latency -------------------------------------------------------------------

    def latency(self, names):
        names = [name for name in ("direct", *RELAYGUARDS) if name in names]
        plan = self.plan
        sink = cs.SmtpSink(self.work / "latency", max_sessions=100, name="smtp-sink-latency").start()
        self.running.append(sink)
        started = self.start_behind(names, sink, "for latency", folder="latency")
        rcpt = {name: [] for name in started}
        noop = {name: [] for name in started}
        self.say(f"latency: {plan['latency_commands']} RCPT and NOOP round trips, {plan['latency_rounds']} rounds")
        for round_index in range(plan["latency_rounds"]):
            for name in rotate(list(started), round_index):
                try:
                    r, n = loadgen.command_round_trips("127.0.0.1", started[name].port, plan["latency_commands"])
                except (loadgen.LoadFailed, OSError) as error:
                    self.fail(f"latency {name}", error)
                    continue
                rcpt[name] += r
                noop[name] += n
        self.results["latency"] = {
            "commands_per_round": plan["latency_commands"], "rounds": plan["latency_rounds"],
            "rcpt": {name: percentiles(values) for name, values in rcpt.items()},
            "noop": {name: percentiles(values) for name, values in noop.items()},
        }
        for contender in started.values():
            self.stop(contender)
        self.stop(sink)

    # -- 5: memory --------------------------------------------------------------------------------

    def memory(self, names, certificate):
        plan = self.plan
        memory = self.results.setdefault("memory", {"idle": {}, "sessions": {}, "tls": {}, "tls12": {}})
        sink = cs.SmtpSink(self.work / "memory", max_sessions=12000, name="smtp-sink-memory").start()
        self.running.append(sink)
        settle = 0.3 if self.args.smoke else 1.0
        # RSS idle: each contender as configured for the throughput runs, fresh, before any session.
        for name in names:
            if name == "direct":
                continue
            try:
                contender = self.start(self.make(name, sink, folder="memory-idle"))
                time.sleep(settle)
                memory["idle"][name] = rss_record(contender)
                if name == "nginx":
                    master = contender.process.pid
                    memory["idle"]["nginx-master"] = {"rss_kib": cs.read_status_kib(master, "VmRSS")}
                self.stop(contender)
            except Exception as error:  # noqa: BLE001
                self.fail(f"idle RSS {name}", error)
        # Idle plaintext sessions, each count on a fresh process.
        for name in (*RELAYGUARDS, "nginx", "haproxy"):
            if name not in names:
                continue
            for count in plan["idle_counts"]:
                per_session_fds = 2 if name == "haproxy" else 1
                if count * per_session_fds + 200 > self.nofile:
                    self.skip(f"memory {name} {count} sessions",
                              f"needs {count * per_session_fds} descriptors in one process, the limit is "
                              f"{self.nofile} (raise the hard limit of RLIMIT_NOFILE)")
                    continue
                options = {"folder": f"memory-{count}"}
                if name == "nginx":
                    options["worker_connections"] = count + 200
                if name == "haproxy":
                    options["maxconn"] = count + 100
                self.say(f"memory: {name} with {count} idle plaintext sessions")
                sessions = loadgen.IdleSessions()
                contender = None
                try:
                    contender = self.start(self.make(name, sink, **options))
                    warm_up(contender, settle)
                    before = rss_record(contender)
                    started = time.perf_counter()
                    sessions.open("127.0.0.1", contender.port, count, timeout=max(60, count / 50))
                    opened = time.perf_counter() - started
                    time.sleep(settle)
                    after = rss_record(contender)
                    held = sessions.still_open()
                    memory["sessions"][f"{name}/{count}"] = {
                        "sessions": count, "held": held, "open_seconds": round(opened, 2),
                        "before": before, "after": after,
                        "bytes_per_session": (after["rss_kib"] - before["rss_kib"]) * 1024 / count,
                        "anon_bytes_per_session": (after["anon_kib"] - before["anon_kib"]) * 1024 / count,
                    }
                    print(f"  {held}/{count} held; {memory['sessions'][f'{name}/{count}']['bytes_per_session']:.0f} "
                          "bytes per session", flush=True)
                except Exception as error:  # noqa: BLE001
                    self.fail(f"memory {name} {count} sessions", error)
                    # How many it held when it failed: the table and the sessions target show it.
                    memory["sessions"][f"{name}/{count}"] = {"sessions": count, "held": sessions.still_open(),
                                                             "error": str(error).splitlines()[0]}
                finally:
                    sessions.close()
                    if contender:
                        self.stop(contender)
        # TLS sessions: relayguard (both builds) and nginx with STARTTLS, the same certificate. A server that
        # negotiates TLS 1.3 is measured again with the client held to TLS 1.2, to compare like with like.
        for name in (*RELAYGUARDS, "nginx"):
            if name not in names:
                continue
            entry = self.tls_memory(name, sink, certificate, settle)
            if entry:
                memory["tls"][name] = entry
            if entry and entry["tls_version"] == "TLSv1.3":
                entry = self.tls_memory(name, sink, certificate, settle, max_tls12=True)
                if entry:
                    memory.setdefault("tls12", {})[name] = entry
        self.stop(sink)

    def tls_memory(self, name, sink, certificate, settle, max_tls12=False):
        """The RSS of `name` before and after the plan's idle TLS sessions, on a fresh process."""
        count = self.plan["tls_sessions"]
        self.say(f"memory: {name} with {count} idle TLS sessions" + (", TLS 1.2 only" if max_tls12 else ""))
        sessions = loadgen.TlsIdleSessions()
        contender = None
        try:
            contender = self.start(self.make(name, sink, folder="memory-tls", tls=certificate, starttls=True))
            warm_up(contender, settle, tls=True, max_tls12=max_tls12)
            before = rss_record(contender)
            sessions.open("127.0.0.1", contender.port, count, max_tls12=max_tls12)
            time.sleep(settle)
            after = rss_record(contender)
            entry = {"sessions": count, "held": sessions.still_open(), "tls_version": sessions.version,
                     "cipher": sessions.cipher, "before": before, "after": after,
                     "bytes_per_session": (after["rss_kib"] - before["rss_kib"]) * 1024 / count}
            print(f"  {sessions.version} {sessions.cipher}: {entry['bytes_per_session']:.0f} bytes per session",
                  flush=True)
            return entry
        except Exception as error:  # noqa: BLE001
            self.fail(f"memory {name} TLS sessions" + (" (TLS 1.2)" if max_tls12 else ""), error)
            return None
        finally:
            sessions.close()
            if contender:
                self.stop(contender)

    # -- 7: STARTTLS handshakes -------------------------------------------------------------------

    def handshakes(self, names, certificate):
        names = [name for name in (*RELAYGUARDS, "nginx") if name in names]
        plan = self.plan
        sink = cs.SmtpSink(self.work / "tls", max_sessions=100, name="smtp-sink-tls").start()
        self.running.append(sink)
        started = self.start_behind(names, sink, "with STARTTLS", folder="tls", tls=certificate, starttls=True)
        rates = {name: [] for name in started}
        cpu = {name: [] for name in started}
        resumed_rates = {name: [] for name in started}
        resumed_cpu = {name: [] for name in started}
        resumed_share = {name: [] for name in started}
        details = {name: {"group": loadgen.ecdhe_group("127.0.0.1", contender.port)}
                   for name, contender in started.items()}
        count = plan["handshakes"]
        self.say(f"STARTTLS: {count} full and {count} resumed handshakes from {plan['handshake_workers']} "
                 f"client processes, {plan['handshake_rounds']} rounds")
        for round_index in range(plan["handshake_rounds"]):
            for name in rotate(list(started), round_index):
                contender = started[name]
                for resume, rate_list, cpu_list in ((False, rates, cpu), (True, resumed_rates, resumed_cpu)):
                    before = sum(cs.cpu_seconds(pid) for pid in contender.pids())
                    try:
                        elapsed, version, cipher, resumed = loadgen.starttls_handshakes(
                            "127.0.0.1", contender.port, count, plan["handshake_workers"], resume=resume)
                    except (loadgen.LoadFailed, OSError) as error:
                        self.fail(f"handshakes {name}{' resumed' if resume else ''}", error)
                        continue
                    after = sum(cs.cpu_seconds(pid) for pid in contender.pids())
                    rate_list[name].append(count / elapsed)
                    cpu_list[name].append((after - before) * 1000 / count)
                    if resume:
                        resumed_share[name].append(resumed / count)
                    else:
                        details[name].update({"tls_version": version, "cipher": cipher})
        self.results["handshakes"] = {
            "count": count, "workers": plan["handshake_workers"], "rounds": plan["handshake_rounds"],
            "samples": rates, "median": {name: median(values) for name, values in rates.items()},
            "server_cpu_ms": {name: median(values) for name, values in cpu.items()}, "details": details,
            # Offering a ticket every time: resumed where the server took it (the share says how often).
            "resumed_median": {name: median(values) for name, values in resumed_rates.items() if values},
            "resumed_server_cpu_ms": {name: median(values) for name, values in resumed_cpu.items() if values},
            "resumed_share": {name: min(values) for name, values in resumed_share.items() if values},
        }
        for contender in started.values():
            self.stop(contender)
        self.stop(sink)

    # -- 6: sizes ---------------------------------------------------------------------------------

    def sizes(self):
        sizes = self.results.setdefault("sizes", {})
        builds = json.loads(Path(self.args.builds).read_text()) if self.args.builds else {}
        # The x86-64 builds are the contenders' binaries; the others come from bench/run's builds.
        native = {"x86-64": self.binary, "musl-x86_64": self.binary_musl}
        for key, _ in report.SIZE_BUILDS:
            entry = builds.get(key)
            if not entry and native.get(key):
                entry = {"binary": str(native[key])}
            if not entry:
                sizes[key] = {"error": "not built in this run"}
                continue
            if entry.get("error"):
                sizes[key] = {"error": entry["error"]}
                continue
            binary = Path(entry["binary"])
            if not binary.exists():
                sizes[key] = {"error": f"{binary} does not exist"}
                continue
            sizes[key] = {"binary": str(binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary),
                          "bytes": stripped_size(binary, entry.get("strip")), "file": file_type(binary),
                          "sections": elf_sections(binary), "runs": entry.get("runs", "")}

    # -- the whole run ----------------------------------------------------------------------------

    def certificate(self):
        directory = self.work / "tls-certificate"
        directory.mkdir(parents=True, exist_ok=True)
        certificate, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(certificate), "-days", "2", "-subj", "/CN=relayguard.bench",
                        "-addext", "subjectAltName=DNS:relayguard.bench"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        os.chmod(key, 0o644)  # nginx's workers read it as nobody only at start; relayguard runs as root here
        return (str(certificate), str(key))

    def execute(self):
        began = time.monotonic()
        names = self.available()
        if "relayguard" not in names:
            self.fail("relayguard", f"no binary at {self.binary}")
            return 1
        if not loadgen.loopback_source_ok():
            self.fail("loopback", "cannot bind 127.0.1.1 (needed for many idle sessions)")
        steps = self.args.steps or ["throughput", "reuse", "syscalls", "bulk", "latency", "memory", "handshakes",
                                    "sizes"]
        # The reuse configuration is a throughput contender; the other steps measure relayguard as it is.
        plain = [name for name in names if name != "relayguard-reuse"]
        certificate = None
        for step in steps:
            step_began = time.monotonic()
            try:
                if step in ("memory", "handshakes") and certificate is None:
                    certificate = self.certificate()
                if step == "throughput":
                    self.throughput(names)
                elif step == "reuse":
                    self.reuse(names)
                elif step == "syscalls":
                    self.syscalls(names)
                elif step == "bulk":
                    self.bulk(plain)
                elif step == "latency":
                    self.latency(plain)
                elif step == "memory":
                    self.memory(plain, certificate)
                elif step == "handshakes":
                    self.handshakes(plain, certificate)
                elif step == "sizes":
                    self.sizes()
            except Exception as error:  # noqa: BLE001 - one broken step must not lose the others' results
                self.fail(step, f"{error}\n{traceback.format_exc()}")
            finally:
                self.stop_all()
            self.results.setdefault("step_seconds", {})[step] = round(time.monotonic() - step_began, 1)
        self.results["seconds"] = round(time.monotonic() - began, 1)
        return 0


def rotate(names, offset):
    if not names:
        return []
    offset %= len(names)
    return names[offset:] + names[:offset]


def median(values):
    return statistics.median(values) if values else None


def percentiles(values):
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction):
        return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]

    return {"count": len(ordered), "p50_us": at(0.50), "p99_us": at(0.99), "mean_us": statistics.fmean(ordered)}


def warm_up(contender, settle, tls=False, max_tls12=False):
    """A few sessions opened and closed before the baseline, so that one-time allocations (the TLS
    library's first handshake, the allocator's first arena) do not count as per-session memory."""
    holder = loadgen.TlsIdleSessions() if tls else loadgen.IdleSessions()
    try:
        holder.open("127.0.0.1", contender.port, 1, **({"max_tls12": max_tls12} if tls else {}))
    finally:
        holder.close()
    time.sleep(settle)


def rss_record(contender):
    pids = contender.pids()
    if not pids:
        raise RuntimeError(f"{contender.name}: no process to measure")
    record = {"rss_kib": 0, "anon_kib": 0, "pss_kib": 0, "pids": pids}
    for pid in pids:
        record["rss_kib"] += cs.read_status_kib(pid, "VmRSS") or 0
        record["anon_kib"] += cs.read_status_kib(pid, "RssAnon") or 0
        record["pss_kib"] += cs.read_pss_kib(pid) or 0
    return record


def stripped_size(binary, strip_tool):
    """The size of a stripped copy (the release presets already strip; this makes sure)."""
    tool = strip_tool or "strip"
    if not shutil.which(tool):
        return binary.stat().st_size
    copy = Path(str(binary) + ".bench-stripped")
    try:
        shutil.copy(binary, copy)
        subprocess.run([tool, "--strip-all", str(copy)], check=True, timeout=60)
        return copy.stat().st_size
    except (OSError, subprocess.SubprocessError):
        return binary.stat().st_size
    finally:
        copy.unlink(missing_ok=True)


def elf_sections(binary):
    """{name: bytes} of the sections an ELF file loads into memory (SHF_ALLOC), for any architecture
    and byte order; {} when it is not ELF. Stripping changes none of them."""
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return {}
    if data[:4] != b"\x7fELF":
        return {}
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        shoff, = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        entry = order + "IIQQQQIIQQ"
    else:
        shoff, = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
        entry = order + "IIIIIIIIII"
    headers = [struct.unpack_from(entry, data, shoff + index * shentsize) for index in range(shnum)]
    names_offset = headers[shstrndx][4]
    sections = {}
    for name, _type, flags, _address, _offset, size, *_ in headers:
        if flags & 0x2 and size:  # SHF_ALLOC
            label = data[names_offset + name:data.index(b"\0", names_offset + name)].decode(errors="replace")
            sections[label] = sections.get(label, 0) + size
    return sections


def file_type(binary):
    try:
        text = subprocess.run(["file", "-b", str(binary)], stdout=subprocess.PIPE, timeout=10).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return ""
    return text.strip()


def machine():
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    debian = ""
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        pass
    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": memory, "kernel": platform.release(),
            "machine": platform.machine(), "os": pretty, "debian_version": debian,
            "python": platform.python_version()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: tiny counts, one round, no docs")
    parser.add_argument("--binary", default="build/release/firmware/relayguard", help="the relayguard binary to measure")
    parser.add_argument("--binary-musl", help="the static musl relayguard (contender relayguard-musl; skipped without)")
    parser.add_argument("--binary-baseline",
                        help="an earlier relayguard build to compare a change with in the same run "
                             "(contender relayguard-baseline; skipped without)")
    parser.add_argument("--out", required=True, help="the results folder (build/bench/results)")
    parser.add_argument("--haraka-dir", default="build/bench/haraka", help="where npm installed Haraka")
    parser.add_argument("--builds", help="JSON file with the size builds (written by bench/run)")
    parser.add_argument("--docs", help="write docs/benchmarks.md and the plot here (full runs)")
    parser.add_argument("--only", nargs="*",
                        help="contenders to run (direct haproxy relayguard relayguard-reuse relayguard-musl relayguard-baseline nginx haraka)")
    parser.add_argument("--steps", nargs="*", help="throughput reuse syscalls bulk latency memory handshakes sizes")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--command-line", default="bench/run", help="the command as typed, for the report")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite the table and docs from --out's latest.json")
    args = parser.parse_args()

    if args.report_only:
        out = Path(args.out)
        results = json.loads((out / "latest.json").read_text())
        results["targets"] = report.targets(results)
        table = report.table(results)
        (out / "latest.txt").write_text(table + "\n")
        print(table)
        if args.docs:
            done = report.write_docs(results, out, Path(args.docs), HERE / "findings")
            print(f"\nbench: {done} (from {out / 'latest.json'})")
        return 0

    run = Run(args)
    status = 1
    try:
        status = run.execute()
    finally:
        run.stop_all()
    results = run.results
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["targets"] = report.targets(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "")[:15]
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report.table(results)
    (out / "latest.txt").write_text(table + "\n")
    if not args.smoke:
        shutil.copy(out / "latest.json", out / f"run-{stamp}.json")
    print()
    print(table)
    if args.docs and not args.smoke:
        print(f"\nbench: {report.write_docs(results, out, Path(args.docs), HERE / 'findings')}")
    elif args.smoke:
        # The report and the plot are part of the pipeline too; smoke mode writes them into its own folder.
        (out / "docs").mkdir(exist_ok=True)
        try:
            report.write_docs(results, out, out / "docs", HERE / "findings")
        except Exception as error:  # noqa: BLE001
            run.fail("writing the report", error)
    print(f"\nbench: results in {out / 'latest.json'} and {out / 'latest.txt'}")
    if run.failures:
        print(f"bench: {run.failures} measurement(s) failed", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
