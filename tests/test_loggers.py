# -*- test-case-name: tests.test_loggers -*-
"""
Tests for L{kea_ha_tw.loggers} and the C{Dhcp4.loggers} section: Kea's
logger names, severities and debug levels decide which of our events are
emitted, checked before the event is built.
"""

from __future__ import annotations

import json

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import (
    DEBUG_EVENT_LEVEL,
    LOG_FILTER,
    LogFilter,
    Logger,
    LoggerConfig,
    SeverityTable,
    kea_logger_name,
    severity_of,
)
from kea_ha_tw.service import Server


def config_with(loggers) -> str:
    """A minimal Dhcp4 text with C{loggers} and a memfile that is not persisted."""
    return json.dumps({"Dhcp4": {
        "lease-database": {"type": "memfile", "persist": False},
        "loggers": loggers,
    }})


class LoggerNameTests(SynchronousTestCase):
    """L{kea_logger_name} places our events under Kea's loggers."""

    def test_by_message_id(self):
        """Kea's message-id prefixes name the logger that writes them."""
        for msg_id, name in (
            ("HA_STATE_TRANSITION", "kea-dhcp4.ha-hooks"),
            ("LEASE_CMDS_UPDATE4", "kea-dhcp4.lease-cmds-hooks"),
            ("DHCPSRV_MEMFILE_LFC_START", "kea-dhcp4.dhcpsrv"),
            ("DHCP4_PACKET_DROP_0001", "kea-dhcp4.bad-packets"),
            ("DHCP4_LEASE_ALLOC", "kea-dhcp4.leases"),
            ("DHCP4_PACKET_SEND_FAIL", "kea-dhcp4.packets"),
            ("DHCP4_HOOK_LEASES4_PARKING_LOT_FULL", "kea-dhcp4.hooks"),
            ("DHCP4_CONFIG_COMPLETE", "kea-dhcp4.dhcp4"),
            ("COMMAND_RECEIVED", "kea-dhcp4.commands"),
        ):
            self.assertEqual(kea_logger_name("kea_ha_tw.dhcp.server.DHCPServer", msg_id), name)

    def test_by_namespace(self):
        """Without a known message id, the emitting module decides."""
        self.assertEqual(kea_logger_name("kea_ha_tw.ha.peer_http.X", None), "kea-dhcp4.ha-hooks")
        self.assertEqual(kea_logger_name("kea_ha_tw.leases.memfile.M", "KHT_X"),
                         "kea-dhcp4.dhcpsrv")
        self.assertEqual(kea_logger_name("kea_ha_tw.service.Server", None), "kea-dhcp4")

    def test_severity_names(self):
        """Severity is read case-blind; an unknown one is INFO, as Kea takes it."""
        self.assertEqual(severity_of("warn"), "WARN")
        self.assertEqual(severity_of("None"), "NONE")
        self.assertEqual(severity_of("LOUD"), "INFO")


class SeverityTableTests(SynchronousTestCase):
    """L{SeverityTable}: the nearest configured logger decides."""

    def test_kea_default_is_info(self):
        """With no entries, INFO and above pass and debug does not."""
        table = SeverityTable(())
        self.assertTrue(table.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))
        self.assertFalse(table.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None))

    def test_root_severity(self):
        """The root logger's WARN hides INFO from every child logger."""
        table = SeverityTable((LoggerConfig("kea-dhcp4", "WARN"),))
        self.assertFalse(table.allows(LogLevel.info, "kea_ha_tw.ha.service", "HA_STATE_TRANSITION"))
        self.assertTrue(table.allows(LogLevel.warn, "kea_ha_tw.ha.service", None))
        self.assertTrue(table.allows(LogLevel.critical, "kea_ha_tw.ha.service", None))

    def test_child_overrides_root(self):
        """A child entry overrides the root for its events only."""
        table = SeverityTable((LoggerConfig("kea-dhcp4", "WARN"),
                               LoggerConfig("kea-dhcp4.ha-hooks", "DEBUG", 99)))
        self.assertTrue(table.allows(LogLevel.debug, "kea_ha_tw.ha.updates", None))
        self.assertFalse(table.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None))
        self.assertFalse(table.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))

    def test_none(self):
        """NONE silences a logger completely, failures included."""
        table = SeverityTable((LoggerConfig("kea-dhcp4", "NONE"),))
        self.assertFalse(table.allows(LogLevel.critical, "kea_ha_tw.dhcp.protocol", None))

    def test_debuglevel(self):
        """Debug events show only up to the configured debug level."""
        low = SeverityTable((LoggerConfig("kea-dhcp4", "DEBUG", DEBUG_EVENT_LEVEL - 1),))
        high = SeverityTable((LoggerConfig("kea-dhcp4", "DEBUG", DEBUG_EVENT_LEVEL),))
        self.assertFalse(low.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None))
        self.assertTrue(high.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None))
        self.assertTrue(low.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None, debuglevel=10))
        self.assertTrue(low.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))


class LoggerTests(SynchronousTestCase):
    """L{Logger} asks L{LOG_FILTER} before it builds an event."""

    def setUp(self):
        self.events: list[dict] = []
        self.log = Logger(namespace="kea_ha_tw.dhcp.server", observer=self.events.append)
        self.addCleanup(LOG_FILTER.reset)

    def test_unconfigured_passes_everything(self):
        """Until the composition root configures it, every event is emitted."""
        self.log.debug("x")
        self.assertEqual(len(self.events), 1)

    def test_configured(self):
        """Configured WARN: an info event is not emitted, a warning is."""
        LOG_FILTER.configure((LoggerConfig("kea-dhcp4", "WARN"),))
        self.log.info("hidden", msg_id="DHCP4_LEASE_ALLOC")
        self.log.warn("shown", msg_id="DHCP4_PACKET_DROP_0001")
        self.assertEqual([e["log_format"] for e in self.events], ["shown"])

    def test_class_attribute(self):
        """As a class attribute it keeps its observer and its filtering."""
        events = self.events

        class Thing:
            log = Logger(observer=events.append)

        LOG_FILTER.configure(())
        Thing().log.debug("hidden")
        Thing().log.info("shown")
        self.assertEqual([e["log_format"] for e in self.events], ["shown"])


class LoggersSectionTests(SynchronousTestCase):
    """C{Dhcp4.loggers} is read and checked as Kea 2.2 does."""

    def test_parsed(self):
        """Entries, severity in any case, debuglevel and output options are kept."""
        config = parse_config(config_with([
            {"name": "kea-dhcp4", "severity": "warn",
             "output_options": [{"output": "stdout", "flush": False, "maxver": 3}]},
            {"name": "kea-dhcp4.ha-hooks", "severity": "DEBUG", "debuglevel": 99},
        ]))
        root, ha = config.loggers
        self.assertEqual((root.name, root.severity, root.debuglevel), ("kea-dhcp4", "WARN", 0))
        self.assertEqual(root.output_options[0].output, "stdout")
        self.assertFalse(root.output_options[0].flush)
        self.assertEqual(root.output_options[0].maxver, 3)
        self.assertEqual((ha.severity, ha.debuglevel), ("DEBUG", 99))

    def test_errors(self):
        """Each mistake Kea refuses stops start-up with the key path and the reason."""
        for entry, path, words in (
            ({"severity": "INFO"}, "Dhcp4.loggers[0].name", "mandatory 'name'"),
            ({"name": "kea-dhcp4"}, "Dhcp4.loggers[0].severity", "mandatory 'severity'"),
            ({"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 100},
             "Dhcp4.loggers[0].debuglevel", "expected 0-99"),
            ({"name": "kea-dhcp4", "severity": "INFO", "output_options": []},
             "Dhcp4.loggers[0].output_options", "at least one"),
            ({"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"flush": True}]},
             "Dhcp4.loggers[0].output_options[0].output", "mandatory 'output'"),
            ({"name": "kea-dhcp4", "severity": "INFO", "bogus": 1},
             "Dhcp4.loggers[0].bogus", "unexpected keyword"),
            ({"name": "kea-dhcp4", "severity": 3}, "Dhcp4.loggers[0].severity", ""),
        ):
            e = self.assertRaises(ConfigError, parse_config, config_with([entry]))
            self.assertEqual(e.path, path)
            self.assertIn(words, e.message)


class ServerLogFilterTests(SynchronousTestCase):
    """The composed server sets the filter it is given, and again on reload."""

    def test_configure_and_reload(self):
        """Start-up applies the loggers; a reload applies the new ones."""
        log_filter = LogFilter()
        server = Server(parse_config(config_with([{"name": "kea-dhcp4", "severity": "WARN"}])),
                        MemoryReactorClock(), None, log_filter=log_filter)
        self.assertFalse(log_filter.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))
        server.reconfigure(parse_config(config_with([{"name": "kea-dhcp4",
                                                       "severity": "INFO"}])))
        self.assertTrue(log_filter.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))

    def test_no_filter_given(self):
        """Without a filter (tests, tools), the process-wide one is left alone."""
        Server(parse_config(config_with([{"name": "kea-dhcp4", "severity": "NONE"}])),
               MemoryReactorClock(), None)
        self.assertTrue(LOG_FILTER.allows(LogLevel.debug, "kea_ha_tw.dhcp.server", None))


class CompositionRootTests(SynchronousTestCase):
    """C{twistd kea-ha} applies the file's C{loggers} to the process-wide filter."""

    def test_make_service_configures_the_filter(self):
        """After makeService, a WARN root logger keeps our INFO events from being built."""
        from kea_ha_tw.tap import Options, makeService

        path = self.mktemp()
        with open(path, "w") as f:
            f.write(config_with([{"name": "kea-dhcp4", "severity": "WARN"}]))
        options = Options()
        options.parseOptions(["--config", path])
        self.addCleanup(LOG_FILTER.reset)
        makeService(options)
        self.assertFalse(LOG_FILTER.allows(LogLevel.info, "kea_ha_tw.dhcp.server", None))
        self.assertTrue(LOG_FILTER.allows(LogLevel.warn, "kea_ha_tw.dhcp.server", None))
