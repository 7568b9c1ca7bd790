"""
Tests for L{kea_ha_tw.ha.scopes}: Kea 2.2's load-balancing hash (every
vector of reference section 6.2, four of them verified against live Kea),
key selection and the message types subject to scoping.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.packet import MessageType
from kea_ha_tw.ha import scopes
from tests.ha_helpers import query

# (key hex, kind, hash, owner) from the reference table.
VECTORS = [
    ("a54dca182530", "chaddr", 92, "primary"),
    ("31201e69feda", "chaddr", 105, "secondary"),
    ("01132cded6237b", "client-id", 156, "primary"),
    ("0194d6493c9d5c", "client-id", 101, "secondary"),
    ("000000000001", "chaddr", 153, "secondary"),
    ("aabbccddeeff", "chaddr", 57, "secondary"),
    ("01aabbccddeeff", "client-id", 102, "primary"),
    ("ffffffffffff", "chaddr", 79, "secondary"),
]


class HashTests(SynchronousTestCase):
    """The RFC 3074 Pearson hash as Kea applies it."""

    def test_vectors(self):
        """Every vector of the reference hashes to its value and owner."""
        for key, _kind, expected, owner in VECTORS:
            value = scopes.lb_hash(bytes.fromhex(key))
            self.assertEqual(value, expected, key)
            self.assertEqual("primary" if value % 2 == 0 else "secondary", owner, key)

    def test_vectors_through_queries(self):
        """The same vectors, going through key selection of a real query."""
        for key, kind, expected, _owner in VECTORS:
            raw = bytes.fromhex(key)
            q = query(client_id=raw) if kind == "client-id" else query(mac=raw)
            self.assertEqual(scopes.lb_server_index(q), expected % 2, key)

    def test_table_is_a_permutation(self):
        """The mixing table holds each byte value once (RFC 3074 section 6)."""
        self.assertEqual(sorted(scopes.MIXING_TABLE), list(range(256)))
        self.assertEqual(scopes.MIXING_TABLE[:4], bytes((251, 175, 119, 215)))
        self.assertEqual(scopes.MIXING_TABLE[-1], 151)

    def test_order_and_seed(self):
        """Bytes are mixed last to first, starting from the key length."""
        key = bytes((1, 2))
        table = scopes.MIXING_TABLE
        expected = table[table[2 ^ 2] ^ 1]
        self.assertEqual(scopes.lb_hash(key), expected)
        self.assertEqual(scopes.lb_hash(b""), 0)
        self.assertEqual(scopes.lb_hash(b"\x00"), table[1])

    def test_long_key_seed_wraps(self):
        """The seed is the length modulo 256."""
        key = bytes(300)
        h = 300 & 0xFF
        for _ in range(300):
            h = scopes.MIXING_TABLE[h]
        self.assertEqual(scopes.lb_hash(key), h)


class KeyTests(SynchronousTestCase):
    """Which bytes are hashed."""

    def test_client_id_wins(self):
        """A non-empty option 61 is hashed whole, type byte included."""
        q = query(mac=bytes.fromhex("aabbccddeeff"), client_id=bytes.fromhex("01aabbccddeeff"))
        self.assertEqual(scopes.lb_key(q), bytes.fromhex("01aabbccddeeff"))

    def test_empty_client_id_falls_back_to_chaddr(self):
        """An empty option 61 is ignored."""
        q = query(mac=bytes.fromhex("aabbccddeeff"), client_id=b"")
        self.assertEqual(scopes.lb_key(q), bytes.fromhex("aabbccddeeff"))

    def test_chaddr_uses_hlen(self):
        """Only hlen bytes of chaddr count."""
        q = query(mac=bytes.fromhex("0102030405060708"), hlen=4)
        self.assertEqual(scopes.lb_key(q), bytes.fromhex("01020304"))

    def test_no_key(self):
        """No client id and hlen 0: no key, no owner."""
        q = query(hlen=0)
        self.assertIsNone(scopes.lb_key(q))
        self.assertIsNone(scopes.lb_server_index(q))


class MessageTypeTests(SynchronousTestCase):
    """Reference 6.1: DISCOVER, REQUEST, DECLINE, RELEASE and INFORM are scoped."""

    def test_types(self):
        """Exactly the five client message types are subject to scoping."""
        scoped = {t for t in range(0, 20) if scopes.is_ha_type(query(message_type=t))}
        self.assertEqual(scoped, {MessageType.DISCOVER, MessageType.REQUEST,
                                  MessageType.DECLINE, MessageType.RELEASE,
                                  MessageType.INFORM})

    def test_no_message_type(self):
        """A BOOTP query (no option 53) is not scoped."""
        self.assertFalse(scopes.is_ha_type(query(message_type=None)))

    def test_scope_class(self):
        """The class of a scope is HA_ plus the peer name."""
        self.assertEqual(scopes.scope_class("server1"), "HA_server1")
