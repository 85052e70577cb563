"""The Ansible role (firmware/packaging/ansible/roles/relayguard) run by Debian's ansible-playbook against
this machine (connection: local) and a real relayguard started here with a pid file and metrics: the
first run changes the file and reloads, the second changes nothing; an open-relay allowlist is refused by
the check before the file is touched; a file that loads but lets an untrusted address relay (the role's
probe from 127.0.0.2 finds it) is rolled back, and the running relayguard is back on the old file."""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import unittest
import urllib.request

if __package__:
    from . import harness as h
else:
    import harness as h

ROLES = h.REPO_ROOT / "firmware" / "packaging" / "ansible" / "roles"
RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PLAYBOOK = """\
- name: Configure relayguard
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - relayguard
"""


class AnsibleRoleTests(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("ansible-playbook"):
            self.fail("ansible-playbook is missing (Debian package ansible-core)")
        if h.relayguard_emulator():
            self.skipTest("the role runs relayguard check-config, reload and probe directly, not under qemu")
        self.sink = self.start_sink()
        self.metrics_port = h.free_port()
        self.pid_file = self.workdir / "relayguard.pid"
        self.relayguard = self.start_relayguard(
            self.sink, sections={"run": {"pid-file": self.pid_file},
                                 "metrics": {"listen": f"127.0.0.1:{self.metrics_port}"}})
        self.playbook = self.workdir / "site.yml"
        self.playbook.write_text(PLAYBOOK)

    def role_variables(self, **overrides):
        host, port = self.relayguard.address
        variables = {
            "relayguard_binary": str(h.relayguard_binary()),
            "relayguard_service_manager": "pid-file",
            "relayguard_config_path": str(self.relayguard.config_path),
            "relayguard_config_owner": "",
            "relayguard_config_group": "",
            "relayguard_config_mode": "0600",
            "relayguard_hostname": h.RELAYGUARD_HOSTNAME,
            "relayguard_listeners": [{"address": host, "port": port}],
            "relayguard_upstream": {"host": self.sink.host, "port": self.sink.port},
            "relayguard_local_domains": ["*.lan.example.com", h.LOCAL_DOMAIN, "branch.example.com"],
            "relayguard_relay_networks": ["127.0.0.1/32"],
            "relayguard_limits": {"max-recipients": 50},
            "relayguard_metrics_listen": f"127.0.0.1:{self.metrics_port}",
            "relayguard_log_target": "stderr",
            "relayguard_run_user": "",
            "relayguard_pid_file": str(self.pid_file),
            "relayguard_verify_timeout": int(h.scaled(15)),
        }
        variables.update(overrides)
        return variables

    def run_playbook(self, variables, *options):
        """Runs the role; returns (exit status, output, {ok, changed, failed} from the play recap)."""
        extra = self.workdir / "vars.json"
        extra.write_text(json.dumps(variables))
        home = self.workdir / "ansible-home"
        settings = self.workdir / "ansible.cfg"  # none of this machine's own Ansible settings
        settings.write_text("[defaults]\n")
        environment = dict(os.environ, ANSIBLE_ROLES_PATH=str(ROLES), ANSIBLE_HOME=str(home),
                           ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_REMOTE_TEMP=str(home / "remote"),
                           ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                           ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_CONFIG=str(settings))
        completed = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", str(self.playbook), "-e", f"@{extra}", *options],
            env=environment, capture_output=True, text=True, timeout=h.scaled(240))
        output = completed.stdout + completed.stderr
        self.transcript.note("ansible", output[-6000:])
        recap = RECAP.search(output)
        self.assertIsNotNone(recap, f"no play recap in ansible-playbook's output:\n{output}")
        counts = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, recap.groups())))
        return completed.returncode, output, counts

    def metrics(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=h.scaled(5)) as response:
            return response.read().decode()

    def loaded_sha256(self):
        [sha] = re.findall(r'^relayguard_config_info\{sha256="([0-9a-f]{64})"\} 1$', self.metrics(), re.M)
        return sha

    def reloads(self, result):
        match = re.search(rf'^relayguard_config_reloads_total\{{result="{result}"\}} (\d+)$', self.metrics(), re.M)
        return int(match.group(1)) if match else 0

    def file_sha256(self):
        return hashlib.sha256(self.relayguard.config_path.read_bytes()).hexdigest()

    def relay_attempt(self, source, recipient):
        client = self.greeted(self.relayguard, source=source)
        self.assertReply(client.command(f"MAIL FROM:<{h.OUTSIDE_SENDER}>"), 250, message="MAIL")
        reply = client.command(f"RCPT TO:<{recipient}>")
        client.command("QUIT")
        return reply

    def test_the_first_run_deploys_and_reloads_and_the_second_changes_nothing(self):
        first_sha = self.loaded_sha256()
        self.assertReply(self.relay_attempt(h.UNTRUSTED_CLIENT, "someone@branch.example.com"), 554, "5.7.1",
                         message="a domain the running file does not list")

        status, output, counts = self.run_playbook(self.role_variables())
        self.assertEqual(status, 0, output)
        self.assertEqual(counts["failed"], 0, output)
        self.assertEqual(counts["changed"], 2, f"the file and the reload:\n{output}")
        self.assertNotEqual(self.file_sha256(), first_sha)
        self.assertEqual(self.loaded_sha256(), self.file_sha256(), "relayguard serves the file Ansible wrote")
        self.assertEqual(self.reloads("ok"), 1)
        self.relayguard.wait_for_log(r"reload: done")
        self.assertIn('<domain name="branch.example.com"/>', self.relayguard.config_path.read_text())
        self.assertIn('<limits max-recipients="50"/>', self.relayguard.config_path.read_text())
        self.assertReply(self.relay_attempt(h.UNTRUSTED_CLIENT, "someone@branch.example.com"), 250,
                         message="the domain the role added is local now")
        self.assertReply(self.relay_attempt(h.UNTRUSTED_CLIENT, h.REMOTE_RECIPIENT), 554, "5.7.1",
                         message="and the untrusted client still may not relay")
        self.assertIn("Probe the listener", output)

        status, output, counts = self.run_playbook(self.role_variables())
        self.assertEqual(status, 0, output)
        self.assertEqual(counts["changed"], 0, f"the second run changes nothing:\n{output}")
        self.assertEqual(self.reloads("ok"), 1, "and sends no reload")
        backups = list(self.relayguard.config_path.parent.glob("relayguard.xml.*~"))
        self.assertEqual(len(backups), 1, f"one backup of the harness's file: {backups}")
        self.assertEqual(hashlib.sha256(backups[0].read_bytes()).hexdigest(), first_sha)

    def test_an_open_relay_allowlist_fails_the_check_and_the_running_file_stays(self):
        before = self.relayguard.config_path.read_bytes()
        sha = self.loaded_sha256()
        status, output, counts = self.run_playbook(
            self.role_variables(relayguard_relay_networks=["127.0.0.1/32", "0.0.0.0/0"]))
        self.assertNotEqual(status, 0, output)
        self.assertEqual(counts["failed"], 1, output)
        self.assertEqual(counts["changed"], 0, output)
        self.assertIn("it would be an open relay", output, "check-config's own words reach the operator")
        self.assertEqual(self.relayguard.config_path.read_bytes(), before, "the file is not touched")
        self.assertEqual(self.loaded_sha256(), sha)
        self.assertEqual(self.reloads("ok") + self.reloads("failed"), 0, "no reload was sent")
        # Ansible's template module writes its backup before it validates: a copy of the same file.
        for backup in self.relayguard.config_path.parent.glob("relayguard.xml.*~"):
            self.assertEqual(backup.read_bytes(), before, backup)

    def test_a_file_that_lets_an_untrusted_client_relay_is_rolled_back(self):
        self.assertEqual(self.run_playbook(self.role_variables())[0], 0)
        good = self.relayguard.config_path.read_bytes()
        good_sha = self.loaded_sha256()

        # Valid, and wrong: 127.0.0.0/8 takes in 127.0.0.2, where the role's probe comes from.
        status, output, counts = self.run_playbook(
            self.role_variables(relayguard_relay_networks=["127.0.0.0/8"]))
        self.assertNotEqual(status, 0, output)
        self.assertEqual(counts["failed"], 1, output)
        self.assertIn("relayguard rolled back to", output)
        self.assertIn("Probe the listener from an address that must not be able to relay", output)
        self.assertIn("result: OPEN RELAY", output, "the probe's report of what got through reaches the operator")
        self.assertEqual(self.relayguard.config_path.read_bytes(), good, "the previous file is back")
        self.assertEqual(self.loaded_sha256(), good_sha, "and relayguard serves it again")
        self.assertEqual(self.reloads("ok"), 3, "the deployment, the bad file, the rollback")
        self.assertReply(self.relay_attempt(h.UNTRUSTED_CLIENT, h.REMOTE_RECIPIENT), 554, "5.7.1",
                         message="127.0.0.2 may not relay after the rollback")

    def test_a_reload_relayguard_never_takes_is_rolled_back(self):
        # The file passes the check but its listener cannot be bound; relayguard keeps serving, the probe
        # of the new listener fails, and the file goes back.
        self.assertEqual(self.run_playbook(self.role_variables())[0], 0)
        good = self.relayguard.config_path.read_bytes()
        taken = socket.socket()  # bound, not listening: relayguard's bind fails, a connect is refused
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", h.free_port()))
        port = taken.getsockname()[1]
        status, output, counts = self.run_playbook(self.role_variables(
            relayguard_listeners=[{"address": "127.0.0.1", "port": port}],
            relayguard_probe_target=f"127.0.0.1:{port}"))
        self.assertNotEqual(status, 0, output)
        self.assertIn("relayguard rolled back to", output)
        self.assertEqual(self.relayguard.config_path.read_bytes(), good)
        self.assertEqual(self.loaded_sha256(), hashlib.sha256(good).hexdigest())

    def test_check_mode_shows_the_change_and_touches_nothing(self):
        before = self.relayguard.config_path.read_bytes()
        status, output, counts = self.run_playbook(self.role_variables(), "--check", "--diff")
        self.assertEqual(status, 0, output)
        self.assertEqual(counts["changed"], 1, output)
        self.assertIn('+    <domain name="branch.example.com"/>', output)
        self.assertEqual(self.relayguard.config_path.read_bytes(), before)
        self.assertEqual(self.reloads("ok"), 0)


if __name__ == "__main__":
    unittest.main()
