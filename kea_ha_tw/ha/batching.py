# -*- test-case-name: tests.test_batching -*-
"""
Coalescing lease updates to one peer into C{lease4-batch-update} requests.

Kea's HA sends one HTTP request per lease change and the DHCP reply waits
for its answer; a pair then spends most of its CPU on HTTP, not on leases.
L{UpdateBatcher} sits between L{kea_ha_tw.ha.updates.LeaseUpdater} and one
peer's L{kea_ha_tw.ha.client.PeerClient}:

 - while fewer than C{max_in_flight} requests are out, a change goes out at
   once as the single Kea command, exactly as Kea sends it: at low rates
   nothing changes, not even the latency;
 - otherwise it waits; when a request comes back, every waiting change (up
   to C{max_batch}) leaves in one C{lease4-batch-update}
   (L{kea_ha_tw.commands.batch}), and each change's Deferred fires with its
   own item answer, so a DHCP reply still waits for its own leases only;
 - a peer that answers the batch with any error (result 2 from Kea or an
   older peer of ours, 403 from a listener that restricts commands) is
   remembered as not batching: the waiting changes are resent one
   request each, and from then on every change goes straight to the
   client, as before. After C{reprobe_s} the next batch asks again, so a
   peer replaced by one of ours is found.

The batch body is plain compact JSON (the C{json} module's C encoder,
strings as raw UTF-8, which Kea's reader and ours take as Kea does);
single requests keep Kea's exact serialization.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from kea_ha_tw.commands.batch import BATCH_COMMAND
from kea_ha_tw.errors import PeerCommandError
from kea_ha_tw.ha.client import DEFAULT_TIMEOUT_S, check_answer, encode_command
from kea_ha_tw.loggers import Logger

#: Requests to one peer out at once before changes start to wait.
DEFAULT_MAX_IN_FLIGHT = 2
#: Most changes in one batch.
DEFAULT_MAX_BATCH = 200
#: How long a peer that refused a batch is left alone before asking again.
DEFAULT_REPROBE_S = 60.0


def batch_body(items: list[tuple[str, dict[str, Any]]], service: str | None = "dhcp4") -> bytes:
    """The C{lease4-batch-update} request body for (command, arguments) C{items}."""
    body: dict[str, Any] = {
        "command": BATCH_COMMAND,
        "arguments": {"updates": [{"command": c, "arguments": a} for c, a in items]},
    }
    if service is not None:
        body["service"] = [service]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogateescape")


class _Change:
    """One waiting change: the command, its arguments, its body, its Deferred."""

    __slots__ = ("arguments", "body", "command", "result")

    def __init__(self, command: str, arguments: dict[str, Any], body: Any) -> None:
        self.command = command
        self.arguments = arguments
        self.body = body
        self.result: Deferred = Deferred()


class UpdateBatcher:
    """
    Sends one peer's lease changes, batching those that would otherwise
    queue behind requests already out.

    @ivar batching: True once the peer accepted a batch, False while it is
        known not to, None before we know.
    @ivar batches_sent: batches sent (for tests and statistics).
    """

    _log = Logger()

    def __init__(self, client: Any, clock: IReactorTime, service: str | None = "dhcp4", *,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, max_batch: int = DEFAULT_MAX_BATCH,
                 reprobe_s: float = DEFAULT_REPROBE_S,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._clock = clock
        self._service = service
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._reprobe_s = reprobe_s
        self._timeout_s = timeout_s
        self._waiting: collections.deque[_Change] = collections.deque()
        self._in_flight = 0
        self._refused_at: float | None = None
        self.batching: bool | None = None
        self.batches_sent = 0

    @property
    def name(self) -> str:
        """The peer's name."""
        return self._client.name

    @property
    def waiting(self) -> int:
        """Changes waiting for a request to come back."""
        return len(self._waiting)

    def submit(self, command: str, arguments: dict[str, Any],
               body: bytes | Callable[[], bytes] | None = None) -> Deferred:
        """
        Send one change (C{lease4-update} or C{lease4-del}); fire with its
        answer map (result 0 or 3) or fail as L{PeerClient.send_encoded}
        does. C{body} is the single request's encoded body (or a function
        giving it), used only if the change goes out alone.
        """
        if self.batching is False:
            if self._clock.seconds() - (self._refused_at or 0.0) < self._reprobe_s:
                return self._single(command, arguments, body)
            self.batching = None
        if self._in_flight < self._max_in_flight and not self._waiting:
            return self._tracked(self._single(command, arguments, body))
        change = _Change(command, arguments, body)
        self._waiting.append(change)
        return change.result

    def _single(self, command: str, arguments: dict[str, Any], body: Any) -> Deferred:
        if body is None:
            body = encode_command(command, arguments, self._service)
        elif callable(body):
            body = body()
        return self._client.send_encoded(body, command, self._timeout_s)

    def _tracked(self, d: Deferred) -> Deferred:
        self._in_flight += 1
        d.addBoth(self._returned)
        return d

    def _returned(self, result: Any) -> Any:
        self._in_flight -= 1
        self._pump()
        return result

    def _pump(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            if len(self._waiting) == 1 or self.batching is False:
                change = self._waiting.popleft()
                self._relay(self._tracked(self._single(change.command, change.arguments,
                                                       change.body)), change)
                continue
            count = min(len(self._waiting), self._max_batch)
            changes = [self._waiting.popleft() for _ in range(count)]
            self._send_batch(changes)

    def _send_batch(self, changes: list[_Change]) -> None:
        body = batch_body([(c.command, c.arguments) for c in changes], self._service)
        self.batches_sent += 1
        d = self._client.send_encoded(body, BATCH_COMMAND, self._timeout_s)
        d.addCallbacks(self._batch_answered, self._batch_failed,
                       callbackArgs=(changes,), errbackArgs=(changes,))
        self._tracked(d)

    def _batch_answered(self, answer: dict[str, Any], changes: list[_Change]) -> None:
        self.batching = True
        arguments = answer.get("arguments")
        results = arguments.get("results") if isinstance(arguments, dict) else None
        if not isinstance(results, list) or len(results) != len(changes):
            error = PeerCommandError(self.name, 1, "malformed lease4-batch-update answer")
            for change in changes:
                change.result.errback(Failure(error))
            return
        for change, item in zip(changes, results, strict=True):
            try:
                outcome = check_answer(self.name, item)
            except PeerCommandError:
                change.result.errback(Failure())
            else:
                change.result.callback(outcome)

    def _batch_failed(self, failure: Failure, changes: list[_Change]) -> None:
        if failure.check(PeerCommandError):
            # Result 2 from Kea (or an older peer of ours), 403 from a
            # listener restricting commands: the peer does not batch.
            self._log.info("{peer} does not take lease4-batch-update ({reason});"
                           " one request per change", peer=self.name,
                           reason=failure.getErrorMessage())
            self.batching = False
            self._refused_at = self._clock.seconds()
            for change in changes:
                self._relay(self._single(change.command, change.arguments, change.body), change)
            return
        for change in changes:
            change.result.errback(failure)

    @staticmethod
    def _relay(d: Deferred, change: _Change) -> None:
        d.addCallbacks(change.result.callback, change.result.errback)


__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_IN_FLIGHT", "UpdateBatcher", "batch_body"]
