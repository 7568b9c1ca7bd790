"""
A scapy-based DHCPv4 client/relay driver for differential tests: the same
crafted datagrams go to real C{kea-dhcp4} and to C{twistd kea-ha}, each
running the same Kea JSON in its own pair of network namespaces, and the
replies are normalised so the two transcripts can be compared.

The driver does not spawn a process per packet: L{inside} switches the
calling thread into a namespace (C{setns(2)} through ctypes) just long
enough to open a socket there; the socket stays in that namespace for
its whole life. So the test process itself plays the client:

 - L{RawLink}: an C{AF_PACKET} socket on the client end of a veth link;
   it sends whole Ethernet frames built with scapy (broadcast DISCOVERs
   from 0.0.0.0, unicast RENEWs, relayed packets with a giaddr) and
   sees every frame the server sends on the link, whatever its
   destination MAC, so the reply's Ethernet/IP/UDP destination is
   observable too.
 - L{UDPLink}: a UDP socket on a namespace's loopback (127.0.0.2:67)
   playing a relay towards a server on 127.0.0.1:67; loopback carries
   datagrams far above 1500 bytes.

L{Side} is one server with its links; L{Pair} drives a Kea side and an
ours side in lockstep (each datagram goes to both before any reply is
awaited) and keeps one transcript per side. Namespaces are called
C{khr-<run><tag>-<role>}; everything lives in 10.77.0.0/16 or 127/8.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import select
import socket
import struct
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from tests.integration.base import read_leases
from tests.integration.netns import RUN_TAG, Lab, Namespace, run

PREFIX = "khr-"
MAGIC = b"\x63\x82\x53\x63"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
SERVER_MAC = "02:77:00:01:01:01"
CLIENT_LINK_MAC = "02:77:00:01:01:02"
SERVER_ADDR = "10.77.1.1"
CLIENT_LINK_ADDR = "10.77.1.2"
_CLONE_NEWNET = 0x40000000
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_libc = ctypes.CDLL(None, use_errno=True)

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
TYPE_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
              7: "RELEASE", 8: "INFORM"}


# ---------------------------------------------------------------------------
# Namespaces


class RLab(Lab):
    """A L{Lab} whose namespaces carry this module's C{khr-} prefix."""

    def namespace(self, role: str, loopback: bool = True) -> Namespace:
        """Create C{khr-<run><tag>-<role>}, with C{lo} up unless told otherwise."""
        ns = Namespace(f"{PREFIX}{RUN_TAG}{self.tag}-{role}")
        run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        if loopback:
            ns.ip("link", "set", "lo", "up")
        return ns


@contextmanager
def inside(ns: Namespace):
    """
    Run the body with the calling thread in C{ns}'s network namespace,
    then switch back. Sockets opened in the body stay in C{ns}.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
        try:
            if _libc.setns(target, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({ns.name}): {os.strerror(err)}")
            try:
                yield
            finally:
                if _libc.setns(own, _CLONE_NEWNET) != 0:  # pragma: no cover - fatal
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns back: {os.strerror(err)}")
        finally:
            os.close(target)
    finally:
        os.close(own)


def direct_pair_link(lab: Lab, role: str) -> tuple[Namespace, Namespace]:
    """
    Server namespace C{<role>s} (C{s0} 10.77.1.1/24, MAC L{SERVER_MAC},
    C{lo} also 127.0.0.2) and client namespace C{<role>c} (C{c0}
    10.77.1.2/24, MAC L{CLIENT_LINK_MAC}, promiscuous). The server routes
    the rest of 10.77.0.0/16 (the relays' giaddrs) through 10.77.1.2.
    Both pairs of a L{Pair} get identical addresses and MACs, so every
    field of a reply can be compared.
    """
    srv = lab.namespace(role + "s")
    cli = lab.namespace(role + "c")
    lab.veth(srv, "s0", cli, "c0", b_mac=CLIENT_LINK_MAC)
    srv.ip("link", "set", "s0", "down")
    srv.ip("link", "set", "s0", "address", SERVER_MAC)
    srv.ip("link", "set", "s0", "up")
    srv.ip("addr", "add", f"{SERVER_ADDR}/24", "dev", "s0")
    srv.ip("addr", "add", "127.0.0.2/8", "dev", "lo")
    srv.ip("route", "add", "10.77.0.0/16", "via", CLIENT_LINK_ADDR)
    cli.ip("addr", "add", f"{CLIENT_LINK_ADDR}/24", "dev", "c0")
    cli.ip("link", "set", "c0", "promisc", "on")
    return srv, cli


# ---------------------------------------------------------------------------
# Building queries


def mac_bytes(mac: str) -> bytes:
    """C{"02:00:.."} -> 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


def mac_text(raw: bytes) -> str:
    """6 bytes -> C{"02:00:.."}."""
    return ":".join(f"{b:02x}" for b in raw[:6])


def ip4(text: str) -> bytes:
    """Dotted quad -> 4 bytes."""
    return IPv4Address(text).packed


def tlv(options) -> bytes:
    """
    C{[(code, payload bytes), ...]} as DHCP options in the given order
    (duplicates kept; a payload longer than 255 is an error). C{0} and
    C{255} entries with C{None} payload are single PAD/END bytes.
    """
    out = bytearray()
    for code, data in options:
        if data is None:
            out.append(code)
            continue
        if len(data) > 255:
            raise ValueError(f"option {code} payload of {len(data)} bytes")
        out += bytes((code, len(data))) + data
    return bytes(out)


def bootp(*, op=1, htype=1, hlen=6, hops=0, xid=0, secs=0, flags=0, ciaddr="0.0.0.0",
          yiaddr="0.0.0.0", siaddr="0.0.0.0", giaddr="0.0.0.0", chaddr=b"",
          sname=b"", file=b"") -> bytes:
    """The 236-byte fixed BOOTP header."""
    return struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s", op, htype, hlen, hops, xid, secs, flags,
        ip4(ciaddr), ip4(yiaddr), ip4(siaddr), ip4(giaddr), chaddr[:16].ljust(16, b"\0"),
        sname, file)


def dhcp_query(mtype: int | None, chaddr: bytes, *, xid: int, options=(), end=True,
               cookie=MAGIC, **header) -> bytes:
    """
    A BOOTREQUEST: header, cookie, option 53 (unless C{mtype} is None)
    then C{options} (list of (code, bytes)), END, padded to 300 bytes.
    """
    opts = ([(53, bytes((mtype,)))] if mtype is not None else []) + list(options)
    body = bootp(xid=xid, chaddr=chaddr, **header) + cookie + tlv(opts) + (b"\xff" if end else b"")
    return body.ljust(300, b"\0")


def client_frame(payload: bytes, *, src_mac: str, dst_mac: str = BROADCAST_MAC,
                 src_ip: str = "0.0.0.0", dst_ip: str = "255.255.255.255", sport: int = 68,
                 dport: int = 67) -> bytes:
    """An Ethernet/IPv4/UDP frame carrying C{payload} (scapy fills lengths and checksums)."""
    pkt = (Ether(src=src_mac, dst=dst_mac) / IP(src=src_ip, dst=dst_ip, ttl=64)
           / UDP(sport=sport, dport=dport) / Raw(payload))
    return bytes(pkt)


# ---------------------------------------------------------------------------
# Observing replies


def parse_options(area: bytes) -> list[tuple[int, str]] | None:
    """The options after the cookie, in wire order, as (code, hex); None if malformed."""
    out = []
    pos = 0
    while pos < len(area):
        code = area[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            break
        if pos + 2 > len(area) or pos + 2 + area[pos + 1] > len(area):
            return None
        out.append((code, area[pos + 2:pos + 2 + area[pos + 1]].hex()))
        pos += 2 + area[pos + 1]
    return out


def normalise(payload: bytes, where: dict) -> dict:
    """
    A reply as a comparable dict: message type, fixed fields, options in
    wire order with their values, size, and where it was sent.
    """
    if len(payload) < 240:
        return {"undecodable": payload.hex(), **where}
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname,
     bfile) = struct.unpack_from("!BBBBIHH4s4s4s4s16s64s128s", payload)
    options = parse_options(payload[240:]) if payload[236:240] == MAGIC else None
    mtype = None
    for code, value in options or ():
        if code == 53:
            mtype = int(value, 16)
    return {
        "type": TYPE_NAMES.get(mtype, mtype), "op": op, "htype": htype, "hlen": hlen,
        "hops": hops, "xid": xid, "secs": secs, "flags": flags,
        "ciaddr": str(IPv4Address(ciaddr)), "yiaddr": str(IPv4Address(yiaddr)),
        "siaddr": str(IPv4Address(siaddr)), "giaddr": str(IPv4Address(giaddr)),
        "chaddr": chaddr.hex(), "sname": sname.rstrip(b"\0").hex(),
        "file": bfile.rstrip(b"\0").hex(), "options": options, "size": len(payload), **where,
    }


def option(reply: dict | None, code: int) -> str | None:
    """The hex value of option C{code} in a normalised reply (None if absent)."""
    for c, v in (reply or {}).get("options") or ():
        if c == code:
            return v
    return None


# ---------------------------------------------------------------------------
# Links


class RawLink:
    """An C{AF_PACKET} socket on C{ifname} in C{ns}: frames out, server frames in."""

    def __init__(self, ns: Namespace, ifname: str) -> None:
        with inside(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(_ETH_P_ALL))
            self.sock.bind((ifname, 0))
        # Room for a burst of replies (SO_RCVBUFFORCE: we run as root).
        self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        self.sock.setblocking(False)
        self.ifname = ifname

    def send(self, frame: bytes) -> None:
        """Put one frame on the wire."""
        self.sock.send(frame)

    def drain(self) -> None:
        """Forget whatever was received so far."""
        while self.receive() is not None:
            pass

    def receive(self):
        """One DHCP reply seen on the link as (payload, where), or None when none is queued."""
        while True:
            try:
                frame, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return None
            if addr[2] == _PACKET_OUTGOING:
                continue
            pkt = Ether(frame)
            if IP not in pkt or UDP not in pkt or pkt[UDP].sport != 67:
                continue
            where = {"eth_dst": pkt.dst, "eth_src": pkt.src, "ip_src": pkt[IP].src,
                     "ip_dst": pkt[IP].dst, "dport": pkt[UDP].dport}
            return bytes(pkt[UDP].payload), where

    def fileno(self) -> int:
        """For select()."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class UDPLink:
    """A UDP socket bound to C{address}:C{port} in C{ns} (a relay on loopback)."""

    def __init__(self, ns: Namespace, address: str = "127.0.0.2", port: int = 67) -> None:
        with inside(ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.bind((address, port))
        self.sock.setblocking(False)
        self.address = address

    def send(self, payload: bytes, to=("127.0.0.1", 67)) -> None:
        """Send one datagram."""
        self.sock.sendto(payload, to)

    def drain(self) -> None:
        """Forget whatever was received so far."""
        while self.receive() is not None:
            pass

    def receive(self):
        """One datagram as (payload, where), or None when none is queued."""
        try:
            data, addr = self.sock.recvfrom(65535)
        except BlockingIOError:
            return None
        return data, {"ip_dst": self.address, "ip_src": addr[0], "sport": addr[1]}

    def fileno(self) -> int:
        """For select()."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


# ---------------------------------------------------------------------------
# Control channel


def control_command(path: str, command: str, arguments: dict | None = None,
                    timeout: float = 5) -> dict:
    """Send one command over a unix control socket; the decoded answer."""
    body = {"command": command}
    if arguments is not None:
        body["arguments"] = arguments
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(body).encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            try:
                return json.loads(b"".join(chunks))
            except ValueError:
                continue
    return json.loads(b"".join(chunks))


def statistics(path: str) -> dict[str, int]:
    """C{statistic-get-all}: name -> latest value."""
    answer = control_command(path, "statistic-get-all")
    if isinstance(answer, list):
        answer = answer[0]
    args = answer.get("arguments") or {}
    return {name: samples[0][0] for name, samples in args.items() if samples}


def short_socket_dir() -> str:
    """A fresh short directory for unix sockets (paths are limited to 107 bytes)."""
    return tempfile.mkdtemp(prefix="khr", dir="/tmp")


# ---------------------------------------------------------------------------
# Sides and pairs


@dataclass
class Side:
    """One server under test with its client-side links and its transcript."""

    label: str
    server: object
    links: dict
    socket_path: str | None = None
    client_ns: Namespace | None = None
    transcript: list = field(default_factory=list)

    def leases(self) -> dict[str, dict]:
        """
        The lease file as Kea would load it (last row per address, still
        valid), without the time-dependent C{expire} column.
        """
        last = {}
        for row in read_leases(self.server.lease_file):
            last[row["address"]] = row
        return {a: {k: v for k, v in r.items() if k != "expire"}
                for a, r in last.items() if int(r["valid_lifetime"]) > 0}

    def stats(self) -> dict[str, int]:
        """The server's statistics over its control socket."""
        return statistics(self.socket_path)


def default_source_mac(payload: bytes) -> str:
    """
    The frame source for a query: its chaddr when that is a usable unicast
    MAC (Kea answers the frame's source, ours the chaddr: the same for a
    real client), else a fixed one.
    """
    chaddr = payload[28:34] if len(payload) >= 34 else b""
    if len(chaddr) == 6 and any(chaddr) and not chaddr[0] & 1:
        return mac_text(chaddr)
    return "02:77:00:00:00:99"


def _frame_for(link, payload: bytes, frame: dict | None):
    if isinstance(link, RawLink):
        frame = dict(frame or {})
        frame.setdefault("src_mac", default_source_mac(payload))
        return client_frame(payload, **frame)
    return payload


class Pair:
    """
    A Kea side and an ours side driven in lockstep. L{step} sends the same
    query to both and records both answers (a list of normalised replies,
    usually zero or one) in each side's transcript.

    @ivar answer_wait: seconds to wait for an answer before calling it silence.
    @ivar late_answer_wait: once one server answered, how long the other
        one still has.
    """

    answer_wait = 0.6
    late_answer_wait = 2.0
    grace = 0.05

    def __init__(self, kea: Side, ours: Side) -> None:
        self.kea = kea
        self.ours = ours
        self.sides = (kea, ours)

    def step(self, label: str, payload: bytes, frame: dict | None = None, link: str = "raw",
             xid: int | None = None, wait: float | None = None) -> tuple[list, list]:
        """
        Send C{payload} (framed with C{frame} on a raw link) to both
        servers, gather the replies whose xid matches (or all, when the
        query had none) for up to C{wait} s, and record them.
        """
        if xid is None and len(payload) >= 8:
            xid = struct.unpack_from("!I", payload, 4)[0]
        links = [side.links[link] for side in self.sides]
        for lnk in links:
            lnk.drain()
        data = _frame_for(links[0], payload, frame)
        for lnk in links:
            lnk.send(data)
        got = self._gather(links, xid, self.answer_wait if wait is None else wait)
        for side, replies in zip(self.sides, got, strict=True):
            side.transcript.append((label, replies))
        return got[0], got[1]

    def burst(self, label: str, payloads, frame: dict | None = None, link: str = "raw",
              wait: float | None = None) -> tuple[list, list]:
        """
        Send several datagrams back to back (paced: a short pause every
        50, so no socket buffer overflows); gather every reply (any xid).
        """
        links = [side.links[link] for side in self.sides]
        for lnk in links:
            lnk.drain()
        for n, payload in enumerate(payloads, 1):
            data = _frame_for(links[0], payload, frame)
            for lnk in links:
                lnk.send(data)
            if n % 50 == 0:
                time.sleep(0.02)
        got = self._gather(links, None, self.answer_wait if wait is None else wait,
                           until_first=False)
        for side, replies in zip(self.sides, got, strict=True):
            side.transcript.append((label, replies))
        return got[0], got[1]

    def _gather(self, links, xid, wait, until_first=True):
        got = [[] for _ in links]
        deadline = time.monotonic() + wait
        settle = None
        extended = False
        while True:
            now = time.monotonic()
            end = deadline if settle is None else min(deadline, settle)
            if now >= end:
                break
            ready, _, _ = select.select(links, [], [], end - now)
            for lnk in ready:
                i = links.index(lnk)
                while True:
                    item = lnk.receive()
                    if item is None:
                        break
                    payload, where = item
                    reply = normalise(payload, where)
                    if xid is not None and reply.get("xid") != xid:
                        continue
                    got[i].append(reply)
            if until_first and all(got) and settle is None:
                settle = time.monotonic() + self.grace
            elif until_first and any(got) and not extended:
                # One answered: give the other (a busy machine) more time
                # before calling it silent.
                extended = True
                deadline = max(deadline, time.monotonic() + self.late_answer_wait)
        return got

    def leases(self) -> tuple[dict, dict]:
        """Both lease files (see L{Side.leases})."""
        return self.kea.leases(), self.ours.leases()


class Identity:
    """A scripted client: chaddr, optional client-id, and xids from a seeded counter."""

    def __init__(self, mac: str, client_id: bytes | None = None, seed: int = 0) -> None:
        self.mac = mac
        self.chaddr = mac_bytes(mac)
        self.client_id = client_id
        self._rng = random.Random(f"{mac}/{seed}")

    def xid(self) -> int:
        """A fresh transaction id (deterministic per identity)."""
        return self._rng.getrandbits(32)

    def query(self, mtype: int | None, options=(), *, with_client_id: bool = True,
              **header) -> bytes:
        """A query from this client (its client-id, option 61, first when set)."""
        opts = list(options)
        if self.client_id is not None and with_client_id:
            opts.insert(0, (61, self.client_id))
        header.setdefault("xid", self.xid())
        return dhcp_query(mtype, self.chaddr, options=opts, **header)


def write_json(path: Path, data) -> None:
    """Dump C{data} as indented JSON (for transcripts kept by trial)."""
    Path(path).write_text(json.dumps(data, indent=1, default=str))
