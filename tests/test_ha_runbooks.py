"""
The runbooks of docs/ha-runbooks.md, step by step, on complete kea-ha-tw
servers in one process (L{tests.ha_cluster}: peers wired through StubTreq,
one clock). Every command an operator sends here goes to the node's HA
listener resource with the same JSON body the runbook's curl line sends.
Nodes keep their leases in Kea CSV lease files, so a "restart" keeps them
and "an empty lease file" is a deleted file.
"""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from tests.builders import discover
from tests.ha_cluster import Cluster, get_lease, ha_server_json, mac

S1, S2, S3 = "192.168.56.33", "192.168.56.66", "192.168.56.99"
LB_PEERS = [("server1", "primary", S1), ("server2", "secondary", S2)]
LB_POOLS = [("192.0.2.100 - 192.0.2.149", "HA_server1"),
            ("192.0.2.150 - 192.0.2.199", "HA_server2")]
HS_PEERS = [("server1", "primary", S1), ("server2", "standby", S2)]
PB_PEERS = [("server1", "primary", S1), ("server2", "backup", S2), ("server3", "backup", S3)]
#: server2 promoted: it is the primary now, server1 (when it returns) a backup.
PB_PROMOTED = [("server1", "backup", S1), ("server2", "primary", S2), ("server3", "backup", S3)]

# The harness's timers: heartbeat 1 s, max-response-delay 3 s, max-ack-delay
# 1 s, max-unacked-clients 2.


def leases(node) -> dict[str, tuple]:
    """The node's leases: address -> (hw-address, cltt, valid lifetime, state)."""
    return {str(lease.address): (lease.hwaddr, lease.cltt, lease.valid_lft, lease.state)
            for lease in node.store.get_all()}


def page_all(node, limit: int = 3) -> list[dict]:
    """Every lease of C{node}, paged with lease4-get-page as the runbook does."""
    got: list[dict] = []
    start = "start"
    while True:
        answer = node.command("lease4-get-page", {"from": start, "limit": limit})
        if answer["result"] == 3:
            return got
        page = answer["arguments"]["leases"]
        got.extend(page)
        if answer["arguments"]["count"] < limit:
            return got
        start = page[-1]["ip-address"]


def comparable(page: list[dict]) -> set[tuple]:
    """The fields the consistency check compares."""
    return {(lease["ip-address"], lease["hw-address"], lease.get("client-id"), lease["cltt"],
             lease["valid-lft"], lease["state"]) for lease in page}


class RunbookTestCase(SynchronousTestCase):
    """A cluster whose nodes keep their leases in files under one directory."""

    def setUp(self):
        self.cluster = Cluster()
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def lease_file(self, name: str) -> str:
        """The lease file of node C{name}."""
        return os.path.join(self.dir, f"{name}.csv")

    def config(self, name: str, mode: str, peers, pools=None, **ha) -> str:
        """The node's configuration, with a Kea CSV lease file."""
        document = json.loads(ha_server_json(name, mode, peers, pools, **ha))
        document["Dhcp4"]["lease-database"] = {
            "type": "memfile", "persist": True, "name": self.lease_file(name), "lfc-interval": 0}
        return json.dumps(document)

    def boot(self, name: str, mode: str, peers, pools=None, index: int | None = None,
             empty: bool = False, clock_offset: float = 0.0, **ha):
        """Start (or restart) node C{name}; C{empty}: with its lease file deleted first."""
        if empty and os.path.exists(self.lease_file(name)):
            os.remove(self.lease_file(name))
        if index is None:
            index = int(name[-1])
        node = self.cluster.add(name, self.config(name, mode, peers, pools, **ha), index,
                                clock_offset=clock_offset)
        node.start()
        return node

    def serve(self, nodes, first: int, count: int, secs: int = 0) -> list[str]:
        """C{count} new clients get a lease from one of C{nodes}; the answering nodes."""
        answered = []
        for n in range(first, first + count):
            node, ack = get_lease(nodes, mac(n), xid=n * 16, secs=secs)
            self.assertIsNotNone(ack, f"client {n} got no lease")
            answered.append(node.name)
        return answered

    def lb_pair(self, **ha):
        """A load-balancing pair in its normal state."""
        s1 = self.boot("server1", "load-balancing", LB_PEERS, LB_POOLS, **ha)
        s2 = self.boot("server2", "load-balancing", LB_PEERS, LB_POOLS, **ha)
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        return s1, s2

    def hs_pair(self, **ha):
        """A hot-standby pair in its normal state."""
        s1 = self.boot("server1", "hot-standby", HS_PEERS, **ha)
        s2 = self.boot("server2", "hot-standby", HS_PEERS, **ha)
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        return s1, s2

    def pb_trio(self, **ha):
        """The seed's passive-backup trio in its normal state."""
        nodes = [self.boot(name, "passive-backup", PB_PEERS, **ha)
                 for name in ("server1", "server2", "server3")]
        self.cluster.run_until(
            {"server1": "passive-backup", "server2": "backup", "server3": "backup"})
        return nodes


class PlannedMaintenanceTests(RunbookTestCase):
    """Runbook 1: planned maintenance of server2."""

    def test_maintenance_shutdown_restart(self):
        """
        ha-maintenance-start on server1; server2 in-maintenance stops
        serving; server2 shut down: server1 partner-down at once, serving
        everyone, each client from its hash owner's pool; server2 restarted
        with its lease file: it syncs (server1 silent from the sync until
        its next heartbeat) and both return to load-balancing with
        identical leases.
        """
        s1, s2 = self.lb_pair()
        self.serve([s1, s2], 1, 6)
        answer = s1.command("ha-maintenance-start")
        self.assertEqual(answer, {
            "result": 0,
            "text": "Server is now in the partner-in-maintenance state and its partner is"
                    " in-maintenance state. The partner can be now safely shut down."})
        self.assertEqual(self.cluster.states(),
                         {"server1": "partner-in-maintenance", "server2": "in-maintenance"})
        self.assertFalse(s2.server.network_state.is_enabled())
        self.assertEqual(set(self.serve([s1, s2], 10, 4)), {"server1"})
        s2.crash()
        self.cluster.run_until({"server1": "partner-down"}, limit_s=1.5)
        owners = set()
        for n in range(20, 24):
            node, ack = get_lease([s1], mac(n), xid=n * 16)
            owner = s1.ha.policy.scope_of(discover(mac(n)))
            owners.add(owner)
            low = 100 if owner == "server1" else 150
            self.assertTrue(low <= ack.yiaddr.packed[3] < low + 50,
                            "the survivor allocates from the hash owner's pool")
        self.assertEqual(owners, {"server1", "server2"})
        s2 = self.boot("server2", "load-balancing", LB_PEERS, LB_POOLS)
        self.cluster.run_until({"server2": "ready"})
        self.assertEqual(s1.state, "partner-down")
        self.assertFalse(s1.server.network_state.is_enabled(),
                         "server1 is silent from the sync until its next heartbeat")
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"},
                               limit_s=1.25)
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s2)), 14)

    def test_maintenance_cancel_refused_elsewhere(self):
        """ha-maintenance-cancel is refused on the server in maintenance itself."""
        s1, s2 = self.lb_pair()
        s1.command("ha-maintenance-start")
        answer = s2.command("ha-maintenance-cancel")
        self.assertEqual(answer, {
            "result": 1,
            "text": "Unable to cancel maintenance request because the server is not in the"
                    " partner-in-maintenance state."})
        self.assertEqual(s1.command("ha-maintenance-cancel")["result"], 0)
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})


class PartnerCrashTests(RunbookTestCase):
    """Runbook 2: partner crash and recovery."""

    def test_few_clients_no_failover_until_forced(self):
        """
        The primary crashes at a quiet time: the standby stays in hot-standby
        (no unacked clients); ha-maintenance-start on the standby takes it to
        partner-down at once. The primary restarts with its leases and both
        return to hot-standby with identical lease sets.
        """
        s1, s2 = self.hs_pair()
        self.serve([s1, s2], 1, 4)
        s1.crash()
        self.cluster.advance(10)
        self.assertEqual(s2.state, "hot-standby")
        status = s2.command("status-get")["arguments"]["high-availability"][0]
        remote = status["ha-servers"]["remote"]
        self.assertTrue(remote["communication-interrupted"])
        self.assertEqual(remote["last-state"], "unavailable")
        self.assertEqual(remote["unacked-clients-left"], 3)
        answer = s2.command("ha-maintenance-start")
        self.assertEqual(answer, {
            "result": 0,
            "text": "Server is now in the partner-down state as its partner appears to be"
                    " offline for maintenance."})
        self.assertEqual(s2.state, "partner-down")
        self.assertEqual(set(self.serve([s2], 10, 3)), {"server2"})
        s1 = self.boot("server1", "hot-standby", HS_PEERS)
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s1)), 7)

    def test_primary_drops_requests_until_partner_down(self):
        """
        The standby dies: until max-response-delay has passed the hot-standby
        primary still sends it lease updates, they fail, and every REQUEST is
        dropped (DISCOVERs are answered); then the primary goes to
        partner-down without waiting for unacked clients and serves again.
        """
        s1, s2 = self.hs_pair()
        s2.crash()
        self.cluster.advance(1.25)
        self.assertEqual(s1.state, "hot-standby")
        self.assertIsNotNone(s1.handle(discover(mac(1), xid=0x08)), "DISCOVER answered")
        self.assertIsNone(get_lease([s1], mac(1), xid=0x10)[1])
        self.assertEqual(s1.server.dhcp.stats.get("pkt4-request-received"), 1)
        self.cluster.run_until({"server1": "partner-down"}, limit_s=3)
        self.assertIsNotNone(get_lease([s1], mac(2), xid=0x20)[1])

    def test_unacked_clients_fail_over(self):
        """
        With clients retrying (secs above max-ack-delay), the standby goes to
        partner-down on its own once more than max-unacked-clients are seen.
        """
        s1, s2 = self.hs_pair()
        s1.crash()
        self.cluster.advance(3.5)
        for n in range(1, 4):
            self.assertIsNone(get_lease([s2], mac(n), xid=n * 16, secs=5)[1])
        self.cluster.run_until({"server2": "partner-down"}, limit_s=1.5)


class EmptyLeaseFileTests(RunbookTestCase):
    """Runbook 3: restarting a server with an empty lease file."""

    def test_resync_from_partner(self):
        """server2 restarted with no lease file pulls every lease from server1."""
        s1, s2 = self.lb_pair()
        self.serve([s1, s2], 1, 8)
        s2.crash()
        s2 = self.boot("server2", "load-balancing", LB_PEERS, LB_POOLS, empty=True)
        self.assertEqual(leases(s2), {})
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s2)), 8)

    def test_pause_in_waiting_protects_an_empty_server(self):
        """
        An empty server configured to pause once in waiting does not go to
        partner-down on its own while its partner is unreachable; once the
        partner is back, ha-continue lets it sync.
        """
        pause = {"state_machine": {"states": [{"state": "waiting", "pause": "once"}]}}
        s1, s2 = self.hs_pair()
        self.serve([s1, s2], 1, 5)
        s1.crash()
        s2.crash()
        s2 = self.boot("server2", "hot-standby", HS_PEERS, empty=True, **pause)
        self.cluster.advance(10)
        self.assertEqual(s2.state, "waiting")
        self.assertFalse(s2.server.network_state.is_enabled())
        s1 = self.boot("server1", "hot-standby", HS_PEERS)
        self.cluster.advance(2)
        self.assertEqual(s2.state, "waiting")
        self.assertEqual(s2.command("ha-continue"),
                         {"result": 0, "text": "HA state machine continues."})
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s2)), 5)

    def test_empty_server_alone_goes_partner_down(self):
        """Without the pause, an empty server whose partner is down serves everyone."""
        s1, s2 = self.hs_pair()
        s1.crash()
        s2.crash()
        s2 = self.boot("server2", "hot-standby", HS_PEERS, empty=True)
        self.cluster.run_until({"server2": "partner-down"}, limit_s=5)
        self.assertEqual(leases(s2), {})


class TerminatedTests(RunbookTestCase):
    """Runbook 4: recovering from terminated (clock skew)."""

    def test_restart_both_after_fixing_the_clock(self):
        """
        75 s of skew: both terminated, both still serving their own scopes
        without lease updates. ha-reset alone bounces back to terminated.
        Clock fixed, the standby restarted: it waits; the primary restarted:
        both sync from each other and return to hot-standby with the
        leases each gave while terminated.
        """
        s1 = self.boot("server1", "hot-standby", HS_PEERS)
        s2 = self.boot("server2", "hot-standby", HS_PEERS, clock_offset=75)
        self.cluster.run_until({"server1": "terminated", "server2": "terminated"})
        self.assertTrue(s1.server.network_state.is_enabled())
        self.assertEqual(s1.command("status-get")["arguments"]["high-availability"][0]
                         ["ha-servers"]["local"]["scopes"], ["server1"])
        self.assertEqual(set(self.serve([s1, s2], 1, 3)), {"server1"})
        self.assertEqual(leases(s2), {}, "no lease updates in terminated")
        self.assertEqual(s1.command("ha-reset"), {"result": 0, "text": "HA state machine reset."})
        self.assertEqual(s1.state, "terminated")
        s2.clock.offset = 0
        s2.crash()
        s2 = self.boot("server2", "hot-standby", HS_PEERS)
        self.cluster.advance(3)
        self.assertEqual(s2.state, "waiting")
        self.assertEqual(s1.state, "terminated")
        s1.crash()
        s1 = self.boot("server1", "hot-standby", HS_PEERS)
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s2)), 3)


class SplitBrainTests(RunbookTestCase):
    """Runbook 5: the link between the servers breaks, both still reach clients."""

    def test_unacked_rule_prevents_split_brain(self):
        """
        Load-balancing, default-like max-unacked-clients: both go to
        communication-recovery and keep serving their own clients only; the
        partner's clients are answered by the partner, so their secs stay low
        and no one goes to partner-down. The link returns: backlogs replayed,
        both load-balancing with identical leases.
        """
        s1, s2 = self.lb_pair()
        s1.reachable = s2.reachable = False
        self.cluster.advance(5)
        self.assertEqual(self.cluster.states(),
                         {"server1": "communication-recovery",
                          "server2": "communication-recovery"})
        answered = self.serve([s1, s2], 1, 10)
        self.assertEqual(set(answered), {"server1", "server2"})
        self.cluster.advance(3)
        self.assertEqual(self.cluster.states(),
                         {"server1": "communication-recovery",
                          "server2": "communication-recovery"})
        s1.reachable = s2.reachable = True
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s1)), 10)

    def test_hot_standby_link_loss(self):
        """
        Hot-standby: the primary goes to partner-down and serves on, the
        standby sees the primary's clients answered and stays in
        hot-standby. The link returns: the standby resyncs from the primary
        and both return to hot-standby with identical leases.
        """
        s1, s2 = self.hs_pair()
        s1.reachable = s2.reachable = False
        self.cluster.run_until({"server1": "partner-down"}, limit_s=6)
        self.assertEqual(set(self.serve([s1, s2], 1, 4)), {"server1"})
        self.cluster.advance(3)
        self.assertEqual(s2.state, "hot-standby")
        self.assertEqual(leases(s2), {})
        s1.reachable = s2.reachable = True
        self.cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s2)), 4)

    def test_split_brain_with_zero_unacked_clients(self):
        """
        max-unacked-clients 0: a broken link sends both to partner-down (both
        serve everyone) and the same free address can go to two clients.
        When the link returns both go through waiting and sync from each
        other; the lease with the newer cltt wins on both sides.
        """
        s1, s2 = self.lb_pair(max_unacked_clients=0)
        s1.reachable = s2.reachable = False
        self.cluster.run_until({"server1": "partner-down", "server2": "partner-down"},
                               limit_s=6)
        self.serve([s1], 1, 3)
        self.cluster.advance(2)
        self.serve([s2], 20, 3)
        one, two = leases(s1), leases(s2)
        clashes = {a for a in set(one) & set(two) if one[a][0] != two[a][0]}
        self.assertTrue(clashes, "both servers gave one address to different clients")
        s1.reachable = s2.reachable = True
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(leases(s1), leases(s2))
        for address in clashes:
            self.assertEqual(leases(s1)[address], two[address], "the newer lease won")


class PassiveBackupPromotionTests(RunbookTestCase):
    """Runbook 6: the passive-backup primary is lost; a backup is promoted."""

    def test_promote_backup_then_old_primary_returns_as_backup(self):
        """
        server1 dies; server2 restarted with roles swapped (and
        wait-backup-ack false while server1 is away) serves at once with the
        leases it received; server3 (old file) keeps receiving updates;
        server1 returns as a backup with an empty lease file and ha-sync
        from server2 fills it; server2's DHCP service is back on after the
        sync; server2 restarted with wait-backup-ack true serves again.
        """
        s1, s2, s3 = self.pb_trio(wait_backup_ack=True)
        self.serve([s1, s2, s3], 1, 5)
        s1.crash()
        self.cluster.advance(5)
        self.assertEqual(s2.state, "backup", "backups do not notice the primary is gone")
        s2.crash()
        s2 = self.boot("server2", "passive-backup", PB_PROMOTED, wait_backup_ack=False)
        self.cluster.run_until({"server2": "passive-backup"}, limit_s=1)
        self.assertEqual(len(leases(s2)), 5)
        self.assertEqual(set(self.serve([s1, s2, s3], 10, 3)), {"server2"})
        self.assertEqual(leases(s3), leases(s2), "server3 keeps its old file and still follows")
        s1 = self.boot("server1", "passive-backup", PB_PROMOTED, empty=True,
                       wait_backup_ack=False)
        self.cluster.run_until({"server1": "backup"}, limit_s=1)
        answer = s1.command("ha-sync", {"server-name": "server2", "max-period": 60})
        self.assertEqual(answer, {"result": 0, "text": "Lease database synchronization complete."})
        self.assertEqual(leases(s1), leases(s2))
        self.assertTrue(s2.server.network_state.is_enabled())
        s2.crash()
        s2 = self.boot("server2", "passive-backup", PB_PROMOTED, wait_backup_ack=True)
        self.cluster.run_until({"server2": "passive-backup"}, limit_s=1)
        self.serve([s1, s2, s3], 20, 2)
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(leases(s3), leases(s2))

    def test_wait_backup_ack_with_the_old_primary_listed_drops_everything(self):
        """
        Promoting with wait-backup-ack still true while the old primary is
        listed as a backup and down: every REQUEST is dropped.
        """
        s1, s2, s3 = self.pb_trio(wait_backup_ack=True)
        s1.crash()
        s2.crash()
        s2 = self.boot("server2", "passive-backup", PB_PROMOTED, wait_backup_ack=True)
        self.cluster.run_until({"server2": "passive-backup"}, limit_s=1)
        self.assertIsNone(get_lease([s2], mac(1))[1])


class BackupDownWaitAckTests(RunbookTestCase):
    """Runbook 7: a backup is down while wait-backup-ack is true."""

    def test_turn_wait_backup_ack_off_then_resync_backup(self):
        """
        server3 down: the primary still OFFERs but drops every ACK. Restarted
        with wait-backup-ack false it serves again (lease file kept). When
        server3 returns it lacks the leases given meanwhile; ha-sync on
        server3 from server1 fills the gap.
        """
        s1, s2, s3 = self.pb_trio(wait_backup_ack=True)
        self.serve([s1, s2, s3], 1, 3)
        s3.crash()
        node, ack = get_lease([s1], mac(10), xid=0x1000)
        self.assertIsNone(ack)
        self.assertEqual(s1.state, "passive-backup")
        s1.crash()
        s1 = self.boot("server1", "passive-backup", PB_PEERS, wait_backup_ack=False)
        self.cluster.run_until({"server1": "passive-backup"}, limit_s=1)
        self.assertEqual(set(self.serve([s1], 20, 3)), {"server1"})
        s3 = self.boot("server3", "passive-backup", PB_PEERS, wait_backup_ack=False)
        self.cluster.run_until({"server3": "backup"}, limit_s=1)
        missing = set(leases(s1)) - set(leases(s3))
        self.assertEqual(len(missing), 4, "the dropped REQUEST's lease and three new ones")
        answer = s3.command("ha-sync", {"server-name": "server1", "max-period": 60})
        self.assertEqual(answer["result"], 0, answer)
        self.assertEqual(leases(s3), leases(s1))
        self.assertEqual(leases(s2), leases(s1))


class ReplacePeerTests(RunbookTestCase):
    """Runbook 8: replacing a peer."""

    def test_replace_with_new_address(self):
        """
        server2 is replaced by a machine at a new address: server1 sent to
        partner-down; the new server2 (new peer list) syncs from server1 and
        waits in ready; server1 restarted with the new peer list: both
        return to load-balancing with identical leases.
        """
        new_peers = [("server1", "primary", S1), ("server2", "secondary", "192.168.56.77")]
        s1, s2 = self.lb_pair()
        self.serve([s1, s2], 1, 6)
        s2.crash()
        self.assertEqual(s1.command("ha-maintenance-start")["result"], 0)
        self.assertEqual(s1.state, "partner-down")
        s2 = self.boot("server2", "load-balancing", new_peers, LB_POOLS, empty=True)
        self.cluster.run_until({"server2": "ready"})
        self.assertEqual(leases(s2), leases(s1))
        self.cluster.advance(5)
        self.assertEqual(self.cluster.states(), {"server1": "partner-down", "server2": "ready"})
        s1.crash()
        s1 = self.boot("server1", "load-balancing", new_peers, LB_POOLS)
        self.cluster.run_until({"server1": "load-balancing", "server2": "load-balancing"})
        self.assertEqual(leases(s1), leases(s2))
        self.assertEqual(len(leases(s1)), 6)


class ConsistencyCheckTests(RunbookTestCase):
    """Runbook 9: comparing the lease sets of two peers."""

    def test_pages_compare_and_ha_sync_repairs(self):
        """
        lease4-get-page through both lease sets gives the same leases; a
        lease missing on one side shows up in the comparison, and ha-sync on
        that side brings it back.
        """
        s1, s2 = self.lb_pair()
        self.serve([s1, s2], 1, 7)
        one, two = page_all(s1), page_all(s2)
        self.assertEqual(len(one), 7)
        self.assertEqual(comparable(one), comparable(two))
        lost = one[3]["ip-address"]
        answer = s2.command("lease4-del", {"ip-address": lost})
        self.assertEqual(answer["result"], 0, answer)
        diff = comparable(page_all(s1)) - comparable(page_all(s2))
        self.assertEqual({entry[0] for entry in diff}, {lost})
        answer = s2.command("ha-sync", {"server-name": "server1", "max-period": 30})
        self.assertEqual(answer["result"], 0, answer)
        self.assertEqual(comparable(page_all(s1)), comparable(page_all(s2)))
