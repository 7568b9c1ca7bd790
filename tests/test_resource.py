"""
Tests for L{kea_ha_tw.commands.resource}: the HTTP rules of Kea 2.2's
listeners, through C{StubTreq} over the real resource, and through the
listeners' channel (L{ControlSite}) on a C{StringTransport} where the raw
bytes matter (keep-alive, pipelining, missing Content-Length, HTTP/1.0).
Expected bodies are those captured from C{kea-ctrl-agent} and the HA
dedicated listener.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import HTTPStatusError, answer
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry
from kea_ha_tw.commands.resource import BasicAuthenticator, ControlChannelResource, ControlSite
from kea_ha_tw.config.model import ClientCredentials
from tests.commands_support import CommandHarness

BAD_REQUEST = b'{ "result": 400, "text": "Bad Request" }'
UNAUTHORIZED = b'{ "result": 401, "text": "Unauthorized" }'
FORBIDDEN = b'{ "result": 403, "text": "Forbidden" }'
SERVER_ERROR = b'{ "result": 500, "text": "Internal Server Error" }'
ECHO = b'{"command": "echo", "arguments": {"b": [1, 2], "a": "x"}}'
ECHO_ANSWER = b'[ { "arguments": { "a": "x", "b": [ 1, 2 ] }, "result": 0, "text": "echo" } ]'
#: base64("ha:secret"), as curl -u ha:secret sends it.
HA_SECRET = b"aGE6c2VjcmV0"


class BoomError(Exception):
    """A handler bug."""


class Fixture:
    """A registry with test commands, and a harness whose resource uses it."""

    def __init__(self, testcase, **resource_kw):
        self.calls = []
        self.pending = []
        registry = CommandRegistry()

        def echo(arguments, context):
            self.calls.append(arguments)
            return answer(0, "echo", arguments)

        def later(arguments, context):
            d = Deferred()
            self.pending.append(d)
            return d

        def crash(arguments, context):
            raise BoomError("kaputt")

        def http500(arguments, context):
            raise HTTPStatusError(500)

        for name, func in [("echo", echo), ("later", later), ("crash", crash),
                           ("http500", http500), ("nothing", lambda a, c: None)]:
            registry.register(CommandHandler(name, func))
        self.harness = CommandHarness(testcase)
        self.resource = ControlChannelResource(registry, self.harness.context, **resource_kw)
        self.harness.resource = self.resource
        from treq.testing import StubTreq
        self.harness.stub = StubTreq(self.resource)

    def post(self, body, headers=None, method="POST"):
        return self.harness.post_raw(body, headers, method)


class HTTPRuleTests(SynchronousTestCase):
    """What Kea's HTTP layer refuses, and how it answers."""

    def setUp(self):
        self.f = Fixture(self)

    def assert_bad_request(self, response, body):
        self.assertEqual((response.code, body), (400, BAD_REQUEST))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(self.f.calls, [])

    def test_answer_shape_and_headers(self):
        """200, a list in Kea's JSON form, Content-Length, Content-Type, Date; no Server."""
        response, body = self.f.post(ECHO)
        self.assertEqual((response.code, body), (200, ECHO_ANSWER))
        headers = response.headers
        self.assertEqual(response.length, len(body))
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertTrue(headers.hasHeader(b"date"))
        self.assertFalse(headers.hasHeader(b"server"))
        self.assertFalse(headers.hasHeader(b"transfer-encoding"))

    def test_methods_other_than_post(self):
        """GET, PUT, DELETE, HEAD: HTTP 400 with Kea's stock body (not 405)."""
        for method in ("GET", "PUT", "DELETE"):
            response, body = self.f.post(ECHO, method=method)
            self.assert_bad_request(response, body)
        response, body = self.f.post(b"", method="HEAD")
        self.assertEqual(response.code, 400)

    def test_content_type(self):
        """Exactly application/json, any case; missing or with charset: 400."""
        for value in ([b"application/json; charset=utf-8"], [b"text/plain"],
                      [b"application/jsonx"]):
            self.assert_bad_request(*self.f.post(ECHO, {b"Content-Type": value}))
        self.assert_bad_request(*self.f.post(ECHO, {}))
        response, body = self.f.post(ECHO, {b"Content-Type": [b"APPLICATION/JSON"]})
        self.assertEqual((response.code, body), (200, ECHO_ANSWER))

    def test_bad_json(self):
        """A body that is not JSON, only whitespace, or with trailing text: 400."""
        for body in (b'{"command":', b"   ", b'{"command": "echo"} xx', b"{bad json"):
            self.assert_bad_request(*self.f.post(body))

    def test_empty_body(self):
        """Kea: 200 [{"result": 1, "text": "Command processing failed: NULL command parameter"}]."""
        response, body = self.f.post(b"")
        self.assertEqual((response.code, body), (200, b'[ { "result": 1, "text": "Command '
                                                       b'processing failed: NULL command '
                                                       b'parameter" } ]'))

    def test_envelope_errors_in_a_list(self):
        """Envelope errors and unknown commands are 200 with Kea's texts in a list."""
        cases = [
            (b'[{"command":"echo"}]', b'[ { "result": 1, "text": "Error during command processing: '
                                      b'Invalid command Element specified, expected map" } ]'),
            (b'{"command":"echo","extra":1}', b'[ { "result": 1, "text": "Error during command '
             b'processing: Received command contains unsupported parameter \'extra\'" } ]'),
            (b'{"service":["dhcp4"]}',
             b'[ { "result": 1, "text": "Error during command processing: '
             b'Invalid answer specified, does not contain mandatory \'command\'" } ]'),
            (b'{"command":5}', b'[ { "result": 1, "text": "Error during command processing: '
                               b'\'command\' element in command message is not a string" } ]'),
            (b'{"command":"foo-bar","service":["dhcp4"]}',
             b'[ { "result": 2, "text": "\'foo-bar\' command not supported." } ]'),
        ]
        for request, expected in cases:
            response, body = self.f.post(request)
            self.assertEqual((response.code, body), (200, expected))
        self.assertEqual(self.f.calls, [])

    def test_service_and_remote_address_ignored(self):
        """
        C{service} (any value) and C{remote-address} do not matter, as on the
        dedicated listener.
        """
        response, body = self.f.post(b'{"command":"echo","service":"x","remote-address":"1.2.3.4"}')
        self.assertEqual((response.code, body), (200, b'[ { "result": 0, "text": "echo" } ]'))

    def test_too_large(self):
        """A body above the limit: HTTP 413, nothing runs."""
        f = Fixture(self, max_body_size=10)
        response, body = f.post(ECHO)
        self.assertEqual((response.code, body),
                         (413, b'{ "result": 413, "text": "Request Entity Too Large" }'))
        self.assertEqual(f.calls, [])


class HandlerOutcomeTests(SynchronousTestCase):
    """How handler outcomes reach the client."""

    def setUp(self):
        self.f = Fixture(self)

    def test_crash_is_result_1(self):
        """A crashing handler: 200 with result 1, and the failure is logged."""
        response, body = self.f.post(b'{"command":"crash"}')
        self.assertEqual((response.code, body),
                         (200, b'[ { "result": 1, "text": "Error during command processing: '
                               b'kaputt" } ]'))
        self.assertEqual(len(self.flushLoggedErrors(BoomError)), 1)

    def test_http_500(self):
        """HTTPStatusError, or no answer at all: Kea's HTTP 500 stock body (a map)."""
        for name in (b"http500", b"nothing"):
            response, body = self.f.post(b'{"command":"' + name + b'"}')
            self.assertEqual((response.code, body), (500, SERVER_ERROR))

    def test_answer_later(self):
        """A Deferred answer is written when it fires, in one piece."""
        d = self.f.harness.stub.post("http://127.0.0.1:8000/", data=b'{"command":"later"}',
                                     headers={b"Content-Type": [b"application/json"]})
        self.f.harness.stub.flush()
        self.assertNoResult(d)
        self.f.pending[0].callback(answer(0, "done"))
        self.f.harness.stub.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.length, 35)
        self.assertEqual(self.successResultOf(self.f.harness.stub.content(response)),
                         b'[ { "result": 0, "text": "done" } ]')


class AuthenticationTests(SynchronousTestCase):
    """Kea's basic authentication: 401 and nothing runs, unless credentials match."""

    def setUp(self):
        auth = BasicAuthenticator("kea-control-agent", [ClientCredentials("ha", "secret")])
        self.f = Fixture(self, authenticator=auth)

    def headers(self, authorization=None):
        h = {b"Content-Type": [b"application/json"]}
        if authorization is not None:
            h[b"Authorization"] = [authorization]
        return h

    def assert_unauthorized(self, response, body):
        self.assertEqual((response.code, body), (401, UNAUTHORIZED))
        self.assertEqual(response.headers.getRawHeaders(b"www-authenticate"),
                         [b'Basic realm="kea-control-agent"'])
        self.assertEqual(self.f.calls, [])

    def test_missing_or_wrong_credentials(self):
        """No header, a wrong password, another scheme: 401 with the challenge."""
        self.assert_unauthorized(*self.f.post(ECHO, self.headers()))
        self.assert_unauthorized(*self.f.post(ECHO, self.headers(b"Basic aGE6d3Jvbmc=")))
        self.assert_unauthorized(*self.f.post(ECHO, self.headers(b"Bearer " + HA_SECRET)))
        self.assert_unauthorized(*self.f.post(ECHO, self.headers(b"Basic")))

    def test_right_credentials(self):
        """The configured user and password run the command; the scheme is case-insensitive."""
        for scheme in (b"Basic ", b"basic "):
            response, body = self.f.post(ECHO, self.headers(scheme + HA_SECRET))
            self.assertEqual((response.code, body), (200, ECHO_ANSWER))
        self.assertEqual(len(self.f.calls), 2)

    def test_http_checks_come_first(self):
        """Kea rejects a bad request with 400 before looking at credentials."""
        response, body = self.f.post(b"{bad", self.headers())
        self.assertEqual((response.code, body), (400, BAD_REQUEST))
        response, body = self.f.post(ECHO, {})
        self.assertEqual((response.code, body), (400, BAD_REQUEST))


class AcceptListTests(SynchronousTestCase):
    """HA's restrict-commands: other commands get HTTP 403."""

    def test_forbidden(self):
        """A command outside the list: 403 Forbidden; listed ones run."""
        f = Fixture(self, accept_commands=["echo"])
        response, body = f.post(b'{"command":"crash"}')
        self.assertEqual((response.code, body), (403, FORBIDDEN))
        response, body = f.post(ECHO)
        self.assertEqual((response.code, body), (200, ECHO_ANSWER))
        response, body = f.post(b'[1]')
        self.assertEqual(response.code, 200)


class ChannelTests(SynchronousTestCase):
    """Raw HTTP through ControlSite's channel: keep-alive, pipelining, HTTP/1.0."""

    def setUp(self):
        self.f = Fixture(self)
        self.clock = Clock()
        site = ControlSite(self.f.resource, self.clock)
        self.channel = site.buildProtocol(None)
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def tearDown(self):
        self.channel.connectionLost(Failure(ConnectionDone()))

    def request(self, body, version=b"HTTP/1.1", extra=b""):
        return (b"POST / " + version + b"\r\nHost: 127.0.0.32\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)

    def test_pipelined_requests_answered_in_order(self):
        """Several requests in flight on one connection are answered in order, kept alive."""
        self.channel.dataReceived(self.request(b'{"command":"later"}') + self.request(ECHO))
        self.assertEqual(self.transport.value(), b"")
        self.f.pending[0].callback(answer(0, "first"))
        out = self.transport.value()
        first = out.index(b'"first"')
        second = out.index(b'"echo"')
        self.assertLess(first, second)
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 2)
        self.assertEqual(out.lower().count(b"content-length:"), 2)
        self.assertNotIn(b"chunked", out.lower())
        self.assertFalse(self.transport.disconnecting)

    def test_missing_content_length(self):
        """A POST without Content-Length: 400."""
        raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
        self.channel.dataReceived(raw)
        out = self.transport.value()
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"))
        self.assertTrue(out.endswith(b"\r\n\r\n" + BAD_REQUEST))

    def test_http_10(self):
        """An HTTP/1.0 request gets an HTTP/1.0 answer and the connection closes."""
        self.channel.dataReceived(self.request(ECHO, b"HTTP/1.0"))
        out = self.transport.value()
        self.assertTrue(out.startswith(b"HTTP/1.0 200 OK\r\n"))
        self.assertTrue(out.endswith(ECHO_ANSWER))
        self.assertTrue(self.transport.disconnecting)

    def test_client_gone_before_answer(self):
        """When the client leaves first, the late answer is dropped quietly."""
        self.channel.dataReceived(self.request(b'{"command":"later"}'))
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.f.pending[0].callback(answer(0, "late"))
        self.assertEqual(self.transport.value(), b"")

    def test_idle_timeout(self):
        """An idle connection is closed after Kea's 30 s."""
        self.clock.advance(29)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.disconnecting)

    def test_chunked_request(self):
        """A chunked request body is discarded while it arrives and answered 400."""
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + b"4\r\n{ } \r\n0\r\n\r\n")
        self.channel.dataReceived(raw)
        self.assertTrue(self.transport.value().endswith(BAD_REQUEST))
        self.assertEqual(self.f.calls, [])


class AnswerEncodingTests(SynchronousTestCase):
    """The answer body writer and its cache of simple answers."""

    def test_same_bytes_as_kea_writer(self):
        """Cached or not, the body is Kea's JSON form of the answer list."""
        from kea_ha_tw.commands import resource
        from kea_ha_tw.commands.envelope import kea_json_dumps

        for value in ([{"result": 0, "text": "IPv4 lease added."}],
                      [{"result": 0, "text": "IPv4 lease added."}],
                      [{"result": 3, "text": "IPv4 lease not found."}],
                      [{"result": 0, "text": "x", "arguments": {"a": 1}}],
                      {"result": 400, "text": "Bad Request"}):
            self.assertEqual(resource._encode_answer(value), kea_json_dumps(value).encode())

    def test_cache_is_bounded(self):
        """Distinct texts beyond the bound are encoded without being kept."""
        from kea_ha_tw.commands import resource

        for n in range(resource._SIMPLE_ANSWERS_MAX + 50):
            resource._encode_answer([{"result": 1, "text": f"error {n}"}])
        self.assertLessEqual(len(resource._SIMPLE_ANSWERS), resource._SIMPLE_ANSWERS_MAX)
