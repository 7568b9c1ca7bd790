# -*- test-case-name: tests.test_log_outputs -*-
"""
Tests for L{kea_ha_tw.log_outputs} and the routing of our events to a
logger's C{output_options}: Kea's layouts, rotating files, syslog, and
errors that stop start-up or a reload with the key path.
"""

from __future__ import annotations

import io
import json
import os
import re

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.errors import CommandError, ConfigError
from kea_ha_tw.log_outputs import StreamOutput, compile_pattern, open_output
from kea_ha_tw.loggers import LOG_FILTER, LogFilter, Logger, LoggerConfig, OutputOption
from kea_ha_tw.service import Server


def event(**extra) -> dict:
    """An event as twisted.logger builds it, at 1970-01-01 00:00:00.123 UTC."""
    base = {"log_time": 0.123, "log_level": LogLevel.info, "log_format": "server1: {what}",
            "what": "up", "log_namespace": "kea_ha_tw.ha.service.HAService",
            "msg_id": "HA_STATE_TRANSITION"}
    base.update(extra)
    return base


class PatternTests(SynchronousTestCase):
    """L{compile_pattern}: Kea's (log4cplus) layouts."""

    def test_default_pattern(self):
        """Kea's default line: local time, padded severity, logger/pid.thread, id and text."""
        line = compile_pattern("%D{%Y-%m-%d %H:%M:%S.%q} %-5p [%c/%i.%t] %m\n")(
            event(), "kea-dhcp4.ha-hooks")
        self.assertRegex(line, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.123 INFO  "
                               r"\[kea-dhcp4\.ha-hooks/\d+\.\d+\] "
                               r"HA_STATE_TRANSITION server1: up\n$")

    def test_utc_and_fractions(self):
        """%d is UTC; %q is milliseconds, %Q milliseconds with microseconds."""
        render = compile_pattern("%d{%H:%M:%S.%q|%Q}")
        self.assertEqual(render(event(log_time=1.25), "x"), "00:00:01.250|250.000")

    def test_modifiers(self):
        """Width pads (left with '-'), precision keeps the end, %c{N} keeps N parts."""
        render = compile_pattern("[%6p][%-6p][%.3p][%c{1}][%%][%n]")
        self.assertEqual(render(event(log_level=LogLevel.warn), "kea-dhcp4.ha-hooks"),
                         "[  WARN][WARN  ][ARN][ha-hooks][%][\n]")

    def test_unknown_conversion_kept(self):
        """A conversion we do not know is copied as written."""
        self.assertEqual(compile_pattern("%z %m")(event(msg_id=None), "x"), "%z server1: up")

    def test_failure_in_message(self):
        """A logged failure's traceback follows the text."""
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            failure = Failure()
        line = compile_pattern("%m")(event(log_failure=failure), "x")
        self.assertIn("ZeroDivisionError", line)
        self.assertTrue(line.startswith("HA_STATE_TRANSITION server1: up\n"))


class OutputTests(SynchronousTestCase):
    """L{open_output} and the observers it makes."""

    def test_stream_failure_never_raises(self):
        """A stream that fails to write does not raise into the code that logged."""

        class Broken(io.StringIO):
            def write(self, text):
                raise OSError(28, "No space left on device")

        StreamOutput(Broken(), compile_pattern("%m\n"), lambda e: "x")(event())

    def test_file_rotation(self):
        """Past maxsize the file becomes .1; with maxver 1 only one old file is kept."""
        path = os.path.abspath(self.mktemp())
        out = open_output(OutputOption(path, maxsize=204800, maxver=1), lambda e: "x")
        line = event(log_format="x" * 1000)
        for _ in range(450):
            out(line)
        out.close()
        self.assertTrue(os.path.exists(path + ".1"))
        self.assertFalse(os.path.exists(path + ".2"))
        self.assertLess(os.path.getsize(path), 204800)

    def test_small_maxsize_does_not_rotate(self):
        """Below 204800 bytes, as in Kea, rotation is off."""
        path = os.path.abspath(self.mktemp())
        out = open_output(OutputOption(path, maxsize=1000), lambda e: "x")
        for _ in range(20):
            out(event(log_format="y" * 100))
        out.close()
        self.assertFalse(os.path.exists(path + ".1"))

    def test_one_file_one_handle(self):
        """Two outputs naming one file share its handle, so lines never overwrite."""
        path = os.path.abspath(self.mktemp())
        files: dict = {}
        first = open_output(OutputOption(path, pattern="a %m\n"), lambda e: "x", files=files)
        second = open_output(OutputOption(path, pattern="b %m\n"), lambda e: "x", files=files)
        first(event(msg_id=None))
        second(event(msg_id=None))
        first.close()
        second.close()
        with open(path) as f:
            self.assertEqual(f.read(), "a server1: up\nb server1: up\n")

    def test_syslog(self):
        """syslog:NAME opens syslog as NAME and maps Kea severities to priorities."""
        calls = []

        class FakeSyslog:
            LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 2, 3, 4, 6, 7
            LOG_PID, LOG_USER = 1, 8

            def openlog(self, ident, option, facility):
                calls.append(("open", ident))

            def syslog(self, priority, line):
                calls.append((priority, line))

        out = open_output(OutputOption("syslog:dhcp-a"), lambda e: "kea-dhcp4.ha-hooks",
                          syslog_module=FakeSyslog())
        out(event(log_level=LogLevel.error))
        self.assertEqual(calls[0], ("open", "dhcp-a"))
        self.assertEqual(calls[1][0], 3)
        self.assertRegex(calls[1][1], r"^ERROR \[kea-dhcp4\.ha-hooks\.\d+\] HA_STATE_TRANSITION")


class RoutingTests(SynchronousTestCase):
    """Our L{Logger} sends a logger's events to its outputs, inherited by children."""

    def setUp(self):
        self.own: list[dict] = []
        self.addCleanup(LOG_FILTER.reset)

    def log(self, namespace: str) -> Logger:
        """One of our loggers whose own observer records into C{self.own}."""
        return Logger(namespace=namespace, observer=self.own.append)

    def read(self, path: str) -> str:
        """A file's text."""
        with open(path) as f:
            return f.read()

    def test_outputs_and_inheritance(self):
        """The root's file takes every child's events; a child's own file takes only its own."""
        root = os.path.abspath(self.mktemp())
        ha = os.path.abspath(self.mktemp())
        LOG_FILTER.configure((
            LoggerConfig("kea-dhcp4", "INFO", output_options=(OutputOption(root),)),
            LoggerConfig("kea-dhcp4.ha-hooks", "WARN", output_options=(OutputOption(ha),)),
        ))
        self.log("kea_ha_tw.dhcp.server").info("allocated", msg_id="DHCP4_LEASE_ALLOC")
        self.log("kea_ha_tw.ha.service").info("quiet", msg_id="HA_STATE_TRANSITION")
        self.log("kea_ha_tw.ha.service").warn("loud", msg_id="HA_HEARTBEAT_FAILED")
        LOG_FILTER.reset()
        self.assertEqual(self.own, [])
        self.assertRegex(self.read(root), r"INFO  \[kea-dhcp4\.leases/\d+\.\d+\] "
                                          r"DHCP4_LEASE_ALLOC allocated\n$")
        self.assertRegex(self.read(ha), r"^[^\n]*WARN  \[kea-dhcp4\.ha-hooks/[^\n]*"
                                        r"HA_HEARTBEAT_FAILED loud\n$")

    def test_no_outputs_own_observer(self):
        """Loggers without output_options anywhere in their line use the own observer."""
        LOG_FILTER.configure((LoggerConfig("kea-dhcp4", "INFO"),))
        self.log("kea_ha_tw.dhcp.server").info("x")
        self.assertEqual(len(self.own), 1)

    def test_unopenable_file(self):
        """A file that cannot be opened names its key path; the old setup stays."""
        LOG_FILTER.configure((LoggerConfig("kea-dhcp4", "WARN"),))
        bad = os.path.join(os.path.abspath(self.mktemp()), "missing-dir", "kea.log")
        e = self.assertRaises(ConfigError, LOG_FILTER.configure, (
            LoggerConfig("kea-dhcp4", "INFO"),
            LoggerConfig("kea-dhcp4.ha-hooks", "INFO", output_options=(OutputOption(bad),))))
        self.assertEqual(e.path, "Dhcp4.loggers[1].output_options[0].output")
        self.assertIn("cannot open log file", e.message)
        self.assertFalse(LOG_FILTER.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))


def config_text(output: str) -> str:
    """A minimal Dhcp4 text whose root logger writes to C{output}."""
    return json.dumps({"Dhcp4": {
        "lease-database": {"type": "memfile", "persist": False},
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": output}]}],
    }})


class StartAndReloadTests(SynchronousTestCase):
    """An output that cannot be opened stops start-up or refuses the reload."""

    def test_reload_refused(self):
        """config-reload with an unopenable log file answers result 1 and keeps the old one."""
        good = os.path.abspath(self.mktemp())
        log_filter = LogFilter()
        self.addCleanup(log_filter.reset)
        server = Server(parse_config(config_text(good)), MemoryReactorClock(), None,
                        log_filter=log_filter)
        bad = os.path.join(os.path.abspath(self.mktemp()), "nope", "kea.log")
        e = self.assertRaises(CommandError, server.reconfigure, parse_config(config_text(bad)))
        self.assertEqual(e.result, 1)
        self.assertIn("Dhcp4.loggers[0].output_options[0].output", str(e))
        self.assertIsNot(log_filter.route(LogLevel.info, "kea_ha_tw.dhcp.server", None), None)

    def test_start_stops_with_message(self):
        """twistd kea-ha exits with the key path, not a traceback."""
        from kea_ha_tw.tap import Options, makeService

        path = self.mktemp()
        bad = os.path.join(os.path.abspath(self.mktemp()), "nope", "kea.log")
        with open(path, "w") as f:
            f.write(config_text(bad))
        options = Options()
        options.parseOptions(["--config", path])
        self.addCleanup(LOG_FILTER.reset)
        e = self.assertRaises(SystemExit, makeService, options)
        self.assertTrue(re.search(r"Dhcp4\.loggers\[0\]\.output_options\[0\]\.output: "
                                  r"cannot open log file", str(e.code)), e.code)
