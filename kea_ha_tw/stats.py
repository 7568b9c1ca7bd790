# -*- test-case-name: tests.test_stats -*-
"""
Kea's statistics manager: named values, each with its time of last change,
reported the way C{statistic-get} reports them.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from kea_ha_tw.interfaces import IStatistics


def kea_timestamp(seconds: float) -> str:
    """
    Kea's sample timestamp text for Unix time C{seconds}, e.g.
    C{2026-11-25 09:49:07.123456}: local time, as Kea 2.2's
    C{statistic-get} shows it (checked against kea-dhcp4 under TZ=America/New_York).
    """
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")


@implementer(IStatistics)
class Statistics:
    """Named statistics; time comes from the injected clock."""

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._values: dict[str, int | float] = {}
        self._stamps: dict[str, float] = {}

    def add(self, name: str, value: int = 1) -> None:
        """Add C{value} to C{name} (created at zero)."""
        self._values[name] = self._values.get(name, 0) + value
        self._stamps[name] = self._clock.seconds()

    def set(self, name: str, value: int | float) -> None:
        """Set C{name} to C{value}."""
        self._values[name] = value
        self._stamps[name] = self._clock.seconds()

    def get(self, name: str) -> int | float | None:
        """The value of C{name}, or None."""
        return self._values.get(name)

    def get_samples(self, name: str) -> list[list[object]]:
        """C{[[value, timestamp]]}, or C{[]} when unknown."""
        if name not in self._values:
            return []
        return [[self._values[name], kea_timestamp(self._stamps[name])]]

    def names(self) -> list[str]:
        """All names, sorted."""
        return sorted(self._values)

    def reset(self, name: str) -> bool:
        """Zero C{name}; True if it exists."""
        if name not in self._values:
            return False
        self.set(name, 0)
        return True

    def remove(self, name: str) -> bool:
        """Forget C{name}; True if it existed."""
        self._stamps.pop(name, None)
        return self._values.pop(name, None) is not None
