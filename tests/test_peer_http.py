"""
Tests for L{kea_ha_tw.ha.peer_http}: the lean peer HTTP client, over
in-memory connections (raw string transports, or iosim pumps to a real
twisted.web site).
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.client import PeerClient
from kea_ha_tw.ha.peer_http import PeerHTTPError, PeerHTTPPool, build_request_head
from tests.kea_peer_stub import HANG, FakeKeaPeer, ok, peer_config

URL = "http://127.0.0.12:8001/"
OK_BODY = b'[ { "result": 0, "text": "" } ]'
OK_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n"
             % len(OK_BODY)) + OK_BODY


class RawEndpoint:
    """Connections whose transports are StringTransports the test drives."""

    def __init__(self, refuse: bool = False) -> None:
        self.protocols = []
        self.refuse = refuse

    def connect(self, factory):
        """Build a connected protocol at once (or refuse)."""
        if self.refuse:
            return fail(ConnectionRefusedError("Connection refused"))
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.protocols.append(protocol)
        return succeed(protocol)


def raw_pool(endpoint, **kwargs):
    """A pool whose every connection goes to C{endpoint}."""
    clock = Clock()
    pool = PeerHTTPPool(clock, endpoint_for=lambda scheme, host, port: endpoint, **kwargs)
    return pool, clock


def answer(protocol, data=OK_ANSWER, close=False):
    """Feed an answer to a raw connection."""
    protocol.dataReceived(data)
    if close:
        protocol.connectionLost(iosim.Failure(ConnectionRefusedError()))


class SiteEndpoint:
    """Connections pumped (iosim) to a real twisted.web Site."""

    def __init__(self, resource) -> None:
        self.site = Site(resource)
        self.pumps = []
        self.connects = 0

    def connect(self, factory):
        """Connect a new client protocol to a new server channel."""
        self.connects += 1
        server = self.site.buildProtocol(None)
        client = factory.buildProtocol(None)
        server_transport = iosim.FakeTransport(server, isServer=True)
        client_transport = iosim.FakeTransport(client, isServer=False)
        pump = iosim.connect(server, server_transport, client, client_transport, greet=False)
        self.pumps.append(pump)
        return succeed(client)

    def flush(self):
        """Move every pending byte."""
        for pump in self.pumps:
            pump.flush()


class WireTests(SynchronousTestCase):
    """What goes on the wire and how answers are read."""

    def test_request_bytes_are_keas(self):
        """POST / with Host (no port), Authorization, Content-Length, Content-Type, body."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        sender = pool.sender(URL, b"Basic aGF1c2VyOmhhcGFzcw==")
        sender.send(sender.encode(b'{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }'))
        self.assertEqual(
            endpoint.protocols[0].transport.value(),
            b"POST / HTTP/1.1\r\nHost: 127.0.0.12\r\n"
            b"Authorization: Basic aGF1c2VyOmhhcGFzcw==\r\nContent-Length: 53\r\n"
            b"Content-Type: application/json\r\n\r\n"
            b'{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }')

    def test_head_without_auth(self):
        """Without credentials there is no Authorization header."""
        head, tail = build_request_head("127.0.0.1", None)
        self.assertEqual(head + b"7" + tail,
                         b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 7\r\n"
                         b"Content-Type: application/json\r\n\r\n")

    def test_answer_in_pieces(self):
        """An answer split across reads is reassembled."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        protocol = endpoint.protocols[0]
        for i in range(0, len(OK_ANSWER), 7):
            self.assertNoResult(d)
            protocol.dataReceived(OK_ANSWER[i:i + 7])
        response = self.successResultOf(d)
        self.assertEqual((response.code, response.length), (200, len(OK_BODY)))
        self.assertEqual(self.successResultOf(response.content()), OK_BODY)

    def test_large_body_in_many_reads(self):
        """A 3 MB page arriving in 64 KiB reads is assembled exactly."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        body = bytes(range(256)) * (3 * 4096)
        wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        for i in range(0, len(wire), 65536):
            endpoint.protocols[0].dataReceived(wire[i:i + 65536])
        self.assertEqual(self.successResultOf(d).body, body)

    def test_chunked_refused(self):
        """A chunked answer fails the request and the connection."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0], b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n")
        self.assertIn("Content-Length", str(self.failureResultOf(d, PeerHTTPError).value))
        self.assertTrue(endpoint.protocols[0].transport.disconnecting)

    def test_no_content_length_refused(self):
        """An answer without Content-Length (close-delimited) fails."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0],
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[]")
        self.failureResultOf(d, PeerHTTPError)

    def test_garbage_status(self):
        """A malformed status line fails."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0], b"HELLO\r\n\r\n")
        self.failureResultOf(d, PeerHTTPError)


class ConnectionTests(SynchronousTestCase):
    """Keep-alive, concurrency limit, queueing, retry, cancel, idle timeout."""

    def test_keep_alive_reuse(self):
        """A second request reuses the kept-alive connection."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d1 = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0])
        self.successResultOf(d1)
        d2 = pool.request("POST", URL, data=b"{}")
        self.assertEqual(len(endpoint.protocols), 1)
        answer(endpoint.protocols[0])
        self.successResultOf(d2)

    def test_connection_close_not_reused(self):
        """Connection: close ends the connection after the answer."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0], OK_ANSWER.replace(b"Content-Length", b"Connection: close\r\n"
                                                        b"Content-Length"))
        self.successResultOf(d)
        self.assertTrue(endpoint.protocols[0].transport.disconnecting)

    def test_limit_and_queue(self):
        """With two connections allowed, a third request waits for a free one."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint, connections_per_peer=2)
        ds = [pool.request("POST", URL, data=b"{}") for _ in range(3)]
        self.assertEqual(len(endpoint.protocols), 2)
        self.assertEqual(pool.sender(URL).queued, 1)
        answer(endpoint.protocols[1])
        self.successResultOf(ds[1])
        self.assertNoResult(ds[2])
        answer(endpoint.protocols[1])
        self.successResultOf(ds[2])
        answer(endpoint.protocols[0])
        self.successResultOf(ds[0])
        self.assertEqual(len(endpoint.protocols), 2)

    def test_stale_connection_retried_once(self):
        """A reused connection dying before answering: retried on a new connection."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0])
        self.successResultOf(d)
        d = pool.request("POST", URL, data=b"{}")
        endpoint.protocols[0].connectionLost(iosim.Failure(ConnectionRefusedError()))
        self.assertEqual(len(endpoint.protocols), 2)
        answer(endpoint.protocols[1])
        self.successResultOf(d)

    def test_fresh_connection_loss_fails(self):
        """A new connection dying before answering fails (no retry)."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        endpoint.protocols[0].connectionLost(iosim.Failure(ConnectionRefusedError()))
        self.failureResultOf(d, PeerHTTPError)
        self.assertEqual(len(endpoint.protocols), 1)

    def test_refused(self):
        """A refused connection fails the request."""
        pool, _ = raw_pool(RawEndpoint(refuse=True))
        self.failureResultOf(pool.request("POST", URL, data=b"{}"), PeerHTTPError)

    def test_cancel_in_flight_aborts(self):
        """Cancelling an in-flight request aborts its connection."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint)
        d = pool.request("POST", URL, data=b"{}")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(endpoint.protocols[0].transport.disconnected
                        or endpoint.protocols[0].transport.disconnecting)

    def test_cancel_queued(self):
        """Cancelling a queued request drops it from the queue."""
        endpoint = RawEndpoint()
        pool, _ = raw_pool(endpoint, connections_per_peer=1)
        d1 = pool.request("POST", URL, data=b"1")
        d2 = pool.request("POST", URL, data=b"2")
        d2.cancel()
        self.failureResultOf(d2, CancelledError)
        answer(endpoint.protocols[0])
        self.successResultOf(d1)
        self.assertEqual(endpoint.protocols[0].transport.value().count(b"POST"), 1)

    def test_idle_timeout(self):
        """An idle connection is closed after idle_timeout_s."""
        endpoint = RawEndpoint()
        pool, clock = raw_pool(endpoint, idle_timeout_s=20)
        d = pool.request("POST", URL, data=b"{}")
        answer(endpoint.protocols[0])
        self.successResultOf(d)
        clock.advance(19)
        self.assertFalse(endpoint.protocols[0].transport.disconnecting)
        clock.advance(2)
        self.assertTrue(endpoint.protocols[0].transport.disconnecting)


class EndToEndTests(SynchronousTestCase):
    """PeerClient over the pool against a real twisted.web site."""

    def _client(self, stub):
        endpoint = SiteEndpoint(stub)
        clock = Clock()
        pool = PeerHTTPPool(clock, endpoint_for=lambda scheme, host, port: endpoint)
        return PeerClient(peer_config(), pool, clock), endpoint, clock

    def test_round_trip(self):
        """A command and its answer through twisted.web."""
        stub = FakeKeaPeer()
        stub.answers["ha-heartbeat"] = ok("HA peer status returned.", {"state": "ready"})
        client, endpoint, _ = self._client(stub)
        d = client.send_command("ha-heartbeat")
        endpoint.flush()
        self.assertEqual(self.successResultOf(d), {"state": "ready"})
        [req] = stub.received
        self.assertEqual(req.body, b'{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }')
        self.assertEqual(req.header(b"host"), b"127.0.0.2")
        d = client.send_command("ha-heartbeat")
        endpoint.flush()
        self.successResultOf(d)
        self.assertEqual(endpoint.connects, 1, "keep-alive")

    def test_error_answer(self):
        """A Kea error comes back as PeerCommandError."""
        stub = FakeKeaPeer()
        stub.answers["lease4-update"] = ok("bad", result=1)
        client, endpoint, _ = self._client(stub)
        d = client.send_command("lease4-update", {})
        endpoint.flush()
        self.assertEqual(self.failureResultOf(d, PeerCommandError).value.text, "bad")

    def test_timeout(self):
        """A hung peer times out on the clock and the connection is dropped."""
        stub = FakeKeaPeer()
        stub.answers["ha-heartbeat"] = HANG
        client, endpoint, clock = self._client(stub)
        d = client.send_command("ha-heartbeat")
        endpoint.flush()
        clock.advance(10.5)
        self.assertIn("timed out", self.failureResultOf(d, PeerCommunicationError).value.reason)
