"""
Micro-benchmark of the receiving side of HA lease updates, without
sockets: N C{lease4-update} requests, as our peer client writes them,
through the HA listener's HTTP channel (the lean channel L{ControlSite}
builds, over a StringTransport) into the command registry and the lease
store.

    python -m bench.ha_listener [N] [--profile] [--memfile]

Prints microseconds per request (CPU).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from ipaddress import IPv4Address

from twisted.internet.testing import MemoryReactorClock, StringTransport

from bench import configs


def standby_config(d: str) -> dict:
    """The hot-standby standby's configuration (server2), its files in C{d}."""
    peers = [configs.Peer("server1", "10.99.0.1", "primary"),
             configs.Peer("server2", "10.99.0.2", "standby")]
    return configs.dhcp4(interface="eth0", socket_type="udp", lease_file=f"{d}/leases.csv",
                         relay="10.99.0.10", log_file=f"{d}/kea.log",
                         ha=configs.ha_parameters("hot-standby", "server2", peers,
                                                  multi_threading=True))


def build(memfile: bool):
    """A standby's composed server and its HA listener protocol."""
    from kea_ha_tw.commands.listener import build_control_resource, ha_listener_socket_config
    from kea_ha_tw.commands.resource import ControlSite
    from kea_ha_tw.config.loader import parse_config
    from kea_ha_tw.service import HA_RESTRICTED_COMMANDS, Server

    d = tempfile.mkdtemp(prefix="khb-listener-")
    cfg = standby_config(d)
    if not memfile:
        cfg["Dhcp4"]["lease-database"]["persist"] = False
    reactor = MemoryReactorClock()
    reactor.advance(1_795_600_000)
    server = Server(parse_config(json.dumps(cfg)), reactor, None)
    if hasattr(server.store, "open"):
        server.store.open()
    ha = server.config.ha
    resource = build_control_resource(server.registry, server.context,
                                      ha_listener_socket_config(ha),
                                      accept_commands=HA_RESTRICTED_COMMANDS)
    site = ControlSite(resource, reactor)
    proto = site.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, d


def requests(n: int) -> list[bytes]:
    """N lease4-update requests, bytes as PeerHTTPPool sends them."""
    from kea_ha_tw.ha.client import encode_command
    from kea_ha_tw.ha.peer_http import build_request_head
    from kea_ha_tw.ha.updates import lease_update_arguments
    from kea_ha_tw.leases.model import Lease4

    head, tail = build_request_head("10.99.0.2", None)
    first = int(IPv4Address("10.128.0.1"))
    out = []
    for i in range(n):
        lease = Lease4(address=IPv4Address(first + i),
                       hwaddr=(0x020000000000 + i).to_bytes(6, "big"),
                       client_id=None, valid_lft=4000, cltt=1_795_600_000, subnet_id=1)
        body = encode_command("lease4-update", lease_update_arguments(lease), "dhcp4")
        out.append(head + str(len(body)).encode() + tail + body)
    return out


def run(n: int, memfile: bool) -> None:
    """Feed the requests, check every answer, print the CPU per request."""
    proto, transport, _ = build(memfile)
    reqs = requests(n)
    ok = 0
    perf = time.process_time
    start = perf()
    for data in reqs:
        proto.dataReceived(data)
        out = transport.value()
        transport.clear()
        if b'"result": 0' in out:
            ok += 1
    spent = perf() - start
    if ok != n:
        sys.exit(f"only {ok} of {n} answers were successes; last answer: {out[-300:]!r}")
    print(f"{n} lease4-update requests: {spent / n * 1e6:.1f} us/request (CPU), "
          f"memfile={'yes' if memfile else 'no'}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 5000
    mem = "--memfile" in sys.argv
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        path = os.path.join(tempfile.gettempdir(), "khb-ha-listener.prof")
        cProfile.run("run(count, mem)", path)
        pstats.Stats(path).sort_stats("tottime").print_stats(30)
    else:
        run(count, mem)
