#!/usr/bin/env python3
"""The evidence behind a missed target, gathered on a profiling build of relayguard (started by
bench/profile): where the CPU goes under smtp-source (perf), what an idle session holds (heaptrack,
with relayguard killed while the sessions are open, so "leaked" means "live at that moment"), and what
the idle process's RSS is made of (/proc/PID/smaps by mapping). Writes text files into --out.
"""

import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))

import contenders as cs  # noqa: E402
import loadgen  # noqa: E402


def perf_profile(binary, out, many, messages):
    workdir = out / ("perf-many" if many else "perf-one")
    sink = cs.SmtpSink(workdir, max_sessions=1000).start()
    relayguard = cs.Relayguard(workdir, sink, binary).start()
    data = workdir / "perf.data"
    try:
        perf = subprocess.Popen(["perf", "record", "-F", "2000", "-g", "--call-graph", "fp", "-p",
                                 str(relayguard.main_pid()), "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        before = cs.cpu_seconds(relayguard.main_pid())
        elapsed = loadgen.smtp_source(relayguard.port, 20, messages, 10240, many, 600)
        cpu = cs.cpu_seconds(relayguard.main_pid()) - before
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
    finally:
        relayguard.stop()
        sink.stop()
    flat = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "symbol", "-g", "none",
                           "--percent-limit", "0.7", "--stdio"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
    by_dso = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-g", "none",
                             "--stdio"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
    keep = lambda text: "\n".join(line[:150].rstrip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    mode = "many messages per connection (-d)" if many else "one message per connection"
    text = (f"relayguard under smtp-source: 20 sessions, {messages} messages of 10 KB, {mode}\n"
            f"{messages / elapsed:.0f} msg/s; relayguard CPU {cpu * 1e6 / messages:.0f} µs per message\n\n"
            f"By shared object:\n{keep(by_dso)}\n\nBy symbol (self time):\n{keep(flat)}\n")
    name = "perf-many.txt" if many else "perf-one.txt"
    (out / name).write_text(text)
    return text


def heap_profile(binary, out, sessions):
    workdir = out / "heaptrack"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    sink = cs.SmtpSink(workdir, max_sessions=100).start()
    relayguard = cs.Relayguard(workdir, sink, binary)
    config = relayguard.write_config()
    port = relayguard.port
    record = subprocess.Popen(["heaptrack", "-o", str(workdir / "idle"), str(binary), "run", "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cs.wait_for_greeting("127.0.0.1", port, record, 30, "relayguard under heaptrack")
    holder = loadgen.IdleSessions().open("127.0.0.1", port, sessions)
    time.sleep(1)
    pids = subprocess.run(["pgrep", "-f", f"^{binary} run -c {config}"], stdout=subprocess.PIPE).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-KILL", pid.decode()])
    time.sleep(2)
    holder.close()
    try:
        record.wait(timeout=60)
    except subprocess.TimeoutExpired:
        record.kill()
    sink.stop()
    files = sorted(workdir.glob("idle*.zst")) or sorted(workdir.glob("idle*.gz"))
    if not files:
        (out / "heaptrack-idle.txt").write_text("heaptrack wrote no data\n")
        return ""
    printed = subprocess.run(["heaptrack_print", "-f", str(files[-1]), "--print-peaks", "0", "--print-allocators", "0",
                              "--print-temporary", "0", "--print-leaks", "1",
                              "--peak-limit", "8", "--sub-peak-limit", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
    lines = [line[:160] for line in printed.splitlines() if not line.strip().startswith("in /")]
    text = (f"heaptrack: memory live in relayguard while {sessions} idle sessions are open (killed with SIGKILL, "
            f"so heaptrack's 'leaked' means live at that moment)\n\n" + "\n".join(lines) + "\n")
    (out / "heaptrack-idle.txt").write_text(text)
    return text


def rss_breakdown(binary, out):
    workdir = out / "rss"
    sink = cs.SmtpSink(workdir, max_sessions=10).start()
    relayguard = cs.Relayguard(workdir, sink, binary).start()
    time.sleep(1)
    rows = {}
    current = None
    try:
        with open(f"/proc/{relayguard.main_pid()}/smaps") as smaps:
            for line in smaps:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    parts = line.split()
                    current = parts[5] if len(parts) > 5 else "[anonymous]"
                elif line.startswith("Rss:"):
                    rows[current] = rows.get(current, 0) + int(line.split()[1])
        rollup = Path(f"/proc/{relayguard.main_pid()}/smaps_rollup").read_text()
    finally:
        relayguard.stop()
        sink.stop()
    text = "RSS of an idle relayguard (no session yet) by mapping, KiB:\n"
    text += "\n".join(f"{kib:7d}  {name}" for name, kib in sorted(rows.items(), key=lambda item: -item[1]) if kib)
    text += "\n\n/proc/PID/smaps_rollup:\n" + rollup
    (out / "rss-idle.txt").write_text(text)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--sessions", type=int, default=1000, help="idle sessions for heaptrack")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    binary = Path(args.binary).resolve()
    cs.raise_nofile(65536)
    for step, action in (("perf, one message per connection", lambda: perf_profile(binary, out, False, args.messages)),
                         ("perf, many messages per connection", lambda: perf_profile(binary, out, True, args.messages)),
                         ("heaptrack, idle sessions", lambda: heap_profile(binary, out, args.sessions)),
                         ("RSS by mapping", lambda: rss_breakdown(binary, out))):
        print(f"profile: {step}", flush=True)
        try:
            print(action())
        except Exception as error:  # noqa: BLE001
            print(f"profile: {step} failed: {error}")
    print(f"profile: written to {out}")


if __name__ == "__main__":
    main()
