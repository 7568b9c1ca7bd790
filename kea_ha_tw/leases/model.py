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

from kea_ha_tw.fastinit import fast_constructor


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


#: C{Lease4(...)} with every field given positionally, built through the
#: slots (about twice as fast as the frozen dataclass's C{__init__}, an
#: equal object): loading a memfile, a sync page or a peer's lease update,
#: and every allocation, builds one per lease.
make_lease4 = fast_constructor(Lease4)
