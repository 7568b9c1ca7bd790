"""
Where a held DHCP reply's time goes on an HA primary, from a packet
capture of the primary's interface (C{tcpdump -i eth0 -w FILE} in its
namespace while perfdhcp loads the pair).

    python -m bench.latency_split FILE [--server 10.99.0.1] [--peer-port 8000]

For every DHCPREQUEST answered with a DHCPACK whose lease went to the
partner in a C{lease4-update} or C{lease4-batch-update}, it splits the
REQUEST-in to ACK-out time (as seen on the wire) into: REQUEST in -> the
update carrying its address out (the primary's own work and queueing),
update out -> the partner's answer in on that connection (the partner's
round trip), answer in -> ACK out (the primary again). Prints medians,
90th percentiles and means, and the leases per update request.
"""

from __future__ import annotations

import bisect
import re
import statistics
import sys
from collections import defaultdict

_IP = re.compile(rb'"ip-address": *"([0-9.]+)"')


def _message_type(options) -> int | None:
    for option in options:
        if isinstance(option, tuple) and option[0] == "message-type":
            return option[1]
    return None


def split(packets, server: str, peer_port: int) -> dict[str, list[float]]:
    """
    The three parts and the total (seconds) of every matched exchange in
    C{packets} (scapy packets with C{.time}); also C{"rtt"} for every update
    request and C{"leases_per_request"}.
    """
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, TCP, UDP

    requests: dict[int, float] = {}
    acks: dict[int, tuple[float, str]] = {}
    updates: list[tuple[float, int, list[str]]] = []
    answers: dict[int, list[float]] = defaultdict(list)
    for p in packets:
        t = float(p.time)
        if UDP in p and BOOTP in p and DHCP in p:
            mtype = _message_type(p[DHCP].options)
            if mtype == 3 and p[IP].src != server:
                requests.setdefault(p[BOOTP].xid, t)
            elif mtype == 5 and p[IP].src == server:
                acks.setdefault(p[BOOTP].xid, (t, p[BOOTP].yiaddr))
        elif TCP in p and len(p[TCP].payload):
            if p[IP].src == server and p[TCP].dport == peer_port:
                ips = [m.decode() for m in _IP.findall(bytes(p[TCP].payload))]
                updates.append((t, p[TCP].sport, ips))
            elif p[IP].dst == server and p[TCP].sport == peer_port:
                answers[p[TCP].dport].append(t)
    first_update: dict[str, tuple[float, int]] = {}
    out: dict[str, list[float]] = {"in": [], "peer": [], "out": [], "total": [], "rtt": [],
                                   "leases_per_request": []}
    for t, port, ips in updates:
        for ip in ips:
            first_update.setdefault(ip, (t, port))
        answer = _next(answers[port], t)
        if answer is not None:
            out["rtt"].append(answer - t)
            out["leases_per_request"].append(len(ips))
    for xid, t0 in requests.items():
        if xid not in acks:
            continue
        t3, address = acks[xid]
        if address not in first_update:
            continue
        t1, port = first_update[address]
        t2 = _next(answers[port], t1)
        if t2 is None or not t0 <= t1 <= t2 <= t3:
            continue
        out["in"].append(t1 - t0)
        out["peer"].append(t2 - t1)
        out["out"].append(t3 - t2)
        out["total"].append(t3 - t0)
    return out


def _next(times: list[float], after: float) -> float | None:
    i = bisect.bisect_left(times, after)
    return times[i] if i < len(times) else None


def summary(parts: dict[str, list[float]]) -> list[str]:
    """Printable lines: median, p90 and mean (ms) per part."""
    names = (("in", "REQUEST in -> update out"), ("peer", "update out -> answer in"),
             ("out", "answer in -> ACK out"), ("total", "REQUEST in -> ACK out"),
             ("rtt", "every update's round trip"))
    lines = []
    for key, label in names:
        values = sorted(parts[key])
        if not values:
            lines.append(f"{label:28s} no samples")
            continue
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        median = statistics.median(values) * 1e3
        mean = statistics.mean(values) * 1e3
        lines.append(f"{label:28s} n={len(values):6d}  median {median:7.3f} ms"
                     f"  p90 {p90 * 1e3:7.3f} ms  mean {mean:7.3f} ms")
    per = parts["leases_per_request"]
    if per:
        lines.append(f"leases per update request: mean {statistics.mean(per):.2f} over {len(per)}")
    return lines


def main(argv: list[str]) -> int:
    """Read the capture named in C{argv} and print the split."""
    import scapy.layers.l2  # noqa: F401 - registers Ethernet, so frames are dissected
    from scapy.utils import PcapReader

    if not argv:
        print(__doc__)
        return 2
    server, port = "10.99.0.1", 8000
    if "--server" in argv:
        server = argv[argv.index("--server") + 1]
    if "--peer-port" in argv:
        port = int(argv[argv.index("--peer-port") + 1])
    with PcapReader(argv[0]) as packets:
        parts = split(packets, server, port)
    print("\n".join(summary(parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
