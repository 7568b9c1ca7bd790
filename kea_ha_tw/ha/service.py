# -*- test-case-name: tests.test_ha_service -*-
"""
L{HAService}: the HA hook of the DHCP server, wiring the mode policy, the
state machine, the partner communication, the lease updater and the lease
database sync (Kea's C{HAImpl} + C{HAService}).

The state machine runs, as in Kea, when a heartbeat completes, when the
lease updates of a query complete, when a sync or a backlog replay ends and
after the commands that change the state. What C{syncing} and
C{communication-recovery} wait for runs asynchronously here (Kea blocks in
a private IO loop instead); its outcome comes back through the next run.

Every command method returns a Kea answer map (or a Deferred firing with
one and never failing); L{kea_ha_tw.commands.ha} parses the arguments and
calls them.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Mapping
from functools import partial

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.dhcp.packet import DHCPPacket
from kea_ha_tw.errors import (
    CONTROL_RESULT_ERROR, CONTROL_RESULT_SUCCESS, PeerCommandError, PeerCommunicationError,
)
from kea_ha_tw.ha import scopes
from kea_ha_tw.ha.communication import (
    DEFAULT_REQUEST_TIMEOUT_S, PartnerCommunication, heartbeat_answer,
)
from kea_ha_tw.ha.machine import HAStateMachine
from kea_ha_tw.ha.policies import policy_for
from kea_ha_tw.ha.states import (
    Action, Facts, HAState, RecoveryResult, assesses_clock_skew_in, sends_heartbeats_in,
)
from kea_ha_tw.interfaces import IDHCPHooks, INetworkState, IPeerClient, IStatistics
from kea_ha_tw.loggers import Logger
from kea_ha_tw.network_state import ORIGIN_HA_LOCAL

S = HAState

# Bounds the re-runs one event may cause (each async step done at once asks for another).
_MAX_RERUNS = 16


def answer(result: int, text: str) -> dict:
    """A Kea answer map without arguments."""
    return {"result": result, "text": text}


def _error_message(error: BaseException | Failure) -> str:
    # Kea's text for a failed peer command (kea_ha_tw.ha.client owns it).
    from kea_ha_tw.ha.client import kea_error_message
    return kea_error_message(error)


@implementer(IDHCPHooks)
class HAService(Service):
    """
    High Availability for one DHCPv4 server.

    @ivar policy: the L{IHAModePolicy} of the configured mode.
    @ivar machine: the L{HAStateMachine}.
    @ivar communication: the L{PartnerCommunication} with the failover
        partner.
    @ivar updater: the lease updater (L{kea_ha_tw.ha.updates}).
    @ivar lease_sync: the lease database sync (L{kea_ha_tw.ha.sync}).
    """

    _log = Logger()
    #: Log every query dropped as out of scope (Kea's debug HA_BUFFER4_RECEIVE_NOT_FOR_US).
    #: Off by default: at load, an event per query cost a standby a third of its CPU.
    trace_drops = False
    name = "high-availability"

    def __init__(self, config: ServerConfig, network_state: INetworkState,
                 stats: IStatistics, clock: IReactorTime, store: Any,
                 peer_clients: Mapping[str, IPeerClient], *,
                 updater_factory: Callable[..., Any] | None = None,
                 sync_factory: Callable[..., Any] | None = None) -> None:
        """
        @param peer_clients: an L{IPeerClient} for every other peer.
        @param updater_factory: builds the updater as
            C{(ha, policy, clients, clock, on_peer_failure)}; the default is
            L{kea_ha_tw.ha.updates.LeaseUpdater}.
        @param sync_factory: builds the sync as
            C{(ha, clients, store, clock, on_peer_failure)}; the default is
            L{kea_ha_tw.ha.sync.LeaseSync}.
        """
        if config.ha is None:
            raise ValueError("HAService needs a high-availability configuration")
        ha = self.ha = config.ha
        self.policy = policy = policy_for(ha)
        self._network_state = network_state
        self._stats = stats
        self._clock = clock
        self._clients = dict(peer_clients)
        partner = policy.partner
        heartbeat_client = (self._clients[partner.name]
                            if partner is not None and policy.heartbeats_enabled() else None)
        self.communication = PartnerCommunication(
            ha, clock, heartbeat_client, self._heartbeat_complete)
        self.machine = HAStateMachine(ha, policy, network_state, self._inputs)
        self.machine.add_transition_listener(self._state_changed)
        if updater_factory is None:
            from kea_ha_tw.ha.updates import LeaseUpdater
            updater_factory = partial(
                LeaseUpdater, replicate_reclaimed=ha.replicate_expired_leases,
                batch_updates=ha.batch_updates,
                state_provider=lambda: self.machine.state)
        if sync_factory is None:
            from kea_ha_tw.ha.sync import LeaseSync
            sync_factory = LeaseSync
        self.updater = updater_factory(ha, policy, self._clients, clock, self.partner_unavailable)
        self.lease_sync = sync_factory(ha, self._clients, store, clock, self.partner_unavailable)
        self._epoch = 0
        self._sync_result: bool | None = None
        self._sync_running = False
        self._recovery_result: RecoveryResult | None = None
        self._recovery_running = False
        self._in_run = False
        self._rerun = False
        self._waits: dict[HAState, bool] = {}
        self._cached_query: DHCPPacket | None = None
        self._cached_scope: str | None = None
        self._classes = {name: frozenset([scopes.scope_class(name)])
                         for name in policy.peer_names}

    # -- properties for the commands --------------------------------------

    @property
    def state(self) -> HAState:
        """The current local state."""
        return self.machine.state

    @property
    def unsent_update_count(self) -> int:
        """Queries whose lease changes were not sent to the partner."""
        return self.updater.unsent_update_count

    # -- life cycle ---------------------------------------------------------

    def startService(self) -> None:
        """Enter waiting and run the machine (heartbeats start from here)."""
        Service.startService(self)
        self.communication.start()
        self.machine.start()
        self._run()

    def stopService(self) -> Deferred:
        """Stop the heartbeat; fire when no lease update is in flight."""
        Service.stopService(self)
        self.communication.stop()
        return maybeDeferred(self.updater.wait_idle)

    # -- running the machine ------------------------------------------------

    def _inputs(self) -> tuple[HAState | None, Facts]:
        comm = self.communication
        state = self.machine.state
        if assesses_clock_skew_in(state) and not self.machine.paused:
            comm.assess_clock_skew()
        facts = Facts(
            is_backup=self.policy.is_backup,
            is_primary=self.policy.is_primary,
            sync_leases=self.ha.sync_leases,
            clock_skew_s=comm.clock_skew_s,
            communication_interrupted=comm.is_communication_interrupted(),
            dhcp_enabled=self._network_state.is_enabled(),
            unacked_clients=comm.unacked_clients,
            max_unacked_clients=self.ha.max_unacked_clients,
            partner_has_new_unsent_updates=comm.partner_has_new_unsent_updates(),
            backlog_overflowed=self.updater.backlog_overflowed,
            delayed_updates_limit=self.ha.delayed_updates_limit,
            sync_result=self._sync_result,
            recovery_result=self._recovery_result,
        )
        return comm.partner_state, facts

    def _run(self) -> None:
        """Run the machine until it settles, then start what it waits for."""
        if not self.running:
            return
        if self._in_run:
            self._rerun = True
            return
        self._in_run = True
        try:
            for _ in range(_MAX_RERUNS):
                self._rerun = False
                action = self.machine.run()
                self._sync_result = None
                self._recovery_result = None
                self._update_heartbeat()
                if action is Action.SYNC:
                    self._start_sync()
                elif action is Action.RECOVER:
                    self._start_recovery()
                if not self._rerun:
                    break
            else:
                self._log.error("HA state machine kept being re-run; giving up until the next"
                                " event", msg_id="HA_STATE_MACHINE_LOOP")
        except Exception:
            self._log.failure("HA state machine run failed", msg_id="HA_STATE_MACHINE_FAILED")
        finally:
            self._in_run = False

    def _update_heartbeat(self) -> None:
        self.communication.set_heartbeat_enabled(
            self.policy.heartbeats_enabled()
            and sends_heartbeats_in(self.machine.state)
            and not self._sync_running)

    def _state_changed(self, old: HAState, new: HAState) -> None:
        self._epoch += 1
        self._sync_result = None
        self._recovery_result = None
        if old is S.COMMUNICATION_RECOVERY:
            self.updater.clear_backlog()

    def _heartbeat_complete(self, success: bool, synced_partner_unavailable: bool) -> None:
        if synced_partner_unavailable and self.machine.state is S.PARTNER_DOWN:
            # Kea's HA_SYNCED_PARTNER_UNAVAILABLE_EVT: serve again although
            # the partner that synced from us cannot be reached.
            self.machine.adjust_network_state()
        self._run()

    def partner_unavailable(self, peer_name: str) -> None:
        """A command or lease update to C{peer_name} failed."""
        partner = self.policy.partner
        if partner is not None and peer_name == partner.name:
            self.communication.mark_partner_unavailable()

    def _start_sync(self) -> None:
        if self._sync_running:
            return
        self._sync_running = True
        self._update_heartbeat()
        epoch = self._epoch
        max_period = max(1, self.ha.sync_timeout_ms // 1000)
        d = maybeDeferred(self.lease_sync.synchronize, self.policy.partner.name, max_period)
        d.addCallbacks(lambda _: True, self._sync_failed)
        d.addCallback(self._sync_done, epoch)

    def _sync_failed(self, failure: Failure) -> bool:
        self.partner_unavailable(self.policy.partner.name)
        self._log.debug("automatic lease database sync failed: {reason}",
                        reason=failure.getErrorMessage())
        return False

    def _sync_done(self, ok: bool, epoch: int) -> None:
        self._sync_running = False
        if epoch == self._epoch and self.machine.state is S.SYNCING:
            self._sync_result = ok
        self._run()

    def _start_recovery(self) -> None:
        if self._recovery_running:
            return
        self._recovery_running = True
        epoch = self._epoch
        if self.updater.backlog_overflowed:
            d = succeed(False)
        else:
            d = maybeDeferred(self.updater.replay_backlog)
        d.addCallback(self._replayed)
        d.addErrback(self._recovery_error)
        d.addCallback(self._recovery_done, epoch)

    def _replayed(self, ok: bool):
        if ok:
            return RecoveryResult.REPLAYED
        d = maybeDeferred(self.updater.send_ha_reset)
        d.addCallback(lambda reset: RecoveryResult.RESET_OK if reset
                      else RecoveryResult.RESET_FAILED)
        return d

    def _recovery_error(self, failure: Failure) -> RecoveryResult:
        self._log.failure("leaving communication-recovery failed", failure,
                          msg_id="HA_COMMUNICATION_RECOVERY_FAILED")
        return RecoveryResult.RESET_FAILED

    def _recovery_done(self, result: RecoveryResult, epoch: int) -> None:
        self._recovery_running = False
        if epoch == self._epoch and self.machine.state is S.COMMUNICATION_RECOVERY:
            self._recovery_result = result
        self._run()

    # -- IDHCPHooks -----------------------------------------------------------

    def _scope(self, query: DHCPPacket) -> str | None:
        if query is self._cached_query:
            return self._cached_scope
        scope = self.policy.scope_of(query)
        self._cached_query, self._cached_scope = query, scope
        return scope

    def classify(self, query: DHCPPacket) -> frozenset[str]:
        """C{{HA_<scope>}} for the query, or nothing when it has no key."""
        scope = self._scope(query)
        return frozenset() if scope is None else self._classes[scope]

    def query_in_scope(self, query: DHCPPacket) -> bool:
        """
        True when this server answers C{query} now; else it may count toward
        unacked clients (L{_analyzing_queries}). Kea 2.2 counts the drop only in
        C{pkt4-received}, and so do we (only DHCPv6 counted it, ChangeLog 2220).
        """
        scope = self._scope(query)
        if scope is not None and (scope in self.machine.served_scopes
                                  or not scopes.is_ha_type(query)):
            return True
        if self._analyzing_queries():
            self.communication.analyze_query(query)
        if self.trace_drops:
            self._log.debug("query {xid} dropped: not in the scopes of this server",
                            msg_id="HA_BUFFER4_RECEIVE_NOT_FOR_US", xid=query.xid,
                            scope=scope or "")
        return False

    def _analyzing_queries(self) -> bool:
        """Queries for the failover partner are analyzed for unacked clients now."""
        return (self.policy.has_failover_partner()
                and self.communication.is_communication_interrupted())

    def answers_none(self) -> bool:
        """No scope served (a standby, a backup, waiting, syncing) and no query to analyze."""
        return not self.machine.served_scopes and not self._analyzing_queries()

    def updates_queued(self) -> bool:
        """Lease updates wait for a free peer connection (L{LeaseUpdater.updates_queued})."""
        return self.updater.updates_queued()

    def leases_committed(self, query: DHCPPacket, leases, deleted) -> Deferred:
        """Send the lease updates; fire True when the reply may leave."""
        state = self.machine.state
        d = self.updater.send(query, leases, deleted, state)
        if (leases or deleted) and self._waits_for_someone(state):
            d.addCallback(self._updates_complete)
        return d

    def _waits_for_someone(self, state: HAState) -> bool:
        waits = self._waits.get(state)
        if waits is None:
            waits = self._waits[state] = any(
                self.policy.must_wait_for(p.name, state) for p in self.policy.other_peers)
        return waits

    def _updates_complete(self, ok: bool) -> bool:
        # Kea runs its model after every query's updates (LEASE_UPDATES_
        # COMPLETE). A successful update changes none of the machine's
        # inputs, so only a failure needs the run (time-driven inputs are
        # re-read at every heartbeat); this spares a run per lease.
        if not ok:
            self._run()
        return ok

    # -- commands -------------------------------------------------------------

    def heartbeat_answer(self) -> dict:
        """ha-heartbeat: our state, time, scopes and unsent-update-count."""
        return heartbeat_answer(self._clock.seconds(), self.machine.state,
                                self.machine.served_scopes, self.updater.unsent_update_count)

    def reset(self) -> dict:
        """ha-reset."""
        result, text = self.machine.reset()
        self._run()
        return answer(result, text)

    def continue_(self) -> dict:
        """ha-continue."""
        if not self.machine.continue_():
            return answer(CONTROL_RESULT_SUCCESS, "HA state machine is not paused.")
        if not self.policy.heartbeats_enabled():
            # Without heartbeats nothing else would ever run the machine.
            self._run()
        return answer(CONTROL_RESULT_SUCCESS, "HA state machine continues.")

    def set_scopes(self, names: list[str]) -> dict:
        """ha-scopes."""
        try:
            self.machine.set_scopes(names)
        except ValueError as e:
            return answer(CONTROL_RESULT_ERROR, str(e))
        return answer(CONTROL_RESULT_SUCCESS, "New HA scopes configured.")

    def maintenance_notify(self, cancel: bool) -> dict:
        """ha-maintenance-notify (receiver)."""
        result, text = self.machine.maintenance_notify(
            cancel, self.communication.partner_state)
        if result == CONTROL_RESULT_SUCCESS:
            self._run()
        return answer(result, text)

    def _partner_client(self) -> IPeerClient | None:
        partner = self.policy.partner
        return None if partner is None else self._clients.get(partner.name)

    def _no_partner(self) -> dict:
        return answer(CONTROL_RESULT_ERROR, "no failover partner server found for this"
                      f" server {self.ha.this_server_name}")

    def maintenance_start(self) -> Deferred:
        """ha-maintenance-start: ask the partner to go in-maintenance."""
        refusal = self.machine.maintenance_start_refusal()
        if refusal is not None:
            return succeed(answer(CONTROL_RESULT_ERROR, refusal))
        client = self._partner_client()
        if client is None:
            return succeed(self._no_partner())
        d = maybeDeferred(client.send_command, "ha-maintenance-notify", {"cancel": False},
                          DEFAULT_REQUEST_TIMEOUT_S)
        d.addCallbacks(self._partner_in_maintenance, self._maintenance_start_failed)
        return d

    def _partner_in_maintenance(self, _arguments) -> dict:
        self.machine.transition(S.PARTNER_IN_MAINTENANCE, self.communication.partner_state,
                                by_maintenance=True)
        self._run()
        return answer(CONTROL_RESULT_SUCCESS,
                      "Server is now in the partner-in-maintenance state and its partner is"
                      " in-maintenance state. The partner can be now safely shut down.")

    def _maintenance_start_failed(self, failure: Failure) -> dict:
        message = _error_message(failure)
        self._log.error("ha-maintenance-notify to the partner failed: {reason}",
                        msg_id=("HA_MAINTENANCE_NOTIFY_COMMUNICATIONS_FAILED"
                                if failure.check(PeerCommunicationError)
                                else "HA_MAINTENANCE_NOTIFY_FAILED"),
                        reason=message)
        self.communication.mark_partner_unavailable()
        error = failure.value
        if (isinstance(error, PeerCommandError) and error.result != CONTROL_RESULT_ERROR) or (
                not isinstance(error, (PeerCommandError, PeerCommunicationError))):
            return answer(CONTROL_RESULT_ERROR,
                          "Unable to transition to the partner-in-maintenance state. The"
                          " partner server responded with the following message to the"
                          f" ha-maintenance-notify command: {message}.")
        self.machine.transition(S.PARTNER_DOWN, self.communication.partner_state,
                                by_maintenance=True)
        self._run()
        return answer(CONTROL_RESULT_SUCCESS,
                      "Server is now in the partner-down state as its partner appears to be"
                      " offline for maintenance.")

    def maintenance_cancel(self) -> Deferred:
        """ha-maintenance-cancel: bring the partner back from in-maintenance."""
        if self.machine.state is not S.PARTNER_IN_MAINTENANCE:
            return succeed(answer(CONTROL_RESULT_ERROR,
                                  "Unable to cancel maintenance request because the server is"
                                  " not in the partner-in-maintenance state."))
        client = self._partner_client()
        if client is None:
            return succeed(self._no_partner())
        d = maybeDeferred(client.send_command, "ha-maintenance-notify", {"cancel": True},
                          DEFAULT_REQUEST_TIMEOUT_S)
        d.addCallbacks(self._maintenance_canceled, self._maintenance_cancel_failed)
        return d

    def _maintenance_canceled(self, _arguments) -> dict:
        self.machine.revert_after_maintenance(self.communication.partner_state)
        self._run()
        return answer(CONTROL_RESULT_SUCCESS, "Server maintenance successfully canceled.")

    def _maintenance_cancel_failed(self, failure: Failure) -> dict:
        message = _error_message(failure)
        self._log.error("ha-maintenance-notify (cancel) to the partner failed: {reason}",
                        msg_id=("HA_MAINTENANCE_NOTIFY_CANCEL_COMMUNICATIONS_FAILED"
                                if failure.check(PeerCommunicationError)
                                else "HA_MAINTENANCE_NOTIFY_CANCEL_FAILED"),
                        reason=message)
        self.communication.mark_partner_unavailable()
        return answer(CONTROL_RESULT_ERROR,
                      "Unable to cancel maintenance. The partner server responded with the"
                      f" following message to the ha-maintenance-notify command: {message}.")

    def sync_complete_notify(self) -> dict:
        """ha-sync-complete-notify (receiver)."""
        if self.machine.state is S.PARTNER_DOWN:
            self.communication.sync_complete_notified = True
        else:
            self._network_state.enable(ORIGIN_HA_LOCAL)
        return answer(CONTROL_RESULT_SUCCESS,
                      "Server successfully notified about the synchronization completion.")

    def synchronize(self, server_name: str, max_period: int | None) -> Deferred:
        """ha-sync: pull the lease database of C{server_name}."""
        d = maybeDeferred(self.lease_sync.synchronize, server_name, max_period)
        d.addCallbacks(
            lambda _: answer(CONTROL_RESULT_SUCCESS, "Lease database synchronization complete."),
            lambda f: answer(CONTROL_RESULT_ERROR, f.getErrorMessage()))
        return d

    def status_section(self) -> list[dict]:
        """The C{high-availability} value of status-get."""
        local = {"role": self.policy.this_peer.role,
                 "scopes": sorted(self.machine.served_scopes),
                 "state": self.machine.state.value}
        servers: dict[str, Any] = {"local": local}
        partner = self.policy.partner
        if partner is not None and not self.policy.is_backup:
            remote = self.communication.report()
            remote["role"] = partner.role
            servers["remote"] = remote
        return [{"ha-mode": self.policy.mode, "ha-servers": servers}]

    def register_commands(self, registry) -> None:
        """Register the HA commands (L{kea_ha_tw.commands.ha}) in C{registry}."""
        from kea_ha_tw.commands.ha import register_ha_commands
        register_ha_commands(registry, self)
