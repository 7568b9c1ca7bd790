"""
Tests for Kea's C{parked-packet-limit}: the configuration key and the
server's parking lot of replies held by the hooks (HA lease updates).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.interfaces import IDHCPHooks
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.builders import ETH0, DictLeaseStore, clock, config, discover, mac, release, request
from tests.configs import text
from tests.test_server import CLIENT, SERVER


class ParkedPacketLimitConfigTests(SynchronousTestCase):
    """C{Dhcp4.parked-packet-limit} is read as Kea 2.2 reads it."""

    def limit(self, value):
        """The parsed limit for a config with C{value} (or without the key)."""
        d4 = {"subnet4": []}
        if value is not None:
            d4["parked-packet-limit"] = value
        return parse_config(text(d4)).parked_packet_limit

    def test_default(self):
        """Kea's default is 256."""
        self.assertEqual(self.limit(None), 256)

    def test_values(self):
        """Any integer is taken and applied as a uint32 (Kea's C{intValue()} cast)."""
        self.assertEqual(self.limit(10), 10)
        self.assertEqual(self.limit(0), 0)
        self.assertEqual(self.limit(-1), 0xFFFFFFFF)
        self.assertEqual(self.limit(2 ** 32 + 5), 5)

    def test_not_an_integer(self):
        """A string is refused, naming the key path."""
        e = self.assertRaises(ConfigError, self.limit, "x")
        self.assertIn("Dhcp4.parked-packet-limit", str(e))


@implementer(IDHCPHooks)
class ParkingHooks:
    """Holds every committed reply on its own Deferred until the test fires it."""

    def __init__(self):
        self.parked: list[Deferred] = []
        self.calls = 0

    def classify(self, query):
        """No classes."""
        return frozenset()

    def query_in_scope(self, query):
        """Everything is served."""
        return True

    def answers_none(self):
        """Never: everything is served."""
        return False

    def updates_queued(self):
        """Never: nothing is sent."""
        return False

    def leases_committed(self, query, leases, deleted):
        """A new unfired Deferred per query with changes; at once otherwise."""
        self.calls += 1
        if not leases and not deleted:
            return succeed(True)
        d = Deferred()
        self.parked.append(d)
        return d


class ParkingLotTests(SynchronousTestCase):
    """L{DHCPServer} drops replies beyond C{parked-packet-limit}, as Kea 2.2."""

    def make(self, limit):
        """A server with the given limit over a dict store and L{ParkingHooks}."""
        self.clock = clock()
        self.store = DictLeaseStore()
        self.stats = Statistics(self.clock)
        self.hooks = ParkingHooks()
        self.server = DHCPServer(config(parked_packet_limit=limit), self.store, self.hooks,
                                 NetworkState(self.clock), self.stats, self.clock)

    def request(self, n):
        """DISCOVER then REQUEST for client C{n}; the REQUEST's result (a Deferred)."""
        offer = self.successResultOf(self.server.handle(discover(mac(n)), ETH0, CLIENT))
        return offer, self.server.handle(
            request(mac(n), requested=str(offer.yiaddr), server_id=SERVER), ETH0, CLIENT)

    def test_drop_beyond_limit(self):
        """
        With two replies held, a third REQUEST's ACK is dropped and counted in
        pkt4-receive-drop; its lease stays committed and the hooks never see it.
        """
        self.make(2)
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        _, first = self.request(1)
        _, second = self.request(2)
        self.assertEqual(self.server.parked, 2)
        offer, third = self.request(3)
        self.assertIsNone(self.successResultOf(third))
        self.assertEqual(self.stats.get("pkt4-receive-drop"), 1)
        self.assertEqual(self.hooks.calls, 2)
        self.assertIsNotNone(self.store.get(offer.yiaddr))
        self.assertTrue(any(e.get("msg_id") == "DHCP4_HOOK_LEASES4_PARKING_LOT_FULL"
                            for e in events))
        self.assertNoResult(first)
        self.assertNoResult(second)

    def test_unparked_reply_frees_a_place(self):
        """A held reply that leaves (or is dropped by the hooks) frees its place."""
        self.make(1)
        _, first = self.request(1)
        self.hooks.parked[0].callback(True)
        self.assertEqual(self.successResultOf(first).message_type, 5)
        self.assertEqual(self.server.parked, 0)
        _, second = self.request(2)
        self.assertEqual(self.server.parked, 1)
        self.hooks.parked[1].errback(RuntimeError("partner gone"))
        self.assertIsNone(self.successResultOf(second))
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.server.parked, 0)
        _, third = self.request(3)
        self.assertEqual((self.server.parked, self.stats.get("pkt4-receive-drop")), (1, 0))

    def test_discover_not_subject(self):
        """A DISCOVER is answered however many replies are held (Kea: no context)."""
        self.make(1)
        self.request(1)
        offer = self.successResultOf(self.server.handle(discover(mac(9)), ETH0, CLIENT))
        self.assertEqual(offer.message_type, 2)

    def test_release_without_lease_not_subject(self):
        """A RELEASE that frees nothing reaches no parking lot and counts no drop."""
        self.make(1)
        self.request(1)
        query = release(mac(5), ciaddr="192.0.2.200", server_id=SERVER)
        self.assertIsNone(self.successResultOf(self.server.handle(query, ETH0, CLIENT)))
        self.assertEqual(self.stats.get("pkt4-receive-drop"), 0)

    def test_zero_is_no_limit(self):
        """C{parked-packet-limit} 0 holds any number of replies."""
        self.make(0)
        for n in range(1, 6):
            self.request(n)
        self.assertEqual((self.server.parked, self.stats.get("pkt4-receive-drop")), (5, 0))
