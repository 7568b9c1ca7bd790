"""
Tests for L{kea_ha_tw.tcp_write}: L{write_now} sends at once on an idle
plain TCP connection and falls back on C{transport.write} otherwise. The
connections are real L{twisted.internet.tcp.Connection} objects over a fake
socket object (no real socket) on a C{MemoryReactor}.
"""

from __future__ import annotations

from errno import EPIPE, EWOULDBLOCK

from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.tcp_write import set_no_delay, write_now


class FakeSocket:
    """
    The socket calls a L{tcp.Connection} makes here: C{send} takes at most
    C{accept} bytes per call (None: all), or raises C{error}.
    """

    def __init__(self, accept: int | None = None, error: int | None = None) -> None:
        self.accept = accept
        self.error = error
        self.sent: list[bytes] = []

    def setblocking(self, flag: bool) -> None:
        """Nothing to set."""

    def fileno(self) -> int:
        """A made-up descriptor."""
        return 99

    def send(self, data) -> int:
        """Take up to C{accept} bytes of C{data}."""
        if self.error is not None:
            raise OSError(self.error, "fake")
        data = bytes(data)
        taken = data if self.accept is None else data[: self.accept]
        self.sent.append(taken)
        return len(taken)


def connection(sock: FakeSocket) -> tuple[tcp.Connection, MemoryReactor]:
    """A connected L{tcp.Connection} over C{sock}."""
    reactor = MemoryReactor()
    conn = tcp.Connection(sock, Protocol(), reactor)
    conn.connected = True
    return conn, reactor


class WriteNowTests(SynchronousTestCase):
    """L{write_now} on TCP connections and on other transports."""

    def test_idle_connection_sends_at_once(self):
        """Nothing queued: the bytes go to the socket, no writer is registered."""
        sock = FakeSocket()
        conn, reactor = connection(sock)
        write_now(conn, b"request")
        self.assertEqual(sock.sent, [b"request"])
        self.assertEqual(conn._tempDataBuffer, [])
        self.assertNotIn(conn, reactor.getWriters())

    def test_partial_send_queues_the_rest(self):
        """What the socket does not take is queued, in order, for doWrite."""
        sock = FakeSocket(accept=3)
        conn, reactor = connection(sock)
        write_now(conn, b"request")
        self.assertEqual(sock.sent, [b"req"])
        self.assertEqual(conn._tempDataBuffer, [b"uest"])
        self.assertIn(conn, reactor.getWriters())

    def test_would_block_queues_everything(self):
        """A full send buffer: everything is queued."""
        sock = FakeSocket(error=EWOULDBLOCK)
        conn, reactor = connection(sock)
        write_now(conn, b"request")
        self.assertEqual(conn._tempDataBuffer, [b"request"])
        self.assertIn(conn, reactor.getWriters())

    def test_error_left_to_twisted(self):
        """A broken connection: the bytes are queued so doWrite reports the loss."""
        sock = FakeSocket(error=EPIPE)
        conn, _ = connection(sock)
        write_now(conn, b"request")
        self.assertEqual(conn._tempDataBuffer, [b"request"])

    def test_queued_bytes_keep_order(self):
        """Bytes already queued go first: the new ones are queued behind them."""
        sock = FakeSocket()
        conn, _ = connection(sock)
        conn.write(b"first")
        write_now(conn, b"second")
        self.assertEqual(sock.sent, [])
        self.assertEqual(conn._tempDataBuffer, [b"first", b"second"])

    def test_disconnecting_connection(self):
        """A connection being closed is left to transport.write."""
        sock = FakeSocket()
        conn, _ = connection(sock)
        conn.disconnecting = True
        write_now(conn, b"request")
        self.assertEqual(sock.sent, [])

    def test_other_transport(self):
        """Any other transport (TLS, tests) gets transport.write."""
        transport = StringTransport()
        write_now(transport, b"request")
        self.assertEqual(transport.value(), b"request")


class NoDelayTests(SynchronousTestCase):
    """L{set_no_delay} finds the TCP connection, under TLS too."""

    def test_sets_on_the_transport(self):
        """A transport with setTcpNoDelay gets it turned on."""
        transport = StringTransport()
        transport.noDelay = False
        transport.setTcpNoDelay = lambda on: setattr(transport, "noDelay", on)
        set_no_delay(transport)
        self.assertTrue(transport.noDelay)

    def test_looks_under_a_wrapper(self):
        """A wrapping transport without it (TLS) passes the call to the one below."""
        inner = StringTransport()
        inner.setTcpNoDelay = lambda on: setattr(inner, "noDelay", on)

        class Wrapper:
            transport = inner

        set_no_delay(Wrapper())
        self.assertTrue(inner.noDelay)

    def test_oserror_ignored(self):
        """A socket that refuses the option is left as it is."""
        transport = StringTransport()

        def refuse(on):
            raise OSError("not supported")

        transport.setTcpNoDelay = refuse
        set_no_delay(transport)
