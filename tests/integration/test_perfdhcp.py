"""
Issue 2: C{perfdhcp -4 -r 200 -R 5000 -p 10} against the server.

One namespace, loopback only: the server listens on 127.0.0.1:67 and
perfdhcp acts as a relay from 127.0.0.2 (giaddr), which selects the
subnet through C{relay.ip-addresses}.  Pass: under 1 % drops in both
exchanges, no non-unique address (perfdhcp C{-u}), and a lease file in
which every address belongs to one client and every client to one
address.  Run against real kea-dhcp4 (the oracle) and C{twistd -n kea-ha}.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin, read_leases
from tests.integration.configs import perfdhcp_config
from tests.integration.netns import loopback_only
from tests.integration.procs import KeaServer, TwistdServer

RATE = 200
SECONDS = 10


def parse_perfdhcp(text: str) -> dict[str, dict[str, float]]:
    """
    perfdhcp's report as {exchange: {statistic: value}}, e.g.
    C{{"DISCOVER-OFFER": {"sent packets": 1999.0, "drops ratio": 0.0, ...}}}.
    """
    sections: dict[str, dict[str, float]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            current = sections.setdefault(m.group(1), {})
            continue
        m = re.match(r"([a-z ]+): (-?[0-9.]+|-?nan)\b", line)
        if current is not None and m:
            current[m.group(1)] = float(m.group(2))
    return sections


class _PerfdhcpTests(IntegrationMixin):
    """The load test, for any C{server_class}."""

    skip = SKIP
    timeout = 90

    def test_perfdhcp_200_per_second(self):
        """
        200 DORA/s for 10 s from 5000 simulated clients: under 1 % drops,
        no duplicate address, and a consistent lease file.
        """
        ns = loopback_only(self.lab)
        config = perfdhcp_config(self.lease_file_path())
        server = self.server_class(self, ns, self.workdir, config).start()
        argv = ns.exec_argv(
            [
                "perfdhcp",
                "-4",
                "-g",
                "single",
                "-r",
                str(RATE),
                "-R",
                "5000",
                "-p",
                str(SECONDS),
                "-W",
                "200000",
                "-u",
                "-l",
                "127.0.0.2",
                "127.0.0.1",
            ]
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 30)
        report = done.stdout + done.stderr
        (self.workdir / "perfdhcp.log").write_text(report)
        stats = parse_perfdhcp(report)
        ctx = "\n--- perfdhcp ---\n" + report[-1500:] + "\n" + server.log_tail()
        self.assertIn("DISCOVER-OFFER", stats, ctx)
        self.assertIn("REQUEST-ACK", stats, ctx)
        do, ra = stats["DISCOVER-OFFER"], stats["REQUEST-ACK"]
        # The load was really offered...
        self.assertGreaterEqual(do["sent packets"], 0.95 * RATE * SECONDS, ctx)
        # ...and answered: under 1 % lost, end to end.
        self.assertLess(do["drops ratio"], 1.0, ctx)
        self.assertLess(ra["drops ratio"], 1.0, ctx)
        self.assertGreaterEqual(ra["received packets"], 0.99 * do["sent packets"], ctx)
        self.assertEqual(do["non unique addresses"], 0, ctx)
        self.assertEqual(ra["non unique addresses"], 0, ctx)
        self.assertEqual(ra["rejected leases"], 0, ctx)

        server.stop()
        rows = [r for r in read_leases(server.lease_file) if int(r["valid_lifetime"]) > 0]
        by_address, by_client = defaultdict(set), defaultdict(set)
        for r in rows:
            by_address[r["address"]].add(r["hwaddr"])
            by_client[r["hwaddr"]].add(r["address"])
        shared = {a: h for a, h in by_address.items() if len(h) > 1}
        self.assertEqual(shared, {}, "addresses leased to several clients")
        moved = {h: a for h, a in by_client.items() if len(a) > 1}
        self.assertEqual(moved, {}, "clients holding several addresses")
        # Every ACK left its lease in the file.
        self.assertGreaterEqual(len(rows), ra["received packets"], ctx)


class KeaPerfdhcpTests(_PerfdhcpTests, TestCase):
    """Against real kea-dhcp4 (the oracle)."""

    server_class = KeaServer


class TwistdPerfdhcpTests(_PerfdhcpTests, TestCase):
    """Against C{twistd -n kea-ha}."""

    server_class = TwistdServer
