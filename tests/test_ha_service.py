"""
Tests for L{kea_ha_tw.ha.service.HAService}: one server driven by a Clock
against a scripted partner (no sockets), with stand-ins for the lease
updater and the lease sync. Start-up and sync, failure detection (dead
partner, unacked clients, hot-standby primary), clock skew,
communication-recovery, maintenance, pause, the DHCP hooks and the
command answers.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.communication import format_http_date
from kea_ha_tw.ha.service import HAService
from kea_ha_tw.ha.states import HAState
from kea_ha_tw.interfaces import IDHCPHooks
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.ha_helpers import FakePeerClient, FakeSync, FakeUpdater, ha_config, query, server_config

S = HAState
T0 = 1795593690

PRIMARY_QUERY = query(client_id=bytes.fromhex("01132cded6237b"))      # hash 156: server1
SECONDARY_QUERY = query(client_id=bytes.fromhex("0194d6493c9d5c"))    # hash 101: server2


class ServiceTestCase(SynchronousTestCase):
    """An HAService with a scripted partner on a Clock."""

    def setUp(self):
        """Default: LB primary, heartbeat 1 s, max-response-delay 5 s."""
        self.build()

    def build(self, mode="load-balancing", this="server1", start=True, **overrides):
        """(Re)build the service under test."""
        overrides.setdefault("heartbeat_delay_ms", 1000)
        overrides.setdefault("max_response_delay_ms", 5000)
        self.clock = Clock()
        self.clock.advance(T0)
        self.ha = ha_config(mode, this, **overrides)
        self.clients = {p.name: FakePeerClient(p.name) for p in self.ha.peers if p.name != this}
        self.partner_name = "server2" if this != "server2" else "server1"
        self.partner = self.clients.get(self.partner_name)
        self.network = NetworkState(self.clock)
        self.stats = Statistics(self.clock)
        self.service = HAService(server_config(self.ha), self.network, self.stats, self.clock,
                                 None, self.clients, updater_factory=FakeUpdater,
                                 sync_factory=FakeSync)
        self.updater: FakeUpdater = self.service.updater
        self.sync: FakeSync = self.service.lease_sync
        if start:
            self.service.startService()

    def partner_says(self, state, skew=0, unsent=0, scopes=()):
        """Script the partner's next heartbeat answers."""
        self.partner.answers["ha-heartbeat"] = {
            "date-time": format_http_date(self.clock.seconds() + skew),
            "scopes": list(scopes), "state": state.value, "unsent-update-count": unsent}

    def partner_dead(self):
        """The partner stops answering."""
        self.partner.answers["ha-heartbeat"] = PeerCommunicationError(self.partner_name,
                                                                      "Connection refused")

    def beat(self, n=1):
        """Let C{n} heartbeat periods pass."""
        for _ in range(n):
            self.clock.advance(self.ha.heartbeat_delay_ms / 1000)

    @property
    def state(self):
        """The service's state."""
        return self.service.state

    def reach_normal(self):
        """Start-up: waiting -> syncing -> ready -> normal state."""
        normal = self.service.policy.normal_state()
        primary = self.service.policy.is_primary
        self.partner_says(S.WAITING if primary else S.READY)
        self.beat()
        self.assertIs(self.state, S.SYNCING)
        self.sync.pending.pop().callback(5)
        self.assertIs(self.state, S.READY)
        self.partner_says(S.READY if primary else normal)
        self.beat()
        self.assertIs(self.state, normal)


class StartupTests(ServiceTestCase):
    """From waiting to the normal state."""

    def test_interface(self):
        """HAService provides IDHCPHooks."""
        self.assertTrue(verifyObject(IDHCPHooks, self.service))

    def test_starts_waiting(self):
        """At start: waiting, DHCP disabled, first heartbeat after heartbeat-delay."""
        self.assertIs(self.state, S.WAITING)
        self.assertFalse(self.network.is_enabled())
        self.assertEqual(self.partner.sent, [])
        self.partner_says(S.WAITING)
        self.beat()
        self.assertEqual(self.partner.commands(), ["ha-heartbeat"])

    def test_primary_syncs_and_balances(self):
        """The primary syncs from a waiting partner, then leads into load-balancing."""
        self.partner_says(S.WAITING)
        self.beat()
        self.assertIs(self.state, S.SYNCING)
        self.assertEqual(self.sync.calls, [("server2", 60)])
        # No heartbeat while the sync runs.
        self.beat(5)
        self.assertEqual(self.partner.commands(), ["ha-heartbeat"])
        self.sync.pending.pop().callback(3)
        self.assertIs(self.state, S.READY)
        self.partner_says(S.READY)
        self.beat()
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.assertEqual(self.service.machine.served_scopes, {"server1"})
        self.assertTrue(self.network.is_enabled())

    def test_secondary_waits_for_primary(self):
        """The secondary stays in waiting beside a waiting partner, then syncs."""
        self.build(this="server2")
        self.partner_says(S.WAITING)
        self.beat(3)
        self.assertIs(self.state, S.WAITING)
        self.partner_says(S.SYNCING)
        self.beat()
        self.assertIs(self.state, S.WAITING)
        self.partner_says(S.READY)
        self.beat()
        self.assertIs(self.state, S.SYNCING)
        self.sync.pending.pop().callback(0)
        self.assertIs(self.state, S.READY)
        self.beat()
        self.assertIs(self.state, S.READY)
        self.partner_says(S.LOAD_BALANCING)
        self.beat()
        self.assertIs(self.state, S.LOAD_BALANCING)

    def test_sync_failure_retries_on_next_heartbeat(self):
        """A failed sync keeps syncing; the next heartbeat run retries."""
        self.partner_says(S.WAITING)
        self.beat()
        self.sync.pending.pop().errback(RuntimeError("dhcp-disable failed"))
        self.assertIs(self.state, S.SYNCING)
        self.assertEqual(len(self.sync.calls), 1)
        self.assertIs(self.service.communication.partner_state, S.UNAVAILABLE)
        self.beat()
        self.assertEqual(len(self.sync.calls), 2)

    def test_sync_leases_false(self):
        """sync-leases false: waiting goes to ready without any sync."""
        self.build(sync_leases=False)
        self.partner_says(S.READY)
        self.beat()
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.assertEqual(self.sync.calls, [])

    def test_passive_backup(self):
        """passive-backup: the primary serves at once and never sends heartbeats."""
        self.build("passive-backup", backups=2)
        self.assertIs(self.state, S.PASSIVE_BACKUP)
        self.assertTrue(self.network.is_enabled())
        self.assertEqual(self.service.machine.served_scopes, {"server1"})
        self.clock.advance(1000)
        self.assertEqual(self.clients["backup1"].sent, [])
        self.assertFalse(self.clock.getDelayedCalls())

    def test_backup(self):
        """A backup goes to backup at once, DHCP off, no heartbeats, no skew check."""
        self.build("hot-standby", "backup1", backups=1)
        self.assertIs(self.state, S.BACKUP)
        self.assertFalse(self.network.is_enabled())
        self.clock.advance(1000)
        self.assertEqual(self.clients["server1"].sent, [])


class FailureDetectionTests(ServiceTestCase):
    """partner-down through max-response-delay and unacked clients."""

    def test_dead_partner_at_boot(self):
        """A dead partner: partner-down about max-response-delay after boot."""
        self.partner_dead()
        self.beat(5)
        self.assertIs(self.state, S.WAITING)
        self.beat()
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.assertEqual(self.service.machine.served_scopes, {"server1", "server2"})
        self.assertTrue(self.network.is_enabled())

    def test_unacked_clients_failover(self):
        """LB: interrupted, then more than max-unacked-clients unacked clients -> partner-down."""
        self.build(max_unacked_clients=2, max_ack_delay_ms=3000)
        self.reach_normal()
        self.partner_dead()
        self.beat()
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)
        self.beat(5)
        self.assertTrue(self.service.communication.is_communication_interrupted())
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)
        unacked = [query(client_id=bytes.fromhex("0194d6493c9d5c"), mac=b"\x01" * 6, secs=4),
                   query(client_id=bytes.fromhex("0194d6493c9d5c"), mac=b"\x02" * 6, secs=4),
                   query(mac=bytes.fromhex("31201e69feda"), secs=4)]
        slow = query(mac=bytes.fromhex("31201e69feda"), secs=3)
        self.assertFalse(self.service.query_in_scope(slow))
        for q in unacked[:2]:
            self.assertFalse(self.service.query_in_scope(q))
        self.assertTrue(self.service.query_in_scope(PRIMARY_QUERY))
        self.assertEqual(self.service.communication.unacked_clients, 2)
        self.beat()
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)
        self.assertFalse(self.service.query_in_scope(unacked[2]))
        self.assertEqual(self.service.communication.unacked_clients, 3)
        self.assertEqual(self.service.communication.connecting_clients, 3)
        self.beat()
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.assertTrue(self.service.query_in_scope(SECONDARY_QUERY))
        self.assertIsNone(self.stats.get("pkt4-receive-drop"))

    def test_unacked_ignored_while_link_up(self):
        """Queries for the partner are not analyzed while communication is fine."""
        self.reach_normal()
        self.service.query_in_scope(query(client_id=bytes.fromhex("0194d6493c9d5c"), secs=60))
        self.assertEqual(self.service.communication.analyzed_packets, 0)

    def test_hot_standby_primary(self):
        """The HS primary goes to partner-down as soon as communication is interrupted."""
        self.build("hot-standby")
        self.reach_normal()
        self.partner_dead()
        self.beat(5)
        self.assertIs(self.state, S.HOT_STANDBY)
        self.beat()
        self.assertIs(self.state, S.PARTNER_DOWN)

    def test_hot_standby_standby_needs_unacked(self):
        """The standby waits for unacked clients of the primary's scope."""
        self.build("hot-standby", "server2", max_unacked_clients=0)
        self.reach_normal()
        self.assertFalse(self.service.query_in_scope(PRIMARY_QUERY))
        self.assertEqual(self.service.machine.served_scopes, frozenset())
        self.partner_dead()
        self.beat(6)
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.assertEqual(self.service.machine.served_scopes, {"server1"})

    def test_partner_returns_from_partner_down(self):
        """partner-down -> the partner comes back ready: normal, or waiting if it served alone."""
        self.partner_dead()
        self.beat(6)
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.partner_says(S.READY, unsent=0)
        self.beat()
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.build()
        self.partner_dead()
        self.beat(6)
        self.partner_says(S.READY, unsent=4)
        self.beat()
        self.assertIs(self.state, S.SYNCING)


class ClockSkewTests(ServiceTestCase):
    """Clock skew between the active servers."""

    def test_high_skew_terminates(self):
        """+75 s: terminated, DHCP on with the default scope, heartbeats stop."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.reach_normal()
        self.partner_says(S.LOAD_BALANCING, skew=75)
        self.beat()
        self.assertIs(self.state, S.TERMINATED)
        self.assertTrue(self.network.is_enabled())
        self.assertEqual(self.service.machine.served_scopes, {"server1"})
        sent = len(self.partner.sent)
        self.beat(10)
        self.assertEqual(len(self.partner.sent), sent)
        ids = [e.get("msg_id") for e in observer]
        self.assertIn("HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION", ids)
        self.assertIn("HA_TERMINATED", ids)

    def test_moderate_skew_warns(self):
        """+45 s: a warning, at most once per 60 s, and no state change."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.reach_normal()
        self.partner_says(S.LOAD_BALANCING, skew=45)
        self.beat(30)
        self.assertIs(self.state, S.LOAD_BALANCING)
        warnings = [e for e in observer if e.get("msg_id") == "HA_HIGH_CLOCK_SKEW"]
        self.assertEqual(len(warnings), 1)


class CommunicationRecoveryTests(ServiceTestCase):
    """Load-balancing's communication-recovery state."""

    def setUp(self):
        """Both servers load-balancing, then one failed heartbeat."""
        self.build()
        self.reach_normal()
        self.partner_dead()
        self.beat()
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)

    def test_replay_and_back(self):
        """Partner back in load-balancing: the backlog is replayed, then load-balancing."""
        self.partner_says(S.LOAD_BALANCING)
        self.beat()
        self.assertEqual(self.updater.replays, 1)
        self.assertEqual(self.updater.resets, 0)
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.assertEqual(self.updater.cleared, 1)

    def test_overflow_resets(self):
        """An overflowed backlog: ha-reset to the partner, then waiting (and resync)."""
        self.updater.backlog_overflowed = True
        self.partner_says(S.LOAD_BALANCING)
        self.beat()
        self.assertEqual((self.updater.replays, self.updater.resets), (0, 1))
        self.assertIs(self.state, S.SYNCING)

    def test_failed_replay_and_failed_reset(self):
        """Replay and reset both fail: stay in communication-recovery."""
        self.updater.replay_result = False
        self.updater.reset_result = False
        self.partner_says(S.COMMUNICATION_RECOVERY)
        self.beat()
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)
        self.assertEqual((self.updater.replays, self.updater.resets), (1, 1))

    def test_queued_updates_go_to_the_updater_with_the_state(self):
        """leases_committed passes the current state to the updater."""
        self.successResultOf(self.service.leases_committed(PRIMARY_QUERY, ["lease"], []))
        self.assertEqual(self.updater.sent[-1][3], S.COMMUNICATION_RECOVERY)


class MaintenanceTests(ServiceTestCase):
    """ha-maintenance-start / -cancel / -notify through the service."""

    def setUp(self):
        """Both servers load-balancing."""
        self.build()
        self.reach_normal()

    def test_start_and_cancel(self):
        """The partner accepts: partner-in-maintenance; cancel returns to load-balancing."""
        self.partner.answers["ha-maintenance-notify"] = None
        got = self.successResultOf(self.service.maintenance_start())
        self.assertEqual(got, {"result": 0, "text": "Server is now in the partner-in-maintenance"
                                                    " state and its partner is in-maintenance"
                                                    " state. The partner can be now safely shut"
                                                    " down."})
        self.assertEqual(self.partner.sent[-1], ("ha-maintenance-notify", {"cancel": False}, 10.0))
        self.assertIs(self.state, S.PARTNER_IN_MAINTENANCE)
        self.assertEqual(self.service.machine.served_scopes, {"server1", "server2"})
        got = self.successResultOf(self.service.maintenance_cancel())
        self.assertEqual(got, {"result": 0, "text": "Server maintenance successfully canceled."})
        self.assertEqual(self.partner.sent[-1], ("ha-maintenance-notify", {"cancel": True}, 10.0))
        self.assertIs(self.state, S.LOAD_BALANCING)

    def test_start_partner_offline(self):
        """Partner unreachable: partner-down serving all scopes even without auto-failover."""
        self.build(auto_failover=False)
        self.reach_normal()
        self.partner.answers["ha-maintenance-notify"] = PeerCommunicationError("server2", "x")
        got = self.successResultOf(self.service.maintenance_start())
        self.assertEqual(got["result"], 0)
        self.assertEqual(got["text"], "Server is now in the partner-down state as its partner"
                                      " appears to be offline for maintenance.")
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.assertEqual(self.service.machine.served_scopes, {"server1", "server2"})

    def test_start_partner_refuses(self):
        """The partner answers 1001: error 1 with Kea's composed text, state unchanged."""
        self.partner.answers["ha-maintenance-notify"] = PeerCommandError(
            "server2", 1001, "Unable to transition the server from the terminated to"
                             " in-maintenance state.")
        got = self.successResultOf(self.service.maintenance_start())
        self.assertEqual(got, {"result": 1, "text":
                               "Unable to transition to the partner-in-maintenance state. The"
                               " partner server responded with the following message to the"
                               " ha-maintenance-notify command: Unable to transition the server"
                               " from the terminated to in-maintenance state., error code 1001."})
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.assertIs(self.service.communication.partner_state, S.UNAVAILABLE)

    def test_start_refused_locally(self):
        """Refused in in-maintenance without contacting anyone."""
        self.service.maintenance_notify(False)
        sent = len(self.partner.sent)
        got = self.successResultOf(self.service.maintenance_start())
        self.assertEqual(got, {"result": 1, "text": "Unable to transition the server from the"
                                                    " in-maintenance to partner-in-maintenance"
                                                    " state."})
        self.assertEqual(len(self.partner.sent), sent)

    def test_cancel_refused_and_failed(self):
        """Cancel outside PIM is refused; a failing partner gives Kea's error text."""
        got = self.successResultOf(self.service.maintenance_cancel())
        self.assertEqual(got["text"], "Unable to cancel maintenance request because the server"
                                      " is not in the partner-in-maintenance state.")
        self.partner.answers["ha-maintenance-notify"] = None
        self.successResultOf(self.service.maintenance_start())
        self.partner.answers["ha-maintenance-notify"] = PeerCommandError("server2", 1, "nope")
        got = self.successResultOf(self.service.maintenance_cancel())
        self.assertEqual(got, {"result": 1, "text": "Unable to cancel maintenance. The partner"
                                                    " server responded with the following message"
                                                    " to the ha-maintenance-notify command: nope,"
                                                    " error code 1."})
        self.assertIs(self.state, S.PARTNER_IN_MAINTENANCE)

    def test_partner_in_maintenance_fails_over_on_update_failure(self):
        """In PIM one failed lease update sends us to partner-down at once."""
        self.partner.answers["ha-maintenance-notify"] = None
        self.successResultOf(self.service.maintenance_start())
        self.updater.send_result = False
        self.updater.on_peer_failure("server2")
        self.assertFalse(self.successResultOf(
            self.service.leases_committed(PRIMARY_QUERY, ["lease"], [])))
        self.assertIs(self.state, S.PARTNER_DOWN)

    def test_notify_receiver(self):
        """Receiving notify: in-maintenance, DHCP off; cancel: back."""
        self.assertEqual(self.service.maintenance_notify(False),
                         {"result": 0, "text": "Server is in-maintenance state."})
        self.assertIs(self.state, S.IN_MAINTENANCE)
        self.assertFalse(self.network.is_enabled())
        self.beat(3)
        self.assertIs(self.state, S.IN_MAINTENANCE)
        self.assertEqual(self.service.maintenance_notify(True),
                         {"result": 0, "text": "Server maintenance canceled."})
        self.assertIs(self.state, S.LOAD_BALANCING)


class CommandTests(ServiceTestCase):
    """The other command answers and status-get."""

    def test_heartbeat_answer(self):
        """Our answer to a partner's heartbeat."""
        self.reach_normal()
        self.updater.unsent_update_count = 3
        self.assertEqual(self.service.heartbeat_answer(), {
            "result": 0, "text": "HA peer status returned.",
            "arguments": {"date-time": format_http_date(self.clock.seconds()),
                          "scopes": ["server1"], "state": "load-balancing",
                          "unsent-update-count": 3}})

    def test_pause_and_continue(self):
        """Paused in ready until ha-continue; the next heartbeat moves on."""
        self.build(pause={"ready": "always"})
        self.partner_says(S.WAITING)
        self.beat()
        self.sync.pending.pop().callback(0)
        self.partner_says(S.READY)
        self.beat(3)
        self.assertIs(self.state, S.READY)
        self.assertEqual(self.service.continue_(),
                         {"result": 0, "text": "HA state machine continues."})
        self.assertIs(self.state, S.READY)
        self.beat()
        self.assertIs(self.state, S.LOAD_BALANCING)
        self.assertEqual(self.service.continue_(),
                         {"result": 0, "text": "HA state machine is not paused."})

    def test_reset(self):
        """ha-reset from load-balancing re-runs the machine at once (here: to syncing)."""
        self.reach_normal()
        self.assertEqual(self.service.reset(), {"result": 0, "text": "HA state machine reset."})
        self.assertIs(self.state, S.SYNCING)

    def test_scopes(self):
        """ha-scopes answers and errors."""
        self.assertEqual(self.service.set_scopes(["server2"]),
                         {"result": 0, "text": "New HA scopes configured."})
        self.assertTrue(self.service.query_in_scope(SECONDARY_QUERY))
        self.assertFalse(self.service.query_in_scope(PRIMARY_QUERY))
        self.assertEqual(self.service.set_scopes(["bogus"])["result"], 1)

    def test_sync_complete_notify(self):
        """Outside partner-down DHCP is re-enabled; in partner-down it waits for the heartbeat."""
        self.build(max_unacked_clients=0)
        self.reach_normal()
        self.network.disable("ha-partner", 60)
        got = self.service.sync_complete_notify()
        self.assertEqual(got, {"result": 0, "text": "Server successfully notified about the"
                                                    " synchronization completion."})
        self.assertTrue(self.network.is_enabled())
        self.partner_dead()
        self.beat(6)
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.network.disable("ha-partner", 60)
        self.service.sync_complete_notify()
        self.assertFalse(self.network.is_enabled())
        self.beat()
        self.assertTrue(self.network.is_enabled())
        self.assertIs(self.state, S.PARTNER_DOWN)

    def test_sync_complete_notify_in_waiting(self):
        """Kea 2.2 re-enables DHCP even in waiting; LB then waits for unacked clients."""
        self.service.sync_complete_notify()
        self.assertTrue(self.network.is_enabled())
        self.partner_dead()
        self.beat(6)
        self.assertIs(self.state, S.WAITING)

    def test_synchronize(self):
        """ha-sync answers with Kea's texts."""
        d = self.service.synchronize("server2", 30)
        self.assertEqual(self.sync.calls, [("server2", 30)])
        self.sync.pending.pop().callback(1)
        self.assertEqual(self.successResultOf(d),
                         {"result": 0, "text": "Lease database synchronization complete."})
        d = self.service.synchronize("server2", None)
        self.sync.pending.pop().errback(RuntimeError("Connection refused"))
        self.assertEqual(self.successResultOf(d), {"result": 1, "text": "Connection refused"})

    def test_status_section(self):
        """status-get's high-availability part: local and remote."""
        self.reach_normal()
        self.clock.advance(0.5)
        self.assertEqual(self.service.status_section(), [{
            "ha-mode": "load-balancing",
            "ha-servers": {
                "local": {"role": "primary", "scopes": ["server1"], "state": "load-balancing"},
                "remote": {"age": 0, "analyzed-packets": 0, "communication-interrupted": False,
                           "connecting-clients": 0, "in-touch": True, "last-scopes": [],
                           "last-state": "ready", "role": "secondary", "unacked-clients": 0,
                           "unacked-clients-left": 0}}}])

    def test_status_section_without_remote(self):
        """No remote part in passive-backup mode or on a backup."""
        self.build("passive-backup", backups=1)
        self.assertEqual(self.service.status_section(), [{
            "ha-mode": "passive-backup",
            "ha-servers": {"local": {"role": "primary", "scopes": ["server1"],
                                     "state": "passive-backup"}}}])
        self.build("load-balancing", "backup1", backups=1)
        self.assertEqual(self.service.status_section()[0]["ha-servers"],
                         {"local": {"role": "backup", "scopes": [], "state": "backup"}})


class HookTests(ServiceTestCase):
    """classify, query_in_scope and leases_committed."""

    def test_classify(self):
        """Every scoped query gets HA_<owner>; none without a key."""
        self.assertEqual(self.service.classify(PRIMARY_QUERY), {"HA_server1"})
        self.assertEqual(self.service.classify(SECONDARY_QUERY), {"HA_server2"})
        self.assertEqual(self.service.classify(query(message_type=None)), {"HA_server1"})
        self.assertEqual(self.service.classify(query(hlen=0)), frozenset())

    def test_in_scope(self):
        """Waiting serves nothing; load-balancing its own half; unscoped types always."""
        self.assertFalse(self.service.query_in_scope(PRIMARY_QUERY))
        self.assertTrue(self.service.query_in_scope(query(message_type=None)))
        self.reach_normal()
        self.assertTrue(self.service.query_in_scope(PRIMARY_QUERY))
        self.assertFalse(self.service.query_in_scope(SECONDARY_QUERY))
        self.assertFalse(self.service.query_in_scope(query(hlen=0)))
        # Kea 2.2 counts out-of-scope drops in no statistic (dhcp4_srv.cc).
        self.assertIsNone(self.stats.get("pkt4-receive-drop"))

    def test_answers_none(self):
        """A hot-standby standby answers none until its partner fails; a primary always some."""
        self.build("hot-standby", "server2", max_unacked_clients=1, max_ack_delay_ms=3000)
        self.assertTrue(self.service.answers_none())        # waiting
        self.reach_normal()
        self.assertTrue(self.service.answers_none())        # hot-standby, the standby
        self.partner_dead()
        self.beat(6)
        # Communication interrupted: the queries are analyzed for unacked clients.
        self.assertTrue(self.service.communication.is_communication_interrupted())
        self.assertIs(self.state, S.HOT_STANDBY)
        self.assertFalse(self.service.answers_none())
        for mac in (b"\x01" * 6, b"\x02" * 6):
            self.service.query_in_scope(query(client_id=PRIMARY_QUERY.options[61], mac=mac, secs=4))
        self.beat()
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.assertFalse(self.service.answers_none())
        self.build("hot-standby", "server1")
        self.reach_normal()
        self.assertFalse(self.service.answers_none())

    def test_backup_answers_none(self):
        """A passive-backup backup answers no query; its primary does."""
        self.build("passive-backup", "backup1", backups=1)
        self.assertTrue(self.service.answers_none())
        self.build("passive-backup", backups=1)
        self.assertFalse(self.service.answers_none())

    def test_updates_queued_asks_the_updater(self):
        """Whether updates wait for a peer connection is the updater's answer."""
        self.assertFalse(self.service.updates_queued())
        self.updater.queued = True
        self.assertTrue(self.service.updates_queued())

    def test_leases_committed_waits_for_the_updater(self):
        """The reply waits for the updater's verdict."""
        self.reach_normal()
        pending: Deferred = Deferred()
        self.updater.send_result = pending
        d = self.service.leases_committed(PRIMARY_QUERY, ["lease"], [])
        self.assertNoResult(d)
        self.assertEqual(self.updater.sent[-1][3], S.LOAD_BALANCING)
        pending.callback(True)
        self.assertTrue(self.successResultOf(d))

    def test_failed_update_sends_lb_to_communication_recovery(self):
        """One failed lease update to the partner: unavailable at once, then comm-recovery."""
        self.reach_normal()
        self.updater.send_result = False
        self.updater.on_peer_failure("server2")
        self.assertFalse(self.successResultOf(
            self.service.leases_committed(PRIMARY_QUERY, ["lease"], [])))
        self.assertIs(self.state, S.COMMUNICATION_RECOVERY)

    def test_backup_failure_does_not_touch_the_partner(self):
        """A failing backup never changes what we know of the partner."""
        self.build(backups=1)
        self.reach_normal()
        self.service.partner_unavailable("backup1")
        self.assertIs(self.service.communication.partner_state, S.READY)

    def test_nothing_waited_for_does_not_run_the_machine(self):
        """In partner-down nothing is awaited, so a commit does not re-run the machine."""
        self.partner_dead()
        self.beat(6)
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.service.communication.partner_state = S.PARTNER_DOWN
        self.successResultOf(self.service.leases_committed(PRIMARY_QUERY, ["lease"], []))
        self.assertIs(self.state, S.PARTNER_DOWN)
        self.beat()
        self.assertIs(self.state, S.PARTNER_DOWN)

    def test_stop_service(self):
        """stopService stops heartbeats and waits for the updater to be idle."""
        idle: Deferred = Deferred()
        self.updater.idle = idle
        d = self.service.stopService()
        self.assertNoResult(d)
        self.assertFalse(self.clock.getDelayedCalls())
        idle.callback(None)
        self.successResultOf(d)
