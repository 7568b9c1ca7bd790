"""
Test doubles the Twisted testing module lacks: a reactor with UDP
(twisted#9695: MemoryReactor has no IReactorUDP) and a UDP port that
records what was sent and whether broadcast was allowed.
"""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.interfaces import IReactorProcess, IReactorUDP
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.address import IPv4Address
from zope.interface import implementer


class FakeUDPPort:
    """A listening UDP port: C{written} holds C{(bytes, (host, port))}."""

    def __init__(self, protocol, port=67, interface=""):
        self.protocol = protocol
        self.port = port
        self.interface = interface
        self.written = []
        self.broadcast = False
        self.listening = True
        self.reading = True
        self.maxThroughput = 16 * 1024  # noqa: N815 - Twisted API

    def write(self, packet, addr=None):
        """Record a datagram."""
        self.written.append((packet, addr))

    def setBroadcastAllowed(self, enabled):  # noqa: N802 - Twisted API
        """Record the broadcast flag."""
        self.broadcast = enabled

    def getBroadcastAllowed(self):  # noqa: N802 - Twisted API
        """Return the broadcast flag."""
        return self.broadcast

    def getHost(self):  # noqa: N802 - Twisted API
        """The bound address."""
        return IPv4Address("UDP", self.interface or "0.0.0.0", self.port)

    def stopReading(self):  # noqa: N802 - Twisted API
        """The reactor stops watching the socket."""
        self.reading = False

    def startReading(self):  # noqa: N802 - Twisted API
        """The reactor watches the socket again."""
        self.reading = True

    def connect(self, host, port):
        """Unused; present for the IUDPTransport shape."""
        raise NotImplementedError

    def stopListening(self):  # noqa: N802 - Twisted API
        """Stop, as a real port would."""
        self.listening = False
        self.protocol.doStop()
        return succeed(None)

    loseConnection = stopListening


@implementer(IReactorUDP)
class MemoryUDPReactor(MemoryReactorClock):
    """MemoryReactorClock plus C{listenUDP}, recording C{udp_ports}."""

    def __init__(self):
        super().__init__()
        self.udp_ports = []

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):  # noqa: N802,N803
        """Start C{protocol} on a fake port and record it."""
        fake = FakeUDPPort(protocol, port, interface)
        self.udp_ports.append((port, interface, fake))
        protocol.makeConnection(fake)
        return fake


class SpawnedProcess:
    """
    One C{spawnProcess} call recorded by L{FakeProcessReactor}, and the
    process transport it returns: C{pid}, and C{signalProcess} recording
    each signal (C{ProcessExitedAlready} once C{gone} is set).
    """

    def __init__(self, protocol, executable, args, env, path, child_fds=None, pid=0):
        self.protocol = protocol
        self.executable = executable
        self.args = list(args)
        self.env = env
        self.path = path
        self.child_fds = child_fds
        self.pid = pid
        self.signals = []
        self.gone = False

    def signalProcess(self, name):  # noqa: N802 - Twisted API
        """Record C{name}, or raise as Twisted does for a process that exited."""
        if self.gone:
            from twisted.internet.error import ProcessExitedAlready
            raise ProcessExitedAlready()
        self.signals.append(name)

    def end(self, exit_code=0):
        """Tell the protocol the process exited with C{exit_code}."""
        from twisted.internet.error import ProcessDone, ProcessTerminated
        from twisted.python.failure import Failure
        reason = ProcessDone(0) if exit_code == 0 else ProcessTerminated(exitCode=exit_code)
        self.protocol.processEnded(Failure(reason))


@implementer(IReactorProcess)
class FakeProcessReactor:
    """An C{IReactorProcess} that records spawns instead of running them."""

    def __init__(self):
        self.spawned = []

    def spawnProcess(self, processProtocol, executable, args=(), env=None, path=None,  # noqa: N802,N803
                     uid=None, gid=None, usePTY=0, childFDs=None):  # noqa: N803
        """Record the call; the test ends the process with L{SpawnedProcess.end}."""
        spawned = SpawnedProcess(processProtocol, executable, args, env, path, childFDs,
                                 pid=1000 + len(self.spawned))
        self.spawned.append(spawned)
        return spawned
