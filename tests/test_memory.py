"""
Tests for L{kea_ha_tw.leases.memory}: the lease indexes and the in-memory
store, including a model-based test that drives random changes through the
store and compares every query with a plain list of leases.
"""

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.interfaces import ILeaseStore
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState

DEFAULT = LeaseState.DEFAULT
DECLINED = LeaseState.DECLINED
RECLAIMED = LeaseState.EXPIRED_RECLAIMED


def lease(address="192.0.2.1", **fields) -> Lease4:
    """A lease with test defaults."""
    values = dict(hwaddr=b"\x01\x02\x03\x04\x05\x06", client_id=None, valid_lft=3600,
                  cltt=1000, subnet_id=1)
    values.update(fields)
    return Lease4(address=IPv4Address(address), **values)


class InterfaceTests(SynchronousTestCase):
    """The store provides ILeaseStore."""

    def test_verify(self):
        """InMemoryLeaseStore implements every ILeaseStore method."""
        self.assertTrue(verifyObject(ILeaseStore, InMemoryLeaseStore()))


class ChangeTests(SynchronousTestCase):
    """add, update, delete, wipe."""

    def setUp(self):
        self.store = InMemoryLeaseStore()

    def test_add_get(self):
        """An added lease is found by address."""
        a = lease()
        self.store.add(a)
        self.assertIs(self.store.get(IPv4Address("192.0.2.1")), a)
        self.assertIsNone(self.store.get(IPv4Address("192.0.2.2")))
        self.assertEqual(len(self.store), 1)

    def test_add_taken(self):
        """Adding over an existing lease fails and changes nothing."""
        a = lease()
        self.store.add(a)
        e = self.assertRaises(LeaseStoreError, self.store.add, lease(cltt=5))
        self.assertIn("192.0.2.1", str(e))
        self.assertIs(self.store.get(IPv4Address("192.0.2.1")), a)

    def test_add_over_reclaimed(self):
        """An expired-reclaimed lease does not hold its address: add replaces it."""
        self.store.add(lease(state=RECLAIMED))
        fresh = lease(hwaddr=b"\x09" * 6)
        self.store.add(fresh)
        self.assertIs(self.store.get(IPv4Address("192.0.2.1")), fresh)
        self.assertEqual(self.store.get_by_hwaddr(b"\x01\x02\x03\x04\x05\x06",
                                                  include_reclaimed=True), [])

    def test_update_upserts(self):
        """update stores a new lease or replaces the old one."""
        self.store.update(lease())
        self.store.update(lease(cltt=2000))
        self.assertEqual(self.store.get(IPv4Address("192.0.2.1")).cltt, 2000)
        self.assertEqual(len(self.store), 1)

    def test_delete(self):
        """delete removes a lease in any state and says whether there was one."""
        self.store.add(lease(state=RECLAIMED))
        self.assertTrue(self.store.delete(IPv4Address("192.0.2.1")))
        self.assertFalse(self.store.delete(IPv4Address("192.0.2.1")))
        self.assertEqual(self.store.get_by_hwaddr(b"\x01\x02\x03\x04\x05\x06",
                                                  include_reclaimed=True), [])
        self.assertEqual(self.store.count(), 0)

    def test_wipe(self):
        """wipe removes all leases, or those of one subnet, and counts them."""
        for i in range(1, 6):
            self.store.add(lease(f"192.0.2.{i}", subnet_id=1 + i % 2))
        self.assertEqual(self.store.wipe(2), 3)
        self.assertEqual([int(x.address) & 255 for x in self.store.get_all()], [2, 4])
        self.assertEqual(self.store.wipe(), 2)
        self.assertEqual(self.store.count(), 0)


class LookupTests(SynchronousTestCase):
    """Secondary indexes."""

    def setUp(self):
        self.store = InMemoryLeaseStore()
        self.a = lease("192.0.2.3", client_id=b"\x01\xaa", hostname="h", subnet_id=1)
        self.b = lease("192.0.2.1", client_id=b"\x01\xaa", hostname="h", subnet_id=2)
        self.c = lease("192.0.2.2", hwaddr=b"\x07" * 6, state=RECLAIMED, hostname="h")
        for x in (self.a, self.b, self.c):
            self.store.add(x)

    def test_by_hwaddr(self):
        """Leases of a hardware address, ascending, optionally of one subnet."""
        hw = b"\x01\x02\x03\x04\x05\x06"
        self.assertEqual(self.store.get_by_hwaddr(hw), [self.b, self.a])
        self.assertEqual(self.store.get_by_hwaddr(hw, 1), [self.a])
        self.assertEqual(self.store.get_by_hwaddr(b""), [])

    def test_by_client_id(self):
        """Leases of a client id."""
        self.assertEqual(self.store.get_by_client_id(b"\x01\xaa"), [self.b, self.a])
        self.assertEqual(self.store.get_by_client_id(b"\x01\xaa", 2), [self.b])
        self.assertEqual(self.store.get_by_client_id(b"\x01\xbb"), [])

    def test_by_hostname(self):
        """Leases of a hostname; reclaimed ones only when asked."""
        self.assertEqual(self.store.get_by_hostname("h"), [self.b, self.a])
        self.assertEqual(self.store.get_by_hostname("h", include_reclaimed=True),
                         [self.b, self.c, self.a])

    def test_reclaimed_hidden(self):
        """get hides an expired-reclaimed lease unless asked."""
        addr = IPv4Address("192.0.2.2")
        self.assertIsNone(self.store.get(addr))
        self.assertIs(self.store.get(addr, include_reclaimed=True), self.c)

    def test_index_follows_update(self):
        """Changing identifiers moves the lease between index entries."""
        moved = self.a.evolve(hwaddr=b"\x08" * 6, client_id=None, hostname="other")
        self.store.update(moved)
        self.assertEqual(self.store.get_by_hwaddr(b"\x08" * 6), [moved])
        self.assertEqual(self.store.get_by_client_id(b"\x01\xaa"), [self.b])
        self.assertEqual(self.store.get_by_hostname("h"), [self.b])
        self.assertEqual(self.store.get_by_hostname("other"), [moved])

    def test_get_all(self):
        """get_all returns every lease (all states) ascending, optionally by subnet."""
        self.assertEqual(self.store.get_all(), [self.b, self.c, self.a])
        self.assertEqual(self.store.get_all([2]), [self.b])
        self.assertEqual(list(self.store), [self.b, self.c, self.a])


class PageTests(SynchronousTestCase):
    """get_page: lease4-get-page's paging."""

    def setUp(self):
        self.store = InMemoryLeaseStore()
        for i in (9, 1, 5, 200, 7):
            self.store.add(lease(f"10.0.0.{i}", state=RECLAIMED if i == 5 else DEFAULT))

    def addresses(self, leases) -> list[int]:
        """Last octets of C{leases}."""
        return [int(x.address) & 255 for x in leases]

    def test_pages(self):
        """Pages are ascending, exclusive of C{after}, at most C{limit} long, all states."""
        page = self.store.get_page(IPv4Address("0.0.0.0"), 2)
        self.assertEqual(self.addresses(page), [1, 5])
        page = self.store.get_page(page[-1].address, 2)
        self.assertEqual(self.addresses(page), [7, 9])
        page = self.store.get_page(page[-1].address, 2)
        self.assertEqual(self.addresses(page), [200])
        self.assertEqual(self.store.get_page(page[-1].address, 2), [])

    def test_after_missing_address(self):
        """C{after} need not be a stored address."""
        self.assertEqual(self.addresses(self.store.get_page(IPv4Address("10.0.0.6"), 10)),
                         [7, 9, 200])


class CountTests(SynchronousTestCase):
    """Counters per subnet, kept up to date on every change."""

    def test_counts(self):
        """Assigned counts default and declined leases (Kea's recount); reclaimed do not."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.1"))
        store.add(lease("192.0.2.2", state=DECLINED, hwaddr=b""))
        store.add(lease("192.0.2.3", state=RECLAIMED))
        store.add(lease("192.0.2.4", subnet_id=2))
        self.assertEqual(store.subnet_counts(1), (2, 1))
        self.assertEqual(store.subnet_counts(2), (1, 0))
        self.assertEqual(store.subnet_counts(3), (0, 0))
        self.assertEqual((store.count(), store.count(1), store.count(3)), (4, 3, 0))
        store.update(lease("192.0.2.2", state=DEFAULT, subnet_id=2))
        store.update(lease("192.0.2.1", state=RECLAIMED))
        self.assertEqual(store.subnet_counts(1), (0, 0))
        self.assertEqual(store.subnet_counts(2), (2, 0))
        store.delete(IPv4Address("192.0.2.4"))
        self.assertEqual(store.subnet_counts(2), (1, 0))


class ExpiryTests(SynchronousTestCase):
    """expired(), expired_reclaimed() and delete_expired_reclaimed()."""

    def setUp(self):
        self.store = InMemoryLeaseStore()
        # expire = cltt + 100
        for i, cltt, state in ((1, 50, DEFAULT), (2, 10, DEFAULT), (3, 30, DECLINED),
                               (4, 500, DEFAULT), (5, 20, RECLAIMED), (6, 10, DEFAULT)):
            self.store.add(lease(f"192.0.2.{i}", cltt=cltt, valid_lft=100, state=state))

    def octets(self, leases) -> list[int]:
        """Last octets of C{leases}."""
        return [int(x.address) & 255 for x in leases]

    def test_expired(self):
        """Not reclaimed, expire <= now, oldest first (address breaks ties)."""
        self.assertEqual(self.octets(self.store.expired(150)), [2, 6, 1])
        self.assertEqual(self.octets(self.store.expired(150, include_declined=True)),
                         [2, 6, 3, 1])
        self.assertEqual(self.octets(self.store.expired(110)), [2, 6])
        self.assertEqual(self.store.expired(109), [])

    def test_limit(self):
        """At most C{limit} leases; declined ones skipped do not count."""
        self.assertEqual(self.octets(self.store.expired(1000, 2)), [2, 6])
        self.assertEqual(self.octets(self.store.expired(1000, 3)), [2, 6, 1])
        self.assertEqual(self.octets(self.store.expired(1000, 3, True)), [2, 6, 3])

    def test_queries_do_not_consume(self):
        """Asking twice gives the same answer."""
        self.assertEqual(self.store.expired(1000, 2), self.store.expired(1000, 2))
        self.assertEqual(self.octets(self.store.expired(1000)), [2, 6, 1, 4])

    def test_follows_changes(self):
        """A renewed, reclaimed or deleted lease leaves the expired list."""
        self.store.update(lease("192.0.2.2", cltt=1000, valid_lft=100))
        self.store.update(lease("192.0.2.6", cltt=10, valid_lft=100, state=RECLAIMED))
        self.store.delete(IPv4Address("192.0.2.1"))
        self.assertEqual(self.octets(self.store.expired(600)), [4])
        self.assertEqual(self.octets(self.store.expired_reclaimed(600)), [6, 5])

    def test_delete_expired_reclaimed(self):
        """Reclaimed leases expired C{secs} or more before now are removed."""
        self.assertEqual(self.store.delete_expired_reclaimed(now=150, secs=31), 0)
        self.assertEqual(self.store.delete_expired_reclaimed(now=150, secs=30), 1)
        self.assertIsNone(self.store.get(IPv4Address("192.0.2.5"), include_reclaimed=True))

    def test_many_updates(self):
        """Thousands of renewals keep the expiry index right and bounded."""
        for n in range(3000):
            self.store.update(lease("192.0.2.2", cltt=n, valid_lft=100))
        self.assertEqual(self.octets(self.store.expired(150)), [6, 1])
        heaps = self.store._index.expiring.heap + self.store._index.reclaimed.heap
        self.assertLessEqual(len(heaps), 2 * len(self.store) + 1024)


addresses = st.integers(1, 12).map(lambda i: IPv4Address(f"10.0.0.{i}"))
model_leases = st.builds(
    lease,
    address=addresses.map(str),
    hwaddr=st.sampled_from([b"", b"\x01", b"\x02"]),
    client_id=st.sampled_from([None, b"\x01\x01", b"\x02\x02"]),
    valid_lft=st.integers(0, 50),
    cltt=st.integers(0, 50),
    subnet_id=st.integers(1, 3),
    hostname=st.sampled_from(["", "a", "b"]),
    state=st.sampled_from(list(LeaseState)),
)


class StoreModel(RuleBasedStateMachine):
    """Random changes; every query checked against a dict of leases."""

    def __init__(self):
        super().__init__()
        self.store = InMemoryLeaseStore()
        self.model: dict[int, Lease4] = {}

    @rule(x=model_leases)
    def add(self, x):
        """add: refused over a live lease, else stored."""
        old = self.model.get(int(x.address))
        if old is not None and old.state != RECLAIMED:
            try:
                self.store.add(x)
            except LeaseStoreError:
                return
            raise AssertionError("add over a live lease did not fail")
        self.store.add(x)
        self.model[int(x.address)] = x

    @rule(x=model_leases)
    def update(self, x):
        """update always stores."""
        self.store.update(x)
        self.model[int(x.address)] = x

    @rule(a=addresses)
    def delete(self, a):
        """delete says whether a lease was there."""
        assert self.store.delete(a) == (self.model.pop(int(a), None) is not None)

    @rule(now=st.integers(0, 120), secs=st.integers(0, 30))
    def flush(self, now, secs):
        """delete_expired_reclaimed removes what the model says."""
        gone = [k for k, v in self.model.items()
                if v.state == RECLAIMED and v.expire <= now - secs]
        assert self.store.delete_expired_reclaimed(now, secs) == len(gone)
        for k in gone:
            del self.model[k]

    def live(self, leases):
        return sorted((x for x in leases if x.state != RECLAIMED), key=lambda x: int(x.address))

    @invariant()
    def queries_match(self):
        """Every lookup equals the naive answer."""
        values = sorted(self.model.values(), key=lambda x: int(x.address))
        assert self.store.get_all() == values
        assert len(self.store) == len(values)
        for a in range(1, 13):
            got = self.store.get(IPv4Address(f"10.0.0.{a}"))
            want = self.model.get(int(IPv4Address(f"10.0.0.{a}")))
            assert got == (want if want is not None and want.state != RECLAIMED else None)
        for key in (b"\x01", b"\x02"):
            assert self.store.get_by_hwaddr(key) == self.live(
                x for x in values if x.hwaddr == key)
            assert self.store.get_by_hwaddr(key, 2) == self.live(
                x for x in values if x.hwaddr == key and x.subnet_id == 2)
        for key in (b"\x01\x01", b"\x02\x02"):
            assert self.store.get_by_client_id(key, include_reclaimed=True) == [
                x for x in values if x.client_id == key]
        for key in ("a", "b"):
            assert self.store.get_by_hostname(key) == self.live(
                x for x in values if x.hostname == key)
        for subnet in (1, 2, 3):
            mine = [x for x in values if x.subnet_id == subnet]
            assert self.store.subnet_counts(subnet) == (
                sum(x.state != RECLAIMED for x in mine), sum(x.state == DECLINED for x in mine))
            assert self.store.count(subnet) == len(mine)
        for now in (0, 25, 60, 200):
            order = sorted((x for x in values if x.state != RECLAIMED and x.expire <= now),
                           key=lambda x: (x.expire, int(x.address)))
            assert self.store.expired(now, include_declined=True) == order
            assert self.store.expired(now) == [x for x in order if x.state != DECLINED]
            assert self.store.expired(now, 2, True) == order[:2]
            reclaimed = sorted((x for x in values if x.state == RECLAIMED and x.expire <= now),
                               key=lambda x: (x.expire, int(x.address)))
            assert self.store.expired_reclaimed(now) == reclaimed
        page = self.store.get_page(IPv4Address("10.0.0.4"), 3)
        assert page == [x for x in values if int(x.address) > int(IPv4Address("10.0.0.4"))][:3]


class StoreModelTests(SynchronousTestCase):
    """The store agrees with the model on random change sequences."""

    def test_model(self):
        """Run the state machine."""
        StoreModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                                deadline=None)
        StoreModel.TestCase("runTest").runTest()


class BulkLoadTests(SynchronousTestCase):
    """bulk_load (start-up) builds the same indexes as one change at a time."""

    @settings(max_examples=100, deadline=None)
    @given(st.lists(model_leases, max_size=25))
    def test_same_as_updates(self, changes):
        """Every query agrees between a bulk-loaded store and an updated one."""
        one_by_one = InMemoryLeaseStore()
        final = {}
        for x in changes:
            one_by_one.update(x)
            final[int(x.address)] = x
        bulk = InMemoryLeaseStore()
        bulk._index.bulk_load(dict(final))
        self.assertEqual(bulk.get_all(), one_by_one.get_all())
        for key in (b"\x01", b"\x02"):
            self.assertEqual(bulk.get_by_hwaddr(key, include_reclaimed=True),
                             one_by_one.get_by_hwaddr(key, include_reclaimed=True))
        for key in (b"\x01\x01", b"\x02\x02"):
            self.assertEqual(bulk.get_by_client_id(key), one_by_one.get_by_client_id(key))
        for key in ("a", "b"):
            self.assertEqual(bulk.get_by_hostname(key), one_by_one.get_by_hostname(key))
        for subnet in (1, 2, 3):
            self.assertEqual(bulk.subnet_counts(subnet), one_by_one.subnet_counts(subnet))
            self.assertEqual(bulk.count(subnet), one_by_one.count(subnet))
        for now in (0, 30, 200):
            self.assertEqual(bulk.expired(now, include_declined=True),
                             one_by_one.expired(now, include_declined=True))
            self.assertEqual(bulk.expired_reclaimed(now), one_by_one.expired_reclaimed(now))
        self.assertEqual(bulk.get_page(IPv4Address("10.0.0.3"), 4),
                         one_by_one.get_page(IPv4Address("10.0.0.3"), 4))
