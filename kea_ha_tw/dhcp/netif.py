# -*- test-case-name: tests.test_netif -*-
"""
Network interfaces and DHCP sockets.

 - L{resolve_interfaces} turns Kea's C{interfaces-config.interfaces}
   (C{"eth0"}, C{"eth0/192.0.2.1"}, C{"*"}) into L{InterfaceInfo} values,
   reading addresses with a netlink C{RTM_GETADDR} dump and the MAC with
   C{SIOCGIFHWADDR} (standard library only).
 - L{open_dhcp_socket} opens one UDP socket per interface on port 67 with
   C{SO_BINDTODEVICE}, so broadcast DISCOVERs arrive and the receiving
   interface is known; L{open_raw_socket} opens the C{AF_PACKET} socket
   that sends replies to clients that have no address yet (Kea's raw
   socket mode); L{build_frame} builds that Ethernet/IPv4/UDP frame.
 - L{DHCPListenerService} does all this in C{privilegedStartService} and
   adopts each socket into the reactor.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
import sys
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from collections.abc import Callable, Iterable

from twisted.application.service import Service
from twisted.internet.defer import DeferredList

from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

SIOCGIFFLAGS = 0x8913
SIOCGIFHWADDR = 0x8927
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
#: Receive buffer asked for on DHCP sockets (the kernel doubles it for its
#: bookkeeping): about 200 ms of queries at 7 000 a second, so the short
#: stalls of a busy two-core machine (a peer preempted for 50-100 ms) lose
#: nothing, while a sustained overload still answers within clients' timers.
#: Measured with perfdhcp (docs/performance.md, runs K-M): 256 KiB lost
#: datagrams in the kernel in 4 of 5 lab trials of a load-balancing pair at
#: 3200-3400/s, 1 MiB in none; one server at 9500/s (over its capacity)
#: ACKed 6600-7400/s against 5700-6200/s, at a 9-45 ms median instead of 17.
RECEIVE_BUFFER = 1024 * 1024
#: Bytes read of one received datagram: Kea 2.2 reads 1500 (its
#: RCVBUFSIZE) and parses what it got, so a longer datagram is cut there.
MAX_DATAGRAM = 1500
#: Bytes of datagrams one read turn of a DHCP socket may take before the
#: reactor serves other sockets (Twisted's default is 256 KiB, about 800
#: DHCP packets). Under load, an HA primary must read its partner's
#: lease-update answers promptly: the held ACKs wait on them. 16 KiB is
#: about 50 queries per turn.
READ_TURN_BYTES = 16 * 1024
ETH_P_IP = 0x0800
_NETLINK_ROUTE = 0
_RTM_GETADDR = 22
_RTM_NEWADDR = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_DONE = 3
_NLMSG_ERROR = 2
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_BROADCAST = 4
_INTERFACES_PATH = "Dhcp4.interfaces-config.interfaces"


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """
    One interface the server listens on.

    @ivar name: e.g. C{"eth0"}.
    @ivar index: the kernel interface index.
    @ivar address: the address used as server identifier and source.
    @ivar netmask: that address's netmask.
    @ivar mac: the hardware address (C{b""} when there is none, e.g. C{lo}).
    @ivar broadcast: the subnet broadcast address.
    """

    name: str
    index: int
    address: IPv4Address
    netmask: IPv4Address
    mac: bytes
    broadcast: IPv4Address

    @property
    def network(self) -> IPv4Network:
        """The directly connected prefix."""
        return IPv4Network(f"{self.address}/{self.netmask}", strict=False)


# -- reading the system ----------------------------------------------------------


def ipv4_addresses() -> list[tuple[int, IPv4Address, int, IPv4Address | None]]:
    """
    Every IPv4 address of the host as (ifindex, address, prefixlen,
    broadcast), in kernel order (primary addresses first), from netlink.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
    try:
        sock.bind((0, 0))
        body = struct.pack("BBBBI", socket.AF_INET, 0, 0, 0, 0)
        header = struct.pack("=IHHII", 16 + len(body), _RTM_GETADDR,
                             _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
        sock.send(header + body)
        found = []
        while True:
            data = sock.recv(65536)
            pos = 0
            while pos + 16 <= len(data):
                length, mtype, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, pos)
                if length < 16:
                    return found
                if mtype == _NLMSG_DONE:
                    return found
                if mtype == _NLMSG_ERROR:
                    raise OSError("netlink RTM_GETADDR failed")
                if mtype == _RTM_NEWADDR:
                    found.append(_parse_ifaddr(data[pos + 16:pos + length]))
                pos += (length + 3) & ~3
    finally:
        sock.close()


def _parse_ifaddr(msg: bytes) -> tuple[int, IPv4Address, int, IPv4Address | None]:
    _family, prefixlen, _flags, _scope, index = struct.unpack_from("BBBBI", msg, 0)
    pos = 8
    attrs: dict[int, bytes] = {}
    while pos + 4 <= len(msg):
        alen, atype = struct.unpack_from("=HH", msg, pos)
        if alen < 4:
            break
        attrs[atype] = msg[pos + 4:pos + alen]
        pos += (alen + 3) & ~3
    raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS) or b"\x00" * 4
    bcast = attrs.get(_IFA_BROADCAST)
    return index, IPv4Address(raw), prefixlen, IPv4Address(bcast) if bcast else None


def _ifreq(name: str, request: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s.fileno(), request, struct.pack("256s", name.encode()[:15]))


def interface_flags(name: str) -> int:
    """The C{IFF_*} flags of C{name}."""
    return struct.unpack_from("H", _ifreq(name, SIOCGIFFLAGS), 16)[0]


def interface_mac(name: str) -> bytes:
    """The 6-byte MAC of C{name}, or C{b""} when it has none (loopback, tunnels)."""
    data = _ifreq(name, SIOCGIFHWADDR)
    family = struct.unpack_from("H", data, 16)[0]
    mac = data[18:24]
    if family != 1 or not any(mac):  # ARPHRD_ETHER
        return b""
    return mac


def _info(name: str, index: int, address: IPv4Address, prefixlen: int,
          broadcast: IPv4Address | None, mac_of: Callable[[str], bytes]) -> InterfaceInfo:
    net = IPv4Network(f"{address}/{prefixlen}", strict=False)
    return InterfaceInfo(name, index, address, net.netmask, mac_of(name),
                         broadcast or net.broadcast_address)


def resolve_interfaces(
    specs: Iterable[str],
    *,
    names: Callable[[], list[tuple[int, str]]] = socket.if_nameindex,
    addresses: Callable[[], list] = ipv4_addresses,
    flags_of: Callable[[str], int] = interface_flags,
    mac_of: Callable[[str], bytes] = interface_mac,
) -> list[InterfaceInfo]:
    """
    Resolve Kea's interface list. C{"*"} is every interface that is up
    and has an IPv4 address, loopback excepted (as Kea); C{"name"} is that
    interface's first IPv4 address; C{"name/address"} that address.

    @raise ConfigError: an interface that does not exist, has no IPv4
        address, or does not hold the address given.
    """
    by_name = {n: i for i, n in names()}
    by_index = {i: n for i, n in names()}
    addrs = addresses()
    result: list[InterfaceInfo] = []
    seen: set[tuple[str, IPv4Address]] = set()
    for pos, spec in enumerate(specs):
        path = f"{_INTERFACES_PATH}[{pos}]"
        if spec == "*":
            for index, address, plen, bcast in addrs:
                name = by_index.get(index)
                if name is None:
                    continue
                fl = flags_of(name)
                if fl & IFF_LOOPBACK or not fl & IFF_UP:
                    continue
                if any(n == name for n, _ in seen):
                    continue
                seen.add((name, address))
                result.append(_info(name, index, address, plen, bcast, mac_of))
            continue
        name, _, wanted = spec.partition("/")
        if name not in by_name:
            raise ConfigError(path, f"interface {name!r} does not exist")
        index = by_name[name]
        mine = [(a, p, b) for i, a, p, b in addrs if i == index]
        if wanted:
            try:
                want = IPv4Address(wanted)
            except ValueError:
                raise ConfigError(path, f"{wanted!r} is not an IPv4 address") from None
            mine = [m for m in mine if m[0] == want]
            if not mine:
                raise ConfigError(path, f"interface {name!r} has no address {wanted}")
        if not mine:
            raise ConfigError(path, f"interface {name!r} has no IPv4 address")
        address, plen, bcast = mine[0]
        if any(n == name for n, _ in seen):
            # One socket per interface: the first entry naming it wins.
            continue
        seen.add((name, address))
        result.append(_info(name, index, address, plen, bcast, mac_of))
    return result


# -- sockets ---------------------------------------------------------------------


def open_dhcp_socket(iface: InterfaceInfo, port: int = 67) -> socket.socket:
    """
    A non-blocking UDP socket bound to C{iface} with C{SO_BINDTODEVICE},
    C{SO_REUSEADDR}, C{SO_BROADCAST} and a L{RECEIVE_BUFFER} receive
    buffer. On an Ethernet interface it binds 0.0.0.0:C{port}, so
    broadcasts arrive; on one without a MAC (loopback,
    tunnels: no broadcast clients) it binds the interface address, as Kea's
    UDP sockets do, leaving the port free on the other addresses (a relay
    or perfdhcp on 127.0.0.2:67). Needs root (port 67, SO_BINDTODEVICE).
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.name.encode() + b"\x00")
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        s.bind(("0.0.0.0" if iface.mac else str(iface.address), port))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def open_raw_socket(iface: InterfaceInfo) -> socket.socket:
    """An C{AF_PACKET} socket that only sends (protocol 0 receives nothing)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((iface.name, 0))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def _checksum(data: bytes, initial: int = 0) -> int:
    """The 16-bit ones' complement sum of C{data} (not yet inverted)."""
    if len(data) % 2:
        data += b"\x00"
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words) + initial
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def build_frame(payload: bytes, *, src_mac: bytes, dst_mac: bytes, src_ip: IPv4Address,
                dst_ip: IPv4Address, src_port: int = 67, dst_port: int = 68) -> bytes:
    """
    An Ethernet II frame carrying C{payload} in UDP over IPv4, with both
    checksums, laid out as Kea's C{writeIpUdpHeader} does (TOS low delay,
    DF, TTL 128).
    """
    udp_len = 8 + len(payload)
    src, dst = src_ip.packed, dst_ip.packed
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + udp_len, 0, 0x4000, 128,
                               socket.IPPROTO_UDP, 0, src, dst))
    struct.pack_into("!H", ip, 10, ~_checksum(bytes(ip)) & 0xFFFF)
    udp = struct.pack("!HHHH", src_port, dst_port, udp_len, 0)
    pseudo = _checksum(src + dst, socket.IPPROTO_UDP + udp_len)
    csum = ~_checksum(udp + payload, pseudo) & 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum or 0xFFFF)
    eth = (dst_mac + b"\x00" * 6)[:6] + (src_mac + b"\x00" * 6)[:6] + b"\x08\x00"
    return eth + bytes(ip) + udp + payload


class RawSender:
    """Sends UDP payloads as raw Ethernet frames out of one interface."""

    def __init__(self, sock, iface: InterfaceInfo) -> None:
        self._sock = sock
        self.iface = iface

    def send(self, payload: bytes, dst_mac: bytes, dst_ip: IPv4Address, dst_port: int = 68) -> None:
        """Send C{payload} from the interface address, port 67, to C{dst_mac}/C{dst_ip}."""
        frame = build_frame(payload, src_mac=self.iface.mac, dst_mac=dst_mac,
                            src_ip=self.iface.address, dst_ip=dst_ip, dst_port=dst_port)
        self._sock.send(frame)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class DHCPListenerService(Service):
    """
    Opens the DHCP sockets as root and hands them to the reactor.

    @param reactor: provides C{adoptDatagramPort}.
    @param interfaces: Kea's interface specifications.
    @param protocol_factory: C{(InterfaceInfo, RawSender | None) ->
        DatagramProtocol}, called once per interface.
    @param socket_type: C{"raw"} also opens an C{AF_PACKET} sender per
        Ethernet interface; C{"udp"} does not.
    """

    _log = Logger()

    def __init__(self, reactor, interfaces: Iterable[str], protocol_factory,
                 socket_type: str = "raw", *, port: int = 67,
                 resolver: Callable[[Iterable[str]], list[InterfaceInfo]] = resolve_interfaces,
                 socket_opener: Callable = open_dhcp_socket,
                 raw_opener: Callable = open_raw_socket) -> None:
        self._reactor = reactor
        self._specs = tuple(interfaces)
        self._factory = protocol_factory
        self._socket_type = socket_type
        self._port_number = port
        self._resolver = resolver
        self._open = socket_opener
        self._open_raw = raw_opener
        self.interfaces: list[InterfaceInfo] = []
        self.ports: list = []
        self._raw: list[RawSender] = []
        self._opened = False

    def privilegedStartService(self) -> None:
        """Resolve the interfaces, open and adopt one socket per interface."""
        super().privilegedStartService()
        if self._opened:
            return
        self._opened = True
        self.interfaces = self._resolver(self._specs)
        for iface in self.interfaces:
            sock = self._open(iface, self._port_number)
            try:
                raw = None
                if self._socket_type == "raw" and iface.mac:
                    raw = RawSender(self._open_raw(iface), iface)
                    self._raw.append(raw)
                protocol = self._factory(iface, raw)
                port = self._reactor.adoptDatagramPort(sock.fileno(), socket.AF_INET, protocol,
                                                       maxPacketSize=MAX_DATAGRAM)
                port.maxThroughput = READ_TURN_BYTES
            finally:
                sock.close()
            self.ports.append(port)
            self._log.info("listening on interface {iface} ({address})",
                           msg_id="DHCPSRV_CFGMGR_ADD_IFACE", iface=iface.name,
                           address=str(iface.address))

    def startService(self) -> None:
        """Open the sockets if C{privilegedStartService} was not called."""
        if not self._opened:
            self.privilegedStartService()
        super().startService()

    def stopService(self):
        """Stop listening; close the raw senders."""
        super().stopService()
        self._opened = False
        ports, self.ports = self.ports, []
        ds = [p.stopListening() for p in ports]
        for raw in self._raw:
            raw.close()
        self._raw = []
        return DeferredList([d for d in ds if d is not None], consumeErrors=True)
