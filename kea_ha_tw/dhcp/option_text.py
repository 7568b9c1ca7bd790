# -*- test-case-name: tests.test_option_defs -*-
"""
Option payloads back to Kea's CSV text (for logging and C{config-get}), and
the payload checks Kea's option classes make when data is given in hex.

Pure module. The public API is re-exported by L{kea_ha_tw.dhcp.option_defs}.
"""

from __future__ import annotations

import ipaddress

from kea_ha_tw.dhcp.option_table import (
    INT_RANGES,
    OptionDataError,
    OptionDefinition,
    get_definition,
)


class _ShortError(Exception):
    pass


def _read(payload: bytes, pos: int, type_: str, last: bool) -> tuple[str, int]:
    if type_ in INT_RANGES:
        lo, _hi, size = INT_RANGES[type_]
        if pos + size > len(payload):
            raise _ShortError
        return str(int.from_bytes(payload[pos : pos + size], "big", signed=lo < 0)), pos + size
    if type_ == "ipv4-address":
        if pos + 4 > len(payload):
            raise _ShortError
        return str(ipaddress.IPv4Address(payload[pos : pos + 4])), pos + 4
    if type_ == "ipv6-address":
        if pos + 16 > len(payload):
            raise _ShortError
        return str(ipaddress.IPv6Address(payload[pos : pos + 16])), pos + 16
    if type_ == "boolean":
        if pos >= len(payload) or payload[pos] > 1:
            raise _ShortError
        return ("true" if payload[pos] else "false"), pos + 1
    if type_ == "string":
        try:
            text = payload[pos:].decode("utf-8")
        except UnicodeDecodeError:
            raise _ShortError from None
        if not text.isprintable() or "," in text:
            raise _ShortError
        return text, len(payload)
    if type_ == "binary":
        return payload[pos:].hex(), len(payload)
    if type_ == "fqdn":
        labels = []
        while True:
            if pos >= len(payload):
                raise _ShortError
            n = payload[pos]
            pos += 1
            if n == 0:
                break
            if n > 63 or pos + n > len(payload):
                raise _ShortError
            label = payload[pos : pos + n]
            if not all(0x21 <= b < 0x7F and b not in b".\\," for b in label):
                raise _ShortError
            labels.append(label.decode("ascii"))
            pos += n
        return (".".join(labels) + ".") if labels else ".", pos
    if type_ == "psid":
        if pos + 3 > len(payload) or payload[pos] > 16:
            raise _ShortError
        plen, raw = payload[pos], int.from_bytes(payload[pos + 1 : pos + 3], "big")
        return f"{raw >> (16 - plen) if plen else 0}/{plen}", pos + 3
    if type_ == "ipv6-prefix":
        if pos >= len(payload) or payload[pos] > 128:
            raise _ShortError
        plen = payload[pos]
        n = (plen + 7) // 8
        if pos + 1 + n > len(payload):
            raise _ShortError
        addr = ipaddress.IPv6Address(payload[pos + 1 : pos + 1 + n] + bytes(16 - n))
        return f"{addr}/{plen}", pos + 1 + n
    if type_ == "tuple":
        if pos >= len(payload) or pos + 1 + payload[pos] > len(payload):
            raise _ShortError
        return payload[pos + 1 : pos + 1 + payload[pos]].decode(
            "utf-8", "replace"
        ), pos + 1 + payload[pos]
    raise _ShortError


def _decode_with(definition: OptionDefinition, payload: bytes) -> str:
    t = definition.type
    if t == "internal":
        routes, pos = [], 0
        while pos < len(payload):
            plen = payload[pos]
            n = (plen + 7) // 8
            if plen > 32 or pos + 1 + n + 4 > len(payload):
                raise _ShortError
            net = payload[pos + 1 : pos + 1 + n] + bytes(4 - n)
            router = payload[pos + 1 + n : pos + 5 + n]
            routes.append(f"{ipaddress.IPv4Address(net)}/{plen} - {ipaddress.IPv4Address(router)}")
            pos += 5 + n
        return ", ".join(routes)
    if t == "empty":
        if payload:
            raise _ShortError
        return ""
    if definition.code == 125 and definition.space == "dhcp4" and t == "uint32":
        if len(payload) < 5 or payload[4] != len(payload) - 5:
            raise _ShortError
        payload = payload[:4]
    fields = definition.record_types if t == "record" else (t,)
    if definition.array and t != "record" and not payload:
        return ""
    values: list[str] = []
    pos = 0
    for i, f in enumerate(fields):
        v, pos = _read(payload, pos, f, i == len(fields) - 1)
        values.append(v)
    if definition.array:
        while pos < len(payload):
            v, pos = _read(payload, pos, fields[-1], True)
            values.append(v)
    if pos != len(payload):
        raise _ShortError
    return ", ".join(values)


def validate_payload(definition: OptionDefinition, payload: bytes) -> None:
    """
    Check that C{payload} parses under C{definition} (used for hex data
    given for a defined option, as Kea's option classes do on unpack).

    @raise OptionDataError: it does not.
    """
    if definition.type in ("binary", "empty") and definition.encapsulate == "":
        return
    if definition.encapsulate:
        pos = 0
        while pos < len(payload):
            if payload[pos] in (0, 255):
                pos += 1
                continue
            if pos + 2 > len(payload) or pos + 2 + payload[pos + 1] > len(payload):
                raise OptionDataError(f"malformed sub-options for option {definition.code}")
            pos += 2 + payload[pos + 1]
        return
    if definition.type == "string" and not payload:
        raise OptionDataError("no option value specified")
    if definition.code == 124 and definition.space == "dhcp4":
        # Kea's OptionVendorClass: enterprise-id, then length-prefixed tuples.
        pos = 4
        while pos < len(payload):
            if pos + 1 + payload[pos] > len(payload):
                raise OptionDataError(
                    "unable to parse the opaque data tuple, the buffer length is "
                    f"{len(payload) - pos - 1}, but the tuple length is {payload[pos]}"
                )
            pos += 1 + payload[pos]
    try:
        _decode_with(definition, payload)
    except (_ShortError, UnicodeDecodeError):
        if definition.type == "string" or (
            definition.type == "record" and definition.record_types[-1] in ("string", "binary")
        ):
            return  # any octets are a string's or binary's payload
        raise OptionDataError(
            f"the payload {payload.hex()} is not valid for option "
            f"{definition.code} ({definition.name})"
        ) from None


def decode_option_data(code: int, payload: bytes, custom: tuple[OptionDefinition, ...] = ()) -> str:
    """
    Kea-style text for option C{code}'s C{payload}: the CSV text that
    encodes back to the same bytes where possible, otherwise C{0x}-hex.
    """
    definition = get_definition(code=code, custom=custom)
    if definition is not None and definition.type != "binary":
        try:
            return _decode_with(definition, payload)
        except (_ShortError, UnicodeDecodeError, ValueError):
            pass
    return "0x" + payload.hex().upper() if payload else ""
