"""
README command 1: C{scripts/demo --once} starts a server on the demo
config, has perfdhcp take leases from it and prints them.  Run with
C{--no-install} (the suite's runner installed everything already) in a
namespace and directory of the test's own; once with C{--kea} (real
kea-dhcp4 on the same config: proves the demo) and once with ours.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin
from tests.integration.netns import PREFIX, RUN_TAG, run
from tests.integration.procs import REPO_ROOT, KeaServer, TwistdServer


class _DemoTests(IntegrationMixin):
    """The demo script, for either server."""

    skip = SKIP
    timeout = 120

    def test_demo_once(self):
        """C{scripts/demo --once} hands out a lease to each of 5 clients and prints them."""
        ns = f"{PREFIX}{RUN_TAG}{secrets.token_hex(3)}-demo"
        self.addCleanup(run, ["ip", "netns", "del", ns], check=False)
        argv = [
            "bash",
            str(REPO_ROOT / "scripts" / "demo"),
            "--once",
            "--no-install",
            "--clients",
            "5",
        ]
        if self.server_class is KeaServer:
            argv.append("--kea")
        env = dict(os.environ, KEA_HA_DEMO_NS=ns, KEA_HA_DEMO_DIR=str(self.workdir / "demo"))
        env.setdefault("KEA_HA_PYTHON", sys.executable)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env)
        out = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, out)
        leases = re.findall(r"^\s+(10\.77\.0\.\d+)\s+mac (\S+)", out, re.M)
        self.assertEqual(len(leases), 5, out)
        self.assertEqual(len({a for a, _ in leases}), 5, out)
        self.assertIn("5 lease(s)", out)
        self.assertNotIn(ns, run(["ip", "netns", "list"]).stdout, "demo left its namespace")


class KeaDemoTests(_DemoTests, TestCase):
    """The demo on real kea-dhcp4 (C{--kea})."""

    server_class = KeaServer


class TwistdDemoTests(_DemoTests, TestCase):
    """The demo on C{twistd kea-ha} (the README's default)."""

    server_class = TwistdServer
