"""
Tests for L{kea_ha_tw.dhcp.server.DHCPServer}: each RFC 2131 client state
as Kea 2.2 handles it, reply contents, hooks, statistics.
"""

from __future__ import annotations

import dataclasses

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.server import GLOBAL_STATISTICS, DHCPServer
from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.interfaces import IDHCPHooks
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import LeaseState
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.builders import (
    ETH0,
    LO,
    T0,
    DictLeaseStore,
    clock,
    config,
    decline,
    discover,
    dns_servers,
    domain_name,
    inform,
    ip,
    lease,
    mac,
    option,
    packet,
    pool,
    release,
    request,
    reservation,
    routers,
    subnet,
    u32,
)

SERVER = "192.0.2.1"
CLIENT = ("0.0.0.0", 68)


@implementer(IDHCPHooks)
class RecordingHooks:
    """IDHCPHooks that records calls; C{answer} decides leases_committed."""

    def __init__(self, classes=(), in_scope=True, answer=True):
        self.classes = frozenset(classes)
        self.in_scope = in_scope
        self.answer = answer
        self.committed = []
        self.queued = False

    def classify(self, query):
        """The configured classes."""
        return self.classes

    def query_in_scope(self, query):
        """The configured verdict."""
        return self.in_scope

    def answers_none(self):
        """Out of scope is out of scope for every query here."""
        return not self.in_scope

    def updates_queued(self):
        """The configured C{queued}."""
        return self.queued

    def leases_committed(self, query, leases, deleted):
        """Record; answer with C{answer} (a bool or a Deferred)."""
        self.committed.append((query.message_type, list(leases), list(deleted)))
        if isinstance(self.answer, Deferred):
            return self.answer
        return succeed(self.answer)


class ServerTestMixin:
    """
    Builds a server over a lease store (C{store_factory}: the test
    DictLeaseStore, or the product's InMemoryLeaseStore in the *RealStore
    variants); C{cfg} may be set before setUp.
    """

    cfg = None
    store_factory = DictLeaseStore

    def setUp(self):
        self.clock = clock()
        self.store = self.store_factory()
        self.stats = Statistics(self.clock)
        self.network_state = NetworkState(self.clock)
        self.hooks = RecordingHooks()
        self.make(self.cfg or config(
            subnet(1, "192.0.2.0/24", option_data=[routers("192.0.2.254")]),
            subnet(2, "10.1.0.0/24", relay_addresses=["10.9.9.9"])))

    def make(self, cfg):
        """(Re)build the server for C{cfg}."""
        self.server = DHCPServer(cfg, self.store, self.hooks, self.network_state, self.stats,
                                 self.clock)

    def handle(self, query, iface=ETH0, source=CLIENT):
        """Run C{query} through the server; return the reply (or None)."""
        return self.successResultOf(self.server.handle(query, iface, source))

    def dora(self, hw=None, **kw):
        """DISCOVER + REQUEST (client 1 by default); return the ACK."""
        hw = mac(1) if hw is None else hw
        offer = self.handle(discover(hw, **kw))
        return self.handle(request(hw, requested=str(offer.yiaddr), server_id=SERVER, **kw))

    def stat(self, name):
        """A statistic's value."""
        return self.stats.get(name)


class InterfaceTests(SynchronousTestCase):
    """NoHA provides IDHCPHooks."""

    def test_noha(self):
        """NoHA: everything in scope, no classes, commits fire True at once."""
        hooks = NoHA()
        self.assertTrue(verifyObject(IDHCPHooks, hooks))
        self.assertTrue(hooks.query_in_scope(discover()))
        self.assertFalse(hooks.updates_queued())
        self.assertEqual(hooks.classify(discover()), frozenset())
        self.assertTrue(self.successResultOf(hooks.leases_committed(discover(), [], [])))


class SelectingTests(ServerTestMixin, SynchronousTestCase):
    """INIT -> SELECTING -> BOUND."""

    def test_offer(self):
        """DISCOVER gets an OFFER of the first pool address; nothing is stored."""
        offer = self.handle(discover(prl=bytes([1, 3, 6])))
        self.assertEqual(offer.op, 2)
        self.assertEqual(offer.message_type, 2)
        self.assertEqual(offer.yiaddr, ip("192.0.2.10"))
        self.assertEqual(offer.ciaddr, ip("0.0.0.0"))
        self.assertEqual(list(offer.options), [53, 1, 3, 51, 54, 58, 59])
        self.assertEqual(offer.options[54], ip(SERVER).packed)
        self.assertEqual(offer.options[1], ip("255.255.255.0").packed)
        self.assertEqual(offer.options[51], u32(4000))
        self.assertEqual((offer.options[58], offer.options[59]), (u32(1000), u32(2000)))
        self.assertEqual(offer.xid, 0x1234)
        self.assertEqual(offer.chaddr, mac(1) + b"\x00" * 10)
        self.assertEqual(self.store.get_all(), [])
        self.assertEqual(self.hooks.committed, [])

    def test_request_ack_stores_before_reply(self):
        """The lease is in the store before the hooks answer and the ACK is released."""
        offer = self.handle(discover())
        self.hooks.answer = Deferred()
        d = self.server.handle(request(requested=str(offer.yiaddr), server_id=SERVER), ETH0, CLIENT)
        self.assertNoResult(d)
        stored = self.store.get(ip("192.0.2.10"))
        self.assertEqual((stored.hwaddr, stored.valid_lft, stored.cltt, stored.subnet_id),
                         (mac(1), 4000, T0, 1))
        self.assertEqual(self.hooks.committed, [(3, [stored], [])])
        self.hooks.answer.callback(True)
        ack = self.successResultOf(d)
        self.assertEqual(ack.message_type, 5)
        self.assertEqual(ack.yiaddr, ip("192.0.2.10"))

    def test_hooks_false_drops_reply_lease_stays(self):
        """leases_committed firing False drops the ACK, the lease stays stored."""
        offer = self.handle(discover())
        self.hooks.answer = False
        self.assertIsNone(self.handle(request(requested=str(offer.yiaddr), server_id=SERVER)))
        self.assertIsNotNone(self.store.get(offer.yiaddr))

    def test_hooks_failure_drops_reply(self):
        """A failing leases_committed drops the reply (logged); the lease stays stored."""
        offer = self.handle(discover())
        self.hooks.answer = Deferred()
        d = self.server.handle(request(requested=str(offer.yiaddr), server_id=SERVER), ETH0, CLIENT)
        self.hooks.answer.errback(RuntimeError("partner gone"))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNotNone(self.store.get(offer.yiaddr))

    def test_store_failure_drops(self):
        """A failing lease store write drops the query, counted and logged; nothing is sent."""
        offer = self.handle(discover())

        def broken(lease):
            raise LeaseStoreError("disk full")

        self.store.update = broken
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertIsNone(self.handle(request(requested=str(offer.yiaddr), server_id=SERVER)))
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)
        self.assertEqual(self.hooks.committed, [])
        self.assertTrue(any(e.get("msg_id") == "DHCP4_PACKET_PROCESS_STD_EXCEPTION"
                            for e in events))

    def test_request_for_other_server(self):
        """A REQUEST naming another server is dropped silently; nothing is freed."""
        self.store.update(lease("192.0.2.10", mac(1)))
        reply = self.handle(request(requested="192.0.2.11", server_id="192.0.2.99"))
        self.assertIsNone(reply)
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)
        self.assertIsNotNone(self.store.get(ip("192.0.2.10")))
        self.assertEqual(self.hooks.committed, [])

    def test_same_client_same_address(self):
        """A bound client that starts over is offered and granted the same address."""
        first = self.dora()
        self.handle(discover(mac(2)))
        again = self.dora()
        self.assertEqual(again.yiaddr, first.yiaddr)
        self.assertEqual(len(self.store.get_all()), 1)

    def test_two_offers_one_address(self):
        """Two clients offered different addresses; a second REQUEST for a taken one is NAKed."""
        o1 = self.handle(discover(mac(1)))
        o2 = self.handle(discover(mac(2)))
        self.assertNotEqual(o1.yiaddr, o2.yiaddr)
        self.handle(request(mac(1), requested=str(o1.yiaddr), server_id=SERVER))
        nak = self.handle(request(mac(2), requested=str(o1.yiaddr), server_id=SERVER))
        self.assertEqual(nak.message_type, 6)

    def test_pool_exhaustion(self):
        """No free address: no OFFER; Kea's allocation-failure statistics move."""
        self.make(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.10")])))
        self.dora(mac(1))
        self.assertIsNone(self.handle(discover(mac(2))))
        self.assertEqual(self.stat("v4-allocation-fail"), 1)
        self.assertEqual(self.stat("subnet[1].v4-allocation-fail-subnet"), 1)
        self.assertEqual(self.stat("v4-allocation-fail-classes"), 1)
        nak = self.handle(request(mac(2), server_id=SERVER))
        self.assertEqual(nak.message_type, 6)

    def test_request_outside_pools_is_silent(self):
        """A SELECTING REQUEST for an address in no pool gets no answer (Kea)."""
        self.assertIsNone(self.handle(request(requested="192.0.2.200", server_id=SERVER)))

    def test_request_moves_client(self):
        """A client requesting a new address loses its old lease, reported as deleted."""
        self.store.update(lease("192.0.2.12", mac(1)))
        ack = self.handle(request(requested="192.0.2.11", server_id=SERVER))
        self.assertEqual(ack.yiaddr, ip("192.0.2.11"))
        self.assertIsNone(self.store.get(ip("192.0.2.12")))
        _, leases, deleted = self.hooks.committed[-1]
        self.assertEqual([d.address for d in deleted], [ip("192.0.2.12")])

    def test_discover_with_server_id_dropped(self):
        """A DISCOVER carrying a server identifier is dropped (RFC 2131 table 5)."""
        self.assertIsNone(self.handle(discover(server_id=SERVER)))
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)

    def test_client_classes_gate_pools(self):
        """Classes from IDHCPHooks.classify choose the pool (HA_server1/HA_server2)."""
        self.make(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.19", "HA_server1"),
                                          pool("192.0.2.20", "192.0.2.29", "HA_server2")])))
        self.hooks.classes = frozenset({"HA_server2"})
        self.assertEqual(self.handle(discover()).yiaddr, ip("192.0.2.20"))
        self.hooks.classes = frozenset({"HA_server1"})
        self.assertEqual(self.handle(discover(mac(2))).yiaddr, ip("192.0.2.10"))


class InitRebootTests(ServerTestMixin, SynchronousTestCase):
    """INIT-REBOOT: no server id, requested address set, ciaddr 0."""

    def test_known_right_address(self):
        """The client's own address is ACKed and extended."""
        self.store.update(lease("192.0.2.10", mac(1), cltt=T0 - 100))
        ack = self.handle(request(requested="192.0.2.10"))
        self.assertEqual((ack.message_type, ack.yiaddr), (5, ip("192.0.2.10")))
        self.assertEqual(self.store.get(ip("192.0.2.10")).cltt, T0)

    def test_known_wrong_address(self):
        """A known client asking for another address is NAKed."""
        self.store.update(lease("192.0.2.10", mac(1)))
        nak = self.handle(request(requested="192.0.2.11"))
        self.assertEqual(nak.message_type, 6)
        self.assertIsNotNone(self.store.get(ip("192.0.2.10")))

    def test_known_address_of_other_subnet(self):
        """A known client asking for an address of another network is NAKed."""
        self.store.update(lease("192.0.2.10", mac(1)))
        self.assertEqual(self.handle(request(requested="10.1.0.5")).message_type, 6)

    def test_unknown_client_silent(self):
        """Not authoritative: an unknown client gets no answer."""
        self.assertIsNone(self.handle(request(requested="192.0.2.10")))
        self.assertEqual(self.stat("pkt4-receive-drop"), 0)

    def test_unknown_client_authoritative_nak(self):
        """Authoritative: an unknown client is NAKed."""
        self.make(config(authoritative=True))
        self.assertEqual(self.handle(request(requested="192.0.2.10")).message_type, 6)

    def test_client_moved_to_other_subnet(self):
        """A client known only in subnet 1 and now on subnet 2's relay is unknown there."""
        self.store.update(lease("192.0.2.10", mac(1)))
        self.assertIsNone(self.handle(request(requested="192.0.2.10", giaddr="10.9.9.9", hops=1)))


class RenewRebindTests(ServerTestMixin, SynchronousTestCase):
    """RENEWING (unicast, ciaddr) and REBINDING (broadcast, ciaddr)."""

    def test_renewing(self):
        """A unicast REQUEST with ciaddr extends the lease; ciaddr is echoed."""
        self.store.update(lease("192.0.2.10", mac(1), cltt=T0 - 2000))
        ack = self.handle(request(ciaddr="192.0.2.10"), source=("192.0.2.10", 68))
        self.assertEqual((ack.message_type, ack.yiaddr, ack.ciaddr),
                         (5, ip("192.0.2.10"), ip("192.0.2.10")))
        self.assertEqual(self.store.get(ip("192.0.2.10")).cltt, T0)
        self.assertEqual(self.hooks.committed[-1][0], 3)

    def test_renewing_from_beyond_a_relay(self):
        """A unicast renewal with no giaddr is placed by ciaddr, not by the interface."""
        self.store.update(lease("10.1.0.10", mac(1), subnet_id=2))
        ack = self.handle(request(ciaddr="10.1.0.10"), source=("10.1.0.10", 68))
        self.assertEqual((ack.message_type, ack.yiaddr), (5, ip("10.1.0.10")))

    def test_rebinding(self):
        """A REBINDING REQUEST (ciaddr set, no server id) is ACKed."""
        self.store.update(lease("192.0.2.11", mac(1), cltt=T0 - 3500))
        ack = self.handle(request(ciaddr="192.0.2.11", flags=0x8000), source=("192.0.2.11", 68))
        self.assertEqual(ack.yiaddr, ip("192.0.2.11"))
        self.assertEqual(ack.flags, 0x8000)

    def test_rebinding_for_address_of_another(self):
        """Renewing an address leased to another client is NAKed."""
        self.store.update(lease("192.0.2.11", mac(9)))
        nak = self.handle(request(ciaddr="192.0.2.11"), source=("192.0.2.11", 68))
        self.assertEqual(nak.message_type, 6)

    def test_renewing_expired_lease(self):
        """An expired lease is revived for its owner and counted as reclaimed and assigned."""
        self.store.update(lease("192.0.2.11", mac(1), valid=10, cltt=T0 - 100))
        ack = self.handle(request(ciaddr="192.0.2.11"), source=("192.0.2.11", 68))
        self.assertEqual(ack.message_type, 5)
        self.assertEqual(self.stat("reclaimed-leases"), 1)
        self.assertEqual(self.stat("cumulative-assigned-addresses"), 1)


class ReleaseDeclineTests(ServerTestMixin, SynchronousTestCase):
    """DHCPRELEASE and DHCPDECLINE."""

    def test_release(self):
        """RELEASE by the owner deletes the lease; no reply; reported as deleted."""
        ack = self.dora()
        self.assertEqual(self.stat("subnet[1].assigned-addresses"), 1)
        self.assertIsNone(self.handle(release(ciaddr=str(ack.yiaddr), server_id=SERVER)))
        self.assertIsNone(self.store.get(ack.yiaddr))
        self.assertEqual(self.hooks.committed[-1][0], 7)
        self.assertEqual([d.address for d in self.hooks.committed[-1][2]], [ack.yiaddr])
        self.assertEqual(self.stat("subnet[1].assigned-addresses"), 0)
        self.assertEqual(self.stat("pkt4-release-received"), 1)

    def test_release_by_other_client(self):
        """RELEASE from another client leaves the lease alone."""
        ack = self.dora()
        self.handle(release(mac(2), ciaddr=str(ack.yiaddr)))
        self.assertIsNotNone(self.store.get(ack.yiaddr))
        self.assertEqual(self.hooks.committed[-1], (7, [], []))

    def test_decline_probation_and_reuse(self):
        """A declined address is held for the probation period, then handed out again."""
        self.make(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.11")]),
                         decline_probation_period=600))
        ack = self.dora()
        self.assertIsNone(self.handle(decline(requested=str(ack.yiaddr), server_id=SERVER)))
        held = self.store.get(ack.yiaddr)
        self.assertEqual((held.state, held.hwaddr, held.client_id, held.valid_lft, held.cltt),
                         (LeaseState.DECLINED, b"", None, 600, T0))
        self.assertEqual(self.hooks.committed[-1], (4, [held], []))
        self.assertEqual(self.stat("subnet[1].declined-addresses"), 1)
        self.assertEqual(self.stat("declined-addresses"), 1)
        self.assertEqual(self.stat("subnet[1].assigned-addresses"), 1)
        # During probation the address is skipped.
        for k in (2, 3):
            offer = self.handle(discover(mac(k)))
            self.assertNotEqual(offer.yiaddr, ack.yiaddr)
        self.clock.advance(601)
        got = self.dora(mac(4), prl=b"")
        self.assertEqual(got.yiaddr, ack.yiaddr)
        self.assertEqual(self.stat("reclaimed-declined-addresses"), 1)
        self.assertEqual(self.stat("declined-addresses"), 0)
        self.assertEqual(self.stat("subnet[1].declined-addresses"), 0)

    def test_decline_by_other_client(self):
        """A DECLINE from a client that does not hold the lease changes nothing."""
        ack = self.dora()
        self.handle(decline(mac(2), requested=str(ack.yiaddr)))
        self.assertEqual(self.store.get(ack.yiaddr).state, LeaseState.DEFAULT)

    def test_decline_without_address_dropped(self):
        """A DECLINE without option 50 is dropped and counted."""
        self.handle(decline())
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)


class InformTests(ServerTestMixin, SynchronousTestCase):
    """DHCPINFORM."""

    def test_inform(self):
        """INFORM gets an ACK with configured options, ciaddr echoed, no lease, no 51."""
        reply = self.handle(inform(ciaddr="192.0.2.50", prl=bytes([3, 51])),
                            source=("192.0.2.50", 68))
        self.assertEqual(reply.message_type, 5)
        self.assertEqual(reply.ciaddr, ip("192.0.2.50"))
        self.assertEqual(reply.yiaddr, ip("0.0.0.0"))
        self.assertEqual(list(reply.options), [53, 3, 54])
        self.assertEqual(self.store.get_all(), [])
        self.assertEqual(self.hooks.committed, [])

    def test_relayed_inform_without_ciaddr(self):
        """A relayed INFORM without ciaddr goes back through the relay with the broadcast bit."""
        reply = self.handle(inform(giaddr="10.9.9.9", hops=1, options={82: b"\x01\x01x"}),
                            source=("10.9.9.9", 67))
        self.assertEqual(reply.flags & 0x8000, 0x8000)
        self.assertEqual(reply.giaddr, ip("10.9.9.9"))
        self.assertEqual(reply.options[82], b"\x01\x01x")

    def test_relayed_inform_with_ciaddr(self):
        """A relayed INFORM with ciaddr is answered directly: giaddr, hops and 82 cleared."""
        reply = self.handle(inform(giaddr="10.9.9.9", hops=1, ciaddr="10.1.0.77",
                                   options={82: b"\x01\x01x"}), source=("10.9.9.9", 67))
        self.assertEqual((reply.giaddr, reply.hops), (ip("0.0.0.0"), 0))
        self.assertNotIn(82, reply.options)

    def test_relayed_inform_ciaddr_is_relay(self):
        """Kea strips relay data only when the reply does not go to giaddr (ciaddr == giaddr)."""
        reply = self.handle(inform(giaddr="10.9.9.9", hops=1, ciaddr="10.9.9.9",
                                   options={82: b"\x01\x01x"}), source=("10.9.9.9", 67))
        self.assertEqual((reply.giaddr, reply.hops, reply.flags), (ip("10.9.9.9"), 1, 0))
        self.assertEqual(reply.options[82], b"\x01\x01x")

    def test_direct_inform_from_nowhere_dropped(self):
        """A direct INFORM with neither ciaddr nor source address is dropped."""
        self.assertIsNone(self.handle(inform(), source=("0.0.0.0", 68)))
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)


class ReplyContentTests(ServerTestMixin, SynchronousTestCase):
    """What replies carry, as Kea 2.2 fills them."""

    def test_relayed_offer(self):
        """Relayed: subnet chosen by relay address, giaddr/hops/flags kept, 82 echoed last."""
        rai = b"\x01\x04circ\x02\x03rem"
        offer = self.handle(discover(giaddr="10.9.9.9", hops=1, flags=0x8000,
                                     options={82: rai}), source=("10.9.9.9", 67))
        self.assertEqual(offer.yiaddr, ip("10.1.0.10"))
        self.assertEqual((offer.giaddr, offer.hops, offer.flags), (ip("10.9.9.9"), 1, 0x8000))
        self.assertEqual(offer.options[82], rai)
        self.assertEqual(list(offer.options)[-1], 82)
        self.assertEqual(offer.options[1], ip("255.255.255.0").packed)

    def test_relay_by_giaddr_prefix(self):
        """A giaddr inside a subnet's prefix selects that subnet."""
        offer = self.handle(discover(giaddr="10.1.0.1", hops=1), source=("10.1.0.1", 67))
        self.assertEqual(offer.yiaddr, ip("10.1.0.10"))

    def test_relayed_request_without_subnet_naks(self):
        """A relayed REQUEST from an unknown network is NAKed (Kea DHCP4_PACKET_NAK_0001)."""
        nak = self.handle(request(giaddr="203.0.113.1", hops=1, requested="203.0.113.5",
                                  server_id=SERVER), source=("203.0.113.1", 67))
        self.assertEqual(nak.message_type, 6)

    def test_relayed_discover_without_subnet_silent(self):
        """A relayed DISCOVER from an unknown network gets no OFFER."""
        self.assertIsNone(self.handle(discover(giaddr="203.0.113.1", hops=1),
                                      source=("203.0.113.1", 67)))

    def test_direct_without_subnet_dropped(self):
        """A broadcast from an interface with no subnet is dropped and counted."""
        self.make(config(subnet(2, "10.1.0.0/24")))
        self.assertIsNone(self.handle(discover()))
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)

    def test_client_id_echo(self):
        """The client identifier is echoed (RFC 6842), unless echo-client-id is false."""
        cid = b"\x01" + mac(1)
        self.assertEqual(self.handle(discover(client_id=cid)).options[61], cid)
        self.make(config(echo_client_id=False))
        self.assertNotIn(61, self.handle(discover(client_id=cid)).options)

    def test_prl_honoured(self):
        """Configured options are sent when requested; 3, 6, 15 always when configured."""
        self.make(config(subnet(1, option_data=[routers("192.0.2.254"),
                                                option(42, ip("192.0.2.123").packed)]),
                         option_data=[dns_servers("192.0.2.53"), domain_name("example.org"),
                                      option(28, ip("192.0.2.255").packed),
                                      option(44, ip("192.0.2.77").packed, always_send=True)]))
        bare = self.handle(discover(prl=b""))
        self.assertEqual(list(bare.options), [53, 1, 3, 6, 15, 44, 51, 54, 58, 59])
        asked = self.handle(discover(mac(2), prl=bytes([42, 28, 99])))
        self.assertEqual(list(asked.options), [53, 1, 3, 6, 15, 28, 42, 44, 51, 54, 58, 59])

    def test_option_precedence(self):
        """Reservation > pool > subnet > global for the same option code."""
        self.make(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.19",
                                               options=[domain_name("pool.example")])],
                                option_data=[domain_name("subnet.example"),
                                             dns_servers("192.0.2.8")],
                                reservations=[reservation(mac(5), "192.0.2.50",
                                                          options=[dns_servers("192.0.2.9")])]),
                         option_data=[domain_name("global.example"), routers("192.0.2.1")]))
        o = self.handle(discover(mac(1)))
        self.assertEqual((o.options[15], o.options[6], o.options[3]),
                         (b"pool.example", ip("192.0.2.8").packed, ip("192.0.2.1").packed))
        r = self.handle(discover(mac(5)))
        self.assertEqual(r.yiaddr, ip("192.0.2.50"))
        self.assertEqual((r.options[15], r.options[6]),
                         (b"subnet.example", ip("192.0.2.9").packed))

    def test_configured_server_id(self):
        """A configured option 54 replaces the interface address and is accepted in REQUESTs."""
        self.make(config(subnet(1, option_data=[option(54, ip("192.0.2.200").packed)])))
        offer = self.handle(discover())
        self.assertEqual(offer.options[54], ip("192.0.2.200").packed)
        ack = self.handle(request(requested=str(offer.yiaddr), server_id="192.0.2.200"))
        self.assertEqual(ack.message_type, 5)

    def test_hostname(self):
        """Option 12 is echoed lowercased and stored in the lease."""
        offer = self.handle(discover(hostname=b"MyHost"))
        self.assertEqual(offer.options[12], b"myhost")
        self.handle(request(requested=str(offer.yiaddr), server_id=SERVER, hostname=b"My_Host"))
        self.assertEqual(self.store.get(offer.yiaddr).hostname, "myhost")

    def test_generated_hostname(self):
        """A client sending hostname '.' gets Kea's generated name, also stored in the lease."""
        offer = self.handle(discover(hostname=b"."))
        self.assertEqual(offer.options[12], b"myhost-192-0-2-10")
        self.handle(request(requested="192.0.2.10", server_id=SERVER, hostname=b"."))
        self.assertEqual(self.store.get(ip("192.0.2.10")).hostname, "myhost-192-0-2-10")

    def test_hostname_rules(self):
        """Kea's hostname processing: trim, scrub, lowercase; malformed names are ignored."""
        cases = {b" Pad ": b"pad", b"a b": b"ab", b"Host.Example.COM": b"host.example.com",
                 b"UPPER.": b"upper", b"ok_under": b"okunder"}
        for k, (sent, want) in enumerate(cases.items()):
            self.assertEqual(self.handle(discover(mac(20 + k), hostname=sent)).options[12], want)
        for k, bad in enumerate((b"..bad", b"x" * 70, b"   ")):
            self.assertNotIn(12, self.handle(discover(mac(40 + k), hostname=bad)).options)

    def test_reserved_hostname(self):
        """A reservation's hostname is sent even when the client sent none."""
        self.make(config(subnet(1, reservations=[reservation(mac(1), hostname="Printer")])))
        self.assertEqual(self.handle(discover()).options[12], b"printer")

    def test_fixed_fields(self):
        """siaddr, sname and file come from next-server, server-hostname, boot-file-name."""
        self.make(config(subnet(1, next_server=ip("192.0.2.5"), boot_file_name="pxelinux.0"),
                         server_hostname="tftp.example"))
        o = self.handle(discover())
        self.assertEqual(o.siaddr, ip("192.0.2.5"))
        self.assertEqual(o.sname.rstrip(b"\x00"), b"tftp.example")
        self.assertEqual(o.file.rstrip(b"\x00"), b"pxelinux.0")
        self.assertEqual((len(o.sname), len(o.file)), (64, 128))

    def test_nak_contents(self):
        """Kea's NAK: no address, type + server id + echoes only, flags kept."""
        self.store.update(lease("192.0.2.10", mac(1)))
        nak = self.handle(request(requested="192.0.2.11", flags=0x8000, client_id=b"\x01q",
                                  prl=bytes([3, 6]), hostname=b"h1"))
        self.assertEqual((nak.message_type, nak.yiaddr, nak.ciaddr, nak.siaddr),
                         (6, ip("0.0.0.0"), ip("0.0.0.0"), ip("0.0.0.0")))
        self.assertEqual(list(nak.options), [53, 54, 61])
        self.assertEqual(nak.flags, 0x8000)

    def test_lifetime_hint(self):
        """The client's option 51 is honoured within min/max-valid-lifetime."""
        self.make(config(valid_lifetime=4000, min_valid_lifetime=1000, max_valid_lifetime=6000))
        o = self.handle(discover(options={51: u32(5000)}))
        self.assertEqual(o.options[51], u32(5000))

    def test_loopback_relay(self):
        """perfdhcp's loopback relay topology: giaddr 127.0.0.2 on lo selects by relay."""
        self.make(config(subnet(1, "10.1.0.0/16", relay_addresses=["127.0.0.2"],
                                pools=[pool("10.1.0.1", "10.1.255.254")])))
        o = self.handle(discover(giaddr="127.0.0.2", hops=1), iface=LO, source=("127.0.0.2", 67))
        self.assertEqual((o.yiaddr, o.options[54]), (ip("10.1.0.1"), ip("127.0.0.1").packed))
        a = self.handle(request(giaddr="127.0.0.2", hops=1, requested="10.1.0.1",
                                server_id="127.0.0.1"), iface=LO, source=("127.0.0.2", 67))
        self.assertEqual(a.message_type, 5)


class DropTests(ServerTestMixin, SynchronousTestCase):
    """Queries the server drops, and how they are counted."""

    def test_network_state_disabled(self):
        """While disabled nothing is answered or counted (Kea DHCP4_PACKET_DROP_0008)."""
        self.network_state.disable("user")
        self.assertIsNone(self.handle(discover()))
        self.assertEqual(self.stat("pkt4-received"), 0)
        self.assertFalse(self.server.accepting())
        self.network_state.enable("user")
        self.assertIsNotNone(self.handle(discover()))

    def test_out_of_scope(self):
        """query_in_scope False: dropped, counted only as received (Kea 2.2 buffer4_receive)."""
        self.hooks.in_scope = False
        self.assertIsNone(self.handle(discover()))
        self.assertEqual((self.stat("pkt4-received"), self.stat("pkt4-discover-received"),
                          self.stat("pkt4-receive-drop")), (1, 0, 0))

    def test_any_op(self):
        """op is not looked at (Kea 2.2): a DISCOVER sent as BOOTREPLY is offered."""
        self.assertEqual(self.handle(discover(op=2)).message_type, 2)
        self.assertEqual(self.stat("pkt4-receive-drop"), 0)

    def test_server_message_types(self):
        """OFFER/ACK/NAK sent to a server are counted by type and dropped."""
        for t, name in ((2, "offer"), (5, "ack"), (6, "nak")):
            self.assertIsNone(self.handle(packet(t)))
            self.assertEqual(self.stat(f"pkt4-{name}-received"), 1)
        self.assertEqual(self.stat("pkt4-receive-drop"), 3)

    def test_bootp_and_unknown_types(self):
        """No option 53 (BOOTP) or an unknown type: pkt4-unknown-received and a drop."""
        self.assertIsNone(self.handle(packet(None)))
        self.assertIsNone(self.handle(packet(99)))
        self.assertIsNone(self.handle(packet(None, options={53: b"\x01\x01"})))
        self.assertEqual(self.stat("pkt4-unknown-received"), 3)
        self.assertEqual(self.stat("pkt4-receive-drop"), 3)

    def test_no_client_identity(self):
        """No hardware address and no client id: dropped (Kea sanityCheck)."""
        self.assertIsNone(self.handle(discover(b"")))
        self.assertEqual(self.stat("pkt4-receive-drop"), 1)
        self.assertIsNotNone(self.handle(discover(b"", client_id=b"\x00xyz")))

    def test_zero_hardware_address_is_an_address(self):
        """An all-zero chaddr of hlen 6 is a hardware address to Kea: offered."""
        self.assertEqual(self.handle(discover(bytes(6))).message_type, 2)

    def test_long_hlen_zero_chaddr_in_reply(self):
        """hlen 17..20: the reply's chaddr is all zeros, as Kea 2.2 writes it."""
        query = dataclasses.replace(discover(bytes(range(1, 17))), hlen=17)
        offer = self.handle(query)
        self.assertEqual(offer.chaddr, bytes(16))

    def test_short_client_id(self):
        """A client id shorter than 2 bytes: counted by type, then dropped (Kea)."""
        for cid in (b"", b"\x01"):
            self.assertIsNone(self.handle(discover(client_id=cid)))
        self.assertEqual((self.stat("pkt4-discover-received"), self.stat("pkt4-receive-drop")),
                         (2, 2))


class StatisticsTests(ServerTestMixin, SynchronousTestCase):
    """Kea's statistic names and values."""

    def test_initialised(self):
        """Every Kea 2.2 start-up statistic exists at zero; per-subnet totals are set."""
        for name in GLOBAL_STATISTICS:
            self.assertEqual(self.stat(name), 0, name)
        self.assertEqual(self.stat("subnet[1].total-addresses"), 10)
        self.assertEqual(self.stat("subnet[2].total-addresses"), 10)
        for name in ("assigned-addresses", "declined-addresses", "reclaimed-leases",
                     "cumulative-assigned-addresses", "reclaimed-declined-addresses",
                     "v4-reservation-conflicts"):
            self.assertEqual(self.stat(f"subnet[1].{name}"), 0)

    def test_recount_from_store(self):
        """Leases already in the store are counted at start (declined ones as assigned too)."""
        self.store.update(lease("192.0.2.10", mac(1)))
        self.store.update(lease("192.0.2.11", b"", state=LeaseState.DECLINED))
        self.make(config(subnet(1)))
        self.assertEqual(self.stat("subnet[1].assigned-addresses"), 2)
        self.assertEqual(self.stat("subnet[1].declined-addresses"), 1)
        self.assertEqual(self.stat("declined-addresses"), 1)

    def test_exchange_counters(self):
        """A DORA moves the received/sent counters Kea keeps."""
        self.dora()
        self.server.count_sent(self.handle(discover(mac(2))))
        expect = {"pkt4-received": 3, "pkt4-discover-received": 2, "pkt4-request-received": 1,
                  "pkt4-sent": 1, "pkt4-offer-sent": 1, "pkt4-ack-sent": 0,
                  "subnet[1].assigned-addresses": 1, "cumulative-assigned-addresses": 1,
                  "subnet[1].cumulative-assigned-addresses": 1}
        self.assertEqual({k: self.stat(k) for k in expect}, expect)

    def test_parse_failure_counter(self):
        """count_parse_failure counts received, parse-failed and receive-drop."""
        self.server.count_parse_failure()
        self.assertEqual((self.stat("pkt4-received"), self.stat("pkt4-parse-failed"),
                          self.stat("pkt4-receive-drop")), (1, 1, 1))


class _RealStore:
    """Run a test class over the product's InMemoryLeaseStore."""

    store_factory = InMemoryLeaseStore


class SelectingRealStoreTests(_RealStore, SelectingTests):
    """SelectingTests over InMemoryLeaseStore."""


class InitRebootRealStoreTests(_RealStore, InitRebootTests):
    """InitRebootTests over InMemoryLeaseStore."""


class RenewRebindRealStoreTests(_RealStore, RenewRebindTests):
    """RenewRebindTests over InMemoryLeaseStore."""


class ReleaseDeclineRealStoreTests(_RealStore, ReleaseDeclineTests):
    """ReleaseDeclineTests over InMemoryLeaseStore."""


class StatisticsRealStoreTests(_RealStore, StatisticsTests):
    """StatisticsTests over InMemoryLeaseStore."""
