"""
Network namespaces for the integration tests.

Every test builds its own little network out of namespaces called
C{khi-<random>-<role>}: veth pairs are created directly inside the
namespaces (C{ip -n NS link add ... peer ... netns OTHER}), so nothing is
ever added to, or addressed in, the host's own namespace.  All addresses
live in 10.77.0.0/16 (or 127.0.0.0/8 on a namespace's own loopback).

A L{Lab} belongs to one test: it registers its teardown with the test's
C{addCleanup} as soon as something exists, so namespaces and the
processes inside them disappear even when the test fails half way.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

PREFIX = "khi-"
# scripts/test sets KHI_RUN to a per-run tag and, whatever happens to trial,
# removes every namespace (and what runs in it) named PREFIX + KHI_RUN + ...
RUN_TAG = "".join(c for c in os.environ.get("KHI_RUN", "") if c.isalnum() or c == "-")[:8]
# Every address the tests configure must be inside this prefix (or 127/8).
TEST_NET = "10.77.0.0/16"


def skip_reason() -> str | None:
    """
    Why the integration tests cannot run here, or C{None} if they can.

    They need root (namespaces, raw sockets, port 67) and a working
    C{ip netns}.
    """
    if os.geteuid() != 0:
        return "integration tests need root (they create network namespaces)"
    if shutil.which("ip") is None:
        return "integration tests need iproute2 ('ip' not found)"
    probe = f"{PREFIX}probe-{secrets.token_hex(3)}"
    try:
        made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"'ip netns add' is unavailable: {e}"
    if made.returncode != 0:
        return "'ip netns add' is unavailable: " + made.stderr.decode(errors="replace").strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


def run(
    argv: Sequence[str], timeout: float = 10, check: bool = True
) -> subprocess.CompletedProcess:
    """
    Run C{argv} to completion (bounded by C{timeout} seconds) and return
    the completed process with text output.  With C{check}, a non-zero
    exit raises C{RuntimeError} carrying the command and its output.
    """
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        said = f"{done.stdout.strip()} {done.stderr.strip()}"
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {said}")
    return done


class Namespace:
    """One network namespace owned by a test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """C{argv} prefixed so that it runs inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], timeout: float = 10, check: bool = True):
        """Run C{argv} inside this namespace to completion (see L{run})."""
        return run(self.exec_argv(argv), timeout=timeout, check=check)

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        """Run C{ip -n NAME ARGS...}; raises on failure."""
        return run(["ip", "-n", self.name, *args])

    def pids(self) -> list[int]:
        """Process ids currently running inside this namespace."""
        out = run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(p) for p in out.split()]

    def udp_listeners(self) -> str:
        """C{ss -H -ulnp} inside the namespace: the bound UDP sockets."""
        return self.run(["ss", "-H", "-ulnp"], check=False).stdout

    def mac(self, ifname: str) -> str:
        """The MAC address of C{ifname} in this namespace."""
        out = self.ip("-o", "link", "show", ifname).stdout
        return out.split("link/ether", 1)[1].split()[0]


class Lab:
    """
    The namespaces of one test, torn down by the test's cleanup.

    @ivar tag: the random part shared by all of this lab's namespace names.
    """

    def __init__(self, testcase) -> None:
        self.tag = secrets.token_hex(3)
        self.namespaces: list[Namespace] = []
        testcase.addCleanup(self.destroy)

    def namespace(self, role: str, loopback: bool = True) -> Namespace:
        """Create C{khi-<tag>-<role>}, with C{lo} up unless told otherwise."""
        ns = Namespace(f"{PREFIX}{RUN_TAG}{self.tag}-{role}")
        run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        if loopback:
            ns.ip("link", "set", "lo", "up")
        return ns

    def veth(
        self, a: Namespace, a_if: str, b: Namespace, b_if: str, b_mac: str | None = None
    ) -> None:
        """A veth pair C{a_if}@C{a} <-> C{b_if}@C{b}, both ends up."""
        peer = ["peer", "name", b_if, "netns", b.name]
        if b_mac:
            peer[3:3] = ["address", b_mac]
        a.ip("link", "add", a_if, "type", "veth", *peer)
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")

    def destroy(self) -> None:
        """Kill what still runs in this lab's namespaces, then delete them."""
        for ns in reversed(self.namespaces):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                pids = ns.pids()
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 3
                while pids and ns.pids() and time.monotonic() < deadline:
                    time.sleep(0.05)
            run(["ip", "netns", "del", ns.name], check=False)
        self.namespaces = []


def set_mac(ns: Namespace, ifname: str, mac: str) -> None:
    """Give C{ifname} in C{ns} a new MAC address (link down, change, up)."""
    ns.ip("link", "set", ifname, "down")
    ns.ip("link", "set", ifname, "address", mac)
    ns.ip("link", "set", ifname, "up")


def random_mac() -> str:
    """A random locally administered unicast MAC address."""
    octets = bytearray(secrets.token_bytes(6))
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{o:02x}" for o in octets)


# ---------------------------------------------------------------------------
# The standard topologies.  Server side addresses are fixed (namespaces are
# private, so tests never collide); the names carry the lab's random tag.

SERVER_ADDR = "10.77.1.1"
RELAY_UP_ADDR = "10.77.1.2"
RELAY_DOWN_ADDR = "10.77.2.1"


def direct_link(lab: Lab) -> tuple[Namespace, Namespace]:
    """
    Server namespace C{s} (C{s0} = 10.77.1.1/24) and client namespace C{c}
    (C{c0}, no address) on one veth link.
    """
    srv = lab.namespace("s")
    cli = lab.namespace("c")
    lab.veth(srv, "s0", cli, "c0")
    srv.ip("addr", "add", f"{SERVER_ADDR}/24", "dev", "s0")
    return srv, cli


def relayed_link(lab: Lab) -> tuple[Namespace, Namespace, Namespace]:
    """
    Server C{s} (C{s0} 10.77.1.1/24) -- relay C{r} (C{r1} 10.77.1.2/24,
    C{r0} 10.77.2.1/24) -- client C{c} (C{c0}, no address); the server
    routes 10.77.2.0/24 back through the relay.
    """
    srv = lab.namespace("s")
    rel = lab.namespace("r")
    cli = lab.namespace("c")
    lab.veth(srv, "s0", rel, "r1")
    lab.veth(rel, "r0", cli, "c0")
    srv.ip("addr", "add", f"{SERVER_ADDR}/24", "dev", "s0")
    rel.ip("addr", "add", f"{RELAY_UP_ADDR}/24", "dev", "r1")
    rel.ip("addr", "add", f"{RELAY_DOWN_ADDR}/24", "dev", "r0")
    srv.ip("route", "add", "10.77.2.0/24", "via", RELAY_UP_ADDR)
    return srv, rel, cli


def loopback_only(lab: Lab) -> Namespace:
    """
    One namespace C{p} whose C{lo} carries 127.0.0.1 and 127.0.0.2: the
    server listens on 127.0.0.1:67 and perfdhcp plays a relay from
    127.0.0.2 (see docs/kea-baseline "Topology").
    """
    ns = lab.namespace("p")
    ns.ip("addr", "add", "127.0.0.2/8", "dev", "lo")
    return ns
