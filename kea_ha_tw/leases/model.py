# -*- test-case-name: tests.test_lease_model -*-
"""
The DHCPv4 lease as Kea's C{Lease4} holds it (pure data, no I/O).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from collections.abc import Mapping
from typing import Any


class LeaseState(enum.IntEnum):
    """Kea 2.2 lease states (Lease4::state)."""

    DEFAULT = 0
    DECLINED = 1
    EXPIRED_RECLAIMED = 2


@dataclass(frozen=True, slots=True)
class Lease4:
    """
    One IPv4 lease.

    @ivar address: the leased address.
    @ivar hwaddr: the client hardware address (no htype byte); C{b""} when
        unknown (declined leases).
    @ivar client_id: the full option 61 payload (type byte included), or
        C{None}.
    @ivar valid_lft: valid lifetime in seconds.
    @ivar cltt: client last transmission time, Unix seconds.
    @ivar subnet_id: the Kea subnet id.
    @ivar hostname: always lowercase.
    @ivar user_context: a JSON map or C{None}.
    """

    address: IPv4Address
    hwaddr: bytes
    client_id: bytes | None
    valid_lft: int
    cltt: int
    subnet_id: int
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    hostname: str = ""
    state: LeaseState = LeaseState.DEFAULT
    user_context: Mapping[str, Any] | None = field(default=None, compare=True)

    @property
    def expire(self) -> int:
        """Expiration time, Unix seconds (cltt + valid_lft)."""
        return self.cltt + self.valid_lft

    def is_expired(self, now: float) -> bool:
        """True when the lease expired at or before C{now}."""
        return self.expire <= now

    def evolve(self, **changes: Any) -> Lease4:
        """A copy with C{changes} applied."""
        return replace(self, **changes)


_new = object.__new__
# Lease4 is a frozen slots dataclass; building it through its slot
# descriptors is about twice as fast as its __init__ (one object.__setattr__
# per field) and gives an equal object (tests.test_csvformat checks this).
# Loading a memfile, a sync page or a peer's lease update builds one per lease.
_FIELDS = ("address", "hwaddr", "client_id", "valid_lft", "cltt", "subnet_id",
           "fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context")
if tuple(Lease4.__dataclass_fields__) == _FIELDS:
    (_s_addr, _s_hw, _s_cid, _s_valid, _s_cltt, _s_subnet, _s_fwd, _s_rev,
     _s_host, _s_state, _s_ctx) = (getattr(Lease4, f).__set__ for f in _FIELDS)

    def make_lease4(address, hwaddr, client_id, valid_lft, cltt, subnet_id,
                    fqdn_fwd, fqdn_rev, hostname, state, user_context) -> Lease4:
        """C{Lease4(...)} with every field given positionally, built fast."""
        lease = _new(Lease4)
        _s_addr(lease, address)
        _s_hw(lease, hwaddr)
        _s_cid(lease, client_id)
        _s_valid(lease, valid_lft)
        _s_cltt(lease, cltt)
        _s_subnet(lease, subnet_id)
        _s_fwd(lease, fqdn_fwd)
        _s_rev(lease, fqdn_rev)
        _s_host(lease, hostname)
        _s_state(lease, state)
        _s_ctx(lease, user_context)
        return lease
else:  # pragma: no cover - the model changed; stay correct, if slower.
    make_lease4 = Lease4
