# -*- test-case-name: tests.test_log_outputs -*-
"""
Kea's C{output_options}: where a logger's lines go and how they look.

 - C{output}: C{stdout}, C{stderr}, C{syslog} or C{syslog:NAME} (NAME is
   the syslog identity, C{kea-dhcp4} by default), or a file path;
 - files rotate as Kea's do: past C{maxsize} bytes (rotation is off below
   204800) the file becomes C{NAME.1}, C{NAME.1} becomes C{NAME.2} ... and
   at most C{maxver} old files are kept (Twisted's C{LogFile} renames them
   exactly that way);
 - C{pattern}: Kea's (log4cplus) layout; the default is Kea's
   C{%D{%Y-%m-%d %H:%M:%S.%q} %-5p [%c/%i.%t] %m\\n}, and
   C{%-5p [%c.%t] %m\\n} for syslog. L{compile_pattern} understands C{%d}
   and C{%D} (UTC and local time, strftime fields plus C{%q}
   milliseconds and C{%Q} milliseconds with microseconds), C{%p}
   (severity), C{%c} (the Kea logger, C{%c{N}} its last N parts), C{%i}
   (pid), C{%t} (thread id), C{%m} (message id and text), C{%n} and
   C{%%}, each with log4cplus's C{-}, width and C{.}precision modifiers;
 - C{flush}: our file and console outputs write every line at once, so
   C{false} changes nothing.

Every output here is an C{ILogObserver} over events of ours; one that
fails (a full disk) is reported once on standard error and never raises
into the code that logged.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import ILogObserver, LogLevel, formatEvent
from twisted.python.logfile import LogFile
from zope.interface import implementer

#: Kea's default layout for console and file outputs.
DEFAULT_PATTERN = "%D{%Y-%m-%d %H:%M:%S.%q} %-5p [%c/%i.%t] %m\n"
#: Kea's default layout for syslog.
SYSLOG_PATTERN = "%-5p [%c.%t] %m\n"
#: Below this C{maxsize}, Kea does not rotate.
MIN_ROTATE_SIZE = 204800

_SEVERITY = {LogLevel.debug: "DEBUG", LogLevel.info: "INFO", LogLevel.warn: "WARN",
             LogLevel.error: "ERROR", LogLevel.critical: "FATAL"}
_CONVERSION = re.compile(r"%(-?)(\d*)(?:\.(\d+))?([a-zA-Z%])(?:\{([^}]*)\})?")

Formatter = Callable[[dict[str, Any], str], str]


def severity_name(event: dict[str, Any]) -> str:
    """Kea's severity word for the event's level."""
    return _SEVERITY.get(event.get("log_level"), "INFO")


def message_text(event: dict[str, Any]) -> str:
    """Kea's C{%m}: the message id, a space and the text (and any traceback)."""
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text}\n{failure.getTraceback()}".rstrip("\n")
    msg_id = event.get("msg_id")
    return f"{msg_id} {text}" if msg_id else text


def _time_field(fmt: str, utc: bool) -> Callable[[dict[str, Any]], str]:
    fmt = fmt or "%Y-%m-%d %H:%M:%S.%q"

    def render(event: dict[str, Any]) -> str:
        when = event.get("log_time") or 0.0
        stamp = (datetime.fromtimestamp(when, UTC) if utc
                 else datetime.fromtimestamp(when))
        micro = stamp.microsecond
        text = fmt.replace("%q", f"{micro // 1000:03d}").replace(
            "%Q", f"{micro // 1000:03d}.{micro % 1000:03d}")
        return stamp.strftime(text)

    return render


def _logger_field(arg: str | None) -> Callable[[dict[str, Any], str], str]:
    keep = int(arg) if arg and arg.isdigit() else 0

    def render(event: dict[str, Any], logger: str) -> str:
        return ".".join(logger.split(".")[-keep:]) if keep else logger

    return render


def compile_pattern(pattern: str) -> Formatter:
    """
    A function C{(event, kea_logger_name) -> line} for a log4cplus
    C{pattern}; text that is not a known conversion is copied as it is.
    """
    pieces: list[Callable[[dict[str, Any], str], str]] = []
    pos = 0
    for m in _CONVERSION.finditer(pattern):
        if m.start() > pos:
            literal = pattern[pos:m.start()]
            pieces.append(lambda e, n, literal=literal: literal)
        left, width, precision, kind, arg = m.groups()
        field: Callable[[dict[str, Any], str], str] | None
        if kind in "dD":
            timer = _time_field(arg or "", utc=kind == "d")
            field = lambda e, n, timer=timer: timer(e)  # noqa: E731
        elif kind == "p":
            field = lambda e, n: severity_name(e)  # noqa: E731
        elif kind == "c":
            field = _logger_field(arg)
        elif kind == "i":
            field = lambda e, n: str(os.getpid())  # noqa: E731
        elif kind == "t":
            field = lambda e, n: str(threading.get_ident())  # noqa: E731
        elif kind == "m":
            field = lambda e, n: message_text(e)  # noqa: E731
        elif kind == "n":
            field = lambda e, n: "\n"  # noqa: E731
        elif kind == "%":
            field = lambda e, n: "%"  # noqa: E731
        else:
            field = None
        if field is None:
            text = m.group(0)
            pieces.append(lambda e, n, text=text: text)
        elif width or precision:
            pieces.append(_sized(field, left == "-", int(width or 0),
                                 int(precision) if precision else None))
        else:
            pieces.append(field)
        pos = m.end()
    if pos < len(pattern):
        rest = pattern[pos:]
        pieces.append(lambda e, n, rest=rest: rest)

    def render(event: dict[str, Any], logger: str) -> str:
        return "".join(piece(event, logger) for piece in pieces)

    return render


def _sized(field, left: bool, width: int, precision: int | None):
    def render(event: dict[str, Any], logger: str) -> str:
        text = field(event, logger)
        if precision is not None and len(text) > precision:
            text = text[-precision:]  # log4cplus keeps the end
        return text.ljust(width) if left else text.rjust(width)

    return render


@implementer(ILogObserver)
class StreamOutput:
    """Lines to a text stream (stdout, stderr) or a rotating L{LogFile}."""

    def __init__(self, stream: IO[str] | LogFile, formatter: Formatter,
                 logger_name: Callable[[dict[str, Any]], str], *, close: bool = False) -> None:
        self._stream = stream
        self._format = formatter
        self._logger_name = logger_name
        self._close = close
        self._failed = False

    def __call__(self, event: dict[str, Any]) -> None:
        """Write the event's line; a failing stream is reported once, never raised."""
        try:
            self._stream.write(self._format(event, self._logger_name(event)))
            self._stream.flush()
        except (OSError, ValueError) as e:  # never break the code that logged
            if not self._failed:
                self._failed = True
                sys.__stderr__.write(f"kea-ha-tw: log output failed: {e}\n")

    def close(self) -> None:
        """Close the file (not the console streams)."""
        if self._close:
            self._stream.close()


@implementer(ILogObserver)
class SyslogOutput:
    """Lines to syslog with Kea's severity mapped to syslog priorities."""

    def __init__(self, ident: str, formatter: Formatter,
                 logger_name: Callable[[dict[str, Any]], str],
                 syslog_module: Any = None) -> None:
        if syslog_module is None:
            import syslog as syslog_module
        self._syslog = syslog_module
        self._format = formatter
        self._logger_name = logger_name
        s = syslog_module
        self._priority = {"FATAL": s.LOG_CRIT, "ERROR": s.LOG_ERR, "WARN": s.LOG_WARNING,
                          "INFO": s.LOG_INFO, "DEBUG": s.LOG_DEBUG}
        s.openlog(ident, s.LOG_PID, s.LOG_USER)

    def __call__(self, event: dict[str, Any]) -> None:
        """Send the event's line at its severity's priority."""
        try:
            line = self._format(event, self._logger_name(event)).rstrip("\n")
            self._syslog.syslog(self._priority[severity_name(event)], line)
        except (OSError, ValueError):
            pass  # syslog is best effort, as for Kea

    def close(self) -> None:
        """Nothing to close per output (syslog is the process's)."""


def open_output(option: Any, logger_name: Callable[[dict[str, Any]], str], *,
                files: dict[str, Any] | None = None,
                syslog_module: Any = None) -> StreamOutput | SyslogOutput:
    """
    The observer for one C{output_options} entry (an
    L{kea_ha_tw.loggers.OutputOption}). C{files} maps absolute paths to
    the L{LogFile}s already opened by this configuration: outputs naming
    one file share its handle (and the first one's rotation settings).

    @raise OSError: a file output that cannot be opened.
    """
    output = option.output
    if output == "syslog" or output.startswith("syslog:"):
        ident = output.partition(":")[2] or "kea-dhcp4"
        return SyslogOutput(ident, compile_pattern(option.pattern or SYSLOG_PATTERN),
                            logger_name, syslog_module)
    formatter = compile_pattern(option.pattern or DEFAULT_PATTERN)
    if output == "stdout":
        return StreamOutput(sys.__stdout__, formatter, logger_name)
    if output == "stderr":
        return StreamOutput(sys.__stderr__, formatter, logger_name)
    path = os.path.abspath(output)
    files = {} if files is None else files
    logfile = files.get(path)
    owner = logfile is None
    if logfile is None:
        rotate = option.maxsize if option.maxsize >= MIN_ROTATE_SIZE else None
        logfile = files[path] = LogFile(os.path.basename(path), os.path.dirname(path),
                                        rotateLength=rotate,
                                        maxRotatedFiles=max(option.maxver, 1))
    return StreamOutput(logfile, formatter, logger_name, close=owner)


__all__ = ["DEFAULT_PATTERN", "MIN_ROTATE_SIZE", "SYSLOG_PATTERN", "StreamOutput",
           "SyslogOutput", "compile_pattern", "message_text", "open_output", "severity_name"]
