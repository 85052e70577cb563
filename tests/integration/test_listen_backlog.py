"""The listen backlog is relayguard's own (4096, capped by net.core.somaxconn), not the C library's
SOMAXCONN: musl's is 128, and a burst of a few hundred connections would overflow a queue that short
(bench/findings/musl-sessions-10000.md). `ss` shows the backlog of a listening socket as its Send-Q."""

import shutil
import subprocess
import unittest

if __package__:
    from . import harness as h
else:
    import harness as h


@unittest.skipUnless(shutil.which("ss"), "needs ss (iproute2)")
class ListenBacklogTests(h.IntegrationTestCase):
    def test_backlog_is_4096_or_the_kernel_cap(self):
        relayguard = self.start_relayguard(self.start_sink())
        host, port = relayguard.address
        listing = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                                 check=True).stdout.split()
        with open("/proc/sys/net/core/somaxconn") as somaxconn:
            expected = min(4096, int(somaxconn.read()))
        # State, Recv-Q, Send-Q (the backlog), local address, peer address.
        self.assertEqual(listing[0], "LISTEN", listing)
        self.assertEqual(int(listing[2]), expected, listing)


if __name__ == "__main__":
    unittest.main()
