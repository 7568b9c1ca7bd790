"""
A minimal runnable DHCP server for tests/integration/test_dhcp_smoke.py
(and manual benchmarks and Kea comparisons): the DHCP layer on the real
reactor, no HA, leases in memory. Not the product's entry point (that is
C{twistd kea-ha}).

Usage: python -m tests.integration.dhcp_smoke_runner [--socket-type raw|udp]
       [--seconds N] [--profile FILE] INTERFACE... --subnet CIDR --pool A-B [--relay IP]
   or: python -m tests.integration.dhcp_smoke_runner --config KEA.json [--seconds N]

Prints C{READY} once listening; on exit (SIGTERM, SIGINT or after
--seconds) prints C{STATS <json>} with the statistics.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from ipaddress import IPv4Address, IPv4Network

from twisted.internet import reactor

from kea_ha_tw.config.model import OptionData, PoolConfig, ServerConfig, SubnetConfig
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.netif import DHCPListenerService
from kea_ha_tw.dhcp.protocol import DHCPServerProtocol
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics


def _store():
    try:
        from kea_ha_tw.leases.memory import InMemoryLeaseStore
        return InMemoryLeaseStore()
    except ImportError:
        from tests.builders import DictLeaseStore
        return DictLeaseStore()


def _config(a) -> ServerConfig:
    """One subnet from the command line."""
    start, end = a.pool.split("-")
    opts = ()
    if a.router:
        opts = (OptionData(3, "routers", IPv4Address(a.router).packed),)
    return ServerConfig(
        subnets=(SubnetConfig(id=1, subnet=IPv4Network(a.subnet),
                              pools=(PoolConfig(IPv4Address(start.strip()),
                                                IPv4Address(end.strip())),),
                              relay_addresses=tuple(IPv4Address(r) for r in a.relay),
                              option_data=opts),),
        interfaces=tuple(a.interfaces), dhcp_socket_type=a.socket_type,
        valid_lifetime=4000, renew_timer=1000, rebind_timer=2000)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("interfaces", nargs="*")
    p.add_argument("--config")
    p.add_argument("--subnet")
    p.add_argument("--pool")
    p.add_argument("--relay", action="append", default=[])
    p.add_argument("--router")
    p.add_argument("--socket-type", default="udp")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--profile")
    a = p.parse_args(argv)
    if a.config:
        from kea_ha_tw.config.loader import load_config
        cfg = load_config(a.config)
    else:
        cfg = _config(a)
    stats = Statistics(reactor)
    server = DHCPServer(cfg, _store(), NoHA(), NetworkState(reactor), stats, reactor)
    svc = DHCPListenerService(
        reactor, cfg.interfaces,
        lambda iface, raw: DHCPServerProtocol(server, iface, reactor, raw), cfg.dhcp_socket_type)
    svc.privilegedStartService()
    svc.startService()
    profiler = None
    if a.profile:
        import cProfile
        import time
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()

    def finish(*_):
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(a.profile)
        print("STATS " + json.dumps({n: stats.get(n) for n in stats.names()}), flush=True)
        if reactor.running:
            reactor.stop()

    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(finish))
    signal.signal(signal.SIGINT, lambda *_: reactor.callFromThread(finish))
    reactor.callLater(a.seconds, finish)
    print("READY " + " ".join(f"{i.name}={i.address}" for i in svc.interfaces), flush=True)
    reactor.run(installSignalHandlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
