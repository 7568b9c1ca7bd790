# -*- test-case-name: tests.test_rx_options -*-
"""
How Kea 2.2 reads the options of a received DHCPv4 packet, as far as it
changes what the server does. Measured against a running C{kea-dhcp4}
2.2.0 (tests/kea22_option_lengths.json holds the measurements; the
differential tests in tests/integration/test_malformed.py re-check them):

 - Every instance of a standard option is unpacked with its definition
   (Kea's C{STANDARD_V4_OPTION_DEFINITIONS}); one that is too short for
   it makes the whole packet a parse failure (counted in
   C{pkt4-parse-failed}, dropped). Integers and single addresses need at
   least their size and longer payloads are read from their first bytes
   (option 53 of two bytes is a DISCOVER if it starts with 1); address
   lists need a multiple of 4 (none is fine); integer lists need at least
   one element and whole elements; strings, binary data and
   encapsulating options take anything; domain names must be complete
   wire-format names; records need their fixed fields.
 - Options without a definition (and C{classless-static-route}, which
   Kea 2.2 does not define) are kept as they come.
 - A repeated option is fused (RFC 3396), but the fused option is a
   plain byte string to Kea: a repeated typed option (message type,
   host name, parameter request list, requested address, ...) is not
   understood at all. L{fuse_repeated} models that: a repeated message
   type reads as no known type, other repeated typed options are
   dropped; binary ones (client identifier, user class, ...) and
   options without a definition keep the concatenation.
 - The relay agent information (82) is re-packed from its parsed
   sub-options: only the complete sub-options before the first truncated
   one survive (code 0 and 255 are ordinary codes there), and an option
   82 with none is not echoed (L{complete_suboptions}).

Pure module: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from kea_ha_tw.dhcp.option_table import STANDARD_DEFINITIONS, OptionDefinition

__all__ = ["CHECKS", "FIXED_SIZES", "KNOWN_CODES", "READABLE_WHEN_FUSED", "check_option",
           "complete_suboptions", "fuse_repeated"]

_SIZES = {"uint8": 1, "int8": 1, "boolean": 1, "uint16": 2, "int16": 2, "uint32": 4,
          "int32": 4, "ipv4-address": 4, "ipv6-address": 16, "psid": 3}
_ANY_TYPES = ("string", "binary", "empty")
_MESSAGE_TYPE = 53
_SERVER_ID = 54
_RAI = 82


def _names_ok(payload: bytes, single: bool) -> bool:
    """Complete wire-format domain names (one, or back to back)."""
    if not payload or (single and len(payload) < 2):
        return False
    pos, end = 0, len(payload)
    while pos < end:
        while True:
            if pos >= end:
                return False
            size = payload[pos]
            if size > 63:
                return False
            pos += 1 + size
            if size == 0:
                break
        if single:
            return True
    return True


def _vendor_class_ok(payload: bytes) -> bool:
    """Kea's OptionVendorClass (124): enterprise id, then (len, data) tuples, each
    further tuple after the same enterprise id again."""
    end = len(payload)
    if end < 4:
        return False
    enterprise = payload[:4]
    pos = 4
    while pos < end:
        pos += 1 + payload[pos]
        if pos > end:
            return False
        if pos != end:
            if payload[pos:pos + 4] != enterprise or pos + 4 + 1 > end:
                return False
            pos += 4
    return True


def _record_minimum(definition: OptionDefinition) -> int:
    total = 0
    for field in definition.record_types:
        if field == "fqdn":
            total += 1
        else:
            total += _SIZES.get(field, 0)
    return total


def _check_for(definition: OptionDefinition) -> Callable[[bytes], bool] | None:
    """The acceptance test of one definition, or None when anything goes."""
    kind = definition.type
    if definition.code == 124:
        return _vendor_class_ok
    if definition.code == 125 or kind in _ANY_TYPES:
        return None
    if definition.code == 81:  # Kea's Option4ClientFqdn: flags, rcode1, rcode2, name
        return lambda p: len(p) >= 3
    if kind == "fqdn":
        single = not definition.array
        return lambda p: _names_ok(p, single)
    if kind == "record":
        minimum = _record_minimum(definition)
        return lambda p: len(p) >= minimum
    size = _SIZES.get(kind)
    if size is None:
        return None
    if not definition.array:
        return lambda p: len(p) >= size
    if kind == "ipv4-address":
        return lambda p: len(p) % 4 == 0
    return lambda p: len(p) >= size and len(p) % size == 0


_KEA22 = [d for d in STANDARD_DEFINITIONS if d.kea22 and d.space == "dhcp4"]

#: code -> test of one received instance (codes absent: anything goes).
CHECKS: dict[int, Callable[[bytes], bool]] = {
    d.code: check for d in _KEA22 if (check := _check_for(d)) is not None
}
#: code -> size, for single integers and addresses: Kea reads only these
#: first bytes of a longer payload.
FIXED_SIZES: dict[int, int] = {
    d.code: _SIZES[d.type] for d in _KEA22
    if not d.array and d.type in _SIZES and d.code not in (124, 125)
}
#: Codes whose fused (repeated) instances Kea still reads as one option.
READABLE_WHEN_FUSED = frozenset(
    [d.code for d in _KEA22 if d.type in ("binary", "empty") or d.code in (124, 125)])
#: Codes Kea 2.2 has a standard definition for.
KNOWN_CODES = frozenset(d.code for d in _KEA22)


def check_option(code: int, payload: bytes) -> bytes | None:
    """
    One received instance as Kea 2.2 keeps it: the payload (cut to the
    size of a single integer or address), or C{None} when Kea fails to
    unpack it and drops the packet.
    """
    check = CHECKS.get(code)
    if check is not None and not check(payload):
        return None
    size = FIXED_SIZES.get(code)
    if size is not None and len(payload) > size:
        return payload[:size]
    return payload


def fuse_repeated(options: dict[int, bytes], repeated) -> None:
    """
    Apply Kea's reading of the fused options in C{repeated} (codes seen
    more than once) to C{options}, in place.
    """
    for code in repeated:
        if code == _MESSAGE_TYPE:
            options[code] = b""
        elif code in KNOWN_CODES and code not in READABLE_WHEN_FUSED and code != _SERVER_ID:
            options.pop(code, None)


def complete_suboptions(payload: bytes) -> bytes:
    """The complete sub-options at the start of C{payload} (codes 0/255 included)."""
    pos, end = 0, len(payload)
    while pos + 2 <= end:
        nxt = pos + 2 + payload[pos + 1]
        if nxt > end:
            break
        pos = nxt
    return payload[:pos]
