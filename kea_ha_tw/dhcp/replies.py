# -*- test-case-name: tests.test_server -*-
"""
What a reply says, as Kea 2.2 builds it: copied fields, echoed options
(client-id, relay agent information, subnet selection), lease options
(51, 1, 58, 59), configured options by precedence (reservation > pool >
subnet > global) filtered by the parameter request list, the options Kea
always sends when configured (3, 6, 15, 54), fixed fields (siaddr, sname,
file) and the server identifier.

Options are laid out in Kea's wire order: 53 first, then ascending codes,
82 last. Configured option blocks are cached per (subnet, pool,
reservation, request list).
"""

from __future__ import annotations

import re
import socket
import struct

from kea_ha_tw.config.model import ReservationConfig, ServerConfig
from kea_ha_tw.dhcp.allocation import Allocation, AllocationEngine, Client
from kea_ha_tw.dhcp.plans import SubnetPlan, reply_options
from kea_ha_tw.dhcp.packet import BOOTREPLY, FLAG_BROADCAST, ZERO, DHCPPacket, MessageType
from kea_ha_tw.fastinit import fast_constructor

_U32 = struct.Struct("!I")
#: Kea's appendBasicOptions: sent whenever configured, requested or not.
BASIC_OPTIONS = (3, 6, 15, 54)
_ZERO_CHADDR = b"\x00" * 16
_ZERO_SNAME = b"\x00" * 64
_ZERO_FILE = b"\x00" * 128
_HOSTNAME_SCRUB = re.compile(r"[^A-Za-z0-9.-]")
_CACHE_LIMIT = 4096
_new_packet = fast_constructor(DHCPPacket)


def _label_count(name: str) -> int | None:
    """DNS label count including the root, or C{None} if the name is malformed."""
    if name == ".":
        return 1
    body = name[:-1] if name.endswith(".") else name
    labels = body.split(".")
    if len(name) > 254 or any(not lab or len(lab) > 63 for lab in labels):
        return None
    return len(labels) + 1


def process_hostname(query: DHCPPacket, reservation: ReservationConfig | None) -> str:
    """
    Kea 2.2's C{processHostnameOption} with DDNS at its defaults: the
    reservation's hostname, else the client's option 12 trimmed, checked,
    scrubbed to C{[A-Za-z0-9.-]} and lowercased ("" when unusable). A bare
    "." is returned as is: the server then generates a name from the
    leased address, as Kea does.
    """
    if reservation is not None and reservation.hostname:
        return reservation.hostname.lower()
    raw = query.options.get(12)
    if not raw:
        return ""
    name = raw.decode("latin-1").strip()
    if not name:
        return ""
    count = _label_count(name)
    if not count:
        return ""
    if count < 2:
        return "."
    name = _HOSTNAME_SCRUB.sub("", name).lower()
    if count == 2 and name.endswith("."):
        name = name[:-1]
    return name


def _reply_chaddr(query: DHCPPacket) -> bytes:
    """
    The reply's chaddr: the query's first C{hlen} bytes, zero-padded; all
    zeros when C{hlen} exceeds the 16-byte field (Kea 2.2 then writes none).
    """
    hlen = query.hlen
    if hlen > 16:
        return _ZERO_CHADDR
    return query.chaddr[:hlen] + _ZERO_CHADDR[hlen:]


def _order(options: dict[int, bytes]) -> dict[int, bytes]:
    """Kea's packing order: 53 first, ascending codes, 82 last."""
    out = {53: options[53]}
    out.update(sorted(options.items()))
    rai = out.pop(82, None)
    if rai is not None:
        out[82] = rai
    return out


class ReplyBuilder:
    """Builds OFFER, ACK, NAK and INFORM replies for one configuration."""

    def __init__(self, config: ServerConfig, engine: AllocationEngine) -> None:
        self.config = config
        self.engine = engine
        self.echo_client_id = config.echo_client_id
        self._global = config.option_data
        self._cache: dict[tuple, tuple[tuple[int, bytes], ...]] = {}
        self._class_cache: dict[tuple, frozenset] = {}
        self._templates: dict[tuple, tuple[dict[int, bytes], int]] = {}
        ids = set()
        for od in config.option_data:
            if od.code == 54 and len(od.data) == 4:
                ids.add(od.data)
        for s in config.subnets:
            for od in s.option_data:
                if od.code == 54 and len(od.data) == 4:
                    ids.add(od.data)
        self.configured_server_ids = frozenset(ids)

    # -- classes ---------------------------------------------------------------

    def full_classes(self, query, classes, known: bool):
        """Hook classes plus Kea's built-in ones: ALL, VENDOR_CLASS_*, KNOWN/UNKNOWN."""
        vendor = query.options.get(60)
        key = (classes, vendor, known)
        try:
            return self._class_cache[key]
        except KeyError:
            pass
        extra = ["ALL", "KNOWN" if known else "UNKNOWN"]
        if vendor:
            extra.append("VENDOR_CLASS_" + vendor.decode("latin-1"))
        result = frozenset(classes).union(extra)
        if len(self._class_cache) >= _CACHE_LIMIT:
            self._class_cache.clear()
        self._class_cache[key] = result
        return result

    # -- configured options ------------------------------------------------------

    def _configured(self, subnet: SubnetPlan | None, pool, reservation, prl: bytes):
        key = (subnet.id if subnet is not None else None,
               pool.index if pool is not None else -1, id(reservation), prl)
        block = self._cache.get(key)
        if block is not None:
            return block
        chain = []
        if subnet is not None:
            if reservation is not None:
                chain.append(reservation.option_data)
            if pool is not None:
                chain.append(pool.option_data)
            chain.append(subnet.option_data)
            chain.append(self._global)
        merged = reply_options(chain)
        wanted = list(prl)
        wanted.extend(code for code, od in merged.items() if od.always_send)
        wanted.extend(BASIC_OPTIONS)
        out = []
        seen = set()
        for code in wanted:
            if code in seen:
                continue
            seen.add(code)
            od = merged.get(code)
            if od is not None:
                out.append((code, od.data))
        block = tuple(out)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = block
        return block

    # -- replies -------------------------------------------------------------------

    def _base(self, mtype: int, query: DHCPPacket) -> dict[int, bytes]:
        opts = {53: bytes((mtype,))}
        qopts = query.options
        if self.echo_client_id:
            cid = qopts.get(61)
            if cid is not None:
                opts[61] = cid
        rai = qopts.get(82)
        if rai:
            opts[82] = rai
        sel = qopts.get(118)
        if sel is not None:
            opts[118] = sel
        return opts

    @staticmethod
    def _packet(query: DHCPPacket, options, *, yiaddr=ZERO, ciaddr=ZERO, siaddr=ZERO,
                sname=_ZERO_SNAME, file=_ZERO_FILE, flags=None, hops=None, giaddr=None):
        hlen = query.hlen if query.hlen <= 16 else 16
        chaddr = _reply_chaddr(query)
        return _new_packet(
            BOOTREPLY, query.htype, hlen, query.hops if hops is None else hops, query.xid, 0,
            query.flags if flags is None else flags, ciaddr, yiaddr, siaddr,
            query.giaddr if giaddr is None else giaddr, chaddr, sname, file, _order(options))

    def lease_reply(self, mtype: int, query: DHCPPacket, iface, subnet: SubnetPlan,
                    alloc: Allocation, client: Client) -> DHCPPacket:
        """An OFFER or ACK carrying C{alloc.lease}."""
        lease = alloc.lease
        qopts = query.options
        prl = qopts.get(55, b"")
        key = (mtype, subnet.id, alloc.pool, id(alloc.reservation), prl, lease.valid_lft,
               iface.name)
        template = self._templates.get(key)
        if template is None:
            template = self._lease_template(key, iface, subnet, alloc, prl)
        opts, top = template
        # Options added from the query (Kea adds them before the configured
        # ones, so they win): hostname, client-id echo, subnet selection, RAI.
        extra = None
        if client.hostname:
            extra = {12: client.hostname.encode("ascii", "replace")}
        if self.echo_client_id:
            cid = qopts.get(61)
            if cid is not None:
                if extra is None:
                    extra = {}
                extra[61] = cid
        sel = qopts.get(118)
        if sel is not None:
            if extra is None:
                extra = {}
            extra[118] = sel
        rai = qopts.get(82)
        if extra is None:
            opts = opts.copy()
        elif min(extra) > top:
            opts = opts.copy()
            opts.update(sorted(extra.items()))
        else:
            merged = opts.copy()
            merged.update(extra)
            opts = _order(merged)
        if rai:
            opts[82] = rai
        hlen = query.hlen if query.hlen <= 16 else 16
        return _new_packet(
            BOOTREPLY, query.htype, hlen, query.hops, query.xid, 0, query.flags,
            query.ciaddr if mtype == MessageType.ACK else ZERO, lease.address,
            subnet.next_server, query.giaddr, _reply_chaddr(query),
            subnet.server_hostname, subnet.boot_file_name, opts)

    def _lease_template(self, key, iface, subnet: SubnetPlan, alloc: Allocation, prl: bytes):
        """
        The options of an OFFER/ACK that do not depend on the query beyond
        its request list: (ordered options, highest code but 82).
        """
        mtype, valid = key[0], key[5]
        opts = {53: bytes((mtype,)), 51: _U32.pack(valid), 1: subnet.netmask_bytes}
        t1, t2 = subnet.tee_times(valid)
        if t2 is not None:
            opts[59] = _U32.pack(t2)
        if t1 is not None:
            opts[58] = _U32.pack(t1)
        for code, data in self._configured(subnet, alloc.pool, alloc.reservation, prl):
            if code not in opts:
                opts[code] = data
        if 54 not in opts:
            opts[54] = iface.address.packed
        opts = _order(opts)
        template = (opts, max(c for c in opts if c != 82))
        if len(self._templates) >= _CACHE_LIMIT:
            self._templates.clear()
        self._templates[key] = template
        return template

    def _add_configured(self, opts, subnet, pool, reservation, query) -> None:
        for code, data in self._configured(subnet, pool, reservation,
                                           query.options.get(55, b"")):
            if code not in opts:
                opts[code] = data

    def nak(self, query: DHCPPacket, iface, subnet: SubnetPlan | None) -> DHCPPacket:
        """Kea's DHCPNAK: message type, echoed options, server identifier; no address."""
        opts = self._base(MessageType.NAK, query)
        opts[54] = iface.address.packed
        return self._packet(query, opts)

    def inform(self, query: DHCPPacket, iface, subnet: SubnetPlan | None,
               source: tuple[str, int] | None = None) -> DHCPPacket:
        """
        DHCPACK to an INFORM: options only, ciaddr kept, no lease options.
        When the reply does not go back to the relay (it goes to ciaddr or
        the source address), Kea clears hops, giaddr and option 82.
        """
        opts = self._base(MessageType.ACK, query)
        siaddr, sname, bfile = ZERO, _ZERO_SNAME, _ZERO_FILE
        if subnet is not None:
            reservation = subnet.reservation_for(query.hwaddr, query.options.get(61) or None)
            self._add_configured(opts, subnet, None, reservation, query)
            siaddr = subnet.next_server
            sname = subnet.server_hostname
            bfile = subnet.boot_file_name
        if 54 not in opts:
            opts[54] = iface.address.packed
        relayed = query.giaddr != ZERO
        if query.ciaddr != ZERO:
            destination = query.ciaddr.packed
        elif relayed:
            destination = query.giaddr.packed
        else:
            destination = socket.inet_aton(source[0]) if source else b"\x00" * 4
        flags = hops = giaddr = None
        if destination != query.giaddr.packed:
            hops, giaddr = 0, ZERO
            opts.pop(82, None)
        elif query.ciaddr == ZERO:
            # Relayed without ciaddr: the relay may have to broadcast it.
            flags = query.flags | FLAG_BROADCAST
        return self._packet(query, opts, ciaddr=query.ciaddr, siaddr=siaddr, sname=sname,
                            file=bfile, flags=flags, hops=hops, giaddr=giaddr)
