#!/usr/bin/env python3
"""Judges what procd-scenario.sh recorded (for tests/packaging/check-procd.sh).

    procd_checks.py RECORD_DIR LIVE

Prints "pass<TAB>what", "fail<TAB>what: why" or "skip<TAB>what: why" per check. LIVE is 1 when the
scenario ran the real relayguard binary (reload really signalled it, check-config really ran).
The expected JSON is what procd.sh makes of the init script's procd_* calls: the service message of
`ubus call service set` (name, script, instances, triggers), `delete` for stop.
"""
import glob
import json
import os
import sys

record, live = sys.argv[1], sys.argv[2] == "1"
INIT = "/etc/init.d/relayguard"
XML = "/etc/relayguard/relayguard.xml"
PID_FILE = "/var/run/relayguard.pid"
RELOAD_TRIGGER = ["config.change", ["if", ["eq", "package", "relayguard"], ["run_script", INIT, "reload"]], 1000]
WAN_TRIGGER = ["interface.*", ["if", ["eq", "interface", "wan"], ["run_script", INIT, "reload"]], 1000]


def report(ok, what, why=""):
    print(("pass" if ok else "fail") + "\t" + what + ("" if ok or not why else ": " + why))


def skip(what, why):
    print(f"skip\t{what}: {why}")


def equal(what, got, want):
    report(got == want, what, f"got {got!r}, expected {want!r}")


def read(step, name, default=""):
    path = os.path.join(record, step, name)
    return open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else default


def calls(step):
    """The ubus calls of a step: [(argv, json or None)]."""
    out = []
    for args in sorted(glob.glob(os.path.join(record, step, "[0-9]*.args"))):
        argv = open(args).read().splitlines()
        body = args[:-len(".args")] + ".json"
        message = None
        if os.path.exists(body):
            try:
                message = json.load(open(body))
            except ValueError as error:
                message = f"not JSON: {error}"
        out.append((argv, message))
    return out


def methods(step):
    return [" ".join(argv[:3]) for argv, _ in calls(step)]


def rc(step):
    return read(step, "rc").strip()


def check_service_set(step, watchdog=None, interfaces=()):
    """The one `service set` message of a step: the relayguard instance as start_service describes it."""
    sets = [m for argv, m in calls(step) if argv[:3] == ["call", "service", "set"]]
    if len(sets) != 1 or not isinstance(sets[0], dict):
        report(False, f"{step}: one `ubus call service set` with a JSON object", f"calls {methods(step)}")
        return
    message = sets[0]
    equal(f"{step}: service name and script", (message.get("name"), message.get("script")), ("relayguard", INIT))
    instances = message.get("instances", {})
    equal(f"{step}: one instance, main", sorted(instances), ["main"])
    main = instances.get("main", {})
    # procd writes the pid file of the process it starts (relayguard runs in the foreground), so the
    # command line has no --pid-file of its own.
    equal(f"{step}: command line", main.get("command"), ["/usr/sbin/relayguard", "run", "-c", XML])
    equal(f"{step}: pidfile", main.get("pidfile"), PID_FILE)
    equal(f"{step}: respawn threshold, timeout, retries", main.get("respawn"), ["3600", "5", "5"])
    # Only the XML: UCI changes arrive through the reload trigger (reload_service restarts on them);
    # listing /etc/config/relayguard would make procd send SIGHUP for a file relayguard never reads.
    equal(f"{step}: file list (procd compares it when the service is set again)", main.get("file"), [XML])
    equal(f"{step}: stdout and stderr to logd", (main.get("stdout"), main.get("stderr")), (True, True))
    equal(f"{step}: term_timeout", main.get("term_timeout"), 35)
    equal(f"{step}: limits", main.get("limits"), {"nofile": "8192 8192"})
    if watchdog is None:
        equal(f"{step}: reload_signal HUP (1)", main.get("reload_signal"), 1)
        report("watchdog" not in main and "env" not in main, f"{step}: no procd watchdog, no environment",
               f"watchdog {main.get('watchdog')!r}, env {main.get('env')!r}")
    else:
        equal(f"{step}: procd watchdog mode 1, {watchdog} s", main.get("watchdog"), ["1", str(watchdog)])
        report("reload_signal" not in main, f"{step}: no reload_signal beside the watchdog (PLATFORM.md)",
               f"reload_signal {main.get('reload_signal')!r}")
        equal(f"{step}: environment for relayguard's watchdog pings", main.get("env"),
              {"RELAYGUARD_PROCD_SERVICE": "relayguard", "RELAYGUARD_PROCD_INSTANCE": "main",
               "RELAYGUARD_PROCD_WATCHDOG": str(watchdog)})
    expected_triggers = [RELOAD_TRIGGER] + [WAN_TRIGGER for name in interfaces if name == "wan"]
    equal(f"{step}: triggers (reload on config.change{', interface wan' if interfaces else ''})",
          message.get("triggers"), expected_triggers)


def messages_after(step, previous):
    """The syslog lines a step added."""
    before = read(previous, "messages")
    return read(step, "messages")[len(before):]


# enable / enabled / disable, rc.common's own.
equal("enable: exit status", rc("enable"), "0")
rc_d = read("enabled", "rc.d")
report("S90relayguard -> ../init.d/relayguard" in rc_d and "K10relayguard -> ../init.d/relayguard" in rc_d,
       "enable: /etc/rc.d/S90relayguard and K10relayguard", rc_d)
equal("enabled: exit status after enable", rc("enabled"), "0")
equal("disable: exit status", rc("disable"), "0")
equal("enabled: exit status after disable", rc("disabled"), "1")

# start with the default UCI settings.
equal("start: exit status", rc("start"), "0")
equal("start: ubus calls", methods("start"), ["call service set"])
check_service_set("start")
report("relayguard.settings" in read("start", "var-run"), "start: records the UCI settings it started with")
if live:
    report("relayguard" in read("start", "messages"), "live: relayguard, started with that command line, logs",
           read("start", "messages")[-400:])

# reload with unchanged settings: no procd call, `relayguard reload` (check, then SIGHUP).
equal("reload: exit status", rc("reload"), "0")
equal("reload: no ubus call (nothing for procd to change)", methods("reload"), [])
equal("reload: runs relayguard reload with the config and procd's pid file",
      read("reload", "relayguard-calls").splitlines(), [f"reload -c {XML} --pid-file {PID_FILE}"])
if live:
    report("reload signal sent" in read("reload", "out"), "live: relayguard reload signalled the process",
           read("reload", "out"))
    report("reload: reading" in messages_after("reload", "start"),
           "live: the running relayguard got SIGHUP and re-read its configuration", messages_after("reload", "start"))
else:
    skip("live reload", "no static x86_64 relayguard to run")

# A broken XML file.
if live:
    report(rc("reload-broken") not in ("", "0"), "reload with a broken file fails", f"exit {rc('reload-broken')}")
    report("99999" in read("reload-broken", "out"), "reload with a broken file says why", read("reload-broken", "out"))
    equal("reload with a broken file: no ubus call", methods("reload-broken"), [])
    report(rc("start-broken") not in ("", "0"), "start with a broken file fails", f"exit {rc('start-broken')}")
    report("99999" in read("start-broken", "out"), "start with a broken file says why", read("start-broken", "out"))
    # An empty instance list in `service set` would make procd stop a running relayguard.
    equal("start with a broken file: no ubus call (a running relayguard is left alone)", methods("start-broken"), [])
    report("relayguard" in messages_after("start-broken", "reload") and "99999" in messages_after("start-broken", "reload"),
           "start with a broken file logs why (logread)", messages_after("start-broken", "reload"))
else:
    skip("broken configuration", "no static x86_64 relayguard to run check-config")

# boot is start; stop deletes the service.
equal("boot: exit status", rc("boot"), "0")
check_service_set("boot")
equal("stop: exit status", rc("stop"), "0")
stops = calls("stop")
equal("stop: ubus call service delete {name: relayguard}", [(argv[:3], m) for argv, m in stops],
      [(["call", "service", "delete"], {"name": "relayguard"})])
report("relayguard.settings" not in read("stop", "var-run"), "stop: forgets the recorded settings")

# A UCI change (watchdog 30, list interface wan) turns reload into a restart.
check_service_set("start-again")
equal("reload after a UCI change: exit status", rc("reload-watchdog"), "0")
equal("reload after a UCI change restarts: service delete, then set", methods("reload-watchdog"),
      ["call service delete", "call service set"])
check_service_set("reload-watchdog", watchdog=30, interfaces=("wan",))
check_service_set("start-watchdog", watchdog=30, interfaces=("wan",))
