"""
Tests for L{kea_ha_tw.ha.states}: the transition table of Kea 2.2
(reference section 5.2), written out independently of the implementation,
for every (local state, partner state) pair of every mode and role, plus
the per-state facts of the seed's table.
"""

from __future__ import annotations

from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.ha.policies import policy_for
from kea_ha_tw.ha.states import (
    REPORTABLE_STATES, Action, Facts, HAState, RecoveryResult, dhcp_enabled_in, next_state,
    parse_reported_state, pending_action, sends_heartbeats_in, sends_partner_updates_in,
    should_partner_down,
)
from tests.ha_helpers import ha_config

S = HAState
W, SY, RD = S.WAITING, S.SYNCING, S.READY
LB, HS, CR = S.LOAD_BALANCING, S.HOT_STANDBY, S.COMMUNICATION_RECOVERY
PD, PIM, IM = S.PARTNER_DOWN, S.PARTNER_IN_MAINTENANCE, S.IN_MAINTENANCE
T, B, PB, U = S.TERMINATED, S.BACKUP, S.PASSIVE_BACKUP, S.UNAVAILABLE

#: Every partner state the machine can know: the 13 labels and "unknown".
PARTNERS = list(HAState) + [None]


def facts_for(policy, **changes) -> Facts:
    """Baseline facts: link up, no skew, nothing pending."""
    base = Facts(is_backup=policy.is_backup, is_primary=policy.is_primary,
                 delayed_updates_limit=policy.ha.delayed_updates_limit)
    return replace(base, **changes)


# The expected table, from reference 5.2 (each handler), for baseline
# facts. Unlisted partner states mean "stay".
def _lb_table(primary: bool) -> dict:
    return {
        W: {CR: SY, HS: W, LB: SY, IM: SY, PD: SY, PIM: SY, RD: SY, W: SY if primary else W},
        SY: {p: SY for p in PARTNERS} | {HS: W, T: T},
        RD: {HS: W, LB: LB, CR: LB, IM: PIM, PIM: IM, RD: LB if primary else RD, T: T},
        LB: {HS: W, IM: PIM, PD: W, PIM: IM, T: T, U: CR},
        CR: {HS: W, IM: PIM, PD: W, PIM: IM, T: T, B: W, PB: W, None: W},
        PD: {HS: W, CR: W, PD: W, PIM: W, RD: LB, T: T},
        PIM: {U: PD},
        IM: {}, T: {},
    }


def _hs_table(primary: bool) -> dict:
    bad = {LB: W, CR: W}
    return {
        W: {HS: SY, IM: SY, PD: SY, PIM: SY, RD: SY, W: SY if primary else W},
        SY: {p: SY for p in PARTNERS} | bad | {T: T},
        RD: bad | {HS: HS, IM: PIM, PIM: IM, RD: HS if primary else RD, T: T},
        HS: bad | {IM: PIM, PD: W, PIM: IM, T: T},
        PD: bad | {PD: W, PIM: W, RD: HS, T: T},
        PIM: {U: PD},
        IM: {}, T: {},
    }


TABLES = {
    ("load-balancing", "server1"): _lb_table(True),
    ("load-balancing", "server2"): _lb_table(False),
    ("hot-standby", "server1"): _hs_table(True),
    ("hot-standby", "server2"): _hs_table(False),
    ("passive-backup", "server1"): {W: {p: PB for p in PARTNERS}, PB: {}},
    ("load-balancing", "backup1"): {W: {p: B for p in PARTNERS}, B: {}},
    ("hot-standby", "backup1"): {W: {p: B for p in PARTNERS}, B: {}},
    ("passive-backup", "backup1"): {W: {p: B for p in PARTNERS}, B: {}},
}


class TransitionTableTests(SynchronousTestCase):
    """next_state against Kea's table, every pair, every mode and role."""

    def test_table(self):
        """Each (state, partner) pair gives the state of the table."""
        checked = 0
        for (mode, this), table in TABLES.items():
            policy = policy_for(ha_config(mode, this, backups=1))
            facts = facts_for(policy)
            for current, row in table.items():
                for partner in PARTNERS:
                    expected = row.get(partner, current)
                    got = next_state(current, partner, facts, policy)
                    self.assertIs(got, expected, (mode, this, current, partner))
                    checked += 1
        self.assertEqual(checked, 14 * (9 + 9 + 8 + 8 + 2 + 2 + 2 + 2))

    def test_terminal_states_ignore_everything(self):
        """terminated, backup, passive-backup, in-maintenance never move on their own."""
        policy = policy_for(ha_config("load-balancing"))
        worst = facts_for(policy, clock_skew_s=500, communication_interrupted=True,
                          max_unacked_clients=0)
        for current in (T, B, PB, IM):
            for partner in PARTNERS:
                self.assertIs(next_state(current, partner, worst, policy), current)

    def test_unknown_local_state(self):
        """unavailable is no local state."""
        policy = policy_for(ha_config("load-balancing"))
        self.assertRaises(ValueError, next_state, U, LB, facts_for(policy), policy)


class FactsTests(SynchronousTestCase):
    """The branches that depend on facts rather than on the partner state."""

    def setUp(self):
        """Policies of each kind."""
        self.lb = policy_for(ha_config("load-balancing"))
        self.hs_primary = policy_for(ha_config("hot-standby"))
        self.hs_standby = policy_for(ha_config("hot-standby", "server2"))

    def test_paused_stays(self):
        """A paused machine stays, but partner-in-maintenance still fails over."""
        paused = facts_for(self.lb, paused=True, communication_interrupted=True,
                           max_unacked_clients=0, clock_skew_s=100)
        for current in (W, SY, RD, LB, CR, PD):
            for partner in PARTNERS:
                self.assertIs(next_state(current, partner, paused, self.lb), current)
        self.assertIs(next_state(PIM, U, paused, self.lb), PIM)

    def test_maintenance_cancel_pending_stays(self):
        """The run after a maintenance cancel changes nothing (not checked in PIM)."""
        pending = facts_for(self.lb, maintenance_cancel_pending=True)
        self.assertIs(next_state(LB, PD, pending, self.lb), LB)
        self.assertIs(next_state(W, LB, pending, self.lb), W)
        self.assertIs(next_state(PIM, U, pending, self.lb), PD)

    def test_clock_skew(self):
        """More than 60 s either way terminates; exactly 60 s does not."""
        for skew, expected in ((61, T), (-61, T), (60, LB), (-60, LB), (45, LB)):
            facts = facts_for(self.lb, clock_skew_s=skew)
            self.assertIs(next_state(LB, LB, facts, self.lb), expected, skew)
        high = facts_for(self.lb, clock_skew_s=75)
        for current in (W, SY, RD, LB, CR, PD, PIM):
            self.assertIs(next_state(current, LB, high, self.lb), T, current)

    def test_skew_ignored_for_backups_and_passive(self):
        """Backups and passive-backup primaries leave waiting before the skew check."""
        backup = policy_for(ha_config("load-balancing", "backup1", backups=1))
        passive = policy_for(ha_config("passive-backup"))
        self.assertIs(next_state(W, None, facts_for(backup, clock_skew_s=99), backup), B)
        self.assertIs(next_state(W, None, facts_for(passive, clock_skew_s=99), passive), PB)

    def test_waiting_syncing_ready_go_partner_down_when_interrupted(self):
        """DHCP is disabled there, so an interrupted link means partner-down at once."""
        facts = facts_for(self.lb, communication_interrupted=True, dhcp_enabled=False)
        for current in (W, SY, RD):
            self.assertIs(next_state(current, U, facts, self.lb), PD)
            self.assertIs(next_state(current, U, replace(facts, communication_interrupted=False),
                                     self.lb), current)

    def test_load_balancing_unacked_rule(self):
        """LB serving DHCP waits for more than max-unacked-clients unacked clients."""
        base = facts_for(self.lb, communication_interrupted=True, dhcp_enabled=True,
                         max_unacked_clients=10)
        self.assertIs(next_state(LB, U, replace(base, unacked_clients=10), self.lb), CR)
        self.assertIs(next_state(LB, U, replace(base, unacked_clients=11), self.lb), PD)
        self.assertIs(next_state(LB, U, replace(base, max_unacked_clients=0), self.lb), PD)
        self.assertIs(next_state(CR, U, replace(base, unacked_clients=3), self.lb), CR)
        self.assertIs(next_state(CR, U, replace(base, unacked_clients=11), self.lb), PD)

    def test_load_balancing_without_communication_recovery(self):
        """delayed-updates-limit 0: an unreachable partner leaves LB as it is."""
        facts = facts_for(self.lb, delayed_updates_limit=0)
        self.assertIs(next_state(LB, U, facts, self.lb), LB)

    def test_hot_standby_primary_fails_over_at_once(self):
        """The HS primary cannot watch the standby's clients: interrupted means down."""
        facts = facts_for(self.hs_primary, communication_interrupted=True, dhcp_enabled=True,
                          max_unacked_clients=10)
        self.assertIs(next_state(HS, U, facts, self.hs_primary), PD)
        self.assertIs(next_state(HS, U, replace(facts, communication_interrupted=False),
                                 self.hs_primary), HS)

    def test_hot_standby_standby_waits_for_unacked(self):
        """The standby applies the unacked-clients rule."""
        facts = facts_for(self.hs_standby, communication_interrupted=True, dhcp_enabled=True,
                          max_unacked_clients=2, unacked_clients=2)
        self.assertIs(next_state(HS, U, facts, self.hs_standby), HS)
        self.assertIs(next_state(HS, U, replace(facts, unacked_clients=3), self.hs_standby), PD)

    def test_should_partner_down(self):
        """shouldPartnerDown is false while the link is up, whatever else holds."""
        up = facts_for(self.lb, dhcp_enabled=True, max_unacked_clients=0)
        self.assertFalse(should_partner_down(up, self.lb))
        self.assertTrue(should_partner_down(replace(up, communication_interrupted=True), self.lb))

    def test_sync_leases_false(self):
        """Without lease sync, waiting goes straight to ready."""
        facts = facts_for(self.lb, sync_leases=False)
        self.assertIs(next_state(W, LB, facts, self.lb), RD)
        self.assertIs(next_state(W, W, facts, self.lb), RD)

    def test_syncing_needs_a_sync(self):
        """syncing asks for a sync; its outcome decides ready or stay."""
        facts = facts_for(self.lb)
        self.assertIs(pending_action(SY, W, facts, self.lb), Action.SYNC)
        self.assertIs(pending_action(SY, U, facts, self.lb), None)
        self.assertIs(pending_action(SY, T, facts, self.lb), None)
        self.assertIs(pending_action(SY, W, replace(facts, paused=True), self.lb), None)
        self.assertIs(next_state(SY, W, replace(facts, sync_result=True), self.lb), RD)
        self.assertIs(next_state(SY, W, replace(facts, sync_result=False), self.lb), SY)
        self.assertIs(pending_action(SY, W, replace(facts, sync_result=False), self.lb), None)

    def test_communication_recovery_exit(self):
        """Back in touch with a load-balancing partner: replay, or reset and resync."""
        facts = facts_for(self.lb)
        self.assertIs(pending_action(CR, LB, facts, self.lb), Action.RECOVER)
        self.assertIs(pending_action(CR, CR, facts, self.lb), Action.RECOVER)
        self.assertIs(pending_action(CR, W, facts, self.lb), None)
        done = {RecoveryResult.REPLAYED: LB, RecoveryResult.RESET_OK: W,
                RecoveryResult.RESET_FAILED: CR}
        for result, expected in done.items():
            self.assertIs(next_state(CR, LB, replace(facts, recovery_result=result), self.lb),
                          expected)
        interrupted = replace(facts, communication_interrupted=True)
        self.assertIs(next_state(CR, LB, interrupted, self.lb), CR)
        self.assertIs(pending_action(CR, LB, interrupted, self.lb), None)

    def test_communication_recovery_partner_restarting(self):
        """A partner back in waiting/syncing/ready: resync only if our backlog overflowed."""
        over = facts_for(self.lb, backlog_overflowed=True)
        for partner in (W, SY, RD):
            self.assertIs(next_state(CR, partner, over, self.lb), W)
            self.assertIs(next_state(CR, partner, replace(over, communication_interrupted=True),
                                     self.lb), CR)

    def test_partner_down_partner_ready_with_unsent_updates(self):
        """The partner served while we were down: resynchronize."""
        facts = facts_for(self.lb, partner_has_new_unsent_updates=True)
        self.assertIs(next_state(PD, RD, facts, self.lb), W)


class StateFactsTests(SynchronousTestCase):
    """The seed's per-state table and the reportable labels."""

    def test_labels(self):
        """Twelve real states plus the partner pseudo-state, with Kea's labels."""
        self.assertEqual(
            sorted(s.value for s in HAState),
            ["backup", "communication-recovery", "hot-standby", "in-maintenance",
             "load-balancing", "partner-down", "partner-in-maintenance", "passive-backup",
             "ready", "syncing", "terminated", "unavailable", "waiting"])
        self.assertEqual(len(REPORTABLE_STATES), 12)

    def test_parse_reported_state(self):
        """Only the twelve real labels are accepted from a partner."""
        for state in REPORTABLE_STATES:
            self.assertIs(parse_reported_state(state.value), state)
        for bad in ("unavailable", "hub", "", None, 3, "WAITING"):
            self.assertRaises(ValueError, parse_reported_state, bad)

    def test_dhcp_enabled(self):
        """DHCP service per state, as in the seed's table."""
        enabled = {s for s in REPORTABLE_STATES if dhcp_enabled_in(s)}
        self.assertEqual(enabled, {LB, HS, CR, PD, PIM, PB, T})

    def test_heartbeats(self):
        """No heartbeats in backup, passive-backup and terminated."""
        silent = {s for s in REPORTABLE_STATES if not sends_heartbeats_in(s)}
        self.assertEqual(silent, {B, PB, T})

    def test_partner_updates(self):
        """Lease updates reach the active partner only in LB, HS and partner-in-maintenance."""
        sending = {s for s in REPORTABLE_STATES if sends_partner_updates_in(s)}
        self.assertEqual(sending, {LB, HS, PIM})
