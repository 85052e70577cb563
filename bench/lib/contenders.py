"""The processes of a benchmark run: Postfix's smtp-sink as the mail server, and the contenders in
front of it (haproxy's blind TCP hop, relayguard — the glibc release build and the static musl build —,
nginx's mail proxy, Haraka), each started in the
foreground on free loopback ports with its configuration, logs and pid file under the run's folder.

Every contender has the same shape: start() waits until it answers with a 220 greeting, stop() ends it
(SIGTERM, then SIGKILL), pids() names the processes whose memory and CPU time count for it, and
describe() says how it was configured (one process, one worker, one thread) for the report.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

LISTEN_PORTS = range(20000, 32000)  # below the ephemeral range, like tests/integration/harness.py
_picker = random.SystemRandom()
_taken = set()


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that nothing listens on now and that this run has not handed out."""
    for _ in range(500):
        port = _picker.choice(LISTEN_PORTS)
        if port in _taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free listening port found")


def read_greeting(host, port, timeout=2.0):
    """True when something at host:port answers with a 220 greeting line."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            data = b""
            while b"\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return False
                data += chunk
            try:
                conn.sendall(b"QUIT\r\n")
            except OSError:
                pass
            return data.startswith(b"220")
    except OSError:
        return False


def wait_for_greeting(host, port, process, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before it listened")
        if read_greeting(host, port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not greet on {host}:{port} within {timeout:.0f}s")


def read_status_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, RssAnon, RssFile), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def read_pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def raise_nofile(wanted):
    """Raises this process's descriptor limit (children inherit it); returns the soft limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard < wanted and os.geteuid() == 0:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = wanted
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, nr_open), min(wanted, nr_open)))
            return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Process:
    """One foreground process with its output in a log file."""

    def __init__(self, name, command, workdir, env=None, cwd=None):
        self.name = name
        self.command = [str(part) for part in command]
        self.workdir = Path(workdir)
        self.log_path = self.workdir / f"{name}.log"
        self.env = env
        self.cwd = cwd
        self.popen = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        environment = dict(os.environ)
        environment.update(self.env or {})
        self.popen = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      env=environment, cwd=self.cwd, start_new_session=True)
        log.close()
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def stop(self, timeout=10):
        if not self.popen or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=5)

    def log_tail(self, lines=15):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class SmtpSink:
    """Postfix's smtp-sink: accepts every message and throws it away."""

    PROGRAM = "/usr/sbin/smtp-sink"

    def __init__(self, workdir, max_sessions=1000, name="smtp-sink"):
        self.workdir = Path(workdir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.max_sessions = max_sessions
        self.name = name
        self.process = None

    def start(self):
        command = [self.PROGRAM]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        command += ["-m", str(self.max_sessions), f"{self.host}:{self.port}", "4096"]
        self.process = Process(self.name, command, self.workdir).start()
        wait_for_greeting(self.host, self.port, self.process.popen, 10, self.name)
        return self

    def stop(self):
        if self.process:
            self.process.stop()


class Contender:
    name = "?"
    label = "?"

    def __init__(self, workdir, sink):
        self.workdir = Path(workdir) / self.name
        self.sink = sink
        self.host = "127.0.0.1"
        self.port = None
        self.process = None

    def pids(self):
        return [self.process.pid] if self.process and self.process.pid else []

    def main_pid(self):
        pids = self.pids()
        return pids[0] if pids else None

    def stop(self):
        if self.process:
            self.process.stop()
            self.process = None

    def alive(self):
        return self.process is None or self.process.popen.poll() is None

    def describe(self):
        return ""

    def version(self):
        return ""


class Direct(Contender):
    name = "direct"
    label = "direct"

    def __init__(self, workdir, sink):
        super().__init__(workdir, sink)
        self.port = sink.port

    def start(self):
        return self

    def pids(self):
        return []

    def describe(self):
        return "smtp-source straight into smtp-sink"

    def version(self):
        return package_version("postfix")


def package_version(package):
    try:
        completed = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, timeout=10)
        return completed.stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


class Haproxy(Contender):
    name = "haproxy"
    label = "haproxy (TCP)"
    PROGRAM = "/usr/sbin/haproxy"

    def __init__(self, workdir, sink, maxconn=4000):
        super().__init__(workdir, sink)
        self.maxconn = maxconn

    @classmethod
    def available(cls):
        return Path(cls.PROGRAM).exists()

    def start(self):
        self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "haproxy.cfg"
        config.write_text(f"""# Written by bench/run: a blind TCP hop to smtp-sink, one thread.
global
    nbthread 1
    maxconn {self.maxconn}
defaults
    mode tcp
    timeout connect 10s
    timeout client 10m
    timeout server 10m
frontend smtp
    bind {self.host}:{self.port} backlog 4096
    default_backend sink
backend sink
    server sink {self.sink.host}:{self.sink.port}
""")
        self.process = Process("haproxy", [self.PROGRAM, "-db", "-f", config], self.workdir).start()
        wait_for_greeting(self.host, self.port, self.process.popen, 10, "haproxy")
        return self

    def describe(self):
        return "mode tcp, nbthread 1, one frontend and one backend"

    def version(self):
        return package_version("haproxy")


class Relayguard(Contender):
    name = "relayguard"
    label = "relayguard"

    def __init__(self, workdir, sink, binary, tls=None, starttls=False, metrics=False):
        super().__init__(workdir, sink)
        self.binary = Path(binary)
        self.tls = tls  # (certificate, key)
        self.starttls = starttls
        self.metrics_port = None
        self.metrics = metrics  # serve <metrics listen> on a port of its own

    def write_config(self):
        """Picks the listening port and writes the configuration; returns its path."""
        self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "relayguard.xml"
        tls_element = ""
        listen_tls = ' tls="none"'
        if self.tls:
            tls_element = f'\n  <tls certificate="{self.tls[0]}" key="{self.tls[1]}"/>'
            listen_tls = ' tls="starttls"' if self.starttls else ' tls="none"'
        metrics_element = ""
        if self.metrics:
            self.metrics_port = free_port()
            metrics_element = f'\n  <metrics listen="{self.host}:{self.metrics_port}"/>'
        config.write_text(f"""<relayguard>
  <!-- Written by bench/run: relaying allowed for the benchmark client, limits out of the way. -->
  <listen address="{self.host}" port="{self.port}"{listen_tls}/>
  <upstream host="{self.sink.host}" port="{self.sink.port}"/>
  <identity hostname="relayguard.bench"/>{tls_element}
  <relay>
    <allow network="127.0.0.0/8"/>
    <domain name="example.com"/>
  </relay>
  <limits max-connections="20000" max-connections-per-client="20000" max-recipients="1000" max-message-size="64M"/>
  <log target="stderr" level="warning"/>{metrics_element}
</relayguard>
""")
        return config

    def start(self):
        config = self.write_config()
        self.process = Process(self.name, [self.binary, "run", "-c", config], self.workdir).start()
        wait_for_greeting(self.host, self.port, self.process.popen, 10, self.name)
        return self

    def describe(self):
        return "release preset (-Os, stripped), one thread, log level warning"

    def version(self):
        try:
            completed = subprocess.run([str(self.binary), "version"], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, timeout=10)
            return completed.stdout.decode(errors="replace").strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return ""


class RelayguardMusl(Relayguard):
    """The same relayguard as the musl-x86_64 preset builds it for flashing: fully static, musl and
    libc++ (zig), mbedTLS 3.6 with relayguard's trimmed configuration; configured as the glibc build."""

    name = "relayguard-musl"
    label = "relayguard (static musl)"

    def describe(self):
        return ("musl-x86_64 preset (-Os, fully static: musl, libc++, mbedTLS 3.6 with "
                "toolchains/mbedtls/relayguard_mbedtls_config.h), one thread, log level warning")


class RelayguardReuse(Relayguard):
    """The same glibc build with upstream connection reuse on (<upstream pool-size="8" prewarm="1">): a
    client session's first MAIL takes a connection a session before it left, instead of opening one."""

    name = "relayguard-reuse"
    label = "relayguard (upstream reuse)"
    POOL = 'pool-size="8" prewarm="1"'

    def write_config(self):
        config = super().write_config()
        text = config.read_text()
        upstream = f'<upstream host="{self.sink.host}" port="{self.sink.port}"/>'
        if upstream not in text:
            raise RuntimeError("the benchmark configuration's <upstream> element changed")
        config.write_text(text.replace(upstream, upstream[:-2] + f" {self.POOL}/>"))
        return config

    def describe(self):
        return f"the release build, configured as relayguard plus <upstream {self.POOL}>"


class RelayguardBaseline(Relayguard):
    """An earlier relayguard build (bench.py --binary-baseline), configured as the current one, so a change
    is measured against what it replaces in the same run."""

    name = "relayguard-baseline"
    label = "relayguard (baseline build)"

    def describe(self):
        return f"the baseline build {self.binary}, configured as relayguard"


NGINX_MAIL_MODULES = ["/usr/lib/nginx/modules/ngx_mail_module.so", "/usr/share/nginx/modules/ngx_mail_module.so"]


class Nginx(Contender):
    """nginx's mail proxy; its auth_http is answered by the same nginx, from an http server block."""

    name = "nginx"
    label = "nginx mail"
    PROGRAM = "/usr/sbin/nginx"

    def __init__(self, workdir, sink, worker_connections=1024, tls=None, starttls=False):
        super().__init__(workdir, sink)
        self.worker_connections = worker_connections
        self.tls = tls
        self.starttls = starttls

    @classmethod
    def module(cls):
        return next((path for path in NGINX_MAIL_MODULES if Path(path).exists()), None)

    @classmethod
    def available(cls):
        return Path(cls.PROGRAM).exists() and cls.module() is not None

    def start(self):
        self.port = free_port()
        auth_port = free_port()
        prefix = self.workdir
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        tls = ""
        if self.tls and self.starttls:
            tls = f"""
        ssl_certificate {self.tls[0]};
        ssl_certificate_key {self.tls[1]};
        starttls on;"""
        config = prefix / "nginx.conf"
        config.write_text(f"""# Written by bench/run: one worker; the mail proxy asks its own http block for the upstream.
load_module {self.module()};
worker_processes 1;
worker_rlimit_nofile {self.worker_connections * 2 + 100};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{
    worker_connections {self.worker_connections};
}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{auth_port};
        location = /auth {{
            add_header Auth-Status OK;
            add_header Auth-Server {self.sink.host};
            add_header Auth-Port {self.sink.port};
            return 204;
        }}
    }}
}}
mail {{
    server_name relayguard.bench;
    auth_http 127.0.0.1:{auth_port}/auth;
    proxy on;
    xclient off;
    server {{
        listen {self.host}:{self.port} backlog=4096;
        protocol smtp;
        smtp_auth none;{tls}
    }}
}}
""")
        self.process = Process("nginx", [self.PROGRAM, "-p", prefix, "-c", config, "-e", prefix / "logs/error.log"],
                               self.workdir).start()
        wait_for_greeting(self.host, self.port, self.process.popen, 10, "nginx")
        return self

    def worker_pids(self):
        if not self.process or not self.process.pid:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def pids(self):
        # The worker does the proxying; the master only supervises it (its RSS is reported apart).
        return self.worker_pids()

    def describe(self):
        return (f"worker_processes 1, worker_connections {self.worker_connections}, smtp_auth none, "
                "proxy on, xclient off, auth_http answered by the same nginx")

    def version(self):
        return package_version("nginx") + " (libnginx-mod-mail " + package_version("libnginx-mod-mail") + ")"


class Haraka(Contender):
    """Haraka from npm with the relay ACL and queue/smtp_forward to the sink, one process (nodes=0)."""

    name = "haraka"
    label = "Haraka"

    def __init__(self, workdir, sink, install_dir, plugin_source):
        super().__init__(workdir, sink)
        self.install_dir = Path(install_dir)
        self.plugin_source = Path(plugin_source)

    @staticmethod
    def program(install_dir):
        return Path(install_dir) / "node_modules" / "Haraka" / "bin" / "haraka"

    @classmethod
    def available_in(cls, install_dir):
        return cls.program(install_dir).exists() and shutil.which("node") is not None

    def start(self):
        self.port = free_port()
        instance = self.workdir
        if not (instance / "config" / "connection.ini").exists():
            if instance.exists():
                shutil.rmtree(instance)
            subprocess.run(["node", str(self.program(self.install_dir)), "-i", str(instance)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
        config = instance / "config"
        (instance / "plugins").mkdir(exist_ok=True)
        shutil.copy(self.plugin_source, instance / "plugins" / self.plugin_source.name)
        (config / "smtp.ini").write_text(f"listen={self.host}:{self.port}\nnodes=0\n")
        (config / "plugins").write_text(f"{self.plugin_source.stem}\nrelay\nqueue/smtp_forward\n")
        (config / "relay.ini").write_text("[relay]\nacl=true\n")
        (config / "relay_acl_allow").write_text("127.0.0.0/8\n")
        (config / "smtp_forward.ini").write_text(f"host={self.sink.host}\nport={self.sink.port}\n")
        (config / "log.ini").write_text("[main]\nlevel=error\n")
        (config / "me").write_text("relayguard.bench\n")
        (config / "host_list").write_text("example.com\n")
        size_limit = "[max]\nbytes=67108864\n"
        connection_ini = config / "connection.ini"
        text = connection_ini.read_text()
        if "bytes=67108864" not in text:
            text = re.sub(r"(?m)^bytes=\d+\s*$", "bytes=67108864", text)
            if "bytes=67108864" not in text:
                text += "\n" + size_limit
            connection_ini.write_text(text)
        self.process = Process("haraka", ["node", self.program(self.install_dir), "-c", instance], self.workdir,
                               cwd=str(instance)).start()
        wait_for_greeting(self.host, self.port, self.process.popen, 60, "Haraka")
        return self

    def describe(self):
        return ("nodes=0 (one process, no cluster), plugins relay (ACL 127.0.0.0/8) and queue/smtp_forward, "
                "reverse DNS answered locally by a one-line plugin, log level error")

    def version(self):
        try:
            import json

            package = self.install_dir / "node_modules" / "Haraka" / "package.json"
            node = subprocess.run(["node", "--version"], stdout=subprocess.PIPE, timeout=10).stdout.decode().strip()
            return json.loads(package.read_text())["version"] + f" (Node {node})"
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
            return ""
