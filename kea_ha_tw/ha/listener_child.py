# -*- test-case-name: tests.test_listener_child -*-
"""
The HA listener process (HA key C{listener-process}): the composition root
of the relay described in L{kea_ha_tw.ha.listener_relay}.

C{python -m kea_ha_tw.ha.listener_child --config FILE --upstream-fd 3} is
started by the DHCP server (L{kea_ha_tw.ha.listener_process}), never by hand:

 - it reads the same configuration file and listens on this server's own
   peer C{url}, with the HA listener's TLS, basic auth and
   C{restrict-commands} exactly as the server would;
 - file descriptor 3 is its end of a socket pair whose other end the
   server serves as an HTTP command channel; the relay's requests go there;
 - it prints C{ready} on its standard output once it listens, logs to its
   standard error (the server logs each line), and exits when the socket
   pair closes (the server stopped or died) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import LogLevel, formatEvent, globalLogBeginner
from twisted.python.failure import Failure

from kea_ha_tw.commands.listener import (
    authenticator_for,
    ha_listener_socket_config,
    listen_control_channel,
)
from kea_ha_tw.commands.resource import ControlChannelResource
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.ha.peer_http import PeerHTTPProtocol, build_request_head
from kea_ha_tw.config.loader import load_config
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.ha.listener_relay import UpdateRelay
from kea_ha_tw.loggers import Logger
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS

#: The program name in usage messages.
CHILD_PROG = "python -m kea_ha_tw.ha.listener_child"

_log = Logger()


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
    assert ha is not None, "main() checks for an HA configuration"
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


def main(argv: list[str] | None = None, *, write: Callable[[str], Any] | None = None,
         begin_logging: bool = True) -> int:
    """
    Run the relay until the socket pair closes or SIGTERM; the exit code.
    The second composition root of the project (the child process's): it
    alone imports the global reactor here.
    """
    parser = argparse.ArgumentParser(prog=CHILD_PROG)
    parser.add_argument("--config", required=True)
    parser.add_argument("--upstream-fd", type=int, default=3)
    args = parser.parse_args(argv)
    out = write or _stderr_write
    try:
        config = load_config(args.config)
    except ConfigError as e:
        out(f"critical|{args.config}: {e.path}: {e.message}\n")
        return 1
    except OSError as e:
        out(f"critical|{args.config}: cannot read: {e.strerror}\n")
        return 1
    if config.ha is None:
        out(f"critical|{args.config}: no high-availability configuration\n")
        return 1

    from twisted.internet import reactor

    if begin_logging:
        globalLogBeginner.beginLoggingTo([lambda event: out(format_event(event))],
                                         redirectStandardIO=False)
    upstream = UpstreamProtocol()
    reactor.adoptStreamConnection(args.upstream_fd, socket.AF_UNIX,
                                  Factory.forProtocol(lambda: upstream))
    os.close(args.upstream_fd)  # the reactor holds its own duplicate
    relay, _, service = build_relay(config, reactor, upstream)

    def lost(_: Any) -> None:
        relay.fail(Failure(ConnectionError("the server closed the socket pair")))
        if reactor.running:
            reactor.stop()

    upstream.on_lost = lost
    try:
        service.startService()
    except Exception as e:  # a bind or TLS error: the server reports it
        _log.critical("cannot listen on {url}: {error}", url=config.ha.this_peer.url,
                      error=str(e), msg_id="KHT_HA_LISTENER_PROCESS_LISTEN_FAILED")
        return 1
    os.write(1, b"ready\n")
    reactor.run()
    return 0


def _stderr_write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
