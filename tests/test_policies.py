"""
Tests for L{kea_ha_tw.ha.policies}: scopes per state (reference 6.3 and
the seed's table), query ownership, lease update rules (send, queue,
unsent, skip; who is waited for) and the per-mode answers the state
machine relies on.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.dhcp.packet import MessageType
from kea_ha_tw.ha.policies import (
    HotStandbyPolicy, LoadBalancingPolicy, PassiveBackupPolicy, UpdateAction, policy_for,
)
from kea_ha_tw.ha.states import REPORTABLE_STATES, HAState
from kea_ha_tw.interfaces import IHAModePolicy
from tests.ha_helpers import ha_config, query

S = HAState
NONE: frozenset[str] = frozenset()
BOTH = frozenset({"server1", "server2"})
ONE = frozenset({"server1"})
TWO = frozenset({"server2"})

# Kea's client-id vectors: 01132cded6237b -> primary, 0194d6493c9d5c -> secondary.
PRIMARY_QUERY = query(client_id=bytes.fromhex("01132cded6237b"))
SECONDARY_QUERY = query(client_id=bytes.fromhex("0194d6493c9d5c"))


class InterfaceTests(SynchronousTestCase):
    """Each mode is an IHAModePolicy chosen from the configuration."""

    def test_policy_for(self):
        """policy_for picks the class of the mode, and each provides the interface."""
        for mode, cls in (("load-balancing", LoadBalancingPolicy),
                          ("hot-standby", HotStandbyPolicy),
                          ("passive-backup", PassiveBackupPolicy)):
            policy = policy_for(ha_config(mode, backups=1))
            self.assertIsInstance(policy, cls)
            self.assertEqual(policy.mode, mode)
            self.assertTrue(verifyObject(IHAModePolicy, policy))

    def test_unknown_mode(self):
        """An unknown mode is refused."""
        from dataclasses import replace
        self.assertRaises(ValueError, policy_for, replace(ha_config(), mode="hub"))

    def test_peers_in_kea_order(self):
        """Other peers sorted by name; the partner is the first non-backup."""
        policy = policy_for(ha_config("hot-standby", "server2", backups=2))
        self.assertEqual([p.name for p in policy.other_peers], ["backup1", "backup2", "server1"])
        self.assertEqual(policy.partner.name, "server1")
        self.assertEqual([p.name for p in policy.backups], ["backup1", "backup2"])
        passive = policy_for(ha_config("passive-backup", backups=2))
        self.assertIsNone(passive.partner)
        backup = policy_for(ha_config("load-balancing", "backup1", backups=1))
        self.assertEqual(backup.partner.name, "server1")
        self.assertFalse(backup.has_failover_partner())


class NormalStateTests(SynchronousTestCase):
    """What each mode and role settles in, and what it may see of its partner."""

    def test_normal_states(self):
        """LB, HS, passive-backup; backups are always in backup."""
        cases = [(("load-balancing", "server1"), S.LOAD_BALANCING),
                 (("load-balancing", "server2"), S.LOAD_BALANCING),
                 (("hot-standby", "server2"), S.HOT_STANDBY),
                 (("passive-backup", "server1"), S.PASSIVE_BACKUP),
                 (("hot-standby", "backup1"), S.BACKUP),
                 (("passive-backup", "backup1"), S.BACKUP)]
        for (mode, this), expected in cases:
            self.assertIs(policy_for(ha_config(mode, this, backups=1)).normal_state(), expected)

    def test_heartbeats(self):
        """Only the two active servers of LB and HS exchange heartbeats."""
        cases = [(("load-balancing", "server1"), True), (("hot-standby", "server2"), True),
                 (("passive-backup", "server1"), False), (("load-balancing", "backup1"), False)]
        for (mode, this), expected in cases:
            policy = policy_for(ha_config(mode, this, backups=1))
            self.assertEqual(policy.heartbeats_enabled(), expected, (mode, this))

    def test_invalid_partner_states(self):
        """A partner in the other mode's normal state reveals a mismatch."""
        self.assertEqual(policy_for(ha_config("load-balancing")).invalid_partner_states(),
                         {S.HOT_STANDBY})
        self.assertEqual(policy_for(ha_config("hot-standby")).invalid_partner_states(),
                         {S.LOAD_BALANCING, S.COMMUNICATION_RECOVERY})

    def test_failure_detection(self):
        """Unacked clients decide for LB and for the standby, not for the HS primary."""
        self.assertTrue(policy_for(ha_config("load-balancing")).detects_failure_by_unacked_clients())
        self.assertTrue(policy_for(ha_config("hot-standby", "server2"))
                        .detects_failure_by_unacked_clients())
        self.assertFalse(policy_for(ha_config("hot-standby")).detects_failure_by_unacked_clients())
        self.assertTrue(policy_for(ha_config("load-balancing")).allows_communication_recovery())
        self.assertFalse(policy_for(ha_config("hot-standby")).allows_communication_recovery())


class ScopeTests(SynchronousTestCase):
    """Served scopes per state, as in the seed's table."""

    def served(self, mode, this, auto_failover=True):
        """{state: scopes} for every local state."""
        policy = policy_for(ha_config(mode, this, backups=1, auto_failover=auto_failover))
        return {s: policy.served_scopes(s) for s in REPORTABLE_STATES}

    def test_load_balancing(self):
        """Own scope normally, both when the partner is down or in maintenance."""
        for this, own in (("server1", ONE), ("server2", TWO)):
            served = self.served("load-balancing", this)
            for state in (S.WAITING, S.SYNCING, S.READY, S.IN_MAINTENANCE, S.BACKUP):
                self.assertEqual(served[state], NONE, state)
            for state in (S.LOAD_BALANCING, S.COMMUNICATION_RECOVERY, S.TERMINATED):
                self.assertEqual(served[state], own, state)
            self.assertEqual(served[S.PARTNER_DOWN], BOTH)
            self.assertEqual(served[S.PARTNER_IN_MAINTENANCE], BOTH)

    def test_hot_standby(self):
        """The primary serves its scope; the standby nothing until the primary is down."""
        primary = self.served("hot-standby", "server1")
        standby = self.served("hot-standby", "server2")
        self.assertEqual(primary[S.HOT_STANDBY], ONE)
        self.assertEqual(standby[S.HOT_STANDBY], NONE)
        self.assertEqual(standby[S.PARTNER_DOWN], ONE)
        self.assertEqual(standby[S.PARTNER_IN_MAINTENANCE], ONE)
        self.assertEqual(standby[S.TERMINATED], NONE)

    def test_passive_backup(self):
        """The passive-backup primary serves everything; a backup nothing."""
        self.assertEqual(self.served("passive-backup", "server1")[S.PASSIVE_BACKUP], ONE)
        self.assertEqual(self.served("passive-backup", "backup1")[S.BACKUP], NONE)

    def test_auto_failover_false(self):
        """Without auto-failover, partner-down keeps the own scope unless by maintenance."""
        policy = policy_for(ha_config("load-balancing", "server2", auto_failover=False))
        self.assertEqual(policy.served_scopes(S.PARTNER_DOWN), TWO)
        self.assertEqual(policy.served_scopes(S.PARTNER_DOWN, by_maintenance=True), BOTH)
        self.assertEqual(policy.served_scopes(S.PARTNER_IN_MAINTENANCE), BOTH)

    def test_unavailable_has_no_scopes(self):
        """The partner pseudo-state is not a local state."""
        policy = policy_for(ha_config())
        self.assertRaises(ValueError, policy.served_scopes, S.UNAVAILABLE)


class OwnershipTests(SynchronousTestCase):
    """scope_of / scope_class_of for each mode."""

    def test_load_balancing(self):
        """The hash parity names the owner; unscoped types belong to the primary."""
        policy = policy_for(ha_config("load-balancing", "server2"))
        self.assertEqual(policy.scope_of(PRIMARY_QUERY), "server1")
        self.assertEqual(policy.scope_of(SECONDARY_QUERY), "server2")
        self.assertEqual(policy.scope_class_of(SECONDARY_QUERY), "HA_server2")
        for t in (MessageType.REQUEST, MessageType.DECLINE, MessageType.RELEASE,
                  MessageType.INFORM):
            q = query(message_type=t, client_id=bytes.fromhex("0194d6493c9d5c"))
            self.assertEqual(policy.scope_of(q), "server2")
        unscoped = query(message_type=None, client_id=bytes.fromhex("0194d6493c9d5c"))
        self.assertEqual(policy.scope_of(unscoped), "server1")
        self.assertIsNone(policy.scope_of(query(hlen=0)))
        self.assertIsNone(policy.scope_class_of(query(hlen=0)))

    def test_hot_standby_and_passive(self):
        """No hash: every query is the primary's, even without a key."""
        for mode in ("hot-standby", "passive-backup"):
            policy = policy_for(ha_config(mode))
            self.assertEqual(policy.scope_of(SECONDARY_QUERY), "server1")
            self.assertEqual(policy.scope_of(query(hlen=0)), "server1")
            self.assertEqual(policy.scope_class_of(SECONDARY_QUERY), "HA_server1")


class UpdateTests(SynchronousTestCase):
    """Who gets lease updates, and who the reply waits for."""

    def test_partner_per_state(self):
        """Sent in LB/HS/partner-in-maintenance, queued in comm-recovery, unsent elsewhere."""
        policy = policy_for(ha_config("load-balancing", backups=1))
        expected = {S.LOAD_BALANCING: UpdateAction.SEND,
                    S.PARTNER_IN_MAINTENANCE: UpdateAction.SEND,
                    S.COMMUNICATION_RECOVERY: UpdateAction.QUEUE,
                    S.PARTNER_DOWN: UpdateAction.UNSENT,
                    S.TERMINATED: UpdateAction.UNSENT,
                    S.WAITING: UpdateAction.UNSENT}
        for state, action in expected.items():
            self.assertIs(policy.update_action("server2", state), action, state)
            self.assertIs(policy.update_action("backup1", state), UpdateAction.SEND, state)
        self.assertEqual(policy.peers_to_update(S.LOAD_BALANCING), ("backup1", "server2"))
        self.assertEqual(policy.peers_to_update(S.PARTNER_DOWN), ("backup1",))

    def test_must_wait_for(self):
        """The partner always when sent to, backups never outside passive-backup."""
        policy = policy_for(ha_config("hot-standby", backups=1))
        self.assertTrue(policy.must_wait_for("server2", S.HOT_STANDBY))
        self.assertTrue(policy.must_wait_for("server2", S.PARTNER_IN_MAINTENANCE))
        self.assertFalse(policy.must_wait_for("server2", S.PARTNER_DOWN))
        self.assertFalse(policy.must_wait_for("server2", S.TERMINATED))
        self.assertFalse(policy.must_wait_for("backup1", S.HOT_STANDBY))

    def test_waits_for(self):
        """Whatever the state: the partner yes, backups only with wait-backup-ack."""
        hot = policy_for(ha_config("hot-standby", backups=1))
        self.assertTrue(hot.waits_for("server2"))
        self.assertFalse(hot.waits_for("backup1"))
        lazy = policy_for(ha_config("passive-backup", backups=1))
        strict = policy_for(ha_config("passive-backup", backups=1, wait_backup_ack=True))
        self.assertFalse(lazy.waits_for("backup1"))
        self.assertTrue(strict.waits_for("backup1"))

    def test_wait_backup_ack(self):
        """Passive-backup waits for backups only with wait-backup-ack."""
        lazy = policy_for(ha_config("passive-backup", backups=2))
        strict = policy_for(ha_config("passive-backup", backups=2, wait_backup_ack=True))
        self.assertEqual(lazy.peers_to_update(S.PASSIVE_BACKUP), ("backup1", "backup2"))
        self.assertFalse(lazy.must_wait_for("backup1", S.PASSIVE_BACKUP))
        self.assertTrue(strict.must_wait_for("backup1", S.PASSIVE_BACKUP))
        self.assertTrue(strict.must_wait_for("backup2", S.PASSIVE_BACKUP))

    def test_send_lease_updates_false(self):
        """send-lease-updates false: nothing to anyone."""
        policy = policy_for(ha_config("load-balancing", backups=1, send_lease_updates=False))
        for name in ("server2", "backup1"):
            self.assertIs(policy.update_action(name, S.LOAD_BALANCING), UpdateAction.SKIP)
            self.assertFalse(policy.must_wait_for(name, S.LOAD_BALANCING))
        self.assertEqual(policy.peers_to_update(S.LOAD_BALANCING), ())

    def test_backup_server_never_updates_partners(self):
        """A backup never sends updates to the active servers."""
        policy = policy_for(ha_config("load-balancing", "backup1", backups=1))
        self.assertIs(policy.update_action("server1", S.BACKUP), UpdateAction.UNSENT)
