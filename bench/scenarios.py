"""
Scenarios (one server, HA pairs, mixed pairs) and one trial: fresh
servers with empty lease files, one bounded perfdhcp run, CPU and memory
from /proc, servers stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from bench import configs, lab, perfdhcp

ROLES = {
    "hot-standby": ("primary", "standby"),
    "load-balancing": ("primary", "secondary"),
    "passive-backup": ("primary", "backup"),
}
SERVING_STATES = {
    "hot-standby": ("hot-standby", "hot-standby"),
    "load-balancing": ("load-balancing", "load-balancing"),
    "passive-backup": ("passive-backup", "backup"),
}
#: Kea's fastest way for peers to talk, per mode, measured on these
#: machines (shared/docs/kea-baseline.md): "mt" = HA dedicated listener
#: with multi-threading, "ca" = kea-ctrl-agent, single-threaded Kea.
KEA_BEST_TRANSPORT = {"hot-standby": "mt", "load-balancing": "mt", "passive-backup": "ca"}


class StartError(RuntimeError):
    """The servers of a scenario did not come up (message: which and why)."""


@dataclass(frozen=True)
class Scenario:
    """
    A mode (C{single} or an HA mode) and who runs each peer
    (C{("kea",)}, C{("ours", "ours")}, C{("ours", "kea")}, ...).
    """

    mode: str
    servers: tuple[str, ...]
    transport: str = "mt"

    @property
    def impl(self) -> str:
        """C{kea}, C{ours}, or the mix (C{ours+kea}: server1 ours, server2 Kea)."""
        kinds = set(self.servers)
        return self.servers[0] if len(kinds) == 1 else "+".join(self.servers)

    @property
    def name(self) -> str:
        """E.g. C{hot-standby/ours+kea}."""
        return f"{self.mode}/{self.impl}"

    @property
    def is_pair(self) -> bool:
        """Two peers."""
        return self.mode != "single"


def scenario(mode: str, servers: tuple[str, ...], kea_transport: str = "best") -> Scenario:
    """A L{Scenario}; C{kea_transport} C{best} picks L{KEA_BEST_TRANSPORT}."""
    if mode == "single":
        return Scenario(mode, servers[:1], "none")
    transport = KEA_BEST_TRANSPORT[mode] if kea_transport == "best" else kea_transport
    if "ours" in servers:
        # A Kea peer talks to ours directly: the dedicated listener.
        transport = "mt"
    return Scenario(mode, servers, transport)


class Bench:
    """
    Runs trials. C{work} holds configs, lease files and logs (one
    sub-directory per scenario, emptied at every trial).
    """

    def __init__(self, work: str, namespaces: lab.Namespaces, launcher: lab.Launcher, *,
                 duration: float, wait_us: int = 200000, clients: int = 100000,
                 ready_timeout: float = 60.0, client_threads: int = 0,
                 listener_process: bool = False, pin: bool = False, log=print) -> None:
        self.work = work
        self.ns = namespaces
        self.launcher = launcher
        self.duration = duration
        self.wait_us = wait_us
        self.clients = clients
        self.ready_timeout = ready_timeout
        #: HA C{http-client-threads} of every server (Kea's and ours).
        self.client_threads = client_threads
        #: HA key C{listener-process} on our servers whose partner is Kea.
        self.listener_process = listener_process
        #: Each server (and its children) on a CPU of its own; perfdhcp free.
        self.pin = pin
        self.log = log

    # -- starting servers --------------------------------------------------------

    def dir_of(self, sc: Scenario) -> str:
        """The scenario's work directory (configs, lease files, logs)."""
        return self._dir(sc)

    def _dir(self, sc: Scenario) -> str:
        return os.path.join(self.work, sc.name.replace("/", "_").replace("+", "-"))

    def start(self, sc: Scenario, *, preload: dict[int, str] | None = None,
              sync_leases: bool = True, subnet=configs.SUBNET) -> list[lab.Proc]:
        """
        Fresh servers for C{sc}, ready to serve; raises L{StartError}.

        @param preload: peer index (0, 1) -> a lease file copied in as
            that server's memfile before it starts.
        @param sync_leases: HA C{sync-leases}.
        @param subnet: the one subnet (its pool spans it).
        """
        d = self._dir(sc)
        lab.clean_dir(d)
        for index, source in (preload or {}).items():
            shutil.copyfile(source, f"{d}/leases{index + 1}.csv")
        procs: list[lab.Proc] = []
        try:
            if sc.mode == "single":
                procs = self._start_single(sc, d, subnet)
                ok = self._probe(lab.SINGLE_NS, lab.SINGLE_RELAY, lab.SINGLE_SERVER, procs)
            else:
                procs = self._start_pair(sc, d, sync_leases, subnet)
                self._wait_states(sc, procs)
                if self.pin:
                    pin_servers(procs)
                ok = self._probe(lab.CLIENT_NS, lab.BRIDGE, None, procs)
            if not ok:
                raise StartError(f"{sc.name}: no DHCP answer within {self.ready_timeout:.0f} s\n"
                                 + "\n".join(f"--- {p.label}\n{p.tail()}" for p in procs))
        except BaseException:
            self.stop(procs)
            raise
        return procs

    def _start_single(self, sc: Scenario, d: str, subnet) -> list[lab.Proc]:
        ns = self.ns.single()
        kind = sc.servers[0]
        cfg = configs.dhcp4(interface=f"lo/{lab.SINGLE_SERVER}", socket_type="udp",
                            lease_file=f"{d}/leases1.csv", relay=lab.SINGLE_RELAY,
                            log_file=f"{d}/server1.kea.log", subnet=subnet)
        path = _write(f"{d}/server1.json", cfg)
        return [self._launch(kind, "server1", ns, path, d).start()]

    def _start_pair(self, sc: Scenario, d: str, sync_leases: bool, subnet) -> list[lab.Proc]:
        self.ns.pairs()
        roles = ROLES[sc.mode]
        peers = [configs.Peer(f"server{i + 1}", lab.SERVER_ADDRESSES[i], role)
                 for i, role in enumerate(roles)]
        mt = sc.transport == "mt"
        procs = []
        for i, (kind, peer) in enumerate(zip(sc.servers, peers, strict=True)):
            ns = lab.SERVER_NS[i]
            sock = f"{d}/{peer.name}.sock" if sc.transport == "ca" else None
            ha = configs.ha_parameters(sc.mode, peer.name, peers, multi_threading=mt,
                                       sync_leases=sync_leases,
                                       client_threads=self.client_threads)
            ha.update(ours_extensions(kind, sc.servers, self.listener_process))
            cfg = configs.dhcp4(interface="eth0", socket_type="raw",
                                lease_file=f"{d}/leases{i + 1}.csv", relay=lab.CLIENT_ADDRESS,
                                log_file=f"{d}/{peer.name}.kea.log", ha=ha, multi_threading=mt,
                                control_socket=sock, split_pools=sc.mode == "load-balancing",
                                subnet=subnet)
            path = _write(f"{d}/{peer.name}.json", cfg)
            procs.append(self._launch(kind, peer.name, ns, path, d).start())
            if sc.transport == "ca" and kind == "kea":
                ca = configs.control_agent(peer.address, sock, f"{d}/{peer.name}.ca.log")
                ca_path = _write(f"{d}/{peer.name}.ca.json", ca)
                procs.append(self.launcher.agent(f"{peer.name}-ca", ns, ca_path,
                                                 f"{d}/{peer.name}.ca.out", d).start())
        return procs

    def _launch(self, kind: str, label: str, ns: str, config: str, d: str) -> lab.Proc:
        if kind == "kea":
            return self.launcher.kea(f"{label}-kea", ns, config, f"{d}/{label}.out", d)
        return self.launcher.ours(f"{label}-ours", ns, config, f"{d}/{label}.log")

    def _check_alive(self, procs: list[lab.Proc]) -> None:
        for p in procs:
            if not p.alive():
                raise StartError(f"{p.label} exited ({p.popen.returncode}):\n{p.tail()}")

    def _wait_states(self, sc: Scenario, procs: list[lab.Proc]) -> None:
        wanted = SERVING_STATES[sc.mode]
        urls = [f"http://{lab.SERVER_ADDRESSES[i]}:{configs.HA_PORT}/"
                for i in range(len(sc.servers))]
        deadline = time.monotonic() + self.ready_timeout
        states: list[str | None] = [None] * len(urls)
        while time.monotonic() < deadline:
            self._check_alive(procs)
            states = [lab.ha_state(u) for u in urls]
            if all(s == w for s, w in zip(states, wanted, strict=True)):
                return
            time.sleep(0.2)
        raise StartError(f"{sc.name}: HA states {states}, wanted {list(wanted)} "
                         f"within {self.ready_timeout:.0f} s\n"
                         + "\n".join(f"--- {p.label}\n{p.tail()}" for p in procs))

    def _probe(self, ns: str, local: str, server: str | None, procs: list[lab.Proc]) -> bool:
        argv = ["perfdhcp", "-4", "-r", "1", "-n", "1", "-R", "1", "-W", "100000", "-l", local]
        if server:
            argv.append(server)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            self._check_alive(procs)
            try:
                cp = subprocess.run(lab.in_ns(ns, *argv), capture_output=True, text=True,
                                    timeout=10)
            except subprocess.TimeoutExpired:
                continue
            if perfdhcp.parse(cp.stdout).offers_received >= 1:
                return True
            time.sleep(0.1)
        return False

    def stop(self, procs: list[lab.Proc]) -> None:
        """Stop these processes (by pid)."""
        for p in reversed(procs):
            p.stop()
            if p in self.launcher.procs:
                self.launcher.procs.remove(p)

    # -- one trial -----------------------------------------------------------------

    def trial(self, sc: Scenario, rate: int, *, timestamps: bool = False) -> dict:
        """
        One perfdhcp run at C{rate} against fresh servers: loss, ACK/s,
        delays, CPU seconds and peak RSS of every server process.
        """
        procs = self.start(sc)
        try:
            cpu0 = [p.cpu() for p in procs]
            load0 = lab.loadavg()[0]
            if sc.mode == "single":
                argv = perfdhcp.command(rate, self.duration, lab.SINGLE_RELAY, lab.SINGLE_SERVER,
                                        clients=self.clients, wait_us=self.wait_us,
                                        timestamps=timestamps)
                ns = lab.SINGLE_NS
            else:
                argv = perfdhcp.command(rate, self.duration, lab.BRIDGE, None,
                                        clients=self.clients, wait_us=self.wait_us,
                                        timestamps=timestamps)
                ns = lab.CLIENT_NS
            t0 = time.monotonic()
            try:
                cp = subprocess.run(lab.in_ns(ns, *argv), capture_output=True, text=True,
                                    timeout=self.duration + 60)
                out = cp.stdout
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            elapsed = time.monotonic() - t0
            cpu1 = [p.cpu() for p in procs]
            hwm = [p.hwm_kib() for p in procs]
            alive = [p.alive() for p in procs]
        finally:
            self.stop(procs)
        res = perfdhcp.parse(out)
        cpu = sum(b - a for a, b in zip(cpu0, cpu1, strict=True))
        acks = res.acks_received
        trial = {
            "scenario": sc.name, "rate": rate, "duration": self.duration,
            "elapsed": round(elapsed, 3), "loss": round(res.loss, 5),
            "discovers": res.discovers_sent, "offers": res.offers_received,
            "requests": res.exchanges.get(perfdhcp.REQUEST_ACK, perfdhcp.ExchangeStats("")).sent,
            "acks": acks, "ack_rate": round(acks / self.duration, 1),
            "perfdhcp_rate": res.rate,
            "cpu_s": round(cpu, 3),
            "cpu_per_1000": round(cpu / acks * 1000, 4) if acks else None,
            "cpu_by_proc": {p.label: round(b - a, 3)
                            for p, a, b in zip(procs, cpu0, cpu1, strict=True)},
            "hwm_kib": {p.label: h for p, h in zip(procs, hwm, strict=True)},
            "servers_alive": all(alive), "load1": load0,
            "avg_delay_ms": {k: v.avg_delay_ms for k, v in res.exchanges.items()},
        }
        if timestamps:
            for name, key in ((perfdhcp.REQUEST_ACK, "ra"), (perfdhcp.DISCOVER_OFFER, "do")):
                med, p99 = res.latency(name)
                trial[f"{key}_median_ms"] = None if med is None else round(med, 4)
                trial[f"{key}_p99_ms"] = None if p99 is None else round(p99, 4)
        self.log(f"    {sc.name:32s} rate {rate:6d}: loss {res.loss * 100:6.2f} %  "
                 f"acks/s {acks / self.duration:8.1f}  cpu/1000 "
                 f"{trial['cpu_per_1000'] if trial['cpu_per_1000'] is not None else '-'}  "
                 f"load {load0:.1f}")
        return trial


def ours_extensions(kind: str, servers: tuple[str, ...], listener_process: bool) -> dict:
    """
    Our HA extension keys for one server of a pair: C{listener-process}
    on a server of ours whose partner is Kea, when asked for.
    """
    if listener_process and kind == "ours" and "kea" in servers:
        return {"listener-process": True}
    return {}


def pin_servers(procs: list[lab.Proc], cpus: int | None = None) -> None:
    """
    Pin each server's process, its threads and its child processes (our
    HA listener process) to a CPU of its own: C{server1*} to CPU 0,
    C{server2*} to CPU 1 (modulo the CPUs there are). A stand-in for
    servers on separate hosts; perfdhcp stays free.
    """
    count = cpus or os.cpu_count() or 1
    for p in procs:
        index = 1 if p.label.startswith("server2") else 0
        cpu = {index % count}
        for pid in [p.pid, *lab.descendants(p.pid)]:
            for task in _tasks(pid):
                try:
                    os.sched_setaffinity(task, cpu)
                except OSError:
                    pass


def _tasks(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _write(path: str, data: dict) -> str:
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path
