# -*- test-case-name: tests.test_memfile -*-
"""
Kea 2.2's memfile lease store: every lease in memory (the indexes of
L{kea_ha_tw.leases.memory}), every change appended to the CSV lease file
before the call returns, the file compatible both ways with Kea's.

Loading (L{MemfileLeaseStore.open}) follows C{Memfile_LeaseMgr}: refuse
while C{<file>.pid} names a live LFC process; read C{<file>.completed} if
it exists, else C{<file>.2} then C{<file>.1}; then C{<file>} itself, which
stays open for appends. The last row per address wins, a row with valid
lifetime 0 removes the address, and more than C{max-row-errors} bad rows
in one file (0 = no limit) make the load fail.

Writing: one row per change with C{write()} on the file descriptor, so a
C{kill -9} right after the call loses nothing. With our extension
C{fsync: "always"} each row is also C{fsync}ed (power-loss safe, slower);
the default C{"none"} is what Kea does.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence

from twisted.internet import defer

from kea_ha_tw.config.model import LeaseDatabaseConfig
from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.leases import csvformat, lfc
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import Lease4
from kea_ha_tw.loggers import Logger

_log = Logger()

FSYNC_MODES = ("none", "always")
# From this many loaded leases on, the loaded objects are moved out of the
# cyclic GC's reach (gc.freeze); reference counting still frees them.
FREEZE_THRESHOLD = 50_000


def _exists(path: str) -> bool:
    return os.path.exists(path)


class MemfileLeaseStore(InMemoryLeaseStore):
    """
    The memfile store of C{config} (a L{LeaseDatabaseConfig} with
    C{persist: true}). Call L{open} before use.

    @param clock: an C{IReactorTime}; kept for the service and for
        logging, the store itself needs no time.
    @param process_reactor: an C{IReactorProcess} used by L{lfc} to start
        the cleanup child process.
    @param lfc_command: the cleanup program and its leading arguments
        (default: C{python -m kea_ha_tw.leases.lfc}; Kea's C{kea-lfc} works
        as well).
    """

    def __init__(self, config: LeaseDatabaseConfig, clock, process_reactor=None,
                 lfc_command: Sequence[str] | None = None) -> None:
        super().__init__()
        if config.fsync not in FSYNC_MODES:
            raise LeaseStoreError(f"invalid fsync mode '{config.fsync}',"
                                  f" expected one of {', '.join(FSYNC_MODES)}")
        self.config = config
        self.name = config.name
        self.paths = lfc.LFCPaths.for_lease_file(config.name)
        self._clock = clock
        self._process_reactor = process_reactor
        self._lfc_command = list(lfc_command) if lfc_command else None
        self._fsync = config.fsync == "always"
        self._fd: int | None = None
        self._opened = False
        self._lfc_running: defer.Deferred[int] | None = None
        self._tail_broken = False
        self.needs_conversion = False
        self.load_errors: list[str] = []

    # -- loading -------------------------------------------------------------

    def open(self) -> None:
        """
        Load the lease files in Kea's order and open C{<file>} for appends
        (created with the header if missing). Raise L{LeaseStoreError} when
        Kea would refuse to start. Opening again reloads from the files.
        """
        self.flush()
        try:
            running = lfc.pid_file_check(self.paths.pid)
        except lfc.LFCError as e:
            raise LeaseStoreError(str(e)) from None
        if running:
            raise LeaseStoreError("unable to load leases from files while the lease"
                                  " file cleanup is in progress")
        leases: dict[int, Lease4] = {}
        self.load_errors = []
        conversion = False
        # Loading creates millions of objects that all live on; the cyclic
        # GC would rescan them again and again (it more than doubles the
        # load time), and afterwards on every full collection.
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            if _exists(self.paths.finish):
                conversion |= self._load_file(self.paths.finish, leases)
            else:
                for path in (self.paths.previous, self.paths.copy):
                    if _exists(path):
                        conversion |= self._load_file(path, leases)
            conversion |= self._load_file(self.name, leases)
            self._index.bulk_load(leases)
        finally:
            if gc_enabled:
                gc.enable()
        if len(leases) >= FREEZE_THRESHOLD:
            gc.freeze()
        self.needs_conversion = conversion
        self._open_for_append()
        self._opened = True

    def _load_file(self, path: str, leases: dict[int, Lease4]) -> bool:
        """Kea's C{LeaseFileLoader::load}; True if the file needs conversion."""
        _log.info("loading leases from file {path}",
                  msg_id="DHCPSRV_MEMFILE_LEASE_FILE_LOAD", path=path)
        try:
            f = open(path, encoding="utf-8", errors="surrogateescape", newline="\n")
        except FileNotFoundError:
            return False
        except OSError as e:
            raise LeaseStoreError(f"unable to open '{path}': {e.strerror}") from None
        max_errors = self.config.max_row_errors
        decode = csvformat.decode_row
        format_error = csvformat.CSVFormatError
        errors = 0
        reads = 0
        with f:
            header = f.readline()
            while header == "\n":
                header = f.readline()
            if not header:
                return False
            try:
                schema = csvformat.parse_header(header, path)
            except format_error as e:
                raise LeaseStoreError(str(e)) from None
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                reads += 1
                try:
                    lease = decode(line, schema)
                except format_error as e:
                    errors += 1
                    text = f"discarding row {reads}, error: {e}"
                    self.load_errors.append(text)
                    _log.error("{path}: {text}", msg_id="DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR",
                               path=path, text=text)
                    if max_errors and errors > max_errors:
                        raise LeaseStoreError(
                            f"exceeded maximum number of failures {max_errors} to read a"
                            f" lease from the lease file {path}") from None
                    continue
                if lease.valid_lft:
                    leases[int(lease.address)] = lease
                else:
                    leases.pop(int(lease.address), None)
        if schema.needs_conversion:
            _log.warn("lease file {path} is schema version {version}, it needs conversion"
                      " to {current}",
                      msg_id="DHCPSRV_MEMFILE_NEEDS_UPGRADING" if schema.needs_upgrade
                      else "DHCPSRV_MEMFILE_NEEDS_DOWNGRADING",
                      path=path, version=schema.version, current=csvformat.COLUMN_VERSIONS[-1])
        return schema.needs_conversion

    def _open_for_append(self) -> None:
        """Open C{<file>} for appends; write the header into a new or empty file."""
        try:
            fd = os.open(self.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as e:
            raise LeaseStoreError(f"unable to open '{self.name}': {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                self._write(fd, (csvformat.HEADER + "\n").encode())
            else:
                with open(self.name, "rb") as f:
                    f.seek(size - 1)
                    # A half-written last row (crash, full disk) stays a bad
                    # row of its own instead of swallowing our next one.
                    self._tail_broken = f.read(1) != b"\n"
        except OSError as e:
            os.close(fd)
            raise LeaseStoreError(f"unable to write '{self.name}': {e.strerror}") from None
        self._fd = fd

    # -- writing ------------------------------------------------------------

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self._fsync:
            os.fsync(fd)

    def _append(self, row: str) -> None:
        if self._fd is None:
            if not self._opened:
                raise LeaseStoreError(f"lease file '{self.name}' is not open")
            self._open_for_append()
        data = row.encode("utf-8", "surrogateescape")
        if self._tail_broken:
            data = b"\n" + data
        try:
            self._write(self._fd, data)
        except OSError as e:
            self._tail_broken = True
            raise LeaseStoreError(f"failed to write CSV row '{row.rstrip()}' to the file"
                                  f" '{self.name}': {e.strerror}") from None
        self._tail_broken = False

    def _persist(self, lease: Lease4) -> None:
        try:
            csvformat.check_writable(lease)
        except csvformat.CSVFormatError as e:
            raise LeaseStoreError(str(e)) from None
        self._append(csvformat.encode_row(lease))

    def _persist_delete(self, lease: Lease4) -> None:
        self._append(csvformat.encode_delete_row(lease))

    def flush(self) -> None:
        """C{fsync} the lease file and close it; the next write reopens it."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        """L{flush}, and refuse further writes."""
        self.flush()
        self._opened = False

    # -- lease file cleanup ------------------------------------------------------

    @property
    def lfc_running(self) -> bool:
        """True while a cleanup child started by L{lfc} has not ended."""
        return self._lfc_running is not None

    def lfc(self, process_reactor=None) -> defer.Deferred[int | None]:
        """
        Kea's C{lfcExecute}: unless a previous cleanup left C{.completed} or
        C{.1} behind, move C{<file>} to C{<file>.1} and start a fresh
        C{<file>}; then run the cleanup child through C{process_reactor}
        (default: the constructor's). Fires with its exit code, or None
        when nothing was started.
        """
        process_reactor = process_reactor or self._process_reactor
        if process_reactor is None:
            raise LeaseStoreError("no process reactor to run the lease file cleanup with")
        if self._lfc_running is not None:
            _log.info("lease file cleanup still running, not starting another",
                      msg_id="DHCPSRV_MEMFILE_LFC_START")
            return defer.succeed(None)
        _log.info("starting lease file cleanup", msg_id="DHCPSRV_MEMFILE_LFC_START")
        paths = self.paths
        if not _exists(paths.finish) and not _exists(paths.copy):
            self.flush()
            do_lfc = True
            try:
                os.rename(self.name, paths.copy)
            except OSError as e:
                do_lfc = False
                _log.error("failed to rename the current lease file {name} to {copy},"
                           " reason: {reason}", msg_id="DHCPSRV_MEMFILE_LFC_LEASE_FILE_RENAME_FAIL",
                           name=self.name, copy=paths.copy, reason=e.strerror)
            try:
                self._open_for_append()
            except LeaseStoreError as e:
                _log.error("failed to reopen lease file {name} after preparing input file"
                           " for lease file cleanup, reason: {reason}",
                           msg_id="DHCPSRV_MEMFILE_LFC_LEASE_FILE_REOPEN_FAIL",
                           name=self.name, reason=str(e))
                return defer.succeed(None)
            if not do_lfc:
                return defer.succeed(None)
        try:
            done = lfc.spawn_lfc(process_reactor, paths, self._lfc_command)
        except Exception:
            _log.failure("failed to run lease file cleanup",
                         msg_id="DHCPSRV_MEMFILE_LFC_SPAWN_FAIL")
            return defer.succeed(None)
        self._lfc_running = done

        def ended(code: int) -> int:
            self._lfc_running = None
            log = _log.info if code == 0 else _log.error
            log("lease file cleanup ended with exit code {code}",
                msg_id="DHCPSRV_MEMFILE_LFC_RESULT", code=code)
            return code

        done.addCallback(ended)
        return done


def create_lease_store(config: LeaseDatabaseConfig, clock, process_reactor=None,
                       lfc_command: Sequence[str] | None = None) -> InMemoryLeaseStore:
    """
    The store C{config} asks for: a L{MemfileLeaseStore} with C{persist:
    true}, an L{InMemoryLeaseStore} otherwise (Kea then warns that leases
    are not saved).
    """
    if config.type != "memfile":
        raise LeaseStoreError(f"lease database type '{config.type}' is not supported,"
                              " only memfile is")
    if config.persist:
        return MemfileLeaseStore(config, clock, process_reactor, lfc_command)
    _log.warn("no lease file is used: leases are lost when the server stops",
              msg_id="DHCPSRV_MEMFILE_NO_STORAGE")
    return InMemoryLeaseStore()
