# -*- test-case-name: tests.test_allocation -*-
"""
Subnet selection, address choice and lifetimes, as Kea 2.2's
C{CfgSubnets4::selectSubnet} and C{AllocEngine} (v4, iterative allocator)
do them.

Everything here is pure: the lease store is only read (the caller writes
what an L{Allocation} says), and "now" is an argument. Addresses are plain
ints on the hot path; L{IPv4Address} objects are made only at the store
boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Iterable

from kea_ha_tw.config.model import (
    OptionData,
    PoolConfig,
    ReservationConfig,
    ServerConfig,
    SubnetConfig,
)
from kea_ha_tw.leases.model import Lease4, LeaseState

INFINITY_LFT = 0xFFFFFFFF
_BCAST = 0xFFFFFFFF


def fast_constructor(cls):
    """
    A positional constructor for a frozen, slotted dataclass that sets each
    slot through its descriptor in straight-line code: several times
    faster than the dataclass C{__init__} (one C{object.__setattr__} call
    per field) and than C{dataclasses.replace}. Falls back to C{cls} when
    the class has a C{__post_init__} or no slots.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        return cls
    env = {"_new": object.__new__, "_cls": cls}
    lines = []
    for i, name in enumerate(names):
        env[f"_s{i}"] = getattr(cls, name).__set__
        lines.append(f"    _s{i}(obj, a{i})")
    params = ", ".join(f"a{i}" for i in range(len(names)))
    source = f"def make({params}):\n    obj = _new(_cls)\n" + "\n".join(lines) + "\n    return obj\n"
    exec(source, env)  # noqa: S102 - generated straight-line setter code, as dataclasses does
    make = env["make"]
    make.__doc__ = f"Build a {cls.__name__} from positional values {names}."
    return make


_lease = fast_constructor(Lease4)
#: "Look the reservation up yourself."
_LOOKUP = object()
_DEFAULT = LeaseState.DEFAULT


def kea_expired(lease: Lease4, now: float) -> bool:
    """Kea's C{Lease::expired}: finite lifetime and expiry strictly before C{now}."""
    return lease.valid_lft != INFINITY_LFT and lease.cltt + lease.valid_lft < now


def belongs_to_client(lease: Lease4, hwaddr: bytes | None, client_id: bytes | None) -> bool:
    """
    Kea's C{Lease4::belongsToClient}: client ids equal (both present), or,
    when either side has no client id, hardware addresses equal (both present).
    """
    lease_cid = lease.client_id
    if client_id and lease_cid and client_id == lease_cid:
        return True
    if not client_id or not lease_cid:
        return bool(hwaddr) and bool(lease.hwaddr) and hwaddr == lease.hwaddr
    return False


def _round(x: float) -> int:
    """C's round() for non-negative values (half away from zero)."""
    return int(x + 0.5)


@dataclass(slots=True)
class Client:
    """
    Who is asking: what allocation needs from a query.

    @ivar hwaddr: C{chaddr[:hlen]}.
    @ivar client_id: the option 61 payload, or C{None}.
    @ivar classes: client classes (HA scope classes, ...).
    @ivar lifetime_hint: option 51 from the client, or 0.
    @ivar hostname: the (processed, lowercase) hostname to record in the lease.
    """

    hwaddr: bytes
    client_id: bytes | None
    classes: frozenset = frozenset()
    lifetime_hint: int = 0
    hostname: str = ""


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


@dataclass(slots=True)
class Allocation:
    """
    What the engine decided for one DISCOVER or REQUEST.

    @ivar lease: the offered / granted lease (not stored by the engine), or
        C{None} when nothing can be given.
    @ivar old_lease: the lease the client held before, when it is replaced
        by a lease at another address (the caller deletes it), else C{None}.
    @ivar reused: the expired lease of the same address that C{lease}
        replaces (the caller counts a reclamation), else C{None}.
    @ivar renewed: True when C{lease} extends the client's own lease.
    @ivar previous: the client's lease as it was before C{lease} renewed it.
    @ivar unknown_requested: the requested address is in no pool of the
        subnet: Kea drops the query instead of sending a NAK.
    @ivar allocation_failed: the iterative allocator found nothing free.
    """

    lease: Lease4 | None = None
    old_lease: Lease4 | None = None
    reused: Lease4 | None = None
    renewed: bool = False
    previous: Lease4 | None = None
    unknown_requested: bool = False
    allocation_failed: bool = False
    pool: PoolPlan | None = None
    reservation: ReservationConfig | None = None


class AllocationEngine:
    """Kea 2.2's subnet selection and v4 allocation engine over an L{ILeaseStore}."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.subnets: tuple[SubnetPlan, ...] = tuple(SubnetPlan(s, config) for s in config.subnets)
        self.by_id = {s.id: s for s in self.subnets}
        self._by_relay: dict[int, list[SubnetPlan]] = {}
        for s in self.subnets:
            for r in s.relays:
                self._by_relay.setdefault(r, []).append(s)
        self._any_class_guard = any(s.client_class is not None for s in self.subnets)
        self._prefix_cache: dict[int, SubnetPlan | None] = {}

    # -- subnet selection --------------------------------------------------

    def subnet_for_address(self, address: int, classes: frozenset = frozenset()) -> SubnetPlan | None:
        """The first subnet (config order) whose prefix holds C{address} and admits C{classes}."""
        if not self._any_class_guard:
            cache = self._prefix_cache
            try:
                return cache[address]
            except KeyError:
                pass
            found = None
            for s in self.subnets:
                if (address & s.mask) == s.network:
                    found = s
                    break
            if len(cache) > 4096:
                cache.clear()
            cache[address] = found
            return found
        for s in self.subnets:
            if (address & s.mask) == s.network and s.client_supported(classes):
                return s
        return None

    def select_subnet(
        self,
        *,
        giaddr: int,
        ciaddr: int,
        source: int,
        local_broadcast: bool,
        iface_name: str | None,
        iface_address: int,
        selection: int = 0,
        classes: frozenset = frozenset(),
    ) -> SubnetPlan | None:
        """
        Kea 2.2's C{CfgSubnets4::selectSubnet}.

        @param giaddr: the relay address (0 when not relayed).
        @param ciaddr: the client address field.
        @param source: the datagram's source address (0 when unknown).
        @param local_broadcast: True when the query was (or may have been)
            sent to the broadcast address; Kea then ignores ciaddr and the
            source address for selection.
        @param iface_name: the receiving interface.
        @param iface_address: that interface's address (0 when unknown).
        @param selection: option 118 (or RAI link selection), 0 when absent.
        """
        if selection:
            return self.subnet_for_address(selection, classes)
        if giaddr:
            for s in self._by_relay.get(giaddr, ()):
                if s.client_supported(classes):
                    return s
            return self.subnet_for_address(giaddr, classes)
        if ciaddr and not local_broadcast:
            return self.subnet_for_address(ciaddr, classes)
        if source and not local_broadcast:
            return self.subnet_for_address(source, classes)
        if iface_name:
            for s in self.subnets:
                if s.interface is not None and s.interface == iface_name \
                        and s.client_supported(classes):
                    return s
            if iface_address:
                return self.subnet_for_address(iface_address, classes)
        return None

    # -- leases of a client ------------------------------------------------

    def find_client_lease(self, store, subnet: SubnetPlan, client: Client) -> Lease4 | None:
        """
        Kea's C{findClientLease} for one subnet: by client-id when the subnet
        matches on it, else by hardware address with C{belongsToClient}.
        """
        sid = subnet.id
        if client.client_id and subnet.match_client_id:
            for lease in store.get_by_client_id(client.client_id, sid):
                if lease.subnet_id == sid:
                    return lease
        if client.hwaddr:
            cid = client.client_id if subnet.match_client_id else None
            for lease in store.get_by_hwaddr(client.hwaddr, sid):
                if lease.subnet_id == sid and belongs_to_client(lease, client.hwaddr, cid):
                    return lease
        return None

    def find_init_reboot_lease(self, store, subnet: SubnetPlan, client: Client) -> Lease4 | None:
        """
        The INIT-REBOOT lookup of C{Dhcpv4Srv::assignLease}: the client's
        lease in the subnet by client-id (whatever C{match-client-id}), then
        by hardware address, without the C{belongsToClient} filter.
        """
        sid = subnet.id
        if client.client_id:
            for lease in store.get_by_client_id(client.client_id, sid):
                if lease.subnet_id == sid:
                    return lease
        if client.hwaddr:
            for lease in store.get_by_hwaddr(client.hwaddr, sid):
                if lease.subnet_id == sid:
                    return lease
        return None

    # -- DISCOVER ----------------------------------------------------------

    def offer(self, store, subnet: SubnetPlan, client: Client, requested: int, now: int,
              reservation=_LOOKUP) -> Allocation:
        """
        Kea's C{discoverLease4}: reservation, the client's lease, the
        requested address, else the next free address. Nothing is stored.
        C{reservation} is the client's host reservation when the caller
        already looked it up.
        """
        result = Allocation()
        client_lease = self.find_client_lease(store, subnet, client)
        if reservation is _LOOKUP:
            reservation = subnet.reservation_for(client.hwaddr, client.client_id)
        result.reservation = reservation
        res_addr = int(reservation.ip_address) if reservation is not None \
            and reservation.ip_address is not None else 0
        classes = client.classes
        lease = None
        if res_addr:
            if client_lease is None or int(client_lease.address) != res_addr:
                lease = self._take(store, subnet, client, res_addr, now, result)
            else:
                lease = self._renew(client_lease, subnet, client, now)
                result.renewed = True
                result.previous = client_lease
        if lease is None and client_lease is not None:
            addr = int(client_lease.address)
            if subnet.allowed_pool_of(addr, classes) is not None \
                    and not subnet.reserved_for_other(addr, reservation):
                lease = self._renew(client_lease, subnet, client, now)
                result.renewed = True
                result.previous = client_lease
        if lease is None and requested and subnet.allowed_pool_of(requested, classes) is not None \
                and not subnet.reserved_for_other(requested, reservation):
            lease = self._take(store, subnet, client, requested, now, result)
        if lease is None:
            lease = self._allocate_new(store, subnet, client, now, result, reservation)
        result.lease = lease
        if lease is not None:
            result.pool = subnet.pool_of(int(lease.address))
        return result

    # -- REQUEST -----------------------------------------------------------

    def request(self, store, subnet: SubnetPlan, client: Client, requested: int, now: int,
                reservation=_LOOKUP) -> Allocation:
        """
        Kea's C{requestLease4}. C{requested} is option 50, else ciaddr, else 0.
        The returned lease (if any) must be stored by the caller, and
        C{old_lease} (if any) deleted.
        """
        result = Allocation()
        classes = client.classes
        client_lease = self.find_client_lease(store, subnet, client)
        if reservation is _LOOKUP:
            reservation = subnet.reservation_for(client.hwaddr, client.client_id)
        result.reservation = reservation
        res_addr = int(reservation.ip_address) if reservation is not None \
            and reservation.ip_address is not None else 0
        if requested:
            if subnet.reserved_for_other(requested, reservation):
                return result
        elif res_addr:
            requested = res_addr
        existing = False
        if requested:
            existing = store.get(IPv4Address(requested))
            cid = client.client_id if subnet.match_client_id else None
            if existing is not None and not kea_expired(existing, now) \
                    and not belongs_to_client(existing, client.hwaddr, cid):
                return result
            if res_addr and res_addr != requested:
                held = store.get(IPv4Address(res_addr))
                if held is None or kea_expired(held, now):
                    # The client must take its reserved address instead.
                    return result
            if (not res_addr or res_addr != requested) \
                    and subnet.allowed_pool_of(requested, classes) is None:
                result.unknown_requested = True
                return result
        if client_lease is not None:
            addr = int(client_lease.address)
            if (addr == requested or not requested) and (
                    (res_addr and res_addr == requested)
                    or subnet.allowed_pool_of(addr, classes) is not None):
                result.lease = self._renew(client_lease, subnet, client, now)
                result.renewed = True
                result.previous = client_lease
                result.pool = subnet.pool_of(addr)
                return result
        if requested:
            lease = self._take(store, subnet, client, requested, now, result, existing)
        else:
            lease = self._allocate_new(store, subnet, client, now, result, reservation)
        if lease is not None:
            result.lease = lease
            result.pool = subnet.pool_of(int(lease.address))
            if client_lease is not None:
                result.old_lease = client_lease
        return result

    # -- building blocks ---------------------------------------------------

    def _new_lease(self, subnet: SubnetPlan, client: Client, address, now: int) -> Lease4:
        """A lease of C{address} (int or IPv4Address) for C{client}, from C{now}."""
        if type(address) is int:
            address = IPv4Address(address)
        return _lease(address, client.hwaddr,
                      client.client_id if subnet.match_client_id else None,
                      subnet.lifetime(client.lifetime_hint), now, subnet.id, False, False,
                      client.hostname, _DEFAULT, None)

    def _renew(self, lease: Lease4, subnet: SubnetPlan, client: Client, now: int) -> Lease4:
        """Kea's C{renewLease4} + C{updateLease4Information}."""
        return _lease(lease.address, client.hwaddr,
                      client.client_id if subnet.match_client_id else None,
                      subnet.lifetime(client.lifetime_hint), now, subnet.id, False, False,
                      client.hostname, _DEFAULT, lease.user_context)

    def _take(self, store, subnet: SubnetPlan, client: Client, address: int, now: int,
              result: Allocation, existing=False) -> Lease4 | None:
        """
        Kea's C{allocateOrReuseLease4}: a free address, or an expired
        lease's. C{existing} is the store's lease for C{address} when the
        caller already looked it up.
        """
        if existing is False:
            existing = store.get(IPv4Address(address))
        if existing is None:
            return self._new_lease(subnet, client, address, now)
        if kea_expired(existing, now):
            result.reused = existing
            return self._new_lease(subnet, client, address, now)
        return None

    def _allocate_new(self, store, subnet: SubnetPlan, client: Client, now: int,
                      result: Allocation, reservation: ReservationConfig | None) -> Lease4 | None:
        """
        Kea's C{allocateUnreservedLease4} with the iterative allocator: at
        most as many picks as the allowed pools hold addresses.
        """
        classes = client.classes
        if subnet.has_pool_classes:
            capacity = sum(p.end - p.start + 1 for p in subnet.pools if p.allows(classes))
        else:
            capacity = subnet.total_addresses
        get = store.get
        reserved = subnet.res_by_addr
        for _ in range(capacity):
            candidate = pick_address(subnet, classes)
            if candidate is None:
                break
            address = IPv4Address(candidate)
            existing = get(address)
            if existing is None:
                if not reserved or not subnet.reserved_for_other(candidate, reservation):
                    return self._new_lease(subnet, client, address, now)
            elif kea_expired(existing, now) and not subnet.reserved_for_other(candidate, reservation):
                result.reused = existing
                return self._new_lease(subnet, client, address, now)
        result.allocation_failed = True
        return None


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
