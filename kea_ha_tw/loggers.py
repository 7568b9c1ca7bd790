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

Where the lines go is the nearest configured logger's C{output_options}
(L{kea_ha_tw.log_outputs}: stdout, stderr, syslog, rotating files, Kea's
layouts). Events of a logger with no C{output_options} in its line go
where twistd sends its own (C{--logfile}, C{--syslog}, standard output
with C{-n}).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger as _TwistedLogger
from twisted.logger import LogLevel

from kea_ha_tw.errors import ConfigError

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
    Which events the configured loggers let through, and where to: a pure
    lookup from (level, namespace, msg_id, debug level) to "drop", "the
    logger's own observer" or the configured outputs.

    @param outputs: configured logger name -> its C{output_options}
        observers (only loggers that have some).
    """

    def __init__(self, loggers: Iterable[LoggerConfig],
                 outputs: Mapping[str, Any] | None = None) -> None:
        self._configured = {c.name: c for c in loggers}
        self._outputs = dict(outputs or {})
        self._cache: dict[tuple[str | None, str | None], tuple[int, int, Any]] = {}

    def _settings(self, name: str) -> tuple[int, int, Any]:
        severity: tuple[int, int] | None = None
        outputs = None
        while True:
            config = self._configured.get(name)
            if config is not None and severity is None:
                level = severity_of(config.severity)
                severity = _THRESHOLD[level], config.debuglevel if level == "DEBUG" else 0
            if outputs is None:
                outputs = self._outputs.get(name)
            if (severity is not None and outputs is not None) or "." not in name:
                break
            name = name.rsplit(".", 1)[0]
        threshold, debuglevel = severity if severity is not None else (_THRESHOLD["INFO"], 0)
        return threshold, debuglevel, outputs

    def route(self, level: LogLevel, namespace: str | None, msg_id: str | None,
              debuglevel: int | None = None) -> Any:
        """
        C{False} to drop the event, C{None} to emit it to the logger's own
        observer, or the observer of the configured outputs.
        """
        key = (namespace, msg_id)
        settings = self._cache.get(key)
        if settings is None:
            settings = self._cache[key] = self._settings(kea_logger_name(namespace, msg_id))
        threshold, allowed_debug, outputs = settings
        rank = _RANK.get(level, 50)
        if rank < threshold:
            return False
        if rank == _RANK[LogLevel.debug] and (
                DEBUG_EVENT_LEVEL if debuglevel is None else debuglevel) > allowed_debug:
            return False
        return outputs

    def allows(self, level: LogLevel, namespace: str | None, msg_id: str | None,
               debuglevel: int | None = None) -> bool:
        """True if an event of C{level} from C{namespace} with C{msg_id} is emitted."""
        return self.route(level, namespace, msg_id, debuglevel) is not False


class _Fanout:
    """The observers of one logger's C{output_options}."""

    def __init__(self, observers: tuple[Any, ...]) -> None:
        self.observers = observers

    def __call__(self, event: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(event)


def _event_logger_name(event: dict[str, Any]) -> str:
    msg_id = event.get("msg_id")
    return kea_logger_name(event.get("log_namespace"), msg_id if isinstance(msg_id, str) else None)


class LogFilter:
    """
    The process-wide switch our L{Logger}s consult: off (everything passes
    to the logger's own observer) until L{configure} is given the
    configured loggers.

    @param open_output: C{(OutputOption, files) -> observer}, opening one
        C{output_options} entry (L{kea_ha_tw.log_outputs.open_output} by
        default); C{files} is shared so two outputs naming one file write
        through one handle.
    """

    def __init__(self, open_output: Callable[..., Any] | None = None) -> None:
        self._table: SeverityTable | None = None
        self._open_output = open_output
        self._opened: list[Any] = []

    def configure(self, loggers: Iterable[LoggerConfig]) -> None:
        """
        Apply Kea's C{loggers} entries (none: Kea's default, C{INFO} and
        above) and open their outputs, closing those of the previous call.

        @raise ConfigError: an output file cannot be opened; its path is
            C{Dhcp4.loggers[i].output_options[j].output}. Nothing changes.
        """
        loggers = tuple(loggers)
        opened: list[Any] = []
        outputs: dict[str, _Fanout] = {}
        files: dict[str, Any] = {}
        for i, config in enumerate(loggers):
            observers = []
            for j, option in enumerate(config.output_options):
                try:
                    observers.append(self._open(option, files))
                except OSError as e:
                    for observer in opened + observers:
                        observer.close()
                    raise ConfigError(
                        f"Dhcp4.loggers[{i}].output_options[{j}].output",
                        f"cannot open log file {option.output}: {e.strerror or e}") from None
            if observers:
                opened.extend(observers)
                outputs[config.name] = _Fanout(tuple(observers))
        previous, self._opened = self._opened, opened
        self._table = SeverityTable(loggers, outputs)
        for observer in previous:
            observer.close()

    def _open(self, option: OutputOption, files: dict[str, Any]) -> Any:
        if self._open_output is not None:
            return self._open_output(option, files)
        from kea_ha_tw.log_outputs import open_output

        return open_output(option, _event_logger_name, files=files)

    def reset(self) -> None:
        """Let every event through to its own observer again, closing outputs (tests)."""
        self._table = None
        previous, self._opened = self._opened, []
        for observer in previous:
            observer.close()

    def allows(self, level: LogLevel, namespace: str | None, msg_id: object,
               debuglevel: object = None) -> bool:
        """True if the event should be emitted."""
        return self.route(level, namespace, msg_id, debuglevel) is not False

    def route(self, level: LogLevel, namespace: str | None, msg_id: object,
              debuglevel: object = None) -> Any:
        """As L{SeverityTable.route}; C{None} (own observer) while unconfigured."""
        table = self._table
        if table is None:
            return None
        return table.route(level, namespace, msg_id if isinstance(msg_id, str) else None,
                           debuglevel if isinstance(debuglevel, int) else None)


#: The filter every L{Logger} of ours consults.
LOG_FILTER = LogFilter()


class Logger(_TwistedLogger):
    """
    C{twisted.logger.Logger} that drops, before building the event, what
    the configured Kea loggers would not write (L{LOG_FILTER}), and sends
    the rest to the logger's C{output_options} when it has some.
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: object) -> None:
        """Emit the event as the configured Kea logger says: drop it, or to where."""
        if LOG_FILTER._table is None:
            super().emit(level, format, **kwargs)
            return
        where = LOG_FILTER.route(level, self.namespace, kwargs.get("msg_id"),
                                 kwargs.get("debuglevel"))
        if where is False:
            return
        if where is None:
            super().emit(level, format, **kwargs)
            return
        _TwistedLogger(self.namespace, self.source, observer=where).emit(level, format, **kwargs)


__all__ = ["DEBUG_EVENT_LEVEL", "LOG_FILTER", "LogFilter", "Logger", "LoggerConfig",
           "OutputOption", "ROOT", "SEVERITIES", "SeverityTable", "kea_logger_name",
           "severity_of"]
