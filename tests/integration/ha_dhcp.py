"""
A small DHCPv4 client population for the HA tests, written from RFC 2131
(independent of the server's own codec), acting as a relay agent: every
query is broadcast on the bridge to 255.255.255.255:67 with C{giaddr} =
the bridge address, so every HA peer sees it, and each server answers
unicast to C{giaddr}:67.  The answering server is told by option 54.

Also the Kea load-balancing hash (reference section 6.2) to name the
server that must answer each client.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from tests.integration.ha_lab import BRIDGE, CLIENT_ADDR, socket_in_netns

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE = 1, 2, 3, 4, 5, 6, 7
_COOKIE = b"\x63\x82\x53\x63"

# RFC 3074 section 6 mixing table (as given in the reference, section 6.2).
# fmt: off
_MIXING = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60,
    152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196,
    134, 243, 124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161,
    209, 23, 97, 16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67,
    207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35,
    128, 13, 182, 94, 25, 226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150,
    212, 142, 218, 115, 241, 73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221,
    148, 154, 122, 12, 84, 82, 163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86,
    239, 195, 42, 106, 198, 118, 112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185,
    99, 164, 102, 147, 45, 66, 231, 52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240,
    189, 93, 92, 51, 53, 183, 19, 171, 72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85,
    54, 202, 125, 188, 213, 96, 235, 136, 208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24,
    4, 216, 131, 89, 21, 28, 133, 37, 153, 149, 80, 170, 68, 6, 169, 234, 151,
]
# fmt: on


def lb_hash(key: bytes) -> int:
    """Kea 2.2's load-balancing hash of a client key."""
    h = len(key) & 0xFF
    for b in reversed(key):
        h = _MIXING[h ^ b]
    return h


@dataclass(frozen=True)
class ClientSpec:
    """One simulated client: its chaddr and optional client identifier (option 61)."""

    chaddr: bytes
    client_id: bytes | None = None

    @property
    def mac(self) -> str:
        """The chaddr as Kea prints it."""
        return ":".join(f"{b:02x}" for b in self.chaddr)

    @property
    def hash_key(self) -> bytes:
        """What Kea hashes: the option 61 payload if any, else the chaddr."""
        return self.client_id if self.client_id else self.chaddr

    def lb_owner(self) -> str:
        """C{"primary"} or C{"secondary"}: who serves it in load-balancing."""
        return "primary" if lb_hash(self.hash_key) % 2 == 0 else "secondary"


def make_clients(count: int, seed: int, with_client_id_every: int = 2) -> list[ClientSpec]:
    """
    C{count} clients with locally administered MACs from C{seed}; every
    C{with_client_id_every}-th one also sends option 61 (type 1 + MAC).
    """
    rng = random.Random(seed)
    out = []
    for i in range(count):
        mac = bytes([0x02, rng.randrange(256)] + [rng.randrange(256) for _ in range(4)])
        cid = b"\x01" + mac if with_client_id_every and i % with_client_id_every == 0 else None
        out.append(ClientSpec(mac, cid))
    return out


def balanced_clients(count_each: int, seed: int) -> list[ClientSpec]:
    """Clients of which exactly C{count_each} hash to each LB server."""
    got = {"primary": [], "secondary": []}
    n = 0
    while min(len(v) for v in got.values()) < count_each:
        for c in make_clients(8, seed * 1000 + n):
            if len(got[c.lb_owner()]) < count_each:
                got[c.lb_owner()].append(c)
        n += 1
    return [c for pair in zip(got["primary"], got["secondary"], strict=True) for c in pair]


@dataclass
class Reply:
    """One server reply."""

    kind: int
    server_id: str | None
    yiaddr: str
    at: float


@dataclass
class Exchange:
    """What one client sent and got."""

    client: ClientSpec
    xid: int
    offers: list[Reply] = field(default_factory=list)
    acks: list[Reply] = field(default_factory=list)
    naks: list[Reply] = field(default_factory=list)
    requested: str | None = None
    requested_from: str | None = None


def build_query(
    kind: int,
    xid: int,
    client: ClientSpec,
    giaddr: str,
    requested: str | None = None,
    server_id: str | None = None,
    ciaddr: str = "0.0.0.0",
) -> bytes:
    """A relayed BOOTREQUEST (hops 1, giaddr set) of DHCP message type C{kind}."""
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1,
        1,
        6,
        1,
        xid,
        0,
        0,
        socket.inet_aton(ciaddr),
        b"\0" * 4,
        b"\0" * 4,
        socket.inet_aton(giaddr),
        client.chaddr.ljust(16, b"\0"),
        b"",
        b"",
    )
    opts = bytearray(_COOKIE)
    opts += bytes([53, 1, kind])
    if client.client_id:
        opts += bytes([61, len(client.client_id)]) + client.client_id
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server_id:
        opts += bytes([54, 4]) + socket.inet_aton(server_id)
    opts += bytes([55, 3, 1, 3, 51, 255])
    return header + bytes(opts)


def parse_reply(data: bytes) -> tuple[int, int, str, dict[int, bytes]] | None:
    """(xid, message type, yiaddr, options) of a BOOTREPLY, or None."""
    if len(data) < 240 or data[0] != 2 or data[236:240] != _COOKIE:
        return None
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = socket.inet_ntoa(data[16:20])
    opts: dict[int, bytes] = {}
    i = 240
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        length = data[i + 1]
        opts[code] = data[i + 2 : i + 2 + length]
        i += 2 + length
    if 53 not in opts or len(opts[53]) != 1:
        return None
    return xid, opts[53][0], yiaddr, opts


class RelayClient:
    """
    Broadcasts relayed queries from the client namespace's bridge and
    collects the servers' answers (bounded waits only).
    """

    def __init__(self, ns_name: str, giaddr: str = CLIENT_ADDR, ifname: str = BRIDGE) -> None:
        self.giaddr = giaddr
        self.sock = socket_in_netns(ns_name, socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        self.sock.bind((giaddr, 67))
        self.sock.setblocking(False)
        self._xid = random.randrange(1, 2**31)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def _send(self, payload: bytes) -> None:
        self.sock.sendto(payload, ("255.255.255.255", 67))

    def _collect(self, by_xid: dict[int, Exchange], done, timeout: float, settle: float) -> None:
        """Read replies until C{done()} has held for C{settle} s or C{timeout} passed."""
        deadline = time.monotonic() + timeout
        settled_at = None
        while True:
            t = time.monotonic()
            if done():
                settled_at = settled_at or t
                if t - settled_at >= settle:
                    return
            if t >= deadline:
                return
            wait = min(deadline - t, 0.05)
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                continue
            while True:
                try:
                    data = self.sock.recv(4096)
                except BlockingIOError:
                    break
                parsed = parse_reply(data)
                if parsed is None:
                    continue
                xid, kind, yiaddr, opts = parsed
                ex = by_xid.get(xid)
                if ex is None:
                    continue
                sid = socket.inet_ntoa(opts[54]) if len(opts.get(54, b"")) == 4 else None
                reply = Reply(kind, sid, yiaddr, time.monotonic())
                if kind == OFFER:
                    ex.offers.append(reply)
                elif kind == ACK:
                    ex.acks.append(reply)
                elif kind == NAK:
                    ex.naks.append(reply)

    def dora(
        self,
        clients: list[ClientSpec],
        timeout: float = 4.0,
        settle: float = 0.3,
        expect_ack: bool = True,
    ) -> list[Exchange]:
        """
        DISCOVER for every client, then REQUEST the first OFFER each got
        (to the server that offered it).  Waits at most C{timeout} s per
        phase, and C{settle} s after everyone answered (to see a second,
        wrong server answering too).  With C{expect_ack} false the REQUEST
        phase simply waits C{timeout} (nobody is expected to answer).
        """
        exchanges = []
        by_xid: dict[int, Exchange] = {}
        for c in clients:
            self._xid = (self._xid + 1) % 2**32
            ex = Exchange(c, self._xid)
            exchanges.append(ex)
            by_xid[ex.xid] = ex
            self._send(build_query(DISCOVER, ex.xid, c, self.giaddr))
        self._collect(by_xid, lambda: all(e.offers for e in exchanges), timeout, settle)
        asked = []
        for ex in exchanges:
            if not ex.offers:
                continue
            first = ex.offers[0]
            ex.requested, ex.requested_from = first.yiaddr, first.server_id
            self._send(
                build_query(
                    REQUEST,
                    ex.xid,
                    ex.client,
                    self.giaddr,
                    requested=first.yiaddr,
                    server_id=first.server_id,
                )
            )
            asked.append(ex)
        if asked:
            if expect_ack:
                self._collect(by_xid, lambda: all(e.acks or e.naks for e in asked), timeout, settle)
            else:
                self._collect(by_xid, lambda: False, timeout, 0)
        return exchanges


def release(client: RelayClient, ex: Exchange) -> None:
    """DHCPRELEASE of the address C{ex} was ACKed (ciaddr + server id); no answer comes."""
    ack = ex.acks[0]
    client._send(
        build_query(
            RELEASE,
            ex.xid + 7,
            ex.client,
            client.giaddr,
            server_id=ack.server_id,
            ciaddr=ack.yiaddr,
        )
    )


def decline(client: RelayClient, ex: Exchange) -> None:
    """DHCPDECLINE of the address C{ex} was ACKed (option 50 + server id); no answer comes."""
    ack = ex.acks[0]
    client._send(
        build_query(
            DECLINE,
            ex.xid + 9,
            ex.client,
            client.giaddr,
            requested=ack.yiaddr,
            server_id=ack.server_id,
        )
    )


def describe(exchanges: list[Exchange]) -> str:
    """One line per client, for failure messages."""
    lines = []
    for ex in exchanges:
        offers = ",".join(f"{r.server_id}:{r.yiaddr}" for r in ex.offers) or "-"
        acks = ",".join(f"{r.server_id}:{r.yiaddr}" for r in ex.acks) or "-"
        naks = ",".join(f"{r.server_id}" for r in ex.naks)
        cid = ex.client.client_id.hex() if ex.client.client_id else "-"
        lines.append(
            f"  {ex.client.mac} cid={cid}"
            f" owner={ex.client.lb_owner()} offers={offers} acks={acks}"
            + (f" naks={naks}" if naks else "")
        )
    return "\n".join(lines)
