"""
Tests for L{kea_ha_tw.ha.listener_child}: the HA listener process's
service (its listener is the HA listener the server would have opened,
its upstream speaks HTTP over the socket pair, it stops when the pair
closes) and its log lines.
"""

from __future__ import annotations

import json
import socket

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import HTTPStatusError, parse_command
from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.ha.listener_child import (
    RelayContext,
    UpstreamProtocol,
    ListenerChildService,
    StderrLevelObserver,
    build_child_service,
    build_relay,
    format_event,
    upstream_sender,
)
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS
from tests.configs import ha_map, peers, text, with_ha
from tests.tls_material import write_pki


def config(**over):
    """A hot-standby configuration with the listener process on."""
    over.setdefault("listener-process", True)
    return parse_config(text(with_ha([ha_map(**over)])))


class UpstreamTests(SynchronousTestCase):
    """Requests to the server over the socket pair."""

    def test_request_and_answer(self):
        """One POST with Content-Length; the answer fires as (status, body)."""
        protocol = UpstreamProtocol()
        transport = StringTransport()
        protocol.makeConnection(transport)
        send = upstream_sender(protocol)
        d = send(b'{"command": "ha-heartbeat"}')
        sent = transport.value()
        self.assertTrue(sent.startswith(b"POST / HTTP/1.1\r\n"), sent)
        self.assertIn(b"Content-Length: 27\r\n", sent)
        self.assertTrue(sent.endswith(b'\r\n\r\n{"command": "ha-heartbeat"}'))
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n[{}]")
        self.assertEqual(self.successResultOf(d), (200, b"[{}]"))


class BuildTests(SynchronousTestCase):
    """The relay's listener matches the server's own HA listener."""

    def test_listens_on_this_peer_url(self):
        """The service listens on this server's peer URL (host and port)."""
        reactor = MemoryReactorClock()
        cfg = config()
        relay, resource, service = build_relay(cfg, reactor, UpstreamProtocol())
        service.startService()
        [(port, factory, backlog, interface)] = reactor.tcpServers
        me = cfg.ha.this_peer
        self.assertEqual((port, interface), (me.port, me.host))
        self.assertIs(resource.registry, relay)
        self.assertIsNone(resource.authenticator)
        self.assertIsNone(resource.accept_commands)

    def test_restrict_commands_and_basic_auth(self):
        """restrict-commands and the peer's basic-auth apply in the relay too."""
        own = peers()
        own[0]["basic-auth-user"] = "kea"
        own[0]["basic-auth-password"] = "secret"
        cfg = config(peers=own, **{"restrict-commands": True})
        _, resource, _ = build_relay(cfg, MemoryReactorClock(), UpstreamProtocol())
        self.assertEqual(resource.accept_commands, HA_RESTRICTED_COMMANDS)
        self.assertIsNotNone(resource.authenticator)

    def test_https_peer_url(self):
        """An https peer url gives a TLS listener with the HA TLS files, as the server's."""
        pki = write_pki(self.mktemp())
        own = peers()
        for entry in own:
            entry["url"] = entry["url"].replace("http://", "https://")
        cfg = config(peers=own, **{"trust-anchor": pki["ca"], "cert-file": pki["server_cert"],
                                    "key-file": pki["server_key"]})
        reactor = MemoryReactorClock()
        _, _, service = build_relay(cfg, reactor, UpstreamProtocol())
        service.startService()
        self.assertEqual(reactor.tcpServers, [])
        [(port, factory, context_factory, backlog, interface)] = reactor.sslServers
        self.assertEqual((port, interface), (cfg.ha.this_peer.port, cfg.ha.this_peer.host))
        self.assertIsNotNone(context_factory.getContext())

    def test_context_time(self):
        """The lease parser's "now" is the clock's, in whole seconds."""
        reactor = MemoryReactorClock()
        reactor.advance(1234.7)
        self.assertEqual(RelayContext(config(), reactor).now(), 1234)


class LogFormatTests(SynchronousTestCase):
    """What the child writes on its standard error."""

    def test_level_prefix(self):
        """Every line carries the event's level; a failure adds its traceback."""
        self.assertEqual(format_event({"log_level": LogLevel.warn, "log_format": "a\nb"}),
                         "warn|a\nwarn|b\n")
        failure = Failure(ZeroDivisionError("division by zero"))
        out = format_event({"log_level": LogLevel.critical, "log_format": "boom",
                            "log_failure": failure})
        self.assertTrue(out.startswith("critical|boom\ncritical|Traceback"), out)
        self.assertIn("ZeroDivisionError", out)


class ChildServiceTests(SynchronousTestCase):
    """The child's service: listen, adopt the socket pair, say ready, stop when it closes."""

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.closed: list[int] = []
        self.ready: list[bool] = []
        self.service = ListenerChildService(config(), self.reactor, 3,
                                            ready=lambda: self.ready.append(True),
                                            close=self.closed.append)

    def test_start(self):
        """Listening happens in privilegedStartService; then the pair is adopted and ready said."""
        self.service.privilegedStartService()
        self.assertEqual(len(self.reactor.tcpServers), 1)
        self.assertEqual(self.ready, [])
        self.service.startService()
        [(fd, family, factory)] = self.reactor.adoptedStreamConnections
        self.assertEqual((fd, family), (3, socket.AF_UNIX))
        self.assertIs(factory.buildProtocol(None), self.service.upstream)
        self.assertEqual((self.closed, self.ready), ([3], [True]))

    def test_pair_closed_stops(self):
        """The server going away fails the relay and stops the reactor."""
        self.service.privilegedStartService()
        self.service.startService()
        self.reactor.running = True
        self.service.upstream.makeConnection(StringTransport())
        self.service.upstream.connectionLost(Failure(ConnectionError("closed")))
        self.assertTrue(self.reactor.hasStopped)
        d = self.service.relay.execute(
            parse_command({"command": "ha-heartbeat"}, '{"command": "ha-heartbeat"}'))
        self.assertEqual(self.failureResultOf(d, HTTPStatusError).value.status, 503)

    def test_needs_ha(self):
        """A configuration without HA has no listener to run: a ConfigError."""
        with self.assertRaises(ConfigError) as e:
            build_child_service(parse_config(json.dumps({"Dhcp4": {"subnet4": []}})),
                                self.reactor, 3)
        self.assertIn("high-availability", e.exception.message)

    def test_built_for_ha(self):
        """build_child_service gives the child's service for an HA configuration."""
        self.assertIsInstance(build_child_service(config(), self.reactor, 3),
                              ListenerChildService)

    def test_stderr_observer(self):
        """The twistd --logger observer writes each event as level|text lines."""
        lines: list[str] = []
        StderrLevelObserver(lines.append)({"log_level": LogLevel.error, "log_format": "x"})
        self.assertEqual(lines, ["error|x\n"])
