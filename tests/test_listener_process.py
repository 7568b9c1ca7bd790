"""
Tests for L{kea_ha_tw.ha.listener_process}: the DHCP server starts the HA
listener process with one end of a socket pair, serves the other end,
logs the child's lines, restarts it when it dies, stops the server when it
cannot start, and stops it with SIGTERM (SIGKILL when it lingers).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.resource import ControlSite
from kea_ha_tw.ha.listener_process import (
    CHILD_FD,
    CHILD_LOGGER,
    ListenerProcessService,
    child_argv,
    split_level,
)
from tests.fakes import FakeProcessReactor


class FakeSocket:
    """One end of a fake socket pair."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        self.closed = True


class FakeReactor(MemoryReactorClock, FakeProcessReactor):
    """Time and adoptStreamConnection (Twisted's), spawnProcess (L{FakeProcessReactor})."""

    def __init__(self) -> None:
        MemoryReactorClock.__init__(self)
        FakeProcessReactor.__init__(self)


class ServiceTests(SynchronousTestCase):
    """The service's life cycle against a fake reactor."""

    def setUp(self):
        self.reactor = FakeReactor()
        self.pairs: list[tuple[FakeSocket, FakeSocket]] = []
        self.fatal: list[str] = []
        self.resource = object()

        def socketpair(family: int, kind: int) -> tuple[FakeSocket, FakeSocket]:
            self.assertEqual((family, kind), (socket.AF_UNIX, socket.SOCK_STREAM))
            n = 10 + 2 * len(self.pairs)
            pair = (FakeSocket(n), FakeSocket(n + 1))
            self.pairs.append(pair)
            return pair

        self.service = ListenerProcessService(
            self.reactor, "/etc/kea/ha.json", self.resource, self.fatal.append,
            python="/venv/bin/python", respawn_delay=1.0, kill_after=5.0,
            socketpair=socketpair)

    def child(self, index: int = -1) -> Any:
        return self.reactor.spawned[index].protocol

    def end(self, index: int = -1, reason: Any = None) -> None:
        self.reactor.spawned[index].gone = True
        self.child(index).processEnded(Failure(reason or ProcessDone(0)))

    def test_argv(self):
        """The child is twistd kea-ha with the same file, in the foreground, no pidfile."""
        argv = child_argv("/py", "/c.json")
        self.assertEqual((argv[0], argv[1]), ("/py", "-c"))
        self.assertIn("twisted.scripts.twistd", argv[2])
        self.assertEqual(argv[3:], ["--nodaemon", "--pidfile=", f"--logger={CHILD_LOGGER}",
                                    "kea-ha", "--config", "/c.json",
                                    "--ha-listener-fd", str(CHILD_FD)])

    def test_start_spawns_and_serves_the_pair(self):
        """One end becomes the child's fd 3, the other an HTTP channel with no idle timeout."""
        self.service.startService()
        [spawned] = self.reactor.spawned
        self.assertEqual(spawned.executable, "/venv/bin/python")
        self.assertEqual(spawned.args, child_argv("/venv/bin/python", "/etc/kea/ha.json"))
        self.assertEqual(spawned.child_fds, {0: "w", 1: "r", 2: "r", CHILD_FD: 11})
        [(fd, family, site)] = self.reactor.adoptedStreamConnections
        self.assertEqual((fd, family), (10, socket.AF_UNIX))
        self.assertIsInstance(site, ControlSite)
        self.assertIs(site.resource, self.resource)
        self.assertIsNone(site.timeout)
        self.assertTrue(all(s.closed for s in self.pairs[0]))

    def test_ready(self):
        """The child's ready line is noticed once."""
        self.service.startService()
        self.child().childDataReceived(1, b"rea")
        self.assertFalse(self.child().ready)
        self.child().childDataReceived(1, b"dy\n")
        self.assertTrue(self.child().ready)

    def test_stderr_lines_logged(self):
        """Each complete stderr line becomes a log event at its level."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.service.startService()
        self.child().childDataReceived(2, b"error|first\nwarn|sec")
        self.child().childDataReceived(2, b"ond\n")
        lines = [(e["log_level"].name, e["line"]) for e in events if "line" in e]
        self.assertEqual(lines, [("error", "first"), ("warn", "second")])

    def test_early_exit_is_fatal(self):
        """A child that dies before it is ready stops the server with its reason."""
        self.service.startService()
        self.child().childDataReceived(2, b"critical|cannot listen on http://x:8000/: busy\n")
        self.end(reason=ProcessTerminated(1))
        self.assertEqual(self.fatal, ["cannot listen on http://x:8000/: busy"])
        self.reactor.advance(10)
        self.assertEqual(len(self.reactor.spawned), 1)

    def test_early_exit_reason_without_level(self):
        """twistd's own error (no level prefix) is the reason when nothing else was logged."""
        self.service.startService()
        self.child().childDataReceived(2, b"twisted.internet.error.CannotListenError: busy\n\n")
        self.end(reason=ProcessTerminated(1))
        self.assertEqual(self.fatal, ["twisted.internet.error.CannotListenError: busy"])

    def test_later_exit_respawns(self):
        """A child that dies after it was ready is started again after the delay."""
        self.service.startService()
        self.child().childDataReceived(1, b"ready\n")
        self.end(reason=ProcessTerminated(1))
        self.assertEqual(len(self.reactor.spawned), 1)
        self.reactor.advance(1.0)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(self.service.starts, 2)
        self.assertEqual(len(self.reactor.adoptedStreamConnections), 2)
        self.assertEqual(self.fatal, [])

    def test_stop_terms_and_waits(self):
        """stopService sends SIGTERM and fires when the child has exited."""
        self.service.startService()
        self.child().childDataReceived(1, b"ready\n")
        d = self.service.stopService()
        self.assertEqual(self.reactor.spawned[0].signals, ["TERM"])
        self.assertNoResult(d)
        self.end()
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stop_kills_a_lingering_child(self):
        """No exit within kill_after: SIGKILL."""
        self.service.startService()
        d = self.service.stopService()
        self.reactor.advance(5.0)
        self.assertEqual(self.reactor.spawned[0].signals, ["TERM", "KILL"])
        self.end(reason=ProcessTerminated(signal=9))
        self.successResultOf(d)

    def test_stop_during_respawn_delay(self):
        """Stopping while a restart is pending cancels it."""
        self.service.startService()
        self.child().childDataReceived(1, b"ready\n")
        self.end(reason=ProcessTerminated(1))
        self.successResultOf(self.service.stopService())
        self.reactor.advance(5)
        self.assertEqual(len(self.reactor.spawned), 1)

    def test_signal_to_a_gone_child(self):
        """A child that exited just before SIGTERM does not break the stop."""
        self.service.startService()
        self.reactor.spawned[0].gone = True
        d = self.service.stopService()
        self.end()
        self.successResultOf(d)


class SplitLevelTests(SynchronousTestCase):
    """The child's stderr line format."""

    def test_levels(self):
        """level|text splits; anything else is info."""
        self.assertEqual(split_level("warn|x|y"), ("warn", "x|y"))
        self.assertEqual(split_level("critical|boom"), ("critical", "boom"))
        self.assertEqual(split_level("Traceback (most recent call last):"),
                         ("info", "Traceback (most recent call last):"))
        self.assertEqual(split_level("bogus|x"), ("info", "bogus|x"))


class DefaultsTests(SynchronousTestCase):
    """What the composition root relies on."""

    def test_python_default(self):
        """The child runs on the server's own interpreter by default."""
        service = ListenerProcessService(FakeReactor(), "/c.json", object(), lambda r: None)
        self.assertEqual(service.python, sys.executable)
