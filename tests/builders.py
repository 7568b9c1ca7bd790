"""
Builders for tests: DHCP packets, configurations, interfaces, and a small
lease store for the server tests.

Packets are L{DHCPPacket} values (no wire bytes), so server tests do not
depend on the codec. Every builder takes keyword overrides.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

from twisted.internet.task import Clock
from zope.interface import implementer

from kea_ha_tw.config.model import (
    OptionData,
    PoolConfig,
    ReservationConfig,
    ServerConfig,
    SubnetConfig,
)
from kea_ha_tw.dhcp.netif import InterfaceInfo
from kea_ha_tw.dhcp.packet import DHCPPacket
from kea_ha_tw.interfaces import ILeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState

#: A Unix time to start test clocks at (2026-11-25).
T0 = 1795600000

ETH0 = InterfaceInfo("eth0", 2, IPv4Address("192.0.2.1"), IPv4Address("255.255.255.0"),
                     b"\x02\x00\x00\x00\x00\x01", IPv4Address("192.0.2.255"))
LO = InterfaceInfo("lo", 1, IPv4Address("127.0.0.1"), IPv4Address("255.0.0.0"), b"",
                   IPv4Address("127.255.255.255"))


def mac(n: int) -> bytes:
    """A distinct locally administered MAC for client number C{n}."""
    return b"\xaa\x00" + n.to_bytes(4, "big")


def ip(text: str) -> IPv4Address:
    """Shorthand for L{IPv4Address}."""
    return IPv4Address(text)


def clock(at: float = T0) -> Clock:
    """A L{Clock} set to C{at}."""
    c = Clock()
    c.advance(at)
    return c


# -- configuration ---------------------------------------------------------------


def option(code: int, data: bytes, name: str = "", always_send: bool = False) -> OptionData:
    """One encoded option-data entry."""
    return OptionData(code=code, name=name or f"option-{code}", data=data,
                      always_send=always_send)


def routers(*addresses: str) -> OptionData:
    """Option 3."""
    return option(3, b"".join(ip(a).packed for a in addresses), "routers")


def dns_servers(*addresses: str) -> OptionData:
    """Option 6."""
    return option(6, b"".join(ip(a).packed for a in addresses), "domain-name-servers")


def domain_name(name: str) -> OptionData:
    """Option 15."""
    return option(15, name.encode(), "domain-name")


def pool(start: str, end: str, client_class: str | None = None, options=()) -> PoolConfig:
    """A pool from C{start} to C{end}."""
    return PoolConfig(start=ip(start), end=ip(end), client_class=client_class,
                      option_data=tuple(options))


def reservation(hw: bytes | None = None, address: str | None = None, *, client_id=None,
                hostname: str = "", options=()) -> ReservationConfig:
    """A host reservation."""
    return ReservationConfig(hw_address=hw, client_id=client_id,
                             ip_address=ip(address) if address else None,
                             hostname=hostname, option_data=tuple(options))


def subnet(subnet_id: int = 1, prefix: str = "192.0.2.0/24", pools=None, **kw) -> SubnetConfig:
    """A subnet; default pool .10-.19 of the prefix."""
    net = IPv4Network(prefix)
    if pools is None:
        base = int(net.network_address)
        pools = (PoolConfig(start=IPv4Address(base + 10), end=IPv4Address(base + 19)),)
    kw.setdefault("relay_addresses", ())
    kw["relay_addresses"] = tuple(ip(a) if isinstance(a, str) else a
                                  for a in kw["relay_addresses"])
    for key in ("option_data", "reservations"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return SubnetConfig(id=subnet_id, subnet=net, pools=tuple(pools), **kw)


def config(*subnets: SubnetConfig, **kw) -> ServerConfig:
    """A server config (Kea defaults unless overridden)."""
    if not subnets:
        subnets = (subnet(),)
    kw.setdefault("valid_lifetime", 4000)
    kw.setdefault("renew_timer", 1000)
    kw.setdefault("rebind_timer", 2000)
    if "option_data" in kw:
        kw["option_data"] = tuple(kw["option_data"])
    return ServerConfig(subnets=tuple(subnets), **kw)


# -- packets ---------------------------------------------------------------------


def packet(msg_type: int | None, hw: bytes = mac(1), *, xid: int = 0x1234, giaddr: str = "0.0.0.0",
           ciaddr: str = "0.0.0.0", flags: int = 0, hops: int = 0, op: int = 1,
           client_id: bytes | None = None, requested: str | None = None,
           server_id: str | None = None, prl: bytes | None = None, hostname: bytes | None = None,
           options: dict | None = None, htype: int = 1) -> DHCPPacket:
    """A client (or relayed) query."""
    opts: dict[int, bytes] = {}
    if msg_type is not None:
        opts[53] = bytes((msg_type,))
    if client_id is not None:
        opts[61] = client_id
    if requested is not None:
        opts[50] = ip(requested).packed
    if server_id is not None:
        opts[54] = ip(server_id).packed
    if prl is not None:
        opts[55] = prl
    if hostname is not None:
        opts[12] = hostname
    if options:
        opts.update(options)
    return DHCPPacket(op=op, htype=htype, hlen=len(hw), hops=hops, xid=xid, flags=flags,
                      ciaddr=ip(ciaddr), giaddr=ip(giaddr), chaddr=hw.ljust(16, b"\x00"),
                      options=opts)


def discover(hw: bytes = mac(1), **kw) -> DHCPPacket:
    """A DHCPDISCOVER."""
    return packet(1, hw, **kw)


def request(hw: bytes = mac(1), **kw) -> DHCPPacket:
    """A DHCPREQUEST (state depends on server_id/requested/ciaddr given)."""
    return packet(3, hw, **kw)


def decline(hw: bytes = mac(1), **kw) -> DHCPPacket:
    """A DHCPDECLINE."""
    return packet(4, hw, **kw)


def release(hw: bytes = mac(1), **kw) -> DHCPPacket:
    """A DHCPRELEASE."""
    return packet(7, hw, **kw)


def inform(hw: bytes = mac(1), **kw) -> DHCPPacket:
    """A DHCPINFORM."""
    return packet(8, hw, **kw)


def u32(value: int) -> bytes:
    """A 4-byte big-endian option payload."""
    return struct.pack("!I", value)


# -- a lease store ---------------------------------------------------------------


@implementer(ILeaseStore)
class DictLeaseStore:
    """
    A minimal ILeaseStore for server tests, indexed by address, hwaddr and
    client id. subnet_counts is Kea's (assigned, declined); assigned
    includes declined leases.
    """

    def __init__(self, leases=()) -> None:
        self.leases: dict[IPv4Address, Lease4] = {}
        self.writes: list[tuple[str, object]] = []
        for lease in leases:
            self.leases[lease.address] = lease

    def get(self, address, include_reclaimed=False):
        """Lease at C{address} (expired-reclaimed only with C{include_reclaimed})."""
        found = self.leases.get(address)
        if found is not None and found.state == LeaseState.EXPIRED_RECLAIMED \
                and not include_reclaimed:
            return None
        return found

    def _visible(self, leases, include_reclaimed):
        return [v for v in leases
                if include_reclaimed or v.state != LeaseState.EXPIRED_RECLAIMED]

    def get_by_hwaddr(self, hwaddr, subnet_id=None, include_reclaimed=False):
        """Leases of C{hwaddr}."""
        return self._visible([v for v in self.leases.values() if v.hwaddr == hwaddr
                              and (subnet_id is None or v.subnet_id == subnet_id)],
                             include_reclaimed)

    def get_by_client_id(self, client_id, subnet_id=None, include_reclaimed=False):
        """Leases of C{client_id}."""
        return self._visible([v for v in self.leases.values() if v.client_id == client_id
                              and (subnet_id is None or v.subnet_id == subnet_id)],
                             include_reclaimed)

    def get_by_hostname(self, hostname, subnet_id=None, include_reclaimed=False):
        """Leases of C{hostname}."""
        return self._visible([v for v in self.leases.values() if v.hostname == hostname
                              and (subnet_id is None or v.subnet_id == subnet_id)],
                             include_reclaimed)

    def get_all(self, subnet_ids=None):
        """All leases, ascending."""
        return sorted((v for v in self.leases.values()
                       if subnet_ids is None or v.subnet_id in subnet_ids),
                      key=lambda v: v.address)

    def get_page(self, after, limit):
        """A page after C{after}."""
        return [v for v in self.get_all() if v.address > after][:limit]

    def add(self, lease):
        """Add; refuse an existing address."""
        if lease.address in self.leases:
            raise ValueError("exists")
        self.update(lease)

    def update(self, lease):
        """Store C{lease}."""
        self.leases[lease.address] = lease
        self.writes.append(("update", lease))

    def delete(self, address):
        """Delete C{address}."""
        self.writes.append(("delete", address))
        return self.leases.pop(address, None) is not None

    def wipe(self, subnet_id=None):
        """Remove leases."""
        doomed = [a for a, v in self.leases.items() if subnet_id in (None, v.subnet_id)]
        for a in doomed:
            del self.leases[a]
        return len(doomed)

    def subnet_counts(self, subnet_id):
        """(default + declined leases, declined leases) of C{subnet_id}."""
        mine = [v for v in self.leases.values() if v.subnet_id == subnet_id]
        declined = sum(1 for v in mine if v.state == LeaseState.DECLINED)
        return (sum(1 for v in mine if v.state == LeaseState.DEFAULT) + declined, declined)

    def count(self, subnet_id=None):
        """Number of leases."""
        return sum(1 for v in self.leases.values() if subnet_id in (None, v.subnet_id))

    def expired(self, now, limit=0, include_declined=False):
        """Expired default-state (and, if asked, declined) leases."""
        states = (LeaseState.DEFAULT, LeaseState.DECLINED) if include_declined \
            else (LeaseState.DEFAULT,)
        out = sorted((v for v in self.leases.values()
                      if v.state in states and v.expire <= now),
                     key=lambda v: v.expire)
        return out[:limit] if limit else out

    def delete_expired_reclaimed(self, now, secs):
        """Remove expired-reclaimed leases that expired C{secs} before C{now}."""
        doomed = [a for a, v in self.leases.items()
                  if v.state == LeaseState.EXPIRED_RECLAIMED and v.expire <= now - secs]
        for a in doomed:
            self.delete(a)
        return len(doomed)

    def flush(self):
        """Nothing to flush."""


def lease(address: str, hw: bytes = mac(1), *, client_id=None, subnet_id: int = 1,
          valid: int = 4000, cltt: int = T0, state=LeaseState.DEFAULT, hostname="") -> Lease4:
    """A lease value."""
    return Lease4(address=ip(address), hwaddr=hw, client_id=client_id, valid_lft=valid,
                  cltt=cltt, subnet_id=subnet_id, state=state, hostname=hostname)
