# -*- test-case-name: tests.test_states -*-
"""
The HA states of Kea 2.2 and its transition rules, as pure functions.

L{next_state} holds every state handler of Kea's C{HAService}
(C{waitingStateHandler}, C{syncingStateHandler}, ...): given the current
state, the partner's state as seen in the last heartbeat (or
L{HAState.UNAVAILABLE} after a failed exchange, or C{None} before any
exchange), the L{Facts} of the moment and the mode policy, it names the
state to go to. L{pending_action} names the asynchronous work (a lease
database sync, a backlog replay) that the state needs before it can
decide; its outcome comes back in L{Facts}.

The per-state table of the seed and of reference section 5.1 (DHCP service,
heartbeats, lease updates to the partner) is here too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HAState(enum.Enum):
    """Kea's HA states; C{value} is exactly Kea's label."""

    BACKUP = "backup"
    COMMUNICATION_RECOVERY = "communication-recovery"
    HOT_STANDBY = "hot-standby"
    LOAD_BALANCING = "load-balancing"
    IN_MAINTENANCE = "in-maintenance"
    PARTNER_DOWN = "partner-down"
    PARTNER_IN_MAINTENANCE = "partner-in-maintenance"
    PASSIVE_BACKUP = "passive-backup"
    READY = "ready"
    SYNCING = "syncing"
    TERMINATED = "terminated"
    WAITING = "waiting"
    # A pseudo-state: what we know of a partner we cannot talk to. Never a
    # local state and never reported to anyone.
    UNAVAILABLE = "unavailable"


S = HAState

#: The twelve states a server may be in and may report in a heartbeat.
REPORTABLE_STATES = frozenset(s for s in HAState if s is not S.UNAVAILABLE)

_BY_LABEL = {s.value: s for s in REPORTABLE_STATES}


def parse_reported_state(label: object) -> HAState:
    """
    The state a partner reports (C{ha-heartbeat} C{state}), which must be
    one of the twelve real labels.

    @raise ValueError: for anything else, C{"unavailable"} included.
    """
    try:
        return _BY_LABEL[label]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported HA partner state returned {label}") from None


# Seed table / reference 5.1: states in which the DHCP service is enabled
# (Kea's adjustNetworkState).
_DHCP_ENABLED = frozenset({
    S.COMMUNICATION_RECOVERY, S.LOAD_BALANCING, S.HOT_STANDBY, S.PARTNER_DOWN,
    S.PARTNER_IN_MAINTENANCE, S.PASSIVE_BACKUP, S.TERMINATED,
})

# States whose handler keeps the heartbeat going (an active server only).
_HEARTBEATS = frozenset({
    S.WAITING, S.SYNCING, S.READY, S.LOAD_BALANCING, S.HOT_STANDBY,
    S.COMMUNICATION_RECOVERY, S.PARTNER_DOWN, S.PARTNER_IN_MAINTENANCE,
    S.IN_MAINTENANCE,
})

# Kea's shouldSendLeaseUpdates for the (non-backup) partner.
_PARTNER_UPDATES = frozenset({S.LOAD_BALANCING, S.HOT_STANDBY, S.PARTNER_IN_MAINTENANCE})

# Handlers that assess the clock skew (shouldTerminate).
_SKEW_CHECKED = frozenset({
    S.WAITING, S.SYNCING, S.READY, S.LOAD_BALANCING, S.HOT_STANDBY,
    S.COMMUNICATION_RECOVERY, S.PARTNER_DOWN, S.PARTNER_IN_MAINTENANCE,
})

#: Warn above this many seconds of clock skew (HA_HIGH_CLOCK_SKEW).
CLOCK_SKEW_WARN_S = 30
#: Terminate above this many seconds of clock skew.
CLOCK_SKEW_TERMINATE_S = 60


def dhcp_enabled_in(state: HAState) -> bool:
    """True when this server's DHCP service is enabled in C{state}."""
    return state in _DHCP_ENABLED


def sends_heartbeats_in(state: HAState) -> bool:
    """True when an active server sends heartbeats in C{state}."""
    return state in _HEARTBEATS


def sends_partner_updates_in(state: HAState) -> bool:
    """True when lease updates go to the active partner in C{state}."""
    return state in _PARTNER_UPDATES


def assesses_clock_skew_in(state: HAState) -> bool:
    """True when the C{state} handler checks the clock skew."""
    return state in _SKEW_CHECKED


def skew_terminates(clock_skew_s: float) -> bool:
    """True when a skew of C{clock_skew_s} seconds sends us to terminated."""
    return abs(clock_skew_s) > CLOCK_SKEW_TERMINATE_S


def skew_warns(clock_skew_s: float) -> bool:
    """True when a skew of C{clock_skew_s} seconds deserves a warning."""
    return abs(clock_skew_s) > CLOCK_SKEW_WARN_S


class Action(enum.Enum):
    """Asynchronous work a state needs before it can decide."""

    #: Synchronize the lease database from the partner (syncing).
    SYNC = "sync"
    #: Replay the backlog, or send ha-reset (communication-recovery).
    RECOVER = "recover"


class RecoveryResult(enum.Enum):
    """How leaving communication-recovery went."""

    #: The backlog was sent: go to the normal state.
    REPLAYED = "replayed"
    #: The backlog overflowed or failed, ha-reset succeeded: go to waiting.
    RESET_OK = "reset-ok"
    #: ha-reset failed too: stay.
    RESET_FAILED = "reset-failed"


@dataclass(frozen=True, slots=True)
class Facts:
    """
    Everything besides the states that a transition depends on.

    @ivar is_backup: this server's role is C{backup}.
    @ivar is_primary: this server's role is C{primary}.
    @ivar sync_leases: the C{sync-leases} parameter.
    @ivar clock_skew_s: partner time minus our time at the last heartbeat.
    @ivar communication_interrupted: no successful heartbeat for longer
        than C{max-response-delay}.
    @ivar dhcp_enabled: the local DHCP service is enabled (all origins).
    @ivar unacked_clients: distinct clients seen unacked while interrupted.
    @ivar max_unacked_clients: the C{max-unacked-clients} parameter.
    @ivar partner_has_new_unsent_updates: Kea's hasPartnerNewUnsentUpdates.
    @ivar backlog_overflowed: the communication-recovery backlog overflowed.
    @ivar delayed_updates_limit: the C{delayed-updates-limit} parameter.
    @ivar paused: the state machine is paused (C{state-machine} config).
    @ivar maintenance_cancel_pending: this run directly follows a
        maintenance cancel (Kea's HA_MAINTENANCE_CANCEL_EVT).
    @ivar sync_result: outcome of the sync started in this syncing state
        (C{None}: none finished yet).
    @ivar recovery_result: outcome of the communication-recovery exit work.
    """

    is_backup: bool = False
    is_primary: bool = False
    sync_leases: bool = True
    clock_skew_s: float = 0.0
    communication_interrupted: bool = False
    dhcp_enabled: bool = False
    unacked_clients: int = 0
    max_unacked_clients: int = 10
    partner_has_new_unsent_updates: bool = False
    backlog_overflowed: bool = False
    delayed_updates_limit: int = 0
    paused: bool = False
    maintenance_cancel_pending: bool = False
    sync_result: bool | None = None
    recovery_result: RecoveryResult | None = None


def failure_detected(unacked_clients: int, max_unacked_clients: int) -> bool:
    """Kea's failureDetected: 0 means at once, else more than the maximum."""
    return max_unacked_clients == 0 or unacked_clients > max_unacked_clients


def should_partner_down(facts: Facts, policy) -> bool:
    """
    Kea's shouldPartnerDown: only when communication is interrupted; then
    the unacked-clients rule if we serve DHCP and can watch the partner's
    clients (load-balancing, or the standby), else at once.
    """
    if not facts.communication_interrupted:
        return False
    if facts.dhcp_enabled and policy.detects_failure_by_unacked_clients():
        return failure_detected(facts.unacked_clients, facts.max_unacked_clients)
    return True


def next_state(current: HAState, partner: HAState | None, facts: Facts, policy) -> HAState:
    """
    The state to go to from C{current}; C{current} itself means stay.

    @param partner: the partner's last known state, or C{None} if unknown.
    @param policy: the L{IHAModePolicy} of this server.
    """
    return decide(current, partner, facts, policy)[0]


def pending_action(current: HAState, partner: HAState | None, facts: Facts,
                   policy) -> Action | None:
    """The asynchronous work C{current} waits for, or C{None}."""
    return decide(current, partner, facts, policy)[1]


_Decision = tuple[HAState, "Action | None"]

_SYNC_WORTHY = frozenset({
    S.COMMUNICATION_RECOVERY, S.HOT_STANDBY, S.LOAD_BALANCING, S.IN_MAINTENANCE,
    S.PARTNER_DOWN, S.PARTNER_IN_MAINTENANCE, S.READY,
})


def decide(current: HAState, partner: HAState | None, facts: Facts, policy) -> _Decision:
    """
    One run of Kea 2.2's handler for C{current}: the next state and the
    action to start (sync, backlog replay) given C{partner}'s last
    reported state (None before any heartbeat) and C{facts}.
    """
    if current in (S.TERMINATED, S.BACKUP, S.PASSIVE_BACKUP, S.IN_MAINTENANCE):
        return current, None
    if current is S.PARTNER_IN_MAINTENANCE:
        return _partner_in_maintenance(partner, facts), None
    if facts.paused or facts.maintenance_cancel_pending:
        return current, None
    if current is S.WAITING:
        if facts.is_backup:
            return S.BACKUP, None
        if not policy.has_failover_partner():
            return policy.normal_state(), None
    if skew_terminates(facts.clock_skew_s):
        return S.TERMINATED, None
    if partner is not None and partner in policy.invalid_partner_states():
        return S.WAITING, None
    handler = _HANDLERS.get(current)
    if handler is None:
        raise ValueError(f"{current} is not a local state")
    return handler(current, partner, facts, policy)


def _partner_in_maintenance(partner, facts) -> HAState:
    # Kea checks neither a pending maintenance cancel nor the partner state
    # validity here.
    if facts.paused:
        return S.PARTNER_IN_MAINTENANCE
    if skew_terminates(facts.clock_skew_s):
        return S.TERMINATED
    if partner is S.UNAVAILABLE:
        return S.PARTNER_DOWN
    return S.PARTNER_IN_MAINTENANCE


def _after_waiting(facts) -> HAState:
    return S.SYNCING if facts.sync_leases else S.READY


def _waiting(current, partner, facts, policy) -> _Decision:
    if partner in _SYNC_WORTHY:
        return _after_waiting(facts), None
    if partner is S.WAITING:
        return (_after_waiting(facts) if facts.is_primary else S.WAITING), None
    if partner is S.UNAVAILABLE and should_partner_down(facts, policy):
        return S.PARTNER_DOWN, None
    # syncing, terminated (Kea 2.2 waits forever), unavailable, unknown.
    return S.WAITING, None


def _syncing(current, partner, facts, policy) -> _Decision:
    if partner is S.TERMINATED:
        return S.TERMINATED, None
    if partner is S.UNAVAILABLE:
        if should_partner_down(facts, policy):
            return S.PARTNER_DOWN, None
        return S.SYNCING, None
    if facts.sync_result is None:
        return S.SYNCING, Action.SYNC
    return (S.READY if facts.sync_result else S.SYNCING), None


def _ready(current, partner, facts, policy) -> _Decision:
    if partner in (S.HOT_STANDBY, S.LOAD_BALANCING, S.COMMUNICATION_RECOVERY):
        return policy.normal_state(), None
    if partner is S.IN_MAINTENANCE:
        return S.PARTNER_IN_MAINTENANCE, None
    if partner is S.PARTNER_IN_MAINTENANCE:
        return S.IN_MAINTENANCE, None
    if partner is S.READY:
        return (policy.normal_state() if facts.is_primary else S.READY), None
    if partner is S.TERMINATED:
        return S.TERMINATED, None
    if partner is S.UNAVAILABLE and should_partner_down(facts, policy):
        return S.PARTNER_DOWN, None
    return S.READY, None


_COMMON_PARTNER_MOVES = {
    S.IN_MAINTENANCE: S.PARTNER_IN_MAINTENANCE,
    S.PARTNER_DOWN: S.WAITING,
    S.PARTNER_IN_MAINTENANCE: S.IN_MAINTENANCE,
    S.TERMINATED: S.TERMINATED,
}


def _common_partner_moves(partner) -> HAState | None:
    # Shared by the normal and the communication-recovery handlers.
    return _COMMON_PARTNER_MOVES.get(partner)


def _normal(current, partner, facts, policy) -> _Decision:
    moved = _common_partner_moves(partner)
    if moved is not None:
        return moved, None
    if partner is S.UNAVAILABLE:
        if should_partner_down(facts, policy):
            return S.PARTNER_DOWN, None
        if policy.allows_communication_recovery() and facts.delayed_updates_limit > 0:
            return S.COMMUNICATION_RECOVERY, None
    return current, None


def _communication_recovery(current, partner, facts, policy) -> _Decision:
    stay = S.COMMUNICATION_RECOVERY
    moved = _common_partner_moves(partner)
    if moved is not None:
        return moved, None
    if partner is S.UNAVAILABLE:
        return (S.PARTNER_DOWN if should_partner_down(facts, policy) else stay), None
    if partner in (S.WAITING, S.SYNCING, S.READY):
        if not facts.communication_interrupted and facts.backlog_overflowed:
            return S.WAITING, None
        return stay, None
    if facts.communication_interrupted:
        return stay, None
    if partner in (policy.normal_state(), S.COMMUNICATION_RECOVERY):
        result = facts.recovery_result
        if result is None:
            return stay, Action.RECOVER
        if result is RecoveryResult.REPLAYED:
            return policy.normal_state(), None
        if result is RecoveryResult.RESET_OK:
            return S.WAITING, None
        return stay, None
    return S.WAITING, None


def _partner_down(current, partner, facts, policy) -> _Decision:
    if partner in (S.COMMUNICATION_RECOVERY, S.PARTNER_DOWN, S.PARTNER_IN_MAINTENANCE):
        return S.WAITING, None
    if partner is S.READY:
        if facts.partner_has_new_unsent_updates:
            return S.WAITING, None
        return policy.normal_state(), None
    if partner is S.TERMINATED:
        return S.TERMINATED, None
    return S.PARTNER_DOWN, None


_HANDLERS = {
    S.WAITING: _waiting,
    S.SYNCING: _syncing,
    S.READY: _ready,
    S.LOAD_BALANCING: _normal,
    S.HOT_STANDBY: _normal,
    S.COMMUNICATION_RECOVERY: _communication_recovery,
    S.PARTNER_DOWN: _partner_down,
}
