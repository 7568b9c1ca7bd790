# -*- test-case-name: tests.test_lease_service -*-
"""
The lease store's life cycle as a Twisted service: open and load in
C{startService}, lease file cleanup every C{lfc-interval} seconds, Kea's
expired-lease reclamation (C{expired-leases-processing}), flush and close
in C{stopService}.

Reclamation follows Kea 2.2's C{AllocEngine::reclaimExpiredLeases4}: every
C{reclaim-timer-wait-time} seconds (a one-shot timer re-armed after each
run) at most C{max-reclaim-leases} expired leases, oldest first, for at
most C{max-reclaim-time} ms. A reclaimed lease loses its hostname and DNS
flags and goes to state expired-reclaimed, kept C{hold-reclaimed-time}
seconds and then removed by the flush timer (every
C{flush-reclaimed-timer-wait-time} s; when that is 0, reclaimed leases are
removed at once). A declined lease whose probation period ended is
removed: the address is free again.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from twisted.application.service import Service
from twisted.internet import defer

from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.leases.model import Lease4, LeaseState
from kea_ha_tw.loggers import Logger

_log = Logger()

ReclaimObserver = Callable[[list[Lease4]], object]


class LeaseStoreService(Service):
    """
    Runs C{store} (an L{ILeaseStore}, usually from
    L{kea_ha_tw.leases.memfile.create_lease_store}) for C{config}.

    @param clock: C{IReactorTime} for the timers and for "now".
    @param process_reactor: C{IReactorProcess} for the cleanup child.
    @param stats: optional C{IStatistics}; reclamation adds to Kea's
        C{reclaimed-leases} and C{reclaimed-declined-addresses} (global and
        C{subnet[N].}) counters.
    @param stopwatch: seconds from an arbitrary origin, used only to bound
        one reclamation run by C{max-reclaim-time} (default
        C{time.perf_counter}).
    """

    def __init__(self, store, config: ServerConfig, clock, process_reactor, *,
                 stats=None, stopwatch: Callable[[], float] = perf_counter) -> None:
        self.store = store
        self.config = config
        self._clock = clock
        self._process_reactor = process_reactor
        self._stats = stats
        self._stopwatch = stopwatch
        self._observers: list[ReclaimObserver] = []
        self._calls: dict[str, object] = {}
        self._incomplete_reclamations = 0

    # -- observers -----------------------------------------------------------

    def add_reclaim_observer(self, observer: ReclaimObserver) -> None:
        """
        Call C{observer(leases)} after each reclamation run that reclaimed
        anything. A lease in state expired-reclaimed was kept; any other
        state means it was removed from the store (a declined lease whose
        probation ended, or any lease when the flush timer is disabled).
        """
        self._observers.append(observer)

    def remove_reclaim_observer(self, observer: ReclaimObserver) -> None:
        """Stop calling C{observer}."""
        self._observers.remove(observer)

    # -- life cycle ------------------------------------------------------------

    def startService(self) -> None:
        """Load the leases (failing fast) and arm the timers."""
        opener = getattr(self.store, "open", None)
        if opener is not None:
            opener()
        super().startService()
        db = self.config.lease_database
        if self._can_lfc():
            if getattr(self.store, "needs_conversion", False):
                _log.warn("lease file is of an older or newer schema, cleaning it up now",
                          msg_id="DHCPSRV_MEMFILE_CONVERTING_LEASE_FILES")
                self.run_lfc()
            if db.lfc_interval > 0:
                _log.info("lease file cleanup every {interval} seconds",
                          msg_id="DHCPSRV_MEMFILE_LFC_SETUP", interval=db.lfc_interval)
                self._arm("lfc", db.lfc_interval, self._lfc_tick)
        exp = self.config.expired_leases
        if exp.reclaim_timer_wait_time > 0:
            self._arm("reclaim", exp.reclaim_timer_wait_time, self._reclaim_tick)
        if exp.flush_reclaimed_timer_wait_time > 0:
            self._arm("flush", exp.flush_reclaimed_timer_wait_time, self._flush_tick)

    def stopService(self):
        """Cancel the timers, then flush and close the lease file."""
        super().stopService()
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()
        closer = getattr(self.store, "close", None) or self.store.flush
        try:
            closer()
        except Exception:
            _log.failure("failed to flush the lease file", msg_id="DHCPSRV_MEMFILE_FLUSH_FAIL")
        return defer.succeed(None)

    def _can_lfc(self) -> bool:
        return (self.config.lease_database.persist
                and callable(getattr(self.store, "lfc", None)))

    def _arm(self, name: str, delay_s: float, fn: Callable[[], None]) -> None:
        self._calls[name] = self._clock.callLater(delay_s, fn)

    # -- LFC ------------------------------------------------------------------

    def run_lfc(self) -> defer.Deferred:
        """Run one lease file cleanup now; never fails (errors are logged)."""
        try:
            d = self.store.lfc(self._process_reactor)
        except Exception:
            _log.failure("lease file cleanup failed to start",
                         msg_id="DHCPSRV_MEMFILE_LFC_SPAWN_FAIL")
            return defer.succeed(None)
        d.addErrback(lambda f: _log.failure("lease file cleanup failed", f,
                                            msg_id="DHCPSRV_MEMFILE_LFC_SPAWN_FAIL"))
        return d

    def _lfc_tick(self) -> None:
        # Kea's "memfile-lfc" timer is a repeating one: re-arm first.
        self._arm("lfc", self.config.lease_database.lfc_interval, self._lfc_tick)
        self.run_lfc()

    # -- reclamation ------------------------------------------------------------

    def _reclaim_tick(self) -> None:
        try:
            self.reclaim_expired_leases()
        except Exception:
            _log.failure("failed to reclaim expired leases",
                         msg_id="DHCP4_RECLAIM_EXPIRED_LEASES_FAIL")
        if self.running:
            self._arm("reclaim", self.config.expired_leases.reclaim_timer_wait_time,
                      self._reclaim_tick)

    def _flush_tick(self) -> None:
        try:
            self.flush_reclaimed_leases()
        except Exception:
            _log.failure("failed to remove expired-reclaimed leases",
                         msg_id="ALLOC_ENGINE_V4_RECLAIMED_LEASES_DELETE_FAILED")
        if self.running:
            self._arm("flush", self.config.expired_leases.flush_reclaimed_timer_wait_time,
                      self._flush_tick)

    def reclaim_expired_leases(self, max_leases: int | None = None,
                               timeout_ms: int | None = None,
                               remove: bool | None = None) -> list[Lease4]:
        """
        One reclamation run (defaults from C{expired-leases-processing};
        C{remove} defaults to "the flush timer is disabled"). Returns the
        reclaimed leases as L{add_reclaim_observer} describes them.
        """
        exp = self.config.expired_leases
        if max_leases is None:
            max_leases = exp.max_reclaim_leases
        if timeout_ms is None:
            timeout_ms = exp.max_reclaim_time
        if remove is None:
            remove = exp.flush_reclaimed_timer_wait_time == 0
        now = self._clock.seconds()
        _log.debug("starting reclamation of expired leases (limit = {max_leases} leases"
                   " or {timeout} milliseconds)", msg_id="ALLOC_ENGINE_V4_LEASES_RECLAMATION_START",
                   max_leases=max_leases, timeout=timeout_ms)
        started = self._stopwatch()
        incomplete = False
        if max_leases > 0:
            leases = self.store.expired(now, max_leases + 1, include_declined=True)
            if len(leases) > max_leases:
                leases.pop()
                incomplete = True
        else:
            leases = self.store.expired(now, 0, include_declined=True)
        reclaimed: list[Lease4] = []
        for lease in leases:
            try:
                reclaimed.append(self._reclaim(lease, remove))
            except Exception:
                _log.failure("failed to reclaim the lease {address}",
                             msg_id="ALLOC_ENGINE_V4_LEASE_RECLAMATION_FAILED",
                             address=str(lease.address))
            if timeout_ms > 0 and (self._stopwatch() - started) * 1000 >= timeout_ms:
                if len(reclaimed) < len(leases):
                    incomplete = True
                _log.debug("timeout of {timeout} ms reached while reclaiming leases",
                           msg_id="ALLOC_ENGINE_V4_LEASES_RECLAMATION_TIMEOUT",
                           timeout=timeout_ms)
                break
        _log.debug("reclaimed {count} leases", msg_id="ALLOC_ENGINE_V4_LEASES_RECLAMATION_COMPLETE",
                   count=len(reclaimed))
        self._note_incomplete(incomplete)
        if reclaimed:
            self._notify(reclaimed)
        return reclaimed

    def _note_incomplete(self, incomplete: bool) -> None:
        if not incomplete:
            self._incomplete_reclamations = 0
            return
        self._incomplete_reclamations += 1
        cycles = self.config.expired_leases.unwarned_reclaim_cycles
        if cycles > 0 and self._incomplete_reclamations > cycles:
            _log.warn("expired leases still exist after {cycles} reclamation cycles",
                      msg_id="ALLOC_ENGINE_V4_LEASES_RECLAMATION_SLOW", cycles=cycles)
            self._incomplete_reclamations = 0

    def _reclaim(self, lease: Lease4, remove: bool) -> Lease4:
        """Kea's C{reclaimExpiredLease} + C{reclaimLeaseInDatabase} for one lease."""
        cleared = lease.evolve(hostname="", fqdn_fwd=False, fqdn_rev=False)
        declined = lease.state == LeaseState.DECLINED
        if declined:
            _log.info("IPv4 address {address} was recovered after {probation} seconds of"
                      " probation-period", msg_id="ALLOC_ENGINE_V4_DECLINED_RECOVERED",
                      address=str(lease.address), probation=lease.valid_lft)
        if declined or remove:
            self.store.delete(lease.address)
            result = cleared
        else:
            result = cleared.evolve(state=LeaseState.EXPIRED_RECLAIMED)
            self.store.update(result)
        if self._stats is not None:
            subnet = f"subnet[{lease.subnet_id}]."
            self._stats.add("reclaimed-leases", 1)
            self._stats.add(subnet + "reclaimed-leases", 1)
            if declined:
                self._stats.add("reclaimed-declined-addresses", 1)
                self._stats.add(subnet + "reclaimed-declined-addresses", 1)
        return result

    def _notify(self, leases: list[Lease4]) -> None:
        for observer in list(self._observers):
            try:
                observer(list(leases))
            except Exception:
                _log.failure("reclaimed-lease observer {observer!r} failed",
                             msg_id="LEASES_RECLAIM_OBSERVER_FAILED", observer=observer)

    def flush_reclaimed_leases(self) -> int:
        """
        Kea's C{deleteExpiredReclaimedLeases4(hold-reclaimed-time)}: remove
        reclaimed leases that expired at least that long ago; return how
        many.
        """
        hold = self.config.expired_leases.hold_reclaimed_time
        count = self.store.delete_expired_reclaimed(self._clock.seconds(), hold)
        _log.debug("deleted {count} expired-reclaimed leases",
                   msg_id="ALLOC_ENGINE_V4_RECLAIMED_LEASES_DELETE_COMPLETE", count=count)
        return count
