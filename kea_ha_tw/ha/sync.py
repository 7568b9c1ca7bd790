# -*- test-case-name: tests.test_sync -*-
"""
Lease database synchronization from a peer (Kea 2.2's C{synchronize}).

The procedure, used by the C{syncing} state and by C{ha-sync}:

 1. C{dhcp-disable {max-period, origin: "ha-partner"}} to the peer; a
    failure ends the sync (nothing to re-enable);
 2. C{lease4-get-page {from: "start" | <last address>, limit:
    sync-page-limit}} with the C{sync-timeout}; every lease is merged:
    added when missing locally, replacing the local one only when the local
    C{cltt} is older (a tie keeps the local lease); entries that do not
    parse are logged (C{HA_LEASE_SYNC_FAILED}) and skipped;
 3. a page holding C{sync-page-limit} leases or more means more may follow:
    back to 1 (the disable is sent again before every page); a shorter page
    ends the fetch;
 4. success: C{ha-sync-complete-notify}, or C{dhcp-enable} when the peer
    answers result 2; failure: C{dhcp-enable} if any disable succeeded.

Unlike Kea, which runs a private IO loop and freezes the server, this runs
on the reactor: heartbeats and commands are answered meanwhile (the
caller keeps DHCP disabled). The sync only pulls; it never deletes local
leases and never pushes.
"""

from __future__ import annotations

from ipaddress import AddressValueError, IPv4Address
from typing import Any
from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.interfaces import IReactorTime

from kea_ha_tw.commands.envelope import kea_json_dumps
from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.errors import KeaHAError, LeaseStoreError, PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.client import DEFAULT_TIMEOUT_S, PeerCommandUnsupported, kea_error_message
from kea_ha_tw.ha.policies import ROLE_BACKUP
from kea_ha_tw.interfaces import ILeaseStore, IPeerClient
from kea_ha_tw.leases.kea_json import lease_from_element
from kea_ha_tw.leases.model import Lease4
from kea_ha_tw.loggers import Logger

ORIGIN_HA_PARTNER = "ha-partner"


class SyncError(KeaHAError):
    """The synchronization failed; C{str()} is Kea's status message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _StepFailedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def dhcp_disable_arguments(max_period: int | None) -> dict[str, Any]:
    """C{dhcp-disable} arguments as Kea's HA sends them (no max-period when 0/None)."""
    args: dict[str, Any] = {"origin": ORIGIN_HA_PARTNER}
    if max_period:
        args["max-period"] = max_period
    return args


def automatic_max_period(ha: HAConfig) -> int:
    """The C{max-period} of an automatic sync: C{sync-timeout} in s, at least 1."""
    return max(1, ha.sync_timeout_ms // 1000)


def merge_lease(store: ILeaseStore, lease: Lease4) -> bool:
    """
    Kea's merge rule for one fetched lease: add it when missing, replace
    the local lease only when the local C{cltt} is older. True if stored.
    """
    existing = store.get(lease.address)
    if existing is None:
        try:
            store.add(lease)
            return True
        except LeaseStoreError:
            # The address is held by a lease the plain lookup hides
            # (expired-reclaimed); Kea's getLease4 returns it: compare it.
            existing = store.get(lease.address, include_reclaimed=True)
            if existing is None:
                raise
    if existing.cltt < lease.cltt:
        store.update(lease)
        return True
    return False


class LeaseSync:
    """
    Pulls the lease database of a named peer into the local store.

    @ivar in_progress: True while a synchronization runs.
    """

    _log = Logger()

    def __init__(
        self,
        ha: HAConfig,
        clients: dict[str, IPeerClient],
        store: ILeaseStore,
        clock: IReactorTime,
        on_peer_failure: Callable[[str], None],
    ) -> None:
        self._ha = ha
        self._clients = clients
        self._store = store
        self._clock = clock
        self._on_peer_failure = on_peer_failure
        self._backups = frozenset(p.name for p in ha.peers if p.role == ROLE_BACKUP)
        self.in_progress = False
        # Kea's sync blocks the server, so two never overlap; here a second
        # one (ha-sync during the automatic sync) waits for the first.
        self._lock = DeferredLock()

    def synchronize(self, server_name: str, max_period: int | None) -> Deferred:
        """
        Run the whole procedure against C{server_name}. Fire with the
        number of leases added or replaced locally; fail with L{SyncError}.
        A synchronization asked for while another runs starts after it.
        """
        return self._lock.run(
            lambda: Deferred.fromCoroutine(self._synchronize(server_name, max_period)))

    async def _synchronize(self, server_name: str, max_period: int | None) -> int:
        client = self._clients.get(server_name)
        if client is None:
            if server_name == self._ha.this_server_name:
                raise SyncError(f"'{server_name}' is this server; synchronize from another peer")
            raise SyncError(f"no peer configuration specified for the '{server_name}'")
        self.in_progress = True
        started = self._clock.seconds()
        self._log.info("starting lease database synchronization with {peer}",
                       msg_id="HA_SYNC_START", peer=server_name)
        status: str | None = None
        disabled = False
        merged = 0
        try:
            try:
                merged, disabled = await self._fetch(client, max_period)
            except _FetchError as e:
                status, disabled = e.message, e.disabled
            if disabled:
                status = await self._finish(client, status)
        finally:
            self.in_progress = False
        if status is not None:
            self._log.error(
                "lease database synchronization with {peer} failed: {reason}",
                msg_id="HA_SYNC_FAILED", peer=server_name, reason=status,
            )
            raise SyncError(status)
        self._log.info(
            "lease database synchronization with {peer} completed in {seconds:.3f} s "
            "({merged} leases stored)",
            msg_id="HA_SYNC_SUCCESSFUL", peer=server_name, merged=merged,
            seconds=self._clock.seconds() - started,
        )
        return merged

    async def _fetch(self, client: IPeerClient, max_period: int | None) -> tuple[int, bool]:
        limit = self._ha.sync_page_limit
        timeout_s = self._ha.sync_timeout_ms / 1000.0
        disable_args = dhcp_disable_arguments(max_period)
        disabled = False
        merged = 0
        last: str | None = None
        while True:
            try:
                await self._step(client, "dhcp-disable", disable_args, DEFAULT_TIMEOUT_S,
                                 "HA_DHCP_DISABLE")
                disabled = True
                if limit == 0:
                    raise _StepFailedError("limit value for lease4-get-page command must not be 0")
                page = await self._step(
                    client, "lease4-get-page", {"from": last or "start", "limit": limit},
                    timeout_s, "HA_LEASES_SYNC",
                )
                leases = self._page_leases(client.name, page)
            except _StepFailedError as e:
                raise _FetchError(e.message, disabled) from None
            self._log.info(
                "received {count} leases from {peer}",
                msg_id="HA_LEASES_SYNC_LEASE_PAGE_RECEIVED", count=len(leases), peer=client.name,
            )
            stored, last_address = self._merge_page(leases)
            merged += stored
            if len(leases) < limit or last_address is None:
                return merged, disabled
            last = last_address

    def _page_leases(self, peer: str, page: Any) -> list[Any]:
        if page is not None and not isinstance(page, dict):
            self._failed(peer, "HA_LEASES_SYNC_FAILED",
                         "arguments in the received response must be a map")
        leases = page.get("leases") if isinstance(page, dict) else None
        if not isinstance(leases, list):
            self._failed(peer, "HA_LEASES_SYNC_FAILED",
                         "server response does not contain leases argument or this"
                         " argument is not a list")
        return leases

    def _merge_page(self, leases: list[Any]) -> tuple[int, str | None]:
        """Merge one page; return (stored, the address to page from next)."""
        stored = 0
        last_address: str | None = None
        for element in leases:
            try:
                lease = lease_from_element(element)
                merged = merge_lease(self._store, lease)
            except (KeaHAError, ValueError, TypeError, KeyError, AttributeError) as e:
                self._log.warn(
                    "failed to store a lease fetched during sync: {lease}: {reason}",
                    msg_id="HA_LEASE_SYNC_FAILED", lease=_element_text(element), reason=str(e),
                )
                last_address = _element_address(element) or last_address
                continue
            if merged:
                stored += 1
            else:
                self._log.debug(
                    "skipping stale lease {address} in subnet {subnet_id}",
                    msg_id="HA_LEASE_SYNC_STALE_LEASE4_SKIP",
                    address=str(lease.address), subnet_id=lease.subnet_id,
                )
            last_address = str(lease.address)
        return stored, last_address

    async def _finish(self, client: IPeerClient, status: str | None) -> str | None:
        """Re-enable the peer: notify on success (dhcp-enable if unsupported)."""
        if status is None:
            try:
                await self._step(client, "ha-sync-complete-notify", None, DEFAULT_TIMEOUT_S,
                                 "HA_SYNC_COMPLETE_NOTIFY", unsupported_ok=True)
                return None
            except _UnsupportedError:
                pass
            except _StepFailedError as e:
                return e.message
        try:
            await self._step(client, "dhcp-enable", {"origin": ORIGIN_HA_PARTNER},
                             DEFAULT_TIMEOUT_S, "HA_DHCP_ENABLE")
        except _StepFailedError as e:
            return status if status is not None else e.message
        return status

    async def _step(
        self, client: IPeerClient, command: str, arguments: Any, timeout_s: float,
        msg_prefix: str, unsupported_ok: bool = False,
    ) -> Any:
        try:
            return await client.send_command(command, arguments, timeout_s)
        except PeerCommandUnsupported as e:
            if unsupported_ok:
                raise _UnsupportedError() from None
            self._failed(client.name, msg_prefix + "_FAILED", kea_error_message(e))
        except PeerCommandError as e:
            self._failed(client.name, msg_prefix + "_FAILED", kea_error_message(e))
        except PeerCommunicationError as e:
            self._failed(client.name, msg_prefix + "_COMMUNICATIONS_FAILED", kea_error_message(e))

    def _failed(self, peer: str, msg_id: str, message: str) -> None:
        self._log.error("{peer}: {reason}", msg_id=msg_id, peer=peer, reason=message)
        if peer not in self._backups:
            self._on_peer_failure(peer)
        raise _StepFailedError(message)


class _FetchError(Exception):
    def __init__(self, message: str, disabled: bool) -> None:
        super().__init__(message)
        self.message = message
        self.disabled = disabled


class _UnsupportedError(Exception):
    pass


def _element_text(element: Any) -> str:
    try:
        return kea_json_dumps(element)
    except (TypeError, ValueError):
        return repr(element)


def _element_address(element: Any) -> str | None:
    if isinstance(element, dict):
        address = element.get("ip-address")
        if isinstance(address, str):
            try:
                return str(IPv4Address(address))
            except AddressValueError:
                return None
    return None
