"""Names without NSS: the static musl builds have no glibc NSS modules, so <run user group> must come from
/etc/passwd and /etc/group and an upstream host name from /etc/hosts through the C library's own
resolver. relayguard runs in a private mount namespace in which those three files are the test's own,
naming an account and a host that exist nowhere else, so the test passes only if they are read.
Needs root (unshare -m, mount --bind); skipped with the reason otherwise. Runs against every build."""

import os
import shutil
import subprocess
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h

ACCOUNT = "rgstatic"
ACCOUNT_ID = 4242
UPSTREAM_NAME = "upstream.relayguard.test"


def private_mounts_allowed():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@unittest.skipUnless(private_mounts_allowed(), "needs root and unshare -m for private /etc files")
class NameResolutionTests(h.IntegrationTestCase):
    def setUp(self):
        super().setUp()
        etc = self.workdir / "etc"
        etc.mkdir()
        with open("/etc/passwd") as system_passwd, open("/etc/group") as system_group:
            passwd, group = system_passwd.read(), system_group.read()
        (etc / "passwd").write_text(passwd + f"{ACCOUNT}:x:{ACCOUNT_ID}:{ACCOUNT_ID}::/nonexistent:/bin/false\n")
        (etc / "group").write_text(group + f"{ACCOUNT}:x:{ACCOUNT_ID}:\n")
        (etc / "hosts").write_text(f"127.0.0.1 {UPSTREAM_NAME}\n")
        wrapper = self.workdir / "private-etc"
        wrapper.write_text("#!/bin/sh\n"
                           f"mount --bind {etc}/passwd /etc/passwd && mount --bind {etc}/group /etc/group && "
                           f"mount --bind {etc}/hosts /etc/hosts && exec \"$@\"\n")
        wrapper.chmod(0o755)
        # relayguard (through the emulator, when there is one) starts inside the private namespace.
        original = h.relayguard_emulator
        h.relayguard_emulator = lambda: ["unshare", "-m", "--", str(wrapper)] + original()
        self.addCleanup(setattr, h, "relayguard_emulator", original)
        os.chmod(self.workdir, 0o755)

    def test_account_from_etc_passwd_and_upstream_from_etc_hosts(self):
        sink = self.start_sink()
        relayguard = self.start_relayguard((UPSTREAM_NAME, sink.address[1]),
                                           sections={"run": {"user": ACCOUNT, "group": ACCOUNT}})
        relayguard.wait_for_log(rf"boot: privileges: now user {ACCOUNT} \(uid {ACCOUNT_ID}\), "
                                rf"group {ACCOUNT} \(gid {ACCOUNT_ID}\)")
        client = self.greeted(relayguard, source=h.TRUSTED_CLIENT)
        self.assertReply(self.deliver(client, b"via a host name from /etc/hosts\r\n"), 250)
        [transaction] = sink.wait_for_transactions(1)
        self.assertIn(b"via a host name from /etc/hosts", transaction.body)


if __name__ == "__main__":
    unittest.main()
