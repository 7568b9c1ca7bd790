"""
perfdhcp (Kea's load generator): the command line the bench runs and a
parser of what it prints. Pure: no processes here.

perfdhcp 2.2 prints, for a 4-way run, a "Rate:" line and one block per
exchange ("***Statistics for: DISCOVER-OFFER***", "...: REQUEST-ACK***")
with "sent packets", "received packets", "drops", delays in ms; with
C{-x t} it then prints, per exchange, one "sent / received: S / R" line
(seconds) per successful exchange, from which the bench takes medians
and 99th percentiles.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

DISCOVER_OFFER = "DISCOVER-OFFER"
REQUEST_ACK = "REQUEST-ACK"

_RATE = re.compile(r"^Rate:\s*([0-9.eE+-]+)\s.*?expected rate:\s*([0-9.eE+-]+)")
_BLOCK = re.compile(r"^\*\*\*Statistics for:\s*(\S+?)\*\*\*")
_STAMPS = re.compile(r"^\*\*\*Timestamps for packets:\s*(\S+?)\*\*\*")
_FIELD = re.compile(r"^([a-z][a-z /]*?):\s*([0-9.eE+-]+)\s*(ms|%)?\s*$")
_STAMP = re.compile(r"^sent / received:\s*([0-9.]+)\s*/\s*([0-9.]+)\s*$")

_INT_FIELDS = {
    "sent packets": "sent",
    "received packets": "received",
    "drops": "drops",
    "orphans": "orphans",
    "rejected leases": "rejected",
    "non unique addresses": "non_unique",
    "collected packets": "collected",
}
_FLOAT_FIELDS = {
    "drops ratio": "drops_ratio",
    "min delay": "min_delay_ms",
    "avg delay": "avg_delay_ms",
    "max delay": "max_delay_ms",
    "std deviation": "std_delay_ms",
}


def command(rate: int, duration: float, local: str, server: str | None = None, *,
            clients: int = 100000, wait_us: int = 200000, timestamps: bool = False,
            threads: str = "single", max_packets: int | None = None) -> list[str]:
    """
    The perfdhcp argv for a C{duration}-second 4-way DORA run at C{rate}
    exchanges/s from C{local} (address or interface: perfdhcp acts as a
    relay, giaddr = that address). C{server=None} broadcasts.
    C{timestamps} adds C{-x t} (per-exchange timers, for latency).
    """
    if rate < 1 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    argv = ["perfdhcp", "-4", "-g", threads, "-r", str(int(rate)), "-R", str(int(clients)),
            "-p", _period(duration), "-W", str(int(wait_us)), "-l", local]
    if max_packets is not None:
        argv[1:1] = ["-n", str(int(max_packets))]
    if timestamps:
        argv += ["-x", "t"]
    if server is not None:
        argv.append(server)
    return argv


def _period(duration: float) -> str:
    if float(duration).is_integer():
        return str(int(duration))
    return f"{duration:g}"


@dataclass
class ExchangeStats:
    """One perfdhcp statistics block (one exchange type)."""

    name: str
    sent: int = 0
    received: int = 0
    drops: int = 0
    drops_ratio: float = 0.0
    orphans: int = 0
    rejected: int = 0
    non_unique: int = 0
    collected: int = 0
    min_delay_ms: float | None = None
    avg_delay_ms: float | None = None
    max_delay_ms: float | None = None
    std_delay_ms: float | None = None
    delays_ms: list[float] = field(default_factory=list)


@dataclass
class PerfResult:
    """What one perfdhcp run printed."""

    rate: float | None = None
    expected_rate: float | None = None
    exchanges: dict[str, ExchangeStats] = field(default_factory=dict)
    malformed: int = 0

    def _get(self, name: str) -> ExchangeStats:
        return self.exchanges.get(name) or ExchangeStats(name)

    @property
    def discovers_sent(self) -> int:
        """DISCOVERs perfdhcp sent."""
        return self._get(DISCOVER_OFFER).sent

    @property
    def offers_received(self) -> int:
        """OFFERs that matched a DISCOVER."""
        return self._get(DISCOVER_OFFER).received

    @property
    def acks_received(self) -> int:
        """ACKs (or NAKs: perfdhcp does not tell them apart) that matched a REQUEST."""
        return self._get(REQUEST_ACK).received

    @property
    def loss(self) -> float:
        """
        The fraction of DISCOVERs that did not end in an ACK, 0..1 (the
        "drops" of the rate search); 1.0 when nothing was sent.
        """
        sent = self.discovers_sent
        if sent <= 0:
            return 1.0
        return max(0.0, 1.0 - self.acks_received / sent)

    def latency(self, name: str = REQUEST_ACK) -> tuple[float | None, float | None]:
        """(median, 99th percentile) in ms of exchange C{name}, from C{-x t} timers."""
        delays = self._get(name).delays_ms
        return percentile(delays, 50), percentile(delays, 99)


def parse(text: str) -> PerfResult:
    """
    Parse perfdhcp's output. Unknown lines are ignored; a run that printed
    no statistics (it failed to start) gives a result with no exchanges.
    """
    result = PerfResult()
    block: ExchangeStats | None = None
    stamps: ExchangeStats | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _STAMP.match(line)
        if m:
            if stamps is not None:
                sent, received = float(m.group(1)), float(m.group(2))
                stamps.delays_ms.append((received - sent) * 1000.0)
            continue
        m = _RATE.match(line)
        if m:
            result.rate = float(m.group(1))
            result.expected_rate = float(m.group(2))
            continue
        m = _BLOCK.match(line)
        if m:
            block = result.exchanges.setdefault(m.group(1), ExchangeStats(m.group(1)))
            stamps = None
            continue
        m = _STAMPS.match(line)
        if m:
            stamps = result.exchanges.setdefault(m.group(1), ExchangeStats(m.group(1)))
            block = None
            continue
        if line.startswith("Malformed packets:"):
            result.malformed = int(line.split(":", 1)[1].strip() or 0)
            continue
        if line.startswith("***"):
            block = stamps = None
            continue
        if block is None:
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2)
        if key in _INT_FIELDS:
            setattr(block, _INT_FIELDS[key], int(float(value)))
        elif key in _FLOAT_FIELDS:
            setattr(block, _FLOAT_FIELDS[key], float(value))
    return result


def percentile(values: list[float], q: float) -> float | None:
    """
    The C{q}-th percentile (0..100) of C{values} by linear interpolation
    between closest ranks (numpy's default); C{None} for no values.
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)
