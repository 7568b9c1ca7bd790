"""
Complete kea-ha-tw servers in one process, for the two- and three-server
HA tests: each node is the composition root's L{Server} (lease store, HA,
command registry and context, DHCP server) with its HA listener resource;
peers reach each other through StubTreq over those real resource trees,
and every node runs on one shared clock (a node may see it with an offset,
to make clock skew).

A stopped node refuses connections; a "partitioned" node is unreachable
both ways.
"""

from __future__ import annotations

import dataclasses
import json
from ipaddress import IPv4Address
from typing import Any
from urllib.parse import urlsplit

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from kea_ha_tw.commands.listener import build_control_resource, ha_listener_socket_config
from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.dhcp.netif import InterfaceInfo
from kea_ha_tw.dhcp.packet import DHCPPacket, MessageType
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS, Server
from tests.builders import discover, request, release, decline

#: A time in 2026, so leases and heartbeats carry realistic dates.
T0 = 1795593600.0


class OffsetClock:
    """The shared clock seen C{offset} seconds ahead (timers run on the shared one)."""

    def __init__(self, clock: Clock, offset: float) -> None:
        self._clock = clock
        self.offset = offset

    def seconds(self) -> float:
        """Shared time plus the offset."""
        return self._clock.seconds() + self.offset

    def callLater(self, delay, f, *args, **kwargs):  # noqa: N802 - IReactorTime
        """Schedule on the shared clock."""
        return self._clock.callLater(delay, f, *args, **kwargs)

    def getDelayedCalls(self):  # noqa: N802 - IReactorTime
        """The shared clock's pending calls."""
        return self._clock.getDelayedCalls()


def ha_server_json(this: str, mode: str, peers: list[tuple[str, str, str]],
                   pools: list[tuple[str, str | None]] | None = None, **ha: Any) -> str:
    """
    A Kea-style C{Dhcp4} configuration for one node. C{peers} are
    C{(name, role, ip)}; every peer listens on port 8001.
    """
    params: dict[str, Any] = {
        "this-server-name": this,
        "mode": mode,
        "heartbeat-delay": 1000,
        "max-response-delay": 3000,
        "max-ack-delay": 1000,
        "max-unacked-clients": 2,
        "sync-timeout": 5000,
        "peers": [{"name": n, "url": f"http://{ip}:8001/", "role": r} for n, r, ip in peers],
    }
    params.update({k.replace("_", "-"): v for k, v in ha.items()})
    if pools is None:
        pools = [("192.0.2.100 - 192.0.2.199", None)]
    pool_list = []
    for span, client_class in pools:
        entry: dict[str, Any] = {"pool": span}
        if client_class:
            entry["client-class"] = client_class
        pool_list.append(entry)
    config = {"Dhcp4": {
        "interfaces-config": {"interfaces": []},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
        "hooks-libraries": [
            {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"},
            {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
             "parameters": {"high-availability": [params]}}],
        "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": pool_list,
                     "option-data": [{"name": "routers", "data": "192.0.2.1"}]}],
    }}
    return json.dumps(config)


class Node:
    """One complete server."""

    def __init__(self, cluster: Cluster, name: str, config_text: str, index: int,
                 clock_offset: float = 0.0) -> None:
        self.cluster = cluster
        self.name = name
        self.config = parse_config(config_text)
        self.clock = cluster.clock if not clock_offset else OffsetClock(cluster.clock, clock_offset)
        self.server = Server(self.config, self.clock, None,
                             http_client_factory=lambda reactor, peers, tls: cluster.router)
        ha = self.config.ha
        me = ha.this_peer
        self.address = (me.host, me.port)
        accept = HA_RESTRICTED_COMMANDS if ha.restrict_commands else None
        self.resource = build_control_resource(
            self.server.registry, self.server.context, ha_listener_socket_config(ha),
            accept_commands=accept)
        self.stub = StubTreq(self.resource)
        self.iface = InterfaceInfo(
            name="eth0", index=2, address=IPv4Address(f"192.0.2.{index}"),
            netmask=IPv4Address("255.255.255.0"), mac=bytes([2, 0, 0, 0, 0, index]),
            broadcast=IPv4Address("192.0.2.255"))
        self.server.dhcp.add_local_address(self.iface.address)
        self.up = False
        self.reachable = True

    # -- life cycle --------------------------------------------------------

    @property
    def ha(self):
        """The node's HAService."""
        return self.server.ha

    @property
    def store(self):
        """The node's lease store."""
        return self.server.store

    @property
    def state(self) -> str:
        """The node's HA state label."""
        return self.server.ha.state.value

    def start(self) -> None:
        """Start the lease store and HA (as the service tree would)."""
        self.server.lease_service.startService()
        self.server.ha.startService()
        self.up = True

    def crash(self) -> None:
        """Stop answering at once (connections are refused from now on)."""
        self.up = False
        self.server.ha.stopService()
        self.server.lease_service.stopService()

    # -- DHCP ----------------------------------------------------------------

    def handle(self, query: DHCPPacket) -> DHCPPacket | None:
        """Run C{query}; the reply (after lease updates settled) or None."""
        if not self.up:
            return None
        result: list[Any] = []
        d = self.server.dhcp.handle(query, self.iface, ("0.0.0.0", 68))
        d.addBoth(result.append)
        self.cluster.settle()
        if not result:
            raise AssertionError(f"{self.name}: DHCP reply still pending")
        if not isinstance(result[0], (DHCPPacket, type(None))):
            result[0].raiseException()
        return result[0]

    # -- commands -------------------------------------------------------------

    def command(self, name: str, arguments: Any = None) -> dict:
        """Send a command to this node's HA listener like an operator; its answer."""
        body: dict[str, Any] = {"command": name}
        if arguments is not None:
            body["arguments"] = arguments
        out: list[Any] = []
        d = self.stub.post(f"http://{self.address[0]}:{self.address[1]}/",
                           data=json.dumps(body).encode(),
                           headers={b"Content-Type": [b"application/json"]})
        d.addCallback(lambda response: response.json())
        d.addBoth(out.append)
        self.cluster.settle()
        if not out:
            raise AssertionError(f"{self.name}: {name} still pending")
        if not isinstance(out[0], list):
            raise AssertionError(f"{self.name}: {name} answered {out[0]!r}")
        return out[0][0]


class _Router:
    """The HTTP client every node's PeerClients share: routes by host:port."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def request(self, method: str, url: str, **kwargs: Any):
        """Deliver to the node listening at C{url}, or refuse."""
        parts = urlsplit(url)
        node = self.cluster.by_address.get((parts.hostname, parts.port))
        if node is None or not node.up or not node.reachable:
            return fail(ConnectionRefusedError("Connection refused"))
        self.cluster.requests.append((node.name, kwargs.get("data")))
        if self.cluster.hold_requests:
            # Delivered at the next settle(): requests overlap, as on a network.
            held: Deferred = Deferred()
            self.cluster.held.append((held, node, method, url, kwargs))
            return held
        return node.stub.request(method, url, **kwargs)


class Cluster:
    """Nodes sharing one clock and one in-memory network."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.nodes: dict[str, Node] = {}
        self.by_address: dict[tuple[str, int], Node] = {}
        self.router = _Router(self)
        self.requests: list[tuple[str, bytes | None]] = []
        #: When True, peer requests wait for the next L{settle} instead of
        #: being delivered at once.
        self.hold_requests = False
        self.held: list[tuple[Deferred, Node, str, str, dict]] = []

    def add(self, name: str, config_text: str, index: int, clock_offset: float = 0.0) -> Node:
        """Build (not start) a node."""
        node = Node(self, name, config_text, index, clock_offset)
        self.nodes[name] = node
        self.by_address[node.address] = node
        return node

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def settle(self) -> None:
        """Deliver every pending HTTP exchange."""
        for _ in range(50):
            before = len(self.requests)
            held, self.held = self.held, []
            for d, node, method, url, kwargs in held:
                node.stub.request(method, url, **kwargs).chainDeferred(d)
            for node in self.nodes.values():
                node.stub.flush()
            if len(self.requests) == before and not self.held:
                break

    def advance(self, seconds: float, step: float = 0.25) -> None:
        """Let C{seconds} pass in small steps, settling the network after each."""
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            self.settle()
            remaining -= delta

    def states(self) -> dict[str, str]:
        """Every node's HA state label."""
        return {name: node.state for name, node in self.nodes.items()}

    def run_until(self, wanted: dict[str, str], limit_s: float = 60.0) -> float:
        """Advance until the nodes are in C{wanted}; return the time it took."""
        waited = 0.0
        while waited < limit_s:
            if all(self.nodes[n].state == s for n, s in wanted.items()):
                return waited
            self.advance(0.25)
            waited += 0.25
        raise AssertionError(f"states {self.states()} never became {wanted}")


# -- DHCP client helpers -----------------------------------------------------------


def mac(n: int) -> bytes:
    """A client MAC address."""
    return bytes([0x0A, 0x00, 0x00, 0x00, (n >> 8) & 0xFF, n & 0xFF])


def get_lease(nodes: list[Node], hw: bytes, xid: int = 0x1000, secs: int = 0):
    """
    DISCOVER to every node, REQUEST to every node (as a broadcasting
    client does); return (the node that ACKed, the ACK) or (None, None).
    """
    query = discover(hw, xid=xid)
    if secs:
        query = dataclasses.replace(query, secs=secs)
    offers = [(n, n.handle(query)) for n in nodes]
    offers = [(n, o) for n, o in offers if o is not None]
    if not offers:
        return None, None
    node, offer = offers[0]
    server_id = str(IPv4Address(offer.options[54]))
    acks = [(n, n.handle(request(hw, xid=xid + 1, requested=str(offer.yiaddr),
                                 server_id=server_id)))
            for n in nodes]
    acks = [(n, a) for n, a in acks if a is not None and a.message_type == MessageType.ACK]
    if not acks:
        return None, None
    return acks[0]


__all__ = ["Cluster", "Node", "OffsetClock", "T0", "get_lease", "ha_server_json", "mac",
           "release", "decline"]
