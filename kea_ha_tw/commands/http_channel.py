# -*- test-case-name: tests.test_http_channel -*-
"""
A lean HTTP/1.1 server protocol for the command listeners: it serves a
C{twisted.web} resource tree with the HTTP rules of Kea 2.2's listeners.

Every HA lease update a peer sends is one POST; C{twisted.web}'s
C{HTTPChannel} (line splitting, C{Headers}, C{Request} construction and
C{process}, header encoding) cost about as much CPU as the update itself.
This channel parses requests from a byte buffer, hands a light
L{ControlHTTPRequest} to the same resource (C{getChildForRequest}, then
C{render}) and writes each answer in one piece, sent in the same reactor
turn when the socket takes it (L{kea_ha_tw.tcp_write.write_now}; Nagle off).

 - Request line C{METHOD SP TARGET SP HTTP/1.x}, header lines up to an empty
   line (CRLF; bare LF tolerated), names case-insensitive; the body is
   C{Content-Length} bytes (none without it: the resource answers 400).
 - A bad request line or header line (no colon, space before it, folding,
   a bare CR), a header block over 16 KiB, more than 100 header lines, a
   bad or conflicting C{Content-Length}: 400 with Kea's body, then close.
 - Any C{Transfer-Encoding}: the resource gets the request without a body
   (it answers 400), then the connection closes (the body's end is unknown).
 - C{Content-Length} above the resource's C{max_body_size}: the resource
   gets the request at once with C{body_too_large} set (it answers 413);
   the announced bytes are dropped as they arrive, never buffered, and the
   connection goes on (closing while the client still sends could reset
   the connection under the answer).
 - Pipelined requests are answered in order: while an answer is pending,
   later bytes wait unparsed (reading pauses above 64 KiB of them).
 - HTTP/1.0 closes after the answer unless C{Connection: keep-alive};
   C{Connection: close} closes after the answer.
 - Kea's idle timeout on the injected clock, off while an answer is
   pending; a lost connection fails the pending request's C{notifyFinish}
   and nothing is written.

An answer is the status line, C{Date} (formatted once per second of the
clock), the headers the resource set, and C{Content-Length}.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET

from kea_ha_tw.commands.envelope import kea_json_dumps, stock_http_body
from kea_ha_tw.loggers import Logger
from kea_ha_tw.tcp_write import set_no_delay, write_now

#: Largest request line plus header block, in bytes.
MAX_HEADER_BYTES = 16 * 1024
#: Most header lines in one request.
MAX_HEADERS = 100
#: While an answer is pending, reading pauses once this much is buffered.
PAUSE_ABOVE = 64 * 1024

_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) HTTP/1\.([0-9])")
#: A header line: a token, a colon, a value without CR, LF or NUL (no folding).
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n\x00]*?)[ \t]*")
_FIELDS: dict[bytes, tuple[bytes, bytes]] = {}
_FIELDS_MAX = 1024
_NAMES = {
    b"content-type": b"Content-Type", b"content-length": b"Content-Length",
    b"www-authenticate": b"WWW-Authenticate", b"connection": b"Connection",
}
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nDate: %s\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n"
)
_BAD_REQUEST_BODY = kea_json_dumps(stock_http_body(400)).encode("ascii")
_SERVER_ERROR_BODY = kea_json_dumps(stock_http_body(500)).encode("ascii")
_STATUS_LINES: dict[tuple[bytes, int], bytes] = {}


def _parse_field(line: bytes) -> tuple[bytes, bytes] | None:
    """(lower-cased name, value) of a header line; remembered, as peers repeat them."""
    match = _FIELD.fullmatch(line)
    if match is None:
        return None
    field = (match.group(1).lower(), match.group(2))
    if len(_FIELDS) < _FIELDS_MAX and len(line) <= 256:
        _FIELDS[line] = field
    return field


def _status_line(version: bytes, code: int) -> bytes:
    line = _STATUS_LINES.get((version, code))
    if line is None:
        line = b"%s %d %s\r\n" % (version, code, RESPONSES.get(code, b"Unknown Status"))
        if len(_STATUS_LINES) < 64:
            _STATUS_LINES[(version, code)] = line
    return line


def _canonical(name: bytes) -> bytes:
    known = _NAMES.get(name)
    if known is None:
        known = b"-".join(part.capitalize() for part in name.split(b"-"))
    return known


def _lower(name: bytes | str) -> bytes:
    return (name.encode("latin-1") if type(name) is str else name).lower()


class HeaderMap:
    """
    The subset of C{twisted.web.http_headers.Headers} the command resource
    uses: raw values by lower-cased bytes name, in the order first set.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[bytes, list[bytes]] | None = None) -> None:
        self._raw = {} if raw is None else raw

    def getRawHeaders(self, name: bytes | str, default: Any = None) -> Any:  # noqa: N802
        """The values of C{name}, or C{default}."""
        return self._raw.get(_lower(name), default)

    def hasHeader(self, name: bytes | str) -> bool:  # noqa: N802 - Headers API
        """True when C{name} has a value."""
        return _lower(name) in self._raw

    def setRawHeaders(self, name: bytes | str, values: list[bytes]) -> None:  # noqa: N802
        """Replace the values of C{name}."""
        self._raw[_lower(name)] = list(values)

    def addRawHeader(self, name: bytes | str, value: bytes) -> None:  # noqa: N802
        """Add one value to C{name}."""
        self._raw.setdefault(_lower(name), []).append(value)

    def removeHeader(self, name: bytes | str) -> None:  # noqa: N802 - Headers API
        """Forget C{name}."""
        self._raw.pop(_lower(name), None)


class ControlHTTPRequest:
    """
    One request on a L{ControlHTTPChannel}, with the part of
    C{twisted.web.iweb.IRequest} a command resource uses (it does not
    claim the whole interface): C{method}, C{uri}, C{path}, C{clientproto},
    C{requestHeaders}, C{content}, C{prepath}/C{postpath},
    C{responseHeaders}, C{code}, C{setResponseCode}, C{setHeader},
    C{write}, C{finish}, C{notifyFinish}, C{getClientAddress}, C{getHost};
    plus C{body_too_large} (the body was over the limit and dropped).
    """

    __slots__ = (
        "channel", "site", "method", "uri", "path", "clientproto", "requestHeaders", "content",
        "prepath", "postpath", "responseHeaders", "code", "body_too_large", "persistent",
        "finished", "_body", "_notify", "_lost",
    )

    def __init__(self, channel: ControlHTTPChannel, method: bytes, uri: bytes,
                 version: bytes, headers: dict[bytes, list[bytes]]) -> None:
        self.channel = channel
        self.site = channel.factory
        self.method = method
        self.uri = uri
        self.path = path = uri.split(b"?", 1)[0]
        self.clientproto = version
        self.requestHeaders = HeaderMap(headers)
        self.content = None
        if b"%" in path:
            self.postpath = [unquote_to_bytes(p) for p in path[1:].split(b"/")]
        else:
            self.postpath = path[1:].split(b"/")
        self.prepath: list[bytes] = []
        self.responseHeaders = HeaderMap()
        self.code = 200
        self.body_too_large = False
        self.persistent = True
        self.finished = False
        self._body: list[bytes] = []
        self._notify: list[Deferred[None]] | None = None
        self._lost = False

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:  # noqa: N802
        """The status of the answer (the reason phrase is the standard one)."""
        self.code = code

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:  # noqa: N802
        """Set one response header."""
        if type(value) is str:
            value = value.encode("latin-1")
        self.responseHeaders.setRawHeaders(name, [value])

    def write(self, data: bytes) -> None:
        """Add C{data} to the body (sent on L{finish})."""
        if self.finished:
            raise RuntimeError("write() after finish()")
        if data:
            self._body.append(data)

    def finish(self) -> None:
        """Send the answer; after a lost connection, nothing happens."""
        if self.finished:
            raise RuntimeError("finish() called twice")
        self.finished = True
        if not self._lost:
            self.channel._answer(self)
            self._fire(None)

    def notifyFinish(self) -> Deferred[None]:  # noqa: N802 - IRequest API
        """A Deferred fired when the answer is sent, or failed when the connection is lost."""
        d: Deferred[None] = Deferred()
        if self._notify is None:
            self._notify = []
        self._notify.append(d)
        return d

    def getClientAddress(self) -> Any:  # noqa: N802 - IRequest API
        """The client's address."""
        return self.channel.transport.getPeer()

    def getHost(self) -> Any:  # noqa: N802 - IRequest API
        """This side's address."""
        return self.channel.transport.getHost()

    def connection_lost(self, reason: Failure) -> None:
        """The client went away before the answer: fail the C{notifyFinish} Deferreds."""
        self._lost = True
        self._fire(reason)

    def _fire(self, result: Failure | None) -> None:
        notify, self._notify = self._notify, None
        for d in notify or ():
            if result is None:
                d.callback(None)
            else:
                d.errback(result)


class ControlHTTPChannel(Protocol, TimeoutMixin):
    """
    The lean HTTP/1.1 server protocol; its factory (a C{ControlSite}) gives
    C{resource}, C{reactor}, C{timeout}, C{max_body_size} and C{date()}.
    """

    _log = Logger()

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.callLater = factory.reactor.callLater
        self._idle = factory.timeout
        self._max_body = factory.max_body_size
        self._buf = b""
        self._pending: ControlHTTPRequest | None = None
        self._collecting: ControlHTTPRequest | None = None
        self._chunks: list[bytes] = []
        self._need = 0
        self._discard = 0
        self._stopped = False
        self._feeding = False
        self._paused = False
        self._timer_off = False

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        """Start the idle timeout; answers leave without Nagle's delay."""
        set_no_delay(self.transport)
        self.setTimeout(self._idle)

    def connectionLost(self, reason: Failure = None) -> None:  # noqa: N802 - Twisted API
        """Stop the timer; a pending request learns the client is gone."""
        self._stopped = True
        self.setTimeout(None)
        self._buf = b""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.connection_lost(reason)

    def timeoutConnection(self) -> None:  # noqa: N802 - TimeoutMixin API
        """Close an idle connection (Kea's idle timeout)."""
        self._log.debug("closing idle connection with {peer}", peer=self.transport.getPeer(),
                        msg_id="HTTP_IDLE_CONNECTION_TIMEOUT_OCCURRED")
        self._stopped = True
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        """Parse and serve the requests in C{data}, in order."""
        if self._stopped:
            return
        if not self._timer_off:
            self.resetTimeout()
        if self._buf:
            data = self._buf + data
            self._buf = b""
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        self._feeding = True
        try:
            self._feed_loop(data)
        finally:
            self._feeding = False

    def _feed_loop(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n and not self._stopped:
            if self._discard:
                take = min(self._discard, n - pos)
                self._discard -= take
                pos += take
                continue
            if self._collecting is not None:
                take = min(self._need, n - pos)
                self._chunks.append(data[pos:pos + take])
                self._need -= take
                pos += take
                if not self._need:
                    request, self._collecting = self._collecting, None
                    request.content = BytesIO(b"".join(self._chunks))
                    self._chunks = []
                    self._dispatch(request)
                continue
            if self._pending is not None:
                self._buf = data[pos:]
                if len(self._buf) > PAUSE_ABOVE and not self._paused:
                    self._paused = True
                    self.transport.pauseProducing()
                return
            while data[pos:pos + 1] in (b"\r", b"\n") and pos < n:
                pos += 1  # empty lines before a request line are ignored
            if pos >= n:
                return
            limit = pos + MAX_HEADER_BYTES + 4
            crlf = data.find(b"\n\r\n", pos, limit)
            lf = data.find(b"\n\n", pos, crlf + 1 if crlf >= 0 else limit)
            if lf >= 0:
                newline, after = lf, lf + 2
            elif crlf >= 0:
                newline, after = crlf, crlf + 3
            else:
                if n - pos > MAX_HEADER_BYTES:
                    self._reject("header block too large")
                else:
                    self._buf = data[pos:]
                return
            end = newline - 1 if data[newline - 1] == 13 else newline
            if end - pos > MAX_HEADER_BYTES:
                self._reject("header block too large")
                return
            request = self._parse_head(data[pos:end])
            pos = after
            if request is None:
                return
            length = self._content_length(request)
            if length is None:
                return
            if length > self._max_body:
                request.body_too_large = True
                request.content = BytesIO()
                self._discard = length
                self._dispatch(request)
            elif n - pos >= length:
                request.content = BytesIO(data[pos:pos + length])
                pos += length
                self._dispatch(request)
            else:
                self._collecting = request
                self._need = length

    def _parse_head(self, head: bytes) -> ControlHTTPRequest | None:
        lines = head.split(b"\r\n")
        crlf = len(lines) - 1
        if head.count(b"\r") != crlf or head.count(b"\n") != crlf:  # bare LF (or CR)
            lines = [line[:-1] if line[-1:] == b"\r" else line for line in head.split(b"\n")]
        match = _REQUEST_LINE.fullmatch(lines[0])
        if match is None or len(lines) > MAX_HEADERS + 1:
            return self._reject("bad request line or too many headers")
        headers: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            field = _FIELDS.get(line)
            if field is None:
                field = _parse_field(line)
                if field is None:
                    return self._reject("bad header line")
            key, value = field
            values = headers.get(key)
            if values is None:
                headers[key] = [value]
            else:
                values.append(value)
        method, uri, minor = match.groups()
        version = b"HTTP/1.0" if minor == b"0" else b"HTTP/1.1"
        request = ControlHTTPRequest(self, method, uri, version, headers)
        connection = headers.get(b"connection")
        if connection is not None:
            tokens = {t.strip().lower() for v in connection for t in v.split(b",")}
            if b"close" in tokens or (minor == b"0" and b"keep-alive" not in tokens):
                request.persistent = False
            elif minor == b"0":
                request.responseHeaders.setRawHeaders(b"connection", [b"keep-alive"])
        elif minor == b"0":
            request.persistent = False
        return request

    def _content_length(self, request: ControlHTTPRequest) -> int | None:
        headers = request.requestHeaders._raw
        if b"transfer-encoding" in headers:
            request.persistent = False
            return 0
        values = headers.get(b"content-length")
        if values is None:
            return 0
        value = values[0]
        if not value.isdigit() or any(v != value for v in values) or len(value) > 18:
            self._reject("bad Content-Length")
            return None
        return int(value)

    def _dispatch(self, request: ControlHTTPRequest) -> None:
        self._pending = request
        if not request.persistent:
            self._stopped = True
            self._buf = b""
        try:
            resource = getChildForRequest(self.factory.resource, request)
            body = resource.render(request)
        except Exception:
            self._log.failure("command resource failed", msg_id="HTTP_REQUEST_HANDLING_FAILED")
            if request.finished:
                return
            body = _SERVER_ERROR_BODY
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"application/json")
        if body is not NOT_DONE_YET and not request.finished:
            request.write(body)
            request.finish()
        if self._pending is request:
            self._timer_off = True
            self.setTimeout(None)

    def _answer(self, request: ControlHTTPRequest) -> None:
        """Write C{request}'s answer; called by its C{finish}."""
        body = b"".join(request._body)
        out = [_status_line(request.clientproto, request.code),
               b"Date: ", self.factory.date(), b"\r\n"]
        for name, values in request.responseHeaders._raw.items():
            if name == b"content-length":
                continue
            canonical = _canonical(name)
            for value in values:
                if b"\n" in value or b"\r" in value:
                    value = value.replace(b"\r", b" ").replace(b"\n", b" ")
                out += (canonical, b": ", value, b"\r\n")
        if not request.persistent and request.clientproto != b"HTTP/1.0":
            out.append(b"Connection: close\r\n")
        out += (b"Content-Length: ", b"%d" % len(body), b"\r\n\r\n")
        if request.method != b"HEAD":
            out.append(body)
        write_now(self.transport, b"".join(out))
        if self._pending is request:
            self._pending = None
        if not request.persistent:
            self._stopped = True
            self.transport.loseConnection()
            return
        if self._timer_off:
            self._timer_off = False
            self.setTimeout(self._idle)
        if self._paused:
            self._paused = False
            self.transport.resumeProducing()
        if self._buf and not self._feeding:
            data, self._buf = self._buf, b""
            self._feed(data)

    def _reject(self, why: str) -> None:  # returns None, for "return self._reject(...)"
        """Answer HTTP 400 with Kea's stock body and close."""
        self._log.debug("bad request from {peer}: {why}", peer=self.transport.getPeer(), why=why,
                        msg_id="HTTP_BAD_CLIENT_REQUEST_RECEIVED")
        self._stopped = True
        self._buf = b""
        head = _BAD_REQUEST % (self.factory.date(), len(_BAD_REQUEST_BODY))
        self.transport.write(head + _BAD_REQUEST_BODY)
        self.transport.loseConnection()
