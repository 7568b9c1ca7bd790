"""
Real DHCP clients (udhcpc, dhclient, dhcpcd), the relay (dhcrelay) and a
packet sniffer (tcpdump), run inside a test's namespaces without touching
the host's configuration.

Each client runs in a private mount namespace (C{ip netns exec} gives it
one) with a fresh tmpfs on C{/run}, a throw-away file over
C{/etc/resolv.conf} and, for dhcpcd, a private C{/var/lib/dhcpcd}.  Its
"configure the interface" script is ours: it only records the variables
the client hands it, one file per event, so the test reads exactly what
the client saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from tests.integration.netns import Namespace
from tests.integration.procs import Proc, spawn, tail, wait_until

# Events after which a client holds a lease.
_BOUND_REASONS = {"bound", "BOUND", "REBOOT", "renew", "RENEW"}

_RECORD_SCRIPT = """#!/bin/sh
# Records what the DHCP client reports; configures nothing.
r="${{reason:-$1}}"
env > "{dir}/event.$r.$$.tmp" && mv "{dir}/event.$r.$$.tmp" "{dir}/event.$r.$$"
exit 0
"""

# Runs "$@" after hiding the host's /run, resolv.conf and dhcpcd database.
_SANDBOX = (
    "set -e; mount -t tmpfs khi /run; "
    "if [ -f /etc/resolv.conf ] && [ ! -L /etc/resolv.conf ]; then "
    'mount --bind "$0" /etc/resolv.conf; fi; '
    'if [ -d /var/lib/dhcpcd ]; then mount --bind "$1" /var/lib/dhcpcd; fi; '
    'shift; exec "$@"'
)


@dataclass(frozen=True)
class ClientLease:
    """What a client reported when it bound (C{None} where it said nothing)."""

    address: IPv4Address
    subnet_mask: str | None
    routers: str | None
    server_id: str | None
    lease_time: int | None
    renewal_time: int | None
    rebinding_time: int | None
    raw: dict


def _hex_int(value: str | None) -> int | None:
    return None if not value else int(value, 16)


def _int(value: str | None) -> int | None:
    return None if not value else int(value)


def parse_event(env: dict) -> ClientLease:
    """Normalise one recorded event of udhcpc or dhclient/dhcpcd."""
    if "new_ip_address" in env:  # dhclient, dhcpcd
        return ClientLease(
            IPv4Address(env["new_ip_address"]),
            env.get("new_subnet_mask"),
            env.get("new_routers"),
            env.get("new_dhcp_server_identifier"),
            _int(env.get("new_dhcp_lease_time")),
            _int(env.get("new_dhcp_renewal_time")),
            _int(env.get("new_dhcp_rebinding_time")),
            env,
        )
    return ClientLease(  # udhcpc
        IPv4Address(env["ip"]),
        env.get("subnet"),
        env.get("router"),
        env.get("serverid"),
        _int(env.get("lease")),
        _hex_int(env.get("opt58")),
        _hex_int(env.get("opt59")),
        env,
    )


class Client:
    """
    One run of a DHCP client in C{ns} on C{ifname}, recording into its
    own directory under C{workdir}.
    """

    kind = "abstract"

    def __init__(
        self, testcase, ns: Namespace, ifname: str, workdir: Path, name: str | None = None
    ):
        self.testcase = testcase
        self.ns = ns
        self.ifname = ifname
        self.name = name or self.kind
        self.dir = Path(workdir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.script = self.dir / "record.sh"
        self.script.write_text(_RECORD_SCRIPT.format(dir=self.dir))
        self.script.chmod(0o755)
        (self.dir / "resolv.conf").write_text("# kea-ha-tw integration test\n")
        (self.dir / "dhcpcd-db").mkdir(exist_ok=True)
        self.proc: Proc | None = None

    def argv(self, requested: str | None) -> list[str]:
        """The client's own command line."""
        raise NotImplementedError

    def start(self, requested: str | None = None) -> Client:
        """Start the client (optionally asking for address C{requested})."""
        sandbox = ["sh", "-c", _SANDBOX, str(self.dir / "resolv.conf"), str(self.dir / "dhcpcd-db")]
        argv = self.ns.exec_argv(sandbox + self.argv(requested))
        self.proc = spawn(self.testcase, self.name, argv, self.dir)
        return self

    def events(self) -> list[tuple[str, dict]]:
        """(reason, variables) of each event recorded so far, oldest first."""
        # The hook writes event.R.PID.tmp and renames it: skip those before
        # looking at them, as one may be renamed between glob and stat.
        stamped = []
        for path in self.dir.glob("event.*"):
            if path.name.endswith(".tmp"):
                continue
            try:
                stamped.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                continue
        found = []
        for _, path in sorted(stamped):
            reason = path.name.split(".")[1]
            env = {}
            for line in path.read_text(errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    env[key] = value
            found.append((reason, env))
        return found

    def wait_bound(self, timeout: float = 10) -> tuple[ClientLease, float]:
        """
        Wait (at most C{timeout} s from the client's start) for a bound
        event; the lease it reported and the seconds it took.
        """

        def bound():
            exited = not self.proc.alive()
            for reason, env in self.events():
                if reason in _BOUND_REASONS:
                    return parse_event(env)
            if exited:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}) unbound")
            return None

        remaining = max(0.1, timeout - (time.monotonic() - self.proc.started_at))
        try:
            lease = wait_until(bound, remaining, f"{self.name} to bind", interval=0.05)
        except AssertionError as e:  # add what the client said
            output = tail(self.proc.output())
            raise AssertionError(f"{e}\n--- {self.name} output ---\n{output}") from None
        return lease, time.monotonic() - self.proc.started_at

    def stop(self) -> None:
        """Stop the client if it still runs."""
        if self.proc is not None:
            self.proc.stop(5)


class Udhcpc(Client):
    """busybox udhcpc: foreground, quit once bound, give up after ~10 s."""

    kind = "udhcpc"

    def argv(self, requested):
        """C{udhcpc -f -q -n ... -s record.sh -O 58 -O 59}."""
        argv = [
            "udhcpc",
            "-i",
            self.ifname,
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-s",
            str(self.script),
            "-O",
            "58",
            "-O",
            "59",
        ]
        if requested:
            argv += ["-r", requested]
        return argv


class Dhclient(Client):
    """ISC dhclient: foreground, one try, private lease and pid files."""

    kind = "dhclient"

    def argv(self, requested):
        """C{dhclient -4 -d -1 -sf record.sh -lf ... -pf ... -cf /dev/null}."""
        if requested:
            raise ValueError("dhclient: a requested address needs a config file")
        return [
            "dhclient",
            "-4",
            "-d",
            "-1",
            "-v",
            "-sf",
            str(self.script),
            "-lf",
            str(self.dir / "dhclient.leases"),
            "-pf",
            str(self.dir / "dhclient.pid"),
            "-cf",
            "/dev/null",
            self.ifname,
        ]


class Dhcpcd(Client):
    """dhcpcd: IPv4 only, one shot, no ARP probing, no IPv4LL, our script."""

    kind = "dhcpcd"

    def argv(self, requested):
        """C{dhcpcd -4 -B -1 -A -L -c record.sh -f /dev/null -t 10}."""
        argv = [
            "dhcpcd",
            "-4",
            "-B",
            "-1",
            "-A",
            "-L",
            "-d",
            "-c",
            str(self.script),
            "-f",
            "/dev/null",
            "-t",
            "10",
        ]
        if requested:
            argv += ["-r", requested]
        return argv + [self.ifname]


CLIENTS = {c.kind: c for c in (Udhcpc, Dhclient, Dhcpcd)}


def start_relay(
    testcase, ns: Namespace, upstream: str, downstream: str, server: str, workdir: Path
) -> Proc:
    """
    ISC dhcrelay in the foreground in C{ns}, forwarding from
    C{downstream} to C{server} via C{upstream}; waits until it listens.
    """
    argv = ns.exec_argv(
        [
            "dhcrelay",
            "-4",
            "-d",
            "-pf",
            str(Path(workdir) / "dhcrelay.pid"),
            "-iu",
            upstream,
            "-id",
            downstream,
            server,
        ]
    )
    proc = spawn(testcase, "dhcrelay", argv, workdir)
    proc.wait_for_output(r"Sending on\s+Socket/fallback", 10)
    return proc


class Sniffer:
    """
    tcpdump on C{ifname} in C{ns}, DHCP ports only, one packet at a time
    into a pcap file, parsed with scapy afterwards.
    """

    def __init__(self, testcase, ns: Namespace, ifname: str, workdir: Path, name: str = "tcpdump"):
        self.pcap = Path(workdir) / f"{name}.pcap"
        argv = ns.exec_argv(
            [
                "tcpdump",
                "-i",
                ifname,
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-w",
                str(self.pcap),
                "udp and (port 67 or port 68)",
            ]
        )
        self.proc = spawn(testcase, name, argv, workdir)
        self.proc.wait_for_output(r"listening on", 10)

    def stop(self) -> None:
        """Stop capturing (the file is complete afterwards)."""
        time.sleep(0.2)  # let the last reply land in the capture
        self.proc.stop(5)

    def dhcp_replies(self, message_type: int) -> list[dict]:
        """
        The DHCP options (scapy names; C{yiaddr} added) of every captured
        reply of C{message_type} (2 OFFER, 5 ACK, 6 NAK).
        """
        from scapy.layers.dhcp import BOOTP, DHCP
        from scapy.utils import rdpcap

        found = []
        for pkt in rdpcap(str(self.pcap)):
            if BOOTP not in pkt or DHCP not in pkt or pkt[BOOTP].op != 2:
                continue
            opts = {
                o[0]: (o[1] if len(o) == 2 else o[1:])
                for o in pkt[DHCP].options
                if isinstance(o, tuple)
            }
            if opts.get("message-type") == message_type:
                opts["yiaddr"] = pkt[BOOTP].yiaddr
                found.append(opts)
        return found
