"""
Processes for the integration tests: start them (inside a namespace),
wait for them to be ready with a bound, read their logs, and always stop
them in cleanup.

L{ServerUnderTest} is the seam that lets one test run against two
servers given the same Kea JSON: L{KeaServer} (real C{kea-dhcp4}, the
oracle: it proves the test is right) and L{TwistdServer}
(C{twistd -n kea-ha}, the thing being checked).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TypeVar
from collections.abc import Callable, Sequence

from typing_extensions import override

from tests.integration.netns import Namespace

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """
    Poll C{predicate} until it returns something true and return that;
    after C{timeout} seconds raise C{AssertionError} naming C{what}.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def tail(text: str, lines: int = 30) -> str:
    """The last C{lines} lines of C{text}, for failure messages."""
    return "\n".join(text.splitlines()[-lines:])


class Proc:
    """
    One child process with its stdout+stderr in a log file.  It runs in
    its own session, so L{stop} reaches its helpers (client scripts, etc.)
    too.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> Proc:
        """Start the process (stdin closed, output to the log file)."""
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status, or C{None} while running."""
        return None if self.popen is None else self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait up to C{timeout} seconds for the exit; its status or C{None}."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self) -> str:
        """Everything the process wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_output(self, pattern: str, timeout: float) -> re.Match:
        """Wait until the log matches C{pattern} (fails early if it exits)."""

        def seen():
            m = re.search(pattern, self.output(), re.M)
            if m is None and not self.alive():
                raise AssertionError(
                    f"{self.name} exited ({self.returncode}) before printing {pattern!r}:\n"
                    + tail(self.output())
                )
            return m

        return wait_until(seen, timeout, f"{self.name} to print {pattern!r}")

    def signal(self, sig: int) -> None:
        """Send C{sig} to the process group."""
        if self.alive():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10) -> int | None:
        """
        SIGTERM, wait up to C{timeout} seconds, then SIGKILL.  Returns the
        exit status (negative for a signal).
        """
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.signal(signal.SIGKILL)
                self.wait(5)
        else:
            # The leader is gone; helpers it left in its group must go too.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.returncode


def spawn(testcase, name: str, argv: Sequence[str], workdir: Path, **kw) -> Proc:
    """Start a L{Proc} logging to C{workdir/name.log}; cleanup stops it."""
    proc = Proc(name, argv, Path(workdir) / f"{name}.log", **kw)
    testcase.addCleanup(proc.stop)
    return proc.start()


class ServerUnderTest:
    """
    A DHCPv4 server run from a Kea JSON configuration inside a namespace.

    @cvar label: short name used in test ids and messages.
    @ivar config: the configuration (a dict, written as JSON on L{start}).
    @ivar lease_file: the memfile path the configuration names.
    """

    label = "abstract"

    def __init__(self, testcase, ns: Namespace, workdir: Path, config: dict, name: str = "server"):
        self.testcase = testcase
        self.ns = ns
        self.workdir = Path(workdir)
        self.config = config
        self.name = name
        self.config_path = self.workdir / f"{name}.json"
        self.lease_file = Path(config["Dhcp4"]["lease-database"]["name"])
        self.proc: Proc | None = None

    # -- what differs between the servers
    def argv(self) -> list[str]:
        """The command line that runs the server with C{self.config_path}."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The environment of the server process."""
        return dict(os.environ)

    @classmethod
    def check_argv(cls, config_path: Path) -> list[str]:
        """The command line that only validates C{config_path}."""
        raise NotImplementedError

    @classmethod
    def check_env(cls, workdir: Path) -> dict[str, str]:
        """The environment of the validating command."""
        return dict(os.environ)

    # -- shared behaviour
    def write_config(self) -> None:
        """Write C{self.config} to C{self.config_path}."""
        self.config_path.write_text(json.dumps(self.config, indent=2))

    def start(self, timeout: float = 20) -> ServerUnderTest:
        """
        Start the server and wait (bounded) until it has a UDP socket on
        port 67 in its namespace.  Fails with the log if it exits first.
        """
        self.write_config()
        argv = self.ns.exec_argv(self.argv())
        self.proc = spawn(
            self.testcase, self.name, argv, self.workdir, env=self.env(), cwd=self.workdir
        )
        pid = self.proc.pid

        def bound():
            if not self.proc.alive():
                raise AssertionError(
                    f"{self.label} exited ({self.proc.returncode}) during start-up:\n"
                    + tail(self.proc.output())
                )
            return any(
                re.search(r":67\s", line) and f"pid={pid}," in line
                for line in self.ns.udp_listeners().splitlines()
            )

        wait_until(bound, timeout, f"{self.label} to bind UDP port 67", interval=0.1)
        return self

    def refused_start(self, label: str, timeout: float = 15) -> str:
        """
        Start the server with a config it must refuse: assert (bounded) that
        it exits non-zero without a traceback; return its output.
        """
        self.write_config()
        proc = Proc(label, self.ns.exec_argv(self.argv()), self.workdir / f"{label}.log",
                    env=self.env(), cwd=self.workdir)
        self.testcase.addCleanup(proc.stop)
        proc.start()
        rc = proc.wait(timeout)
        out = proc.output()
        tc = self.testcase
        tc.assertIsNotNone(rc, f"still running {timeout:g} s after start:\n" + tail(out))
        tc.assertNotEqual(rc, 0, out)
        tc.assertNotIn("Traceback", out, "an operator gets a message, not a traceback")
        return out

    def stop(self, timeout: float = 10) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after C{timeout} s)."""
        return None if self.proc is None else self.proc.stop(timeout)

    def log(self) -> str:
        """The server's output so far."""
        return "" if self.proc is None else self.proc.output()

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, labelled, for failure messages."""
        return f"--- {self.label} log ({self.proc.log_path if self.proc else '-'}) ---\n" + tail(
            self.log(), lines
        )

    def alive(self) -> bool:
        """Whether the server process runs."""
        return self.proc is not None and self.proc.alive()

    @classmethod
    def check_config(cls, ns: Namespace, config_path: Path, workdir: Path, timeout: float = 30):
        """
        Validate C{config_path} the server's own way, inside C{ns}; the
        completed process (text output).
        """
        return subprocess.run(
            ns.exec_argv(cls.check_argv(config_path)),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cls.check_env(workdir),
            cwd=workdir,
        )


class KeaServer(ServerUnderTest):
    """Real C{kea-dhcp4 -c FILE}: the oracle."""

    label = "kea-dhcp4"

    @override
    def argv(self) -> list[str]:
        return ["kea-dhcp4", "-c", str(self.config_path)]

    @override
    def env(self) -> dict[str, str]:
        return self.check_env(self.workdir)

    @classmethod
    def check_argv(cls, config_path: Path) -> list[str]:
        """C{kea-dhcp4 -t FILE}."""
        return ["kea-dhcp4", "-t", str(config_path)]

    @classmethod
    def check_env(cls, workdir: Path) -> dict[str, str]:
        """Kea's pid and logger lock files go to the test's directory."""
        env = dict(os.environ)
        env["KEA_PIDFILE_DIR"] = str(workdir)
        env["KEA_LOCKFILE_DIR"] = str(workdir)
        return env


def twistd_argv(*args: str) -> list[str]:
    """C{twistd ARGS...} run by this interpreter."""
    return [
        sys.executable,
        "-c",
        "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()",
        *args,
    ]


def checkout_env() -> dict[str, str]:
    """The environment that makes the checkout's kea_ha_tw and plugin win."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


class TwistdServer(ServerUnderTest):
    """Ours: C{twistd -n --pidfile= --logfile=- kea-ha --config FILE}."""

    label = "twistd kea-ha"

    @override
    def argv(self) -> list[str]:
        return twistd_argv(
            "-n", "--pidfile=", "--logfile=-", "kea-ha", "--config", str(self.config_path)
        )

    @override
    def env(self) -> dict[str, str]:
        return checkout_env()

    @classmethod
    def check_argv(cls, config_path: Path) -> list[str]:
        """C{twistd kea-ha --config FILE --test}."""
        return twistd_argv("kea-ha", "--config", str(config_path), "--test")

    @classmethod
    def check_env(cls, workdir: Path) -> dict[str, str]:
        """As for the server itself."""
        return checkout_env()


SERVERS = (KeaServer, TwistdServer)
