# -*- test-case-name: tests.test_peer_http -*-
"""
A lean HTTP/1.1 client for HA peer traffic, built for lease-update rates.

HA sends one small POST per lease and waits for its small answer; the
general clients (treq over C{twisted.web.client.Agent}) spend far more CPU
per request than the lease update itself (cookie, redirect and gzip layers,
URL round trips, per-request timers). This client does only what Kea's
peers need:

 - persistent connections, up to C{connections_per_peer} per peer (Kea's
   C{http-client-threads}), each carrying one request at a time (no
   pipelining: Kea 2.2's listener reads one request per connection turn);
   requests beyond that wait in a FIFO queue, as in Kea's HTTP client;
 - C{TCP_NODELAY}, TLS through the peer's client context; requests leave
   in the turn they are written (L{kea_ha_tw.tcp_write.write_now});
 - the request exactly as Kea writes it: C{POST / HTTP/1.1}, C{Host}
   without port, C{Authorization} when configured, C{Content-Length},
   C{Content-Type: application/json}, the body; the header block is built
   once per peer;
 - answers must carry C{Content-Length} (Kea refuses chunked and
   close-delimited bodies too); anything else fails the request;
 - idle connections close after C{idle_timeout_s} (below Kea's 30 s), and
   a request that dies on a reused connection before any answer byte
   arrives is retried once on a new connection;
 - cancelling a request (the caller's timeout) aborts its connection.

L{PeerHTTPPool.request} offers the treq-like C{request(method, url,
data=..., headers=...)} that L{kea_ha_tw.ha.client.PeerClient} uses, and
L{PeerHTTPPool.sender} the prepared per-peer fast path.
"""

from __future__ import annotations

import collections
from typing import Any
from collections.abc import Callable
from urllib.parse import urlsplit

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH

from kea_ha_tw.loggers import Logger
from kea_ha_tw.tcp_write import set_no_delay, write_now

#: Largest header block we accept from a peer.
MAX_HEADER_BYTES = 64 * 1024
#: Largest body we accept (a 10 000-lease page is about 3 MiB).
MAX_BODY_BYTES = 256 * 1024 * 1024

_CRLFCRLF = b"\r\n\r\n"


class PeerHTTPError(Exception):
    """A request failed at the HTTP or transport level (the reason says how)."""


class StaleConnectionError(PeerHTTPError):
    """A reused connection died before any answer byte arrived (retryable)."""


class PeerResponse:
    """
    A complete answer: C{code}, C{headers} (lowercase name -> value),
    C{length} (the C{Content-Length}) and the C{body}.
    """

    __slots__ = ("body", "code", "headers", "length")

    def __init__(self, code: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.code = code
        self.headers = headers
        self.body = body
        self.length = len(body)

    def content(self) -> Deferred:
        """The body, as treq's response offers it."""
        d: Deferred = Deferred()
        d.callback(self.body)
        return d


def build_request_head(host: str, authorization: bytes | None) -> tuple[bytes, bytes]:
    """
    The parts of Kea's request around C{Content-Length}: (head up to the
    length value, rest up to the body).
    """
    head = b"POST / HTTP/1.1\r\nHost: " + host.encode("ascii") + b"\r\n"
    if authorization is not None:
        head += b"Authorization: " + authorization + b"\r\n"
    head += b"Content-Length: "
    return head, b"\r\nContent-Type: application/json\r\n\r\n"


class PeerHTTPProtocol(Protocol):
    """One persistent connection; one request in flight at a time."""

    _log = Logger()

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: Deferred | None = None
        self._status: int | None = None
        self._headers: dict[bytes, bytes] = {}
        self._need = -1
        self._keep_alive = True
        self._got_bytes = False
        self._chunks: list[bytes] = []
        self._have = 0
        self.reused = False
        self.connected_ = False
        self.on_lost: Callable[[PeerHTTPProtocol], None] | None = None

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        """Remember the connection is up."""
        self.connected_ = True

    @property
    def busy(self) -> bool:
        """True while a request waits for its answer."""
        return self._pending is not None

    def send(self, data: bytes) -> Deferred:
        """Write one complete request; fire with a L{PeerResponse}."""
        if self._pending is not None:
            raise RuntimeError("a request is already in flight on this connection")
        self._pending = Deferred(self._cancel)
        self._status = None
        self._headers = {}
        self._need = -1
        self._got_bytes = False
        self._buffer = b""
        self._chunks = []
        self._have = 0
        write_now(self.transport, data)
        return self._pending

    def _cancel(self, d: Deferred) -> None:
        self._pending = None
        self._keep_alive = False
        self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        """Parse the answer as it arrives."""
        if self._pending is None:
            # Bytes nobody asked for: the connection is out of step.
            self._keep_alive = False
            self.transport.loseConnection()
            return
        self._got_bytes = True
        if self._status is None:
            buffer = self._buffer + data if self._buffer else data
            end = buffer.find(_CRLFCRLF)
            if end < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    self._fail(PeerHTTPError("response header block too large"))
                else:
                    self._buffer = buffer
                return
            try:
                self._parse_head(buffer[:end])
            except PeerHTTPError as e:
                self._fail(e)
                return
            self._buffer = b""
            data = buffer[end + 4:]
            if len(data) >= self._need:
                self._complete(data)
                return
            self._chunks = [data]
            self._have = len(data)
            return
        self._chunks.append(data)
        self._have += len(data)
        if self._have >= self._need:
            self._complete(b"".join(self._chunks))

    def _complete(self, buffer: bytes) -> None:
        body, extra = buffer[: self._need], buffer[self._need:]
        self._chunks = []
        if extra:
            self._keep_alive = False
        response = PeerResponse(self._status, self._headers, body)
        d, self._pending = self._pending, None
        if not self._keep_alive:
            self.transport.loseConnection()
        d.callback(response)

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise PeerHTTPError(f"malformed status line {lines[0][:80]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise PeerHTTPError(f"malformed status line {lines[0][:80]!r}") from None
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise PeerHTTPError(f"malformed header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        if b"transfer-encoding" in headers:
            raise PeerHTTPError("response without Content-Length (chunked)")
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            raise PeerHTTPError("response without Content-Length")
        need = int(length)
        if need > MAX_BODY_BYTES:
            raise PeerHTTPError(f"response body too large ({need} bytes)")
        connection = headers.get(b"connection", b"").lower()
        if parts[0] == b"HTTP/1.0":
            self._keep_alive = connection == b"keep-alive"
        elif connection == b"close":
            self._keep_alive = False
        self._status = status
        self._headers = headers
        self._need = need

    def _fail(self, error: Exception) -> None:
        self._keep_alive = False
        d, self._pending = self._pending, None
        self.transport.loseConnection()
        if d is not None:
            d.errback(Failure(error))

    @property
    def reusable(self) -> bool:
        """True when the connection may carry another request."""
        return self._keep_alive and self.connected_ and self._pending is None

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802
        """Fail the request in flight, if any."""
        self.connected_ = False
        self._keep_alive = False
        d, self._pending = self._pending, None
        if self.on_lost is not None:
            self.on_lost(self)
        if d is not None:
            text = reason.getErrorMessage() or type(reason.value).__name__
            if self.reused and not self._got_bytes:
                d.errback(Failure(StaleConnectionError(text)))
            else:
                d.errback(Failure(PeerHTTPError(f"connection lost: {text}")))


class _Request:
    """One request on its way: its bytes, the caller's Deferred, the inner step."""

    __slots__ = ("data", "inner", "may_retry", "result")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.may_retry = True
        self.inner: Deferred | None = None
        self.result: Deferred = Deferred(self._cancel)

    def _cancel(self, _: Deferred) -> None:
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.cancel()


class _PeerConnections:
    """The connections to one peer and the requests waiting for one."""

    _log = Logger()

    def __init__(self, pool: PeerHTTPPool, host: str, port: int, endpoint: Any,
                 authorization: bytes | None) -> None:
        self._pool = pool
        self._endpoint = endpoint
        self.head, self.tail = build_request_head(host, authorization)
        self._idle: list[PeerHTTPProtocol] = []
        self._idle_timers: dict[PeerHTTPProtocol, Any] = {}
        self._count = 0
        self._waiting: collections.deque[_Request] = collections.deque()

    @property
    def connections(self) -> int:
        """Open (or opening) connections to this peer."""
        return self._count

    @property
    def queued(self) -> int:
        """Requests waiting for a free connection."""
        return len(self._waiting)

    def encode(self, body: bytes) -> bytes:
        """The whole request carrying C{body}."""
        return self.head + str(len(body)).encode("ascii") + self.tail + body

    def send(self, data: bytes) -> Deferred:
        """Send the request bytes; fire with a L{PeerResponse}."""
        request = _Request(data)
        self._dispatch(request)
        return request.result

    def _dispatch(self, request: _Request) -> None:
        while self._idle:
            protocol = self._idle.pop()
            timer = self._idle_timers.pop(protocol, None)
            if timer is not None and timer.active():
                timer.cancel()
            if protocol.reusable:
                self._run(protocol, request)
                return
        if self._count < self._pool.connections_per_peer:
            self._count += 1
            d = request.inner = self._endpoint.connect(self._pool.factory)
            d.addCallbacks(self._connected, self._connect_failed,
                           callbackArgs=(request,), errbackArgs=(request,))
            return
        self._waiting.append(request)

    def _connected(self, protocol: PeerHTTPProtocol, request: _Request) -> None:
        protocol.on_lost = self._lost
        set_no_delay(protocol.transport)
        self._run(protocol, request)

    def _connect_failed(self, failure: Failure, request: _Request) -> None:
        self._count -= 1
        request.inner = None
        if not request.result.called:
            text = failure.getErrorMessage() or type(failure.value).__name__
            request.result.errback(Failure(PeerHTTPError(text)))
        self._next()

    def _run(self, protocol: PeerHTTPProtocol, request: _Request) -> None:
        if request.result.called:
            self._release(protocol)
            return
        d = request.inner = protocol.send(request.data)
        d.addCallbacks(self._answered, self._request_failed,
                       callbackArgs=(protocol, request), errbackArgs=(request,))

    def _answered(self, response: PeerResponse, protocol: PeerHTTPProtocol,
                  request: _Request) -> None:
        request.inner = None
        self._release(protocol)
        if not request.result.called:
            request.result.callback(response)

    def _request_failed(self, failure: Failure, request: _Request) -> None:
        request.inner = None
        if failure.check(CancelledError) or request.result.called:
            return
        if failure.check(StaleConnectionError) and request.may_retry:
            self._log.debug("peer closed a kept-alive connection; retrying once")
            request.may_retry = False
            self._dispatch(request)
            return
        request.result.errback(failure)

    def _release(self, protocol: PeerHTTPProtocol) -> None:
        if not protocol.reusable:
            return
        protocol.reused = True
        while self._waiting:
            request = self._waiting.popleft()
            if not request.result.called:
                self._run(protocol, request)
                return
        self._idle.append(protocol)
        self._idle_timers[protocol] = self._pool.clock.callLater(
            self._pool.idle_timeout_s, self._expire, protocol)

    def _expire(self, protocol: PeerHTTPProtocol) -> None:
        self._idle_timers.pop(protocol, None)
        if protocol in self._idle:
            self._idle.remove(protocol)
            protocol.transport.loseConnection()

    def _lost(self, protocol: PeerHTTPProtocol) -> None:
        self._count -= 1
        if protocol in self._idle:
            self._idle.remove(protocol)
        timer = self._idle_timers.pop(protocol, None)
        if timer is not None and timer.active():
            timer.cancel()
        self._next()

    def _next(self) -> None:
        while self._waiting and self._count < self._pool.connections_per_peer:
            request = self._waiting.popleft()
            if not request.result.called:
                self._dispatch(request)
                return

    def close(self) -> None:
        """Close every idle connection (at shutdown)."""
        for protocol in list(self._idle):
            protocol.transport.loseConnection()
        self._idle.clear()
        for timer in self._idle_timers.values():
            if timer.active():
                timer.cancel()
        self._idle_timers.clear()


class PeerHTTPPool:
    """
    The HTTP client for every peer: a L{_PeerConnections} per peer address.

    @param reactor: provides TCP connections and C{callLater}.
    @param tls_creator_for: C{(host, port) -> IOpenSSLClientConnectionCreator}
        for https peers.
    @param endpoint_for: C{(scheme, host, port) -> IStreamClientEndpoint},
        replacing the TCP/TLS endpoints (tests).
    """

    def __init__(self, reactor: Any, tls_creator_for: Callable[[bytes, int], Any] | None = None,
                 connections_per_peer: int = 8, idle_timeout_s: float = 20.0,
                 connect_timeout_s: float = 10.0,
                 endpoint_for: Callable[[str, str, int], Any] | None = None) -> None:
        self.clock = reactor
        self._reactor = reactor
        self._tls = tls_creator_for
        self.connections_per_peer = connections_per_peer
        self.idle_timeout_s = idle_timeout_s
        self._connect_timeout = connect_timeout_s
        self.factory = Factory.forProtocol(PeerHTTPProtocol)
        self._peers: dict[tuple[str, str, int, bytes | None], _PeerConnections] = {}
        if endpoint_for is not None:
            self._endpoint = endpoint_for  # type: ignore[method-assign]

    def _endpoint(self, scheme: str, host: str, port: int) -> Any:
        tcp = TCP6ClientEndpoint if ":" in host else TCP4ClientEndpoint
        endpoint: Any = tcp(self._reactor, host, port, timeout=self._connect_timeout)
        if scheme == "https":
            if self._tls is None:
                raise PeerHTTPError(f"no TLS settings for {host}:{port}")
            endpoint = wrapClientTLS(self._tls(host.encode("ascii"), port), endpoint)
        return endpoint

    def sender(self, url: str, authorization: bytes | None = None) -> _PeerConnections:
        """The prepared connections to the peer at C{url} (built once)."""
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port, authorization)
        peer = self._peers.get(key)
        if peer is None:
            peer = self._peers[key] = _PeerConnections(
                self, host, port, self._endpoint(scheme, host, port), authorization)
        return peer

    def request(self, method: str, url: str, *, data: bytes = b"", headers: Any = None,
                **_ignored: Any) -> Deferred:
        """treq-style C{POST}; only the C{Authorization} header is taken from C{headers}."""
        if method != "POST":
            raise PeerHTTPError("only POST is supported")
        authorization = None
        if headers is not None:
            values = headers.getRawHeaders(b"authorization")
            authorization = values[0] if values else None
        peer = self.sender(url, authorization)
        return peer.send(peer.encode(data))

    def close(self) -> None:
        """Close idle connections."""
        for peer in self._peers.values():
            peer.close()


__all__ = ["PeerHTTPError", "PeerHTTPPool", "PeerHTTPProtocol", "PeerResponse",
           "StaleConnectionError", "UNKNOWN_LENGTH", "build_request_head"]
