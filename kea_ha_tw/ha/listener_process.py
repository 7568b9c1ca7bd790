# -*- test-case-name: tests.test_listener_process -*-
"""
The DHCP server's side of the HA listener process (HA key
C{listener-process}, L{kea_ha_tw.ha.listener_relay}).

L{ListenerProcessService} starts C{twistd kea-ha --ha-listener-fd 3} (see
L{kea_ha_tw.ha.listener_child}) with one end of a socket pair as its file
descriptor 3 and serves the other end as an HTTP command channel over the server's own command
resource (the HA listener's registry, context and command filter; no
idle timeout, no basic auth: the relay has checked it). The child's
standard error lines become log events here.

If the child exits before it reports C{ready} the first time (its port is
taken, a TLS file is unusable), the server cannot serve its peer URL:
L{ListenerProcessService} logs the child's reason and calls C{fatal}, and
the composition root stops the server. If it exits later, it is started
again after C{respawn_delay} seconds. Stopping the service sends SIGTERM
and waits for the exit (SIGKILL after C{kill_after} seconds).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from kea_ha_tw.commands.resource import ControlChannelResource, ControlSite
from kea_ha_tw.loggers import Logger

#: The child's end of the socket pair.
CHILD_FD = 3
#: How the child runs twistd: as the bench and the packaging run it, with
#: the plugin found on the same C{sys.path}.
_TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
#: The child's log observer (C{level|text} lines on stderr).
CHILD_LOGGER = "kea_ha_tw.ha.listener_child.StderrLevelObserver"

#: The levels a child's line may carry (twisted.logger's names, and our
#: Logger's methods).
_LEVELS = frozenset(("debug", "info", "warn", "error", "critical"))


def child_argv(python: str, config_path: str) -> list[str]:
    """The child's command line: twistd in the foreground, no pidfile, our plugin."""
    return [python, "-c", _TWISTD, "--nodaemon", "--pidfile=", f"--logger={CHILD_LOGGER}",
            "kea-ha", "--config", config_path, "--ha-listener-fd", str(CHILD_FD)]


def split_level(line: str) -> tuple[str, str]:
    """A child's stderr line C{level|text} as (log method name, text)."""
    level, sep, text = line.partition("|")
    if sep and level in _LEVELS:
        return level, text
    return "info", line


class _ChildProtocol(ProcessProtocol):
    """One child run: ready line, stderr lines, exit."""

    def __init__(self, service: ListenerProcessService) -> None:
        self.service = service
        self._out = b""
        self._err = b""
        self.ready = False
        self.last_error = ""
        self.last_line = ""

    def outReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        self._out += data
        if not self.ready and b"ready\n" in self._out:
            self.ready = True
            self._out = b""
            self.service.child_ready(self)

    def errReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        self._err += data
        *lines, self._err = self._err.split(b"\n")
        for raw in lines:
            method, text = split_level(raw.decode("utf-8", "replace"))
            if text.strip():
                # The reason given if the child dies: its last error line,
                # else its last line (twistd's usage errors, printed before
                # its logging starts, carry no level).
                self.last_line = text
                if method in ("error", "critical"):
                    self.last_error = text
            getattr(self.service.log, method)("HA listener process: {line}",
                                              msg_id="KHT_HA_LISTENER_PROCESS_LOG", line=text)

    def processEnded(self, reason: Failure) -> None:  # noqa: N802 - Twisted API
        self.service.child_ended(self, reason)


class ListenerProcessService(Service):
    """
    Runs and supervises the HA listener process (see the module docstring).

    @param reactor: C{IReactorProcess}, C{IReactorSocket} and C{IReactorTime}.
    @param resource: the server's HA command resource (what the relay's
        requests run through).
    @param fatal: called with a reason when the child cannot start.
    @param socketpair: C{socket.socketpair} (tests pass a fake).
    """

    log = Logger()

    def __init__(self, reactor: Any, config_path: str, resource: ControlChannelResource,
                 fatal: Callable[[str], Any], *, python: str = sys.executable,
                 respawn_delay: float = 1.0, kill_after: float = 5.0,
                 socketpair: Callable[[int, int], tuple[Any, Any]] = socket.socketpair) -> None:
        self.reactor = reactor
        self.config_path = config_path
        self.resource = resource
        self.fatal = fatal
        self.python = python
        self.respawn_delay = respawn_delay
        self.kill_after = kill_after
        self._socketpair = socketpair
        self.process: Any = None
        self.starts = 0
        self._child: _ChildProtocol | None = None
        self._ever_ready = False
        self._stopped: Deferred | None = None
        self._respawn: Any = None
        self._kill: Any = None

    def startService(self) -> None:  # noqa: N802 - Twisted API
        """Start the child."""
        Service.startService(self)
        self._spawn()

    def _spawn(self) -> None:
        self._respawn = None
        mine, theirs = self._socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.reactor.adoptStreamConnection(mine.fileno(), socket.AF_UNIX,
                                               ControlSite(self.resource, self.reactor,
                                                           timeout=None))
            self._child = _ChildProtocol(self)
            self.starts += 1
            self.process = self.reactor.spawnProcess(
                self._child, self.python, child_argv(self.python, self.config_path),
                env=dict(os.environ),
                childFDs={0: "w", 1: "r", 2: "r", CHILD_FD: theirs.fileno()})
        finally:
            mine.close()
            theirs.close()
        self.log.info("HA listener process started (pid {pid})",
                      msg_id="KHT_HA_LISTENER_PROCESS_STARTED", pid=self.process.pid)

    def child_ready(self, child: _ChildProtocol) -> None:
        """The child listens on the peer URL."""
        self._ever_ready = True
        self.log.info("HA listener process ready", msg_id="KHT_HA_LISTENER_PROCESS_READY")

    def child_ended(self, child: _ChildProtocol, reason: Failure) -> None:
        """The child exited: finish a stop, give up, or start it again."""
        self.process = None
        if self._kill is not None and self._kill.active():
            self._kill.cancel()
        self._kill = None
        if self._stopped is not None:
            d, self._stopped = self._stopped, None
            d.callback(None)
            return
        if not self.running:
            return
        why = child.last_error or child.last_line or reason.getErrorMessage()
        if not self._ever_ready:
            self.log.critical("HA listener process could not start: {reason}",
                              msg_id="KHT_HA_LISTENER_PROCESS_FAILED", reason=why)
            self.fatal(why)
            return
        level = "info" if reason.check(ProcessDone) else "error"
        getattr(self.log, level)("HA listener process exited ({reason}); starting it again"
                                 " in {delay} s", msg_id="KHT_HA_LISTENER_PROCESS_EXITED",
                                 reason=why, delay=self.respawn_delay)
        self._respawn = self.reactor.callLater(self.respawn_delay, self._spawn)

    def stopService(self) -> Deferred:  # noqa: N802 - Twisted API
        """SIGTERM the child and wait for it (SIGKILL after C{kill_after})."""
        Service.stopService(self)
        if self._respawn is not None and self._respawn.active():
            self._respawn.cancel()
        self._respawn = None
        if self.process is None:
            return succeed(None)
        self._stopped = Deferred()
        self._signal("TERM")
        self._kill = self.reactor.callLater(self.kill_after, self._signal, "KILL")
        return self._stopped

    def _signal(self, name: str) -> None:
        try:
            self.process.signalProcess(name)
        except ProcessExitedAlready:  # processEnded follows
            pass


__all__ = ["CHILD_FD", "CHILD_LOGGER", "ListenerProcessService", "child_argv", "split_level"]
