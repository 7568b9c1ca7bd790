"""
The live side of the bench: network namespaces (prefix C{khb-}), server
processes (real Kea 2.2 and ours), /proc sampling, and small commands run
inside the namespaces (perfdhcp, curl). Linux, root.

Topologies (addresses exist only inside the namespaces):
 - C{khb-s}: one namespace whose C{lo} carries 127.0.0.1 (server) and
   127.0.0.2 (perfdhcp as a relay).
 - C{khb-c} with bridge C{br0} 10.99.0.10/24 (perfdhcp, broadcasting with
   giaddr 10.99.0.10) and C{khb-1}, C{khb-2}, C{khb-3} with C{eth0}
   10.99.0.1-3/24 on veths into that bridge (the servers; their HA HTTP
   runs over the same bridge).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

PREFIX = "khb-"
SINGLE_NS = "khb-s"
CLIENT_NS = "khb-c"
BRIDGE = "br0"
CLIENT_ADDRESS = "10.99.0.10"
SERVER_NS = ("khb-1", "khb-2", "khb-3")
SERVER_ADDRESSES = ("10.99.0.1", "10.99.0.2", "10.99.0.3")
SINGLE_SERVER = "127.0.0.1"
SINGLE_RELAY = "127.0.0.2"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*argv: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command (bounded in time), capture its output."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


#: nice value for everything run in the namespaces (C{--nice}).
NICE = 0


def in_ns(ns: str, *argv: str) -> list[str]:
    """
    C{argv} run inside namespace C{ns}; C{ip netns exec} and C{nice} both
    exec, so the process keeps the pid we started.
    """
    if NICE:
        return ["ip", "netns", "exec", ns, "nice", "-n", str(NICE), *argv]
    return ["ip", "netns", "exec", ns, *argv]


def set_priority(nice: int) -> str:
    """
    Run the bench at C{nice}: the value for every process it starts
    (L{NICE}) and, more to the point, for its scheduler autogroup
    (C{/proc/self/autogroup}). With autogroups on, CPU is shared between
    sessions first, so on a machine where other sessions run tests a
    process nice value alone changes nothing; the autogroup's does, and
    Kea and ours get the same boost. Returns what the autogroup file says.
    """
    global NICE
    NICE = nice
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(nice))
        with open("/proc/self/autogroup") as f:
            return f.read().strip()
    except OSError as e:
        return f"autogroup not set: {e.strerror}"


# -- namespaces -------------------------------------------------------------------

class Namespaces:
    """Creates the bench's namespaces and deletes every C{khb-*} one it made."""

    def __init__(self) -> None:
        self.made: list[str] = []

    @staticmethod
    def existing() -> list[str]:
        """The C{khb-*} namespaces that exist now."""
        out = sh("ip", "netns", "list").stdout
        return [line.split()[0] for line in out.splitlines()
                if line.split() and line.split()[0].startswith(PREFIX)]

    def _add(self, ns: str) -> None:
        if ns in self.existing():
            pids = sh("ip", "netns", "pids", ns).stdout.split()
            if pids:
                raise RuntimeError(f"namespace {ns} is in use by pids {pids}: "
                                   "another bench running? stop it first")
            sh("ip", "netns", "del", ns)
        sh("ip", "netns", "add", ns)
        self.made.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def single(self) -> str:
        """The one-server namespace (created once)."""
        if SINGLE_NS not in self.made:
            self._add(SINGLE_NS)
            sh("ip", "-n", SINGLE_NS, "addr", "add", f"{SINGLE_RELAY}/8", "dev", "lo")
        return SINGLE_NS

    def pairs(self) -> None:
        """The bridge namespace and three server namespaces (created once)."""
        if CLIENT_NS in self.made:
            return
        self._add(CLIENT_NS)
        c = CLIENT_NS
        sh("ip", "-n", c, "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0")
        sh("ip", "-n", c, "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", BRIDGE)
        sh("ip", "-n", c, "link", "set", BRIDGE, "up")
        for i, (ns, address) in enumerate(zip(SERVER_NS, SERVER_ADDRESSES, strict=True)):
            self._add(ns)
            veth = f"v{i + 1}"
            sh("ip", "-n", c, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", c, "link", "set", veth, "master", BRIDGE, "up")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def cleanup(self) -> None:
        """Delete the namespaces this object made (their veths and bridge go with them)."""
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.made = []


# -- processes ---------------------------------------------------------------------

def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of C{pid} (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid: int, key: str) -> int:
    """A C{/proc/PID/status} value in KiB (C{VmHWM}, C{VmRSS}), 0 if absent."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live descendant of C{pid} (from /proc)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out: list[int] = []
    frontier = {pid}
    while frontier:
        kids = [c for c, pp in parent.items() if pp in frontier]
        out.extend(kids)
        frontier = set(kids)
    return out


@dataclass
class Proc:
    """One server-side process we started (and only ever signal by its pid)."""

    label: str
    ns: str
    argv: list[str]
    log: str
    env: dict | None = None
    cwd: str | None = None
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    final_cpu: float | None = None
    final_hwm: int = 0
    #: Last CPU and peak memory sample of each child process (our HA
    #: listener process), counted with the server's.
    child_cpu: dict = field(default_factory=dict)
    child_hwm: dict = field(default_factory=dict)

    def start(self) -> Proc:
        """Spawn it inside its namespace, output to its log file."""
        out = open(self.log, "ab")
        try:
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(in_ns(self.ns, *self.argv), stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=self.env, cwd=self.cwd)
        finally:
            out.close()
        return self

    @property
    def pid(self) -> int:
        """Its pid."""
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        """Still running."""
        return self.popen is not None and self.popen.poll() is None

    def cpu(self) -> float:
        """
        CPU seconds so far, its child processes' included (the last
        sample once it has exited).
        """
        if self.alive():
            try:
                self.final_cpu = proc_cpu_seconds(self.pid)
            except OSError:
                pass
            for child in descendants(self.pid):
                try:
                    self.child_cpu[child] = proc_cpu_seconds(child)
                except OSError:
                    pass
        return (self.final_cpu or 0.0) + sum(self.child_cpu.values())

    def hwm_kib(self) -> int:
        """Peak resident memory so far (VmHWM), KiB, its child processes' added."""
        if self.alive():
            self.final_hwm = max(self.final_hwm, proc_status_kib(self.pid, "VmHWM"))
            for child in descendants(self.pid):
                self.child_hwm[child] = max(self.child_hwm.get(child, 0),
                                            proc_status_kib(child, "VmHWM"))
        return self.final_hwm + sum(self.child_hwm.values())

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS), KiB."""
        return proc_status_kib(self.pid, "VmRSS") if self.alive() else 0

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after C{timeout} s; keeps the last CPU/HWM sample."""
        if self.popen is None:
            return
        if self.alive():
            self.cpu()
            self.hwm_kib()
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        else:
            self.popen.wait(1)

    def tail(self, lines: int = 15) -> str:
        """The end of its log (for error messages)."""
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Launcher:
    """Builds the argv/env of each kind of server process."""

    python: str = sys.executable
    repo: str = REPO
    procs: list[Proc] = field(default_factory=list)

    def ours(self, label: str, ns: str, config: str, log: str) -> Proc:
        """
        Our server: twistd kea-ha from C{repo}, no pidfile. It runs with
        C{repo} as its working directory: C{python -c} puts the working
        directory first on C{sys.path}, so started from a checkout it would
        import that checkout's package instead of the tree under test.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = self.repo + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        argv = [self.python, "-c",
                "import sys; sys.argv[0] = 'twistd'; "
                "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", f"--logfile={log}", "kea-ha", "--config", config]
        return self._add(Proc(label, ns, argv, log + ".out", env, cwd=self.repo))

    def kea(self, label: str, ns: str, config: str, log: str, run_dir: str) -> Proc:
        """kea-dhcp4 -c CONFIG, pid and lock files in C{run_dir}."""
        env = dict(os.environ, KEA_PIDFILE_DIR=run_dir, KEA_LOCKFILE_DIR=run_dir)
        return self._add(Proc(label, ns, ["kea-dhcp4", "-c", config], log, env))

    def agent(self, label: str, ns: str, config: str, log: str, run_dir: str) -> Proc:
        """kea-ctrl-agent -c CONFIG."""
        env = dict(os.environ, KEA_PIDFILE_DIR=run_dir, KEA_LOCKFILE_DIR=run_dir)
        return self._add(Proc(label, ns, ["kea-ctrl-agent", "-c", config], log, env))

    def _add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every process started through this launcher (by pid)."""
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        self.procs = []


# -- commands inside the namespaces --------------------------------------------------

def ha_command(url: str, command: str, arguments: dict | None = None, *,
               ns: str = CLIENT_NS, timeout: float = 5.0) -> dict | None:
    """
    POST a Kea command to C{url} from inside C{ns} (curl); the first
    answer map, or C{None} when nothing usable came back.
    """
    body: dict = {"command": command, "service": ["dhcp4"]}
    if arguments is not None:
        body["arguments"] = arguments
    try:
        cp = subprocess.run(
            in_ns(ns, "curl", "-s", "-m", str(timeout), "-H", "Content-Type: application/json",
                  "-d", json.dumps(body), url),
            capture_output=True, text=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return None
    try:
        answer = json.loads(cp.stdout)
    except ValueError:
        return None
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    return answer if isinstance(answer, dict) else None


def ha_state(url: str) -> str | None:
    """The HA state a server reports to C{ha-heartbeat}, or None."""
    answer = ha_command(url, "ha-heartbeat", timeout=2.0)
    if not answer or answer.get("result") != 0:
        return None
    return (answer.get("arguments") or {}).get("state")


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll C{predicate} until true or C{timeout} s passed (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def clean_dir(path: str) -> None:
    """Make C{path} an empty directory."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def loadavg() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages."""
    return os.getloadavg()
