"""
Tests for L{kea_ha_tw.ha.machine}: entry actions (scopes, DHCP service),
runs that cascade until the state settles, pause settings, operator
controls (scopes, reset, maintenance receiver) and the transition log.
"""

from __future__ import annotations

from dataclasses import replace

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.ha.machine import HAStateMachine
from kea_ha_tw.ha.policies import policy_for
from kea_ha_tw.ha.states import Action, Facts, HAState
from kea_ha_tw.network_state import NetworkState
from tests.ha_helpers import ha_config

S = HAState


class MachineTestCase(SynchronousTestCase):
    """A machine whose inputs the test sets directly."""

    def setUp(self):
        """LB primary, started in waiting."""
        self.build()

    def build(self, mode="load-balancing", this="server1", start=True, **kw):
        """(Re)build and optionally start the machine."""
        self.ha = ha_config(mode, this, **kw)
        self.policy = policy_for(self.ha)
        self.network = NetworkState(Clock())
        self.partner: S | None = None
        self.facts = Facts(is_backup=self.policy.is_backup, is_primary=self.policy.is_primary,
                           delayed_updates_limit=self.ha.delayed_updates_limit)
        self.machine = HAStateMachine(self.ha, self.policy, self.network,
                                      lambda: (self.partner, self.facts))
        self.changes: list[tuple[S, S]] = []
        self.machine.add_transition_listener(lambda old, new: self.changes.append((old, new)))
        if start:
            self.machine.start()

    def run_with(self, partner, **facts):
        """Run once with the partner state and facts given."""
        self.partner = partner
        self.facts = replace(self.facts, **facts)
        return self.machine.run()


class EntryTests(MachineTestCase):
    """What entering a state does."""

    def test_start(self):
        """Start in waiting: no scopes, DHCP disabled by ha-local."""
        self.assertIs(self.machine.state, S.WAITING)
        self.assertEqual(self.machine.served_scopes, frozenset())
        self.assertFalse(self.network.is_enabled())
        self.assertEqual(self.network.disabled_by(), {"ha"})

    def test_cascade_to_syncing(self):
        """The primary seeing a waiting partner goes to syncing and asks for a sync."""
        self.assertIs(self.run_with(S.WAITING), Action.SYNC)
        self.assertIs(self.machine.state, S.SYNCING)
        self.assertEqual(self.changes, [(S.WAITING, S.SYNCING)])

    def test_cascade_through_ready(self):
        """Without lease sync, waiting -> ready -> load-balancing in one run."""
        self.build(sync_leases=False)
        self.facts = replace(self.facts, sync_leases=False)
        self.assertIsNone(self.run_with(S.READY))
        self.assertEqual(self.changes, [(S.WAITING, S.READY), (S.READY, S.LOAD_BALANCING)])
        self.assertEqual(self.machine.served_scopes, {"server1"})
        self.assertTrue(self.network.is_enabled())

    def test_partner_down_scopes(self):
        """partner-down serves every scope and enables DHCP."""
        self.run_with(S.UNAVAILABLE, communication_interrupted=True)
        self.assertIs(self.machine.state, S.PARTNER_DOWN)
        self.assertEqual(self.machine.served_scopes, {"server1", "server2"})
        self.assertTrue(self.network.is_enabled())

    def test_user_disable_is_not_overridden_by_disabled_state(self):
        """Kea only touches its flag when the overall service state disagrees."""
        self.network.enable("ha-local")
        self.network.disable("user")
        self.machine.adjust_network_state()
        self.assertEqual(self.network.disabled_by(), {"user"})

    def test_passive_backup_and_backup(self):
        """The passive-backup primary serves all; a backup serves nothing."""
        self.build("passive-backup", backups=1)
        self.run_with(None)
        self.assertIs(self.machine.state, S.PASSIVE_BACKUP)
        self.assertEqual(self.machine.served_scopes, {"server1"})
        self.assertTrue(self.network.is_enabled())
        self.build("passive-backup", "backup1", backups=1)
        self.run_with(None)
        self.assertIs(self.machine.state, S.BACKUP)
        self.assertFalse(self.network.is_enabled())

    def test_log(self):
        """Every transition is logged with old, new and partner state."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.run_with(S.WAITING)
        events = [e for e in observer if e.get("msg_id") == "HA_STATE_TRANSITION"]
        self.assertEqual(len(events), 1)
        self.assertEqual((events[0]["old_state"], events[0]["new_state"],
                          events[0]["partner_state"]), ("waiting", "syncing", "waiting"))

    def test_log_passive_backup(self):
        """In passive-backup mode Kea logs no partner state."""
        self.build("passive-backup", backups=1)
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.run_with(None)
        events = [e for e in observer if e.get("msg_id", "").startswith("HA_STATE_TRANSITION")]
        self.assertEqual([(e["msg_id"], e["old_state"], e["new_state"]) for e in events],
                         [("HA_STATE_TRANSITION_PASSIVE_BACKUP", "waiting", "passive-backup")])

    def test_no_unavailable_state(self):
        """The partner pseudo-state cannot be entered."""
        self.assertRaises(ValueError, self.machine.transition, S.UNAVAILABLE)


class PauseTests(MachineTestCase):
    """state-machine pause settings and ha-continue."""

    def test_always(self):
        """A state paused 'always' holds the machine on every entry."""
        self.build(pause={"syncing": "always"})
        self.run_with(S.WAITING)
        self.assertTrue(self.machine.paused)
        self.assertIsNone(self.run_with(S.WAITING, sync_result=True))
        self.assertIs(self.machine.state, S.SYNCING)
        self.assertTrue(self.machine.continue_())
        self.assertFalse(self.machine.continue_())
        self.run_with(S.WAITING, sync_result=True)
        self.assertIs(self.machine.state, S.READY)
        self.machine.reset()
        self.run_with(S.WAITING, sync_result=None)
        self.assertTrue(self.machine.paused)

    def test_once(self):
        """A state paused 'once' holds the machine only the first time."""
        self.build(pause={"syncing": "once"})
        self.run_with(S.WAITING)
        self.assertTrue(self.machine.paused)
        self.machine.continue_()
        self.machine.reset()
        self.assertIs(self.run_with(S.WAITING), Action.SYNC)
        self.assertFalse(self.machine.paused)

    def test_paused_at_start(self):
        """Pausing in waiting applies at start, and entry actions still run."""
        self.build(pause={"waiting": "always"})
        self.assertTrue(self.machine.paused)
        self.run_with(S.READY)
        self.assertIs(self.machine.state, S.WAITING)
        self.assertFalse(self.network.is_enabled())

    def test_paused_log(self):
        """Kea logs HA_STATE_MACHINE_PAUSED and HA_STATE_MACHINE_CONTINUED."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.build(pause={"waiting": "always"})
        self.machine.continue_()
        ids = [e.get("msg_id") for e in observer]
        self.assertIn("HA_STATE_MACHINE_PAUSED", ids)
        self.assertIn("HA_STATE_MACHINE_CONTINUED", ids)


class ControlTests(MachineTestCase):
    """ha-scopes, ha-reset and the maintenance receiver."""

    def test_set_scopes(self):
        """Scopes are peer names; an unknown name changes nothing."""
        self.machine.set_scopes(["server2", "server1"])
        self.assertEqual(self.machine.served_scopes, {"server1", "server2"})
        e = self.assertRaises(ValueError, self.machine.set_scopes, ["server1", "HA_server1"])
        self.assertEqual(str(e), "invalid server name specified 'HA_server1'"
                                 " while enabling/disabling HA scopes")
        self.assertEqual(self.machine.served_scopes, {"server1", "server2"})
        self.machine.set_scopes([])
        self.assertEqual(self.machine.served_scopes, frozenset())

    def test_scopes_reset_on_next_entry(self):
        """The next state entry overwrites what ha-scopes set."""
        self.machine.set_scopes(["server2"])
        self.run_with(S.WAITING)
        self.assertEqual(self.machine.served_scopes, frozenset())

    def test_reset(self):
        """ha-reset: back to waiting, with Kea's two texts."""
        self.assertEqual(self.machine.reset(), (0, "HA state machine already in WAITING state."))
        self.machine.transition(S.LOAD_BALANCING, S.LOAD_BALANCING)
        self.assertEqual(self.machine.reset(), (0, "HA state machine reset."))
        self.assertIs(self.machine.state, S.WAITING)
        self.assertFalse(self.network.is_enabled())

    def test_notify_refused(self):
        """ha-maintenance-notify is refused with 1001 in backup, PIM and terminated."""
        for state in (S.PARTNER_IN_MAINTENANCE, S.TERMINATED, S.BACKUP):
            self.machine.transition(state)
            self.assertEqual(self.machine.maintenance_notify(False),
                             (1001, f"Unable to transition the server from the {state.value}"
                                    " to in-maintenance state."))
            self.assertIs(self.machine.state, state)

    def test_notify_and_cancel(self):
        """in-maintenance disables DHCP; the cancel returns to the previous state."""
        self.machine.transition(S.LOAD_BALANCING, S.LOAD_BALANCING)
        self.assertEqual(self.machine.maintenance_notify(False),
                         (0, "Server is in-maintenance state."))
        self.assertIs(self.machine.state, S.IN_MAINTENANCE)
        self.assertFalse(self.network.is_enabled())
        self.assertEqual(self.machine.served_scopes, frozenset())
        self.assertEqual(self.machine.maintenance_notify(True),
                         (0, "Server maintenance canceled."))
        self.assertIs(self.machine.state, S.LOAD_BALANCING)
        self.assertTrue(self.network.is_enabled())
        # The first run after the cancel is a no-op, the next one is not.
        self.run_with(S.PARTNER_DOWN)
        self.assertIs(self.machine.state, S.LOAD_BALANCING)
        self.changes.clear()
        self.run_with(S.PARTNER_DOWN)
        self.assertEqual(self.changes, [(S.LOAD_BALANCING, S.WAITING), (S.WAITING, S.SYNCING)])

    def test_cancel_refused(self):
        """A cancel outside in-maintenance is an error."""
        self.assertEqual(self.machine.maintenance_notify(True),
                         (1, "Unable to cancel the maintenance for the server not in the"
                             " in-maintenance state."))

    def test_maintenance_start_refusal(self):
        """ha-maintenance-start is refused in backup, IM, PIM and terminated."""
        self.assertIsNone(self.machine.maintenance_start_refusal())
        for state in (S.BACKUP, S.IN_MAINTENANCE, S.PARTNER_IN_MAINTENANCE, S.TERMINATED):
            self.machine.transition(state)
            self.assertEqual(self.machine.maintenance_start_refusal(),
                             f"Unable to transition the server from the {state.value}"
                             " to partner-in-maintenance state.")

    def test_partner_down_by_maintenance_serves_all(self):
        """auto-failover false still serves all scopes when partner-down comes from maintenance."""
        self.build(auto_failover=False)
        self.machine.transition(S.PARTNER_DOWN, S.UNAVAILABLE)
        self.assertEqual(self.machine.served_scopes, {"server1"})
        self.machine.transition(S.LOAD_BALANCING)
        self.machine.transition(S.PARTNER_DOWN, S.UNAVAILABLE, by_maintenance=True)
        self.assertEqual(self.machine.served_scopes, {"server1", "server2"})
