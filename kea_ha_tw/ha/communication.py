# -*- test-case-name: tests.test_communication -*-
"""
What this server knows about its failover partner, and the heartbeat that
keeps it current: Kea 2.2's C{CommunicationState4} plus the heartbeat
exchange of C{HAService} (reference sections 3.1, 5.3 and 5.4).

 - The heartbeat is a one-shot timer on the injected clock, re-armed
   C{heartbeat-delay} ms after each response (success or failure) is
   processed; C{heartbeat-delay} 0 means no heartbeats at all.
 - Only a successful heartbeat refreshes "last contact" (set to now at
   start); communication is interrupted when that is older than
   C{max-response-delay}.
 - While interrupted, queries for the partner's scope feed the
   unacked-clients analysis (DHCP C{secs}, with Kea's byte-swap quirk).
 - The partner's C{date-time} gives the clock skew.

The answer we give to a partner's C{ha-heartbeat} is built here too
(L{heartbeat_answer}).
"""

from __future__ import annotations

import calendar
import re
from email.utils import formatdate
from collections.abc import Callable, Iterable

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.dhcp.packet import DHCPPacket, Opt
from kea_ha_tw.ha.states import (
    CLOCK_SKEW_WARN_S, HAState, failure_detected, parse_reported_state, skew_terminates,
    skew_warns,
)
from kea_ha_tw.interfaces import IPeerClient
from kea_ha_tw.loggers import Logger

#: Kea's client timeout for every HA command but lease4-get-page.
DEFAULT_REQUEST_TIMEOUT_S = 10.0

#: Minimum seconds between two HA_HIGH_CLOCK_SKEW warnings.
MIN_TIME_SINCE_CLOCK_SKEW_WARN_S = 60

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RFC1123 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (" + "|".join(_MONTHS) + r") (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT")


def format_http_date(now_s: float) -> str:
    """C{now_s} (POSIX seconds) as RFC 1123 in GMT, whole seconds."""
    return formatdate(int(now_s), usegmt=True)


def parse_http_date(text: str) -> int:
    """
    POSIX seconds of an RFC 1123 GMT date-time (Kea's fromRfc1123).

    @raise ValueError: when C{text} is not one.
    """
    m = _RFC1123.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"unable to parse RFC 1123 time value of '{text}'")
    day, month, year, hh, mm, ss = m.groups()
    fields = (int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss))
    if not (1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 61):
        raise ValueError(f"unable to parse RFC 1123 time value of '{text}'")
    return calendar.timegm(fields + (0, 0, 0))


def heartbeat_arguments(now_s: float, state: HAState, scopes: Iterable[str],
                        unsent_update_count: int) -> dict:
    """The C{arguments} of our C{ha-heartbeat} answer."""
    return {
        "date-time": format_http_date(now_s),
        "scopes": sorted(scopes),
        "state": state.value,
        "unsent-update-count": unsent_update_count,
    }


def heartbeat_answer(now_s: float, state: HAState, scopes: Iterable[str],
                     unsent_update_count: int) -> dict:
    """Our whole answer to C{ha-heartbeat}, as Kea 2.2 gives it."""
    return {"result": 0, "text": "HA peer status returned.",
            "arguments": heartbeat_arguments(now_s, state, scopes, unsent_update_count)}


def effective_secs(secs: int) -> int:
    """The C{secs} field, with Kea's fix for byte-swapped Windows values."""
    if secs > 255 and (secs & 0xFF) == 0:
        return ((secs >> 8) | (secs << 8)) & 0xFFFF
    return secs


class HeartbeatError(ValueError):
    """A heartbeat answer that Kea would refuse."""


class PartnerCommunication:
    """
    The communication state with the failover partner.

    @ivar partner_state: the partner's last known state (C{None} before
        any exchange, L{HAState.UNAVAILABLE} after a failure).
    @ivar partner_scopes: the scopes the partner reported last.
    @ivar clock_skew_s: partner time minus ours at the last heartbeat.
    @ivar sync_complete_notified: set by the C{ha-sync-complete-notify}
        receiver in partner-down; consumed by the next heartbeat.
    """

    _log = Logger()

    def __init__(self, ha: HAConfig, clock: IReactorTime, client: IPeerClient | None,
                 on_heartbeat_complete: Callable[[bool, bool], None]) -> None:
        """
        @param client: the partner's client, or C{None} when this server
            has no heartbeat partner (backups, passive-backup).
        @param on_heartbeat_complete: called as C{(success,
            synced_partner_unavailable)} after each heartbeat answer was
            processed and the next heartbeat armed.
        """
        self._ha = ha
        self._clock = clock
        self._client = client
        self._on_complete = on_heartbeat_complete
        self._delay_s = ha.heartbeat_delay_ms / 1000.0
        self.partner_state: HAState | None = None
        self.partner_scopes: frozenset[str] = frozenset()
        self.clock_skew_s = 0
        self.sync_complete_notified = False
        self._poke_time = clock.seconds()
        self._partner_unsent = (0, 0)
        self._connecting: dict[tuple[bytes, bytes], bool] = {}
        self._unacked = 0
        self.analyzed_packets = 0
        self._last_skew_warn: float | None = None
        self._enabled = False
        self._stopped = False
        self._timer: IDelayedCall | None = None
        self._in_flight = None

    # -- life cycle ------------------------------------------------------

    def start(self) -> None:
        """Begin: last contact is now (Kea's poke time at construction)."""
        self._stopped = False
        self._poke_time = self._clock.seconds()

    def stop(self) -> None:
        """Stop heartbeats for good; an answer in flight is ignored."""
        self._stopped = True
        self.set_heartbeat_enabled(False)
        if self._in_flight is not None:
            self._in_flight.cancel()

    @property
    def heartbeat_running(self) -> bool:
        """True while heartbeats are scheduled (Kea's isHeartbeatRunning)."""
        return self._enabled

    @property
    def heartbeat_in_flight(self) -> bool:
        """True while a heartbeat request waits for its answer."""
        return self._in_flight is not None

    def set_heartbeat_enabled(self, enabled: bool) -> None:
        """
        Start (if not running) or stop the heartbeat. Starting arms the
        one-shot timer C{heartbeat-delay} from now unless a request is in
        flight (its answer re-arms it).
        """
        if enabled and not self._enabled and not self._stopped and self._client is not None:
            self._enabled = True
            if self._in_flight is None:
                self._arm()
        elif not enabled and self._enabled:
            self._enabled = False
            self._cancel_timer()

    def _arm(self) -> None:
        self._cancel_timer()
        if self._delay_s > 0 and self._enabled and not self._stopped:
            self._timer = self._clock.callLater(self._delay_s, self._send_heartbeat)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- the heartbeat exchange -----------------------------------------

    def _send_heartbeat(self) -> None:
        self._timer = None
        notified, self.sync_complete_notified = self.sync_complete_notified, False
        d = maybeDeferred(self._client.send_command, "ha-heartbeat", None,
                          DEFAULT_REQUEST_TIMEOUT_S)
        self._in_flight = d
        d.addCallbacks(self._heartbeat_answered, self._heartbeat_failed)
        d.addCallback(self._heartbeat_done, notified)
        d.addErrback(self._unexpected)

    def _heartbeat_answered(self, arguments) -> bool:
        try:
            self._apply_heartbeat(arguments)
        except HeartbeatError as e:
            self._log.warn(
                "heartbeat to {peer} failed: {reason}",
                msg_id="HA_HEARTBEAT_FAILED", peer=self._client.name, reason=str(e))
            return False
        return True

    def _heartbeat_failed(self, failure: Failure) -> bool:
        if self._stopped:
            return False
        self._log.warn(
            "failed to send heartbeat to {peer}: {reason}",
            msg_id="HA_HEARTBEAT_COMMUNICATIONS_FAILED", peer=self._client.name,
            reason=failure.getErrorMessage())
        return False

    def _heartbeat_done(self, success: bool, notified: bool) -> None:
        self._in_flight = None
        if self._stopped:
            return
        if success:
            self.poke()
        else:
            self.mark_partner_unavailable()
            if self.is_communication_interrupted():
                self._log.warn(
                    "communication with {peer} is interrupted",
                    msg_id="HA_COMMUNICATION_INTERRUPTED", peer=self._client.name)
        if self._enabled:
            self._arm()
        self._on_complete(success, notified and not success)

    def _unexpected(self, failure: Failure) -> None:
        self._log.failure("unexpected error while processing a heartbeat", failure,
                          msg_id="HA_HEARTBEAT_HANDLER_FAILED")

    def _apply_heartbeat(self, arguments) -> None:
        """Kea's heartbeat answer checks, applied in Kea's order."""
        if not isinstance(arguments, dict):
            raise HeartbeatError("returned arguments in the response must be a map")
        state = arguments.get("state")
        if not isinstance(state, str):
            raise HeartbeatError(
                "server state not returned in response to a ha-heartbeat command"
                " or it is not a string")
        try:
            self.partner_state = parse_reported_state(state)
        except ValueError as e:
            raise HeartbeatError(str(e)) from None
        date_time = arguments.get("date-time")
        if not isinstance(date_time, str):
            raise HeartbeatError(
                "date-time not returned in response to a ha-heartbeat command"
                " or it is not a string")
        try:
            partner_time = parse_http_date(date_time)
        except ValueError as e:
            raise HeartbeatError(str(e)) from None
        self.clock_skew_s = partner_time - int(self._clock.seconds())
        scopes = arguments.get("scopes")
        if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
            self.partner_scopes = frozenset(s for s in scopes if s)
        if "unsent-update-count" in arguments:
            count = arguments["unsent-update-count"]
            if not isinstance(count, int) or isinstance(count, bool):
                raise HeartbeatError(
                    "unsent-update-count returned in the ha-heartbeat response"
                    " is not an integer")
            self._partner_unsent = (self._partner_unsent[1], count % (1 << 64))

    # -- contact and failure detection ------------------------------------

    def poke(self) -> None:
        """A successful heartbeat: refresh last contact, forget unacked clients."""
        self._poke_time = self._clock.seconds()
        self._connecting.clear()
        self._unacked = 0
        self.analyzed_packets = 0

    def mark_partner_unavailable(self) -> None:
        """Any failed exchange with the partner makes it C{unavailable}."""
        self.partner_state = HAState.UNAVAILABLE

    def duration_ms(self) -> int:
        """Milliseconds since the last successful heartbeat (or start)."""
        # Whole microseconds first (Kea's clock resolution), then truncate.
        return round((self._clock.seconds() - self._poke_time) * 1_000_000) // 1000

    def is_communication_interrupted(self) -> bool:
        """True when last contact is older than C{max-response-delay}."""
        return self.duration_ms() > self._ha.max_response_delay_ms

    def analyze_query(self, query: DHCPPacket) -> None:
        """Record a query meant for the partner while communication is down."""
        self.analyzed_packets += 1
        unacked = effective_secs(query.secs) * 1000 > self._ha.max_ack_delay_ms
        key = (query.hwaddr, query.options.get(Opt.CLIENT_ID, b""))
        known = self._connecting.get(key)
        if known is None:
            self._connecting[key] = unacked
            if not unacked:
                self._log.info(
                    "partner may be down: client {hwaddr} is trying to get an answer",
                    msg_id="HA_COMMUNICATION_INTERRUPTED_CLIENT4",
                    hwaddr=query.hwaddr.hex(":"), xid=query.xid)
        elif known or not unacked:
            return
        else:
            self._connecting[key] = True
        if unacked:
            self._unacked += 1
            maximum = self._ha.max_unacked_clients
            left = maximum - self._unacked + 1 if maximum >= self._unacked else 0
            self._log.info(
                "partner may be down: client {hwaddr} is unacked;"
                " {unacked} unacked clients, {left} left before partner-down",
                msg_id="HA_COMMUNICATION_INTERRUPTED_CLIENT4_UNACKED",
                hwaddr=query.hwaddr.hex(":"), xid=query.xid, unacked=self._unacked, left=left)

    @property
    def unacked_clients(self) -> int:
        """Distinct clients found unacked since communication broke."""
        return self._unacked

    @property
    def connecting_clients(self) -> int:
        """Distinct clients seen since communication broke."""
        return len(self._connecting)

    def failure_detected(self) -> bool:
        """Kea's failureDetected (max-unacked-clients rule)."""
        return failure_detected(self._unacked, self._ha.max_unacked_clients)

    def partner_has_new_unsent_updates(self) -> bool:
        """The partner's unsent-update-count is non-zero and changed."""
        previous, latest = self._partner_unsent
        return latest > 0 and previous != latest

    # -- clock skew --------------------------------------------------------

    def assess_clock_skew(self) -> bool:
        """
        Kea's shouldTerminate: True (logged as an error) when the skew
        exceeds 60 s; otherwise warn above 30 s, at most once per 60 s.
        """
        if skew_terminates(self.clock_skew_s):
            self._log.error(
                "clock skew of {skew} s is too high; terminating the HA service",
                msg_id="HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION", skew=self.clock_skew_s)
            return True
        if skew_warns(self.clock_skew_s):
            now = self._clock.seconds()
            if (self._last_skew_warn is None
                    or int(now - self._last_skew_warn) > MIN_TIME_SINCE_CLOCK_SKEW_WARN_S):
                self._last_skew_warn = now
                self._log.warn(
                    "clock skew of {skew} s with the partner exceeds {limit} s",
                    msg_id="HA_HIGH_CLOCK_SKEW", skew=self.clock_skew_s,
                    limit=CLOCK_SKEW_WARN_S)
        return False

    # -- status-get --------------------------------------------------------

    def report(self) -> dict:
        """The C{remote} map of status-get, without C{role}."""
        in_touch = self.partner_state is not None
        interrupted = self.is_communication_interrupted()
        maximum = self._ha.max_unacked_clients
        left = 0
        if interrupted and maximum >= self._unacked:
            left = maximum - self._unacked + 1
        return {
            "age": self.duration_ms() // 1000 if in_touch else 0,
            "analyzed-packets": self.analyzed_packets,
            "communication-interrupted": interrupted,
            "connecting-clients": len(self._connecting),
            "in-touch": in_touch,
            "last-scopes": sorted(self.partner_scopes),
            "last-state": self.partner_state.value if in_touch else "",
            "unacked-clients": self._unacked,
            "unacked-clients-left": left,
        }


__all__ = [
    "PartnerCommunication", "heartbeat_answer", "heartbeat_arguments", "format_http_date",
    "parse_http_date", "effective_secs", "HeartbeatError",
]
