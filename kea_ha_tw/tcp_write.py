# -*- test-case-name: tests.test_tcp_write -*-
"""
Sending on a TCP connection in the same reactor turn, without Nagle.

Twisted's C{transport.write} only queues: the bytes leave on the next
reactor turn, after the poller reports the socket writable, and the
transport registers for writability and unregisters again afterwards
(two C{epoll_ctl} calls and one more poller event per write). HA peer
traffic is one small request and one small answer per lease update, so on
a loaded pair that round trip through the poller was a large share of each
update's cost (py-spy on the bench pair, C{docs/performance.md}).

L{write_now} sends the bytes at once when the transport is a plain TCP
connection with nothing queued before them, and hands whatever the kernel
did not take (or everything, on any other transport or error) to
C{transport.write}, so order and Twisted's error handling are unchanged.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp


def write_now(transport: Any, data: bytes) -> None:
    """
    Write C{data} to C{transport}; on an idle plain TCP connection, send it
    before returning.

    Anything the socket does not accept right away (a full send buffer, an
    error, a transport that is not a plain L{tcp.Connection}, such as TLS or
    a test's C{StringTransport}, or bytes already queued ahead of these)
    goes through C{transport.write}, whose doWrite reports errors and
    closes the connection as usual.
    """
    if isinstance(transport, tcp.Connection) and _idle(transport):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


def set_no_delay(transport: Any) -> None:
    """
    Turn Nagle's algorithm off on C{transport} or, for TLS, on the TCP
    connection under it: each small request or answer leaves at once.
    """
    while transport is not None:
        setter = getattr(transport, "setTcpNoDelay", None)
        if setter is not None:
            try:
                setter(True)
            except OSError:
                pass
            return
        transport = getattr(transport, "transport", None)


def _idle(transport: tcp.Connection) -> bool:
    """True when the connection is up and nothing is queued on it."""
    return bool(
        transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport.dataBuffer
        and not transport._tempDataBuffer
        and not getattr(transport, "TLS", False)
    )


__all__ = ["set_no_delay", "write_now"]
