"""
Tests for L{kea_ha_tw.ha.updates}: Kea's lease-update fan-out, through
real L{PeerClient}s over StubTreq to scripted peers.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.ha.client import PeerClient
from kea_ha_tw.ha.policies import policy_for
from kea_ha_tw.ha.states import HAState
from kea_ha_tw.ha.updates import (
    BacklogOp,
    LeaseUpdater,
    lease_delete_arguments,
    lease_update_arguments,
)
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.kea_peer_stub import HANG, FakeKeaPeer, InOrder, ok, peer_config

S = HAState


def lease(n: int = 44, **kwargs) -> Lease4:
    """A lease in 192.0.2.0/24 like the one Kea's capture shows."""
    values = dict(
        address=IPv4Address(f"192.0.2.{n}"),
        hwaddr=bytes.fromhex("132cded6237b"),
        client_id=bytes.fromhex("01132cded6237b"),
        valid_lft=3600,
        cltt=1795593849,
        subnet_id=1,
    )
    values.update(kwargs)
    return Lease4(**values)


class _Query:
    xid = 0x1234
    hwaddr = bytes.fromhex("132cded6237b")


QUERY = _Query()


class Rig:
    """An updater for server1 with scripted peers (one StubTreq each)."""

    def __init__(self, mode, peers, updater_kwargs=None, **ha_kwargs):
        self.clock = Clock()
        self.ha = HAConfig(this_server_name="server1", mode=mode, peers=tuple(peers), **ha_kwargs)
        self.policy = policy_for(self.ha)
        self.stubs = {}
        self.treqs = {}
        clients = {}
        for p in peers:
            if p.name == "server1":
                continue
            stub = self.stubs[p.name] = FakeKeaPeer()
            self.treqs[p.name] = StubTreq(stub)
            clients[p.name] = PeerClient(p, self.treqs[p.name], self.clock)
        self.failed = []
        self.updater = LeaseUpdater(self.ha, self.policy, clients, self.clock,
                                    self.failed.append, **(updater_kwargs or {}))

    def flush(self):
        """Deliver the answers of released requests."""
        for t in self.treqs.values():
            t.flush()


def lb_rig(**kwargs):
    """Load-balancing server1 (primary) + server2 (secondary) + server3 (backup)."""
    return Rig("load-balancing", [peer_config("server1", "primary", "127.0.0.1"),
                                  peer_config("server2", "secondary", "127.0.0.2"),
                                  peer_config("server3", "backup", "127.0.0.3")], **kwargs)


def pb_rig(**kwargs):
    """The seed's passive-backup: server1 primary, server2 and server3 backups."""
    return Rig("passive-backup", [peer_config("server1", "primary", "127.0.0.1"),
                                  peer_config("server2", "backup", "127.0.0.2"),
                                  peer_config("server3", "backup", "127.0.0.3")], **kwargs)


class ArgumentTests(SynchronousTestCase):
    """The lease arguments Kea's HA sends."""

    def test_update_arguments(self):
        """lease4-update: the lease with expire instead of cltt, plus force-create."""
        self.assertEqual(lease_update_arguments(lease()), {
            "client-id": "01:13:2c:de:d6:23:7b", "expire": 1795597449, "force-create": True,
            "fqdn-fwd": False, "fqdn-rev": False, "hostname": "",
            "hw-address": "13:2c:de:d6:23:7b", "ip-address": "192.0.2.44", "state": 0,
            "subnet-id": 1, "valid-lft": 3600,
        })

    def test_delete_arguments(self):
        """lease4-del: the full lease with expire, no force-create."""
        args = lease_delete_arguments(lease())
        self.assertEqual(args["expire"], 1795597449)
        self.assertNotIn("cltt", args)
        self.assertNotIn("force-create", args)
        self.assertEqual(args["ip-address"], "192.0.2.44")

    def test_no_client_id(self):
        """client-id is present only when the lease has one."""
        self.assertNotIn("client-id", lease_update_arguments(lease(client_id=None)))

    def test_user_context(self):
        """user-context travels with the lease."""
        args = lease_update_arguments(lease(user_context={"a": "b"}))
        self.assertEqual(args["user-context"], {"a": "b"})


class PartnerTests(SynchronousTestCase):
    """The reply waits for the active partner and dies with it."""

    def test_partner_ack_releases_reply(self):
        """In load-balancing the partner and the backup get one lease4-update each."""
        rig = lb_rig()
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)))
        for name in ("server2", "server3"):
            [req] = rig.stubs[name].received
            self.assertEqual(req.command, "lease4-update")
            self.assertEqual(req.arguments, lease_update_arguments(lease()))
        self.assertEqual(rig.stubs["server2"].received[0].body,
                         b'{ "arguments": { "client-id": "01:13:2c:de:d6:23:7b", '
                         b'"expire": 1795597449, "force-create": true, "fqdn-fwd": false, '
                         b'"fqdn-rev": false, "hostname": "", "hw-address": "13:2c:de:d6:23:7b", '
                         b'"ip-address": "192.0.2.44", "state": 0, "subnet-id": 1, '
                         b'"valid-lft": 3600 }, "command": "lease4-update", '
                         b'"service": [ "dhcp4" ] }')
        self.assertEqual(rig.failed, [])

    def test_deletes_first_one_request_per_lease(self):
        """Deleted leases go first as lease4-del, then each lease as lease4-update."""
        rig = lb_rig()
        self.successResultOf(rig.updater.send(
            QUERY, [lease(45), lease(46)], [lease(44)], S.HOT_STANDBY))
        stub = rig.stubs["server2"]
        self.assertEqual(stub.commands(), ["lease4-del", "lease4-update", "lease4-update"])
        self.assertEqual([r.arguments["ip-address"] for r in stub.received],
                         ["192.0.2.44", "192.0.2.45", "192.0.2.46"])

    def test_reply_waits_for_partner(self):
        """The reply stays parked until the partner acknowledges."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-update"] = HANG
        d = rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)
        self.assertNoResult(d)
        rig.stubs["server2"].release(ok("IPv4 lease updated."))
        rig.flush()
        self.assertTrue(self.successResultOf(d))

    def test_partner_error_drops_reply(self):
        """A partner error drops the reply and marks the partner unavailable."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-update"] = ok("Invalid subnet-id", result=1)
        self.assertFalse(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)))
        self.assertEqual(rig.failed, ["server2"])

    def test_partner_timeout_drops_reply(self):
        """A partner that never answers drops the reply after 10 s."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-update"] = HANG
        d = rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)
        rig.clock.advance(10.5)
        self.assertFalse(self.successResultOf(d))
        self.assertEqual(rig.failed, ["server2"])

    def test_one_of_two_updates_fails(self):
        """If any one of several lease updates fails the reply is dropped."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-update"] = InOrder(ok(), ok("no", result=1))
        self.assertFalse(self.successResultOf(
            rig.updater.send(QUERY, [lease(45), lease(46)], [], S.LOAD_BALANCING)))

    def test_lease_not_found_on_delete_is_success(self):
        """lease4-del answered with result 3 counts as success."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-del"] = ok("IPv4 lease not found.", result=3)
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [], [lease()], S.LOAD_BALANCING)))

    def test_decline(self):
        """A declined lease is a lease4-update with state 1 and empty hw-address."""
        rig = lb_rig()
        declined = lease(hwaddr=b"", client_id=None, state=LeaseState.DECLINED, valid_lft=86400)
        self.successResultOf(rig.updater.send(QUERY, [declined], [], S.LOAD_BALANCING))
        args = rig.stubs["server2"].received[0].arguments
        self.assertEqual((args["state"], args["hw-address"]), (1, ""))

    def test_partner_in_maintenance_sends(self):
        """partner-in-maintenance still sends and waits for the partner."""
        rig = lb_rig()
        rig.stubs["server2"].answers["lease4-update"] = ok("x", result=1)
        self.assertFalse(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.PARTNER_IN_MAINTENANCE)))

    def test_nothing_committed(self):
        """No leases and no deletions: nothing sent, nothing counted, reply goes."""
        rig = lb_rig()
        self.assertTrue(self.successResultOf(rig.updater.send(QUERY, [], [], S.PARTNER_DOWN)))
        self.assertEqual(rig.updater.unsent_update_count, 0)
        self.assertEqual(rig.stubs["server3"].received, [])


class BackupTests(SynchronousTestCase):
    """Backups: best effort, unless passive-backup with wait-backup-ack."""

    def test_backup_failure_ignored(self):
        """In load-balancing a failing backup changes nothing."""
        rig = lb_rig()
        rig.stubs["server3"].answers["lease4-update"] = ok("broken", result=1)
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)))
        self.assertEqual(rig.failed, [])

    def test_backup_not_waited_for(self):
        """The reply leaves before a hung backup answers."""
        rig = lb_rig()
        rig.stubs["server3"].answers["lease4-update"] = HANG
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)))
        rig.clock.advance(11)
        self.assertEqual(rig.failed, [])

    def test_passive_backup_default_no_wait(self):
        """passive-backup without wait-backup-ack: one backup failing, the reply goes."""
        rig = pb_rig()
        rig.stubs["server2"].answers["lease4-update"] = ok("broken", result=1)
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.PASSIVE_BACKUP)))
        self.assertEqual(len(rig.stubs["server3"].received), 1)
        self.assertEqual(rig.failed, [])

    def test_wait_backup_ack_one_failing_drops(self):
        """wait-backup-ack: one of two backups failing drops the query (the seed)."""
        rig = pb_rig(wait_backup_ack=True)
        rig.stubs["server3"].answers["lease4-update"] = ok("broken", result=1)
        self.assertFalse(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.PASSIVE_BACKUP)))
        self.assertEqual(len(rig.stubs["server2"].received), 1)
        self.assertEqual(rig.failed, [], "backup failures never change any state")

    def test_wait_backup_ack_unreachable_backup_drops(self):
        """wait-backup-ack: a backup that never answers drops the query at timeout."""
        rig = pb_rig(wait_backup_ack=True)
        rig.stubs["server2"].answers["lease4-update"] = HANG
        d = rig.updater.send(QUERY, [lease()], [], S.PASSIVE_BACKUP)
        self.assertNoResult(d)
        rig.clock.advance(10.5)
        self.assertFalse(self.successResultOf(d))

    def test_wait_backup_ack_waits_for_all(self):
        """wait-backup-ack: the reply waits for both backups' acknowledgements."""
        rig = pb_rig(wait_backup_ack=True)
        rig.stubs["server2"].answers["lease4-update"] = HANG
        rig.stubs["server3"].answers["lease4-update"] = HANG
        d = rig.updater.send(QUERY, [lease()], [], S.PASSIVE_BACKUP)
        rig.stubs["server2"].release()
        rig.flush()
        self.assertNoResult(d)
        rig.stubs["server3"].release()
        rig.flush()
        self.assertTrue(self.successResultOf(d))

    def test_backups_updated_in_partner_down(self):
        """In partner-down the backups still get every update."""
        rig = lb_rig()
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.PARTNER_DOWN)))
        self.assertEqual(rig.stubs["server3"].commands(), ["lease4-update"])
        self.assertEqual(rig.stubs["server2"].received, [])


class UnsentTests(SynchronousTestCase):
    """unsent-update-count."""

    def test_partner_down_counts_once_per_query(self):
        """partner-down: nothing to the partner, +1 per query whatever the lease count."""
        rig = lb_rig()
        self.successResultOf(rig.updater.send(QUERY, [lease(1), lease(2)], [lease(3)],
                                              S.PARTNER_DOWN))
        self.successResultOf(rig.updater.send(QUERY, [lease(4)], [], S.TERMINATED))
        self.assertEqual(rig.updater.unsent_update_count, 2)
        self.assertEqual(rig.stubs["server2"].received, [])

    def test_wrap_skips_zero(self):
        """The 64-bit counter skips 0 when it wraps."""
        rig = lb_rig()
        rig.updater.unsent_update_count = 2**64 - 1
        self.successResultOf(rig.updater.send(QUERY, [lease()], [], S.PARTNER_DOWN))
        self.assertEqual(rig.updater.unsent_update_count, 1)

    def test_send_lease_updates_false(self):
        """send-lease-updates false: nothing sent to anyone, nothing counted."""
        rig = lb_rig(send_lease_updates=False)
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING)))
        self.successResultOf(rig.updater.send(QUERY, [lease()], [], S.PARTNER_DOWN))
        self.assertEqual([s.received for s in rig.stubs.values()], [[], []])
        self.assertEqual(rig.updater.unsent_update_count, 0)


class BacklogTests(SynchronousTestCase):
    """communication-recovery backlog."""

    def test_queued_not_sent(self):
        """In communication-recovery partner updates are queued; the reply is not held."""
        rig = lb_rig(delayed_updates_limit=5)
        rig.stubs["server2"].answers["lease4-update"] = HANG
        self.assertTrue(self.successResultOf(
            rig.updater.send(QUERY, [lease(2)], [lease(1)], S.COMMUNICATION_RECOVERY)))
        self.assertEqual(rig.stubs["server2"].received, [])
        self.assertEqual(rig.stubs["server3"].commands(), ["lease4-del", "lease4-update"])
        self.assertEqual(rig.updater.backlog(),
                         [(BacklogOp.DELETE, lease(1)), (BacklogOp.ADD, lease(2))])
        self.assertFalse(rig.updater.backlog_overflowed)

    def test_overflow(self):
        """Beyond delayed-updates-limit the backlog is overflown."""
        rig = lb_rig(delayed_updates_limit=2)
        for n in range(3):
            self.successResultOf(rig.updater.send(QUERY, [lease(n)], [], S.COMMUNICATION_RECOVERY))
        self.assertEqual(rig.updater.backlog_size, 2)
        self.assertTrue(rig.updater.backlog_overflowed)
        rig.updater.clear_backlog()
        self.assertEqual((rig.updater.backlog_size, rig.updater.backlog_overflowed), (0, False))

    def test_replay_in_order(self):
        """The backlog is replayed one request at a time, in order."""
        rig = lb_rig(delayed_updates_limit=10)
        self.successResultOf(rig.updater.send(QUERY, [lease(2)], [lease(1)],
                                              S.COMMUNICATION_RECOVERY))
        self.successResultOf(rig.updater.send(QUERY, [lease(3)], [], S.COMMUNICATION_RECOVERY))
        stub = rig.stubs["server2"]
        stub.answers["lease4-del"] = HANG
        d = rig.updater.replay_backlog()
        self.assertEqual(stub.commands(), ["lease4-del"])
        stub.release()
        rig.flush()
        self.assertTrue(self.successResultOf(d))
        self.assertEqual([(r.command, r.arguments["ip-address"]) for r in stub.received],
                         [("lease4-del", "192.0.2.1"), ("lease4-update", "192.0.2.2"),
                          ("lease4-update", "192.0.2.3")])
        self.assertTrue(stub.received[1].arguments["force-create"])
        self.assertEqual(rig.updater.backlog_size, 0)

    def test_replay_failure(self):
        """A failed backlog update stops the replay with False."""
        rig = lb_rig(delayed_updates_limit=10)
        for n in range(3):
            self.successResultOf(rig.updater.send(QUERY, [lease(n)], [], S.COMMUNICATION_RECOVERY))
        rig.stubs["server2"].answers["lease4-update"] = InOrder(ok(), ok("no", result=1))
        self.assertFalse(self.successResultOf(rig.updater.replay_backlog()))
        self.assertEqual(len(rig.stubs["server2"].received), 2)

    def test_replay_empty(self):
        """An empty backlog replays trivially."""
        self.assertTrue(self.successResultOf(lb_rig().updater.replay_backlog()))

    def test_ha_reset(self):
        """send_ha_reset sends ha-reset to the partner and reports success."""
        rig = lb_rig()
        self.assertTrue(self.successResultOf(rig.updater.send_ha_reset()))
        self.assertEqual(rig.stubs["server2"].received[0].body,
                         b'{ "command": "ha-reset", "service": [ "dhcp4" ] }')
        rig.stubs["server2"].answers["ha-reset"] = ok("no", result=1)
        self.assertFalse(self.successResultOf(rig.updater.send_ha_reset()))


class ReclaimTests(SynchronousTestCase):
    """Replication of reclaimed leases is an explicit option."""

    def test_off_by_default(self):
        """Kea 2.2 does not replicate reclamation: nothing is sent."""
        rig = lb_rig()
        self.successResultOf(rig.updater.send_reclaimed(
            [lease(state=LeaseState.EXPIRED_RECLAIMED)], [], S.LOAD_BALANCING))
        self.assertEqual(rig.stubs["server2"].received, [])

    def test_on(self):
        """With the option, reclaimed leases go out as lease4-update state 2 (and dels)."""
        rig = lb_rig(updater_kwargs={"replicate_reclaimed": True})
        self.successResultOf(rig.updater.send_reclaimed(
            [lease(5, state=LeaseState.EXPIRED_RECLAIMED)], [lease(6)], S.LOAD_BALANCING))
        stub = rig.stubs["server2"]
        self.assertEqual(stub.commands(), ["lease4-del", "lease4-update"])
        self.assertEqual(stub.received[1].arguments["state"], 2)
        self.successResultOf(rig.updater.send_reclaimed([lease(7)], [], S.PARTNER_DOWN))
        self.assertEqual(len(stub.received), 2)
        self.assertEqual(rig.updater.unsent_update_count, 0)

    def test_as_reclaim_observer(self):
        """Called as observer(leases): kept leases updated, removed ones deleted."""
        rig = lb_rig(updater_kwargs={"replicate_reclaimed": True})
        reclaimed = lease(5, state=LeaseState.EXPIRED_RECLAIMED)
        self.successResultOf(rig.updater.send_reclaimed([reclaimed]))
        self.assertEqual(rig.stubs["server2"].received, [], "no state known: nothing sent")
        rig.updater.state_provider = lambda: S.HOT_STANDBY
        self.successResultOf(rig.updater.send_reclaimed(
            [lease(5, state=LeaseState.EXPIRED_RECLAIMED), lease(6, state=LeaseState.DECLINED)]))
        self.assertEqual(rig.stubs["server2"].commands(), ["lease4-del", "lease4-update"])
        self.assertEqual(rig.stubs["server2"].received[0].arguments["ip-address"], "192.0.2.6")


class IdleTests(SynchronousTestCase):
    """wait_idle for shutdown."""

    def test_wait_idle(self):
        """wait_idle fires once the in-flight updates (backups too) finish."""
        rig = lb_rig()
        self.successResultOf(rig.updater.wait_idle())
        rig.stubs["server3"].answers["lease4-update"] = HANG
        self.successResultOf(rig.updater.send(QUERY, [lease()], [], S.LOAD_BALANCING))
        idle = rig.updater.wait_idle()
        self.assertNoResult(idle)
        rig.clock.advance(11)
        self.successResultOf(idle)


class QueuedTests(SynchronousTestCase):
    """
    C{updates_queued}: true while a request to a peer waits for a free
    connection of the lean pool (what makes the DHCP socket read one
    datagram per turn).
    """

    def build(self, mode="hot-standby", role="standby", ha_kwargs=None, **kwargs):
        """A primary whose partner (or backup) is reached on one lean-pool connection."""
        from kea_ha_tw.ha.peer_http import PeerHTTPPool
        from tests.test_peer_http import RawEndpoint
        clock = Clock()
        self.endpoint = RawEndpoint()
        pool = PeerHTTPPool(clock, endpoint_for=lambda scheme, host, port: self.endpoint,
                            connections_per_peer=1)
        peers = [peer_config("server1", "primary", "127.0.0.1"),
                 peer_config("server2", role, "127.0.0.2")]
        ha = HAConfig(this_server_name="server1", mode=mode, peers=tuple(peers),
                      **(ha_kwargs or {}))
        client = PeerClient(peers[1], pool, clock)
        updater = LeaseUpdater(ha, policy_for(ha), {"server2": client}, clock, [].append,
                               **kwargs)
        return updater, client

    def test_backups_count_only_with_wait_backup_ack(self):
        """Replies do not wait for a backup unless wait-backup-ack: nor do read turns."""
        for wait, expected in ((False, False), (True, True)):
            updater, client = self.build("passive-backup", "backup",
                                         {"wait_backup_ack": wait})
            updater.send(QUERY, [lease(44)], [], S.PASSIVE_BACKUP)
            updater.send(QUERY, [lease(45)], [], S.PASSIVE_BACKUP)
            self.assertEqual(client.queued, 1)
            self.assertIs(updater.updates_queued(), expected)

    def test_requests_waiting_for_a_connection(self):
        """Two leases on one connection: the second waits until the first is answered."""
        from tests.test_peer_http import answer
        updater, client = self.build()
        endpoint = self.endpoint
        self.assertFalse(updater.updates_queued())
        first = updater.send(QUERY, [lease(44)], [], S.HOT_STANDBY)
        self.assertFalse(updater.updates_queued())
        second = updater.send(QUERY, [lease(45)], [], S.HOT_STANDBY)
        self.assertEqual(client.queued, 1)
        self.assertTrue(updater.updates_queued())
        answer(endpoint.protocols[0])
        self.assertTrue(self.successResultOf(first))
        self.assertFalse(updater.updates_queued())
        answer(endpoint.protocols[0])
        self.assertTrue(self.successResultOf(second))

    def test_only_peers_that_take_no_batches_count(self):
        """
        With batching on, a request queued for a peer that batches (or not
        known yet) does not count; for one that refused batches it does.
        """
        updater, client = self.build(batch_updates=True)
        batcher = updater.batchers["server2"]
        updater.send(QUERY, [lease(44)], [], S.HOT_STANDBY)
        updater.send(QUERY, [lease(45)], [], S.HOT_STANDBY)
        self.assertEqual(client.queued, 1)
        self.assertIsNone(batcher.batching)
        self.assertFalse(updater.updates_queued())
        batcher.batching = True
        self.assertFalse(updater.updates_queued())
        batcher.batching = False
        self.assertTrue(updater.updates_queued())

    def test_treq_clients_never_queue_here(self):
        """Clients over treq (no lean pool) report nothing queued."""
        rig = lb_rig()
        for stub in rig.stubs.values():
            stub.answers["lease4-update"] = HANG
        rig.updater.send(QUERY, [lease(44)], [], S.LOAD_BALANCING)
        rig.updater.send(QUERY, [lease(45)], [], S.LOAD_BALANCING)
        self.assertFalse(rig.updater.updates_queued())
