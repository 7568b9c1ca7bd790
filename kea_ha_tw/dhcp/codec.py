# -*- test-case-name: tests.test_codec -*-
"""
DHCPv4 wire codec: L{decode} turns a UDP payload into a L{DHCPPacket},
L{encode} turns a L{DHCPPacket} into a UDP payload. Pure functions; no
Twisted, no I/O.

Decoding rules (what Kea 2.2 does is noted where we differ; each was
checked against a running kea-dhcp4 2.2.0):

 - A packet shorter than the 236-byte fixed header, a packet of exactly
   236 bytes (RFC 951 BOOTP without a vendor area), one truncated inside
   the magic cookie, and one whose cookie is not 99.130.83.99 are
   rejected (Kea drops all four). A BOOTP packet that has the cookie but
   no option 53 decodes fine; L{DHCPPacket.message_type} is then C{None}
   and the server drops it, as Kea 2.2 does without its bootp hook.
 - C{op} is not checked: any value decodes (Kea 2.2 ignores C{op} and
   answers a DISCOVER sent with op 2 or 7); the server filters.
 - C{hlen} up to 20 is accepted and kept as sent; above 20 the packet is
   rejected, as Kea rejects it ("address vector size exceeds
   MAX_HWADDR_LEN"). L{DHCPPacket.hwaddr} clamps to the 16 bytes of
   C{chaddr}; Kea pads to C{hlen} with zero bytes instead.
 - PAD (0) is skipped anywhere; END (255) stops parsing and whatever
   follows it is ignored; a missing END is tolerated (Kea too).
 - An option whose length byte is missing, or whose data runs past the
   end of the packet, ends the options: it and anything after it are
   ignored and the options before it are kept (Kea 2.2 does the same).
 - Each option instance is checked as Kea 2.2 unpacks it with its
   standard definition (L{kea_ha_tw.dhcp.rx_options}); one Kea cannot
   unpack (option 50 of 3 bytes, an empty parameter request list, ...)
   rejects the packet; single integers and addresses longer than their
   size are cut to it, as Kea reads only their first bytes.
 - Option overload (52) is not acted upon: like Kea 2.2, the server
   never reads options from C{file}/C{sname}; option 52 is kept as an
   ordinary option.
 - Every instance of a repeated code is concatenated into one payload in
   wire order (RFC 3396); then L{rx_options.fuse_repeated} applies what
   Kea makes of a fused typed option (a repeated message type is no
   known type, other repeated typed options are ignored). Payloads are
   otherwise kept verbatim, except option 82, which keeps only its
   complete sub-options (and is dropped when none is complete), as Kea
   re-packs it.

Encoding rules: see L{encode}.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address

from kea_ha_tw.dhcp.packet import ZERO, DHCPPacket
from kea_ha_tw.dhcp.rx_options import check_option, complete_suboptions, fuse_repeated
from kea_ha_tw.errors import PacketDecodeError
from kea_ha_tw.fastinit import fast_constructor

MAGIC_COOKIE = b"\x63\x82\x53\x63"
#: Length of the fixed BOOTP header (op .. file).
HEADER_LEN = 236
#: Smallest packet L{decode} accepts: the fixed header and the magic cookie.
MIN_PACKET_LEN = HEADER_LEN + 4
#: The BOOTP message size (RFC 951's 64-byte vendor area). L{encode} does
#: not pad up to it: Kea 2.2 does not either.
BOOTP_MIN_LEN = 300
#: The smallest datagram every client must accept (RFC 2131 section 2).
DEFAULT_MAX_SIZE = 576
#: IPv4 + UDP header bytes counted in a maximum message size (option 57).
IP_UDP_OVERHEAD = 28
#: Longest C{hlen} accepted, Kea's C{HWAddr::MAX_HWADDR_LEN}.
MAX_HLEN = 20
#: Options L{encode} never drops to make a reply fit: message type,
#: server id, lease time, T1, T2, subnet mask, client id echo (RFC 6842)
#: and the relay agent information echo (RFC 3046).
ESSENTIAL_OPTIONS = frozenset({53, 54, 51, 58, 59, 1, 61, 82})

_SNAME_LEN = 64
_FILE_LEN = 128
_OVERLOAD = 52
_MESSAGE_TYPE = 53
_RELAY_AGENT = 82
_END = b"\xff"

_HEADER = struct.Struct("!BBBBIHHIIII16s64s128s")
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_pack_tlv_header = struct.Struct("BB").pack

__all__ = [
    "BOOTP_MIN_LEN",
    "DEFAULT_MAX_SIZE",
    "ESSENTIAL_OPTIONS",
    "HEADER_LEN",
    "IP_UDP_OVERHEAD",
    "MAGIC_COOKIE",
    "MAX_HLEN",
    "MIN_PACKET_LEN",
    "decode",
    "encode",
]


def _address(value: int) -> IPv4Address:
    """An L{IPv4Address}, sharing L{ZERO} for the common 0.0.0.0."""
    return ZERO if value == 0 else IPv4Address(value)


def _scan(data: bytes, pos: int, end: int, options: dict) -> set | None:
    """
    Parse the options in C{data[pos:end]} into C{options}, concatenating
    repeated codes (RFC 3396); the set of repeated codes (or None).
    """
    repeated = None
    check = check_option
    while pos < end:
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            break
        start = pos + 2
        if start > end:
            break  # length byte missing: ignored, as Kea does
        nxt = start + data[start - 1]
        if nxt > end:
            break  # runs past the end: ignored with what follows, as Kea does
        payload = check(code, data[start:nxt])
        if payload is None:
            raise PacketDecodeError(
                f"option {code} at offset {pos}: {nxt - start} bytes cannot be "
                f"unpacked as its standard definition"
            )
        pos = nxt
        if code in options:
            options[code] += payload
            if repeated is None:
                repeated = set()
            repeated.add(code)
        else:
            options[code] = payload
    return repeated


#: A positional L{DHCPPacket} constructor, about twice as fast as the
#: frozen dataclass's C{__init__} (one C{object.__setattr__} per field).
_new_packet = fast_constructor(DHCPPacket)


def decode(data: bytes) -> DHCPPacket:
    """
    Decode one DHCPv4 message (a UDP payload).

    @raise PacketDecodeError: for any input that is not a well-formed
        DHCPv4 message, with the reason; never any other exception.
    """
    if type(data) is not bytes:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        else:
            raise PacketDecodeError(
                f"expected bytes, got {type(data).__name__}"
            )
    size = len(data)
    if size < MIN_PACKET_LEN:
        if size < HEADER_LEN:
            raise PacketDecodeError(
                f"packet is {size} bytes, shorter than the "
                f"{HEADER_LEN}-byte BOOTP header"
            )
        if size == HEADER_LEN:
            raise PacketDecodeError(
                f"packet is {HEADER_LEN} bytes: a BOOTP packet without "
                f"vendor extensions (no magic cookie)"
            )
        raise PacketDecodeError(
            f"packet is {size} bytes: truncated inside the magic cookie"
        )
    if data[HEADER_LEN:MIN_PACKET_LEN] != MAGIC_COOKIE:
        raise PacketDecodeError(
            f"bad magic cookie {data[HEADER_LEN:MIN_PACKET_LEN].hex()} "
            f"(expected {MAGIC_COOKIE.hex()})"
        )
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr,
     giaddr, chaddr, sname, file) = _unpack_header(data)
    if hlen > MAX_HLEN:
        raise PacketDecodeError(
            f"hlen {hlen} exceeds {MAX_HLEN}, the longest hardware "
            f"address Kea accepts"
        )
    options: dict[int, bytes] = {}
    repeated = _scan(data, MIN_PACKET_LEN, size, options)
    if repeated:
        fuse_repeated(options, repeated)
    rai = options.get(_RELAY_AGENT)
    if rai is not None:
        rai = complete_suboptions(rai)
        if rai:
            options[_RELAY_AGENT] = rai
        else:
            del options[_RELAY_AGENT]
    return _new_packet(
        op, htype, hlen, hops, xid, secs, flags,
        _address(ciaddr), _address(yiaddr), _address(siaddr),
        _address(giaddr), chaddr, sname, file, options,
    )


def _tlvs(code: int, payload: bytes) -> list[bytes]:
    """One option as wire instances, split at 255 bytes (RFC 3396)."""
    size = len(payload)
    if size <= 255:
        return [_pack_tlv_header(code, size) + payload]
    return [
        _pack_tlv_header(code, len(chunk)) + chunk
        for chunk in (payload[i:i + 255] for i in range(0, size, 255))
    ]


def _ordered(options: Mapping[int, bytes]) -> list[tuple[int, bytes]]:
    """
    The options to send, in wire order: 53 first, 82 last, the others
    as given; 52 is dropped (L{encode} computes it).

    @raise ValueError: for a code outside 1..254.
    """
    first: list[tuple[int, bytes]] = []
    middle: list[tuple[int, bytes]] = []
    last: list[tuple[int, bytes]] = []
    for code, payload in options.items():
        if code == _MESSAGE_TYPE:
            first.append((code, payload))
        elif code == _RELAY_AGENT:
            last.append((code, payload))
        elif code == _OVERLOAD:
            continue
        elif not 0 < code < 255:
            raise ValueError(f"option code {code!r} is not in 1..254")
        else:
            middle.append((code, payload))
    return first + middle + last


def _place(
    middle: Iterable[tuple[int, bytes]], rooms: list[int]
) -> list[list[bytes]] | None:
    """
    Put options into the fields whose free bytes are C{rooms} (options
    field, file, sname; END already deducted). An option of up to 255
    bytes goes whole into the first field with room for it; a longer one
    is cut into instances that fill the fields in order, which keeps
    its RFC 3396 concatenation order. C{None} when something does not fit.
    """
    fields: list[list[bytes]] = [[] for _ in rooms]
    for code, payload in middle:
        size = len(payload)
        if size <= 255:
            need = size + 2
            for index, room in enumerate(rooms):
                if room >= need:
                    fields[index].append(_pack_tlv_header(code, size) + payload)
                    rooms[index] = room - need
                    break
            else:
                return None
            continue
        index = 0
        pos = 0
        while pos < size:
            while index < len(rooms) and rooms[index] < 3:
                index += 1
            if index == len(rooms):
                return None
            take = min(255, rooms[index] - 2, size - pos)
            fields[index].append(
                _pack_tlv_header(code, take) + payload[pos:pos + take]
            )
            rooms[index] -= take + 2
            pos += take
    return fields


def _overload(
    ordered: list[tuple[int, bytes]],
    main_room: int,
    file_free: bool,
    sname_free: bool,
) -> tuple[bytes, bytes | None, bytes | None] | None:
    """
    Lay out C{ordered} over the options field and the free C{file} and
    C{sname} fields. Returns the options-field bytes (with END) and the
    new C{file}/C{sname} (C{None} when unused), or C{None} if it cannot fit.
    """
    head = [o for o in ordered if o[0] == _MESSAGE_TYPE]
    tail = [o for o in ordered if o[0] == _RELAY_AGENT]
    middle = [o for o in ordered if o[0] not in (_MESSAGE_TYPE, _RELAY_AGENT)]
    head_bytes = b"".join(b"".join(_tlvs(c, p)) for c, p in head)
    tail_bytes = b"".join(b"".join(_tlvs(c, p)) for c, p in tail)
    # options field: head, option 52 (3 bytes), middle..., tail, END
    rooms = [main_room - len(head_bytes) - 3 - len(tail_bytes) - 1]
    if rooms[0] < 0:
        return None
    order = ["options"]
    if file_free:
        rooms.append(_FILE_LEN - 1)
        order.append("file")
    if sname_free:
        rooms.append(_SNAME_LEN - 1)
        order.append("sname")
    fields = _place(middle, rooms)
    if fields is None:
        return None
    used = dict(zip(order, fields, strict=True))
    value = (1 if used.get("file") else 0) | (2 if used.get("sname") else 0)
    if not value:  # everything fitted in the options field after all
        return b"".join([head_bytes, *used["options"], tail_bytes, _END]), None, None
    file = sname = None
    if used.get("file"):
        file = (b"".join(used["file"]) + _END).ljust(_FILE_LEN, b"\x00")
    if used.get("sname"):
        sname = (b"".join(used["sname"]) + _END).ljust(_SNAME_LEN, b"\x00")
    main = b"".join(
        [head_bytes, bytes((_OVERLOAD, 1, value)), *used["options"],
         tail_bytes, _END]
    )
    return main, file, sname


def _fit(
    ordered: list[tuple[int, bytes]],
    main_room: int,
    file_free: bool,
    sname_free: bool,
) -> tuple[bytes, bytes | None, bytes | None]:
    """
    Overload, then drop non-essential options from the end of C{ordered}
    until the rest fits. If even the essential ones do not fit, they are
    sent unoverloaded, larger than the limit (as Kea 2.2, which ignores
    option 57, would).
    """
    ordered = list(ordered)
    while True:
        if file_free or sname_free:
            layout = _overload(ordered, main_room, file_free, sname_free)
            if layout is not None:
                return layout
        for index in range(len(ordered) - 1, -1, -1):
            if ordered[index][0] not in ESSENTIAL_OPTIONS:
                del ordered[index]
                break
        else:
            break
        main = b"".join(b"".join(_tlvs(c, p)) for c, p in ordered) + _END
        if len(main) <= main_room:
            return main, None, None
    return b"".join(b"".join(_tlvs(c, p)) for c, p in ordered) + _END, None, None


def _is_empty(field: bytes) -> bool:
    """True when a C{sname}/C{file} value holds only zero bytes."""
    return not field.rstrip(b"\x00")


def encode(packet: DHCPPacket, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """
    Encode C{packet} as a UDP payload.

     - Fixed header as in C{packet}; C{chaddr}, C{sname} and C{file} shorter
       than 16, 64 and 128 bytes are zero-padded; C{hlen} is written as given.
     - Magic cookie, then the options in C{packet.options} order, except
       that 53 goes first and 82 last (RFC 3046 2.1 wants the relay
       agent option last; Kea 2.2 also puts 53 first and 82 last, and
       the others in ascending code order). A C{packet.options} entry
       for 52 is ignored: the codec owns option overload.
     - Payloads over 255 bytes become several instances (RFC 3396).
     - END, and no padding after it: Kea 2.2 sends its replies unpadded
       (a NAK is 250 bytes), and so do we.
     - C{max_size} is the client's maximum message size (option 57) and,
       like that option, counts the IPv4 and UDP headers; values below
       576 count as 576. When the options do not fit in C{max_size - 28}
       bytes, the free (all-zero) C{file} then C{sname} fields take the
       overflow and option 52 says so (RFC 2131 section 4.1, RFC 2132
       9.3). If that is still too little, options outside
       L{ESSENTIAL_OPTIONS} are dropped, last one first: callers list
       options by importance (see
       L{kea_ha_tw.dhcp.options.select_reply_options}). Should the
       essential options alone not fit, they are sent anyway, oversize
       (Kea 2.2 ignores option 57 altogether).

    @raise ValueError: a header field out of range, C{chaddr}/C{sname}/
        C{file} too long, or an option code outside 1..254.
    @raise TypeError: an option payload that is not bytes-like.
    """
    chaddr, sname, file = packet.chaddr, packet.sname, packet.file
    if len(chaddr) > 16 or len(sname) > _SNAME_LEN or len(file) > _FILE_LEN:
        raise ValueError(
            f"chaddr/sname/file are {len(chaddr)}/{len(sname)}/{len(file)} "
            f"bytes, at most 16/{_SNAME_LEN}/{_FILE_LEN} fit"
        )
    main_room = max(max_size, DEFAULT_MAX_SIZE) - IP_UDP_OVERHEAD - MIN_PACKET_LEN
    # pieces[0] becomes the header once sname/file are settled
    pieces: list[bytes] = [b"", MAGIC_COOKIE]
    relay: list[bytes] = []
    used = 1  # END
    for code, payload in packet.options.items():
        size = len(payload)
        if not 0 < code < 255 or code == _OVERLOAD:
            if code == _OVERLOAD:
                continue
            raise ValueError(f"option code {code!r} is not in 1..254")
        if size <= 255 and code != _MESSAGE_TYPE and code != _RELAY_AGENT:
            pieces.append(_pack_tlv_header(code, size))
            pieces.append(payload)
            used += size + 2
            continue
        tlvs = _tlvs(code, payload)
        used += size + 2 * len(tlvs)
        if code == _MESSAGE_TYPE:
            pieces[2:2] = tlvs
        elif code == _RELAY_AGENT:
            relay = tlvs
        else:
            pieces.extend(tlvs)
    if used > main_room:
        main, new_file, new_sname = _fit(
            _ordered(packet.options), main_room, _is_empty(file), _is_empty(sname)
        )
        pieces[2:] = [main]
        if new_file is not None:
            file = new_file
        if new_sname is not None:
            sname = new_sname
    else:
        pieces.extend(relay)
        pieces.append(_END)
    try:
        header = _pack_header(
            packet.op, packet.htype, packet.hlen, packet.hops, packet.xid,
            packet.secs, packet.flags, int(packet.ciaddr), int(packet.yiaddr),
            int(packet.siaddr), int(packet.giaddr), chaddr, sname, file,
        )
    except struct.error as e:
        raise ValueError(f"header field out of range: {e}") from None
    pieces[0] = header
    return b"".join(pieces)
