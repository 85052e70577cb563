#!/usr/bin/env python3
"""System calls per message, counted with strace -c in a running relayguard and in haproxy's TCP hop.

    bench/syscalls/syscalls.py [--binary PATH] [--baseline PATH] [--messages N] [--rounds N] [--json FILE]

Each contender relays to Postfix's smtp-sink with the benchmark's configuration (bench/lib/contenders.py):
relayguard (the current build), relayguard-baseline (--baseline, an earlier build), relayguard-reuse (the
current build with <upstream pool-size="8" prewarm="1">) and haproxy (mode tcp). For each workload,
`strace -c -f` is attached to the running process, smtp-source sends N messages of 10 KB, one recipient,
and strace is detached; the calls it counted, divided by N, are the calls per message:
  many   N messages over one connection (smtp-source -d)
  one    N messages, one connection each
Counts hardly depend on the machine's load, but a few do (a read that finds nothing yet, an epoll_wait
that returns at once), so --rounds repeats them and the median is reported. strace slows the traced
process a lot: these are counts, never times. Prints a Markdown table (calls per message, total and the
five commonest); --json writes every count.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))

import contenders as cs  # noqa: E402
import loadgen  # noqa: E402

STRACE = "strace"
WORKLOADS = (("many", True), ("one", False))
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def send(port, messages, many_per_connection):
    loadgen.smtp_source(port, 1, messages, 10240, many_per_connection, 900)


def parse_summary(text):
    """strace -c's table as {syscall: calls}."""
    calls = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match and match.group(3) != "total":
            calls[match.group(3)] = int(match.group(1))
    return calls


class StraceUnavailable(RuntimeError):
    """strace could not attach (ptrace not permitted here: a container, Yama's ptrace_scope)."""


def traced(pid, workdir, name, action):
    """Runs `action` with strace -c -f attached to `pid`; returns the calls it counted."""
    output = workdir / f"{name}.strace"
    tracer = subprocess.Popen([STRACE, "-c", "-f", "-o", str(output), "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # strace reports attaching on stderr only with -v; give it the time it needs
    if tracer.poll() is not None:
        raise StraceUnavailable(f"strace could not attach to {pid}: "
                                f"{tracer.stderr.read().decode(errors='replace').strip()}")
    try:
        action()
        time.sleep(0.3)  # the last replies and closes
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    return parse_summary(output.read_text())


def measure(contender, workdir, messages):
    contender.start()
    try:
        send(contender.port, 20, True)  # warm-up: the first upstream connection, buffers, caches
        if isinstance(contender, cs.RelayguardReuse):
            send(contender.port, 20, False)  # and a pool that has parked connections
        counts = {}
        for workload, many in WORKLOADS:
            counts[workload] = traced(contender.main_pid(), workdir, f"{contender.name}-{workload}",
                                      lambda: send(contender.port, messages, many))
        if not contender.alive():
            raise RuntimeError(f"{contender.name} exited during the measurement")
        return counts
    finally:
        contender.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args = loadgen.comparison_arguments(parser, rounds=3)
    for tool in (STRACE, loadgen.SMTP_SOURCE):
        if not shutil.which(tool):
            parser.error(f"{tool} is not installed (toolchains/setup-debian.sh installs both)")
    binary = Path(args.binary).resolve()
    with tempfile.TemporaryDirectory(prefix="relayguard-syscalls-") as temporary:
        workdir = Path(temporary)
        sink = cs.SmtpSink(workdir / "sink", max_sessions=100).start()
        makers = {"relayguard": lambda: cs.Relayguard(workdir, sink, binary),
                  "relayguard-reuse": lambda: cs.RelayguardReuse(workdir, sink, binary)}
        if args.baseline:
            makers["relayguard-baseline"] = lambda: cs.RelayguardBaseline(workdir, sink, Path(args.baseline).resolve())
        if cs.Haproxy.available():
            makers["haproxy"] = lambda: cs.Haproxy(workdir, sink)
        results = {name: [] for name in makers}
        try:
            for round_index in range(args.rounds):
                names = list(makers)
                names = names[round_index % len(names):] + names[:round_index % len(names)]
                for name in names:  # interleaved, the order rotated, as everything in bench/
                    results[name].append(measure(makers[name](), workdir, args.messages))
        finally:
            sink.stop()

    def per_message(name, workload, syscall=None):
        values = [sum(r[workload].values()) if syscall is None else r[workload].get(syscall, 0)
                  for r in results[name]]
        return statistics.median(values) / args.messages

    print(f"system calls per message (strace -c -f, {args.messages} messages of 10 KB per workload, "
          f"median of {args.rounds} rounds)")
    for workload, _ in WORKLOADS:
        common = {}
        for name in results:
            for syscall in results[name][0][workload]:
                common[syscall] = max(common.get(syscall, 0), per_message(name, workload, syscall))
        top = sorted(common, key=common.get, reverse=True)[:5]
        print(f"\n{workload} per connection")
        print("| contender | total | " + " | ".join(top) + " |")
        print("|---|---:|" + "---:|" * len(top))
        for name in results:
            print(f"| {name} | {per_message(name, workload):.1f} | " +
                  " | ".join(f"{per_message(name, workload, syscall):.1f}" for syscall in top) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"messages": args.messages, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.chdir(HERE.parent.parent)
    sys.exit(main())
