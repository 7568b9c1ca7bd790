"""
Tests for L{kea_ha_tw.dhcp.allocation}: subnet selection, address choice,
lifetimes, as Kea 2.2 does them.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.allocation import (
    AllocationEngine,
    Client,
    SubnetPlan,
    belongs_to_client,
    kea_expired,
    pick_address,
)
from kea_ha_tw.leases.model import LeaseState
from tests.builders import (
    T0,
    DictLeaseStore,
    config,
    ip,
    lease,
    mac,
    pool,
    reservation,
    subnet,
)


def n(text: str) -> int:
    """An address as int."""
    return int(IPv4Address(text))


def client(k: int = 1, cid: bytes | None = None, classes=(), hint: int = 0) -> Client:
    """Client number C{k}."""
    return Client(mac(k), cid, frozenset(classes), hint)


class BelongsToClientTests(SynchronousTestCase):
    """Kea's Lease4::belongsToClient."""

    def test_client_id_match(self):
        """Equal client ids match whatever the hardware address."""
        lz = lease("192.0.2.10", mac(1), client_id=b"\x01abc")
        self.assertTrue(belongs_to_client(lz, mac(2), b"\x01abc"))

    def test_client_id_mismatch_does_not_fall_back(self):
        """Both client ids present but different: no match even with equal MACs."""
        lz = lease("192.0.2.10", mac(1), client_id=b"\x01abc")
        self.assertFalse(belongs_to_client(lz, mac(1), b"\x01xyz"))

    def test_hwaddr_when_either_lacks_client_id(self):
        """Without a client id on either side the hardware address decides."""
        lz = lease("192.0.2.10", mac(1), client_id=b"\x01abc")
        self.assertTrue(belongs_to_client(lz, mac(1), None))
        self.assertFalse(belongs_to_client(lz, mac(2), None))
        lz2 = lease("192.0.2.11", mac(3))
        self.assertTrue(belongs_to_client(lz2, mac(3), b"\x01q"))

    def test_declined_lease_belongs_to_nobody(self):
        """A declined lease (no hwaddr, no client id) matches no client."""
        lz = lease("192.0.2.10", b"", state=LeaseState.DECLINED)
        self.assertFalse(belongs_to_client(lz, mac(1), None))
        self.assertFalse(belongs_to_client(lz, b"", None))


class ExpiryTests(SynchronousTestCase):
    """Kea's Lease::expired."""

    def test_strictly_before_now(self):
        """A lease expires strictly after cltt + valid_lft (Kea uses <)."""
        lz = lease("192.0.2.10", valid=100, cltt=T0)
        self.assertFalse(kea_expired(lz, T0 + 100))
        self.assertTrue(kea_expired(lz, T0 + 101))

    def test_infinite(self):
        """An infinite lifetime never expires."""
        lz = lease("192.0.2.10", valid=0xFFFFFFFF, cltt=0)
        self.assertFalse(kea_expired(lz, 2**40))


class SubnetSelectionTests(SynchronousTestCase):
    """CfgSubnets4::selectSubnet."""

    def setUp(self):
        self.cfg = config(
            subnet(1, "10.1.0.0/24", relay_addresses=["127.0.0.2"]),
            subnet(2, "127.0.0.0/8"),
            subnet(3, "192.0.2.0/24"),
            subnet(4, "198.51.100.0/24", interface="eth1"),
        )
        self.engine = AllocationEngine(self.cfg)

    def select(self, **kw):
        """Select with defaults for the unspecified fields."""
        args = dict(giaddr=0, ciaddr=0, source=0, local_broadcast=True, iface_name="eth0",
                    iface_address=n("192.0.2.1"))
        args.update(kw)
        s = self.engine.select_subnet(**args)
        return s.id if s is not None else None

    def test_relay_address_wins_over_prefix(self):
        """A giaddr listed in relay.ip-addresses selects that subnet, not the one containing it."""
        self.assertEqual(self.select(giaddr=n("127.0.0.2")), 1)

    def test_giaddr_prefix(self):
        """A giaddr in no relay list selects the subnet containing it."""
        self.assertEqual(self.select(giaddr=n("127.0.0.3")), 2)
        self.assertEqual(self.select(giaddr=n("192.0.2.77")), 3)

    def test_giaddr_unknown(self):
        """A giaddr matching nothing selects nothing (no fallback to the interface)."""
        self.assertIsNone(self.select(giaddr=n("203.0.113.1")))

    def test_subnet_selection_option(self):
        """Option 118 overrides everything."""
        self.assertEqual(self.select(giaddr=n("127.0.0.2"), selection=n("192.0.2.5")), 3)

    def test_ciaddr_when_unicast(self):
        """A unicast query with ciaddr is placed by ciaddr."""
        self.assertEqual(self.select(ciaddr=n("10.1.0.9"), local_broadcast=False), 1)

    def test_ciaddr_ignored_when_broadcast(self):
        """A broadcast query is placed by the interface even with ciaddr set."""
        self.assertEqual(self.select(ciaddr=n("10.1.0.9")), 3)

    def test_interface_name(self):
        """A subnet naming the receiving interface wins over the interface address."""
        self.assertEqual(self.select(iface_name="eth1", iface_address=n("192.0.2.1")), 4)

    def test_interface_address(self):
        """Without an interface key, the subnet holding the interface address is used."""
        self.assertEqual(self.select(iface_name="eth0", iface_address=n("192.0.2.1")), 3)

    def test_no_match(self):
        """An interface whose address is in no subnet selects nothing."""
        self.assertIsNone(self.select(iface_name="eth9", iface_address=n("203.0.113.1")))

    def test_subnet_client_class(self):
        """A subnet guarded by a class is skipped for clients outside it."""
        cfg = config(subnet(1, "10.1.0.0/24", relay_addresses=["10.9.0.1"], client_class="gold"),
                     subnet(2, "10.9.0.0/24"))
        engine = AllocationEngine(cfg)
        pick = engine.select_subnet(giaddr=n("10.9.0.1"), ciaddr=0, source=0,
                                    local_broadcast=True, iface_name="eth0", iface_address=0,
                                    classes=frozenset())
        self.assertEqual(pick.id, 2)
        pick = engine.select_subnet(giaddr=n("10.9.0.1"), ciaddr=0, source=0,
                                    local_broadcast=True, iface_name="eth0", iface_address=0,
                                    classes=frozenset({"gold"}))
        self.assertEqual(pick.id, 1)


class LifetimeTests(SynchronousTestCase):
    """getValidLft and setTeeTimes."""

    def plan(self, **kw) -> SubnetPlan:
        """The plan of a one-subnet config built with C{kw}."""
        return AllocationEngine(config(**kw)).subnets[0]

    def test_hint_clamped(self):
        """The client's option 51 hint is clamped to [min, max]."""
        p = self.plan(valid_lifetime=4000, min_valid_lifetime=1000, max_valid_lifetime=8000)
        self.assertEqual(p.lifetime(0), 4000)
        self.assertEqual(p.lifetime(10), 1000)
        self.assertEqual(p.lifetime(5000), 5000)
        self.assertEqual(p.lifetime(99999), 8000)

    def test_hint_ignored_without_bounds(self):
        """Without min/max the bounds equal the default: the hint has no effect."""
        p = self.plan(valid_lifetime=4000)
        self.assertEqual(p.lifetime(100), 4000)

    def test_explicit_timers(self):
        """renew-timer/rebind-timer are sent as given when below their ceilings."""
        self.assertEqual(self.plan().tee_times(4000), (1000, 2000))

    def test_t2_not_below_valid(self):
        """T2 >= valid is not sent; T1 is then checked against valid."""
        p = self.plan(renew_timer=1000, rebind_timer=5000)
        self.assertEqual(p.tee_times(4000), (1000, None))

    def test_t1_not_below_t2(self):
        """T1 >= T2 is not sent."""
        p = self.plan(renew_timer=3000, rebind_timer=2000)
        self.assertEqual(p.tee_times(4000), (None, 2000))

    def test_unset_timers(self):
        """No timers configured and no calculation: neither is sent."""
        p = self.plan(renew_timer=None, rebind_timer=None)
        self.assertEqual(p.tee_times(4000), (None, None))

    def test_calculated(self):
        """calculate-tee-times uses t1/t2 percent of valid, rounded."""
        p = self.plan(renew_timer=None, rebind_timer=None, calculate_tee_times=True)
        self.assertEqual(p.tee_times(4001), (2001, 3501))

    def test_subnet_overrides_global(self):
        """A subnet's own timers win over the global ones."""
        p = self.plan(renew_timer=1000, rebind_timer=2000, valid_lifetime=4000)
        s = AllocationEngine(config(subnet(1, renew_timer=10, rebind_timer=20,
                                           valid_lifetime=30))).subnets[0]
        self.assertEqual(s.tee_times(s.lifetime(0)), (10, 20))
        self.assertEqual(p.tee_times(p.lifetime(0)), (1000, 2000))


class PickAddressTests(SynchronousTestCase):
    """The iterative allocator's cursor."""

    def test_walks_pools_in_order_and_wraps(self):
        """Addresses come in order across pools, then start again at the first pool."""
        plan = AllocationEngine(config(subnet(1, pools=[
            pool("192.0.2.10", "192.0.2.11"), pool("192.0.2.20", "192.0.2.20")]))).subnets[0]
        got = [str(IPv4Address(pick_address(plan, frozenset()))) for _ in range(5)]
        self.assertEqual(got, ["192.0.2.10", "192.0.2.11", "192.0.2.20",
                               "192.0.2.10", "192.0.2.11"])

    def test_class_gated_pools_skipped(self):
        """Pools the client's classes do not admit are never picked."""
        plan = AllocationEngine(config(subnet(1, pools=[
            pool("192.0.2.10", "192.0.2.11", "HA_server1"),
            pool("192.0.2.20", "192.0.2.21", "HA_server2")]))).subnets[0]
        two = frozenset({"HA_server2"})
        got = [str(IPv4Address(pick_address(plan, two))) for _ in range(3)]
        self.assertEqual(got, ["192.0.2.20", "192.0.2.21", "192.0.2.20"])
        self.assertIsNone(pick_address(plan, frozenset({"other"})))

    def test_constant_work_per_pick(self):
        """Picking from a huge pool does not scan it (a /8 pool answers at once)."""
        plan = AllocationEngine(config(subnet(1, "10.0.0.0/8", pools=[
            pool("10.0.0.1", "10.255.255.254")]))).subnets[0]
        for _ in range(1000):
            pick_address(plan, frozenset())
        self.assertEqual(IPv4Address(pick_address(plan, frozenset())), ip("10.0.3.233"))


class OfferTests(SynchronousTestCase):
    """discoverLease4."""

    def setUp(self):
        self.cfg = config(subnet(1, "192.0.2.0/24", pools=[pool("192.0.2.10", "192.0.2.12")]))
        self.engine = AllocationEngine(self.cfg)
        self.plan = self.engine.subnets[0]
        self.store = DictLeaseStore()

    def offer(self, c=None, requested=0, now=T0):
        """Offer to client C{c}."""
        return self.engine.offer(self.store, self.plan, c or client(), requested, now)

    def test_first_address_then_next_without_commit(self):
        """Offers do not store; the cursor still moves so two clients get two addresses."""
        a = self.offer(client(1))
        b = self.offer(client(2))
        self.assertEqual((a.lease.address, b.lease.address), (ip("192.0.2.10"), ip("192.0.2.11")))
        self.assertEqual(self.store.leases, {})
        self.assertEqual(a.lease.valid_lft, 4000)
        self.assertEqual(a.lease.cltt, T0)

    def test_existing_lease_offered_again(self):
        """A client holding a lease is offered that address, even if it asks for another."""
        self.store.update(lease("192.0.2.12", mac(1)))
        a = self.offer(client(1), requested=n("192.0.2.10"))
        self.assertEqual(a.lease.address, ip("192.0.2.12"))
        self.assertTrue(a.renewed)

    def test_existing_lease_by_client_id(self):
        """With match-client-id the lease is found by client id even from another MAC."""
        self.store.update(lease("192.0.2.11", mac(1), client_id=b"\x01cid"))
        a = self.offer(client(7, cid=b"\x01cid"))
        self.assertEqual(a.lease.address, ip("192.0.2.11"))
        self.assertEqual(a.lease.hwaddr, mac(7))

    def test_match_client_id_false_uses_hwaddr(self):
        """With match-client-id false the client id is neither matched nor stored."""
        engine = AllocationEngine(config(subnet(1, match_client_id=False)))
        self.store.update(lease("192.0.2.15", mac(1)))
        a = engine.offer(self.store, engine.subnets[0], client(1, cid=b"\x01other"), 0, T0)
        self.assertEqual(a.lease.address, ip("192.0.2.15"))
        self.assertIsNone(a.lease.client_id)

    def test_requested_address_free(self):
        """A free requested address in an allowed pool is offered."""
        self.assertEqual(self.offer(requested=n("192.0.2.12")).lease.address, ip("192.0.2.12"))

    def test_requested_address_taken(self):
        """A requested address leased to another client is not offered; the next free one is."""
        self.store.update(lease("192.0.2.12", mac(9)))
        self.assertEqual(self.offer(requested=n("192.0.2.12")).lease.address, ip("192.0.2.10"))

    def test_requested_address_outside_pool(self):
        """A requested address outside the pools is ignored."""
        self.assertEqual(self.offer(requested=n("192.0.2.99")).lease.address, ip("192.0.2.10"))

    def test_skips_leased_addresses(self):
        """The allocator skips addresses with live leases."""
        self.store.update(lease("192.0.2.10", mac(8)))
        self.store.update(lease("192.0.2.11", mac(9)))
        self.assertEqual(self.offer().lease.address, ip("192.0.2.12"))

    def test_exhausted(self):
        """No free address: no lease and allocation_failed set."""
        for i, a in enumerate(("192.0.2.10", "192.0.2.11", "192.0.2.12")):
            self.store.update(lease(a, mac(10 + i)))
        a = self.offer()
        self.assertIsNone(a.lease)
        self.assertTrue(a.allocation_failed)

    def test_expired_lease_reused(self):
        """An expired lease of another client is reused."""
        for i, a in enumerate(("192.0.2.10", "192.0.2.11")):
            self.store.update(lease(a, mac(10 + i)))
        self.store.update(lease("192.0.2.12", mac(12), valid=10, cltt=T0 - 100))
        a = self.offer()
        self.assertEqual(a.lease.address, ip("192.0.2.12"))
        self.assertEqual(a.reused.hwaddr, mac(12))

    def test_declined_in_probation_skipped(self):
        """A declined address is not handed out during probation, and is after it."""
        self.store.update(lease("192.0.2.10", b"", valid=60, cltt=T0, state=LeaseState.DECLINED))
        self.assertEqual(self.offer(now=T0 + 30).lease.address, ip("192.0.2.11"))
        later = self.engine.offer(self.store, self.plan, client(2), n("192.0.2.10"), T0 + 61)
        self.assertEqual(later.lease.address, ip("192.0.2.10"))
        self.assertEqual(later.reused.state, LeaseState.DECLINED)

    def test_pool_client_class(self):
        """A pool guarded by a class only serves clients in that class."""
        engine = AllocationEngine(config(subnet(1, pools=[
            pool("192.0.2.10", "192.0.2.10", "HA_server1"),
            pool("192.0.2.20", "192.0.2.20", "HA_server2")])))
        plan = engine.subnets[0]
        a = engine.offer(self.store, plan, client(1, classes={"HA_server2"}), 0, T0)
        self.assertEqual(a.lease.address, ip("192.0.2.20"))
        b = engine.offer(self.store, plan, client(1, classes={"HA_server2"}), n("192.0.2.10"), T0)
        self.assertEqual(b.lease.address, ip("192.0.2.20"))
        c = engine.offer(self.store, plan, client(1, classes={"nothing"}), 0, T0)
        self.assertIsNone(c.lease)

    def test_reservation(self):
        """A client with a reservation is offered its reserved address."""
        engine = AllocationEngine(config(subnet(1, reservations=[
            reservation(mac(5), "192.0.2.50")])))
        a = engine.offer(self.store, engine.subnets[0], client(5), 0, T0)
        self.assertEqual(a.lease.address, ip("192.0.2.50"))

    def test_reserved_for_other_skipped(self):
        """An in-pool address reserved for another host is never given to this client."""
        engine = AllocationEngine(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.11")],
                                                reservations=[reservation(mac(5), "192.0.2.10")])))
        a = engine.offer(self.store, engine.subnets[0], client(1), n("192.0.2.10"), T0)
        self.assertEqual(a.lease.address, ip("192.0.2.11"))


class RequestTests(SynchronousTestCase):
    """requestLease4."""

    def setUp(self):
        self.engine = AllocationEngine(config(subnet(1, pools=[pool("192.0.2.10", "192.0.2.12")])))
        self.plan = self.engine.subnets[0]
        self.store = DictLeaseStore()

    def req(self, c=None, requested=0, now=T0):
        """Request for client C{c}."""
        return self.engine.request(self.store, self.plan, c or client(), requested, now)

    def test_new_address(self):
        """A free requested address is granted."""
        a = self.req(requested=n("192.0.2.11"))
        self.assertEqual(a.lease.address, ip("192.0.2.11"))
        self.assertIsNone(a.old_lease)

    def test_taken_by_other(self):
        """An address held by another client is refused (NAK)."""
        self.store.update(lease("192.0.2.11", mac(9)))
        a = self.req(requested=n("192.0.2.11"))
        self.assertIsNone(a.lease)
        self.assertFalse(a.unknown_requested)

    def test_expired_of_other_is_taken(self):
        """An expired lease of another client does not block the request."""
        self.store.update(lease("192.0.2.11", mac(9), valid=1, cltt=T0 - 10))
        self.assertEqual(self.req(requested=n("192.0.2.11")).lease.address, ip("192.0.2.11"))

    def test_outside_pools(self):
        """An address outside every pool is 'unknown' (Kea drops, no NAK)."""
        a = self.req(requested=n("192.0.2.99"))
        self.assertIsNone(a.lease)
        self.assertTrue(a.unknown_requested)

    def test_renew(self):
        """The client's own lease is extended."""
        self.store.update(lease("192.0.2.12", mac(1), cltt=T0 - 500))
        a = self.req(requested=n("192.0.2.12"), now=T0)
        self.assertTrue(a.renewed)
        self.assertEqual(a.lease.cltt, T0)
        self.assertEqual(a.previous.cltt, T0 - 500)

    def test_moving_client_drops_old_lease(self):
        """A client asking for another free address gets it; its old lease is to be deleted."""
        self.store.update(lease("192.0.2.12", mac(1)))
        a = self.req(requested=n("192.0.2.10"))
        self.assertEqual(a.lease.address, ip("192.0.2.10"))
        self.assertEqual(a.old_lease.address, ip("192.0.2.12"))

    def test_no_address_allocates(self):
        """No requested address and no lease: the allocator picks one."""
        self.assertEqual(self.req().lease.address, ip("192.0.2.10"))

    def test_no_address_renews_existing(self):
        """No requested address but a lease: the lease is extended."""
        self.store.update(lease("192.0.2.11", mac(1)))
        self.assertEqual(self.req().lease.address, ip("192.0.2.11"))

    def test_reserved_for_other(self):
        """Requesting an address reserved for another client is refused."""
        engine = AllocationEngine(config(subnet(1, reservations=[
            reservation(mac(5), "192.0.2.11")])))
        a = engine.request(self.store, engine.subnets[0], client(1), n("192.0.2.11"), T0)
        self.assertIsNone(a.lease)

    def test_reservation_outside_pool(self):
        """A reserved address outside the pools is granted to its owner."""
        engine = AllocationEngine(config(subnet(1, reservations=[
            reservation(mac(5), "192.0.2.200")])))
        a = engine.request(self.store, engine.subnets[0], client(5), n("192.0.2.200"), T0)
        self.assertEqual(a.lease.address, ip("192.0.2.200"))

    def test_pool_class_refused(self):
        """A requested address in a pool the client may not use is 'unknown'."""
        engine = AllocationEngine(config(subnet(1, pools=[
            pool("192.0.2.10", "192.0.2.10", "HA_server1")])))
        a = engine.request(self.store, engine.subnets[0], client(1, classes={"HA_server2"}),
                           n("192.0.2.10"), T0)
        self.assertTrue(a.unknown_requested)

    def test_lifetime_hint(self):
        """The lease lifetime follows the clamped hint."""
        engine = AllocationEngine(config(subnet(1, min_valid_lifetime=100,
                                                max_valid_lifetime=9000)))
        a = engine.request(self.store, engine.subnets[0], client(1, hint=500), n("192.0.2.10"), T0)
        self.assertEqual(a.lease.valid_lft, 500)
