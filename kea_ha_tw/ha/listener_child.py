# -*- test-case-name: tests.test_listener_child -*-
"""
The HA listener process (HA key C{listener-process}): the relay described
in L{kea_ha_tw.ha.listener_relay}, as a service of its own.

The DHCP server (L{kea_ha_tw.ha.listener_process}) starts it, never an
operator: C{twistd -n --pidfile= --logger kea_ha_tw.ha.listener_child.StderrLevelObserver
kea-ha --config FILE --ha-listener-fd 3}. So the plugin's C{makeService} stays
the one composition root; with C{--ha-listener-fd} it builds
L{ListenerChildService} instead of the server.

 - It reads the same configuration file and listens on this server's own
   peer C{url}, with the HA listener's TLS, basic auth and
   C{restrict-commands} exactly as the server would (a port it cannot
   take fails start-up, as the server's listener does).
 - File descriptor 3 is its end of a socket pair whose other end the
   server serves as an HTTP command channel; the relay's requests go there.
 - It writes C{ready} on its standard output once it listens, logs
   C{level|text} lines on its standard error (L{StderrLevelObserver}; the
   server logs each line), and stops when the socket pair closes (the
   server stopped or died) or on SIGTERM.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import ILogObserver, LogLevel, formatEvent
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_ha_tw.commands.listener import (
    authenticator_for,
    ha_listener_socket_config,
    listen_control_channel,
)
from kea_ha_tw.commands.resource import ControlChannelResource
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.ha.listener_relay import UpdateRelay
from kea_ha_tw.ha.peer_http import PeerHTTPProtocol, build_request_head
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS


class RelayContext:
    """What the relay's lease parser needs: the configuration and the time."""

    def __init__(self, config: ServerConfig, clock: IReactorTime) -> None:
        self.config = config
        self.clock = clock

    def now(self) -> int:
        """The current time in whole Unix seconds."""
        return int(self.clock.seconds())


class UpstreamProtocol(PeerHTTPProtocol):
    """The relay's end of the socket pair; C{on_lost} is told when it closes."""


def upstream_sender(protocol: PeerHTTPProtocol) -> Any:
    """C{send(body) -> Deferred((status, body))} over C{protocol}."""
    head, tail = build_request_head("localhost", None)

    def send(body: bytes) -> Deferred:
        d = protocol.send(head + str(len(body)).encode("ascii") + tail + body)
        return d.addCallback(lambda response: (response.code, response.body))

    return send


def build_relay(config: ServerConfig, reactor: Any, upstream: PeerHTTPProtocol) -> tuple[
        UpdateRelay, ControlChannelResource, Any]:
    """The relay, its command resource and its listening service for C{config}."""
    ha = config.ha
    assert ha is not None, "build_child_service checks for an HA configuration"
    relay = UpdateRelay(upstream_sender(upstream), RelayContext(config, reactor), reactor)
    socket_config = ha_listener_socket_config(ha)
    resource = ControlChannelResource(
        relay, None,  # type: ignore[arg-type] - the relay offers execute()
        authenticator=authenticator_for(socket_config),
        accept_commands=HA_RESTRICTED_COMMANDS if ha.restrict_commands else None,
    )
    service = listen_control_channel(reactor, socket_config, resource,
                                     path="high-availability[0].peers.url")
    return relay, resource, service


def format_event(event: dict) -> str:
    """C{event} as the child's stderr lines, each C{level|text}."""
    level = event.get("log_level", LogLevel.info)
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text += "\n" + failure.getTraceback()
    return "".join(f"{level.name}|{line}\n" for line in text.splitlines() or [""])


@implementer(ILogObserver)
class StderrLevelObserver:
    """twistd's C{--logger} for the child: every event as L{format_event} lines on stderr."""

    def __init__(self, write: Callable[[str], Any] | None = None) -> None:
        self._write = write or _stderr_write

    def __call__(self, event: dict) -> None:
        """Write C{event}."""
        self._write(format_event(event))


class ListenerChildService(MultiService):
    """
    The child's whole service: the peer-url listener (a child service, so a
    port it cannot take fails twistd's start-up) and, once it listens, the
    socket pair to the server adopted and C{ready} written.

    @param reactor: C{IReactorSocket} and C{IReactorTime}.
    @param ready: called once listening (writes C{ready} to stdout).
    @param close: C{os.close}, for the descriptor the reactor duplicated.
    """

    def __init__(self, config: ServerConfig, reactor: Any, upstream_fd: int, *,
                 ready: Callable[[], Any] | None = None,
                 close: Callable[[int], Any] = os.close) -> None:
        super().__init__()
        self.reactor = reactor
        self.upstream_fd = upstream_fd
        self._ready = ready or _write_ready
        self._close = close
        self.upstream = UpstreamProtocol()
        self.upstream.on_lost = self._lost
        self.relay, self.resource, listener = build_relay(config, reactor, self.upstream)
        listener.setServiceParent(self)

    def startService(self) -> None:  # noqa: N802 - Twisted API
        """Adopt the server's end of the socket pair, then say ready."""
        super().startService()
        self.reactor.adoptStreamConnection(self.upstream_fd, socket.AF_UNIX,
                                           Factory.forProtocol(lambda: self.upstream))
        self._close(self.upstream_fd)  # the reactor holds its own duplicate
        self._ready()

    def _lost(self, _: Any) -> None:
        self.relay.fail(Failure(ConnectionError("the server closed the socket pair")))
        if self.running:
            self.reactor.stop()


def build_child_service(config: ServerConfig, reactor: Any, upstream_fd: int) -> IService:
    """
    The HA listener process's service for C{config} (C{twistd kea-ha
    --ha-listener-fd N}).

    @raise ConfigError: C{config} has no HA relationship.
    """
    if config.ha is None:
        raise ConfigError("Dhcp4.hooks-libraries", "the HA listener process needs a "
                                                   "high-availability configuration")
    return ListenerChildService(config, reactor, upstream_fd)


def _write_ready() -> None:
    os.write(1, b"ready\n")


def _stderr_write(text: str) -> None:
    # Descriptor 2 itself: under twistd, sys.stderr is redirected into the
    # log, which would bring each line back here.
    data = text.encode("utf-8", "replace")
    while data:
        data = data[os.write(2, data):]
