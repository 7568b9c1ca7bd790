# -*- test-case-name: tests.test_service -*-
"""
Composition: build the running server from a L{ServerConfig}.

L{build_service} wires, in start order: the lease store service, HA (or
L{NoHA}), the HTTP command listeners (operator C{control-sockets}, the
Kea 2.2 C{control-socket} on unix, and the HA peer listener on this
server's own peer C{url}), and the DHCP sockets. L{OrderedMultiService}
stops them one after another in reverse order, so DHCP falls silent before
HA stops and the lease file is closed last.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, succeed

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.listener import (
    build_control_resource,
    ha_listener_socket_config,
    listen_control_channel,
)
from kea_ha_tw.commands.registry import CommandRegistry, build_default_registry
from kea_ha_tw.commands.resource import ControlChannelResource
from kea_ha_tw.commands.stats import refresh_lease_statistics
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.netif import DHCPListenerService
from kea_ha_tw.dhcp.protocol import DHCPServerProtocol
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.errors import CommandError, ConfigError
from kea_ha_tw.ha.listener_process import ListenerProcessService
from kea_ha_tw.leases.memfile import create_lease_store
from kea_ha_tw.leases.service import LeaseStoreService
from kea_ha_tw.loggers import LogFilter, Logger
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics

# Kea's restricted HA command set (restrict-commands, reference section 2.1).
HA_RESTRICTED_COMMANDS = frozenset([
    "list-commands", "status-get", "dhcp-disable", "dhcp-enable", "ha-reset",
    "ha-heartbeat", "lease4-update", "lease4-del", "lease4-get-all",
    "lease4-get-page", "ha-maintenance-notify", "ha-sync-complete-notify",
    # Our extension: lease4-update/lease4-del in bulk between peers of ours.
    "lease4-batch-update",
])

# Parts of the configuration a running server cannot swap (config-set /
# config-reload): they own sockets, files or peers.
_RESTART_ONLY = ("interfaces", "dhcp_socket_type", "lease_database", "control_sockets",
                 "ha", "hooks")


class OrderedMultiService(MultiService):
    """
    A L{MultiService} that stops its children one at a time, last first,
    each only after the previous one's stop Deferred fired.
    """

    _log = Logger()

    def stopService(self) -> Deferred:
        """Stop children in reverse order, sequentially."""
        Service.stopService(self)
        children = list(self)
        children.reverse()
        d: Deferred = succeed(None)
        for child in children:
            d.addCallback(lambda _, c=child: c.stopService())
            d.addErrback(self._log_stop_failure, child)
        return d

    def _log_stop_failure(self, failure, child) -> None:
        self._log.failure("stopping {child} failed", failure, child=repr(child))


class _RecountAfterLoad(Service):
    """
    Runs right after the lease store service started (the leases are
    loaded): the DHCP server recounts its per-subnet lease statistics,
    which it first computed over an empty store.
    """

    def __init__(self, server: Server) -> None:
        self._server = server

    def startService(self) -> None:
        """Recount from the loaded store."""
        Service.startService(self)
        self._server.dhcp.recount_lease_stats()


class Server:
    """
    The composed server: the pieces L{build_service} made, kept reachable
    for tests and for C{config-set}/C{config-reload}.
    """

    _log = Logger()

    def __init__(self, config: ServerConfig, reactor: Any, config_path: str | None,
                 http_client_factory: Callable[..., Any] | None = None,
                 stop: Callable[[int], None] | None = None,
                 log_filter: LogFilter | None = None) -> None:
        self._log_filter = log_filter
        self._stop = stop
        if log_filter is not None:
            log_filter.configure(config.loggers)
        self.config = config
        self.reactor = reactor
        self.statistics = Statistics(reactor)
        self.network_state = NetworkState(reactor)
        self.store = create_lease_store(config.lease_database, reactor, reactor)
        self.lease_service = LeaseStoreService(self.store, config, reactor, reactor,
                                               stats=self.statistics)
        self.registry: CommandRegistry = build_default_registry()
        self.ha = self._build_ha(config, reactor, http_client_factory)
        self.hooks = self.ha if self.ha is not None else NoHA()
        self.dhcp = DHCPServer(config, self.store, self.hooks, self.network_state,
                               self.statistics, reactor)
        self.protocols: list[DHCPServerProtocol] = []
        self.context = CommandContext(
            clock=reactor, config=config, lease_store=self.store,
            network_state=self.network_state, statistics=self.statistics,
            config_path=config_path, reconfigure=self.reconfigure,
            shutdown=stop, pid=os.getpid(),
        )
        self.context.add_statistics_refresher(refresh_lease_statistics)
        if self.ha is not None:
            from kea_ha_tw.commands.ha import register_ha_commands

            register_ha_commands(self.registry, self.ha)
            self.lease_service.add_reclaim_observer(self.ha.updater.send_reclaimed)

    def _build_ha(self, config: ServerConfig, reactor: Any, http_client_factory):
        if config.ha is None:
            return None
        from kea_ha_tw.ha.client import (
            make_peer_clients,
            make_peer_http_client,
            peer_connections,
        )
        from kea_ha_tw.ha.service import HAService

        ha = config.ha
        if http_client_factory is None:
            http_client = make_peer_http_client(reactor, ha.peers, ha.tls,
                                                connections_per_peer=peer_connections(ha))
        else:
            http_client = http_client_factory(reactor, ha.peers, ha.tls)
        clients = make_peer_clients(ha, http_client, reactor)
        return HAService(config, self.network_state, self.statistics, reactor, self.store,
                         clients)

    def protocol_for(self, iface, raw_sender) -> DHCPServerProtocol:
        """The DHCP protocol of one interface (the listener's factory)."""
        protocol = DHCPServerProtocol(self.dhcp, iface, self.reactor, raw_sender)
        self.dhcp.add_local_address(iface.address)
        self.protocols.append(protocol)
        return protocol

    def reconfigure(self, new_config: ServerConfig) -> Deferred:
        """
        Put C{new_config} in use (C{config-set}, C{config-reload}):
        subnets, pools, options, lifetimes and flags change at once; a
        change to sockets, lease database, HA or hook libraries needs a
        restart and is refused with a result-1 answer naming the key.
        """
        for name in _RESTART_ONLY:
            if getattr(new_config, name) != getattr(self.config, name):
                raise CommandError(1, f"changing '{name.replace('_', '-')}' requires a restart")
        if self._log_filter is not None:
            try:
                self._log_filter.configure(new_config.loggers)
            except ConfigError as e:
                raise CommandError(1, f"{e.path}: {e.message}") from None
        dhcp = DHCPServer(new_config, self.store, self.hooks, self.network_state,
                          self.statistics, self.reactor)
        for protocol in self.protocols:
            dhcp.add_local_address(protocol.iface.address)
            protocol.server = dhcp
        self.dhcp = dhcp
        self.config = new_config
        self.lease_service.config = new_config
        self._log.info("configuration reloaded", msg_id="DHCP4_CONFIG_COMPLETE")
        return succeed(None)

    def listeners(self) -> list[IService]:
        """HTTP/unix command listeners: operator sockets, then the HA peer URL."""
        services = []
        for i, socket_config in enumerate(self.config.control_sockets):
            resource = build_control_resource(self.registry, self.context, socket_config)
            services.append(listen_control_channel(
                self.reactor, socket_config, resource, path=f"Dhcp4.control-sockets[{i}]"))
        ha = self.config.ha
        if ha is not None and ha.listener_process:
            services.append(self._listener_process(ha))
        elif ha is not None and not any(_same_endpoint(s, ha)
                                        for s in self.config.control_sockets):
            socket_config = ha_listener_socket_config(ha)
            accept = HA_RESTRICTED_COMMANDS if ha.restrict_commands else None
            resource = build_control_resource(self.registry, self.context, socket_config,
                                              accept_commands=accept)
            services.append(listen_control_channel(
                self.reactor, socket_config, resource, path="high-availability[0].peers.url"))
        return services

    def _listener_process(self, ha) -> IService:
        """
        The HA listener process service (HA key C{listener-process}): the
        child listens on the peer URL; its requests run here through the
        HA listener's registry and command filter.
        """
        path = "high-availability[0].listener-process"
        if any(_same_endpoint(s, ha) for s in self.config.control_sockets):
            raise ConfigError(path, "the HA listener process cannot share its peer url with "
                                    "a control socket")
        if self.context.config_path is None:
            raise ConfigError(path, "the HA listener process needs the configuration file")
        accept = HA_RESTRICTED_COMMANDS if ha.restrict_commands else None
        resource = ControlChannelResource(self.registry, self.context, accept_commands=accept)

        def fatal(reason: str) -> None:
            if self._stop is not None:
                self._stop(1)

        return ListenerProcessService(self.reactor, self.context.config_path, resource, fatal)


def _same_endpoint(socket_config, ha) -> bool:
    me = ha.this_peer
    return (socket_config.socket_type in ("http", "https")
            and socket_config.socket_address == me.host
            and socket_config.socket_port == me.port)


class ReloadOnSignal(Service):
    """
    Reload the configuration file on a signal (SIGHUP), as C{kea-dhcp4}
    does: the file is read and validated, then applied like
    C{config-reload}; an invalid file or a change that needs a restart is
    logged and the running configuration stays.

    @param install: C{signal.signal}-like C{(signum, handler)}; the
        composition root passes the real one.
    @param call_soon: C{reactor.callFromThread}-like; the handler only
        schedules the reload, it never runs it inside the signal handler.
    """

    _log = Logger()

    def __init__(self, server: Server, config_path: str, signum: int,
                 install: Callable[[int, Any], Any], call_soon: Callable[..., Any]) -> None:
        self._server = server
        self._path = config_path
        self._signum = signum
        self._install = install
        self._call_soon = call_soon
        self._previous: Any = None

    def startService(self) -> None:
        """Install the handler."""
        Service.startService(self)
        self._previous = self._install(self._signum, self._on_signal)

    def stopService(self) -> Deferred:
        """Restore the previous handler."""
        Service.stopService(self)
        if self._previous is not None:
            self._install(self._signum, self._previous)
        return succeed(None)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._call_soon(self.reload)

    def reload(self) -> Deferred:
        """Read, validate and apply the configuration file; never raises."""
        from kea_ha_tw.config.loader import load_config
        from kea_ha_tw.errors import ConfigError

        try:
            new = load_config(self._path)
            d = self._server.context.apply_config(new)
        except ConfigError as e:
            self._log.error("configuration reload failed: {path}: {reason}",
                            msg_id="DHCP4_DYNAMIC_RECONFIGURATION_FAIL", path=e.path,
                            reason=e.message)
            return succeed(False)
        except (OSError, CommandError) as e:
            self._log.error("configuration reload failed: {reason}",
                            msg_id="DHCP4_DYNAMIC_RECONFIGURATION_FAIL", reason=str(e))
            return succeed(False)

        def failed(failure):
            self._log.failure("configuration reload failed", failure,
                              msg_id="DHCP4_DYNAMIC_RECONFIGURATION_FAIL")
            return False

        return d.addCallbacks(lambda _: True, failed)


def build_service(config: ServerConfig, *, reactor: Any, config_path: str | None = None,
                  http_client_factory: Callable[..., Any] | None = None,
                  install_signal: Callable[[int, Any], Any] | None = None,
                  log_filter: LogFilter | None = None) -> MultiService:
    """
    The whole server for C{config} as one service tree.

    @param reactor: the reactor (time, UDP adoption, TCP/SSL listening,
        processes); only the composition root passes the global one.
    @param http_client_factory: C{(reactor, peers, tls) -> HTTPClient}
        for HA peer traffic (tests pass a StubTreq-backed one).
    @param install_signal: C{signal.signal}; when given with a
        C{config_path}, SIGHUP reloads the configuration as in Kea.
    @param log_filter: the process-wide L{LogFilter} to set from the
        configuration's C{loggers} (now and on every reload); only the
        composition root passes it.
    """
    top = OrderedMultiService()

    def stop(exit_value: int) -> None:
        reactor.stop()

    server = Server(config, reactor, config_path, http_client_factory, stop, log_filter)
    top.server = server  # type: ignore[attr-defined]
    server.lease_service.setServiceParent(top)
    _RecountAfterLoad(server).setServiceParent(top)
    if server.ha is not None:
        server.ha.setServiceParent(top)
    for listener in server.listeners():
        listener.setServiceParent(top)
    DHCPListenerService(reactor, config.interfaces, server.protocol_for,
                        config.dhcp_socket_type).setServiceParent(top)
    if install_signal is not None and config_path is not None:
        ReloadOnSignal(server, config_path, signal.SIGHUP, install_signal,
                       reactor.callFromThread).setServiceParent(top)
    return top
