# -*- test-case-name: tests.test_server -*-
"""
The DHCP server's statistics, with Kea 2.2's names: the set created at
start, per-subnet lease counts recounted from the store, and the counters
the server adds to per exchange.
"""

from __future__ import annotations

from kea_ha_tw.dhcp.packet import DHCPPacket
from kea_ha_tw.leases.model import Lease4, LeaseState

_SENT_STAT = {b"\x02": "pkt4-offer-sent", b"\x05": "pkt4-ack-sent", b"\x06": "pkt4-nak-sent"}

#: Statistics Kea 2.2 sets to zero when the server starts (dhcp4_srv.cc).
GLOBAL_STATISTICS = (
    "pkt4-received", "pkt4-discover-received", "pkt4-offer-received",
    "pkt4-request-received", "pkt4-ack-received", "pkt4-nak-received",
    "pkt4-release-received", "pkt4-decline-received", "pkt4-inform-received",
    "pkt4-unknown-received", "pkt4-sent", "pkt4-offer-sent", "pkt4-ack-sent",
    "pkt4-nak-sent", "pkt4-parse-failed", "pkt4-receive-drop",
    "v4-allocation-fail", "v4-allocation-fail-shared-network", "v4-allocation-fail-subnet",
    "v4-allocation-fail-no-pools", "v4-allocation-fail-classes", "v4-reservation-conflicts",
    "cumulative-assigned-addresses", "declined-addresses", "reclaimed-declined-addresses",
    "reclaimed-leases",
)
#: Per-subnet statistics (``subnet[ID].<name>``) Kea 2.2 creates at start.
SUBNET_STATISTICS = (
    "total-addresses", "assigned-addresses", "cumulative-assigned-addresses",
    "declined-addresses", "reclaimed-declined-addresses", "reclaimed-leases",
    "v4-reservation-conflicts",
)


class _SubnetStatNames:
    """The per-subnet statistic names, built once."""

    __slots__ = ("assigned", "declined", "cumulative", "reclaimed", "reclaimed_declined")

    def __init__(self, subnet_id: int) -> None:
        prefix = f"subnet[{subnet_id}]."
        self.assigned = prefix + "assigned-addresses"
        self.declined = prefix + "declined-addresses"
        self.cumulative = prefix + "cumulative-assigned-addresses"
        self.reclaimed = prefix + "reclaimed-leases"
        self.reclaimed_declined = prefix + "reclaimed-declined-addresses"




class ServerStatistics:
    """
    Kea's DHCPv4 statistics over an L{IStatistics}.

    @param stats: the L{IStatistics}.
    @param store: the L{ILeaseStore} the lease counts come from.
    @param subnets: the allocation engine's subnet plans (C{id},
        C{total_addresses}).
    """

    def __init__(self, stats, store, subnets) -> None:
        self.stats = stats
        self.store = store
        self.subnets = subnets
        self._names = {s.id: _SubnetStatNames(s.id) for s in subnets}
        st = stats
        for name in GLOBAL_STATISTICS:
            if st.get(name) is None:
                st.set(name, 0)
        for s in subnets:
            for name in SUBNET_STATISTICS:
                key = f"subnet[{s.id}].{name}"
                if st.get(key) is None:
                    st.set(key, 0)
            st.set(f"subnet[{s.id}].total-addresses", s.total_addresses)
        self.recount()

    def recount(self) -> None:
        """
        Kea's C{recountLeaseStats4}: per-subnet assigned and declined
        counts (declined leases also count as assigned) and the global
        declined count, from the store.
        """
        total_declined = 0
        for s in self.subnets:
            total_declined += self.refresh_subnet(s.id)
        self.stats.set("declined-addresses", total_declined)

    def refresh_subnet(self, subnet_id: int) -> int:
        """Set C{subnet_id}'s assigned/declined counts from the store; return declined."""
        # ILeaseStore.subnet_counts is Kea's pair: assigned counts declined leases too.
        assigned, declined = self.store.subnet_counts(subnet_id)
        names = self._names.get(subnet_id)
        if names is None:
            names = self._names[subnet_id] = _SubnetStatNames(subnet_id)
        self.stats.set(names.assigned, assigned)
        self.stats.set(names.declined, declined)
        return declined

    def count_parse_failure(self) -> None:
        """A datagram that did not decode: received, parse-failed and drop."""
        add = self.stats.add
        add("pkt4-received")
        add("pkt4-parse-failed")
        add("pkt4-receive-drop")

    def count_sent(self, reply: DHCPPacket) -> None:
        """A reply that went out."""
        add = self.stats.add
        add("pkt4-sent")
        name = _SENT_STAT.get(reply.options.get(53))
        if name is not None:
            add(name)

    def count_assigned(self, subnet_id: int) -> None:
        """A fresh assignment (not a renewal) in C{subnet_id}."""
        self.stats.add("cumulative-assigned-addresses")
        self.stats.add(self._names[subnet_id].cumulative)

    def count_allocation_failure(self, subnet_id: int, classes) -> None:
        """No address could be allocated in C{subnet_id}."""
        add = self.stats.add
        add("v4-allocation-fail")
        add(f"subnet[{subnet_id}].v4-allocation-fail")
        add("v4-allocation-fail-subnet")
        add(f"subnet[{subnet_id}].v4-allocation-fail-subnet")
        if classes:
            add("v4-allocation-fail-classes")
            add(f"subnet[{subnet_id}].v4-allocation-fail-classes")

    def count_reclaimed(self, lease: Lease4) -> None:
        """An expired (or declined) lease reused: Kea counts it reclaimed."""
        add = self.stats.add
        prefix = f"subnet[{lease.subnet_id}]."
        add("reclaimed-leases")
        add(prefix + "reclaimed-leases")
        if lease.state == LeaseState.DECLINED:
            add("reclaimed-declined-addresses")
            add(prefix + "reclaimed-declined-addresses")
            self.refresh_global_declined()

    def refresh_global_declined(self) -> None:
        """Recompute the global C{declined-addresses} from the store."""
        total = 0
        for s in self.subnets:
            total += self.store.subnet_counts(s.id)[1]
        self.stats.set("declined-addresses", total)
