"""
Tests for L{kea_ha_tw.commands.listener}: TLS contexts with Kea's
semantics (handshakes run in memory through pyOpenSSL memory BIOs), the
endpoints and services built from L{ControlSocketConfig} (on a
C{MemoryReactorClock}), the HA listener configuration, and the unix
control socket protocol (on a C{StringTransport}, Kea 2.2's captured texts).
"""

from __future__ import annotations

import os

from OpenSSL import SSL
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import answer
from kea_ha_tw.commands.listener import (
    UNIX_COMMAND_TIMEOUT_S,
    UnixControlFactory,
    build_control_resource,
    build_tls_server_context,
    ha_listener_socket_config,
    listen_control_channel,
    server_endpoint,
)
from kea_ha_tw.commands.registry import CommandHandler
from kea_ha_tw.commands.resource import ControlSite
from kea_ha_tw.config.model import (
    ClientCredentials,
    ControlSocketConfig,
    HAConfig,
    PeerConfig,
    TLSConfig,
)
from kea_ha_tw.errors import ConfigError
from tests.commands_support import CommandHarness
from tests.tls_material import write_pki


def handshake(server_ctx: SSL.Context, client_ctx: SSL.Context) -> None:
    """Run a TLS handshake between two contexts in memory; raise SSL.Error on failure."""
    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    for _ in range(20):
        done = 0
        for conn, peer in ((client, server), (server, client)):
            try:
                conn.do_handshake()
                done += 1
            except SSL.WantReadError:
                pass
            try:
                data = conn.bio_read(65536)
            except SSL.WantReadError:
                data = b""
            if data:
                peer.bio_write(data)
        if done == 2:
            # TLS 1.3: the server checks the client certificate after its
            # handshake returns; pass a record through so it reports.
            client.sendall(b"x")
            server.bio_write(client.bio_read(65536))
            server.recv(1)
            return
    raise AssertionError("handshake did not finish")


class TLSTests(SynchronousTestCase):
    """Kea's trust-anchor / cert-file / key-file / cert-required."""

    def setUp(self):
        self.pki = write_pki(self.mktemp())
        self.other = write_pki(self.mktemp())

    def tls(self, **kw):
        fields = dict(trust_anchor=self.pki["ca"], cert_file=self.pki["server_cert"],
                      key_file=self.pki["server_key"], cert_required=True)
        fields.update(kw)
        return TLSConfig(**fields)

    def client(self, pki=None, with_cert=True):
        pki = pki or self.pki
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.load_verify_locations(self.pki["ca"])
        ctx.set_verify(SSL.VERIFY_PEER, lambda *a: bool(a[-1]))
        if with_cert:
            ctx.use_certificate_chain_file(pki["cert"])
            ctx.use_privatekey_file(pki["key"])
        return ctx

    def test_client_certificate_required(self):
        """cert-required: a client signed by the trust anchor passes, others fail."""
        server = build_tls_server_context(self.tls())
        self.assertEqual(server.get_verify_mode(),
                         SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        handshake(server, self.client())
        self.assertRaises(SSL.Error, handshake, server, self.client(with_cert=False))
        self.assertRaises(SSL.Error, handshake, server, self.client(self.other))

    def test_client_certificate_not_required(self):
        """cert-required false: no client certificate is asked for (Kea's verify_none)."""
        server = build_tls_server_context(self.tls(cert_required=False))
        self.assertEqual(server.get_verify_mode(), SSL.VERIFY_NONE)
        handshake(server, self.client(with_cert=False))

    def test_trust_anchor_directory(self):
        """A directory trust anchor (hashed CA files) is accepted."""
        directory = os.path.dirname(self.pki["ca"])
        build_tls_server_context(self.tls(trust_anchor=directory))

    def test_bad_files(self):
        """Unusable files are configuration errors naming the parameter."""
        cases = [
            (self.tls(cert_file="/nonexistent.pem"), "control-socket.cert-file"),
            (self.tls(key_file=self.other["server_key"]), "control-socket.key-file"),
            (self.tls(trust_anchor="/nonexistent-ca.pem"), "control-socket.trust-anchor"),
            (self.tls(trust_anchor=None), "control-socket.trust-anchor"),
            (self.tls(cert_file=None), "control-socket"),
        ]
        for tls, path in cases:
            e = self.assertRaises(ConfigError, build_tls_server_context, tls)
            self.assertEqual(e.path, path)


class EndpointTests(SynchronousTestCase):
    """Endpoints and services from socket configurations."""

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.h = CommandHarness(self)

    def resource(self, socket_config):
        return build_control_resource(self.h.registry, self.h.context, socket_config)

    def test_http(self):
        """HTTP listens with TCP on the configured address and port, serving a ControlSite."""
        config = ControlSocketConfig("http", "127.0.0.32", 8001)
        service = listen_control_channel(self.reactor, config, self.resource(config))
        service.startService()
        self.addCleanup(service.stopService)
        port, factory, _, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (8001, "127.0.0.32"))
        self.assertIsInstance(factory, ControlSite)
        self.assertIs(factory.resource.registry, self.h.registry)

    def test_ipv6(self):
        """An IPv6 address gets a TCP6 endpoint."""
        endpoint = server_endpoint(self.reactor, ControlSocketConfig("http", "::1", 8000))
        self.assertIsInstance(endpoint, endpoints.TCP6ServerEndpoint)

    def test_https(self):
        """HTTPS listens with SSL and the configured TLS context."""
        pki = write_pki(self.mktemp())
        tls = TLSConfig(pki["ca"], pki["server_cert"], pki["server_key"], True)
        config = ControlSocketConfig("https", "127.0.0.1", 8443, tls=tls)
        service = listen_control_channel(self.reactor, config, self.resource(config))
        service.startService()
        self.addCleanup(service.stopService)
        port, factory, context_factory, _, interface = self.reactor.sslServers[0]
        self.assertEqual((port, interface), (8443, "127.0.0.1"))
        self.assertEqual(context_factory.getContext().get_verify_mode(),
                         SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)

    def test_unix(self):
        """A unix control socket listens on socket-name, owner only."""
        config = ControlSocketConfig("unix", socket_name="/tmp/khk-unit.sock")
        service = listen_control_channel(self.reactor, config, self.resource(config))
        service.startService()
        self.addCleanup(service.stopService)
        address, factory, _, mode, want_pid = self.reactor.unixServers[0]
        self.assertEqual((address, mode, want_pid), ("/tmp/khk-unit.sock", 0o600, True))
        self.assertIsInstance(factory, UnixControlFactory)

    def test_bad_configurations(self):
        """Unknown types, unix without a name, https without TLS: ConfigError."""
        for config in (ControlSocketConfig("tcp"), ControlSocketConfig("unix"),
                       ControlSocketConfig("https")):
            self.assertRaises(ConfigError, server_endpoint, self.reactor, config)

    def test_authentication_from_config(self):
        """Configured clients give the resource a basic authenticator with the realm."""
        config = ControlSocketConfig("http", auth_realm="kea-control-agent",
                                     auth_clients=(ClientCredentials("ha", "secret"),))
        resource = self.resource(config)
        self.assertEqual(resource.authenticator.challenge(), b'Basic realm="kea-control-agent"')
        self.assertIsNone(self.resource(ControlSocketConfig("http")).authenticator)


class HAListenerTests(SynchronousTestCase):
    """The listener Kea's HA dedicated listener would open."""

    def ha(self, url="http://127.0.0.12:8001/", scheme="http", **peer):
        me = PeerConfig("server2", url, scheme, "127.0.0.12", 8001, "standby", **peer)
        other = PeerConfig("server1", "http://127.0.0.11:8001/", "http", "127.0.0.11", 8001,
                           "primary")
        return HAConfig("server2", "hot-standby", (other, me), require_client_certs=False,
                        tls=TLSConfig("/ca.pem", "/c.pem", "/k.pem"))

    def test_http(self):
        """This server's own url; no auth unless its peer entry has a basic-auth-user."""
        config = ha_listener_socket_config(self.ha())
        self.assertEqual((config.socket_type, config.socket_address, config.socket_port,
                          config.tls, config.auth_clients), ("http", "127.0.0.12", 8001, None, ()))
        auth = ha_listener_socket_config(self.ha(basic_auth_user="ha", basic_auth_password="pw"))
        self.assertEqual(auth.auth_clients, (ClientCredentials("ha", "pw"),))

    def test_https(self):
        """An https url listens with the HA TLS files and require-client-certs."""
        config = ha_listener_socket_config(self.ha("https://127.0.0.12:8001/", "https"))
        self.assertEqual(config.socket_type, "https")
        self.assertEqual(config.tls, TLSConfig("/ca.pem", "/c.pem", "/k.pem", cert_required=False))


class UnixSocketTests(SynchronousTestCase):
    """Kea 2.2's unix control socket: one command per connection, a bare map back."""

    def setUp(self):
        self.h = CommandHarness(self)
        self.pending = []

        def later(arguments, context):
            d = Deferred()
            self.pending.append(d)
            return d

        self.h.registry.register(CommandHandler("later", later))
        self.clock = Clock()
        self.protocol = UnixControlFactory(self.h.registry, self.h.context,
                                           self.clock).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def test_bare_map_then_close(self):
        """The answer is not wrapped in a list, and the connection closes."""
        self.protocol.dataReceived(b'{"command":"foo-bar"}')
        self.assertEqual(self.transport.value(),
                         b'{ "result": 2, "text": "\'foo-bar\' command not supported." }')
        self.assertTrue(self.transport.disconnecting)

    def test_command_in_pieces(self):
        """A command may arrive in pieces; braces inside strings do not end it."""
        for piece in (b'  \n {"command": "lease4-get", "argu', b'ments": {"ip-address": "}{"',
                      b"} }"):
            self.assertEqual(self.transport.value(), b"")
            self.protocol.dataReceived(piece)
        self.assertEqual(self.transport.value(),
                         b'{ "result": 1, "text": "Failed to convert string to address \'}{\': '
                         b'Invalid argument" }')

    def test_only_first_command(self):
        """Kea answers the first of two commands sent together."""
        self.protocol.dataReceived(b'{"command": "foo"} {"command":"bar"}')
        self.assertIn(b"'foo' command not supported", self.transport.value())
        self.assertNotIn(b"bar", self.transport.value())

    def test_invalid_first_character(self):
        """Kea: "invalid first character X" for anything but a map or list."""
        self.protocol.dataReceived(b'"just a string"')
        self.assertEqual(self.transport.value(),
                         b'{ "result": 1, "text": "invalid first character \\"" }')

    def test_list_is_an_envelope_error(self):
        """A complete list is read and refused like on HTTP (captured from Kea)."""
        self.protocol.dataReceived(b"[1, 2]")
        self.assertEqual(self.transport.value(),
                         b'{ "result": 1, "text": "Error during command processing: '
                         b'Invalid command Element specified, expected map" }')

    def test_bad_json(self):
        """Complete but invalid JSON: result 1 with the reader's reason."""
        self.protocol.dataReceived(b'{"command": "list-commands", x}')
        self.assertIn(b'"result": 1', self.transport.value())
        self.assertTrue(self.transport.disconnecting)

    def test_timeout(self):
        """Kea's text after 10 s without a complete command."""
        self.protocol.dataReceived(b'{"command": "list-')
        self.clock.advance(UNIX_COMMAND_TIMEOUT_S - 0.1)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(0.1)
        self.assertEqual(self.transport.value(),
                         b'{ "result": 1, "text": "Connection over control channel '
                         b'timed out, discarded partial command of 18 bytes" }')

    def test_answer_later_and_lost_connection(self):
        """A late answer is written when it fires, or dropped if the client left."""
        self.protocol.dataReceived(b'{"command": "later"}')
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.pending[0].callback(answer(0, "done"))
        self.assertEqual(self.transport.value(), b'{ "result": 0, "text": "done" }')
        other = UnixControlFactory(self.h.registry, self.h.context, self.clock).buildProtocol(None)
        transport = StringTransport()
        other.makeConnection(transport)
        other.dataReceived(b'{"command": "later"}')
        other.connectionLost(Failure(ConnectionDone()))
        self.pending[1].callback(answer(0, "too late"))
        self.assertEqual(transport.value(), b"")
