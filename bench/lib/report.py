"""The report of a benchmark run: the targets judged from its results, the table (Markdown, which reads
as well in a terminal), the gnuplot plot of throughput against concurrency, and docs/benchmarks.md.
"""

import shutil
import subprocess
from pathlib import Path

ORDER = ["direct", "haproxy", "relayguard", "nginx", "haraka"]
LABELS = {"direct": "direct", "haproxy": "haproxy (TCP hop)", "relayguard": "relayguard", "nginx": "nginx mail",
          "haraka": "Haraka"}
KIB = 1024


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
    for other in ("nginx", "haraka"):
        values = []
        for mode in ("one", "many"):
            point = throughput_point(results, mode, sessions).get("median") or {}
            values.append(ratio(point.get("relayguard"), point.get(other)))
        known = [value for value in values if value is not None]
        judged.append({"id": f"ahead-of-{other}", "what": f"relayguard ahead of {LABELS[other]} in messages/s "
                       f"({sessions} sessions, both modes)",
                       "measured": " / ".join(fmt_ratio(value) for value in values),
                       "met": None if len(known) < 2 else all(value > 1.0 for value in known)})
    bulk = (results.get("bulk") or {}).get("median") or {}
    value = ratio(bulk.get("relayguard"), bulk.get("direct"))
    judged.append({"id": "bulk", "what": "bulk DATA (25 MB) ≥ 0.80× direct", "measured": fmt_ratio(value),
                   "met": None if value is None else value >= 0.80})
    memory = results.get("memory") or {}
    per_session = [(key, entry["bytes_per_session"]) for key, entry in (memory.get("sessions") or {}).items()
                   if key.startswith("relayguard/")]
    judged.append({"id": "idle-plain", "what": "≤ 1 KiB RSS per idle plaintext session",
                   "measured": ", ".join(f"{fmt(value)} B ({key.split('/')[1]} sessions)" for key, value in per_session)
                   or "—",
                   "met": None if not per_session else all(value <= KIB for _, value in per_session)})
    tls = (memory.get("tls") or {}).get("relayguard")
    value = tls["bytes_per_session"] if tls else None
    judged.append({"id": "idle-tls", "what": "≤ 40 KiB RSS per idle TLS session",
                   "measured": "—" if value is None else f"{value / KIB:.1f} KiB",
                   "met": None if value is None else value <= 40 * KIB})
    idle = (memory.get("idle") or {}).get("relayguard")
    value = idle["rss_kib"] if idle else None
    judged.append({"id": "idle-rss", "what": "≤ 2 MiB RSS idle",
                   "measured": "—" if value is None else f"{value / KIB:.2f} MiB (anonymous {idle['anon_kib']} KiB)",
                   "met": None if value is None else value <= 2 * KIB})
    big = (memory.get("sessions") or {}).get("relayguard/10000")
    judged.append({"id": "sessions-10000", "what": "10,000 concurrent sessions held",
                   "measured": "—" if not big else f"{big['held']:,} of {big['sessions']:,}",
                   "met": None if not big else big["held"] == 10000})
    return judged


# ---------------------------------------------------------------------------------------------------
# The table.


def table(results):
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
                if item:
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
        for key, label in (("x86-64", "x86-64"), ("aarch64", "aarch64"), ("armhf", "armhf"),
                           ("aarch64-static", "aarch64, fully static")):
            entry = sizes.get(key) or {}
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
        for name in ("relayguard", "nginx"):
            if name in medians:
                info = details.get(name) or {}
                lines.append(f"| {LABELS[name]} | {fmt(medians[name])} | "
                             f"{fmt_ratio(ratio(medians[name], medians.get('nginx')))} | {fmt(cpu.get(name), 2)} | "
                             f"{info.get('tls_version', '')} {info.get('cipher', '')}, {info.get('group', '?')} |")
        lines.append("")

    # Targets.
    judged = results.get("targets") or targets(results)
    lines.append("### Targets")
    lines.append("")
    lines.append("| target | measured | |")
    lines.append("|---|---|---|")
    for target in judged:
        verdict = {True: "met", False: "**missed**", None: "not measured"}[target["met"]]
        lines.append(f"| {target['what']} | {target['measured']} | {verdict} |")
    if results.get("skipped"):
        lines.append("")
        for what, reason in results["skipped"].items():
            lines.append(f"SKIP {what}: {reason}")
    if results.get("errors"):
        lines.append("")
        for error in results["errors"]:
            lines.append(f"FAILED {error.splitlines()[0]}")
    return "\n".join(lines)


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
    colours = {"direct": "#555555", "haproxy": "#1f77b4", "relayguard": "#d62728", "nginx": "#2ca02c",
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


def write_docs(results, table_text, out, docs, findings_dir):
    docs = Path(docs)
    png_name = "benchmarks-throughput.png"
    have_plot = plot(results, out, Path(out) / png_name)
    if have_plot:
        shutil.copy(Path(out) / png_name, docs / png_name)
    machine = results.get("machine") or {}
    contenders = results.get("contenders") or {}
    judged = results.get("targets") or targets(results)
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
        table_text,
        "",
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
        lines.append(f"### {target['what']}: {target['measured']}")
        lines.append("")
        finding = Path(findings_dir) / f"{target['id']}.md"
        if finding.exists():
            lines.append(finding.read_text().strip())
        else:
            lines.append(f"No analysis recorded yet (`bench/findings/{target['id']}.md`); `bench/profile` gathers "
                         "the evidence.")
        lines.append("")
    notes = Path(findings_dir) / "notes.md"
    if notes.exists():
        lines += ["## Notes on the contenders", "", notes.read_text().strip(), ""]
    (docs / "benchmarks.md").write_text("\n".join(lines).rstrip() + "\n")
