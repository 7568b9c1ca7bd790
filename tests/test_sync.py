"""
Tests for L{kea_ha_tw.ha.sync}: Kea 2.2's lease database synchronization,
recorded on the wire through a real L{PeerClient} over StubTreq.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.ha.client import PeerClient
from kea_ha_tw.ha.sync import (
    LeaseSync,
    SyncError,
    automatic_max_period,
    dhcp_disable_arguments,
    merge_lease,
)
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.kea_peer_stub import HANG, FakeKeaPeer, InOrder, ok, peer_config


def element(n: int, cltt: int = 1795593702, **extra) -> dict:
    """A lease as lease4-get-page returns it."""
    e = {"cltt": cltt, "fqdn-fwd": False, "fqdn-rev": False, "hostname": f"host{n}",
         "hw-address": f"aa:bb:cc:dd:ee:{n:02x}", "ip-address": f"192.0.2.{n}", "state": 0,
         "subnet-id": 1, "valid-lft": 3600}
    e.update(extra)
    return e


def local_lease(n: int, cltt: int) -> Lease4:
    """A lease already in the local store."""
    return Lease4(address=IPv4Address(f"192.0.2.{n}"), hwaddr=bytes([0x11] * 5 + [n]),
                  client_id=None, valid_lft=3600, cltt=cltt, subnet_id=1, hostname="local")


def paging(elements):
    """A lease4-get-page handler serving C{elements} like Kea (from exclusive)."""
    ordered = sorted(elements, key=lambda e: IPv4Address(e["ip-address"]))

    def handler(args):
        start = IPv4Address("0.0.0.0") if args["from"] == "start" else IPv4Address(args["from"])
        page = [e for e in ordered if IPv4Address(e["ip-address"]) > start][: args["limit"]]
        if not page:
            return ok("0 IPv4 lease(s) found.", {"count": 0, "leases": []}, 3)
        return ok(f"{len(page)} IPv4 lease(s) found.", {"count": len(page), "leases": page})

    return handler


class Rig:
    """server1 syncing from server2 (and possibly server3, a backup)."""

    def __init__(self, elements=(), **ha_kwargs):
        self.clock = Clock()
        peers = (peer_config("server1", "primary", "127.0.0.1"),
                 peer_config("server2", "secondary", "127.0.0.2"),
                 peer_config("server3", "backup", "127.0.0.3"))
        ha_kwargs.setdefault("sync_page_limit", 2)
        self.ha = HAConfig(this_server_name="server1", mode="load-balancing", peers=peers,
                           **ha_kwargs)
        self.store = InMemoryLeaseStore()
        self.stubs = {}
        self.treqs = {}
        clients = {}
        for p in peers[1:]:
            self.stubs[p.name] = FakeKeaPeer()
            self.stubs[p.name].answers["lease4-get-page"] = paging(elements)
            self.treqs[p.name] = StubTreq(self.stubs[p.name])
            clients[p.name] = PeerClient(p, self.treqs[p.name], self.clock)
        self.partner = self.stubs["server2"]
        self.failed = []
        self.sync = LeaseSync(self.ha, clients, self.store, self.clock, self.failed.append)

    def run(self, server="server2", max_period=60):
        """Start a synchronization."""
        return self.sync.synchronize(server, max_period)

    def wire(self, server="server2"):
        """(command, arguments) as the peer received them."""
        return [(r.command, r.arguments) for r in self.stubs[server].received]


DISABLE = ("dhcp-disable", {"max-period": 60, "origin": "ha-partner"})
NOTIFY = ("ha-sync-complete-notify", None)
ENABLE = ("dhcp-enable", {"origin": "ha-partner"})


def page(frm):
    """The lease4-get-page request with limit 2."""
    return ("lease4-get-page", {"from": frm, "limit": 2})


class WireSequenceTests(SynchronousTestCase):
    """The exact sequence Kea 2.2 sends (reference section 5.5)."""

    def test_three_leases_limit_two(self):
        """disable, page(start), disable, page(last), notify - as captured from Kea."""
        rig = Rig([element(101), element(102), element(103)])
        self.assertEqual(self.successResultOf(rig.run()), 3)
        self.assertEqual(rig.wire(), [DISABLE, page("start"), DISABLE, page("192.0.2.102"),
                                      NOTIFY])
        bodies = [r.body for r in rig.partner.received]
        self.assertEqual(bodies[0], b'{ "arguments": { "max-period": 60, "origin": "ha-partner" },'
                                    b' "command": "dhcp-disable", "service": [ "dhcp4" ] }')
        self.assertEqual(bodies[1], b'{ "arguments": { "from": "start", "limit": 2 }, '
                                    b'"command": "lease4-get-page", "service": [ "dhcp4" ] }')
        self.assertEqual(bodies[4], b'{ "command": "ha-sync-complete-notify", '
                                    b'"service": [ "dhcp4" ] }')
        self.assertEqual(sorted(str(x.address) for x in rig.store.get_all()),
                         ["192.0.2.101", "192.0.2.102", "192.0.2.103"])
        self.assertEqual(rig.failed, [])

    def test_exactly_limit(self):
        """A full last page costs one more (empty, result 3) page."""
        rig = Rig([element(101), element(102)])
        self.successResultOf(rig.run())
        self.assertEqual(rig.wire(), [DISABLE, page("start"), DISABLE, page("192.0.2.102"),
                                      NOTIFY])

    def test_empty_partner(self):
        """An empty partner: one page answered with result 3, then notify."""
        rig = Rig([])
        self.assertEqual(self.successResultOf(rig.run()), 0)
        self.assertEqual(rig.wire(), [DISABLE, page("start"), NOTIFY])

    def test_no_max_period(self):
        """ha-sync without max-period disables without a max-period."""
        rig = Rig([])
        self.successResultOf(rig.run(max_period=None))
        self.assertEqual(rig.wire()[0], ("dhcp-disable", {"origin": "ha-partner"}))

    def test_page_limit_from_config(self):
        """The limit is sync-page-limit."""
        rig = Rig([element(n) for n in range(1, 8)], sync_page_limit=5)
        self.successResultOf(rig.run())
        self.assertEqual([a for c, a in rig.wire() if c == "lease4-get-page"],
                         [{"from": "start", "limit": 5}, {"from": "192.0.2.5", "limit": 5}])

    def test_max_period_of_automatic_sync(self):
        """Automatic sync: max-period = sync-timeout in seconds, at least 1."""
        self.assertEqual(automatic_max_period(Rig().ha), 60)
        self.assertEqual(automatic_max_period(Rig(sync_timeout_ms=500).ha), 1)
        self.assertEqual(automatic_max_period(Rig(sync_timeout_ms=2999).ha), 2)
        self.assertEqual(dhcp_disable_arguments(0), {"origin": "ha-partner"})

    def test_not_blocking(self):
        """While a page is outstanding the reactor is free; the sync is in progress."""
        rig = Rig([element(101)])
        rig.partner.answers["lease4-get-page"] = HANG
        d = rig.run()
        self.assertNoResult(d)
        self.assertTrue(rig.sync.in_progress)
        rig.partner.release(ok("1 IPv4 lease(s) found.", {"count": 1, "leases": [element(101)]}))
        rig.treqs["server2"].flush()
        self.assertEqual(self.successResultOf(d), 1)
        self.assertFalse(rig.sync.in_progress)


class MergeTests(SynchronousTestCase):
    """Kea's merge rule."""

    def test_merge_rule(self):
        """Add missing, replace only older-cltt local leases, keep ties and newer."""
        rig = Rig([element(101, 1000), element(102, 2000), element(103, 3000),
                   element(104, 4000)])
        rig.store.add(local_lease(102, 1999))   # older -> replaced
        rig.store.add(local_lease(103, 3000))   # tie -> kept
        rig.store.add(local_lease(104, 4001))   # newer -> kept
        rig.store.add(local_lease(105, 5000))   # local only -> kept
        self.assertEqual(self.successResultOf(rig.run()), 2)
        def get(n):
            return rig.store.get(IPv4Address(f"192.0.2.{n}"))
        self.assertEqual(get(101).hostname, "host101")
        self.assertEqual((get(102).hostname, get(102).cltt), ("host102", 2000))
        self.assertEqual(get(103).hostname, "local")
        self.assertEqual(get(104).hostname, "local")
        self.assertEqual(get(105).hostname, "local")

    def test_reclaimed_local_lease_compared(self):
        """A local expired-reclaimed lease is compared like any other (Kea's getLease4)."""
        store = InMemoryLeaseStore()
        store.add(local_lease(7, 100).evolve(state=LeaseState.EXPIRED_RECLAIMED))
        newer = local_lease(7, 200).evolve(hostname="fetched")
        self.assertTrue(merge_lease(store, newer))
        self.assertEqual(store.get(IPv4Address("192.0.2.7")).hostname, "fetched")
        self.assertFalse(merge_lease(store, local_lease(7, 150)))

    def test_bad_entry_skipped(self):
        """An entry that does not parse is logged (HA_LEASE_SYNC_FAILED) and skipped."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        rig = Rig([element(101, **{"valid-lft": "x"}), element(102)], sync_page_limit=10)
        self.assertEqual(self.successResultOf(rig.run()), 1)
        self.assertIsNone(rig.store.get(IPv4Address("192.0.2.101")))
        self.assertIsNotNone(rig.store.get(IPv4Address("192.0.2.102")))
        self.assertEqual([e for e in events if e.get("msg_id") == "HA_LEASE_SYNC_FAILED"][0]
                         ["lease"].count("192.0.2.101"), 1)

    def test_entry_without_cltt_skipped(self):
        """Kea's fromElement needs cltt: an entry without it is skipped."""
        no_cltt = element(101)
        del no_cltt["cltt"]
        rig = Rig([no_cltt, element(102)], sync_page_limit=10)
        self.assertEqual(self.successResultOf(rig.run()), 1)
        self.assertIsNone(rig.store.get(IPv4Address("192.0.2.101")))

    def test_bad_last_entry_keeps_paging(self):
        """A bad last entry of a full page still gives the next page's start."""
        rig = Rig([element(101), element(102, state=7), element(103)])
        self.successResultOf(rig.run())
        self.assertEqual([a["from"] for c, a in rig.wire() if c == "lease4-get-page"],
                         ["start", "192.0.2.102"])
        self.assertIsNotNone(rig.store.get(IPv4Address("192.0.2.103")))


class FailureTests(SynchronousTestCase):
    """Failure paths: re-enable only if disabled, partner marked unavailable."""

    def test_disable_fails(self):
        """A failed dhcp-disable ends the sync without dhcp-enable."""
        rig = Rig([element(101)])
        rig.partner.answers["dhcp-disable"] = ok("nope", result=1)
        error = self.failureResultOf(rig.run(), SyncError).value
        self.assertEqual(str(error), "nope, error code 1")
        self.assertEqual(rig.wire(), [DISABLE])
        self.assertEqual(rig.failed, ["server2"])

    def test_page_fails(self):
        """A failed page: dhcp-enable (no notify), error text is Kea's."""
        rig = Rig([element(101)])
        rig.partner.answers["lease4-get-page"] = ok("boom", result=1)
        self.assertEqual(str(self.failureResultOf(rig.run(), SyncError).value),
                         "boom, error code 1")
        self.assertEqual(rig.wire(), [DISABLE, page("start"), ENABLE])
        self.assertEqual(rig.failed, ["server2"])

    def test_second_disable_fails(self):
        """A failing second disable still re-enables (the first succeeded)."""
        rig = Rig([element(101), element(102), element(103)])
        rig.partner.answers["dhcp-disable"] = InOrder(ok(), ok("later", result=1), ok())
        self.failureResultOf(rig.run(), SyncError)
        self.assertEqual(rig.wire(), [DISABLE, page("start"), DISABLE, ENABLE])

    def test_page_timeout(self):
        """lease4-get-page times out after sync-timeout, then dhcp-enable."""
        rig = Rig([element(101)], sync_timeout_ms=30000)
        rig.partner.answers["lease4-get-page"] = HANG
        d = rig.run()
        rig.clock.advance(29)
        self.assertNoResult(d)
        rig.clock.advance(1.5)
        self.assertIn("timed out", str(self.failureResultOf(d, SyncError).value))
        self.assertEqual(rig.wire()[-1], ("dhcp-enable", {"origin": "ha-partner"}))

    def test_page_not_a_map(self):
        """Page arguments that are not a map fail the sync."""
        rig = Rig()
        rig.partner.answers["lease4-get-page"] = ok("x", ["a"])
        self.assertEqual(str(self.failureResultOf(rig.run(), SyncError).value),
                         "arguments in the received response must be a map")

    def test_page_without_leases(self):
        """A page without a leases list fails the sync."""
        rig = Rig()
        rig.partner.answers["lease4-get-page"] = ok("x", {"count": 0})
        self.assertIn("does not contain leases",
                      str(self.failureResultOf(rig.run(), SyncError).value))

    def test_notify_unsupported_falls_back(self):
        """ha-sync-complete-notify answered 2 -> dhcp-enable, still a success."""
        rig = Rig([])
        rig.partner.answers["ha-sync-complete-notify"] = ok(
            "'ha-sync-complete-notify' command not supported.", result=2)
        self.successResultOf(rig.run())
        self.assertEqual(rig.wire(), [DISABLE, page("start"), NOTIFY, ENABLE])
        self.assertEqual(rig.failed, [])

    def test_notify_fails(self):
        """A failed notify fails the sync; no dhcp-enable follows."""
        rig = Rig([])
        rig.partner.answers["ha-sync-complete-notify"] = ok("no", result=1)
        self.failureResultOf(rig.run(), SyncError)
        self.assertEqual(rig.wire(), [DISABLE, page("start"), NOTIFY])
        self.assertEqual(rig.failed, ["server2"])

    def test_page_limit_zero(self):
        """sync-page-limit 0 fails when the page request is built (after the disable)."""
        rig = Rig(sync_page_limit=0)
        self.assertEqual(str(self.failureResultOf(rig.run(), SyncError).value),
                         "limit value for lease4-get-page command must not be 0")
        self.assertEqual(rig.wire(), [DISABLE, ENABLE])

    def test_backup_failure_not_reported(self):
        """A sync from a backup that fails does not mark anything unavailable."""
        rig = Rig()
        rig.stubs["server3"].answers["dhcp-disable"] = ok("no", result=1)
        self.failureResultOf(rig.run("server3"), SyncError)
        self.assertEqual(rig.failed, [])

    def test_unknown_server(self):
        """An unknown server name fails at once."""
        rig = Rig()
        self.failureResultOf(rig.run("server9"), SyncError)
        self.assertEqual(rig.partner.received, [])


class SerializationTests(SynchronousTestCase):
    """Two synchronizations never overlap (Kea's is blocking)."""

    def test_second_waits(self):
        """A sync asked for during another one starts when the first ends."""
        rig = Rig([element(101)])
        rig.partner.answers["lease4-get-page"] = InOrder(HANG, paging([element(101)]))
        first = rig.run()
        second = rig.run()
        self.assertEqual([c for c, _ in rig.wire()], ["dhcp-disable", "lease4-get-page"])
        rig.partner.release(ok("1 IPv4 lease(s) found.", {"count": 1, "leases": [element(101)]}))
        rig.treqs["server2"].flush()
        self.assertEqual(self.successResultOf(first), 1)
        self.assertEqual(self.successResultOf(second), 0)
        self.assertEqual([c for c, _ in rig.wire()],
                         ["dhcp-disable", "lease4-get-page", "ha-sync-complete-notify",
                          "dhcp-disable", "lease4-get-page", "ha-sync-complete-notify"])

    def test_own_name(self):
        """Synchronizing from this server itself is refused."""
        rig = Rig()
        self.assertIn("this server", str(self.failureResultOf(rig.run("server1"), SyncError).value))
