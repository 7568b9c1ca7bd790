# -*- test-case-name: tests.test_listener -*-
"""
Command listeners configured the way Kea configures them.

 - HTTP and HTTPS (Kea 3.0's C{control-sockets} with C{socket-type}
   C{http}/C{https}, Kea 2.2's HA dedicated listener on this server's own
   peer C{url}): a L{ControlSite} over a L{ControlChannelResource} on a
   Twisted endpoint. TLS uses pyOpenSSL with Kea's parameters:
   C{trust-anchor} (a CA file, or a directory of hashed CA files),
   C{cert-file}, C{key-file} and C{cert-required} (client certificates
   required and verified; when false none are asked for, as Kea's
   C{verify_none}).
 - Kea 2.2's unix C{control-socket}: one JSON command per connection,
   answered with a bare map (no list), then the connection is closed; a
   command not complete after 10 s is answered with Kea's timeout text.

L{listen_control_channel} returns an C{IService}; the composition root adds
it to the server's C{MultiService}.
"""

from __future__ import annotations

import os
from typing import Any

from OpenSSL import SSL
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.internet.interfaces import IDelayedCall, IOpenSSLContextFactory, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_ha_tw.commands.envelope import KeaJSONError, answer, kea_json_dumps, kea_json_loads
from kea_ha_tw.commands.registry import CommandRegistry
from kea_ha_tw.commands.resource import (
    BasicAuthenticator,
    ControlChannelResource,
    ControlSite,
    dispatch,
)
from kea_ha_tw.config.model import (
    ClientCredentials,
    ControlSocketConfig,
    HAConfig,
    TLSConfig,
)
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

#: Kea waits this long for a complete command on the unix socket.
UNIX_COMMAND_TIMEOUT_S = 10.0


# -- TLS -------------------------------------------------------------------------------


def _verify(connection: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    return bool(ok)


def build_tls_server_context(tls: TLSConfig, path: str = "control-socket") -> SSL.Context:
    """
    A pyOpenSSL server context with Kea's TLS semantics (TLS 1.2 or newer).

    @raise ConfigError: a file is missing or unusable (C{path} names the
        configuration element).
    """
    if not tls.cert_file or not tls.key_file:
        raise ConfigError(path, "cert-file and key-file are required for a TLS listener")
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    try:
        ctx.use_certificate_chain_file(tls.cert_file)
    except (SSL.Error, OSError) as e:
        raise ConfigError(f"{path}.cert-file", f"cannot use {tls.cert_file}: {e}") from None
    try:
        ctx.use_privatekey_file(tls.key_file)
        ctx.check_privatekey()
    except (SSL.Error, OSError) as e:
        raise ConfigError(f"{path}.key-file", f"cannot use {tls.key_file}: {e}") from None
    if tls.trust_anchor:
        try:
            if os.path.isdir(tls.trust_anchor):
                ctx.load_verify_locations(None, tls.trust_anchor)
            else:
                ctx.load_verify_locations(tls.trust_anchor)
        except (SSL.Error, OSError) as e:
            raise ConfigError(f"{path}.trust-anchor",
                              f"cannot use {tls.trust_anchor}: {e}") from None
    elif tls.cert_required:
        raise ConfigError(f"{path}.trust-anchor", "required to verify client certificates")
    if tls.cert_required:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify)
    else:
        ctx.set_verify(SSL.VERIFY_NONE, _verify)
    ctx.set_session_id(b"kea-ha-tw")
    return ctx


@implementer(IOpenSSLContextFactory)
class TLSServerContextFactory:
    """A Twisted server context factory holding one pyOpenSSL context, built eagerly."""

    def __init__(self, tls: TLSConfig, path: str = "control-socket") -> None:
        self.tls = tls
        self._context = build_tls_server_context(tls, path)

    def getContext(self) -> SSL.Context:  # noqa: N802 - Twisted API
        """The context (Twisted's old-style context factory interface)."""
        return self._context


# -- HTTP(S) ---------------------------------------------------------------------------------


def _is_tls(socket_config: ControlSocketConfig) -> bool:
    return socket_config.socket_type == "https" or (
        socket_config.tls is not None and bool(socket_config.tls.cert_file)
    )


def authenticator_for(socket_config: ControlSocketConfig) -> BasicAuthenticator | None:
    """The basic authenticator a listener needs, or None without clients."""
    if not socket_config.auth_clients:
        return None
    return BasicAuthenticator(socket_config.auth_realm, socket_config.auth_clients)


def build_control_resource(
    registry: CommandRegistry,
    context: Any,
    socket_config: ControlSocketConfig,
    accept_commands: Any = None,
) -> ControlChannelResource:
    """The resource for one listener: shared registry and context, its own auth."""
    return ControlChannelResource(
        registry, context,
        authenticator=authenticator_for(socket_config),
        accept_commands=accept_commands,
    )


def server_endpoint(reactor: Any, socket_config: ControlSocketConfig,
                    path: str = "control-socket") -> Any:
    """The Twisted server endpoint for an HTTP(S) or unix socket configuration."""
    kind = socket_config.socket_type
    if kind == "unix":
        if not socket_config.socket_name:
            raise ConfigError(f"{path}.socket-name", "required for a unix control socket")
        return endpoints.UNIXServerEndpoint(reactor, socket_config.socket_name, mode=0o600,
                                            wantPID=True)
    if kind not in ("http", "https"):
        raise ConfigError(f"{path}.socket-type", f"unsupported control socket type '{kind}'")
    host, port = socket_config.socket_address, socket_config.socket_port
    if _is_tls(socket_config):
        if socket_config.tls is None:
            raise ConfigError(path, "https needs trust-anchor, cert-file and key-file")
        factory = TLSServerContextFactory(socket_config.tls, path)
        return endpoints.SSL4ServerEndpoint(reactor, port, factory, interface=host)
    if ":" in host:
        return endpoints.TCP6ServerEndpoint(reactor, port, interface=host)
    return endpoints.TCP4ServerEndpoint(reactor, port, interface=host)


def listen_control_channel(
    reactor: Any,
    socket_config: ControlSocketConfig,
    root_resource: ControlChannelResource,
    path: str = "control-socket",
) -> IService:
    """
    A service listening on C{socket_config} and serving C{root_resource}
    (for a unix socket, its registry and context). Listening errors are
    raised from C{startService}.

    @raise ConfigError: the configuration cannot be served (bad TLS files,
        unknown socket type).
    """
    endpoint = server_endpoint(reactor, socket_config, path)
    if socket_config.socket_type == "unix":
        factory: Any = UnixControlFactory(root_resource.registry, root_resource.context, reactor)
    else:
        factory = ControlSite(root_resource, reactor)
    service = StreamServerEndpointService(endpoint, factory)
    service._raiseSynchronously = True
    return service


def ha_listener_socket_config(ha: HAConfig) -> ControlSocketConfig:
    """
    The listener Kea 2.2's HA dedicated listener opens: this server's own
    peer C{url} (address and port), TLS from the HA C{trust-anchor} /
    C{cert-file} / C{key-file} with C{require-client-certs}, and, unlike
    Kea 2.2, basic auth when this server's peer entry has a
    C{basic-auth-user} (the credentials partners send to this url).
    """
    me = ha.this_peer
    tls = None
    if me.scheme == "https":
        source = me.tls or ha.tls or TLSConfig()
        tls = TLSConfig(
            trust_anchor=source.trust_anchor, cert_file=source.cert_file,
            key_file=source.key_file, cert_required=ha.require_client_certs,
        )
    clients: tuple[ClientCredentials, ...] = ()
    if me.basic_auth_user is not None:
        clients = (ClientCredentials(me.basic_auth_user, me.basic_auth_password),)
    return ControlSocketConfig(
        socket_type="https" if tls else "http", socket_address=me.host, socket_port=me.port,
        tls=tls, auth_realm="kea-ha-tw", auth_clients=clients,
    )


# -- unix socket -------------------------------------------------------------------------------


class UnixControlProtocol(Protocol):
    """
    One command per connection, as Kea 2.2's unix control socket: read
    until a complete JSON value arrived, answer with a bare map, close.
    """

    _log = Logger()

    def __init__(self, registry: CommandRegistry, context: Any, clock: IReactorTime,
                 timeout_s: float = UNIX_COMMAND_TIMEOUT_S) -> None:
        self._registry = registry
        self._context = context
        self._clock = clock
        self._timeout_s = timeout_s
        self._buffer = bytearray()
        self._scan = 0
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._started = False
        self._done = False
        self._lost = False
        self._timer: IDelayedCall | None = None

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        """Start the command timeout."""
        self._timer = self._clock.callLater(self._timeout_s, self._timed_out)

    def connectionLost(self, reason: Failure = None) -> None:  # noqa: N802 - Twisted API
        """Forget the timeout and any pending answer."""
        self._done = True
        self._lost = True
        self._cancel_timer()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        """Collect bytes until the JSON value is complete, then run it."""
        if self._done:
            return
        self._buffer += data
        end = self._feed()
        if isinstance(end, str):
            self._respond(answer(1, end))
        elif end is not None:
            self._run(bytes(self._buffer[:end]))

    def _feed(self) -> int | str | None:
        buf = self._buffer
        for i in range(self._scan, len(buf)):
            c = buf[i]
            if not self._started:
                if c in b" \t\r\n":
                    continue
                if c not in b"{[":
                    return f"invalid first character {chr(c)}"
                self._started = True
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif c == 0x5C:
                    self._escape = True
                elif c == 0x22:
                    self._in_string = False
            elif c == 0x22:
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    return i + 1
        self._scan = len(buf)
        return None

    def _run(self, body: bytes) -> None:
        self._cancel_timer()
        self._done = True
        try:
            element = kea_json_loads(body)
        except KeaJSONError as e:
            self._write(answer(1, str(e)))
            return

        def failed(failure: Failure) -> dict:
            self._log.failure("command dispatch failed", failure, msg_id="COMMAND_PROCESS_ERROR2")
            return answer(1, "Internal Server Error")

        d = dispatch(self._registry, self._context, body, element)
        d.addErrback(failed).addCallback(self._write)

    def _timed_out(self) -> None:
        self._timer = None
        self._respond(answer(1, "Connection over control channel timed out, discarded partial "
                                f"command of {len(self._buffer)} bytes"))

    def _respond(self, result: dict) -> None:
        self._cancel_timer()
        self._done = True
        self._write(result)

    def _write(self, result: dict) -> None:
        if self._lost or self.transport is None:
            return
        self.transport.write(kea_json_dumps(result).encode("ascii"))
        self.transport.loseConnection()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class UnixControlFactory(Factory):
    """Builds a L{UnixControlProtocol} per connection."""

    noisy = False

    def __init__(self, registry: CommandRegistry, context: Any, clock: IReactorTime) -> None:
        self.registry = registry
        self.context = context
        self.clock = clock

    def buildProtocol(self, addr: Any) -> UnixControlProtocol:  # noqa: N802 - Twisted API
        """A protocol for one connection."""
        protocol = UnixControlProtocol(self.registry, self.context, self.clock)
        protocol.factory = self
        return protocol
