# -*- test-case-name: tests.test_allocation -*-
"""
The configuration as the hot path reads it: L{SubnetPlan} and L{PoolPlan}
resolve every inherited Kea value once and keep addresses as ints; the
iterative allocator's cursor (L{pick_address}) lives on them. Also
L{reply_options}, which the DHCP modules share. Pure: no I/O, no Twisted.
"""

from __future__ import annotations

from collections.abc import Iterable

from kea_ha_tw.config.model import (
    OptionData,
    PoolConfig,
    ReservationConfig,
    ServerConfig,
    SubnetConfig,
)

_BCAST = 0xFFFFFFFF


def _round(x: float) -> int:
    """C's round() for non-negative values (half away from zero)."""
    return int(x + 0.5)


class PoolPlan:
    """A configured pool, with ints for bounds and the iterative cursor."""

    __slots__ = ("config", "start", "end", "client_class", "option_data", "index",
                 "last", "last_valid")

    def __init__(self, config: PoolConfig, index: int) -> None:
        self.config = config
        self.start = int(config.start)
        self.end = int(config.end)
        self.client_class = config.client_class
        self.option_data: tuple[OptionData, ...] = config.option_data
        self.index = index
        # Kea's Pool::last_allocated_ starts at the first address, invalid.
        self.last = self.start
        self.last_valid = False

    def allows(self, classes: frozenset) -> bool:
        """Kea's C{clientSupported}: no class guard, or the client is in it."""
        return self.client_class is None or self.client_class in classes

    @property
    def size(self) -> int:
        """Number of addresses."""
        return self.end - self.start + 1


class SubnetPlan:
    """
    A subnet with every inherited value resolved once, so that the hot path
    reads attributes instead of walking the config.
    """

    __slots__ = (
        "config", "id", "network", "mask", "prefixlen", "pools", "relays", "interface",
        "match_client_id", "authoritative", "valid", "valid_min", "valid_max",
        "renew_timer", "rebind_timer", "calculate_tee_times", "t1_percent", "t2_percent",
        "client_class", "reservations", "res_by_hw", "res_by_cid", "res_by_addr",
        "next_server", "server_hostname", "boot_file_name", "netmask_bytes",
        "total_addresses", "option_data", "has_pool_classes", "last_allocated",
    )

    def __init__(self, config: SubnetConfig, server: ServerConfig) -> None:
        eff = server.effective
        self.config = config
        self.id = config.id
        self.network = int(config.subnet.network_address)
        self.mask = int(config.subnet.netmask)
        self.prefixlen = config.subnet.prefixlen
        self.netmask_bytes = config.subnet.netmask.packed
        self.pools = tuple(PoolPlan(p, i) for i, p in enumerate(config.pools))
        self.relays = frozenset(int(a) for a in config.relay_addresses)
        self.interface = config.interface
        self.match_client_id = bool(eff(config, "match_client_id"))
        self.authoritative = bool(eff(config, "authoritative"))
        self.valid = int(eff(config, "valid_lifetime"))
        vmin = eff(config, "min_valid_lifetime")
        vmax = eff(config, "max_valid_lifetime")
        self.valid_min = self.valid if vmin is None else int(vmin)
        self.valid_max = self.valid if vmax is None else int(vmax)
        self.renew_timer = eff(config, "renew_timer")
        self.rebind_timer = eff(config, "rebind_timer")
        self.calculate_tee_times = server.calculate_tee_times
        self.t1_percent = server.t1_percent
        self.t2_percent = server.t2_percent
        self.client_class = config.client_class
        self.reservations = config.reservations
        self.res_by_hw: dict[bytes, ReservationConfig] = {}
        self.res_by_cid: dict[bytes, ReservationConfig] = {}
        self.res_by_addr: dict[int, list[ReservationConfig]] = {}
        for r in config.reservations:
            if r.hw_address:
                self.res_by_hw.setdefault(r.hw_address, r)
            if r.client_id:
                self.res_by_cid.setdefault(r.client_id, r)
            if r.ip_address is not None:
                self.res_by_addr.setdefault(int(r.ip_address), []).append(r)
        ns = config.next_server if config.next_server is not None else server.next_server
        self.next_server = ns
        sname = config.server_hostname if config.server_hostname is not None \
            else server.server_hostname
        bfile = config.boot_file_name if config.boot_file_name is not None \
            else server.boot_file_name
        # As the fixed-size header fields: zero padded, always NUL-terminated.
        self.server_hostname = (sname.encode("utf-8")[:63] if sname else b"").ljust(64, b"\x00")
        self.boot_file_name = (bfile.encode("utf-8")[:127] if bfile else b"").ljust(128, b"\x00")
        self.total_addresses = sum(p.size for p in self.pools)
        self.option_data = config.option_data
        self.has_pool_classes = any(p.client_class is not None for p in self.pools)
        # Kea starts the subnet's last allocated address at the prefix's last address.
        self.last_allocated = self.network | (~self.mask & _BCAST)

    def contains(self, address: int) -> bool:
        """True when C{address} is inside this subnet's prefix."""
        return (address & self.mask) == self.network

    def client_supported(self, classes: frozenset) -> bool:
        """Kea's subnet-level C{client-class} guard."""
        return self.client_class is None or self.client_class in classes

    def pool_of(self, address: int) -> PoolPlan | None:
        """The pool holding C{address}, whatever its class guard."""
        for p in self.pools:
            if p.start <= address <= p.end:
                return p
        return None

    def allowed_pool_of(self, address: int, classes: frozenset) -> PoolPlan | None:
        """Kea's C{inPool(address, classes)}: a pool holding C{address} the client may use."""
        for p in self.pools:
            if p.start <= address <= p.end and p.allows(classes):
                return p
        return None

    def lifetime(self, hint: int) -> int:
        """Kea's C{getValidLft}: the client's hint clamped to min/max, else the default."""
        if hint > 0:
            if hint < self.valid_min:
                return self.valid_min
            if hint > self.valid_max:
                return self.valid_max
            return hint
        return self.valid

    def tee_times(self, valid_lft: int) -> tuple[int | None, int | None]:
        """
        Kea's C{setTeeTimes}: (T1, T2) to send; each is C{None} when it must
        not be sent (unset, zero, or not below its ceiling).
        """
        t2 = 0
        if self.rebind_timer is not None:
            t2 = int(self.rebind_timer)
        elif self.calculate_tee_times:
            t2 = _round(self.t2_percent * valid_lft)
        ceiling = valid_lft
        send_t2 = None
        if 0 < t2 < ceiling:
            send_t2 = t2
            ceiling = t2
        t1 = 0
        if self.renew_timer is not None:
            t1 = int(self.renew_timer)
        elif self.calculate_tee_times:
            t1 = _round(self.t1_percent * valid_lft)
        send_t1 = t1 if 0 < t1 < ceiling else None
        return send_t1, send_t2

    def reservation_for(self, hwaddr: bytes, client_id: bytes | None) -> ReservationConfig | None:
        """The client's host reservation: by hw-address first, then client-id (Kea's order)."""
        if not self.reservations:
            return None
        if self.res_by_hw:
            r = self.res_by_hw.get(hwaddr)
            if r is not None:
                return r
        if client_id and self.res_by_cid:
            return self.res_by_cid.get(client_id)
        return None

    def reserved_for_other(self, address: int, reservation: ReservationConfig | None) -> bool:
        """Kea's C{addressReserved}: C{address} is reserved for another host."""
        hosts = self.res_by_addr.get(address) if self.res_by_addr else None
        if not hosts:
            return False
        return not any(h is reservation for h in hosts)


def pick_address(subnet: SubnetPlan, classes: frozenset) -> int | None:
    """
    Kea 2.2's C{IterativeAllocator::pickAddressInternal}: the address after
    the last one handed out, pool by pool (skipping pools the client may not
    use and pools used up in this round), wrapping to the first allowed pool
    when all are used up. O(number of pools) per call.
    """
    pools = subnet.pools
    if subnet.has_pool_classes:
        allowed = [p for p in pools if p.client_class is None or p.client_class in classes]
    else:
        allowed = pools
    if not allowed:
        return None
    last = subnet.last_allocated
    index = 0
    for i, p in enumerate(allowed):
        if p.start <= last <= p.end:
            index = i
            break
    for pool in allowed[index:]:
        plast = pool.last
        if not pool.last_valid:
            if plast == pool.start:
                pool.last_valid = True
                subnet.last_allocated = plast
                return plast
            continue
        if not (pool.start <= plast <= pool.end):
            pool.last = pool.start
            pool.last_valid = False
            continue
        nxt = plast + 1
        if nxt <= pool.end:
            pool.last = nxt
            subnet.last_allocated = nxt
            return nxt
        pool.last_valid = False
    # Every allowed pool is used up in this round: start over.
    for pool in allowed:
        pool.last = pool.start
        pool.last_valid = False
    first = allowed[0]
    first.last_valid = True
    subnet.last_allocated = first.start
    return first.start


def reply_options(chain: Iterable[tuple[OptionData, ...]]) -> dict[int, OptionData]:
    """
    Merge option-data levels, most specific first (reservation, pool,
    subnet, global): the first level defining a code wins, as Kea's
    C{CfgOptionList} lookup does.
    """
    merged: dict[int, OptionData] = {}
    for level in chain:
        for od in level:
            if od.space == "dhcp4" and od.code not in merged:
                merged[od.code] = od
    return merged
