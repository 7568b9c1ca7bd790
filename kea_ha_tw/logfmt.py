# -*- test-case-name: tests.test_logfmt -*-
"""
Log lines in Kea's shape, with Kea's message ids.

C{twistd --logger=kea_ha_tw.logfmt.observer -n kea-ha --config FILE}
writes one line per event to standard output, like C{kea-dhcp4} does::

    2026-11-25 10:00:00.123 INFO  [kea-ha-tw.ha.service] HA_STATE_TRANSITION server1: ...

so the message ids operators grep for in Kea logs (C{HA_STATE_TRANSITION},
C{HA_LEASE_UPDATE_FAILED}, C{DHCP4_LEASE_ALLOC}, ...) appear in ours.
Events without a C{msg_id} are written without one.
"""

from __future__ import annotations

import sys
from datetime import datetime, tzinfo
from typing import IO, Any

from twisted.logger import FileLogObserver, LogLevel, formatEvent

_LEVELS = {
    LogLevel.debug: "DEBUG",
    LogLevel.info: "INFO ",
    LogLevel.warn: "WARN ",
    LogLevel.error: "ERROR",
    LogLevel.critical: "FATAL",
}


def format_kea_line(event: dict[str, Any], tz: tzinfo | None = None) -> str | None:
    """
    One Kea-style line for C{event} (with a trailing newline). Times are
    local, as Kea writes them, unless C{tz} is given.
    """
    when = event.get("log_time")
    stamp = (datetime.fromtimestamp(when, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
             if when is not None else "-")
    level = _LEVELS.get(event.get("log_level"), "INFO ")
    namespace = str(event.get("log_namespace", "-")).replace("kea_ha_tw", "kea-ha-tw", 1)
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text}\n{failure.getTraceback()}"
    msg_id = event.get("msg_id")
    prefix = f"{msg_id} " if msg_id else ""
    return f"{stamp} {level} [{namespace}] {prefix}{text}\n"


def observer(stream: IO[str] | None = None) -> FileLogObserver:
    """The observer factory for C{twistd --logger} (standard output by default)."""
    return FileLogObserver(stream or sys.stdout, format_kea_line)
