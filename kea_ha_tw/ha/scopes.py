# -*- test-case-name: tests.test_scopes -*-
"""
HA scoping of DHCPv4 queries, exactly as Kea 2.2's QueryFilter does it.

Which message types are subject to scoping (reference section 6.1), the
load-balancing key of a query (section 6.2) and the RFC 3074 section 6
Pearson hash that Kea applies to it: the seed is the key length, the bytes
are mixed from the last to the first, and the parity of the result picks
the server (even: primary, odd: secondary).

Everything here runs for every received packet, so the table is a
C{bytes} object indexed directly and nothing is recomputed per call.
"""

from __future__ import annotations

from kea_ha_tw.dhcp.packet import DHCPPacket, MessageType, Opt

# RFC 3074 section 6 mixing table (a permutation of 0..255).
MIXING_TABLE = bytes((
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0,
    232, 31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57,
    223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179,
    197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23,
    97, 16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108,
    244, 67, 207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193,
    200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75,
    27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115,
    241, 73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221,
    148, 154, 122, 12, 84, 82, 163, 44, 139, 228, 236, 205, 242, 217, 11,
    187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118, 112, 184, 172, 87,
    2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66,
    231, 52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189,
    93, 92, 51, 53, 183, 19, 171, 72, 50, 33, 104, 101, 69, 8, 252, 83, 120,
    76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136, 208, 162, 129, 190,
    132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
))

#: Message types HA scopes (DISCOVER, REQUEST, DECLINE, RELEASE, INFORM).
HA_MESSAGE_TYPES = frozenset({
    MessageType.DISCOVER, MessageType.REQUEST, MessageType.DECLINE,
    MessageType.RELEASE, MessageType.INFORM,
})

# Option 53 payload -> subject to scoping, for the one-byte payloads.
_HA_TYPE_PAYLOADS = frozenset(bytes((t,)) for t in HA_MESSAGE_TYPES)

_MESSAGE_TYPE = int(Opt.MESSAGE_TYPE)
_CLIENT_ID = int(Opt.CLIENT_ID)

#: The prefix of HA scope client classes.
SCOPE_CLASS_PREFIX = "HA_"


def lb_hash(key: bytes) -> int:
    """Kea's load-balancing hash of C{key} (0..255)."""
    table = MIXING_TABLE
    h = len(key) & 0xFF
    for b in reversed(key):
        h = table[h ^ b]
    return h


def is_ha_type(query: DHCPPacket) -> bool:
    """True when C{query}'s message type is subject to HA scoping."""
    return query.options.get(_MESSAGE_TYPE) in _HA_TYPE_PAYLOADS


def lb_key(query: DHCPPacket) -> bytes | None:
    """
    The bytes Kea hashes for C{query}: the whole option 61 payload (type
    byte included) when present and non-empty, else C{chaddr[:hlen]};
    C{None} when there is neither.
    """
    client_id = query.options.get(_CLIENT_ID)
    if client_id:
        return client_id
    hwaddr = query.hwaddr
    return hwaddr or None


def lb_server_index(query: DHCPPacket, active_servers: int = 2) -> int | None:
    """
    The index of the active server owning C{query} (0: primary, 1:
    secondary), or C{None} when C{query} carries no key.
    """
    key = lb_key(query)
    if key is None:
        return None
    return lb_hash(key) % active_servers


def scope_class(scope: str) -> str:
    """The client class of scope C{scope}: C{HA_<name>}."""
    return SCOPE_CLASS_PREFIX + scope
