"""
Micro-benchmark of the DHCP hot path without sockets: a 4-way exchange
(DISCOVER, OFFER, REQUEST, ACK) as bytes through decode -> DHCPServer.handle
-> encode, for N distinct relayed clients, with an in-memory lease store.

    python -m bench.dhcp_handle [N] [--profile]

Prints microseconds per exchange (and per step).
"""

from __future__ import annotations

import sys
import time
from ipaddress import IPv4Address, IPv4Network

from twisted.internet.task import Clock

from kea_ha_tw.config.model import OptionData, PoolConfig, ServerConfig, SubnetConfig
from kea_ha_tw.dhcp.codec import decode, encode
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.netif import InterfaceInfo
from kea_ha_tw.dhcp.packet import DHCPPacket
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics

LO = InterfaceInfo("lo", 1, IPv4Address("127.0.0.1"), IPv4Address("255.0.0.0"), b"",
                   IPv4Address("127.255.255.255"))
RELAY = IPv4Address("127.0.0.2")
PRL = bytes([1, 3, 6, 15, 28, 42])


def store():
    from kea_ha_tw.leases.memory import InMemoryLeaseStore
    return InMemoryLeaseStore()


def server():
    cfg = ServerConfig(
        subnets=(SubnetConfig(
            id=1, subnet=IPv4Network("10.0.0.0/8"),
            pools=(PoolConfig(IPv4Address("10.0.0.1"), IPv4Address("10.255.255.254")),),
            relay_addresses=(RELAY,),
            option_data=(OptionData(3, "routers", IPv4Address("10.0.0.254").packed),)),),
        option_data=(OptionData(6, "domain-name-servers", IPv4Address("10.0.0.53").packed),
                     OptionData(15, "domain-name", b"example.org")),
        valid_lifetime=4000, renew_timer=1000, rebind_timer=2000)
    clock = Clock()
    clock.advance(1795600000)
    return DHCPServer(cfg, store(), NoHA(), NetworkState(clock), Statistics(clock), clock)


def queries(n):
    out = []
    for i in range(n):
        mac = b"\x02\x00" + i.to_bytes(4, "big")
        common = dict(op=1, htype=1, hlen=6, hops=1, xid=i, giaddr=RELAY,
                      chaddr=mac + b"\x00" * 10)
        d = encode(DHCPPacket(options={53: b"\x01", 55: PRL, 61: b"\x01" + mac}, **common))
        out.append((mac, common, d))
    return out


def run(n):
    srv = server()
    src = ("127.0.0.2", 67)
    qs = queries(n)
    times = [0.0, 0.0, 0.0]  # decode, handle, encode
    perf = time.process_time

    def exchange(data):
        a = perf()
        q = decode(data)
        b = perf()
        reply = srv.process(q, LO, src)
        c = perf()
        encode(reply)
        e = perf()
        times[0] += b - a
        times[1] += c - b
        times[2] += e - c
        return reply

    start = perf()
    for mac, common, d in qs:
        offer = exchange(d)
        req = encode(DHCPPacket(options={53: b"\x03", 55: PRL, 61: b"\x01" + mac,
                                         50: offer.yiaddr.packed, 54: offer.options[54]},
                                **common))
        ack = exchange(req)
        assert ack.options[53] == b"\x05", ack
    t_dec, t_handle, t_enc = times
    total = t_dec + t_handle + t_enc
    print(f"{n} exchanges: {total / n * 1e6:.1f} us/exchange "
          f"(decode {t_dec / n * 1e6:.1f}, handle {t_handle / n * 1e6:.1f}, "
          f"encode {t_enc / n * 1e6:.1f}); CPU incl. building queries "
          f"{(perf() - start) / n * 1e6:.1f} us")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20000
    if "--profile" in sys.argv:
        import cProfile
        import pstats
        cProfile.run("run(n)", "/tmp/dhcp_handle.prof")
        pstats.Stats("/tmp/dhcp_handle.prof").sort_stats("tottime").print_stats(25)
    else:
        run(n)
