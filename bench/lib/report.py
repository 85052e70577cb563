"""The report of a benchmark run: the targets judged from its results, the table (Markdown, which reads
as well in a terminal), the gnuplot plot of throughput against concurrency, and docs/benchmarks.md.
"""

import shutil
import subprocess
from pathlib import Path

ORDER = ["direct", "haproxy", "relayguard", "relayguard-reuse", "relayguard-musl", "relayguard-baseline", "nginx",
         "haraka"]
LABELS = {"direct": "direct", "haproxy": "haproxy (TCP hop)", "relayguard": "relayguard",
          "relayguard-reuse": "relayguard, upstream reuse",
          "relayguard-musl": "relayguard, static musl",
          "relayguard-baseline": "relayguard, baseline build", "nginx": "nginx mail", "haraka": "Haraka"}
KIB = 1024
MIB = 1024 * 1024

# The builds whose stripped size is measured, as bench.py's sizes step and bench/run's builds.json name
# them. The musl-* ones are reported in the "Static musl builds" tables, with their sections.
SIZE_BUILDS = [("x86-64", "x86-64"), ("aarch64", "aarch64"), ("armhf", "armhf"),
               ("aarch64-static", "aarch64, fully static (glibc)"), ("musl-x86_64", "x86-64, static musl"),
               ("musl-aarch64", "aarch64, static musl"), ("musl-armv7", "ARMv7 hard-float, static musl"),
               ("musl-mipsel", "MIPS32 little-endian soft-float, static musl")]
MUSL_HEADING = "## Static musl builds"


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def fmt(value, digits=0, unit=""):
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}"


def fmt_ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def throughput_point(results, mode, sessions):
    return (results.get("throughput") or {}).get(f"{mode}/{sessions}") or {}


def sessions_main(results):
    return (results.get("plan") or {}).get("sessions", 20)


def both_modes(results, name, other):
    """name's messages/s over other's at the main concurrency: [one per connection, many per connection]."""
    sessions = sessions_main(results)
    return [ratio((throughput_point(results, mode, sessions).get("median") or {}).get(name),
                  (throughput_point(results, mode, sessions).get("median") or {}).get(other))
            for mode in ("one", "many")]


def scaled(value, divisor):
    return None if value is None else value / divisor


def shown(digits=0, suffix="", divisor=1):
    """A formatter for one kind of figure: shown(2, " MiB", KIB)(4608) is "4.50 MiB"."""
    return lambda value: fmt(scaled(value, divisor), digits, suffix)


# ---------------------------------------------------------------------------------------------------
# Targets.


def targets(results):
    """Each target of the issue, judged on this run's numbers: id, what, measured, met (True/False/None)."""
    judged = []
    sessions = sessions_main(results)
    for mode, words in (("one", "one message per connection"), ("many", "many messages per connection")):
        point = throughput_point(results, mode, sessions).get("median") or {}
        rg, hap = point.get("relayguard"), point.get("haproxy")
        value = ratio(rg, hap)
        judged.append({"id": f"throughput-{mode}", "what": f"relayguard ≥ 0.95× haproxy's TCP hop, {sessions} "
                       f"sessions, {words}", "measured": fmt_ratio(value),
                       "met": None if value is None else value >= 0.95})
    point = throughput_point(results, "one", sessions).get("median") or {}
    value = ratio(point.get("relayguard-reuse"), point.get("haproxy"))
    judged.append({"id": "throughput-one-reuse", "what": f"relayguard with upstream reuse ≥ 1.0× haproxy's TCP hop, "
                   f"{sessions} sessions, one message per connection", "measured": fmt_ratio(value),
                   "met": None if value is None else value >= 1.0})
    reuse = results.get("reuse") or {}
    pooled = ((reuse.get("median") or {}).get("pool") or {}).get("mail_rtt_ms")
    unpooled = ((reuse.get("median") or {}).get("no pool") or {}).get("mail_rtt_ms")
    greeting_ms = (reuse.get("greeting_delay_s") or 0) * 1000
    value = ratio(pooled, greeting_ms)
    judged.append({"id": "reuse-mail-rtt", "what": f"upstream greeting delayed {greeting_ms / 1000:g} s: a client's "
                   "MAIL FROM answered without waiting for it when a pooled connection is free (round trip "
                   "< 0.1× the delay)", "measured": "—" if value is None else
                   f"{fmt(pooled, 2)} ms with a pool, {fmt(unpooled, 1)} ms without",
                   "met": None if value is None else value < 0.1})
    for other in ("nginx", "haraka"):
        values = both_modes(results, "relayguard", other)
        known = [value for value in values if value is not None]
        judged.append({"id": f"ahead-of-{other}", "what": f"relayguard ahead of {LABELS[other]} in messages/s "
                       f"({sessions} sessions, both modes)",
                       "measured": " / ".join(fmt_ratio(value) for value in values),
                       "met": None if len(known) < 2 else all(value > 1.0 for value in known)})
    bulk = (results.get("bulk") or {}).get("median") or {}
    value = ratio(bulk.get("relayguard"), bulk.get("direct"))
    judged.append({"id": "bulk", "what": "bulk DATA (25 MB) ≥ 0.80× direct", "measured": fmt_ratio(value),
                   "met": None if value is None else value >= 0.80})
    judged += memory_targets(results.get("memory") or {}, "relayguard", tls_kib=40, idle_mib=2)
    # "As cheap as a blind hop": a resumed STARTTLS handshake costs the server at most 1.5x nginx's.
    resumed = (results.get("handshakes") or {}).get("resumed_server_cpu_ms") or {}
    value = ratio(resumed.get("relayguard"), resumed.get("nginx"))
    judged.append({"id": "resumed-handshake", "what": "server CPU per resumed STARTTLS handshake ≤ 1.5× nginx's",
                   "measured": "—" if value is None else
                   f"{fmt_ratio(value)} ({fmt(resumed.get('relayguard'), 2)} against {fmt(resumed.get('nginx'), 2)} ms)",
                   "met": None if value is None else value <= 1.5})
    return judged + musl_targets(results)


def memory_targets(memory, name, tls_kib, idle_mib, prefix="", what=""):
    """The memory targets of one relayguard build: per idle plaintext session, per idle TLS session, idle,
    and 10,000 sessions held."""
    judged = []
    per_session = [(key, entry["bytes_per_session"]) for key, entry in (memory.get("sessions") or {}).items()
                   if key.startswith(name + "/") and "bytes_per_session" in entry]
    judged.append({"id": f"{prefix}idle-plain", "what": f"{what}≤ 1 KiB RSS per idle plaintext session",
                   "measured": ", ".join(f"{fmt(value)} B ({key.split('/')[1]} sessions)" for key, value in per_session)
                   or "—",
                   "met": None if not per_session else all(value <= KIB for _, value in per_session)})
    # As negotiated, and with TLS 1.2 only where that was measured apart (a server that negotiates TLS 1.3).
    tls = [entry for entry in ((memory.get(key) or {}).get(name) for key in ("tls", "tls12")) if entry]
    judged.append({"id": f"{prefix}idle-tls", "what": f"{what}≤ {tls_kib} KiB RSS per idle TLS session",
                   "measured": ", ".join(f"{entry['bytes_per_session'] / KIB:.1f} KiB ({entry['tls_version']})"
                                         for entry in tls) or "—",
                   "met": None if not tls else all(entry["bytes_per_session"] <= tls_kib * KIB for entry in tls)})
    idle = (memory.get("idle") or {}).get(name)
    value = idle["rss_kib"] if idle else None
    judged.append({"id": f"{prefix}idle-rss", "what": f"{what}≤ {idle_mib:g} MiB RSS idle",
                   "measured": "—" if value is None else f"{value / KIB:.2f} MiB (anonymous {idle['anon_kib']} KiB)",
                   "met": None if value is None else value <= idle_mib * KIB})
    big = (memory.get("sessions") or {}).get(f"{name}/10000")
    judged.append({"id": f"{prefix}sessions-10000", "what": f"{what}10,000 concurrent sessions held",
                   "measured": "—" if not big else f"{big['held']:,} of {big['sessions']:,}",
                   "met": None if not big else big["held"] == 10000})
    return judged


def musl_targets(results):
    """The targets of the static musl builds (issue "Flashable"), judged on the same run; group "musl"."""
    entry = (results.get("sizes") or {}).get("musl-aarch64") or {}
    value = entry.get("bytes")
    judged = [{"id": "musl-size", "what": "static aarch64 binary ≤ 1.0 MiB (stripped)",
               "measured": "—" if value is None else f"{value:,} bytes, {value / MIB:.2f} MiB",
               "met": None if value is None else value <= MIB}]
    judged += memory_targets(results.get("memory") or {}, "relayguard-musl", tls_kib=20, idle_mib=1,
                             prefix="musl-", what="static musl build: ")
    values = both_modes(results, "relayguard-musl", "relayguard")
    known = [value for value in values if value is not None]
    judged.append({"id": "musl-throughput", "what": f"static musl build ≥ 0.95× the glibc build in messages/s "
                   f"({sessions_main(results)} sessions, one / many messages per connection)",
                   "measured": " / ".join(fmt_ratio(value) for value in values),
                   "met": None if len(known) < 2 else all(value >= 0.95 for value in known)})
    for target in judged:
        target["group"] = "musl"
    return judged


# ---------------------------------------------------------------------------------------------------
# The table.


def table(results):
    """The whole report as bench/run prints it: tables 1 to 8 and every target."""
    judged = results.get("targets") or targets(results)
    return "\n".join(measurement_tables(results) + musl_tables(results)
                     + targets_table(judged) + skips_and_failures(results))


def measurement_tables(results):
    """Tables 1 to 7 (Markdown lines)."""
    lines = []
    present = [name for name in ORDER if name in (results.get("contenders") or {})]
    sessions = sessions_main(results)
    plan = results.get("plan") or {}

    # 1. Throughput at the main concurrency.
    lines.append(f"### 1. Message throughput: {sessions} sessions, {plan.get('messages', 0):,} messages of "
                 f"{plan.get('message_size', 0) // 1024} KB, median of {plan.get('rounds')} interleaved rounds")
    lines.append("")
    lines.append("| contender | msg/s, 1 per connection | × direct | CPU µs/msg | msg/s, many per connection (-d) "
                 "| × direct | CPU µs/msg |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    one = throughput_point(results, "one", sessions)
    many = throughput_point(results, "many", sessions)
    for name in present:
        row = [LABELS[name]]
        for point in (one, many):
            medians = point.get("median") or {}
            cpu = point.get("median_cpu_us_per_message") or {}
            value = medians.get(name)
            row += [fmt(value), fmt_ratio(ratio(value, medians.get("direct"))),
                    "—" if name == "direct" else fmt(cpu.get(name))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("CPU µs/msg: user + system time of the proxy's own process(es) per message (nginx: its worker).")
    lines.append("")

    lines += reuse_table(results) + syscalls_table(results)

    # 2. The sweep.
    sweep = plan.get("sweep_sessions") or []
    if sweep:
        lines.append("### 2. Concurrency sweep (msg/s; median of "
                     f"{plan.get('sweep_rounds')} rounds; messages per point: "
                     + ", ".join(f"{s} sessions {(plan.get('sweep_messages') or {}).get(str(s), plan.get('messages')):,}"
                                 for s in sweep) + ")")
        lines.append("")
        header = "| contender | " + " | ".join(f"{s} (1/conn)" for s in sweep) + " | " + \
                 " | ".join(f"{s} (-d)" for s in sweep) + " |"
        lines.append(header)
        lines.append("|---|" + "---:|" * (2 * len(sweep)))
        for name in present:
            cells = []
            for mode in ("one", "many"):
                for s in sweep:
                    cells.append(fmt((throughput_point(results, mode, s).get("median") or {}).get(name)))
            lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"The {sessions}-session columns are the measurements of table 1.")
        lines.append("")

    # 3. Bulk.
    bulk = results.get("bulk") or {}
    if bulk:
        medians = bulk.get("median") or {}
        lines.append(f"### 3. Bulk DATA: one message of {bulk.get('size', 0) / 1024 / 1024:.0f} MiB, "
                     f"median of {bulk.get('rounds')} rounds")
        lines.append("")
        lines.append("| contender | MB/s | × direct |")
        lines.append("|---|---:|---:|")
        for name in ORDER:
            if name in medians:
                lines.append(f"| {LABELS[name]} | {fmt(medians[name] and medians[name] / 1e6, 1)} | "
                             f"{fmt_ratio(ratio(medians[name], medians.get('direct')))} |")
        lines.append("")

    # 4. Latency.
    latency = results.get("latency") or {}
    if latency:
        lines.append(f"### 4. Per-command round trip (µs), {latency.get('commands_per_round')} of each × "
                     f"{latency.get('rounds')} rounds, one session, no pipelining")
        lines.append("")
        lines.append("| contender | RCPT p50 | RCPT p99 | NOOP p50 | NOOP p99 | RCPT p50 × direct | NOOP p50 × direct |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        rcpt, noop = latency.get("rcpt") or {}, latency.get("noop") or {}
        for name in ORDER:
            if name not in rcpt:
                continue
            r, n = rcpt[name], noop.get(name) or {}
            lines.append(f"| {LABELS[name]} | {fmt(r.get('p50_us'))} | {fmt(r.get('p99_us'))} | "
                         f"{fmt(n.get('p50_us'))} | {fmt(n.get('p99_us'))} | "
                         f"{fmt_ratio(ratio(r.get('p50_us'), (rcpt.get('direct') or {}).get('p50_us')))} | "
                         f"{fmt_ratio(ratio(n.get('p50_us'), (noop.get('direct') or {}).get('p50_us')))} |")
        lines.append("")

    # 5. Memory.
    memory = results.get("memory") or {}
    if memory:
        lines.append("### 5. Memory (VmRSS of the proxy's process; nginx: its worker; anonymous RSS and PSS in brackets)")
        lines.append("")
        counts = plan.get("idle_counts") or [1000, 10000]
        tls_count = plan.get("tls_sessions", 200)
        lines.append("| contender | RSS idle | " + " | ".join(f"+ {count:,} idle sessions | bytes/session"
                                                          for count in counts)
                     + f" | + {tls_count} TLS sessions | bytes/TLS session |")
        lines.append("|---|---:|" + "---:|---:|" * len(counts) + "---:|---:|")
        idle = memory.get("idle") or {}
        sessions_memory = memory.get("sessions") or {}
        tls = memory.get("tls") or {}
        skipped = results.get("skipped") or {}
        for name in ORDER:
            if name == "direct" or (name not in idle and not any(k.startswith(name + "/") for k in sessions_memory)):
                continue
            entry = idle.get(name)
            cells = [f"{entry['rss_kib'] / KIB:.2f} MiB (anon {entry['anon_kib']:,} KiB, PSS {entry['pss_kib']:,} KiB)"
                     if entry else "—"]
            for count in counts:
                item = sessions_memory.get(f"{name}/{count}")
                if item and item.get("error"):
                    cells += [f"failed: {item['error']}", "—"]
                elif item:
                    held = "" if item["held"] == count else f", {item['held']:,} held"
                    cells += [f"{item['after']['rss_kib'] / KIB:.1f} MiB{held}", fmt(item["bytes_per_session"])]
                else:
                    reason = skipped.get(f"memory {name} {count} sessions", "")
                    if "descriptors" in reason:
                        cells += ["not measured (descriptor limit, see the notes)", "—"]
                    elif name == "haraka":
                        cells += ["idle RSS only", "—"]
                    else:
                        cells += ["not measured", "—"]
            item = tls.get(name)
            if name in ("haproxy", "haraka"):
                cells += ["no STARTTLS here", "—"]
            elif item:
                cells += [f"{item['after']['rss_kib'] / KIB:.1f} MiB ({item['tls_version']})",
                          f"{item['bytes_per_session'] / KIB:.1f} KiB"]
            else:
                cells += ["—", "—"]
            lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
        master = idle.get("nginx-master")
        if master:
            lines.append("")
            lines.append(f"nginx's master process (not counted above): {master['rss_kib'] / KIB:.2f} MiB.")
        lines.append("")

    # 6. Sizes.
    sizes = results.get("sizes") or {}
    if sizes:
        lines.append("### 6. Stripped binary size (release builds; system libraries shared unless static)")
        lines.append("")
        lines.append("| build | bytes | KiB | what `file` says |")
        lines.append("|---|---:|---:|---|")
        for key, label in SIZE_BUILDS:
            entry = sizes.get(key) or {}
            if key.startswith("musl-"):
                continue  # table 8
            if entry.get("error"):
                lines.append(f"| {label} | — | — | not built: {entry['error']} |")
            elif entry:
                described = shorten_file(entry.get("file", ""))
                if entry.get("runs"):
                    described += f"; {entry['runs']}"
                lines.append(f"| {label} | {entry['bytes']:,} | {entry['bytes'] / KIB:.0f} | {described} |")
        lines.append("")

    # 7. Handshakes.
    handshakes = results.get("handshakes") or {}
    if handshakes:
        medians = handshakes.get("median") or {}
        cpu = handshakes.get("server_cpu_ms") or {}
        details = handshakes.get("details") or {}
        lines.append(f"### 7. STARTTLS handshakes: {handshakes.get('count')} sessions from "
                     f"{handshakes.get('workers')} client processes, median of {handshakes.get('rounds')} rounds")
        lines.append("")
        lines.append("| contender | handshakes/s | × nginx | server CPU ms/handshake | protocol, cipher suite, ECDHE group |")
        lines.append("|---|---:|---:|---:|---|")
        for name in ORDER:
            if name in medians:
                info = details.get(name) or {}
                lines.append(f"| {LABELS[name]} | {fmt(medians[name])} | "
                             f"{fmt_ratio(ratio(medians[name], medians.get('nginx')))} | {fmt(cpu.get(name), 2)} | "
                             f"{info.get('tls_version', '')} {info.get('cipher', '')}, {info.get('group', '?')} |")
        lines.append("")
        resumed = handshakes.get("resumed_median") or {}
        if resumed:
            resumed_cpu = handshakes.get("resumed_server_cpu_ms") or {}
            share = handshakes.get("resumed_share") or {}
            lines.append("Resumed: each client process makes one full handshake, then offers its session ticket "
                         "every time (TLS 1.2).")
            lines.append("")
            lines.append("| contender | resumed handshakes/s | × nginx | server CPU ms/handshake | × nginx | "
                         "resumed, least of the rounds |")
            lines.append("|---|---:|---:|---:|---:|---:|")
            for name in ORDER:
                if name in resumed:
                    lines.append(f"| {LABELS[name]} | {fmt(resumed[name])} | "
                                 f"{fmt_ratio(ratio(resumed[name], resumed.get('nginx')))} | "
                                 f"{fmt(resumed_cpu.get(name), 2)} | "
                                 f"{fmt_ratio(ratio(resumed_cpu.get(name), resumed_cpu.get('nginx')))} | "
                                 f"{share.get(name, 0) * 100:.0f}% |")
            lines.append("")

    return lines


def reuse_table(results):
    """Table 1b: upstream connection reuse in front of a slow upstream (bench.py's reuse step)."""
    reuse = results.get("reuse") or {}
    medians = reuse.get("median") or {}
    if not any(medians.values()):
        return []
    lines = [f"### 1b. Upstream connection reuse: the upstream greets after {reuse.get('greeting_delay_s'):g} s and "
             f"answers EHLO after {reuse.get('ehlo_delay_s', 0) * 1000:g} ms; {reuse.get('sessions')} sessions one "
             f"after another (round trip), then {reuse.get('sessions')} sessions {reuse.get('concurrency')} at a time "
             f"(msg/s), one message per connection; median of {reuse.get('rounds')} interleaved rounds", "",
             "| relayguard | MAIL FROM round trip | msg/s, 1 per connection | upstream connections (last round) |",
             "|---|---:|---:|---:|"]
    connections = reuse.get("upstream_connections") or {}
    for label, words in (("no pool", "no pool (pool-size 0)"),
                         ("pool", " ".join(reuse.get("pool", "pool").replace('"', "").split("=")))):
        entry = medians.get(label) or {}
        lines.append(f"| {words} | {fmt(entry.get('mail_rtt_ms'), 2, ' ms')} | {fmt(entry.get('msg_per_s'), 2)} | "
                     f"{connections.get(label, '—')} |")
    on, off = medians.get("pool") or {}, medians.get("no pool") or {}
    rtt_ratio = ratio(on.get("mail_rtt_ms"), off.get("mail_rtt_ms"))
    lines.append(f"| pool ÷ no pool | {'—' if rtt_ratio is None else f'{rtt_ratio:.4f}×'} | "
                 f"{fmt_ratio(ratio(on.get('msg_per_s'), off.get('msg_per_s')))} | |")
    lines.append("")
    return lines


def syscalls_table(results):
    """Table 1c: system calls per message (bench.py's syscalls step, strace -c)."""
    per = (results.get("syscalls") or {}).get("per_message") or {}
    if not per:
        return []
    steps = results.get("syscalls") or {}
    lines = [f"### 1c. System calls per message (strace -c -f; {steps.get('messages'):,} messages of 10 KB per "
             f"workload, median of {steps.get('rounds')} rounds)", ""]
    for workload, words in (("many", "many messages per connection (-d)"), ("one", "one message per connection")):
        common = {}
        for entry in per.values():
            for call, value in ((entry.get(workload) or {}).get("calls") or {}).items():
                common[call] = max(common.get(call, 0), value)
        top = sorted(common, key=common.get, reverse=True)[:6]
        lines += [f"{words}:", "", "| contender | calls/msg | × haproxy | " + " | ".join(top) + " |",
                  "|---|---:|---:|" + "---:|" * len(top)]
        reference = (per.get("haproxy") or {}).get(workload, {}).get("total")
        for name in ORDER:
            entry = (per.get(name) or {}).get(workload)
            if not entry:
                continue
            lines.append(f"| {LABELS[name]} | {fmt(entry['total'], 1)} | {fmt_ratio(ratio(entry['total'], reference))} | "
                         + " | ".join(fmt(entry["calls"].get(call, 0), 1) for call in top) + " |")
        lines.append("")
    lines.append("haproxy's clock_gettime calls are CLOCK_THREAD_CPUTIME_ID, its own CPU accounting (no vDSO for "
                 "that clock). strace slows the traced process: these are counts, never times.")
    lines.append("")
    return lines


def targets_table(judged, title="### Targets"):
    lines = [title, "", "| target | measured | |", "|---|---|---|"]
    for target in judged:
        verdict = {True: "met", False: "**missed**", None: "not measured"}[target["met"]]
        lines.append(f"| {target['what']} | {target['measured']} | {verdict} |")
    return lines


def skips_and_failures(results):
    lines = []
    if results.get("skipped"):
        lines.append("")
        for what, reason in results["skipped"].items():
            lines.append(f"SKIP {what}: {reason}")
    if results.get("errors"):
        lines.append("")
        for error in results["errors"]:
            lines.append(f"FAILED {error.splitlines()[0]}")
    return lines


# ---------------------------------------------------------------------------------------------------
# Table 8: the static musl builds.

# How the loaded sections of an ELF binary are grouped in table 8b (the rest counts as "other").
SECTION_GROUPS = [
    ("code", (".text", ".init", ".fini", ".plt", ".iplt")),
    ("read-only data", (".rodata", ".data.rel.ro")),
    ("unwind and exception tables", (".eh_frame", ".eh_frame_hdr", ".gcc_except_table", ".ARM.exidx", ".ARM.extab")),
    ("writable data (.bss not in the file)", (".data", ".bss", ".tdata", ".tbss", ".got", ".sdata", ".sbss",
                                              ".init_array", ".fini_array")),
]


def section_groups(sections):
    grouped = {label: 0 for label, _ in SECTION_GROUPS}
    grouped["other"] = 0
    for name, size in sections.items():
        label = next((label for label, prefixes in SECTION_GROUPS
                      if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)), "other")
        grouped[label] += size
    return grouped


def musl_measured(results):
    """Whether this run measured a static musl build at all (the contender, or a musl-* binary's size)."""
    memory = results.get("memory") or {}
    found = "relayguard-musl" in (results.get("contenders") or {})
    found |= "relayguard-musl" in (memory.get("idle") or {}) or "relayguard-musl" in (memory.get("tls") or {})
    found |= "relayguard-musl" in ((results.get("handshakes") or {}).get("median") or {})
    sizes = results.get("sizes") or {}
    return found or any((sizes.get(key) or {}).get("bytes") for key, _ in SIZE_BUILDS if key.startswith("musl-"))


def musl_tables(results):
    """Table 8: the static musl build beside the glibc build and the reference (nginx for memory and TLS,
    haproxy for throughput), every figure from this run; table 8b: the stripped sizes of the musl builds."""
    if not musl_measured(results):
        return []
    memory = results.get("memory") or {}
    plan = results.get("plan") or {}
    lines = ["### 8. The static musl build (musl-x86_64 preset) beside the glibc release build, same run", "",
             "| measurement | relayguard, glibc | relayguard, static musl | musl ÷ glibc | reference "
             "| musl ÷ reference |", "|---|---:|---:|---:|---:|---:|"]

    def row(what, values, reference, show, notes=None):
        """One measurement: the glibc build, the musl build, their ratio, the reference and the ratio to it."""
        names = ("relayguard", "relayguard-musl", reference)
        glibc, musl, other = (values.get(name) for name in names)
        cells = [show(values.get(name)) + (f" ({notes[name]})" if (notes or {}).get(name) and name in values else "")
                 for name in names]
        lines.append(f"| {what} | {cells[0]} | {cells[1]} | {fmt_ratio(ratio(musl, glibc))} | "
                     f"{LABELS[reference]}: {cells[2]} | {fmt_ratio(ratio(musl, other))} |")

    idle = memory.get("idle") or {}
    row("RSS idle", {name: entry["rss_kib"] for name, entry in idle.items()}, "nginx",
        shown(2, " MiB", KIB))
    row("anonymous RSS idle", {name: entry.get("anon_kib") for name, entry in idle.items()}, "nginx",
        shown(0, " KiB"))
    for count in plan.get("idle_counts") or []:
        entries = {key.split("/")[0]: entry for key, entry in (memory.get("sessions") or {}).items()
                   if key.endswith(f"/{count}")}
        row(f"bytes per idle plaintext session ({count:,} sessions)",
            {name: entry["bytes_per_session"] for name, entry in entries.items() if "bytes_per_session" in entry},
            "nginx", shown(0, " B"))
        if any(entry["held"] != count for entry in entries.values()):
            row(f"of {count:,} idle plaintext sessions, held", {name: entry["held"] for name, entry in entries.items()},
                "nginx", shown())
    tls = memory.get("tls") or {}
    row(f"per idle TLS session, as negotiated ({plan.get('tls_sessions')} sessions)",
        {name: entry["bytes_per_session"] for name, entry in tls.items()}, "nginx", shown(1, " KiB", KIB),
        {name: entry.get("tls_version") for name, entry in tls.items()})
    if memory.get("tls12"):
        # TLS 1.2 on both sides: the servers that negotiated it anyway, the others measured again held to it.
        tls12 = {name: entry for name, entry in tls.items() if entry.get("tls_version") == "TLSv1.2"}
        tls12.update(memory["tls12"])
        row("per idle TLS session, TLS 1.2 only", {name: entry["bytes_per_session"] for name, entry in tls12.items()},
            "nginx", shown(1, " KiB", KIB))
    handshakes = results.get("handshakes") or {}
    row("STARTTLS handshakes/s (TLS 1.2, ECDHE X25519, ECDSA P-256)", handshakes.get("median") or {}, "nginx", shown())
    row("server CPU ms per handshake", handshakes.get("server_cpu_ms") or {}, "nginx", shown(2))
    if handshakes.get("resumed_median"):
        row("resumed STARTTLS handshakes/s (session ticket, TLS 1.2)", handshakes["resumed_median"], "nginx", shown())
        row("server CPU ms per resumed handshake", handshakes.get("resumed_server_cpu_ms") or {}, "nginx", shown(2))
    sessions = sessions_main(results)
    for mode, words in (("one", "1 per connection"), ("many", "many per connection (-d)")):
        point = throughput_point(results, mode, sessions)
        row(f"msg/s, {sessions} sessions, {words}", point.get("median") or {}, "haproxy", shown())
        row(f"CPU µs/msg, {words}", point.get("median_cpu_us_per_message") or {}, "haproxy", shown())
    lines += ["", "Memory and TLS: the reference is nginx's worker; throughput: haproxy's TCP hop. Each ratio is "
              "between medians of this run. The glibc build links Debian's shared mbedTLS 2.28; the static musl "
              "build mbedTLS 3.6 with toolchains/mbedtls/relayguard_mbedtls_config.h.", ""]

    sizes = results.get("sizes") or {}
    lines += ["### 8b. Stripped size of the static musl builds, by section (KiB)", "",
              "| build | bytes | MiB | " + " | ".join(label for label, _ in SECTION_GROUPS)
              + " | other | what `file` says |",
              "|---|---:|---:|" + "---:|" * (len(SECTION_GROUPS) + 1) + "---|"]
    for key, label in SIZE_BUILDS:
        entry = sizes.get(key) or {}
        if not (key.startswith("musl-") or key == "aarch64-static" and entry.get("bytes")) or not entry:
            continue  # the static glibc build only as a comparison, when it was measured
        if entry.get("error"):
            lines.append(f"| {label} | — | — |" + " — |" * (len(SECTION_GROUPS) + 1)
                         + f" not measured: {entry['error']} |")
            continue
        grouped = section_groups(entry.get("sections") or {})
        described = shorten_file(entry.get("file", ""))
        if entry.get("runs"):
            described += f"; {entry['runs']}"
        lines.append(f"| {label} | {entry['bytes']:,} | {entry['bytes'] / MIB:.2f} | "
                     + " | ".join(fmt(scaled(size, KIB)) for size in grouped.values()) + f" | {described} |")
    lines += ["", "The sections are the ones the binary loads (`SHF_ALLOC`), read from its ELF header; 1 MiB is "
              "1,048,576 bytes.", ""]
    return lines


def shorten_file(text):
    keep = []
    for part in text.split(", "):
        if part.startswith(("BuildID", "for GNU/Linux")):
            continue
        keep.append(part)
    return ", ".join(keep)


# ---------------------------------------------------------------------------------------------------
# The plot.


def plot(results, out, png):
    sweep = (results.get("plan") or {}).get("sweep_sessions") or []
    present = [name for name in ORDER if name in (results.get("contenders") or {})]
    if not sweep or not present or not shutil.which("gnuplot"):
        return False
    data = Path(out) / "throughput-sweep.dat"
    with open(data, "w") as handle:
        for mode in ("one", "many"):
            handle.write(f"# {mode}: sessions " + " ".join(present) + "\n")
            for s in sweep:
                medians = throughput_point(results, mode, s).get("median") or {}
                values = [medians.get(name) for name in present]
                handle.write(f"{s} " + " ".join("NaN" if v is None else f"{v:.1f}" for v in values) + "\n")
            handle.write("\n\n")
    colours = {"direct": "#555555", "haproxy": "#1f77b4", "relayguard": "#d62728", "relayguard-reuse": "#e377c2",
               "relayguard-musl": "#ff7f0e", "relayguard-baseline": "#8c564b", "nginx": "#2ca02c",
               "haraka": "#9467bd"}
    script = Path(out) / "throughput-sweep.gp"
    panels = []
    for index, (mode, title) in enumerate((("one", "one message per connection"),
                                           ("many", "many messages per connection (smtp-source -d)"))):
        curves = ", ".join(
            f"'{data}' index {index} using 1:{column + 2} with linespoints lw 2 pt 7 lc rgb '{colours[name]}' "
            f"title '{LABELS[name]}'" for column, name in enumerate(present))
        panels.append(f"set title '{title}'\nplot {curves}")
    machine = results.get("machine") or {}
    script.write_text(f"""set terminal pngcairo size 1200,520 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 1,2 title 'SMTP throughput on loopback, 10 KB messages ({machine.get('cores')} cores, {results.get('started', '')[:10]})'
set logscale x
set logscale y
set xtics ({', '.join(str(s) for s in sweep)})
set xrange [{min(sweep) * 0.8}:{max(sweep) * 1.25}]
set xlabel 'parallel sessions (smtp-source -s)'
set ylabel 'messages per second (log scale)'
set grid
set key bottom right
{panels[0]}
{panels[1]}
unset multiplot
""")
    completed = subprocess.run(["gnuplot", str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if completed.returncode != 0:
        print(completed.stdout.decode(errors="replace"))
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# docs/benchmarks.md


def write_docs(results, out, docs, findings_dir):
    """Writes docs/benchmarks.md and the plot from a full run. A partial run (--steps, --only) leaves the
    last full run's document as it is, except for its "Static musl builds" section, which it rewrites when
    it measured a static musl build. Returns what it did, for the log."""
    docs = Path(docs)
    path = docs / "benchmarks.md"
    section = musl_section(results, findings_dir)
    if results.get("partial"):
        if not section:
            return f"left {path} as it was (a partial run that did not measure a static musl build)"
        path.write_text(splice(path.read_text() if path.exists() else "", MUSL_HEADING, "\n".join(section)))
        return f"rewrote the \"{MUSL_HEADING[3:]}\" section of {path}; the rest is the last full run's"
    png_name = "benchmarks-throughput.png"
    have_plot = plot(results, out, Path(out) / png_name)
    if have_plot:
        shutil.copy(Path(out) / png_name, docs / png_name)
    machine = results.get("machine") or {}
    contenders = results.get("contenders") or {}
    judged = [target for target in results.get("targets") or targets(results) if target.get("group") != "musl"]
    missed = [target for target in judged if target["met"] is False]
    minutes = (results.get("seconds") or 0) / 60
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run` from its latest full run; do not edit by hand (the paragraphs on missed",
        "targets come from `bench/findings/`). What is measured and how: [bench/README.md](../bench/README.md).",
        "",
        f"Run on {results.get('started', '')} with:",
        "",
        "```sh",
        results.get("command", "bench/run"),
        "```",
        "",
        f"The measurements took {minutes:.0f} minutes ("
        + ", ".join(f"{step} {seconds / 60:.1f}" for step, seconds in (results.get("step_seconds") or {}).items())
        + " minutes), after installing and building.",
        "",
        "## The machine",
        "",
        f"- CPU: {machine.get('cpu')}, {machine.get('cores')} cores ({machine.get('machine')}), "
        f"{machine.get('memory')} of memory; shared with other work, so only ratios measured in the same run mean anything",
        f"- {machine.get('os')} (Debian {machine.get('debian_version')}), Linux {machine.get('kernel')}, "
        f"descriptor limit {machine.get('descriptor_limit')}",
        "",
        "## The contenders",
        "",
        "| contender | version | configuration |",
        "|---|---|---|",
    ]
    for name in ORDER:
        if name in contenders:
            entry = contenders[name]
            lines.append(f"| {LABELS[name]} | {entry.get('version', '')} | {entry.get('configuration', '')} |")
    lines += [
        "",
        "Every measurement is interleaved between the contenders (A B C … A B C …, the order rotated each",
        "round), each contender's result is the median of the rounds, and every ratio is between medians of",
        "the same run. The load is Postfix's `smtp-source` into Postfix's `smtp-sink`, all on loopback.",
        "",
        "## Results",
        "",
        *measurement_tables(results),
        *targets_table(judged),
        *skips_and_failures(results),
        "",
        *(section or [MUSL_HEADING, "", "Not measured in this run: " + (results.get("skipped") or {}).get(
            "relayguard-musl", "no static musl build was measured."), ""]),
        "## Throughput against concurrency",
        "",
    ]
    if have_plot:
        lines.append(f"![messages per second against parallel sessions]({png_name})")
    else:
        lines.append("(no plot: gnuplot was not available)")
    lines += ["", "## Missed targets", ""]
    if not missed:
        lines.append("None: every target was met in this run.")
    for target in missed:
        lines += finding_lines(target, findings_dir)
    notes = Path(findings_dir) / "notes.md"
    if notes.exists():
        lines += ["## Notes on the contenders", "", notes.read_text().strip(), ""]
    path.write_text("\n".join(lines).rstrip() + "\n")
    return f"wrote {path} and the plot"


def finding_lines(target, findings_dir, level="###"):
    """A missed target's heading and its analysis from bench/findings/<id>.md."""
    lines = [f"{level} {target['what']}: {target['measured']}", ""]
    finding = Path(findings_dir) / f"{target['id']}.md"
    if finding.exists():
        lines.append(finding.read_text().strip())
    else:
        lines.append(f"No analysis recorded yet (`bench/findings/{target['id']}.md`); `bench/profile` gathers "
                     "the evidence.")
    return lines + [""]


def musl_section(results, findings_dir):
    """The "Static musl builds" section of docs/benchmarks.md, with the run it comes from; [] when the
    run measured no static musl build."""
    tables = musl_tables(results)
    if not tables:
        return []
    judged = [target for target in results.get("targets") or targets(results) if target.get("group") == "musl"]
    lines = [MUSL_HEADING, "",
             "The fully static builds that are flashed (the `musl-*` presets: zig's musl and libc++, mbedTLS 3.6 "
             "with relayguard's trimmed configuration), measured beside the glibc release build, nginx and "
             f"haproxy in the run of {results.get('started', '')}"
             + (" (a partial run: the rest of this document comes from the last full run)"
                if results.get("partial") else "") + ":",
             "", "```sh", results.get("command", "bench/run"), "```", "",
             *tables,
             *targets_table(judged, title="### Targets of the static builds"), ""]
    for target in judged:
        if target["met"] is False:
            lines += finding_lines(target, findings_dir, level="####")
    notes = Path(findings_dir) / "musl.md"
    if notes.exists():
        lines += ["### Notes on the static builds", "", notes.read_text().strip(), ""]
    return lines


def splice(document, heading, section):
    """document with the section under `heading` (up to the next "## " heading) replaced by `section`;
    inserted before the throughput plot, or at the end, when the document has no such section yet."""
    lines = document.splitlines()
    section_lines = section.rstrip().splitlines() + [""]
    if heading in lines:
        begin = lines.index(heading)
        end = next((index for index in range(begin + 1, len(lines)) if lines[index].startswith("## ")), len(lines))
    else:
        begin = end = lines.index("## Throughput against concurrency") \
            if "## Throughput against concurrency" in lines else len(lines)
    return "\n".join(lines[:begin] + section_lines + lines[end:]).rstrip() + "\n"
