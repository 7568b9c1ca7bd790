"""
Kea's C{Dhcp4.loggers} on a running server: the lines go to the file an
C{output_options} entry names, in Kea's layout, and a C{severity} of
C{WARN} keeps C{INFO} lines out. Each test runs against real kea-dhcp4
(the oracle) and against ours; an output file that cannot be opened stops
our start-up with the key path (Kea starts and logs nothing there: a
deliberate difference, see docs/kea-compatibility.md).
"""

from __future__ import annotations

import re

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin
from tests.integration.configs import direct_config
from tests.integration.procs import KeaServer, TwistdServer, wait_until

#: One line in Kea's default layout, for any message of the DHCPv4 server.
KEA_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR|FATAL|DEBUG) "
                      r"\[kea-dhcp4\.[a-z0-9-]+/\d+\.\d+\] [A-Z][A-Z0-9_]+ ", re.M)


class _LoggingTests(IntegrationMixin):
    """C{loggers} with a file output, for any C{server_class}."""

    skip = SKIP

    def setUp(self):
        """A namespace (C{lo} only) to run in."""
        super().setUp()
        self.ns = self.lab.namespace("g")

    def config(self, severity: str, output: str) -> dict:
        """A server on C{lo} whose root logger writes C{severity} and up to C{output}."""
        conf = direct_config(self.lease_file_path())
        # Kea opens no raw socket on a loopback interface; UDP sockets it does.
        conf["Dhcp4"]["interfaces-config"].update(interfaces=["lo"], **{"dhcp-socket-type": "udp"})
        conf["Dhcp4"]["loggers"] = [{"name": "kea-dhcp4", "severity": severity,
                                     "output_options": [{"output": output}]}]
        return conf

    def test_lines_go_to_the_file(self):
        """At INFO the server's start-up lines land in the file, in Kea's layout."""
        path = self.workdir / "dhcp4.log"
        server = self.server_class(self, self.ns, self.workdir, self.config("INFO", str(path)))
        server.start()

        def written():
            return path.exists() and KEA_LINE.search(path.read_text())

        wait_until(written, 15, f"a Kea-style line in {path}")
        server.stop()
        text = path.read_text()
        self.assertRegex(text, r" INFO  \[kea-dhcp4\.", text)

    def test_warn_keeps_info_out(self):
        """At WARN, no INFO line is written, though the file is opened."""
        path = self.workdir / "dhcp4.log"
        server = self.server_class(self, self.ns, self.workdir, self.config("WARN", str(path)))
        server.start()
        server.stop()
        self.assertTrue(path.exists(), server.log_tail())
        self.assertNotIn(" INFO  [", path.read_text())


class KeaLoggingTests(_LoggingTests, TestCase):
    """Real kea-dhcp4 (the oracle)."""

    server_class = KeaServer


class TwistdLoggingTests(_LoggingTests, TestCase):
    """Ours, C{twistd kea-ha}."""

    server_class = TwistdServer

    def test_unopenable_file_stops_start(self):
        """A log file in a missing directory stops start-up, naming the key path."""
        bad = self.workdir / "missing" / "dhcp4.log"
        server = TwistdServer(self, self.ns, self.workdir, self.config("INFO", str(bad)))
        out = server.refused_start("bad-log")
        self.assertIn("Dhcp4.loggers[0].output_options[0].output: cannot open log file", out)
