# -*- test-case-name: tests.test_listener_relay -*-
"""
The HA listener relay: partners' lease updates acknowledged at once.

With the HA extension key C{listener-process}, the HA listener (this
server's own peer C{url}) is served by a second process
(L{kea_ha_tw.ha.listener_child}) instead of the DHCP server's. A Kea
partner keeps one C{lease4-update} in flight per HA client thread and
waits for each answer before it sends the next; the DHCP server's one
thread answers between its DHCP work, so under load Kea's updates queue
and Kea drops queries at its C{parked-packet-limit}. The relay does
nothing else, so it answers at once.

The trade is CPU: a process that sleeps between requests pays a wakeup
per request. Measured (C{docs/performance.md}), it pays when each server
has its own cores (a stand-in for separate hosts) and does not when both
servers and the load generator share two cores.

L{UpdateRelay} is what the relay's command resource dispatches to (it
offers the registry's C{execute}):

 - a C{lease4-update} with C{force-create} true (what HA sends) whose
   arguments pass Kea's lease parser (L{parse_lease4}, with the relay's
   copy of the configuration) is answered C{"IPv4 lease updated."} at
   once and queued for the server;
 - every other command (heartbeats, C{lease4-del}, sync pages, state
   notifications, an update the relay cannot check) is queued as it was
   sent, and its answer is the server's.

The queue goes to the server over one connection, in arrival order, one
request at a time: queued updates gather for L{FLUSH_DELAY} (or until a
request is out, or L{MAX_BATCH} of them) and travel together as one
C{lease4-batch-update} whose items are the partner's commands as sent
(their JSON text, not re-encoded); a proxied command travels alone. So the
server sees every change in the order the partner sent it, and a proxied
command's answer reflects every update before it.

An acknowledged update reaches the lease file a batch later (about
L{FLUSH_DELAY}). A crash of either process in that window loses
it on this server only; the partner has it, and the lease sync after a
restart brings it back, which is why the configuration requires
C{sync-leases}. An update the server then refuses (a subnet removed by a
reload the relay has not seen) is logged and counted.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from kea_ha_tw.commands.envelope import (
    Command,
    HTTPStatusError,
    KeaJSONError,
    answer,
    kea_json_loads,
)
from kea_ha_tw.commands.leases import parse_lease4
from kea_ha_tw.errors import CommandError
from kea_ha_tw.loggers import Logger

#: The answer a fast-path update gets (Kea's text for an existing lease;
#: Kea's HA looks only at the result).
UPDATED = answer(0, "IPv4 lease updated.")
#: Most updates one batch to the server carries.
MAX_BATCH = 1000
#: How long acknowledged updates gather before they go to the server
#: (seconds): one batch then carries a few milliseconds of a partner's
#: updates, so the server reads one request where it read one per lease.
FLUSH_DELAY = 0.005

_BATCH_HEAD = b'{ "command": "lease4-batch-update", "arguments": { "updates": [\n'
_BATCH_TAIL = b"\n] } }"


def fast_path(command: Command, context: Any) -> bool:
    """
    True when C{command} is an HA lease update the relay may acknowledge:
    C{lease4-update}, C{force-create} true, arguments Kea's parser accepts.
    """
    if command.name != "lease4-update" or command.text is None:
        return False
    arguments = command.arguments
    if not isinstance(arguments, dict) or arguments.get("force-create") is not True:
        return False
    try:
        parse_lease4(arguments, context)
    except CommandError:
        return False
    return True


def batch_body(texts: list[bytes]) -> bytes:
    """A C{lease4-batch-update} body whose items are the commands C{texts}."""
    return _BATCH_HEAD + b"\n,".join(texts) + _BATCH_TAIL


def answer_of(code: int, body: bytes) -> dict[str, Any]:
    """
    The answer map in the server's HTTP answer.

    @raise HTTPStatusError: the server answered with an HTTP error status,
        or with a body that is not a list holding one map.
    """
    if code != 200:
        raise HTTPStatusError(code)
    try:
        value = kea_json_loads(body)
    except KeaJSONError:
        raise HTTPStatusError(500) from None
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    raise HTTPStatusError(500)


class _Batch:
    """Acknowledged updates waiting to go to the server together."""

    __slots__ = ("texts",)

    def __init__(self, text: bytes) -> None:
        self.texts = [text]


class _Proxied:
    """A command whose answer is the server's."""

    __slots__ = ("deferred", "text")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.deferred: Deferred = Deferred()


class UpdateRelay:
    """
    The relay's command runner (see the module docstring).

    @param send: C{(body) -> Deferred} firing with C{(HTTP status, body)}
        of the server's answer; called with one request at a time.
    @param context: what L{parse_lease4} needs (C{config}, C{now()}).
    @ivar acknowledged: updates answered at once.
    @ivar refused: acknowledged updates the server then refused.
    @ivar batches: C{lease4-batch-update} requests sent.
    """

    _log = Logger()

    def __init__(self, send: Callable[[bytes], Deferred], context: Any, clock: IReactorTime, *,
                 max_batch: int = MAX_BATCH, flush_delay: float = FLUSH_DELAY) -> None:
        self._send = send
        self.context = context
        self._clock = clock
        self._max_batch = max_batch
        self._flush_delay = flush_delay
        self._timer: IDelayedCall | None = None
        self._queue: collections.deque[_Batch | _Proxied] = collections.deque()
        self._busy = False
        self._failed: Failure | None = None
        self.acknowledged = 0
        self.refused = 0
        self.batches = 0

    @property
    def waiting(self) -> int:
        """Requests queued for the server (a batch counts once)."""
        return len(self._queue)

    def execute(self, command: Command, context: Any = None) -> Deferred[dict[str, Any]]:
        """The answer to C{command} (the registry's C{execute})."""
        if self._failed is not None:
            return _unavailable()
        text = command.text.encode("latin-1") if command.text is not None else b""
        if fast_path(command, self.context):
            last = self._queue[-1] if self._queue else None
            if isinstance(last, _Batch) and len(last.texts) < self._max_batch:
                last.texts.append(text)
            else:
                self._queue.append(_Batch(text))
            self.acknowledged += 1
            if len(self._queue) == 1 and len(self._queue[0].texts) < self._max_batch:
                # A batch alone in the queue gathers for a while first.
                if self._timer is None and not self._busy:
                    self._timer = self._clock.callLater(self._flush_delay, self._flush)
            else:
                self._pump()
            return succeed(UPDATED)
        item = _Proxied(text)
        self._queue.append(item)
        self._pump()
        return item.deferred

    def fail(self, reason: Failure) -> None:
        """The server went away: fail what waits; answer 503 from now on."""
        self._failed = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _Proxied):
                item.deferred.errback(Failure(HTTPStatusError(503)))

    def _flush(self) -> None:
        self._timer = None
        self._pump()

    def _pump(self) -> None:
        if self._busy or not self._queue or self._failed is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        item = self._queue.popleft()
        self._busy = True
        if isinstance(item, _Batch):
            self.batches += 1
            d = self._send(batch_body(item.texts))
            d.addCallbacks(self._batch_answered, self._lost, callbackArgs=(item,))
        else:
            d = self._send(item.text)
            d.addCallbacks(self._proxy_answered, self._proxy_lost,
                           callbackArgs=(item,), errbackArgs=(item,))

    def _next(self) -> None:
        self._busy = False
        self._pump()

    def _batch_answered(self, response: tuple[int, bytes], batch: _Batch) -> None:
        try:
            outcome = answer_of(*response)
        except HTTPStatusError as e:
            outcome = answer(1, f"HTTP status {e.status}")
        results = outcome.get("arguments", {}).get("results") \
            if outcome.get("result") == 0 and isinstance(outcome.get("arguments"), dict) else None
        if not isinstance(results, list) or len(results) != len(batch.texts):
            self.refused += len(batch.texts)
            self._log.error("the server refused a batch of {count} acknowledged lease updates:"
                            " {text}", msg_id="KHT_HA_RELAY_BATCH_REFUSED",
                            count=len(batch.texts), text=str(outcome.get("text")))
        else:
            for result in results:
                if not isinstance(result, dict) or result.get("result") != 0:
                    self.refused += 1
                    text = result.get("text") if isinstance(result, dict) else result
                    self._log.error("the server refused an acknowledged lease update: {text}",
                                    msg_id="KHT_HA_RELAY_UPDATE_REFUSED", text=str(text))
        self._next()

    def _proxy_answered(self, response: tuple[int, bytes], item: _Proxied) -> None:
        try:
            result = answer_of(*response)
        except HTTPStatusError as e:
            item.deferred.errback(Failure(e))
        else:
            item.deferred.callback(result)
        self._next()

    def _proxy_lost(self, reason: Failure, item: _Proxied) -> None:
        item.deferred.errback(Failure(HTTPStatusError(503)))
        self._lost(reason)

    def _lost(self, reason: Failure) -> None:
        self._busy = False
        self._log.error("the connection to the server failed: {reason}",
                        msg_id="KHT_HA_RELAY_UPSTREAM_LOST", reason=reason.getErrorMessage())
        self.fail(reason)


def _unavailable() -> Deferred:
    d: Deferred = Deferred()
    d.errback(Failure(HTTPStatusError(503)))
    return d


__all__ = ["FLUSH_DELAY", "MAX_BATCH", "UPDATED", "UpdateRelay", "answer_of", "batch_body",
           "fast_path"]
