#!/usr/bin/env python3
"""Heap allocations per RCPT, per message and per session, counted in a running glibc relayguard.

    bench/allocations/allocations.py [--binary PATH] [--baseline PATH] [--messages N] [--rounds N]

Each binary (the current build and, with --baseline, an earlier one to compare with) runs under the
counting allocator alloc_count.c (LD_PRELOAD; built here with cc), relaying to Postfix's smtp-sink with
the benchmark's configuration. smtp-source then sends, each workload between two readings of the counts:
  many/1   N messages of one recipient over one connection (-d): allocations per message
  many/10  N messages of ten recipients over one connection: the difference to many/1, over 9 N, is
           the allocations per extra RCPT
  one/1    N messages of one recipient, one connection each: per session and message
Allocation counts do not depend on the machine's load, so one round says as much as several; --rounds
repeats them to show it (the numbers are printed per round). The process's CPU time per message and per
extra RCPT (user + system, counted in clock ticks: give it thousands of messages) is printed beside
them; that one is noisy, and the median of the rounds is the figure to compare. Prints a table; --json
writes the counts.
A static musl binary cannot be preloaded: measure the glibc release build of the same source.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))

import contenders as cs  # noqa: E402
import loadgen  # noqa: E402

COUNTERS = ("allocations", "reallocations", "frees", "octets")
WORKLOADS = (("many/1", True, 1), ("many/10", True, 10), ("one/1", False, 1))


def build_counter(workdir):
    library = workdir / "alloc_count.so"
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(library),
                    str(HERE / "alloc_count.c")], check=True)
    return library


def read_counts(path):
    values = struct.unpack("=4Q", Path(path).read_bytes()[:32])
    return dict(zip(COUNTERS, values))


def send(port, messages, many_per_connection, recipients):
    command = [loadgen.SMTP_SOURCE, "-s", "1", "-m", str(messages), "-l", "1024", "-f", loadgen.SENDER,
               "-t", loadgen.RECIPIENT, "-r", str(recipients), "-M", "bench.client", "-C", "5"]
    if many_per_connection:
        command.append("-d")
    command.append(f"127.0.0.1:{port}")
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=600)
    if completed.returncode != 0:
        raise loadgen.LoadFailed(f"smtp-source exited {completed.returncode}: "
                                 f"{completed.stdout.decode(errors='replace').strip()[-300:]}")


def measure(name, binary, library, sink, workdir, messages):
    """The counts each workload adds, for one fresh relayguard process."""
    contender = cs.Relayguard(workdir / name, sink, binary)
    config = contender.write_config()
    counts_file = workdir / f"{name}.counts"
    process = cs.Process(name, [binary, "run", "-c", config], contender.workdir,
                         env={"LD_PRELOAD": str(library), "ALLOC_COUNT_FILE": str(counts_file)}).start()
    try:
        cs.wait_for_greeting(contender.host, contender.port, process.popen, 10, name)
        send(contender.port, 20, True, 1)  # warm-up: the upstream link's first use, buffers, caches
        added = {}
        for workload, many, recipients in WORKLOADS:
            before, cpu_before = read_counts(counts_file), cs.cpu_seconds(process.pid)
            send(contender.port, messages, many, recipients)
            after, cpu_after = read_counts(counts_file), cs.cpu_seconds(process.pid)
            added[workload] = {key: after[key] - before[key] for key in COUNTERS}
            added[workload]["cpu_seconds"] = cpu_after - cpu_before
        if process.popen.poll() is not None:
            raise RuntimeError(f"{name} exited during the measurement: {process.log_tail()}")
        return added
    finally:
        process.stop()


def per_unit(added, messages):
    many1, many10, one1 = (added[key]["allocations"] + added[key]["reallocations"] for key, _, _ in WORKLOADS)
    octets1, octets10 = added["many/1"]["octets"], added["many/10"]["octets"]
    cpu1, cpu10 = added["many/1"]["cpu_seconds"], added["many/10"]["cpu_seconds"]
    return {"per message": many1 / messages, "per extra RCPT": (many10 - many1) / (9 * messages),
            "per session and message": one1 / messages,
            "octets per message": octets1 / messages, "octets per extra RCPT": (octets10 - octets1) / (9 * messages),
            "CPU µs per message": cpu1 * 1e6 / messages, "CPU µs per extra RCPT": (cpu10 - cpu1) * 1e6 / (9 * messages)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args = loadgen.comparison_arguments(parser, rounds=1)
    binaries = {"relayguard": Path(args.binary).resolve()}
    if args.baseline:
        binaries["baseline"] = Path(args.baseline).resolve()
    for path in binaries.values():
        if not path.exists():
            parser.error(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="relayguard-allocations-") as temporary:
        workdir = Path(temporary)
        library = build_counter(workdir)
        sink = cs.SmtpSink(workdir / "sink", max_sessions=100).start()
        results = {name: [] for name in binaries}
        try:
            for _ in range(args.rounds):
                for name, binary in binaries.items():  # interleaved, as everything in bench/
                    added = measure(name, binary, library, sink, workdir, args.messages)
                    results[name].append({"added": added, "per": per_unit(added, args.messages)})
        finally:
            sink.stop()
    keys = list(results["relayguard"][0]["per"])
    print(f"heap allocations (malloc, calloc, aligned, realloc), {args.messages} messages per workload")
    print("| build | round | " + " | ".join(keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for name, rounds in results.items():
        for index, result in enumerate(rounds, 1):
            print(f"| {name} | {index} | " + " | ".join(f"{result['per'][key]:.2f}" for key in keys) + " |")
    if "baseline" in results:
        def median(name, key):
            values = sorted(result["per"][key] for result in results[name])
            return values[len(values) // 2]
        now = {key: median("relayguard", key) for key in keys}
        then = {key: median("baseline", key) for key in keys}
        print("| relayguard / baseline (medians) | | " +
              " | ".join(f"{now[key] / then[key]:.2f}" if then[key] else "-" for key in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"messages": args.messages, "binaries": {
            name: str(path) for name, path in binaries.items()}, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.chdir(HERE.parent.parent)
    sys.exit(main())
