# -*- test-case-name: tests.test_commands_general -*-
"""
What command handlers may touch: one L{CommandContext} per server.

The composition root builds it from the running pieces (clock, lease
store, network state, statistics, current configuration) and provides two
seams Kea's own commands need:

 - C{reconfigure(new_config) -> Deferred}: swap the running configuration
   (C{config-set}, C{config-reload}); the context records the new config
   and the reload time only when the Deferred succeeds;
 - C{shutdown(exit_value)}: stop the process (C{shutdown}); it is called on
   the next reactor turn, after the answer has been written.

Extensions add to C{status-get} through L{CommandContext.add_status_contributor}
(HA adds its C{high-availability} list, like Kea's C{command_processed}
callout does) and refresh statistics before they are read through
L{CommandContext.add_statistics_refresher}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime

from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.errors import CommandError
from kea_ha_tw.interfaces import ILeaseStore, INetworkState, IStatistics
from kea_ha_tw.loggers import Logger

#: C{reconfigure(new_config)}: fires when the new configuration is in use.
Reconfigure = Callable[[ServerConfig], "Deferred[None] | None"]
#: C{shutdown(exit_value)}: stop the server.
Shutdown = Callable[[int], None]
#: A status contributor returns extra C{status-get} arguments.
StatusContributor = Callable[["CommandContext"], Mapping[str, Any]]
#: A statistics refresher brings computed statistics up to date.
StatisticsRefresher = Callable[["CommandContext"], None]


class CommandContext:
    """
    The server as command handlers see it.

    @ivar clock: the reactor's clock (C{IReactorTime}); "now" comes from it.
    @ivar config: the L{ServerConfig} currently in use.
    @ivar config_path: the file the configuration was read from, or None.
    @ivar lease_store: the L{ILeaseStore}.
    @ivar network_state: the L{INetworkState} (C{dhcp-disable}/C{-enable}).
    @ivar statistics: the L{IStatistics}.
    @ivar pid: the process id C{status-get} reports.
    @ivar started_at: clock time the server started (C{uptime}).
    @ivar reconfigured_at: clock time of the last (re)configuration (C{reload}).
    """

    _log = Logger()

    def __init__(
        self,
        *,
        clock: IReactorTime,
        config: ServerConfig,
        lease_store: ILeaseStore,
        network_state: INetworkState,
        statistics: IStatistics,
        config_path: str | None = None,
        reconfigure: Reconfigure | None = None,
        shutdown: Shutdown | None = None,
        pid: int = 0,
        socket_status: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.clock = clock
        self.config = config
        self.config_path = config_path
        self.lease_store = lease_store
        self.network_state = network_state
        self.statistics = statistics
        self.pid = pid
        self.started_at = clock.seconds()
        self.reconfigured_at = self.started_at
        self._reconfigure = reconfigure
        self._shutdown = shutdown
        self._socket_status = socket_status
        self._status_contributors: list[StatusContributor] = []
        self._statistics_refreshers: list[StatisticsRefresher] = []

    # -- time ---------------------------------------------------------------

    def now(self) -> int:
        """The current time in whole Unix seconds (from the clock)."""
        return int(self.clock.seconds())

    # -- configuration --------------------------------------------------------

    @property
    def can_reconfigure(self) -> bool:
        """True when a reconfigure seam was provided."""
        return self._reconfigure is not None

    def apply_config(self, new_config: ServerConfig) -> Deferred[None]:
        """
        Put C{new_config} in use through the reconfigure seam. On success
        C{config} and C{reconfigured_at} are updated; a failure of the
        seam is passed on unchanged (the old configuration stays).

        @raise CommandError: no seam was provided (result 1).
        """
        if self._reconfigure is None:
            raise CommandError(1, "reconfiguration is not available in this server")

        def applied(_: object) -> None:
            self.config = new_config
            self.reconfigured_at = self.clock.seconds()

        return maybeDeferred(self._reconfigure, new_config).addCallback(applied)

    # -- shutdown -------------------------------------------------------------

    @property
    def can_shutdown(self) -> bool:
        """True when a shutdown seam was provided."""
        return self._shutdown is not None

    def request_shutdown(self, exit_value: int = 0) -> None:
        """
        Call the shutdown seam with C{exit_value} on the next reactor turn,
        so the answer to C{shutdown} leaves first.

        @raise CommandError: no seam was provided (result 1).
        """
        if self._shutdown is None:
            raise CommandError(1, "shutdown is not available in this server")
        self._log.info("shutdown requested, exit value {exit_value}",
                       msg_id="DHCP4_SHUTDOWN_REQUEST", exit_value=exit_value)
        self.clock.callLater(0, self._shutdown, exit_value)

    # -- status-get -------------------------------------------------------------

    def add_status_contributor(self, contributor: StatusContributor) -> None:
        """Have C{contributor(context)}'s map merged into C{status-get}'s arguments."""
        self._status_contributors.append(contributor)

    def remove_status_contributor(self, contributor: StatusContributor) -> None:
        """Undo L{add_status_contributor}."""
        self._status_contributors.remove(contributor)

    def socket_status(self) -> dict[str, Any]:
        """C{status-get}'s C{sockets}: C{{"status": "ready"}} unless a seam says otherwise."""
        if self._socket_status is None:
            return {"status": "ready"}
        return dict(self._socket_status())

    def status_arguments(self) -> dict[str, Any]:
        """
        C{status-get}'s arguments as Kea 2.2 reports them without
        multi-threading (C{pid}, C{uptime}, C{reload}, C{sockets},
        C{multi-threading-enabled}), plus every contributor's map.
        """
        now = self.clock.seconds()
        out: dict[str, Any] = {
            "pid": self.pid,
            "uptime": int(now - self.started_at),
            "reload": int(now - self.reconfigured_at),
            "sockets": self.socket_status(),
            "multi-threading-enabled": False,
        }
        for contributor in self._status_contributors:
            out.update(contributor(self))
        return out

    # -- statistics ----------------------------------------------------------------

    def add_statistics_refresher(self, refresher: StatisticsRefresher) -> None:
        """Have C{refresher(context)} run before statistics are read."""
        self._statistics_refreshers.append(refresher)

    def refresh_statistics(self) -> None:
        """Run every statistics refresher."""
        for refresher in self._statistics_refreshers:
            refresher(self)
