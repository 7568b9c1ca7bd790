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

from dataclasses import dataclass
from ipaddress import IPv4Address

from kea_ha_tw.config.model import ReservationConfig, ServerConfig
from kea_ha_tw.dhcp.plans import (  # noqa: F401 - re-exported
    PoolPlan,
    SubnetPlan,
    pick_address,
    reply_options,
)
from kea_ha_tw.leases.model import Lease4, LeaseState, make_lease4

INFINITY_LFT = 0xFFFFFFFF
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

    def subnet_for_address(self, address: int,
                           classes: frozenset = frozenset()) -> SubnetPlan | None:
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
        return make_lease4(address, client.hwaddr,
                           client.client_id if subnet.match_client_id else None,
                           subnet.lifetime(client.lifetime_hint), now, subnet.id, False, False,
                           client.hostname, _DEFAULT, None)

    def _renew(self, lease: Lease4, subnet: SubnetPlan, client: Client, now: int) -> Lease4:
        """Kea's C{renewLease4} + C{updateLease4Information}."""
        return make_lease4(lease.address, client.hwaddr,
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
            elif kea_expired(existing, now) \
                    and not subnet.reserved_for_other(candidate, reservation):
                result.reused = existing
                return self._new_lease(subnet, client, address, now)
        result.allocation_failed = True
        return None


