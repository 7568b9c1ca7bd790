# -*- test-case-name: tests.test_loggers -*-
"""
Kea's C{Dhcp4.loggers}: which of our log events are emitted.

Kea names its loggers after the program and the part of it that logs:
C{kea-dhcp4} is the root, C{kea-dhcp4.ha-hooks}, C{kea-dhcp4.packets},
C{kea-dhcp4.dhcpsrv} ... are its children. A C{loggers} entry sets the
C{severity} (C{FATAL}, C{ERROR}, C{WARN}, C{INFO}, C{DEBUG} or C{NONE}) and
the C{debuglevel} (0-99, for C{DEBUG}) of the logger it names; a logger with
no entry of its own takes the nearest configured ancestor's, and with no
entry at all Kea logs C{INFO} and above.

Each of our events is placed under a Kea logger by its C{msg_id} (Kea's
message ids say which logger writes them: C{HA_*} is C{ha-hooks},
C{DHCPSRV_*} is C{dhcpsrv} ...) or else by the module that emits it
(L{kea_logger_name}). Our debug events count as Kea's debug level
L{DEBUG_EVENT_LEVEL}; an event may carry its own C{debuglevel}.

The check is made before the event is built: modules log through
L{Logger}, whose C{emit} asks L{LOG_FILTER} first, so a debug line that is
not wanted costs one dictionary lookup, even on the packet path. The
composition root configures L{LOG_FILTER} from the configuration
(L{SeverityTable}); until then every event passes, as in the unit tests.

Where the lines go (Kea's C{output_options}) is twistd's business:
C{--logfile}, C{--syslog}, standard output with C{-n}, and
C{--logger=kea_ha_tw.logfmt.observer} for Kea's line layout. The
C{output_options} entries are checked as Kea checks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twisted.logger import Logger as _TwistedLogger
from twisted.logger import LogLevel

#: Kea's root logger for the DHCPv4 server.
ROOT = "kea-dhcp4"
#: Kea's debug level our debug events count as (Kea's DBGLVL_TRACE_BASIC).
DEBUG_EVENT_LEVEL = 40
#: Severity names Kea takes (case does not matter), most severe first.
SEVERITIES = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "NONE")

_RANK = {LogLevel.debug: 10, LogLevel.info: 20, LogLevel.warn: 30, LogLevel.error: 40,
         LogLevel.critical: 50}
_THRESHOLD = {"DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "FATAL": 50, "NONE": 99}

# Message-id prefixes and the Kea logger that writes them (first match).
_BY_MSG_ID = (
    ("HA_", "ha-hooks"),
    ("LEASE_CMDS_", "lease-cmds-hooks"),
    ("DHCPSRV_", "dhcpsrv"),
    ("ALLOC_ENGINE_", "alloc-engine"),
    ("COMMAND_", "commands"),
    ("HOOKS_", "hooks"),
    ("DHCP4_PACKET_DROP", "bad-packets"),
    ("DHCP4_PACKET_NAK", "bad-packets"),
    ("DHCP4_LEASE_", "leases"),
    ("DHCP4_INIT_REBOOT", "leases"),
    ("DHCP4_DECLINE", "leases"),
    ("DHCP4_RELEASE", "leases"),
    ("DHCP4_PACKET_", "packets"),
    ("DHCP4_BUFFER_", "packets"),
    ("DHCP4_QUERY_", "packets"),
    ("DHCP4_RESPONSE_", "packets"),
    ("DHCP4_HOOK_", "hooks"),
    ("DHCP4_", "dhcp4"),
)
# Our module namespaces and the Kea logger of the part of Kea they mirror.
_BY_NAMESPACE = (
    ("kea_ha_tw.ha.", "ha-hooks"),
    ("kea_ha_tw.leases.", "dhcpsrv"),
    ("kea_ha_tw.commands.", "commands"),
    ("kea_ha_tw.dhcp.", "dhcp4"),
)


def kea_logger_name(namespace: str | None, msg_id: str | None) -> str:
    """The Kea logger (C{kea-dhcp4.<part>}) an event of ours belongs to."""
    if msg_id:
        for prefix, part in _BY_MSG_ID:
            if msg_id.startswith(prefix):
                return f"{ROOT}.{part}"
    if namespace:
        for prefix, part in _BY_NAMESPACE:
            if namespace.startswith(prefix):
                return f"{ROOT}.{part}"
    return ROOT


def severity_of(text: str) -> str:
    """Kea's reading of a C{severity} value: case-blind; unknown ones are C{INFO}."""
    upper = text.upper()
    return upper if upper in _THRESHOLD else "INFO"


@dataclass(frozen=True)
class OutputOption:
    """One C{output_options} entry (checked, kept for C{config-get})."""

    output: str
    flush: bool = True
    maxsize: int = 10240000
    maxver: int = 1
    pattern: str = ""


@dataclass(frozen=True)
class LoggerConfig:
    """One C{loggers} entry."""

    name: str
    severity: str = "INFO"
    debuglevel: int = 0
    output_options: tuple[OutputOption, ...] = ()


class SeverityTable:
    """
    Which events the configured loggers let through: a pure lookup from
    (level, namespace, msg_id, debug level) to yes or no.
    """

    def __init__(self, loggers: Iterable[LoggerConfig]) -> None:
        self._configured = {c.name: c for c in loggers}
        self._cache: dict[tuple[str | None, str | None], tuple[int, int]] = {}

    def _settings(self, name: str) -> tuple[int, int]:
        while True:
            config = self._configured.get(name)
            if config is not None:
                severity = severity_of(config.severity)
                return _THRESHOLD[severity], config.debuglevel if severity == "DEBUG" else 0
            if "." not in name:
                return _THRESHOLD["INFO"], 0
            name = name.rsplit(".", 1)[0]

    def allows(self, level: LogLevel, namespace: str | None, msg_id: str | None,
               debuglevel: int | None = None) -> bool:
        """True if an event of C{level} from C{namespace} with C{msg_id} is emitted."""
        key = (namespace, msg_id)
        settings = self._cache.get(key)
        if settings is None:
            settings = self._cache[key] = self._settings(kea_logger_name(namespace, msg_id))
        threshold, allowed_debug = settings
        rank = _RANK.get(level, 50)
        if rank < threshold:
            return False
        if rank == _RANK[LogLevel.debug]:
            return (DEBUG_EVENT_LEVEL if debuglevel is None else debuglevel) <= allowed_debug
        return True


class LogFilter:
    """
    The process-wide switch our L{Logger}s consult: off (everything passes)
    until L{configure} is given the configured loggers.
    """

    def __init__(self) -> None:
        self._table: SeverityTable | None = None

    def configure(self, loggers: Iterable[LoggerConfig]) -> None:
        """Apply Kea's C{loggers} entries (none: Kea's default, C{INFO} and above)."""
        self._table = SeverityTable(loggers)

    def reset(self) -> None:
        """Let every event through again (tests)."""
        self._table = None

    def allows(self, level: LogLevel, namespace: str | None, msg_id: object,
               debuglevel: object = None) -> bool:
        """True if the event should be emitted."""
        table = self._table
        if table is None:
            return True
        return table.allows(level, namespace, msg_id if isinstance(msg_id, str) else None,
                            debuglevel if isinstance(debuglevel, int) else None)


#: The filter every L{Logger} of ours consults.
LOG_FILTER = LogFilter()


class Logger(_TwistedLogger):
    """
    C{twisted.logger.Logger} that drops, before building the event, what
    the configured Kea loggers would not write (L{LOG_FILTER}).
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: object) -> None:
        """Emit the event unless L{LOG_FILTER} says the Kea logger is quieter."""
        if LOG_FILTER._table is not None and not LOG_FILTER.allows(
                level, self.namespace, kwargs.get("msg_id"), kwargs.get("debuglevel")):
            return
        super().emit(level, format, **kwargs)


__all__ = ["DEBUG_EVENT_LEVEL", "LOG_FILTER", "LogFilter", "Logger", "LoggerConfig",
           "OutputOption", "ROOT", "SEVERITIES", "SeverityTable", "kea_logger_name",
           "severity_of"]
