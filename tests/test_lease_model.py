"""
Tests for L{kea_ha_tw.leases.model}: Kea's lease states and the frozen
L{Lease4} value.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.leases.model import Lease4, LeaseState

T0 = 1795600484


def a_lease(**changes) -> Lease4:
    """A default-state lease of 192.0.2.10 for 3600 s from T0, with C{changes}."""
    lease = Lease4(address=IPv4Address("192.0.2.10"), hwaddr=bytes.fromhex("aabbccddeeff"),
                   client_id=bytes.fromhex("01aabbccddeeff"), valid_lft=3600, cltt=T0,
                   subnet_id=1)
    return dataclasses.replace(lease, **changes)


class LeaseStateTests(SynchronousTestCase):
    """The lease states are Kea 2.2's Lease::state values."""

    def test_values(self):
        """default 0, declined 1, expired-reclaimed 2, as in Kea's CSV 'state' column."""
        self.assertEqual([(s.name, int(s)) for s in LeaseState],
                         [("DEFAULT", 0), ("DECLINED", 1), ("EXPIRED_RECLAIMED", 2)])

    def test_from_csv_integer(self):
        """A CSV state integer converts to the enum, and an unknown one is refused."""
        self.assertIs(LeaseState(2), LeaseState.EXPIRED_RECLAIMED)
        self.assertRaises(ValueError, LeaseState, 3)


class Lease4Tests(SynchronousTestCase):
    """The Lease4 value."""

    def test_defaults(self):
        """A lease without the optional fields: no DNS updates, no hostname, default state."""
        lease = a_lease()
        self.assertEqual((lease.fqdn_fwd, lease.fqdn_rev, lease.hostname, lease.state,
                          lease.user_context),
                         (False, False, "", LeaseState.DEFAULT, None))

    def test_expire(self):
        """expire is cltt + valid_lft (Kea's CSV 'expire' column)."""
        self.assertEqual(a_lease().expire, T0 + 3600)
        self.assertEqual(a_lease(valid_lft=0).expire, T0)

    def test_is_expired_at_expiry(self):
        """A lease is expired at its expiry time and after, not one second before."""
        lease = a_lease()
        self.assertFalse(lease.is_expired(T0 + 3599))
        self.assertFalse(lease.is_expired(T0 + 3599.5))
        self.assertTrue(lease.is_expired(T0 + 3600))
        self.assertTrue(lease.is_expired(T0 + 10**6))

    def test_frozen(self):
        """Leases are immutable values."""
        lease = a_lease()
        with self.assertRaises(dataclasses.FrozenInstanceError):
            lease.valid_lft = 1  # type: ignore[misc]

    def test_evolve(self):
        """evolve() returns a changed copy and leaves the original alone."""
        lease = a_lease()
        renewed = lease.evolve(cltt=T0 + 1800, hostname="host-a")
        self.assertEqual((renewed.cltt, renewed.hostname, renewed.expire),
                         (T0 + 1800, "host-a", T0 + 1800 + 3600))
        self.assertEqual((lease.cltt, lease.hostname), (T0, ""))
        self.assertRaises(TypeError, lease.evolve, no_such_field=1)

    def test_equality_includes_every_field(self):
        """Leases are equal only when every field, user context included, is equal."""
        self.assertEqual(a_lease(), a_lease())
        self.assertEqual(a_lease(user_context={"a": 1}), a_lease(user_context={"a": 1}))
        for changes in ({"hwaddr": b""}, {"client_id": None}, {"valid_lft": 7200},
                        {"subnet_id": 2}, {"fqdn_fwd": True}, {"hostname": "x"},
                        {"state": LeaseState.DECLINED}, {"user_context": {"a": 2}},
                        {"address": IPv4Address("192.0.2.11")}):
            self.assertNotEqual(a_lease(), a_lease(**changes), changes)

    def test_slots(self):
        """Leases have slots, no per-instance dict (millions of them are kept)."""
        self.assertFalse(hasattr(a_lease(), "__dict__"))
