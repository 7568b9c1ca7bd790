"""
Real-socket smoke test of the DHCP layer (DHCPListenerService +
DHCPServerProtocol + DHCPServer) on the real reactor.

In a network namespace of its own (C{khd-...}) whose C{lo} carries
127.0.0.1 and 127.0.0.2, L{tests.integration.dhcp_smoke_runner} listens on
C{lo} and perfdhcp acts as a relay from 127.0.0.2 to 127.0.0.1:67 (the
topology of docs in shared/kea-baseline.md). Every exchange must complete.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

from twisted.trial.unittest import TestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, port 67)"
    for tool in ("ip", "perfdhcp"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def _stats(text: str) -> dict[str, dict[str, float]]:
    """perfdhcp's report as {exchange: {statistic: value}}."""
    out: dict[str, dict[str, float]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line)
        if m:
            current = out.setdefault(m.group(1), {})
            continue
        m = re.match(r"([a-z ]+): (-?[0-9.]+)", line)
        if current is not None and m:
            current[m.group(1)] = float(m.group(2))
    return out


class DHCPSmokeTests(TestCase):
    """perfdhcp through the loopback relay topology."""

    skip = _skip()
    timeout = 60

    def setUp(self):
        self.ns = f"khd-smoke-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=10)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.ns], timeout=10)
        for cmd in (["link", "set", "lo", "up"], ["addr", "add", "127.0.0.2/8", "dev", "lo"]):
            subprocess.run(["ip", "-n", self.ns, *cmd], check=True, timeout=10)

    def start_server(self):
        """Start the runner in the namespace; return it once it says READY."""
        env = dict(os.environ, PYTHONPATH=REPO)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m",
             "tests.integration.dhcp_smoke_runner", "lo", "--subnet", "10.1.0.0/16",
             "--pool", "10.1.0.1-10.1.255.254", "--relay", "127.0.0.2", "--router", "10.1.0.254",
             "--seconds", "40"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(self.stop, proc)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY"):
                return proc
        self.fail("server did not start")

    def stop(self, proc):
        """SIGTERM the runner (by pid) and return its statistics."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
        for line in (out or "").splitlines():
            if line.startswith("STATS "):
                return json.loads(line[6:])
        return {}

    def test_perfdhcp_relay(self):
        """perfdhcp -r 50 -p 3 -R 100 as a relay: every DORA completes, addresses unique."""
        proc = self.start_server()
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, "perfdhcp", "-4", "-r", "50", "-p", "3",
             "-R", "100", "-l", "127.0.0.2", "127.0.0.1"],
            capture_output=True, text=True, timeout=30)
        report = _stats(done.stdout)
        do, ra = report["DISCOVER-OFFER"], report["REQUEST-ACK"]
        self.assertGreater(do["sent packets"], 100, done.stdout)
        self.assertLess(do["drops ratio"], 1.0, done.stdout)
        self.assertLess(ra["drops ratio"], 1.0, done.stdout)
        self.assertEqual(do["non unique addresses"] + ra["non unique addresses"], 0)
        stats = self.stop(proc)
        self.assertEqual(stats["pkt4-ack-sent"], ra["received packets"])
        self.assertEqual(stats["pkt4-parse-failed"], 0)
        self.assertLessEqual(stats["subnet[1].assigned-addresses"], 100)
        self.assertGreater(stats["subnet[1].assigned-addresses"], 50)
