# -*- test-case-name: tests.test_policies -*-
"""
The HA modes as policy objects: everything that differs between
load-balancing, hot-standby and passive-backup lives here, behind
L{IHAModePolicy}. A new mode is one more class; no other HA module compares
mode labels.

Peers are kept in Kea's order (sorted by name, as Kea's C{std::map}); the
failover partner is the first other peer that is not a backup.
"""

from __future__ import annotations

import enum

from zope.interface import implementer

from kea_ha_tw.config.model import HAConfig, PeerConfig
from kea_ha_tw.dhcp.packet import DHCPPacket
from kea_ha_tw.ha import scopes
from kea_ha_tw.ha.states import HAState, sends_partner_updates_in
from kea_ha_tw.interfaces import IHAModePolicy

ROLE_PRIMARY = "primary"
ROLE_SECONDARY = "secondary"
ROLE_STANDBY = "standby"
ROLE_BACKUP = "backup"

S = HAState

# Kea's per-state scope choice (QueryFilter calls in each handler's entry).
_NO_SCOPES = frozenset({S.BACKUP, S.IN_MAINTENANCE, S.READY, S.SYNCING, S.WAITING})
_DEFAULT_SCOPES = frozenset({
    S.COMMUNICATION_RECOVERY, S.LOAD_BALANCING, S.HOT_STANDBY, S.PASSIVE_BACKUP,
    S.TERMINATED,
})


class UpdateAction(enum.Enum):
    """What happens to a committed lease change for one peer."""

    #: Send C{lease4-update}/C{lease4-del} now.
    SEND = "send"
    #: Push to the communication-recovery backlog.
    QUEUE = "queue"
    #: Not sent; count the query once in C{unsent-update-count}.
    UNSENT = "unsent"
    #: Nothing at all (C{send-lease-updates} is false).
    SKIP = "skip"


class _BasePolicy:
    """What the three modes share (Kea's HAConfig / QueryFilter logic)."""

    mode = ""

    def __init__(self, ha: HAConfig) -> None:
        self.ha = ha
        self.this_peer: PeerConfig = ha.this_peer
        ordered = tuple(sorted(ha.peers, key=lambda p: p.name))
        self.other_peers: tuple[PeerConfig, ...] = tuple(
            p for p in ordered if p.name != ha.this_server_name)
        self.backups: tuple[PeerConfig, ...] = tuple(
            p for p in self.other_peers if p.role == ROLE_BACKUP)
        self.partner: PeerConfig | None = next(
            (p for p in self.other_peers if p.role != ROLE_BACKUP), None)
        self._roles = {p.name: p.role for p in ha.peers}
        self._primary = next((p.name for p in ha.peers if p.role == ROLE_PRIMARY), None)
        self._primary_class = (
            scopes.scope_class(self._primary) if self._primary is not None else None)
        self.is_backup = self.this_peer.role == ROLE_BACKUP
        self.is_primary = self.this_peer.role == ROLE_PRIMARY
        own = self.this_peer
        self._default_scopes = frozenset(
            [own.name] if own.role in (ROLE_PRIMARY, ROLE_SECONDARY) else [])
        self._failover_scopes = frozenset(
            p.name for p in ha.peers if p.role in (ROLE_PRIMARY, ROLE_SECONDARY))
        self.peer_names = frozenset(self._roles)

    # -- roles and states ------------------------------------------------

    def role_of(self, peer_name: str) -> str:
        """The configured role of C{peer_name}."""
        return self._roles[peer_name]

    def normal_state(self) -> HAState:
        """The state a healthy server of this mode and role settles in."""
        if self.is_backup:
            return S.BACKUP
        return self._normal_state

    def has_failover_partner(self) -> bool:
        """True when this server has an active partner to heartbeat with."""
        return not self.is_backup and self.partner is not None and self._has_partner

    def heartbeats_enabled(self) -> bool:
        """True when this server sends heartbeats at all (state permitting)."""
        return self.has_failover_partner()

    def invalid_partner_states(self) -> frozenset[HAState]:
        """Partner states that reveal a configuration mismatch."""
        return self._invalid_partner_states

    def allows_communication_recovery(self) -> bool:
        """True when the mode knows communication-recovery."""
        return False

    def detects_failure_by_unacked_clients(self) -> bool:
        """True when failover waits for unacked clients (shouldPartnerDown)."""
        return False

    # -- scopes ------------------------------------------------------------

    def default_scopes(self) -> frozenset[str]:
        """This server's own scope (none for a standby or a backup)."""
        return self._default_scopes

    def failover_scopes(self) -> frozenset[str]:
        """Every primary and secondary scope."""
        return self._failover_scopes

    def served_scopes(self, state: HAState, by_maintenance: bool = False) -> frozenset[str]:
        """
        The scopes served on entering C{state}. C{by_maintenance}: the
        partner-down state was entered through C{ha-maintenance-start},
        which serves the failover scopes even without auto-failover.
        """
        if state in _NO_SCOPES:
            return frozenset()
        if state in _DEFAULT_SCOPES:
            return self._default_scopes
        if state is S.PARTNER_IN_MAINTENANCE:
            return self._failover_scopes
        if state is S.PARTNER_DOWN:
            if by_maintenance or self.this_peer.auto_failover:
                return self._failover_scopes
            return self._default_scopes
        raise ValueError(f"{state} is not a local state")

    def scope_of(self, query: DHCPPacket) -> str | None:
        """
        The scope (peer name) owning C{query}; queries HA does not scope
        belong to the primary. C{None} when the query has no key.
        """
        return self._primary

    def scope_class_of(self, query: DHCPPacket) -> str | None:
        """C{HA_<scope>} for C{query}, or C{None}."""
        return self._primary_class

    # -- lease updates -----------------------------------------------------

    def update_action(self, peer_name: str, state: HAState) -> UpdateAction:
        """What to do with lease changes for C{peer_name} in C{state}."""
        if not self.ha.send_lease_updates:
            return UpdateAction.SKIP
        if self._roles[peer_name] == ROLE_BACKUP:
            return UpdateAction.SEND
        if self.is_backup:
            return UpdateAction.UNSENT
        if state is S.COMMUNICATION_RECOVERY:
            return UpdateAction.QUEUE
        if sends_partner_updates_in(state):
            return UpdateAction.SEND
        return UpdateAction.UNSENT

    def peers_to_update(self, state: HAState) -> tuple[str, ...]:
        """Names of the peers that get lease updates sent in C{state}."""
        return tuple(p.name for p in self.other_peers
                     if self.update_action(p.name, state) is UpdateAction.SEND)

    def must_wait_for(self, peer_name: str, state: HAState) -> bool:
        """True when the DHCP reply waits for C{peer_name}'s acknowledgement."""
        if self.update_action(peer_name, state) is not UpdateAction.SEND:
            return False
        return self.waits_for(peer_name)

    def waits_for(self, peer_name: str) -> bool:
        """The partner always; a backup only in passive-backup with C{wait-backup-ack}."""
        if self._roles[peer_name] == ROLE_BACKUP:
            return self._waits_for_backups()
        return True

    def _waits_for_backups(self) -> bool:
        return False

    _normal_state = S.WAITING
    _has_partner = True
    _invalid_partner_states: frozenset[HAState] = frozenset()


@implementer(IHAModePolicy)
class LoadBalancingPolicy(_BasePolicy):
    """Two active servers, each answering the half of clients it hashes to."""

    mode = "load-balancing"
    _normal_state = S.LOAD_BALANCING
    _invalid_partner_states = frozenset({S.HOT_STANDBY})

    def __init__(self, ha: HAConfig) -> None:
        super().__init__(ha)
        secondary = next((p.name for p in ha.peers if p.role == ROLE_SECONDARY), None)
        self._owners = (self._primary, secondary)
        self._owner_classes = tuple(
            None if n is None else scopes.scope_class(n) for n in self._owners)

    def allows_communication_recovery(self) -> bool:
        """Load-balancing queues updates while the partner is briefly gone."""
        return True

    def detects_failure_by_unacked_clients(self) -> bool:
        """Both servers watch the partner's clients."""
        return True

    def _index(self, query: DHCPPacket) -> int | None:
        if not scopes.is_ha_type(query):
            return 0
        return scopes.lb_server_index(query, 2)

    def scope_of(self, query: DHCPPacket) -> str | None:
        """The primary or the secondary, by the parity of Kea's hash."""
        index = self._index(query)
        return None if index is None else self._owners[index]

    def scope_class_of(self, query: DHCPPacket) -> str | None:
        """C{HA_<primary>} or C{HA_<secondary>}, or C{None} without a key."""
        index = self._index(query)
        return None if index is None else self._owner_classes[index]


@implementer(IHAModePolicy)
class HotStandbyPolicy(_BasePolicy):
    """The primary answers everything; the standby watches and takes over."""

    mode = "hot-standby"
    _normal_state = S.HOT_STANDBY
    _invalid_partner_states = frozenset({S.LOAD_BALANCING, S.COMMUNICATION_RECOVERY})

    def detects_failure_by_unacked_clients(self) -> bool:
        """Only the standby sees the primary's clients go unanswered."""
        return self.this_peer.role == ROLE_STANDBY


@implementer(IHAModePolicy)
class PassiveBackupPolicy(_BasePolicy):
    """One active primary pushing lease updates to backups; no heartbeats."""

    mode = "passive-backup"
    _normal_state = S.PASSIVE_BACKUP
    _has_partner = False
    _invalid_partner_states = frozenset({
        S.LOAD_BALANCING, S.COMMUNICATION_RECOVERY, S.HOT_STANDBY})

    def _waits_for_backups(self) -> bool:
        return self.ha.wait_backup_ack


_POLICIES = {cls.mode: cls for cls in (LoadBalancingPolicy, HotStandbyPolicy, PassiveBackupPolicy)}


def policy_for(ha: HAConfig) -> IHAModePolicy:
    """The policy object of C{ha}'s mode."""
    try:
        cls = _POLICIES[ha.mode]
    except KeyError:
        raise ValueError(f"unsupported HA mode '{ha.mode}'") from None
    return cls(ha)
