# -*- test-case-name: tests.test_memory -*-
"""
The lease indexes and the in-memory lease store (memfile with
C{persist: false}).

L{LeaseIndexes} holds every lookup structure Kea's memfile keeps in its
multi-index container, with the same costs: a dict by address, a sorted
list of addresses for paging, dicts by hardware address, client id and
hostname, a sorted expiration index keyed like Kea's (reclaimed flag,
expire), and per-subnet counters. L{InMemoryLeaseStore} is the
L{ILeaseStore} over it; L{kea_ha_tw.leases.memfile.MemfileLeaseStore}
adds the lease file by overriding two hooks.
"""

from __future__ import annotations

import heapq
from collections import Counter
from ipaddress import IPv4Address
from collections.abc import Callable, Iterable, Iterator

from sortedcontainers import SortedList
from zope.interface import implementer

from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.interfaces import ILeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState

_DEFAULT = LeaseState.DEFAULT
_DECLINED = LeaseState.DECLINED
_RECLAIMED = LeaseState.EXPIRED_RECLAIMED
_ADDR_MASK = 0xFFFFFFFF
_EXPIRE_MAX = (1 << 64) - 1
_RECLAIMED_FLAG = 1 << 96


def _not_declined(lease: Lease4) -> bool:
    return lease.state != _DECLINED


def expiry_key(lease: Lease4, address: int) -> int:
    """
    Kea's expiration index key (reclaimed?, expire) plus the address as a
    tie-break, packed into one int so the index is a sorted list of ints.
    """
    expire = lease.cltt + lease.valid_lft
    if expire < 0:
        expire = 0
    elif expire > _EXPIRE_MAX:
        expire = _EXPIRE_MAX
    key = (expire << 32) | address
    return key | _RECLAIMED_FLAG if lease.state == _RECLAIMED else key


def _multi_add(index: dict, key, address: int) -> None:
    """Add C{address} under C{key}; one address is stored bare, more as a set."""
    current = index.get(key)
    if current is None:
        index[key] = address
    elif type(current) is int:
        if current != address:
            index[key] = {current, address}
    else:
        current.add(address)


def _multi_remove(index: dict, key, address: int) -> None:
    current = index.get(key)
    if current is None:
        return
    if type(current) is int:
        if current == address:
            del index[key]
    else:
        current.discard(address)
        if len(current) == 1:
            index[key] = next(iter(current))


class _ExpiryHeap:
    """
    Expiry keys in a binary heap with lazy deletion: a key is live while the
    lease at its address still has that key. Changes push a new key
    (O(log n)); stale keys are dropped when they reach the top or when the
    heap is rebuilt (once it holds twice the live keys). Queries walk the
    heap in key order without consuming live keys.
    """

    __slots__ = ("heap",)

    def __init__(self, keys: list[int] | None = None) -> None:
        self.heap = keys if keys is not None else []
        heapq.heapify(self.heap)

    def push(self, key: int) -> None:
        heapq.heappush(self.heap, key)

    def take(self, until: int, live: Callable[[int], bool], limit: int = 0,
             accept: Callable[[int], bool] | None = None) -> list[int]:
        """
        Live keys <= C{until} that C{accept} (default: all), ascending, at
        most C{limit} (0 = all). C{live(key)} tells live keys from stale
        ones; stale keys met on the way are dropped for good.
        """
        heap = self.heap
        popped = []
        found = []
        seen = set()
        while heap and heap[0] <= until:
            key = heapq.heappop(heap)
            if key in seen or not live(key):
                continue
            seen.add(key)
            popped.append(key)
            if accept is None or accept(key):
                found.append(key)
                if limit and len(found) >= limit:
                    break
        for key in popped:
            heapq.heappush(heap, key)
        return found


class LeaseIndexes:
    """
    Every index over the stored leases. Addresses are ints; all methods are
    O(1) or O(log n) except the bulk ones.
    """

    __slots__ = ("by_address", "addresses", "by_hwaddr", "by_client_id",
                 "by_hostname", "expiring", "reclaimed", "counts")

    def __init__(self) -> None:
        self.by_address: dict[int, Lease4] = {}
        self.addresses = SortedList()
        self.by_hwaddr: dict[bytes, int | set[int]] = {}
        self.by_client_id: dict[bytes, int | set[int]] = {}
        self.by_hostname: dict[str, int | set[int]] = {}
        # Kea's expiration index, split by its first component.
        self.expiring = _ExpiryHeap()
        self.reclaimed = _ExpiryHeap()
        # subnet id -> [stored, in state default, in state declined]
        self.counts: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.by_address)

    def _count(self, lease: Lease4, delta: int) -> None:
        c = self.counts.get(lease.subnet_id)
        if c is None:
            c = self.counts[lease.subnet_id] = [0, 0, 0]
        c[0] += delta
        state = lease.state
        if state == _DEFAULT:
            c[1] += delta
        elif state == _DECLINED:
            c[2] += delta

    def _push_expiry(self, address: int, lease: Lease4) -> None:
        if lease.state == _RECLAIMED:
            heap = self.reclaimed
        else:
            heap = self.expiring
        heap.push(expiry_key(lease, address))
        limit = 2 * len(self.by_address) + 1024
        if len(self.expiring.heap) + len(self.reclaimed.heap) > limit:
            self._rebuild_expiry()

    def _rebuild_expiry(self) -> None:
        expiring = []
        reclaimed = []
        for address, lease in self.by_address.items():
            (reclaimed if lease.state == _RECLAIMED else expiring).append(
                expiry_key(lease, address))
        self.expiring = _ExpiryHeap(expiring)
        self.reclaimed = _ExpiryHeap(reclaimed)

    def live_expiry_key(self, key: int) -> bool:
        """True when C{key} is the current expiry key of its address."""
        address = key & _ADDR_MASK
        lease = self.by_address.get(address)
        return lease is not None and expiry_key(lease, address) == key

    def put(self, address: int, lease: Lease4) -> Lease4 | None:
        """Store C{lease} at C{address}; return the lease it replaced."""
        old = self.by_address.get(address)
        self.by_address[address] = lease
        if old is None:
            self.addresses.add(address)
            if lease.hwaddr:
                _multi_add(self.by_hwaddr, lease.hwaddr, address)
            if lease.client_id:
                _multi_add(self.by_client_id, lease.client_id, address)
            if lease.hostname:
                _multi_add(self.by_hostname, lease.hostname, address)
            self._push_expiry(address, lease)
            self._count(lease, 1)
            return None
        if old.hwaddr != lease.hwaddr:
            if old.hwaddr:
                _multi_remove(self.by_hwaddr, old.hwaddr, address)
            if lease.hwaddr:
                _multi_add(self.by_hwaddr, lease.hwaddr, address)
        if old.client_id != lease.client_id:
            if old.client_id:
                _multi_remove(self.by_client_id, old.client_id, address)
            if lease.client_id:
                _multi_add(self.by_client_id, lease.client_id, address)
        if old.hostname != lease.hostname:
            if old.hostname:
                _multi_remove(self.by_hostname, old.hostname, address)
            if lease.hostname:
                _multi_add(self.by_hostname, lease.hostname, address)
        if expiry_key(old, address) != expiry_key(lease, address):
            self._push_expiry(address, lease)
        if old.subnet_id != lease.subnet_id or old.state != lease.state:
            self._count(old, -1)
            self._count(lease, 1)
        return old

    def pop(self, address: int) -> Lease4 | None:
        """Remove and return the lease at C{address} (None if there is none)."""
        old = self.by_address.pop(address, None)
        if old is None:
            return None
        self.addresses.remove(address)
        if old.hwaddr:
            _multi_remove(self.by_hwaddr, old.hwaddr, address)
        if old.client_id:
            _multi_remove(self.by_client_id, old.client_id, address)
        if old.hostname:
            _multi_remove(self.by_hostname, old.hostname, address)
        self._count(old, -1)
        return old

    def clear(self) -> None:
        """Forget every lease."""
        self.__init__()

    def bulk_load(self, leases: dict[int, Lease4]) -> None:
        """Replace the whole content with C{leases} (address -> lease), in O(n log n)."""
        self.clear()
        self.by_address = leases
        self.addresses = SortedList(leases)
        by_hwaddr, by_client_id, by_hostname = self.by_hwaddr, self.by_client_id, self.by_hostname
        set_hw, set_cid, set_host = (by_hwaddr.setdefault, by_client_id.setdefault,
                                     by_hostname.setdefault)
        expiring: list[int] = []
        reclaimed: list[int] = []
        add_expiring, add_reclaimed = expiring.append, reclaimed.append
        # One pass, everything inlined: this runs once per lease at start-up.
        for address, lease in leases.items():
            key = lease.hwaddr
            if key and set_hw(key, address) is not address:
                _multi_add(by_hwaddr, key, address)
            key = lease.client_id
            if key and set_cid(key, address) is not address:
                _multi_add(by_client_id, key, address)
            key = lease.hostname
            if key and set_host(key, address) is not address:
                _multi_add(by_hostname, key, address)
            expire = lease.cltt + lease.valid_lft
            if 0 <= expire <= _EXPIRE_MAX and lease.state != _RECLAIMED:
                add_expiring((expire << 32) | address)
            elif lease.state == _RECLAIMED:
                add_reclaimed(expiry_key(lease, address))
            else:
                add_expiring(expiry_key(lease, address))
        self.expiring = _ExpiryHeap(expiring)
        self.reclaimed = _ExpiryHeap(reclaimed)
        counts = Counter((lease.subnet_id, lease.state) for lease in leases.values())
        for (subnet_id, state), n in counts.items():
            c = self.counts.setdefault(subnet_id, [0, 0, 0])
            c[0] += n
            if state == _DEFAULT:
                c[1] += n
            elif state == _DECLINED:
                c[2] += n

    def expiry_range(self, reclaimed: bool, until: int, limit: int = 0,
                     accept: Callable[[Lease4], bool] | None = None) -> list[Lease4]:
        """
        (Not) reclaimed leases with expire <= C{until} that C{accept}
        (default: all), oldest first, at most C{limit} (0 = all).
        """
        if until < 0:
            return []
        key_until = (min(until, _EXPIRE_MAX) << 32) | _ADDR_MASK
        if reclaimed:
            key_until |= _RECLAIMED_FLAG
        heap = self.reclaimed if reclaimed else self.expiring
        by_address = self.by_address
        test = None
        if accept is not None:
            def test(key: int) -> bool:
                return accept(by_address[key & _ADDR_MASK])
        keys = heap.take(key_until, self.live_expiry_key, limit, test)
        return [by_address[key & _ADDR_MASK] for key in keys]


@implementer(ILeaseStore)
class InMemoryLeaseStore:
    """
    L{ILeaseStore} kept in memory only (Kea's memfile with C{persist:
    false}). Subclasses make changes durable by overriding L{_persist} and
    L{_persist_delete}, which run before the indexes change.

    Lookups by address, hardware address, client id and hostname hide
    leases in state expired-reclaimed unless C{include_reclaimed} is true;
    L{get_all} and L{get_page} return every lease, as Kea's
    C{lease4-get-all} and C{lease4-get-page} do. L{add} may replace an
    expired-reclaimed lease (the address is free again).
    """

    def __init__(self) -> None:
        self._index = LeaseIndexes()

    # -- durability hooks --------------------------------------------------

    def _persist(self, lease: Lease4) -> None:
        """Called before C{lease} is stored; may raise L{LeaseStoreError}."""

    def _persist_delete(self, lease: Lease4) -> None:
        """Called before C{lease} is removed; may raise L{LeaseStoreError}."""

    # -- lookups -------------------------------------------------------------

    def get(self, address: IPv4Address, include_reclaimed: bool = False) -> Lease4 | None:
        """The lease for C{address}, or None."""
        lease = self._index.by_address.get(int(address))
        if lease is not None and lease.state == _RECLAIMED and not include_reclaimed:
            return None
        return lease

    def _lookup(self, index: dict, key, subnet_id: int | None,
                include_reclaimed: bool) -> list[Lease4]:
        found = index.get(key)
        if found is None:
            return []
        by_address = self._index.by_address
        if type(found) is int:
            lease = by_address[found]
            if (subnet_id is None or lease.subnet_id == subnet_id) and (
                    include_reclaimed or lease.state != _RECLAIMED):
                return [lease]
            return []
        leases = [by_address[a] for a in sorted(found)]
        return [lease for lease in leases
                if (subnet_id is None or lease.subnet_id == subnet_id)
                and (include_reclaimed or lease.state != _RECLAIMED)]

    def get_by_hwaddr(self, hwaddr: bytes, subnet_id: int | None = None,
                      include_reclaimed: bool = False) -> list[Lease4]:
        """Leases of hardware address C{hwaddr}, ascending address."""
        if not hwaddr:
            return []
        return self._lookup(self._index.by_hwaddr, hwaddr, subnet_id, include_reclaimed)

    def get_by_client_id(self, client_id: bytes, subnet_id: int | None = None,
                         include_reclaimed: bool = False) -> list[Lease4]:
        """Leases of client identifier C{client_id}, ascending address."""
        if not client_id:
            return []
        return self._lookup(self._index.by_client_id, client_id, subnet_id, include_reclaimed)

    def get_by_hostname(self, hostname: str, subnet_id: int | None = None,
                        include_reclaimed: bool = False) -> list[Lease4]:
        """Leases whose hostname is C{hostname}, ascending address."""
        if not hostname:
            return []
        return self._lookup(self._index.by_hostname, hostname, subnet_id, include_reclaimed)

    def get_all(self, subnet_ids: Iterable[int] | None = None) -> list[Lease4]:
        """Every lease (all states), ascending address; optionally of C{subnet_ids}."""
        by_address = self._index.by_address
        leases = [by_address[a] for a in self._index.addresses]
        if subnet_ids is None:
            return leases
        wanted = set(subnet_ids)
        return [lease for lease in leases if lease.subnet_id in wanted]

    def get_page(self, after: IPv4Address, limit: int) -> list[Lease4]:
        """Up to C{limit} leases above C{after}, ascending (O(log n + limit))."""
        addresses = self._index.addresses
        start = addresses.bisect_right(int(after))
        by_address = self._index.by_address
        return [by_address[a] for a in addresses.islice(start, start + limit)]

    def __iter__(self) -> Iterator[Lease4]:
        by_address = self._index.by_address
        return (by_address[a] for a in self._index.addresses)

    def __len__(self) -> int:
        return len(self._index)

    def count(self, subnet_id: int | None = None) -> int:
        """How many leases are stored (all states), in C{subnet_id} if given."""
        if subnet_id is None:
            return len(self._index)
        c = self._index.counts.get(subnet_id)
        return c[0] if c else 0

    def subnet_counts(self, subnet_id: int) -> tuple[int, int]:
        """
        Kea's (assigned-addresses, declined-addresses) of C{subnet_id}:
        assigned counts default and declined leases, as Kea's
        C{recountLeaseStats4} does.
        """
        c = self._index.counts.get(subnet_id)
        if not c:
            return (0, 0)
        return (c[1] + c[2], c[2])

    def expired(self, now: float, limit: int = 0,
                include_declined: bool = False) -> list[Lease4]:
        """
        Leases not yet reclaimed whose expiry is at or before C{now}, oldest
        first, at most C{limit} (0 = all). Declined leases are included only
        with C{include_declined} (Kea's C{getExpiredLeases4} includes them:
        their probation period is their lifetime).
        """
        accept = None if include_declined else _not_declined
        return self._index.expiry_range(False, int(now), limit, accept)

    def expired_reclaimed(self, before: float) -> list[Lease4]:
        """Expired-reclaimed leases whose expiry is at or before C{before}."""
        return self._index.expiry_range(True, int(before))

    # -- changes -------------------------------------------------------------

    def add(self, lease: Lease4) -> None:
        """
        Store a new lease; raise L{LeaseStoreError} if a lease (other than
        an expired-reclaimed one) holds the address.
        """
        address = int(lease.address)
        old = self._index.by_address.get(address)
        if old is not None and old.state != _RECLAIMED:
            raise LeaseStoreError(f"a lease for {lease.address} already exists")
        self._persist(lease)
        self._index.put(address, lease)

    def update(self, lease: Lease4) -> None:
        """Store C{lease}, replacing any lease for its address."""
        self._persist(lease)
        self._index.put(int(lease.address), lease)

    def delete(self, address: IPv4Address) -> bool:
        """Remove the lease for C{address} (any state); True if there was one."""
        key = int(address)
        lease = self._index.by_address.get(key)
        if lease is None:
            return False
        self._persist_delete(lease)
        self._index.pop(key)
        return True

    def wipe(self, subnet_id: int | None = None) -> int:
        """Remove every lease (of C{subnet_id}); return how many."""
        victims = [lease for lease in self
                   if subnet_id is None or lease.subnet_id == subnet_id]
        for lease in victims:
            self._persist_delete(lease)
            self._index.pop(int(lease.address))
        return len(victims)

    def delete_expired_reclaimed(self, now: float, secs: int) -> int:
        """
        Kea's C{deleteExpiredReclaimedLeases4}: remove expired-reclaimed
        leases that expired C{secs} or more seconds before C{now}.
        """
        victims = self.expired_reclaimed(int(now) - secs)
        for lease in victims:
            self._persist_delete(lease)
            self._index.pop(int(lease.address))
        return len(victims)

    def flush(self) -> None:
        """Nothing to write."""
