# -*- test-case-name: tests.test_read_pacing -*-
"""
L{IdleReadPacer}: while this server answers no query (a hot-standby
standby, a passive-backup backup, a server whose DHCP service is disabled),
its DHCP socket is read in one turn every L{IDLE_READ_INTERVAL_S} seconds
instead of once per arriving datagram.

Such a server still receives every query its partner answers; it only
counts and drops them. Woken for each one, at 3400 DORA/s, our standby ran
15 000-18 000 scheduler slices in 6 s and used 0.135 ms of CPU per lease
its primary acknowledged; read in 10 ms turns, 2400-5600 slices and 0.09
ms (docs/performance.md). The cores it no longer takes go to the primary.

The cost: a query that such a server does answer (one that is not subject
to HA scoping) and the counters of the dropped ones wait up to the interval.
When the hooks say queries are answered again, the next turn (at most one
interval later) reads at the normal pace.

L{ShortReadTurns}: the other way round, while replies wait for lease
updates that wait in turn for a free connection to a peer (a Kea partner
takes one request per lease, on as many connections as it has threads),
each turn reads one datagram. The reactor then reads the peers' answers
between queries, and each answer frees its connection for the next
update at once, instead of after a turn of up to 16 KiB of queries
(about 50, several milliseconds). Queries meanwhile wait in the kernel's
receive buffer rather than parked, where the C{parked-packet-limit} drops
them. Ours with a Kea standby at 1800/s, three alternating pairs: lost
0, 10.3 and 0.9 % against 15.2, 24.8 and 10.0 % (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

#: How long the socket of a server that answers nothing is left unread.
IDLE_READ_INTERVAL_S = 0.01

#: The bytes one paced turn may read: a turn drains what one interval
#: brought (about 400 queries of 300 bytes), but never holds the reactor
#: for long.
IDLE_TURN_BYTES = 128 * 1024

#: C{maxThroughput} while updates are queued: a turn ends after one datagram.
SHORT_TURN_BYTES = 1


class IdleReadPacer:
    """
    Pauses reading a datagram transport for C{interval} seconds at a time.

    L{pause} is called from inside a read turn: the turn goes on (up to
    C{turn_bytes}) and drains what is queued, then the reactor does not
    watch the socket until the interval has passed.

    @param clock: C{IReactorTime} for the resume call.
    @param interval: seconds between paced turns; 0 turns pacing off.
    @param turn_bytes: the transport's C{maxThroughput} during a paced turn.
    """

    def __init__(self, clock, interval: float = IDLE_READ_INTERVAL_S,
                 turn_bytes: int = IDLE_TURN_BYTES) -> None:
        self._clock = clock
        self.interval = interval
        self._turn_bytes = turn_bytes
        self._transport: Any = None
        self._resume_call: Any = None
        self._busy_turn: int | None = None

    @property
    def paused(self) -> bool:
        """True between L{pause} and the resume call."""
        return self._resume_call is not None

    def attach(self, transport: Any) -> None:
        """Pace C{transport} (a C{udp.Port}: C{stopReading}, C{startReading})."""
        self._transport = transport

    def pause(self) -> None:
        """Leave the socket unread until C{interval} from now (no-op when paused)."""
        transport = self._transport
        if self._resume_call is not None or transport is None or self.interval <= 0:
            return
        self._busy_turn = getattr(transport, "maxThroughput", None)
        if self._busy_turn is not None:
            transport.maxThroughput = self._turn_bytes
        transport.stopReading()
        self._resume_call = self._clock.callLater(self.interval, self._resume)

    def _resume(self) -> None:
        # stop() cancels this call, so the transport is still attached here.
        self._resume_call = None
        transport = self._transport
        if self._busy_turn is not None:
            transport.maxThroughput = self._busy_turn
        transport.startReading()

    def stop(self) -> None:
        """Forget the transport (it stopped listening); cancel a pending resume."""
        if self._resume_call is not None:
            self._resume_call.cancel()
            self._resume_call = None
        self._transport = None


class ShortReadTurns:
    """
    Shortens a datagram transport's read turns to one datagram while
    L{update} is told updates are queued, and restores its turn after.

    Call L{update} from inside a read turn (C{udp.Port.doRead} reads
    C{maxThroughput} again after every datagram), and L{update} C{False}
    before an L{IdleReadPacer} pauses the transport, so that the pacer
    saves and restores the normal turn, never the short one.
    """

    def __init__(self, turn_bytes: int = SHORT_TURN_BYTES) -> None:
        self._turn_bytes = turn_bytes
        self._transport: Any = None
        self._normal: int | None = None
        self.short = False

    def attach(self, transport: Any) -> None:
        """Shorten C{transport}'s turns (a C{udp.Port}: C{maxThroughput})."""
        self._transport = transport

    def update(self, queued: bool) -> None:
        """One datagram per turn while C{queued}; the transport's own turn otherwise."""
        if queued == self.short:
            return
        transport = self._transport
        if transport is None or not hasattr(transport, "maxThroughput"):
            return
        if queued:
            self._normal = transport.maxThroughput
            transport.maxThroughput = self._turn_bytes
        else:
            transport.maxThroughput = self._normal
        self.short = queued
