# -*- test-case-name: tests.test_network_state -*-
"""
Kea's NetworkState: whether this server answers DHCP, with one disable flag
per origin.

Kea 2.2 keeps a user flag and an HA flag; C{dhcp-disable} with
C{origin: "ha-partner"} sets the same HA flag the local state machine
uses, so C{"ha-partner"} and C{"ha-local"} share one flag here too.
A C{max-period} arms a one-shot timer on the injected clock that clears
that origin's flag again.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

from kea_ha_tw.interfaces import INetworkState
from kea_ha_tw.loggers import Logger

ORIGIN_USER = "user"
ORIGIN_HA_LOCAL = "ha-local"
ORIGIN_HA_PARTNER = "ha-partner"

_FLAG_OF_ORIGIN = {ORIGIN_USER: "user", ORIGIN_HA_LOCAL: "ha", ORIGIN_HA_PARTNER: "ha"}


@implementer(INetworkState)
class NetworkState:
    """The DHCP service switch, with per-origin disables and timed re-enable."""

    _log = Logger()

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._disabled: set[str] = set()
        self._timers: dict[str, IDelayedCall] = {}

    def is_enabled(self) -> bool:
        """True when no origin disables the service."""
        return not self._disabled

    def disabled_by(self) -> frozenset[str]:
        """The flags ('user', 'ha') currently set."""
        return frozenset(self._disabled)

    def disable(self, origin: str, max_period: int | None = None) -> None:
        """Disable for C{origin}; re-enable after C{max_period} s if given."""
        flag = _FLAG_OF_ORIGIN[origin]
        self._cancel_timer(flag)
        self._disabled.add(flag)
        if max_period is not None:
            self._timers[flag] = self._clock.callLater(max_period, self._expire, flag)
        self._log.debug(
            "DHCP service disabled by {origin} for {max_period}",
            msg_id="DHCP4_SERVICE_DISABLED", origin=origin, max_period=max_period,
        )

    def enable(self, origin: str) -> None:
        """Clear C{origin}'s disable."""
        flag = _FLAG_OF_ORIGIN[origin]
        self._cancel_timer(flag)
        self._disabled.discard(flag)

    def stop(self) -> None:
        """Cancel pending re-enable timers (at shutdown)."""
        for flag in list(self._timers):
            self._cancel_timer(flag)

    def _expire(self, flag: str) -> None:
        self._timers.pop(flag, None)
        self._disabled.discard(flag)
        self._log.info(
            "DHCP service re-enabled: max-period of {flag} disable elapsed",
            msg_id="DHCP4_SERVICE_REENABLED", flag=flag,
        )

    def _cancel_timer(self, flag: str) -> None:
        timer = self._timers.pop(flag, None)
        if timer is not None and timer.active():
            timer.cancel()
