"""
Tests for L{kea_ha_tw.ha.client}: the request Kea's HA client sends and
the way it judges the answer, through StubTreq against canned Kea answers.
"""

from __future__ import annotations

import base64
import json

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.config.model import HAConfig, TLSConfig
from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.client import (
    KeaTLSPolicy,
    PeerClient,
    PeerCommandUnsupported,
    encode_command,
    kea_error_message,
    make_peer_clients,
    make_peer_http_client,
    parse_answer,
    peer_connections,
    peer_base_url,
)
from kea_ha_tw.interfaces import IPeerClient
from tests.kea_peer_stub import DROP, HANG, Chunked, FakeKeaPeer, InOrder, Raw, ok, peer_config


def _client(peer_stub: FakeKeaPeer, clock: Clock | None = None, **peer_kwargs):
    clock = clock or Clock()
    peer = peer_config(**peer_kwargs)
    return PeerClient(peer, StubTreq(peer_stub), clock), clock


class RequestShapeTests(SynchronousTestCase):
    """The request on the wire is Kea's, byte for byte where it matters."""

    def test_provides_interface(self):
        """PeerClient provides IPeerClient and carries the peer's name."""
        client, _ = _client(FakeKeaPeer())
        self.assertTrue(verifyObject(IPeerClient, client))
        self.assertEqual(client.name, "server2")

    def test_heartbeat_body_is_keas(self):
        """An ha-heartbeat is POSTed to / with Kea's exact body and headers."""
        stub = FakeKeaPeer()
        client, _ = _client(stub)
        self.successResultOf(client.send_command("ha-heartbeat"))
        [req] = stub.received
        self.assertEqual(req.method, b"POST")
        self.assertEqual(req.path, b"/")
        self.assertEqual(req.body, b'{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }')
        self.assertEqual(req.header(b"content-type"), b"application/json")
        self.assertEqual(req.header(b"content-length"), str(len(req.body)).encode())
        self.assertIsNone(req.header(b"authorization"))
        self.assertIsNone(req.header(b"transfer-encoding"))

    def test_arguments_sorted_first(self):
        """Arguments come first (sorted keys), with Kea's spacing."""
        stub = FakeKeaPeer()
        client, _ = _client(stub)
        self.successResultOf(
            client.send_command("dhcp-disable", {"origin": "ha-partner", "max-period": 60}))
        self.assertEqual(
            stub.received[0].body,
            b'{ "arguments": { "max-period": 60, "origin": "ha-partner" }, '
            b'"command": "dhcp-disable", "service": [ "dhcp4" ] }',
        )

    def test_url_path_ignored(self):
        """Kea always posts to /, whatever path the peer's url carries."""
        peer = peer_config()
        peer = type(peer)(**{**{f: getattr(peer, f) for f in peer.__slots__},
                             "url": "http://127.0.0.2:8001/some/path"})
        self.assertEqual(peer_base_url(peer), "http://127.0.0.2:8001/")

    def test_ipv6_url(self):
        """An IPv6 peer address is bracketed in the URL."""
        self.assertEqual(peer_base_url(peer_config(host="::1", port=8000)), "http://[::1]:8000/")

    def test_basic_auth(self):
        """basic-auth-user adds Authorization: Basic user:password."""
        stub = FakeKeaPeer()
        client, _ = _client(stub, basic_auth_user="hauser", basic_auth_password="hapass")
        self.successResultOf(client.send_command("ha-heartbeat"))
        self.assertEqual(stub.received[0].header(b"authorization"),
                         b"Basic " + base64.b64encode(b"hauser:hapass"))
        self.assertEqual(base64.b64encode(b"hauser:hapass"), b"aGF1c2VyOmhhcGFzcw==")

    def test_basic_auth_empty_password(self):
        """A user without a password sends 'user:'."""
        stub = FakeKeaPeer()
        client, _ = _client(stub, basic_auth_user="u")
        self.successResultOf(client.send_command("ha-heartbeat"))
        self.assertEqual(stub.received[0].header(b"authorization"),
                         b"Basic " + base64.b64encode(b"u:"))

    def test_encode_command_no_service(self):
        """encode_command can omit service (direct unix-socket style)."""
        self.assertEqual(encode_command("ha-reset", None, None), b'{ "command": "ha-reset" }')


class AnswerTests(SynchronousTestCase):
    """Kea's verifyAsyncResponse rules."""

    def _send(self, answer, command="ha-heartbeat"):
        stub = FakeKeaPeer()
        stub.answers[command] = answer
        client, clock = _client(stub)
        return client.send_command(command), stub, clock

    def test_success_returns_arguments(self):
        """Result 0 fires with the answer's arguments."""
        d, _, _ = self._send(ok("HA peer status returned.", {"state": "waiting"}))
        self.assertEqual(self.successResultOf(d), {"state": "waiting"})

    def test_success_without_arguments(self):
        """Result 0 without arguments fires None."""
        d, _, _ = self._send(ok("done"))
        self.assertIsNone(self.successResultOf(d))

    def test_empty_is_success(self):
        """Result 3 (empty) counts as success."""
        d, _, _ = self._send(ok("0 IPv4 lease(s) found.", {"count": 0, "leases": []}, 3),
                             "lease4-get-page")
        self.assertEqual(self.successResultOf(d), {"count": 0, "leases": []})

    def test_whole_answer(self):
        """send_command_answer fires with element 0, result and text included."""
        stub = FakeKeaPeer()
        stub.answers["ha-reset"] = ok("HA state machine reset.")
        client, _ = _client(stub)
        answer = self.successResultOf(client.send_command_answer("ha-reset"))
        self.assertEqual(answer, {"result": 0, "text": "HA state machine reset."})

    def test_error_result(self):
        """Result 1 fails with PeerCommandError carrying result and text."""
        d, _, _ = self._send(ok("IPv4 lease not updated", result=1), "lease4-update")
        error = self.failureResultOf(d, PeerCommandError).value
        self.assertEqual((error.result, error.text), (1, "IPv4 lease not updated"))
        self.assertEqual(kea_error_message(error), "IPv4 lease not updated, error code 1")

    def test_unsupported_distinguishable(self):
        """Result 2 fails with PeerCommandUnsupported (a PeerCommandError)."""
        d, _, _ = self._send(ok("'ha-sync-complete-notify' command not supported.", result=2),
                             "ha-sync-complete-notify")
        error = self.failureResultOf(d, PeerCommandUnsupported).value
        self.assertIsInstance(error, PeerCommandError)
        self.assertEqual(error.result, 2)

    def test_maintenance_not_allowed(self):
        """Result 1001 fails with PeerCommandError result 1001."""
        d, _, _ = self._send(ok("Unable to transition the server from the terminated to "
                                "in-maintenance state.", result=1001), "ha-maintenance-notify")
        self.assertEqual(self.failureResultOf(d, PeerCommandError).value.result, 1001)

    def test_conflict_is_error(self):
        """Result 4 is a plain error in Kea 2.2."""
        d, _, _ = self._send(ok("conflict", result=4), "lease4-update")
        self.assertEqual(self.failureResultOf(d, PeerCommandError).value.result, 4)

    def test_map_body_is_error(self):
        """A bare map, even saying result 0, is result 1 with the map's text."""
        d, _, _ = self._send({"result": 0, "text": "fine"})
        error = self.failureResultOf(d, PeerCommandError).value
        self.assertEqual((error.result, error.text), (1, "fine"))

    def test_map_body_unauthorized(self):
        """A control agent's 401 map is an error carrying 'Unauthorized'."""
        d, _, _ = self._send(Raw(b'{ "result": 401, "text": "Unauthorized" }', 401))
        error = self.failureResultOf(d, PeerCommandError).value
        self.assertEqual((error.result, error.text), (1, "Unauthorized"))
        self.assertEqual(kea_error_message(error), "Unauthorized, error code 1")

    def test_http_status_ignored(self):
        """A good list answer under HTTP 500 is still a success."""
        d, _, _ = self._send(Raw(b'[ { "result": 0, "text": "ok" } ]', 500))
        self.assertIsNone(self.successResultOf(d))

    def test_empty_list(self):
        """An empty list is an error."""
        d, _, _ = self._send([])
        self.assertEqual(self.failureResultOf(d, PeerCommandError).value.text,
                         "list of responses must not be empty")

    def test_not_list_or_map(self):
        """A JSON scalar is an error."""
        d, _, _ = self._send(Raw(b'"hello"'))
        self.assertEqual(self.failureResultOf(d, PeerCommandError).value.text,
                         "body of the response must be a list")

    def test_only_first_element(self):
        """Only element 0 counts (CA fan-out answers)."""
        d, _, _ = self._send([{"result": 0, "arguments": {"a": 1}},
                              {"result": 1, "text": "dhcp6 down"}])
        self.assertEqual(self.successResultOf(d), {"a": 1})

    def test_element_without_result(self):
        """An element without result is an error."""
        d, _, _ = self._send([{"text": "x"}])
        self.failureResultOf(d, PeerCommandError)

    def test_result_not_integer(self):
        """A non-integer result is an error."""
        d, _, _ = self._send([{"result": "0"}])
        self.failureResultOf(d, PeerCommandError)

    def test_non_json(self):
        """A body that is not JSON is a communication failure."""
        d, _, _ = self._send(Raw(b"<html>oops</html>"))
        self.failureResultOf(d, PeerCommunicationError)

    def test_chunked_rejected(self):
        """A response without Content-Length (chunked) is a communication failure."""
        d, _, _ = self._send(Chunked(b'[ { "result": 0 } ]'))
        error = self.failureResultOf(d, PeerCommunicationError).value
        self.assertIn("Content-Length", error.reason)

    def test_timeout_on_clock(self):
        """No answer within 10 s on the injected clock fails with a timeout."""
        d, stub, clock = self._send(HANG)
        self.assertNoResult(d)
        clock.advance(9.9)
        self.assertNoResult(d)
        clock.advance(0.2)
        error = self.failureResultOf(d, PeerCommunicationError).value
        self.assertIn("timed out", error.reason)
        self.assertEqual(len(stub.hung), 1)

    def test_custom_timeout(self):
        """A per-command timeout (sync-timeout for lease4-get-page) is honoured."""
        stub = FakeKeaPeer()
        stub.answers["lease4-get-page"] = HANG
        client, clock = _client(stub)
        d = client.send_command("lease4-get-page", {"from": "start", "limit": 5}, 60.0)
        clock.advance(59)
        self.assertNoResult(d)
        clock.advance(1.5)
        self.failureResultOf(d, PeerCommunicationError)

    def test_dropped_connection_retried_once(self):
        """A dropped connection is retried once on a new one, then succeeds."""
        stub = FakeKeaPeer()
        stub.answers["ha-heartbeat"] = InOrder(DROP, ok("ok", {"state": "ready"}))
        client, _ = _client(stub)
        self.assertEqual(self.successResultOf(client.send_command("ha-heartbeat")),
                         {"state": "ready"})
        self.assertEqual(stub.commands(), ["ha-heartbeat", "ha-heartbeat"])

    def test_dropped_twice_fails(self):
        """Two dropped connections fail with PeerCommunicationError."""
        stub = FakeKeaPeer()
        stub.answers["ha-heartbeat"] = DROP
        client, _ = _client(stub)
        self.failureResultOf(client.send_command("ha-heartbeat"), PeerCommunicationError)
        self.assertEqual(len(stub.received), 2)

    def test_refused(self):
        """A transport error from the HTTP client becomes PeerCommunicationError."""
        from twisted.internet.defer import fail
        from twisted.internet.error import ConnectionRefusedError

        class Refusing:
            def request(self, *args, **kwargs):
                return fail(ConnectionRefusedError("Connection refused"))

        client = PeerClient(peer_config(), Refusing(), Clock())
        error = self.failureResultOf(client.send_command("ha-heartbeat"),
                                     PeerCommunicationError).value
        self.assertIn("refused", error.reason)
        self.assertEqual(error.peer, "server2")


class ParseAnswerTests(SynchronousTestCase):
    """parse_answer as a pure function."""

    def test_error_with_arguments_has_no_text(self):
        """Kea only quotes the text of an error answer without arguments."""
        with self.assertRaises(PeerCommandError) as cm:
            parse_answer("p", json.dumps([{"result": 1, "text": "t", "arguments": {}}]).encode())
        self.assertEqual(kea_error_message(cm.exception), "error code 1")

    def test_communication_message(self):
        """kea_error_message of a transport error is its reason."""
        self.assertEqual(kea_error_message(PeerCommunicationError("p", "Connection refused")),
                         "Connection refused")


class FactoryTests(SynchronousTestCase):
    """make_peer_clients and make_peer_http_client."""

    def _ha(self, **kwargs):
        peers = (peer_config("server1", "primary", "127.0.0.1"),
                 peer_config("server2", "secondary", "127.0.0.2"),
                 peer_config("server3", "backup", "127.0.0.3"))
        return HAConfig(this_server_name="server1", mode="load-balancing", peers=peers, **kwargs)

    def test_one_client_per_other_peer(self):
        """Every peer but this server gets a PeerClient."""
        clients = make_peer_clients(self._ha(), StubTreq(FakeKeaPeer()), Clock())
        self.assertEqual(sorted(clients), ["server2", "server3"])
        self.assertEqual(clients["server3"].peer.role, "backup")

    def test_http_client_pool(self):
        """The production client keeps several persistent connections per peer."""
        from twisted.internet.testing import MemoryReactorClock

        http = make_peer_http_client(MemoryReactorClock(), self._ha().peers, None,
                                     connections_per_peer=6)
        self.assertEqual(http.connections_per_peer, 6)
        self.assertLess(http.idle_timeout_s, 30)

    def test_connections_from_http_client_threads(self):
        """Kea's http-client-threads sets the connections per peer; 0 means one per CPU, >= 2."""
        from kea_ha_tw.config.model import HAMultiThreadingConfig

        mt = HAMultiThreadingConfig(http_client_threads=5)
        self.assertEqual(peer_connections(self._ha(multi_threading=mt)), 5)
        self.assertEqual(peer_connections(self._ha(), cpu_count=4), 4)
        self.assertEqual(peer_connections(self._ha(), cpu_count=1), 2)

    def test_https_without_tls_rejected(self):
        """An https peer without TLS settings is a configuration error."""
        with self.assertRaises(ValueError):
            KeaTLSPolicy([peer_config(scheme="https")], None)

    def test_https_peer_gets_creator(self):
        """An https peer gets a TLS creator built from trust-anchor/cert/key."""
        from tests.tls_material import write_pki

        paths = write_pki(self.mktemp())
        tls = TLSConfig(trust_anchor=paths["ca"], cert_file=paths["cert"], key_file=paths["key"])
        policy = KeaTLSPolicy([peer_config(scheme="https", tls=tls)], None)
        creator = policy.creatorForNetloc(b"127.0.0.2", 8001)
        connection = creator.clientConnectionForTLS(object())
        self.assertIsNotNone(connection.get_context())
        with self.assertRaises(ValueError):
            policy.creatorForNetloc(b"127.0.0.9", 8001)


class TLSHandshakeTests(SynchronousTestCase):
    """The TLS client context against an in-memory TLS server."""

    def _handshake(self, client_paths, server_paths):
        from twisted.internet.protocol import Factory, Protocol
        from twisted.internet.ssl import Certificate, CertificateOptions, PrivateCertificate
        from twisted.protocols.tls import TLSMemoryBIOFactory
        from twisted.test import iosim

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        server_cert = PrivateCertificate.loadPEM(
            read(server_paths["server_cert"]) + read(server_paths["server_key"]))
        server_options = CertificateOptions(
            privateKey=server_cert.privateKey.original, certificate=server_cert.original,
            trustRoot=Certificate.loadPEM(read(server_paths["ca"])))
        tls = TLSConfig(trust_anchor=client_paths["ca"], cert_file=client_paths["cert"],
                        key_file=client_paths["key"])
        creator = KeaTLSPolicy([peer_config(scheme="https", tls=tls)]).creatorForNetloc(
            b"127.0.0.2", 8001)
        lost = self.lost = []

        class Recorder(Protocol):
            def connectionLost(self, reason):  # noqa: N802 - Twisted API
                lost.append(reason)

        server_factory = TLSMemoryBIOFactory(server_options, False, Factory.forProtocol(Recorder))
        client_factory = TLSMemoryBIOFactory(creator, True, Factory.forProtocol(Recorder))
        client, server, pump = iosim.connectedServerAndClient(
            lambda: server_factory.buildProtocol(None), lambda: client_factory.buildProtocol(None))
        pump.flush()
        return server, client

    def test_trusted_server_without_name_check(self):
        """A server chaining to trust-anchor is accepted (CN unchecked); we show our cert."""
        from tests.tls_material import write_pki

        paths = write_pki(self.mktemp())
        server, client = self._handshake(paths, paths)
        peer_cert = server.getPeerCertificate()
        self.assertIsNotNone(peer_cert)
        self.assertEqual(peer_cert.get_subject().CN, "client.test")
        self.assertEqual(client.getPeerCertificate().get_subject().CN, "server.test")

    def test_untrusted_server_rejected(self):
        """A server certificate from another CA fails the handshake."""
        from tests.tls_material import write_pki

        ours = write_pki(self.mktemp())
        theirs = write_pki(self.mktemp())
        server, client = self._handshake(ours, {**theirs, "ca": ours["ca"]})
        from OpenSSL.SSL import Error as SSLError

        self.assertTrue(self.lost)
        self.assertTrue(all(reason.check(SSLError) for reason in self.lost))
