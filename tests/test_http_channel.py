"""
Tests for L{kea_ha_tw.commands.http_channel}: the lean HTTP/1.1 channel of
the command listeners, driven byte by byte on a C{StringTransport} with a
C{MemoryReactorClock} (no sockets, no real time), in front of the real
L{ControlChannelResource}.
"""

from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from kea_ha_tw.commands import resource as resource_module
from kea_ha_tw.commands.envelope import answer
from kea_ha_tw.commands.http_channel import (
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    PAUSE_ABOVE,
    ControlHTTPChannel,
)
from kea_ha_tw.commands.resource import (
    IDLE_TIMEOUT_S,
    BasicAuthenticator,
    ControlSite,
)
from kea_ha_tw.config.model import ClientCredentials
from tests.commands_support import NOW
from tests.test_resource import BAD_REQUEST, BoomError, Fixture

ECHO = b'{"command": "echo", "arguments": {"a": 1}}'
ECHO_ANSWER = b'[ { "arguments": { "a": 1 }, "result": 0, "text": "echo" } ]'
LATER = b'{"command": "later"}'
#: The Date of the clock's NOW.
DATE = b"Wed, 25 Nov 2026 09:54:44 GMT"


class RecordingTransport(StringTransport):
    """A StringTransport that also keeps each write separately."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Record C{data} as one write."""
        self.writes.append(data)
        super().write(data)


def request(body: bytes = ECHO, version: bytes = b"HTTP/1.1", extra: bytes = b"",
            method: bytes = b"POST") -> bytes:
    """One request as our peer client writes it, with C{extra} header lines."""
    return (method + b" / " + version + b"\r\nHost: 127.0.0.1\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nContent-Type: application/json\r\n" + extra
            + b"\r\n" + body)


def answers(out: bytes) -> list[bytes]:
    """The bodies of the answers in C{out} (each framed by its Content-Length)."""
    bodies = []
    while out:
        head, _, rest = out.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        bodies.append(rest[:length])
        out = rest[length:]
    return bodies


class ChannelTestCase(SynchronousTestCase):
    """
    A ControlSite over the real resource with the test commands of
    L{tests.test_resource.Fixture} (C{echo}, C{later}, ...), one connection.
    """

    max_body_size = 64 * 1024 * 1024
    authenticator = None

    def setUp(self):
        fixture = Fixture(self, max_body_size=self.max_body_size,
                          authenticator=self.authenticator)
        self.calls, self.pending = fixture.calls, fixture.pending
        self.resource = fixture.resource
        self.clock = MemoryReactorClock()
        self.clock.advance(NOW)
        self.site = ControlSite(self.resource, self.clock)
        self.channel, self.transport = self.connect()

    def connect(self):
        """A new connection to the site."""
        channel = self.site.buildProtocol(None)
        transport = RecordingTransport()
        channel.makeConnection(transport)
        self.addCleanup(channel.connectionLost, Failure(ConnectionDone()))
        return channel, transport

    def send(self, data: bytes) -> bytes:
        """Feed C{data}; return and clear what the channel wrote."""
        self.channel.dataReceived(data)
        out = self.transport.value()
        self.transport.clear()
        return out

    def assert_rejected(self, data: bytes) -> None:
        """C{data} is answered 400 with Kea's body and the connection closes."""
        channel, transport = self.connect()
        channel.dataReceived(data)
        out = transport.value()
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (data, out))
        self.assertTrue(out.endswith(b"\r\n\r\n" + BAD_REQUEST), out)
        self.assertTrue(transport.disconnecting, data)
        self.assertEqual(self.calls, [])


class FramingTests(ChannelTestCase):
    """Requests in one piece, in many pieces, several together."""

    def test_answer_bytes(self):
        """One write: status line, Date, the resource's headers, Content-Length, body."""
        out = self.send(request())
        self.assertEqual(out, b"HTTP/1.1 200 OK\r\nDate: " + DATE + b"\r\n"
                              b"Content-Type: application/json\r\nContent-Length: "
                              + str(len(ECHO_ANSWER)).encode() + b"\r\n\r\n" + ECHO_ANSWER)
        self.assertEqual(len(self.transport.writes), 1)
        self.assertNotIn(b"server:", out.lower())
        self.assertFalse(self.transport.disconnecting)

    def test_split_byte_by_byte(self):
        """A request arriving one byte at a time is answered after its last byte."""
        data = request()
        for i in range(len(data) - 1):
            self.assertEqual(self.send(data[i:i + 1]), b"")
        self.assertEqual(answers(self.send(data[-1:])), [ECHO_ANSWER])

    def test_pipelined_in_one_segment(self):
        """Three requests in one dataReceived: three answers, in order."""
        out = self.send(request() + request(b'{"command": "echo", "arguments": {"a": 2}}')
                        + request())
        self.assertEqual(answers(out), [ECHO_ANSWER, ECHO_ANSWER.replace(b"1", b"2"),
                                        ECHO_ANSWER])
        self.assertEqual(len(self.calls), 3)

    def test_pipelined_and_split(self):
        """Requests cut at arbitrary places across segments are all answered in order."""
        data = request() * 5
        out = b"".join(self.send(data[i:i + 37]) for i in range(0, len(data), 37))
        self.assertEqual(answers(out), [ECHO_ANSWER] * 5)

    def test_later_requests_wait_for_a_pending_answer(self):
        """While an answer is pending, the next request is not even run; then both, in order."""
        self.assertEqual(self.send(request(LATER) + request()), b"")
        self.assertEqual(self.calls, [])
        self.pending[0].callback(answer(0, "first"))
        out = self.transport.value()
        self.assertEqual(answers(out), [b'[ { "result": 0, "text": "first" } ]', ECHO_ANSWER])
        self.assertEqual(len(self.transport.writes), 2)

    def test_reading_pauses_while_pending(self):
        """Much data behind a pending answer pauses the transport until the answer is out."""
        self.send(request(LATER))
        self.send(request() * (PAUSE_ABOVE // len(request()) + 1))
        self.assertEqual(self.transport.producerState, "paused")
        self.pending[0].callback(answer(0, "first"))
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(len(answers(self.transport.value())), PAUSE_ABOVE // len(request()) + 2)

    def test_bare_lf_and_header_case(self):
        """Bare LF line ends are tolerated; header names are case-insensitive."""
        data = (b"POST / HTTP/1.1\nhost: x\ncontent-LENGTH: " + str(len(ECHO)).encode()
                + b"\nCONTENT-TYPE:application/json  \n\n" + ECHO)
        self.assertEqual(answers(self.send(data)), [ECHO_ANSWER])

    def test_empty_lines_before_a_request(self):
        """Empty lines before a request line are ignored."""
        self.assertEqual(answers(self.send(b"\r\n\r\n" + request())), [ECHO_ANSWER])

    def test_light_request(self):
        """The resource sees method, uri, path, version, headers, paths and the client."""
        seen = []

        class Spy(Resource):
            isLeaf = True

            def render(self, request):
                seen.append((request.method, request.uri, request.path, request.clientproto,
                             request.requestHeaders.getRawHeaders("x-a"),
                             request.requestHeaders.hasHeader(b"X-B"), request.prepath,
                             request.postpath, request.getClientAddress(),
                             request.content.read()))
                return b"plain"

        self.site.resource = Spy()
        out = self.send(request(b"{}", extra=b"X-A: 1\r\nx-a: 2\r\n").replace(
            b"POST / ", b"POST /a%20b/c?x=1 "))
        self.assertEqual(seen, [(b"POST", b"/a%20b/c?x=1", b"/a%20b/c", b"HTTP/1.1",
                                 [b"1", b"2"], False, [], [b"a b", b"c"],
                                 self.transport.getPeer(), b"{}")])
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertEqual(answers(out), [b"plain"])


class RefusalTests(ChannelTestCase):
    """What is answered 400 or 413, and what happens to the connection."""

    max_body_size = 100

    def test_transfer_encoding(self):
        """Any Transfer-Encoding: 400 with Kea's body, nothing runs, the connection closes."""
        for coding in (b"chunked", b"gzip, chunked", b"identity"):
            channel, transport = self.connect()
            channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                 b"\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
                                 b"4\r\n{ } \r\n0\r\n\r\n" + request())
            out = transport.value()
            self.assertEqual(answers(out), [BAD_REQUEST])
            self.assertIn(b"Connection: close\r\n", out)
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.calls, [])

    def test_missing_content_length(self):
        """A POST without Content-Length: 400, and the connection goes on."""
        out = self.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
                        + request())
        self.assertEqual(answers(out), [BAD_REQUEST, ECHO_ANSWER])
        self.assertFalse(self.transport.disconnecting)

    def test_methods_other_than_post(self):
        """GET and PUT: 400; HEAD: 400 headers without a body."""
        out = self.send(request(method=b"GET") + request(method=b"PUT"))
        self.assertEqual(answers(out), [BAD_REQUEST, BAD_REQUEST])
        out = self.send(request(b"", method=b"HEAD"))
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        self.assertTrue(out.endswith(b"Content-Length: 40\r\n\r\n"))
        self.assertEqual(self.calls, [])

    def test_bad_request_lines(self):
        """Request lines that are not METHOD SP TARGET SP HTTP/1.x: 400 and close."""
        for line in (b"POST /", b"POST / HTTP/2.0", b"POST  / HTTP/1.1", b"POST / HTTP/1.1 x",
                     b"PO ST / HTTP/1.1", b"POST /\x01 HTTP/1.1", b"garbage"):
            self.assert_rejected(line + b"\r\nContent-Length: 0\r\n\r\n")

    def test_bad_header_lines(self):
        """No colon, white space before the colon, folding, a bare CR, no name: 400 and close."""
        for line in (b"Host x", b"Host : x", b" folded", b"\tfolded", b"X-A: a\rb", b": x",
                     b"X A: b"):
            self.assert_rejected(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n" + line + b"\r\n\r\n")

    def test_header_block_limit(self):
        """A header block over 16 KiB: 400 and close, without waiting for its end."""
        self.assert_rejected(b"POST / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEADER_BYTES)
        self.assert_rejected(b"POST / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEADER_BYTES
                             + b"\r\n\r\n")
        out = self.send(request(extra=b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 200) + b"\r\n"))
        self.assertEqual(answers(out), [ECHO_ANSWER])

    def test_header_count_limit(self):
        """More than 100 header lines: 400 and close; 100 are fine."""
        many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS - 3))
        self.assert_rejected(request(extra=many + b"X-One-More: v\r\n"))
        self.assertEqual(answers(self.send(request(extra=many))), [ECHO_ANSWER])

    def test_bad_content_length(self):
        """A non-numeric or conflicting Content-Length: 400 and close; repeated equal: fine."""
        for value in (b"abc", b"-1", b"1 2", b"+5", b"99999999999999999999"):
            self.assert_rejected(b"POST / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n")
        self.assert_rejected(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        n = str(len(ECHO)).encode()
        out = self.send(request(extra=b"Content-Length: " + n + b"\r\n"))
        self.assertEqual(answers(out), [ECHO_ANSWER])

    def test_body_too_large(self):
        """Over max_body_size: 413 at once; the body is dropped as it arrives, then go on."""
        big = b"x" * 1000
        data = request(big)
        head, body = data[:-len(big)], data[-len(big):]
        out = self.send(head + body[:10])
        self.assertEqual(answers(out),
                         [b'{ "result": 413, "text": "Request Entity Too Large" }'])
        self.assertTrue(out.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"))
        for i in range(10, len(body), 300):
            self.assertEqual(self.send(body[i:i + 300]), b"")
            self.assertEqual(self.channel._buf, b"")
        self.assertEqual(answers(self.send(request())), [ECHO_ANSWER])
        self.assertFalse(self.transport.disconnecting)
        self.assertEqual(len(self.calls), 1)

    def test_resource_exception(self):
        """A resource that raises: 500 with Kea's stock body, logged; the connection goes on."""

        class Broken(Resource):
            isLeaf = True

            def render(self, request):
                raise BoomError("kaputt")

        self.site.resource = Broken()
        out = self.send(request() + request())
        self.assertEqual(answers(out), [b'{ "result": 500, "text": "Internal Server Error" }'] * 2)
        self.assertTrue(out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"))
        self.assertEqual(len(self.flushLoggedErrors(BoomError)), 2)


class PersistenceTests(ChannelTestCase):
    """Keep-alive, close, HTTP/1.0, idle timeout, loss."""

    def test_http_10_closes(self):
        """HTTP/1.0 without keep-alive: an HTTP/1.0 answer, then close; later bytes ignored."""
        out = self.send(request(version=b"HTTP/1.0") + request())
        self.assertTrue(out.startswith(b"HTTP/1.0 200 OK\r\n"))
        self.assertEqual(answers(out), [ECHO_ANSWER])
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(len(self.calls), 1)

    def test_http_10_keep_alive(self):
        """HTTP/1.0 with Connection: keep-alive stays open and says so."""
        out = self.send(request(version=b"HTTP/1.0", extra=b"Connection: Keep-Alive\r\n") * 2)
        self.assertEqual(answers(out), [ECHO_ANSWER] * 2)
        self.assertEqual(out.count(b"\r\nConnection: keep-alive\r\n"), 2)
        self.assertFalse(self.transport.disconnecting)

    def test_connection_close(self):
        """HTTP/1.1 with Connection: close: the answer says close, then the connection closes."""
        out = self.send(request(extra=b"Connection: close\r\n") + request())
        self.assertEqual(answers(out), [ECHO_ANSWER])
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertTrue(self.transport.disconnecting)

    def test_idle_timeout(self):
        """Closed after 30 s without data on the clock; data restarts the count."""
        self.clock.advance(IDLE_TIMEOUT_S - 1)
        self.send(request())
        self.clock.advance(IDLE_TIMEOUT_S - 1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    def test_no_timeout_while_pending(self):
        """No idle timeout while an answer is pending; it starts again after the answer."""
        self.send(request(LATER))
        self.clock.advance(IDLE_TIMEOUT_S * 10)
        self.assertFalse(self.transport.disconnecting)
        self.pending[0].callback(answer(0, "late"))
        self.clock.advance(IDLE_TIMEOUT_S - 1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)

    def test_lost_while_pending(self):
        """The client leaves before the answer: notifyFinish fails, nothing is written."""
        finished = []

        class Waiting(Resource):
            isLeaf = True

            def render(self, request):
                request.notifyFinish().addBoth(finished.append)
                return NOT_DONE_YET

        self.site.resource = Waiting()
        self.send(request())
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertIsInstance(finished[0], Failure)
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lost_while_registry_answers_later(self):
        """Through the real resource: the late answer of a gone client is dropped."""
        self.send(request(LATER) + request())
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.pending[0].callback(answer(0, "late"))
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.calls, [])

    def test_finish_notifies(self):
        """notifyFinish fires with None once the answer is written."""
        finished = []
        self.send(request(LATER))
        self.channel._pending.notifyFinish().addBoth(finished.append)
        self.pending[0].callback(answer(0, "done"))
        self.assertEqual(finished, [None])


class HeaderTests(ChannelTestCase):
    """Date from the clock, WWW-Authenticate, the site."""

    authenticator = BasicAuthenticator("kea-ha-tw", [ClientCredentials("ha", "secret")])

    def test_date_cached_per_second(self):
        """Date is the clock's second, formatted once per second."""
        formatted = []
        real = resource_module.datetimeToString

        def counting(seconds):
            formatted.append(seconds)
            return real(seconds)

        self.patch(resource_module, "datetimeToString", counting)
        self.site = ControlSite(self.resource, self.clock)
        self.channel, self.transport = self.connect()
        auth = b"Authorization: Basic aGE6c2VjcmV0\r\n"
        first = self.send(request(extra=auth) * 2)
        self.clock.advance(0.5)
        self.send(request(extra=auth))
        self.assertEqual(first.count(b"Date: " + DATE + b"\r\n"), 2)
        self.clock.advance(0.5)
        later = self.send(request(extra=auth))
        self.assertIn(b"Date: Wed, 25 Nov 2026 09:54:45 GMT\r\n", later)
        self.assertEqual(formatted, [NOW, NOW + 1])

    def test_www_authenticate(self):
        """Without credentials: 401 with the challenge header."""
        out = self.send(request())
        self.assertTrue(out.startswith(b"HTTP/1.1 401 Unauthorized\r\n"))
        self.assertIn(b'\r\nWWW-Authenticate: Basic realm="kea-ha-tw"\r\n', out)

    def test_site(self):
        """The site builds lean channels, speaks http/1.1 only, uses the resource's limit."""
        self.assertIsInstance(self.channel, ControlHTTPChannel)
        self.assertEqual(self.site.acceptableProtocols(), [b"http/1.1"])
        self.assertEqual(self.site.max_body_size, self.resource.max_body_size)
        self.assertEqual(self.site.timeout, IDLE_TIMEOUT_S)
