"""
Tests for L{kea_ha_tw.fastinit}: the slot-setting constructors build the
same objects as the dataclasses' own C{__init__}, for the classes the hot
paths use (L{Lease4}, L{DHCPPacket}), and fall back on the class itself
where slots cannot be set that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.packet import ZERO, DHCPPacket
from kea_ha_tw.fastinit import fast_constructor
from kea_ha_tw.leases.model import Lease4, LeaseState, make_lease4


class FastConstructorTests(SynchronousTestCase):
    """L{fast_constructor} and the model's L{make_lease4}."""

    def test_make_lease(self):
        """The fast constructor builds the same object as the dataclass's."""
        args = (IPv4Address("10.0.0.1"), b"\x01", b"\x01\x02", 7, 8, 9, True, False, "h",
                LeaseState.DECLINED, {"a": 1})
        fast = make_lease4(*args)
        self.assertIs(type(fast), Lease4)
        self.assertEqual(fast, Lease4(*args))
        self.assertEqual(repr(fast), repr(Lease4(*args)))

    def test_packet(self):
        """A DHCPPacket built fast equals one built by its __init__."""
        args = (1, 1, 6, 0, 7, 0, 0, ZERO, ZERO, ZERO, IPv4Address("10.0.0.2"),
                b"\x02" * 6, b"", b"", {53: b"\x01"})
        fast = fast_constructor(DHCPPacket)(*args)
        self.assertIs(type(fast), DHCPPacket)
        self.assertEqual(fast, DHCPPacket(*args))

    def test_fallback(self):
        """Without slots, or with __post_init__, the class itself is returned."""

        @dataclass(frozen=True)
        class Plain:
            a: int

        @dataclass(frozen=True, slots=True)
        class Checked:
            a: int

            def __post_init__(self):
                pass

        self.assertIs(fast_constructor(Plain), Plain)
        self.assertIs(fast_constructor(Checked), Checked)
