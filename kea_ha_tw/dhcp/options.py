# -*- test-case-name: tests.test_options -*-
"""
DHCPv4 option payloads at the TLV level (RFC 2132): build and parse the
common payload shapes, read relay agent sub-options, and pick the options
a reply carries. Pure functions.

Option definitions by name (data types, Kea's option names) live in
L{kea_ha_tw.dhcp.option_defs}; this module only knows payload shapes.

Parsers (C{decode_*}, L{parse_suboptions}) read data that came off the
wire and raise L{PacketDecodeError} when it is malformed; builders
(C{encode_*}) take values from our own code and raise C{ValueError}.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from collections.abc import Collection, Iterable, Mapping

from kea_ha_tw.errors import PacketDecodeError

#: What kea-dhcp4 2.2 puts in every DHCPOFFER/DHCPACK whether or not the
#: client asked (measured against a running 2.2.0, 2026-11-25): message
#: type, server id, lease time, T1, T2 (when configured or calculated),
#: subnet mask, and, when configured, routers, domain-name-servers and
#: domain-name (its C{appendBasicOptions}). Anything else (e.g. 28, 42,
#: 26) only when requested in option 55. Echoes of the query's options
#: 61 (RFC 6842), 82 (RFC 3046) and 118 (RFC 3011) are added on top.
KEA_ALWAYS_SENT = frozenset({53, 54, 51, 58, 59, 1, 3, 6, 15})

#: Smallest maximum message size a client may announce (RFC 2132 9.10).
MIN_MAX_MESSAGE_SIZE = 576

_uint16 = struct.Struct("!H")
_uint32 = struct.Struct("!I")


def _need(payload: bytes, what: str, size: int) -> None:
    """Raise L{PacketDecodeError} unless C{payload} is C{size} bytes."""
    if len(payload) != size:
        raise PacketDecodeError(
            f"{what} payload is {len(payload)} bytes, expected {size}"
        )


def encode_ip(address: IPv4Address | str) -> bytes:
    """One IPv4 address as 4 bytes."""
    return IPv4Address(address).packed


def decode_ip(payload: bytes) -> IPv4Address:
    """A 4-byte payload as an address."""
    _need(payload, "IPv4 address", 4)
    return IPv4Address(payload)


def encode_ip_list(addresses: Iterable[IPv4Address | str]) -> bytes:
    """
    One or more IPv4 addresses (routers, name servers, ...).

    @raise ValueError: for an empty list (RFC 2132 gives lists a minimum
        length of 4).
    """
    payload = b"".join(IPv4Address(a).packed for a in addresses)
    if not payload:
        raise ValueError("an address list needs at least one address")
    return payload


def decode_ip_list(payload: bytes) -> list[IPv4Address]:
    """A non-empty payload of 4-byte addresses."""
    if not payload or len(payload) % 4:
        raise PacketDecodeError(
            f"address list payload is {len(payload)} bytes, "
            f"not a positive multiple of 4"
        )
    return [IPv4Address(payload[i:i + 4]) for i in range(0, len(payload), 4)]


def encode_uint8(value: int) -> bytes:
    """An unsigned byte."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{value} does not fit in a uint8")
    return bytes((value,))


def decode_uint8(payload: bytes) -> int:
    """A 1-byte payload as an int."""
    _need(payload, "uint8", 1)
    return payload[0]


def encode_uint16(value: int) -> bytes:
    """An unsigned 16-bit integer, network order (e.g. option 57)."""
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit in a uint16")
    return _uint16.pack(value)


def decode_uint16(payload: bytes) -> int:
    """A 2-byte payload as an int."""
    _need(payload, "uint16", 2)
    return _uint16.unpack(payload)[0]


def encode_uint32(value: int) -> bytes:
    """An unsigned 32-bit integer, network order (lease time, T1, T2)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} does not fit in a uint32")
    return _uint32.pack(value)


def decode_uint32(payload: bytes) -> int:
    """A 4-byte payload as an int."""
    _need(payload, "uint32", 4)
    return _uint32.unpack(payload)[0]


def encode_message_type(message_type: int) -> bytes:
    """Option 53 (a L{kea_ha_tw.dhcp.packet.MessageType} or any 1..255)."""
    if not 1 <= message_type <= 0xFF:
        raise ValueError(f"message type {message_type} is not in 1..255")
    return bytes((message_type,))


def decode_message_type(payload: bytes) -> int:
    """
    Option 53 as an int (compare it with
    L{kea_ha_tw.dhcp.packet.MessageType}; values outside 1..8, such as
    leasequery types, are returned as they are).
    """
    _need(payload, "message type", 1)
    return payload[0]


def encode_parameter_request_list(codes: Iterable[int]) -> bytes:
    """Option 55 from option codes, in the given order."""
    codes = list(codes)
    if any(not 0 < c < 255 for c in codes):
        raise ValueError(f"parameter request list {codes} has a code outside 1..254")
    return bytes(codes)


def decode_parameter_request_list(payload: bytes) -> tuple[int, ...]:
    """Option 55 as the requested codes, in the client's order."""
    return tuple(payload)


def encode_text(text: str) -> bytes:
    """
    A text option (host name, domain name, message 56) as UTF-8, without
    a trailing NUL (RFC 2132 3.14 discourages one).
    """
    return text.encode("utf-8")


def parse_suboptions(payload: bytes) -> dict[int, bytes]:
    """
    The sub-options of an encapsulating option (relay agent information,
    option 82: circuit id 1, remote id 2, link selection 5, relay port
    19, ...), code to payload in wire order. Sub-options have no PAD or
    END (RFC 3046 2.0); a repeated code is concatenated (RFC 3396), as Kea
    does.
    """
    result: dict[int, bytes] = {}
    pos = 0
    end = len(payload)
    while pos < end:
        code = payload[pos]
        if pos + 2 > end:
            raise PacketDecodeError(
                f"sub-option {code} at offset {pos}: length byte missing"
            )
        start = pos + 2
        pos = start + payload[pos + 1]
        if pos > end:
            raise PacketDecodeError(
                f"sub-option {code} at offset {start - 2}: length "
                f"{payload[start - 1]} runs past the end ({end - start} "
                f"bytes left)"
            )
        result[code] = result.get(code, b"") + payload[start:pos]
    return result


def encode_suboptions(suboptions: Iterable[tuple[int, bytes]]) -> bytes:
    """
    Sub-options as TLVs, in the given order.

    @raise ValueError: for a code outside 0..255 or a payload over 255 bytes.
    """
    parts = []
    for code, data in suboptions:
        if not 0 <= code <= 255 or len(data) > 255:
            raise ValueError(
                f"sub-option {code} with {len(data)} bytes cannot be encoded"
            )
        parts.append(bytes((code, len(data))))
        parts.append(data)
    return b"".join(parts)


def max_message_size(options: Mapping[int, bytes]) -> int:
    """
    The client's maximum message size (option 57, which counts the IPv4
    and UDP headers), for L{kea_ha_tw.dhcp.codec.encode}'s C{max_size}:
    576 when absent, malformed or below the legal minimum of 576.
    """
    payload = options.get(57)
    if payload is None or len(payload) != 2:
        return MIN_MAX_MESSAGE_SIZE
    return max(_uint16.unpack(payload)[0], MIN_MAX_MESSAGE_SIZE)


def select_reply_options(
    requested: bytes,
    available: Mapping[int, bytes],
    always: Collection[int],
) -> list[tuple[int, bytes]]:
    """
    The options a reply carries, most important first (the order
    L{kea_ha_tw.dhcp.codec.encode} drops from the end when space runs out).

    First every option of C{available} whose code is in C{always}, in the
    order of C{available}; then each code of the client's parameter request
    list C{requested} (option 55) that is available and not yet included,
    in the client's order. Codes 0 and 255 and repeats in C{requested} are
    ignored; requested codes that are not available are skipped, as Kea
    does.

    @param requested: the option 55 payload (C{b""} when absent).
    @param available: code -> payload the server could send (the options
        configured for the client's subnet plus those the server computes,
        such as 53, 54, 51, 58, 59, 1; echoes such as 61/82 too).
    @param always: codes sent whether requested or not; to match Kea 2.2
        use L{KEA_ALWAYS_SENT} plus the echoed codes.
    """
    chosen = [(code, data) for code, data in available.items() if code in always]
    seen = {code for code, _ in chosen}
    for code in requested:
        if code in seen:
            continue
        data = available.get(code)
        if data is not None and 0 < code < 255:
            chosen.append((code, data))
            seen.add(code)
    return chosen
