# -*- test-case-name: tests.test_updates -*-
"""
Lease updates to HA peers: Kea 2.2's C{leases4_committed} fan-out.

For each committed DHCP query the updater sends, to every other peer the
mode policy says to update now, one change per lease: C{lease4-del} for
each deleted lease first, then C{lease4-update} for each new or changed
lease (a declined lease is an update with state 1 and an empty
hw-address, as the DHCP server stored it). A Kea peer gets each change as
its own request, as from Kea; with C{batch-updates} (the default) changes
that would queue behind requests already out go to a peer of ours together
in one C{lease4-batch-update} (L{kea_ha_tw.ha.batching}). The DHCP reply
waits for the acknowledgements the policy says to wait for (the active partner always;
backups only in passive-backup with C{wait-backup-ack}); if any awaited
update fails the reply is dropped. A failure toward a non-backup peer is
reported through C{on_peer_failure} (Kea marks the partner
C{unavailable}); failures toward backups never change any state.

In C{communication-recovery} the partner's updates go to a backlog of at
most C{delayed-updates-limit} entries (then it is "overflown") and the
reply is not held. Where the partner gets nothing (partner-down,
terminated, ...) C{unsent-update-count} grows by one per query.

Lease reclamation (expiry) is not replicated by Kea 2.2; each server
reclaims its own leases. L{LeaseUpdater.send_reclaimed} replicates
reclaimed leases only when built with C{replicate_reclaimed=True} (our
extension, off by default).
"""

from __future__ import annotations

import collections
import enum
from functools import partial
from typing import Any
from collections.abc import Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.batching import UpdateBatcher
from kea_ha_tw.ha.client import DEFAULT_TIMEOUT_S, encode_command, kea_error_message
from kea_ha_tw.ha.policies import UpdateAction
from kea_ha_tw.interfaces import IHAModePolicy, IPeerClient
from kea_ha_tw.leases.kea_json import lease_to_element
from kea_ha_tw.leases.model import Lease4, LeaseState
from kea_ha_tw.loggers import Logger

_UINT64 = 1 << 64


class BacklogOp(enum.Enum):
    """A queued lease change (Kea's LeaseUpdateBacklog::OpType)."""

    ADD = "lease4-update"
    DELETE = "lease4-del"


def lease_update_arguments(lease: Lease4) -> dict[str, Any]:
    """
    The C{lease4-update} arguments Kea's HA sends: the lease map with
    C{expire} instead of C{cltt}, plus C{"force-create": true}.
    """
    args = lease_delete_arguments(lease)
    args["force-create"] = True
    return args


def lease_delete_arguments(lease: Lease4) -> dict[str, Any]:
    """The C{lease4-del} arguments Kea's HA sends: the lease map with C{expire}."""
    # lease_to_element builds a fresh map, with expire in place of cltt.
    return lease_to_element(lease, with_expire=True)


def _query_label(query: Any) -> str:
    xid = getattr(query, "xid", None)
    hwaddr = getattr(query, "hwaddr", b"")
    hw = hwaddr.hex(":") if isinstance(hwaddr, (bytes, bytearray)) else str(hwaddr)
    return f"[hwtype=1 {hw}], tid=0x{xid:x}" if isinstance(xid, int) else f"[hwtype=1 {hw}]"


class _Bodies:
    """The request bodies of one query, encoded once and shared by every peer."""

    __slots__ = ("deleted", "leases", "service", "_encoded", "_arguments")

    def __init__(self, leases: Sequence[Lease4], deleted: Sequence[Lease4], service: str) -> None:
        self.leases = leases
        self.deleted = deleted
        self.service = service
        self._arguments: list[tuple[str, dict[str, Any]]] | None = None
        self._encoded: list[tuple[str, bytes]] | None = None

    def arguments(self) -> list[tuple[str, dict[str, Any]]]:
        if self._arguments is None:
            self._arguments = [("lease4-del", lease_delete_arguments(x)) for x in self.deleted]
            self._arguments += [("lease4-update", lease_update_arguments(x)) for x in self.leases]
        return self._arguments

    def encoded_at(self, index: int) -> bytes:
        return self.encoded()[index][1]

    def encoded(self) -> list[tuple[str, bytes]]:
        if self._encoded is None:
            self._encoded = [
                (command, encode_command(command, args, self.service))
                for command, args in self.arguments()
            ]
        return self._encoded


class LeaseUpdater:
    """
    Sends lease changes to the HA peers and decides whether the DHCP reply
    may leave.

    @ivar unsent_update_count: Kea's cumulative count of queries whose
        lease changes were not sent to the active partner (64-bit, skips 0
        when it wraps).
    @ivar state_provider: C{() -> HAState} giving the current state, used by
        L{send_reclaimed} when called as a reclaim observer.
    """

    _log = Logger()

    def __init__(
        self,
        ha: HAConfig,
        policy: IHAModePolicy,
        clients: dict[str, IPeerClient],
        clock: IReactorTime,
        on_peer_failure: Callable[[str], None],
        replicate_reclaimed: bool = False,
        service: str = "dhcp4",
        state_provider: Callable[[], Any] | None = None,
        batch_updates: bool = False,
    ) -> None:
        self._ha = ha
        self._policy = policy
        self._clients = clients
        self._clock = clock
        self._on_peer_failure = on_peer_failure
        self._replicate_reclaimed = replicate_reclaimed
        #: C{() -> HAState}: the current state, for L{send_reclaimed}.
        self.state_provider = state_provider
        self._service = service
        self._backup_names = frozenset(p.name for p in policy.backups)
        self._backlog: collections.deque[tuple[BacklogOp, Lease4]] = collections.deque()
        self._backlog_limit = ha.delayed_updates_limit
        self._overflowed = False
        self._in_flight = 0
        self._idle_waiters: list[Deferred] = []
        self.unsent_update_count = 0
        #: Peer name -> L{UpdateBatcher}, for peers reached through a
        #: L{PeerClient} when C{batch_updates} is on.
        self.batchers: dict[str, UpdateBatcher] = {}
        if batch_updates:
            self.batchers = {
                name: UpdateBatcher(client, clock, service)
                for name, client in clients.items()
                if getattr(client, "send_encoded", None) is not None
            }
        # (client, its batcher or None) for clients that can say how many
        # requests wait for a connection (L{updates_queued}), to peers whose
        # acknowledgements the replies wait for.
        self._queues = [(c, self.batchers.get(n)) for n, c in clients.items()
                        if hasattr(c, "queued") and policy.waits_for(n)]

    # -- the DHCP path -----------------------------------------------------

    def send(
        self, query: Any, leases: Sequence[Lease4], deleted: Sequence[Lease4], state: Any
    ) -> Deferred:
        """
        Replicate the lease changes of C{query} committed in C{state}. Fire
        True when the reply may be sent, False to drop it; never errback.
        """
        if not leases and not deleted:
            return succeed(True)
        bodies = _Bodies(leases, deleted, self._service)
        awaited: list[Deferred] = []
        policy = self._policy
        for peer in policy.other_peers:
            name = peer.name
            action = policy.update_action(name, state)
            if action is UpdateAction.SEND:
                wait = policy.must_wait_for(name, state)
                for d in self._send_all(name, bodies, query):
                    if wait:
                        awaited.append(d)
            elif action is UpdateAction.QUEUE:
                for lease in deleted:
                    self._push(BacklogOp.DELETE, lease)
                for lease in leases:
                    self._push(BacklogOp.ADD, lease)
            elif action is UpdateAction.UNSENT:
                if name not in self._backup_names:
                    self._increase_unsent()
        if not awaited:
            return succeed(True)
        if len(awaited) == 1:
            # The common case (one lease, the partner): no DeferredList needed.
            out: Deferred = Deferred()
            awaited[0].addCallback(_relay, out)
            return out
        return DeferredList(awaited, consumeErrors=True).addCallback(_all_true)

    def send_reclaimed(
        self,
        leases: Sequence[Lease4],
        deleted: Sequence[Lease4] | None = None,
        state: Any = None,
    ) -> Deferred:
        """
        Replicate reclaimed (expired) leases; usable directly as a
        C{LeaseStoreService} reclaim observer (C{observer(leases)}).

        A no-op unless built with C{replicate_reclaimed=True}: Kea 2.2 never
        replicates reclamation (each server reclaims its own leases). When
        on: leases kept in state expired-reclaimed go out as
        C{lease4-update} (state 2), leases removed (C{deleted}, or those of
        C{leases} in another state when C{deleted} is None) as C{lease4-del},
        to the peers that get updates in C{state} (default: the value of
        C{state_provider()}). Nothing waits for these requests and nothing
        is counted as unsent. Fires None when every request has finished.
        """
        if not self._replicate_reclaimed or (not leases and not deleted):
            return succeed(None)
        if deleted is None:
            kept = [x for x in leases if x.state == LeaseState.EXPIRED_RECLAIMED]
            deleted = [x for x in leases if x.state != LeaseState.EXPIRED_RECLAIMED]
            leases = kept
        if state is None:
            if self.state_provider is None:
                self._log.debug("reclaimed leases not replicated: no HA state known")
                return succeed(None)
            state = self.state_provider()
        bodies = _Bodies(leases, deleted, self._service)
        sent: list[Deferred] = []
        for peer in self._policy.other_peers:
            if self._policy.update_action(peer.name, state) is UpdateAction.SEND:
                sent.extend(self._send_all(peer.name, bodies, None))
        if not sent:
            return succeed(None)
        return DeferredList(sent, consumeErrors=True).addCallback(lambda _: None)

    def _send_all(self, name: str, bodies: _Bodies, query: Any) -> list[Deferred]:
        client = self._clients[name]
        send_encoded = getattr(client, "send_encoded", None)
        result = []
        batcher = self.batchers.get(name)
        if batcher is not None:
            for index, (command, args) in enumerate(bodies.arguments()):
                body = partial(bodies.encoded_at, index)
                result.append(self._track(batcher.submit(command, args, body),
                                          name, command, query))
        elif send_encoded is not None:
            for command, body in bodies.encoded():
                result.append(self._track(send_encoded(body, command, DEFAULT_TIMEOUT_S),
                                          name, command, query))
        else:
            for command, args in bodies.arguments():
                result.append(self._track(client.send_command(command, args, DEFAULT_TIMEOUT_S),
                                          name, command, query))
        return result

    def _track(self, d: Deferred, name: str, command: str, query: Any) -> Deferred:
        """Turn a request's outcome into True/False, logging failures."""
        self._in_flight += 1

        def done(result: Any) -> bool:
            self._in_flight -= 1
            if not self._in_flight and self._idle_waiters:
                waiters, self._idle_waiters = self._idle_waiters, []
                for waiter in waiters:
                    waiter.callback(None)
            if isinstance(result, Failure):
                self._update_failed(result, name, command, query)
                return False
            return True

        d.addBoth(done)
        return d

    def _update_failed(self, failure: Failure, name: str, command: str, query: Any) -> None:
        if failure.check(PeerCommunicationError):
            msg_id = "HA_LEASE_UPDATE_COMMUNICATIONS_FAILED"
        elif failure.check(PeerCommandError):
            msg_id = "HA_LEASE_UPDATE_FAILED"
        else:
            self._log.failure(
                "{peer}: unexpected error sending {command}", failure,
                peer=name, command=command,
            )
            msg_id = "HA_LEASE_UPDATE_FAILED"
        self._log.warn(
            "{query}: lease update ({command}) to {peer} failed: {reason}",
            msg_id=msg_id, query=_query_label(query), command=command, peer=name,
            reason=kea_error_message(failure),
        )
        if name not in self._backup_names:
            self._on_peer_failure(name)

    def updates_queued(self) -> bool:
        """
        True while a request waits for a free connection to a peer that
        takes no batches (a Kea partner gets one request per change). A
        peer that batches gets what waits as one request instead: a request
        queued there (a heartbeat beside two batches) does not count; nor
        does one for a backup server unless C{wait-backup-ack} makes the
        replies wait for it.
        """
        for client, batcher in self._queues:
            if client.queued and (batcher is None or batcher.batching is False):
                return True
        return False

    def _increase_unsent(self) -> None:
        count = (self.unsent_update_count + 1) % _UINT64
        self.unsent_update_count = count if count else 1

    # -- communication-recovery backlog ------------------------------------

    @property
    def backlog_overflowed(self) -> bool:
        """True when a change could not be queued because the backlog was full."""
        return self._overflowed

    @property
    def backlog_size(self) -> int:
        """How many changes wait in the backlog."""
        return len(self._backlog)

    def backlog(self) -> list[tuple[BacklogOp, Lease4]]:
        """A copy of the queued changes, oldest first."""
        return list(self._backlog)

    def _push(self, op: BacklogOp, lease: Lease4) -> None:
        if len(self._backlog) >= self._backlog_limit:
            if not self._overflowed:
                self._log.warn(
                    "lease update backlog is full ({limit}); the partner will need a resync",
                    msg_id="HA_LEASES_BACKLOG_OVERFLOWN", limit=self._backlog_limit,
                )
            self._overflowed = True
            return
        self._backlog.append((op, lease))

    def clear_backlog(self) -> None:
        """Forget the queued changes and the overflow (leaving communication-recovery)."""
        self._backlog.clear()
        self._overflowed = False

    def replay_backlog(self) -> Deferred:
        """
        Send the backlog to the failover partner, one request at a time, in
        order. Fire True when all were acknowledged, False at the first
        failure (the failed entry is consumed, as in Kea).
        """
        return Deferred.fromCoroutine(self._replay())

    async def _replay(self) -> bool:
        partner = self._policy.partner
        if not self._backlog:
            self._log.info("no lease updates in the backlog",
                           msg_id="HA_LEASES_BACKLOG_NOTHING_TO_SEND")
            return True
        if partner is None:
            return False
        client = self._clients[partner.name]
        total = len(self._backlog)
        started = self._clock.seconds()
        self._log.info(
            "sending {count} lease updates from the backlog to {peer}",
            msg_id="HA_LEASES_BACKLOG_START", count=total, peer=partner.name,
        )
        while self._backlog:
            op, lease = self._backlog.popleft()
            args = (lease_update_arguments(lease) if op is BacklogOp.ADD
                    else lease_delete_arguments(lease))
            try:
                await client.send_command(op.value, args, DEFAULT_TIMEOUT_S)
            except (PeerCommunicationError, PeerCommandError) as e:
                msg_id = ("HA_LEASES_BACKLOG_COMMUNICATIONS_FAILED"
                          if isinstance(e, PeerCommunicationError) else "HA_LEASES_BACKLOG_FAILED")
                self._log.warn(
                    "sending lease updates from the backlog to {peer} failed: {reason}",
                    msg_id=msg_id, peer=partner.name, reason=kea_error_message(e),
                )
                return False
        self._log.info(
            "{count} lease updates from the backlog sent to {peer} in {seconds:.3f} s",
            msg_id="HA_LEASES_BACKLOG_SUCCESS", count=total, peer=partner.name,
            seconds=self._clock.seconds() - started,
        )
        return True

    def send_ha_reset(self) -> Deferred:
        """
        Send C{ha-reset} to the failover partner (after an overflown or failed
        backlog). Fire True when it answered with success.
        """
        partner = self._policy.partner
        if partner is None:
            return succeed(False)

        def failed(failure: Failure) -> bool:
            failure.trap(PeerCommunicationError, PeerCommandError)
            msg_id = ("HA_RESET_COMMUNICATIONS_FAILED" if failure.check(PeerCommunicationError)
                      else "HA_RESET_FAILED")
            self._log.warn("ha-reset to {peer} failed: {reason}", msg_id=msg_id,
                           peer=partner.name, reason=kea_error_message(failure))
            return False

        d = self._clients[partner.name].send_command("ha-reset", None, DEFAULT_TIMEOUT_S)
        d.addCallbacks(lambda _: True, failed)
        return d

    # -- shutdown ----------------------------------------------------------

    def wait_idle(self) -> Deferred:
        """Fire None once every lease update now in flight has finished."""
        if not self._in_flight:
            return succeed(None)
        waiter: Deferred = Deferred()
        self._idle_waiters.append(waiter)
        return waiter


def _relay(ok: bool, out: Deferred) -> bool:
    out.callback(ok)
    return ok


def _all_true(results: Iterable[tuple[bool, Any]]) -> bool:
    return all(ok and value for ok, value in results)
