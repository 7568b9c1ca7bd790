"""
The HA integration lab: a bridge and one namespace per HA server, peers
that can be real C{kea-dhcp4} or C{twistd kea-ha}, and the probes the
tests use on them (Kea commands over the peers' HTTP listeners, lease
lists, the DHCP relay client of L{tests.integration.ha_dhcp}).

Topology (every name C{khh-<tag>-<role>}, every address inside the
namespaces the lab creates)::

    khh-<tag>-c   br0 10.88.0.10/24 (clients, acting as a relay: giaddr)
        |-- p1 <-> s0 in khh-<tag>-server1   10.88.0.1/24, HA url :8001
        |-- p2 <-> s0 in khh-<tag>-server2   10.88.0.2/24
        `-- p3 <-> s0 in khh-<tag>-server3   10.88.0.3/24

The test process talks to the namespaces without spawning anything: a
short-lived thread enters a namespace (C{setns}), opens a socket there and
hands it back (a socket stays in the namespace it was created in).
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from tests.integration.netns import RUN_TAG, Lab, Namespace, run
from tests.integration.procs import (
    KeaServer,
    Proc,
    ServerUnderTest,
    TwistdServer,
    spawn,
    tail,
    wait_until,
)

PREFIX = "khh-"
BRIDGE = "br0"
CLIENT_ADDR = "10.88.0.10"
NET_PREFIX = "10.88.0"
HA_PORT = 8001
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def server_addr(index: int) -> str:
    """The address of server C{index} (1-based) on the bridge."""
    return f"{NET_PREFIX}.{index}"


def socket_in_netns(ns_name: str, family: int, kind: int) -> socket.socket:
    """A new socket created inside network namespace C{ns_name}."""
    box: dict[str, Any] = {}

    def enter_and_open() -> None:
        try:
            fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["sock"] = socket.socket(family, kind)
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=enter_and_open, name=f"setns-{ns_name}")
    t.start()
    t.join(10)
    if "error" in box:
        raise box["error"]
    return box["sock"]


class KeaCommandError(AssertionError):
    """A command could not be sent or got no parseable answer."""


def kea_command(
    ns_name: str,
    host: str,
    port: int,
    command: str,
    arguments: dict | None = None,
    service: list[str] | None = None,
    timeout: float = 5.0,
) -> dict:
    """
    POST one Kea command to C{http://host:port/} from inside C{ns_name};
    the answer's element 0 (a bare map answer is returned as it is).
    """
    body: dict[str, Any] = {"command": command}
    if arguments is not None:
        body["arguments"] = arguments
    if service is not None:
        body["service"] = service
    data = json.dumps(body).encode()
    sock = socket_in_netns(ns_name, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("POST", "/", data, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as e:
        raise KeaCommandError(f"{command} to {host}:{port}: {e}") from e
    finally:
        sock.close()
    try:
        answer = json.loads(raw)
    except ValueError as e:
        raise KeaCommandError(
            f"{command} to {host}:{port}: HTTP {resp.status} {raw[:200]!r}"
        ) from e
    if isinstance(answer, list):
        if not answer:
            raise KeaCommandError(f"{command} to {host}:{port}: empty list")
        answer = answer[0]
    return answer


class HALab(Lab):
    """A L{Lab} whose namespaces are called C{khh-<tag>-<role>}."""

    @property
    def namespace_prefix(self) -> str:
        """
        C{khh-<run><tag>-} (C{<run>} is scripts/test's C{KHI_RUN}, so its
        sweep finds what a killed run left); also names this lab's files
        outside the work directory.
        """
        return f"{PREFIX}{RUN_TAG}{self.tag}-"

    def namespace(self, role: str, loopback: bool = True) -> Namespace:
        """Create C{khh-<run><tag>-<role>}, with C{lo} up unless told otherwise."""
        ns = Namespace(f"{self.namespace_prefix}{role}")
        run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        if loopback:
            ns.ip("link", "set", "lo", "up")
        return ns


def build_bridge(lab: HALab, count: int) -> tuple[Namespace, list[Namespace]]:
    """
    The client namespace with C{br0} (10.88.0.10/24) and C{count} server
    namespaces, server C{i} (1-based) at 10.88.0.C{i} on its C{s0}.
    """
    cli = lab.namespace("c")
    cli.ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0", "stp_state", "0")
    cli.ip("addr", "add", f"{CLIENT_ADDR}/24", "dev", BRIDGE)
    cli.ip("link", "set", BRIDGE, "up")
    servers = []
    for i in range(1, count + 1):
        ns = lab.namespace(f"server{i}")
        lab.veth(ns, "s0", cli, f"p{i}")
        cli.ip("link", "set", f"p{i}", "master", BRIDGE)
        ns.ip("addr", "add", f"{server_addr(i)}/24", "dev", "s0")
        servers.append(ns)
    return cli, servers


KINDS: dict[str, type[ServerUnderTest]] = {"kea": KeaServer, "ours": TwistdServer}


class HAPeer:
    """
    One HA server of a test: its name, role and address, the server
    process (real Kea or ours, restartable) and the probes.

    @ivar kind: C{"kea"} or C{"ours"}.
    """

    def __init__(
        self,
        testcase,
        kind: str,
        name: str,
        role: str,
        index: int,
        ns: Namespace,
        client_ns: Namespace,
        workdir: Path,
        config: dict,
        agent_config: dict | None = None,
    ) -> None:
        """
        @param agent_config: for a Kea peer reached through
            C{kea-ctrl-agent}: the agent's configuration (the agent keeps
            running while the DHCP server is stopped and restarted).
        """
        self.testcase = testcase
        self.kind = kind
        self.name = name
        self.role = role
        self.index = index
        self.address = server_addr(index)
        self.ns = ns
        self.client_ns = client_ns
        self.workdir = Path(workdir) / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.server: ServerUnderTest = KINDS[kind](testcase, ns, self.workdir, config, name=name)
        self.agent_config = agent_config
        self.agent: Proc | None = None

    def __repr__(self) -> str:
        return f"<{self.name} {self.role} ({self.kind})>"

    @property
    def label(self) -> str:
        """E.g. C{server1/primary (kea)}, C{server2/standby (kea+agent)}."""
        via = "+agent" if self.agent_config else ""
        return f"{self.name}/{self.role} ({self.kind}{via})"

    @property
    def lease_file(self) -> Path:
        """The memfile path of this peer."""
        return Path(self.config["Dhcp4"]["lease-database"]["name"])

    def launch(self) -> HAPeer:
        """Start the process (without waiting; see L{wait_ready})."""
        srv = self.server
        if self.agent_config is not None and (self.agent is None or not self.agent.alive()):
            path = self.workdir / "kea-ctrl-agent.json"
            path.write_text(json.dumps(self.agent_config, indent=2))
            self.agent = spawn(
                self.testcase,
                f"{self.name}-agent",
                self.ns.exec_argv(["kea-ctrl-agent", "-c", str(path)]),
                self.workdir,
                env=KeaServer.check_env(self.workdir),
                cwd=self.workdir,
            )
        srv.write_config()
        srv.proc = spawn(
            self.testcase,
            srv.name,
            srv.ns.exec_argv(srv.argv()),
            srv.workdir,
            env=srv.env(),
            cwd=srv.workdir,
        )
        return self

    def wait_ready(self, timeout: float = 20) -> HAPeer:
        """Wait until the process has its DHCP socket on port 67 and its HA listener answers."""
        pid = self.server.proc.pid

        def bound() -> bool:
            if not self.server.alive():
                raise AssertionError(f"{self.label} exited:\n{self.server.log_tail()}")
            return any(
                re.search(r":67\s", line) and f"pid={pid}," in line
                for line in self.ns.udp_listeners().splitlines()
            )

        wait_until(bound, timeout, f"{self.label} to bind UDP port 67", interval=0.1)
        wait_until(self._listening, timeout, f"{self.label} HA listener", interval=0.1)
        return self

    def start(self, timeout: float = 20) -> HAPeer:
        """L{launch}, then L{wait_ready}."""
        return self.launch().wait_ready(timeout)

    def _listening(self) -> bool:
        if not self.server.alive():
            raise AssertionError(f"{self.label} exited:\n{self.server.log_tail()}")
        try:
            return self.command("list-commands", timeout=1).get("result") == 0
        except KeaCommandError:
            return False

    def stop(self) -> None:
        """Stop the process (SIGTERM, bounded)."""
        self.server.stop(10)

    def wipe_leases(self) -> None:
        """Remove the lease file and LFC companions (the peer must be stopped)."""
        for suffix in ("", ".1", ".2", ".completed", ".output", ".pid"):
            Path(str(self.lease_file) + suffix).unlink(missing_ok=True)

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.server.alive()

    def command(self, command: str, arguments: dict | None = None, timeout: float = 5) -> dict:
        """A Kea command through this peer's HA listener (from the client namespace)."""
        return kea_command(
            self.client_ns.name,
            self.address,
            HA_PORT,
            command,
            arguments,
            service=["dhcp4"],
            timeout=timeout,
        )

    def state(self) -> str | None:
        """The HA state this peer reports in C{ha-heartbeat} (None if unreachable)."""
        try:
            answer = self.command("ha-heartbeat", timeout=2)
        except KeaCommandError:
            return None
        if answer.get("result") != 0:
            return None
        return answer.get("arguments", {}).get("state")

    def status(self) -> dict:
        """The C{high-availability}[0] map of C{status-get}."""
        answer = self.command("status-get")
        return answer["arguments"]["high-availability"][0]

    def leases(self) -> dict[str, dict]:
        """ip-address -> lease map, from C{lease4-get-all}."""
        answer = self.command("lease4-get-all")
        if answer.get("result") == 3:
            return {}
        if answer.get("result") != 0:
            raise AssertionError(f"lease4-get-all on {self.label}: {answer}")
        return {lease["ip-address"]: lease for lease in answer["arguments"]["leases"]}

    def log_tail(self, lines: int = 40) -> str:
        """The end of this peer's log (and its agent's), labelled."""
        text = f"--- {self.label} ---\n" + self.server.log_tail(lines)
        if self.agent is not None:
            text += "\n--- its kea-ctrl-agent ---\n" + tail(self.agent.output(), 10)
        return text


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    context: Callable[[], str],
    interval: float = 0.1,
) -> Any:
    """L{wait_until}, with C{context()} (e.g. logs) added to the failure."""
    try:
        return wait_until(predicate, timeout, what, interval)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{context()}") from None


def now() -> float:
    """Monotonic seconds."""
    return time.monotonic()
