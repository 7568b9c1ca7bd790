# -*- test-case-name: tests.test_server -*-
"""
L{DHCPServer}: RFC 2131 message handling as Kea 2.2's C{Dhcpv4Srv} does
it. It turns a decoded query into a decoded reply (or nothing), writes the
lease store before the reply is released, and lets L{IDHCPHooks} (HA) see
and veto every commit.

Reply routing (where the reply is sent) is the protocol's job; this module
only decides what the reply says.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

from twisted.internet.defer import Deferred, succeed

from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.dhcp.allocation import (
    Allocation,
    AllocationEngine,
    Client,
    SubnetPlan,
    belongs_to_client,
    kea_expired,
)
from kea_ha_tw.dhcp.packet import (
    BOOTREPLY,
    FLAG_BROADCAST,
    ZERO,
    DHCPPacket,
    MessageType,
)
from kea_ha_tw.dhcp.replies import ReplyBuilder, process_hostname
from kea_ha_tw.dhcp.server_stats import (
    GLOBAL_STATISTICS,
    SUBNET_STATISTICS,
    ServerStatistics,
)
from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.leases.model import Lease4, LeaseState
from kea_ha_tw.loggers import Logger

_U32 = struct.Struct("!I")
_RECEIVED_STAT = {
    1: "pkt4-discover-received",
    2: "pkt4-offer-received",
    3: "pkt4-request-received",
    4: "pkt4-decline-received",
    5: "pkt4-ack-received",
    6: "pkt4-nak-received",
    7: "pkt4-release-received",
    8: "pkt4-inform-received",
}
_ACCEPTED_TYPES = frozenset((1, 3, 4, 7, 8))


def _generate_hostname(client: Client, alloc: Allocation) -> Lease4:
    """
    Kea's C{generateFqdn} for a client that sent hostname ".": the default
    C{ddns-generated-prefix} and the address with dashes (no suffix).
    """
    name = "myhost-" + str(alloc.lease.address).replace(".", "-")
    client.hostname = name
    alloc.lease = alloc.lease.evolve(hostname=name)
    return alloc.lease


def _ip_int(host: str) -> int:
    try:
        return int.from_bytes(socket.inet_aton(host), "big")
    except (OSError, TypeError):
        return 0


class DHCPServer:
    """
    The DHCPv4 server logic.

    @param config: the parsed configuration.
    @param store: the L{ILeaseStore}; writes are durable when they return.
    @param hooks: the L{IDHCPHooks} (HA, or L{NoHA}).
    @param network_state: the L{INetworkState}; disabled means silence.
    @param stats: the L{IStatistics}.
    @param clock: an C{IReactorTime}; C{seconds()} is "now".
    """

    _log = Logger()
    #: Log every dropped query at debug level (Kea's DHCP4_PACKET_DROP_*
    #: ids). Off by default: a flood of bad queries must not cost a log
    #: event each.
    trace_drops = False

    def __init__(self, config: ServerConfig, store, hooks, network_state, stats, clock) -> None:
        self.config = config
        self.store = store
        self.hooks = hooks
        self.network_state = network_state
        self.stats = stats
        self.clock = clock
        self.engine = AllocationEngine(config)
        self.replies = ReplyBuilder(config, self.engine)
        self._local_addresses: set[bytes] = set(self.replies.configured_server_ids)
        self._probation = int(config.decline_probation_period)
        self._parked_limit = int(config.parked_packet_limit)
        #: Queries whose reply is held by the hooks (Kea's parking lot of
        #: C{leases4_committed}), waiting for HA lease updates.
        self.parked = 0
        # Subnet selection results that depend only on giaddr (relayed) or
        # on the receiving interface (broadcast): valid while no subnet has
        # a client-class guard.
        self._cacheable = not any(s.client_class for s in self.engine.subnets)
        self._relay_cache: dict[int, SubnetPlan | None] = {}
        self._iface_cache: dict[str, SubnetPlan | None] = {}
        self.counters = ServerStatistics(stats, store, self.engine.subnets)

    # -- statistics (kept in L{ServerStatistics}) ------------------------------

    def recount_lease_stats(self) -> None:
        """Kea's C{recountLeaseStats4}; call it after the store is loaded."""
        self.counters.recount()

    def count_parse_failure(self) -> None:
        """A datagram that did not decode: Kea counts received, parse-failed and drop."""
        self.counters.count_parse_failure()

    def count_sent(self, reply: DHCPPacket) -> None:
        """Count a reply that went out (called by the protocol after sending)."""
        self.counters.count_sent(reply)

    # -- local addresses -------------------------------------------------------

    def add_local_address(self, address: IPv4Address) -> None:
        """Record an address this server listens on (accepted as a server identifier)."""
        self._local_addresses.add(address.packed)

    def accepting(self) -> bool:
        """False while the network state disables the DHCP service."""
        return self.network_state.is_enabled()

    def answers_none(self) -> bool:
        """
        True when no query would be answered now: the DHCP service is
        disabled, or the hooks take none (C{IDHCPHooks.answers_none}). The
        protocol then reads its socket in paced turns.
        """
        return not self.network_state.is_enabled() or self.hooks.answers_none()

    def updates_queued(self) -> bool:
        """The hooks' C{IDHCPHooks.updates_queued}: read one datagram per turn."""
        return self.hooks.updates_queued()

    # -- entry point -----------------------------------------------------------

    def handle(self, query: DHCPPacket, iface, source: tuple[str, int] | None = None) -> Deferred:
        """
        Process C{query} received on C{iface} (an C{InterfaceInfo}) from
        C{source}; fire with the reply L{DHCPPacket} or C{None}.
        """
        result = self.process(query, iface, source)
        if isinstance(result, Deferred):
            return result
        return succeed(result)

    def process(self, query: DHCPPacket, iface, source: tuple[str, int] | None = None):
        """
        L{handle} without the wrapping: the reply (or C{None}) when it is
        decided at once, else a L{Deferred} firing with it (the hooks are
        waiting, e.g. for an HA partner). The protocol calls this to spare
        a Deferred per packet.
        """
        if not self.network_state.is_enabled():
            # Kea drops these before counting anything (DHCP4_PACKET_DROP_0008).
            return None
        stats = self.stats
        stats.add("pkt4-received")
        hooks = self.hooks
        classes = hooks.classify(query)
        if not hooks.query_in_scope(query):
            # Kea 2.2: dropped in buffer4_receive, counted only as received.
            return None
        options = query.options
        mt = options.get(53)
        mtype = mt[0] if mt is not None and len(mt) == 1 else 0
        stats.add(_RECEIVED_STAT.get(mtype, "pkt4-unknown-received"))
        # Kea 2.2 does not look at op: a DISCOVER sent as BOOTREPLY is answered.
        if mtype not in _ACCEPTED_TYPES:
            return self._drop("DHCP4_PACKET_DROP_0006", query, mtype)
        sid = options.get(54)
        if sid is not None and sid not in self._local_addresses and sid != iface.address.packed:
            return self._drop("DHCP4_PACKET_DROP_0003", query, mtype)
        if mtype == 1 and sid is not None:
            return self._drop("DHCP4_PACKET_DROP_0003", query, mtype)
        hwaddr = query.chaddr[: min(query.hlen, 16)]
        client_id = options.get(61)
        # Kea: a client id has 2+ bytes; no hwaddr (hlen 0; zeros are one) needs a client id.
        if (client_id is not None and len(client_id) < 2) or (not hwaddr and not client_id):
            return self._drop("DHCP4_PACKET_DROP_0007", query, mtype)
        now = int(self.clock.seconds())
        try:
            return self._dispatch(query, iface, source, classes, mtype, hwaddr, client_id, now)
        except (LeaseStoreError, OSError) as e:
            # Kea: an exception while processing drops the query and counts it.
            self.stats.add("pkt4-receive-drop")
            self._log.error("lease store failed while processing xid={xid}: {error}",
                            msg_id="DHCP4_PACKET_PROCESS_STD_EXCEPTION", xid=query.xid,
                            error=str(e))
            return None

    def _dispatch(self, query, iface, source, classes, mtype, hwaddr, client_id, now):
        if mtype == 7:
            return self._release(query, hwaddr, client_id)
        if mtype == 4:
            return self._decline(query, hwaddr, client_id, now)
        subnet, ok = self._select(query, iface, source, classes, mtype)
        if not ok:
            return self._drop("DHCP4_PACKET_DROP_0002", query, mtype)
        reservation = None
        if subnet is not None and subnet.reservations:
            reservation = subnet.reservation_for(hwaddr, client_id)
        classes = self.replies.full_classes(query, classes, reservation is not None)
        if mtype == 1:
            return self._discover(query, iface, subnet, hwaddr, client_id, classes, now,
                                  reservation)
        if mtype == 3:
            return self._request(query, iface, subnet, hwaddr, client_id, classes, now,
                                 reservation)
        return self.replies.inform(query, iface, subnet, source)

    def _drop(self, msg_id: str, query: DHCPPacket, mtype: int) -> None:
        self.stats.add("pkt4-receive-drop")
        if self.trace_drops:
            self._log.debug("dropped query xid={xid} type={msg_type}", msg_id=msg_id,
                            xid=query.xid, msg_type=mtype)
        return None

    def _select(self, query, iface, source, classes, mtype) -> tuple[SubnetPlan | None, bool]:
        """
        Kea's subnet selection plus C{acceptDirectRequest}: (subnet, accepted).
        """
        giaddr = int(query.giaddr)
        selection = query.options.get(118)
        cacheable = self._cacheable and selection is None
        if giaddr and cacheable:
            try:
                return self._relay_cache[giaddr], True
            except KeyError:
                pass
        ciaddr = int(query.ciaddr)
        src = _ip_int(source[0]) if source else 0
        if mtype == 8 and not giaddr and not src and not ciaddr:
            return None, False
        # Without the datagram's destination address we treat a query as
        # unicast only when it comes from its own ciaddr (RENEWING).
        unicast = bool(ciaddr) and src == ciaddr
        if not giaddr and not unicast and cacheable:
            try:
                subnet = self._iface_cache[iface.name]
            except KeyError:
                pass
            else:
                return subnet, subnet is not None
        sel = _U32.unpack(selection)[0] if selection is not None and len(selection) == 4 else 0
        subnet = self.engine.select_subnet(
            giaddr=giaddr, ciaddr=ciaddr, source=src, local_broadcast=not unicast,
            iface_name=iface.name, iface_address=int(iface.address), selection=sel,
            classes=classes)
        if cacheable:
            if giaddr:
                if len(self._relay_cache) > 4096:
                    self._relay_cache.clear()
                self._relay_cache[giaddr] = subnet
            elif not unicast:
                self._iface_cache[iface.name] = subnet
        if subnet is None and not giaddr and not unicast:
            # acceptDirectRequest: a broadcast no subnet matches is dropped.
            return None, False
        return subnet, True

    # -- DISCOVER --------------------------------------------------------------

    def _client(self, query, hwaddr, client_id, classes, subnet) -> Client:
        lt = query.options.get(51)
        hint = _U32.unpack(lt)[0] if lt is not None and len(lt) == 4 else 0
        return Client(hwaddr, client_id, classes, hint, "")

    def _discover(self, query, iface, subnet, hwaddr, client_id, classes, now, reservation):
        if subnet is None:
            return None
        client = self._client(query, hwaddr, client_id, classes, subnet)
        client.hostname = process_hostname(query, reservation)
        requested = query.options.get(50)
        req = _U32.unpack(requested)[0] if requested is not None and len(requested) == 4 \
            else int(query.ciaddr)
        alloc = self.engine.offer(self.store, subnet, client, req, now, reservation)
        if alloc.lease is None:
            if alloc.allocation_failed:
                self.counters.count_allocation_failure(subnet.id, classes)
            return None
        if client.hostname == ".":
            _generate_hostname(client, alloc)
        return self.replies.lease_reply(MessageType.OFFER, query, iface, subnet, alloc, client)

    # -- REQUEST ---------------------------------------------------------------

    def _request(self, query, iface, subnet, hwaddr, client_id, classes, now,
                 reservation) -> DHCPPacket | Deferred | None:
        if subnet is None:
            # DHCP4_PACKET_NAK_0001: no subnet for this client.
            return self._commit(query, self.replies.nak(query, iface, None), [], [])
        opts = query.options
        requested = opts.get(50)
        req = _U32.unpack(requested)[0] if requested is not None and len(requested) == 4 else 0
        if not req:
            req = int(query.ciaddr)
        if 54 not in opts and requested is not None:
            # INIT-REBOOT.
            lease = self.engine.find_init_reboot_lease(
                self.store, subnet, Client(hwaddr, client_id))
            known = lease is not None and belongs_to_client(lease, hwaddr, client_id)
            if not subnet.authoritative and not known:
                self._log.debug("INIT-REBOOT from unknown client for {address}",
                                msg_id="DHCP4_NO_LEASE_INIT_REBOOT",
                                address=str(IPv4Address(req)))
                return None
            if (known and int(lease.address) != req) or (not known and subnet.authoritative):
                return self._commit(query, self.replies.nak(query, iface, subnet), [], [])
        client = self._client(query, hwaddr, client_id, classes, subnet)
        client.hostname = process_hostname(query, reservation)
        alloc = self.engine.request(self.store, subnet, client, req, now, reservation)
        lease = alloc.lease
        if lease is None:
            if alloc.allocation_failed:
                self.counters.count_allocation_failure(subnet.id, classes)
            if alloc.unknown_requested and subnet.pool_of(req) is None:
                self._log.debug("requested {address} is not ours",
                                msg_id="DHCP4_UNKNOWN_ADDRESS_REQUESTED",
                                address=str(IPv4Address(req)))
                return None
            return self._commit(query, self.replies.nak(query, iface, subnet), [], [])
        if client.hostname == ".":
            lease = _generate_hostname(client, alloc)
        deleted = self._store_allocation(subnet, alloc, now)
        reply = self.replies.lease_reply(MessageType.ACK, query, iface, subnet, alloc, client)
        return self._commit(query, reply, [lease], deleted)

    def _store_allocation(self, subnet: SubnetPlan, alloc: Allocation, now: int) -> list[Lease4]:
        store = self.store
        lease = alloc.lease
        deleted = []
        old = alloc.old_lease
        if old is not None and old.address != lease.address:
            if store.delete(old.address):
                deleted.append(old)
            if old.subnet_id != subnet.id:
                self.counters.refresh_subnet(old.subnet_id)
        store.update(lease)
        reused = alloc.reused
        if reused is not None:
            self.counters.count_reclaimed(reused)
        fresh = True
        prev = alloc.previous
        if alloc.renewed and prev is not None:
            if prev.state == LeaseState.EXPIRED_RECLAIMED:
                pass
            elif kea_expired(prev, now):
                self.counters.count_reclaimed(prev)
            else:
                fresh = False
        if fresh:
            self.counters.count_assigned(subnet.id)
        self.counters.refresh_subnet(subnet.id)
        return deleted

    def _commit(self, query, reply, leases, deleted) -> DHCPPacket | Deferred | None:
        """
        Kea's leases4_committed: the hooks may hold or drop the reply. A
        failure in the hooks drops the reply too (logged), as a throwing
        callout does in Kea. While C{parked-packet-limit} replies are held
        already, the reply is dropped before the hooks run (Kea's
        DHCP4_HOOK_LEASES4_PARKING_LOT_FULL, counted in C{pkt4-receive-drop});
        the lease stays committed, as in Kea, and the client's retry gets it.
        """
        limit = self._parked_limit
        if limit and self.parked >= limit and (reply is not None or leases or deleted):
            # Kea 2.2: the lease stays committed, the reply is dropped.
            self.stats.add("pkt4-receive-drop")
            self._log.debug("the parked-packet-limit {limit}, has been reached, dropping"
                            " query: xid={xid}", msg_id="DHCP4_HOOK_LEASES4_PARKING_LOT_FULL",
                            limit=limit, xid=query.xid)
            return None
        try:
            d = self.hooks.leases_committed(query, leases, deleted)
        except Exception:
            self._log.failure("leases4_committed hook failed for xid={xid}",
                              msg_id="DHCP4_HOOK_LEASES4_COMMITTED_FAILED", xid=query.xid)
            return None
        if not d.called:
            self.parked += 1
            d.addBoth(self._unpark)
        elif d.result is True:
            # Already decided (NoHA, or nothing to wait for): no callbacks.
            return reply

        def decided(send):
            if send is not True:
                self._log.debug("reply to xid={xid} dropped by leases4_committed",
                                msg_id="DHCP4_HOOK_LEASES4_COMMITTED_DROP", xid=query.xid)
                return None
            return reply

        def failed(failure):
            self._log.failure("leases4_committed hook failed for xid={xid}", failure,
                              msg_id="DHCP4_HOOK_LEASES4_COMMITTED_FAILED", xid=query.xid)
            return None

        return d.addCallbacks(decided, failed)

    def _unpark(self, result):
        self.parked -= 1
        return result

    # -- RELEASE / DECLINE -------------------------------------------------------

    def _release(self, query, hwaddr, client_id) -> Deferred | None:
        address = query.ciaddr
        lease = self.store.get(address)
        deleted = []
        if lease is None:
            self._log.debug("RELEASE of {address}: no lease", msg_id="DHCP4_RELEASE_FAIL_NO_LEASE",
                            address=str(address))
        elif not belongs_to_client(lease, hwaddr, client_id):
            self._log.debug("RELEASE of {address} by another client",
                            msg_id="DHCP4_RELEASE_FAIL_WRONG_CLIENT", address=str(address))
        elif self.store.delete(address):
            deleted.append(lease)
            self.counters.refresh_subnet(lease.subnet_id)
            self._log.info("released {address}", msg_id="DHCP4_RELEASE", address=str(address))
        return self._commit(query, None, [], deleted)

    def _decline(self, query, hwaddr, client_id, now) -> Deferred | None:
        requested = query.options.get(50)
        if requested is None or len(requested) != 4:
            # RFC violation: Kea drops and counts.
            return self._drop("DHCP4_PACKET_DROP_0007", query, 4)
        address = IPv4Address(requested)
        lease = self.store.get(address)
        leases = []
        if lease is None:
            self._log.warn("DECLINE of {address}: no lease", msg_id="DHCP4_DECLINE_LEASE_NOT_FOUND",
                           address=str(address))
        elif not belongs_to_client(lease, hwaddr, client_id):
            self._log.warn("DECLINE of {address} by another client",
                           msg_id="DHCP4_DECLINE_LEASE_MISMATCH", address=str(address))
        else:
            declined = lease.evolve(
                hwaddr=b"", client_id=None, cltt=now, hostname="", fqdn_fwd=False,
                fqdn_rev=False, state=LeaseState.DECLINED, valid_lft=self._probation)
            self.store.update(declined)
            self.counters.refresh_subnet(lease.subnet_id)
            self.stats.add("declined-addresses")
            leases.append(declined)
            self._log.info("{address} declined, probation {seconds} s",
                           msg_id="DHCP4_DECLINE_LEASE", address=str(address),
                           seconds=self._probation)
        return self._commit(query, None, leases, [])


__all__ = ["DHCPServer", "GLOBAL_STATISTICS", "SUBNET_STATISTICS", "BOOTREPLY", "FLAG_BROADCAST",
           "ZERO"]
