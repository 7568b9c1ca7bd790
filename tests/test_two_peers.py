"""
Two and three complete kea-ha-tw servers in one process (L{tests.ha_cluster}):
each peer reaches the others through StubTreq over their real HA listener
resources, all on one clock. Every HA mode: start-up sync, normal service,
partner crash, unacked-clients failover, partner return and resync,
maintenance, clock skew, and backup failure with and without
C{wait-backup-ack}.
"""

from __future__ import annotations

import json

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.packet import MessageType
from tests.builders import discover, release
from tests.ha_cluster import Cluster, get_lease, ha_server_json, mac

LB_PEERS = [("server1", "primary", "127.0.0.11"), ("server2", "secondary", "127.0.0.12")]
LB_POOLS = [("192.0.2.100 - 192.0.2.149", "HA_server1"),
            ("192.0.2.150 - 192.0.2.199", "HA_server2")]
HS_PEERS = [("server1", "primary", "127.0.0.11"), ("server2", "standby", "127.0.0.12")]
PB_PEERS = [("server1", "primary", "127.0.0.11"), ("server2", "backup", "127.0.0.12"),
            ("server3", "backup", "127.0.0.13")]


def lb_cluster(**ha) -> Cluster:
    """A load-balancing pair, not started."""
    cluster = Cluster()
    for i, name in enumerate(("server1", "server2"), start=1):
        cluster.add(name, ha_server_json(name, "load-balancing", LB_PEERS, LB_POOLS, **ha), i)
    return cluster


def hs_cluster(**ha) -> Cluster:
    """A hot-standby pair, not started."""
    cluster = Cluster()
    for i, name in enumerate(("server1", "server2"), start=1):
        cluster.add(name, ha_server_json(name, "hot-standby", HS_PEERS, **ha), i)
    return cluster


def pb_cluster(**ha) -> Cluster:
    """The seed's passive-backup trio (primary + two backups), not started."""
    cluster = Cluster()
    for i, name in enumerate(("server1", "server2", "server3"), start=1):
        cluster.add(name, ha_server_json(name, "passive-backup", PB_PEERS, **ha), i)
    return cluster


def start(cluster: Cluster) -> None:
    """Start every node."""
    for node in cluster.nodes.values():
        node.start()


def commands_to(cluster: Cluster, name: str) -> list[str]:
    """The commands delivered to node C{name}, in order."""
    return [json.loads(body)["command"] for target, body in cluster.requests if target == name]


def addresses(node) -> set[str]:
    """The addresses a node holds leases for."""
    return {str(lease.address) for lease in node.store.get_all()}


def _owner(node, hw: bytes) -> str:
    return node.ha.policy.scope_of(discover(hw))


class LoadBalancingTests(SynchronousTestCase):
    """Two load-balancing servers."""

    def setUp(self):
        self.cluster = lb_cluster()
        start(self.cluster)
        self.s1, self.s2 = self.cluster["server1"], self.cluster["server2"]
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})

    def test_startup_sync(self):
        """Both sync from each other (disable, page, notify) and reach load-balancing."""
        for node in ("server1", "server2"):
            sent = commands_to(self.cluster, node)
            self.assertIn("ha-heartbeat", sent)
            i = sent.index("dhcp-disable")
            self.assertEqual(sent[i:i + 3],
                             ["dhcp-disable", "lease4-get-page", "ha-sync-complete-notify"])
        self.assertTrue(self.s1.server.network_state.is_enabled())
        self.assertTrue(self.s2.server.network_state.is_enabled())

    def test_clients_answered_by_hash_owner(self):
        """Each client is answered by exactly the server its hash names; both hold every lease."""
        owners = {"server1": 0, "server2": 0}
        for n in range(1, 25):
            hw = mac(n)
            node, ack = get_lease([self.s1, self.s2], hw, xid=n * 16)
            self.assertIsNotNone(ack, f"client {n} got no lease")
            self.assertEqual(node.name, _owner(self.s1, hw))
            owners[node.name] += 1
            pool_low = 100 if node.name == "server1" else 150
            self.assertTrue(pool_low <= ack.yiaddr.packed[3] < pool_low + 50)
        self.assertTrue(owners["server1"] and owners["server2"], owners)
        self.assertEqual(addresses(self.s1), addresses(self.s2))
        self.assertEqual(len(addresses(self.s1)), 24)

    def test_release_replicated(self):
        """A DHCPRELEASE deletes the lease on both servers (lease4-del)."""
        node, ack = get_lease([self.s1, self.s2], mac(7))
        rel = release(mac(7), ciaddr=str(ack.yiaddr), server_id=str(node.iface.address))
        node.handle(rel)
        self.assertEqual(addresses(self.s1), set())
        self.assertEqual(addresses(self.s2), set())

    def test_expired_lease_replicated(self):
        """A lease reclaimed by its server reaches the partner as expired-reclaimed (state 2)."""
        node, ack = get_lease([self.s1, self.s2], mac(9))
        other = self.s2 if node is self.s1 else self.s1
        held = node.store.get(ack.yiaddr)
        node.store.update(held.evolve(cltt=held.cltt - held.valid_lft - 10))
        node.server.lease_service.reclaim_expired_leases()
        self.cluster.settle()
        copy = other.store.get(ack.yiaddr, include_reclaimed=True)
        self.assertIsNotNone(copy)
        self.assertEqual(int(copy.state), 2)

    def test_partner_crash_then_unacked_clients_failover(self):
        """server2 dies: communication-recovery, then partner-down after unacked clients."""
        self.s2.crash()
        self.cluster.advance(1.5)
        self.assertEqual(self.s1.state, "communication-recovery")
        # server2's clients keep retrying; after max-response-delay their secs count.
        server2_clients = [mac(n) for n in range(1, 40) if _owner(self.s1, mac(n)) == "server2"]
        self.cluster.advance(3)
        for n, hw in enumerate(server2_clients[:3]):
            node, ack = get_lease([self.s1], hw, xid=0x100 + n * 4, secs=5)
            self.assertIsNone(ack, "the partner's clients are not served before partner-down")
        self.cluster.advance(1.5)
        self.assertEqual(self.s1.state, "partner-down")
        node, ack = get_lease([self.s1], server2_clients[3], xid=0x200, secs=5)
        self.assertIsNotNone(ack)
        self.assertTrue(self.s1.ha.unsent_update_count >= 1)

    def test_partner_return_and_resync(self):
        """A crashed server restarted with an empty store resyncs; both end identical."""
        for n in range(1, 9):
            get_lease([self.s1, self.s2], mac(n), xid=n * 16)
        self.s2.crash()
        self.cluster.run_until({"server1": "communication-recovery"})
        clients = [mac(n) for n in range(100, 140) if _owner(self.s1, mac(n)) == "server2"]
        self.cluster.advance(3.5)
        for n, hw in enumerate(clients[:4]):
            get_lease([self.s1], hw, xid=0x300 + n * 4, secs=5)
        self.cluster.run_until({"server1": "partner-down"})
        for n, hw in enumerate(clients[4:7]):
            self.assertIsNotNone(get_lease([self.s1], hw, xid=0x400 + n * 4)[1])
        # Restart server2 with an empty lease database.
        fresh = self.cluster.add(
            "server2", ha_server_json("server2", "load-balancing", LB_PEERS, LB_POOLS), 2)
        fresh.start()
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(addresses(self.s1), addresses(fresh))
        self.assertGreaterEqual(len(addresses(fresh)), 11)

    def test_communication_recovery_backlog_replayed(self):
        """A short outage: updates queue in the backlog and are replayed in order."""
        self.s2.reachable = False
        self.cluster.advance(1.25)
        self.assertEqual(self.s1.state, "communication-recovery")
        mine = [mac(n) for n in range(1, 30) if _owner(self.s1, mac(n)) == "server1"][:3]
        for n, hw in enumerate(mine):
            node, ack = get_lease([self.s1], hw, xid=0x500 + n * 4)
            self.assertIsNotNone(ack, "comm-recovery serves its own clients without waiting")
        self.assertEqual(self.s1.ha.updater.backlog_size, 3)
        self.assertEqual(addresses(self.s2), set())
        self.s2.reachable = True
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(addresses(self.s1), addresses(self.s2))
        self.assertEqual(self.s1.ha.updater.backlog_size, 0)

    def test_maintenance(self):
        """ha-maintenance-start: partner-in-maintenance serves all; cancel returns."""
        answer = self.s1.command("ha-maintenance-start")
        self.assertEqual(answer["result"], 0, answer)
        self.assertEqual(self.cluster.states(),
                         {"server1": "partner-in-maintenance", "server2": "in-maintenance"})
        other = next(mac(n) for n in range(1, 30) if _owner(self.s1, mac(n)) == "server2")
        node, ack = get_lease([self.s1, self.s2], other)
        self.assertEqual(node.name, "server1")
        self.assertIn(str(ack.yiaddr), addresses(self.s2), "updates still reach the partner")
        answer = self.s1.command("ha-maintenance-cancel")
        self.assertEqual(answer, {"result": 0, "text": "Server maintenance successfully canceled."})
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})

    def test_maintenance_then_shutdown(self):
        """The partner in maintenance goes away: partner-down at once."""
        self.s1.command("ha-maintenance-start")
        self.s2.crash()
        self.cluster.advance(1.5)
        self.assertEqual(self.s1.state, "partner-down")

    def test_status_get_and_heartbeat(self):
        """status-get reports both servers; heartbeat answers carry Kea's fields."""
        self.cluster.advance(1.5)
        status = self.s1.command("status-get")
        ha = status["arguments"]["high-availability"][0]
        self.assertEqual(ha["ha-mode"], "load-balancing")
        self.assertEqual(ha["ha-servers"]["local"]["state"], "load-balancing")
        self.assertEqual(ha["ha-servers"]["remote"]["last-state"], "load-balancing")
        heartbeat = self.s2.command("ha-heartbeat")
        self.assertEqual(heartbeat["arguments"]["scopes"], ["server2"])


class ClockSkewTests(SynchronousTestCase):
    """Clock skew between active servers."""

    def _pair(self, offset: float) -> Cluster:
        cluster = Cluster()
        cluster.add("server1", ha_server_json("server1", "hot-standby", HS_PEERS), 1)
        cluster.add("server2", ha_server_json("server2", "hot-standby", HS_PEERS), 2,
                    clock_offset=offset)
        start(cluster)
        return cluster

    def test_high_skew_terminates(self):
        """75 s of skew: both active servers go to terminated."""
        cluster = self._pair(75)
        cluster.run_until({"server1": "terminated", "server2": "terminated"})

    def test_moderate_skew_warns(self):
        """45 s of skew: a warning, normal service."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        cluster = self._pair(45)
        cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertTrue(any(e.get("msg_id") == "HA_HIGH_CLOCK_SKEW" for e in events))


class HotStandbyTests(SynchronousTestCase):
    """A hot-standby pair."""

    def setUp(self):
        self.cluster = hs_cluster()
        start(self.cluster)
        self.s1, self.s2 = self.cluster["server1"], self.cluster["server2"]
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})

    def test_primary_serves_standby_holds(self):
        """Only the primary answers; the standby holds every lease."""
        for n in range(1, 6):
            node, ack = get_lease([self.s1, self.s2], mac(n), xid=n * 16)
            self.assertEqual(node.name, "server1")
        self.assertEqual(addresses(self.s1), addresses(self.s2))
        self.assertEqual(len(addresses(self.s2)), 5)

    def test_standby_takes_over_after_unacked_clients(self):
        """The primary dies: the standby waits for unacked clients, then serves."""
        self.s1.crash()
        self.cluster.advance(3.5)
        self.assertEqual(self.s2.state, "hot-standby")
        for n in range(1, 4):
            self.assertIsNone(get_lease([self.s2], mac(n), xid=0x600 + n * 4, secs=5)[1])
        self.cluster.run_until({"server2": "partner-down"}, limit_s=3)
        node, ack = get_lease([self.s2], mac(9), xid=0x700)
        self.assertIsNotNone(ack)

    def test_primary_return_and_resync(self):
        """The primary restarts empty, pulls the standby's leases, both return to normal."""
        for n in range(1, 4):
            get_lease([self.s1, self.s2], mac(n), xid=n * 16)
        self.s1.crash()
        self.cluster.advance(3.5)
        for n in range(1, 4):
            get_lease([self.s2], mac(n), xid=0x900 + n * 4, secs=5)
        self.cluster.run_until({"server2": "partner-down"})
        for n in range(10, 13):
            self.assertIsNotNone(get_lease([self.s2], mac(n), xid=0xA00 + n * 4)[1])
        fresh = self.cluster.add("server1", ha_server_json("server1", "hot-standby", HS_PEERS), 1)
        fresh.start()
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertEqual(addresses(fresh), addresses(self.s2))
        self.assertEqual(len(addresses(fresh)), 6)
        node, ack = get_lease([fresh, self.s2], mac(20), xid=0xB00)
        self.assertEqual(node.name, "server1")

    def test_operator_ha_sync(self):
        """ha-sync from an operator runs while both keep exchanging heartbeats."""
        get_lease([self.s1, self.s2], mac(1))
        self.s2.store.delete(next(iter(self.s2.store.get_all())).address)
        answer = self.s2.command("ha-sync", {"server-name": "server1", "max-period": 5})
        self.assertEqual(answer, {"result": 0, "text": "Lease database synchronization complete."})
        self.assertEqual(addresses(self.s1), addresses(self.s2))
        self.assertTrue(self.s1.server.network_state.is_enabled(), "notify re-enabled server1")

    def test_slow_clients_do_not_count(self):
        """Clients whose secs stay within max-ack-delay never trigger failover."""
        self.s1.crash()
        self.cluster.advance(3.5)
        for n in range(1, 6):
            get_lease([self.s2], mac(n), xid=0x800 + n * 4, secs=1)
        self.cluster.advance(2)
        self.assertEqual(self.s2.state, "hot-standby")


class PassiveBackupTests(SynchronousTestCase):
    """The seed's configuration: one primary, two backups."""

    def _cluster(self, **ha) -> Cluster:
        cluster = pb_cluster(**ha)
        start(cluster)
        cluster.run_until({"server1": "passive-backup", "server2": "backup", "server3": "backup"})
        return cluster

    def test_backups_hold_every_lease(self):
        """The primary serves; both backups hold every lease and never answer DHCP."""
        cluster = self._cluster()
        nodes = list(cluster.nodes.values())
        for n in range(1, 6):
            node, ack = get_lease(nodes, mac(n), xid=n * 16)
            self.assertEqual(node.name, "server1")
        self.assertEqual(addresses(cluster["server2"]), addresses(cluster["server1"]))
        self.assertEqual(addresses(cluster["server3"]), addresses(cluster["server1"]))
        self.assertNotIn("ha-heartbeat", commands_to(cluster, "server2"))

    def test_backup_down_without_wait_ack(self):
        """wait-backup-ack false: a dead backup does not stop the service."""
        cluster = self._cluster()
        cluster["server3"].crash()
        node, ack = get_lease([cluster["server1"]], mac(1))
        self.assertIsNotNone(ack)
        self.assertEqual(cluster["server1"].state, "passive-backup")
        self.assertEqual(len(addresses(cluster["server2"])), 1)

    def test_backup_down_with_wait_ack(self):
        """wait-backup-ack true: one dead backup drops the query (the seed's words)."""
        cluster = self._cluster(wait_backup_ack=True)
        node, ack = get_lease([cluster["server1"]], mac(1))
        self.assertIsNotNone(ack, "both backups up: served")
        cluster["server3"].crash()
        node, ack = get_lease([cluster["server1"]], mac(2), xid=0x2000)
        self.assertIsNone(ack, "a failed backup update drops the query")
        self.assertEqual(cluster["server1"].state, "passive-backup")

    def test_backup_error_with_wait_ack(self):
        """wait-backup-ack true: a backup answering an error drops the query too."""
        cluster = self._cluster(wait_backup_ack=True)
        cluster["server2"].server.registry.unregister("lease4-update")
        node, ack = get_lease([cluster["server1"]], mac(3), xid=0x3000)
        self.assertIsNone(ack)
        offer = cluster["server1"].handle(discover(mac(4)))
        self.assertEqual(offer.message_type, MessageType.OFFER, "DISCOVER is never held")
