"""
Tests for L{kea_ha_tw.leases.service.LeaseStoreService}: start/stop, the
LFC timer, Kea's expired-lease reclamation and the flush of reclaimed
leases, all on a L{Clock}.
"""

import os
from ipaddress import IPv4Address

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.model import ExpiredLeasesConfig, LeaseDatabaseConfig, ServerConfig
from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.leases.csvformat import HEADER
from kea_ha_tw.leases.memfile import MemfileLeaseStore
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState
from kea_ha_tw.leases.service import LeaseStoreService
from kea_ha_tw.stats import Statistics
from tests.fakes import FakeProcessReactor
from tests.test_csvformat import KEA_24_FILE

DEFAULT = LeaseState.DEFAULT
DECLINED = LeaseState.DECLINED
RECLAIMED = LeaseState.EXPIRED_RECLAIMED
# When Kea reclaimed the golden leases below.
KEA_NOW = 1795600612


def lease(address="192.0.2.1", **fields) -> Lease4:
    """A lease with test defaults (expires at 1100)."""
    values = dict(hwaddr=b"\x01\x02\x03\x04\x05\x06", client_id=None, valid_lft=100,
                  cltt=1000, subnet_id=1)
    values.update(fields)
    return Lease4(address=IPv4Address(address), **values)


class ServiceTestCase(SynchronousTestCase):
    """A service on a clock, with helpers."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(2000)
        self.process_reactor = FakeProcessReactor()
        self.stats = Statistics(self.clock)
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.name = os.path.join(self.dir, "leases4.csv")

    def service(self, store=None, *, lfc_interval=0, persist=True, stopwatch=None,
                **expired) -> LeaseStoreService:
        """A started service over C{store} (default: an in-memory store)."""
        config = ServerConfig(
            lease_database=LeaseDatabaseConfig(name=self.name, persist=persist,
                                               lfc_interval=lfc_interval),
            expired_leases=ExpiredLeasesConfig(**expired))
        if store is None:
            store = InMemoryLeaseStore()
        timing = {} if stopwatch is None else {"stopwatch": stopwatch}
        service = LeaseStoreService(store, config, self.clock, self.process_reactor,
                                    stats=self.stats, **timing)
        service.startService()
        self.addCleanup(lambda: service.running and service.stopService())
        return service

    def memfile(self, **config) -> MemfileLeaseStore:
        """A memfile store (not opened) on the test file."""
        config.setdefault("name", self.name)
        return MemfileLeaseStore(LeaseDatabaseConfig(**config), self.clock, self.process_reactor)


class LifeCycleTests(ServiceTestCase):
    """startService and stopService."""

    def test_opens_store(self):
        """Starting loads the lease file; stopping closes it."""
        store = self.memfile()
        service = self.service(store)
        self.assertTrue(os.path.exists(self.name))
        store.update(lease())
        self.successResultOf(service.stopService())
        self.assertRaises(LeaseStoreError, store.update, lease())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_start_fails_fast(self):
        """A store that cannot be loaded stops the start (twistd then exits)."""
        with open(self.name + ".pid", "w") as f:
            f.write(f"{os.getpid()}\n")
        config = ServerConfig(lease_database=LeaseDatabaseConfig(name=self.name))
        service = LeaseStoreService(self.memfile(), config, self.clock, self.process_reactor)
        self.assertRaises(LeaseStoreError, service.startService)
        self.assertFalse(service.running)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timers(self):
        """The three timers run at their configured delays; 0 disables each."""
        self.service(self.memfile(), lfc_interval=3600)
        self.assertEqual(sorted(c.getTime() - 2000 for c in self.clock.getDelayedCalls()),
                         [10, 25, 3600])

    def test_no_timers(self):
        """With every wait time 0 nothing is scheduled."""
        self.service(self.memfile(), lfc_interval=0, reclaim_timer_wait_time=0,
                     flush_reclaimed_timer_wait_time=0)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class LFCTimerTests(ServiceTestCase):
    """Lease file cleanup every lfc-interval seconds."""

    def test_interval(self):
        """A cleanup runs every interval; none starts while one is running."""
        store = self.memfile()
        self.service(store, lfc_interval=100, reclaim_timer_wait_time=0,
                     flush_reclaimed_timer_wait_time=0)
        self.clock.advance(99)
        self.assertEqual(self.process_reactor.spawned, [])
        self.clock.advance(1)
        self.assertEqual(len(self.process_reactor.spawned), 1)
        self.clock.advance(100)
        self.assertEqual(len(self.process_reactor.spawned), 1)
        self.process_reactor.spawned[0].end(0)
        self.clock.advance(100)
        self.assertEqual(len(self.process_reactor.spawned), 2)

    def test_in_memory_has_no_lfc(self):
        """Without a lease file there is nothing to clean."""
        self.service(InMemoryLeaseStore(), lfc_interval=100, persist=False)
        self.clock.advance(1000)
        self.assertEqual(self.process_reactor.spawned, [])

    def test_conversion_at_start(self):
        """A file of another schema is cleaned up at once, as Kea does."""
        with open(self.name, "w") as f:
            f.write(KEA_24_FILE)
        self.service(self.memfile(), lfc_interval=0)
        self.assertEqual(len(self.process_reactor.spawned), 1)

    def test_failure_does_not_stop_timer(self):
        """A cleanup that raises is logged and the next one still runs."""
        store = self.memfile()
        self.service(store, lfc_interval=100, reclaim_timer_wait_time=0,
                     flush_reclaimed_timer_wait_time=0)
        calls = []

        def broken(process_reactor=None):
            calls.append(process_reactor)
            raise OSError("disk gone")

        self.patch(store, "lfc", broken)
        self.clock.advance(100)
        self.clock.advance(100)
        self.assertEqual(calls, [self.process_reactor, self.process_reactor])
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 2)


class ReclaimTests(ServiceTestCase):
    """Kea's expired-lease reclamation."""

    def test_reclaim(self):
        """Expired leases lose hostname and DNS flags and become expired-reclaimed."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.1", hostname="h.example", fqdn_fwd=True, fqdn_rev=True))
        store.add(lease("192.0.2.2", cltt=5000))
        self.service(store)
        self.clock.advance(10)
        got = store.get(IPv4Address("192.0.2.1"), include_reclaimed=True)
        self.assertEqual(got, lease("192.0.2.1", state=RECLAIMED))
        self.assertEqual(store.get(IPv4Address("192.0.2.2")).state, DEFAULT)
        self.assertEqual(store.subnet_counts(1), (1, 0))
        self.assertEqual(self.stats.get("reclaimed-leases"), 1)
        self.assertEqual(self.stats.get("subnet[1].reclaimed-leases"), 1)

    def test_declined_recovered(self):
        """A declined lease whose probation ended is removed: the address is free."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.3", hwaddr=b"", state=DECLINED))
        service = self.service(store)
        with capturedLogs() as events:
            reclaimed = service.reclaim_expired_leases()
        self.assertEqual([x.state for x in reclaimed], [DECLINED])
        self.assertEqual(store.get_all(), [])
        self.assertEqual(self.stats.get("reclaimed-declined-addresses"), 1)
        self.assertEqual(self.stats.get("subnet[1].reclaimed-declined-addresses"), 1)
        self.assertEqual([e["address"] for e in events
                          if e.get("msg_id") == "ALLOC_ENGINE_V4_DECLINED_RECOVERED"],
                         ["192.0.2.3"])

    def test_kea_rows(self):
        """
        On a memfile the reclaim, decline recovery and flush rows are the
        ones Kea 2.2 wrote for the same leases.
        """
        self.clock = Clock()
        self.clock.advance(KEA_NOW)
        with open(self.name, "w") as f:
            f.write(HEADER + "\n"
                    "192.0.2.128,aa:bb:cc:dd:ee:08,,60,1795600602,1,1,0,gone.example,0,\n"
                    "192.0.2.129,,,60,1795600602,1,0,0,,1,\n")
        service = self.service(self.memfile(), hold_reclaimed_time=5)
        service.reclaim_expired_leases()
        self.clock.advance(1)
        service.flush_reclaimed_leases()
        with open(self.name) as f:
            rows = f.read().splitlines()[3:]
        self.assertEqual(rows, [
            "192.0.2.128,aa:bb:cc:dd:ee:08,,60,1795600602,1,0,0,,2,",
            "192.0.2.129,,,0,1795600542,1,0,0,,1,",
            "192.0.2.128,aa:bb:cc:dd:ee:08,,0,1795600542,1,0,0,,2,",
        ])

    def test_observers(self):
        """Observers get each run's reclaimed leases; a failing one is logged."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.1"))
        store.add(lease("192.0.2.2", hwaddr=b"", state=DECLINED))
        service = self.service(store)
        seen = []

        def broken(leases):
            raise RuntimeError("observer bug")

        service.add_reclaim_observer(broken)
        service.add_reclaim_observer(seen.append)
        self.clock.advance(10)
        self.assertEqual([[(str(x.address), x.state) for x in batch] for batch in seen],
                         [[("192.0.2.1", RECLAIMED), ("192.0.2.2", DECLINED)]])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        service.remove_reclaim_observer(seen.append)
        store.add(lease("192.0.2.3"))
        self.clock.advance(10)
        self.assertEqual(len(seen), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_limit_and_order(self):
        """At most max-reclaim-leases per run, oldest first; a warning after slow cycles."""
        store = InMemoryLeaseStore()
        for i in range(1, 8):
            store.add(lease(f"192.0.2.{i}", cltt=1000 - i))
        self.service(store, max_reclaim_leases=2, unwarned_reclaim_cycles=2)
        with capturedLogs() as events:
            self.clock.advance(10)
            self.assertEqual([int(x.address) & 255 for x in store.expired(3000)], [5, 4, 3, 2, 1])
            self.clock.advance(10)
            self.clock.advance(10)
        self.assertEqual([int(x.address) & 255 for x in store.expired(3000)], [1])
        slow = [e for e in events if e.get("msg_id") == "ALLOC_ENGINE_V4_LEASES_RECLAMATION_SLOW"]
        self.assertEqual(len(slow), 1)

    def test_timeout(self):
        """A run stops after max-reclaim-time milliseconds."""
        ticks = iter(range(1000))
        store = InMemoryLeaseStore()
        for i in range(1, 8):
            store.add(lease(f"192.0.2.{i}"))
        service = self.service(store, max_reclaim_time=250,
                               stopwatch=lambda: next(ticks) / 10)
        self.assertEqual(len(service.reclaim_expired_leases()), 3)
        self.assertEqual(len(service.reclaim_expired_leases(timeout_ms=0)), 4)

    def test_remove_when_flush_disabled(self):
        """With the flush timer disabled reclaimed leases are removed at once."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.1"))
        service = self.service(store, flush_reclaimed_timer_wait_time=0)
        self.assertEqual([x.state for x in service.reclaim_expired_leases()], [DEFAULT])
        self.assertEqual(store.get_all(), [])

    def test_flush_timer(self):
        """Reclaimed leases go hold-reclaimed-time seconds after they expired."""
        store = InMemoryLeaseStore()
        store.add(lease("192.0.2.1", cltt=2000 - 100, valid_lft=100))
        self.service(store, hold_reclaimed_time=60, reclaim_timer_wait_time=10,
                     flush_reclaimed_timer_wait_time=25)
        self.clock.advance(10)
        self.assertEqual(store.count(), 1)
        self.clock.advance(40)
        self.assertEqual(store.count(), 1)
        self.clock.advance(25)
        self.assertEqual(store.count(), 0)

    def test_errors_do_not_stop_timers(self):
        """A failing run is logged; the one-shot timer is re-armed anyway."""
        store = InMemoryLeaseStore()
        service = self.service(store)
        real = store.expired
        self.patch(store, "expired", lambda *a, **k: 1 / 0)
        self.patch(store, "delete_expired_reclaimed", lambda *a, **k: 1 / 0)
        for step in (10, 10, 5):
            self.clock.advance(step)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 3)
        self.patch(store, "expired", real)
        store.add(lease())
        self.clock.advance(10)
        self.assertEqual(store.get(lease().address), None)
        self.assertTrue(service.running)

    def test_rearmed_after_run(self):
        """The reclaim timer is re-armed when a run ends (Kea's ONE_SHOT timer)."""
        self.service(InMemoryLeaseStore(), flush_reclaimed_timer_wait_time=0)
        self.clock.advance(10)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [2020])
