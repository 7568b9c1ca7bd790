# -*- test-case-name: tests.test_lfc -*-
"""
Lease file cleanup (LFC), with Kea 2.2's file protocol, so that our files
and C{kea-lfc}'s are interchangeable.

The server side (L{kea_ha_tw.leases.memfile.MemfileLeaseStore.lfc}) moves
C{<file>} to C{<file>.1}, reopens a fresh C{<file>} and starts the
cleanup in a child process (L{spawn_lfc}), so the reactor never blocks:

    python -m kea_ha_tw.leases.lfc -4 -x <file>.2 -i <file>.1 \\
        -o <file>.output -f <file>.completed -p <file>.pid -c ignored-path

which behaves like C{kea-lfc} (L{run_lfc}): take the PID lock, load C{.2}
then C{.1} (last row per address wins, deletes dropped, at most 100 bad
rows per file), write C{.output}, rename it to C{.completed}, delete C{.1}
and C{.2}, rename C{.completed} to C{.2}, drop the PID file. If a
C{.completed} file is already there (a run died half way), only the
renaming is done.
"""

from __future__ import annotations

import gc
import getopt
import os
import re
import sys
from dataclasses import dataclass
from collections.abc import Sequence

from twisted.internet import defer, error, protocol

from kea_ha_tw.leases import csvformat
from kea_ha_tw.loggers import Logger

_log = Logger()

# kea-lfc's MAX_LEASE_ERRORS: more bad rows in one file abort the run.
MAX_LEASE_ERRORS = 100

_PID_RE = re.compile(rb"[+-]?[0-9]+")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class LFCPaths:
    """The files of Kea's LFC protocol for one lease file."""

    current: str
    previous: str
    copy: str
    output: str
    finish: str
    pid: str

    @classmethod
    def for_lease_file(cls, name: str) -> LFCPaths:
        """Kea's C{Memfile_LeaseMgr::appendSuffix} names for C{name}."""
        return cls(current=name, previous=name + ".2", copy=name + ".1",
                   output=name + ".output", finish=name + ".completed",
                   pid=name + ".pid")

    def argv(self) -> list[str]:
        """The arguments the server passes to C{kea-lfc}."""
        return ["-4", "-x", self.previous, "-i", self.copy, "-o", self.output,
                "-f", self.finish, "-p", self.pid, "-c", "ignored-path"]


class LFCError(Exception):
    """The cleanup could not be done; the text says why."""


def pid_file_check(path: str) -> int:
    """
    Kea's C{PIDFile::check}: 0 when C{path} is missing or names no live
    process, else the PID. A file without a readable PID raises L{LFCError}
    (Kea refuses to go on then).
    """
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise LFCError(f"Unable to read PID file '{path}': {e.strerror}") from None
    # Kea reads with "fs >> pid" and wants the stream still good after it:
    # an int (C int range) followed by at least one more character.
    text = text.lstrip(b" \t\n\r\v\f")
    match = _PID_RE.match(text)
    if match is None or match.end() == len(text) or not -2**31 <= int(match.group()) < 2**31:
        raise LFCError(f"Unable to read PID from file '{path}'")
    pid = int(match.group())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return 0
    except PermissionError:
        # kill() failing with EPERM counts as "not running" for Kea.
        return 0
    return pid


def load_leases(path: str, rows: dict[int, str], max_errors: int,
                errors_out: list[str] | None = None) -> csvformat.LoadStats:
    """
    Kea's C{LeaseFileLoader::load} into C{rows} (address -> the row Kea
    would write for the lease): the last row per address wins, a row with
    valid lifetime 0 removes the address. Bad rows are skipped; more than
    C{max_errors} (0 = no limit) raise L{LFCError}. A missing file loads
    nothing. Keeping rows rather than leases keeps the child process at
    about a third of the server's memory.
    """
    stats = csvformat.LoadStats()
    try:
        f = open(path, encoding="utf-8", errors="surrogateescape", newline="\n")
    except FileNotFoundError:
        return stats
    encode = csvformat.encode_row
    with f:
        try:
            for item in csvformat.read_rows(f, path, stats):
                if isinstance(item, csvformat.CSVFormatError):
                    if errors_out is not None:
                        errors_out.append(str(item))
                    if max_errors and stats.read_errors > max_errors:
                        raise LFCError(
                            f"exceeded maximum number of failures {max_errors} to read"
                            f" a lease from the lease file {path}")
                    continue
                address = int(item.address)
                if item.valid_lft:
                    rows[address] = encode(item)
                else:
                    rows.pop(address, None)
        except csvformat.CSVFormatError as e:
            raise LFCError(str(e)) from None
    return stats


def write_leases(path: str, rows: dict[int, str]) -> int:
    """Kea's C{LeaseFileLoader::write}: header, then the leases by ascending address."""
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        f.write(csvformat.HEADER + "\n")
        f.writelines(rows[address] for address in sorted(rows))
    return len(rows)


def process_leases(previous: str, copy: str, output: str, finish: str,
                   report: list[str] | None = None) -> None:
    """Kea's C{LFCController::processLeases}: merge, write output, rename to finish."""
    rows: dict[int, str] = {}
    # Nothing loaded here is cyclic garbage; the cyclic GC would only slow
    # the load down.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        load_leases(previous, rows, MAX_LEASE_ERRORS, report)
        load_leases(copy, rows, MAX_LEASE_ERRORS, report)
        write_leases(output, rows)
    finally:
        if gc_enabled:
            gc.enable()
    try:
        os.rename(output, finish)
    except OSError as e:
        raise LFCError(f"Unable to move output ({output}) to complete ({finish})"
                       f" error: {e.strerror}") from None


def file_rotate(previous: str, copy: str, finish: str) -> None:
    """Kea's C{LFCController::fileRotate}: drop .2 and .1, .completed becomes .2."""
    for path, what in ((previous, "previous"), (copy, "copy")):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise LFCError(f"Unable to delete {what} file '{path}' error: {e.strerror}") from None
    try:
        os.rename(finish, previous)
    except OSError as e:
        raise LFCError(f"Unable to move finish ({finish}) to previous ({previous})"
                       f" error: {e.strerror}") from None


def run_lfc(argv: Sequence[str], out=None) -> int:
    """
    The whole of C{kea-lfc}: parse C{argv} (its options), then lock, process
    and rotate. Messages go to C{out} (stderr by default), one per line,
    prefixed with Kea's LFC message ids. Returns the exit code.
    """
    out = sys.stderr if out is None else out

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    try:
        opts, rest = getopt.getopt(list(argv), "46dhvVWp:x:i:o:c:f:")
    except getopt.GetoptError as e:
        say(f"Usage error: {e}")
        return EXIT_USAGE
    if rest:
        say("Usage error: Extraneous parameters.")
        return EXIT_USAGE
    values = dict(opts)
    if "-6" in values:
        say("Usage error: only DHCPv4 lease files (-4) are supported")
        return EXIT_USAGE
    for flag, what in (("-4", "DHCP version required"), ("-p", "PID file not specified"),
                       ("-x", "Previous file not specified"), ("-i", "Copy file not specified"),
                       ("-o", "Output file not specified"), ("-f", "Finish file not specified"),
                       ("-c", "Config file not specified")):
        if flag not in values:
            say(f"Usage error: {what}")
            return EXIT_USAGE
    pid_path, previous, copy = values["-p"], values["-x"], values["-i"]
    output, finish = values["-o"], values["-f"]

    say("LFC_START Starting lease file cleanup")
    try:
        if pid_file_check(pid_path):
            say("LFC_RUNNING LFC instance already running")
            return EXIT_FAILED
        with open(pid_path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except (LFCError, OSError) as e:
        say(f"LFC_FAIL_PID_CREATE : {e}")
        return EXIT_FAILED

    code = EXIT_OK
    do_rotate = True
    if not os.path.exists(finish):
        say(f"LFC_PROCESSING Previous file: {previous}, copy file: {copy}")
        report: list[str] = []
        try:
            process_leases(previous, copy, output, finish, report)
        except (LFCError, OSError) as e:
            do_rotate = False
            code = EXIT_FAILED
            say(f"LFC_FAIL_PROCESS Process failed: {e}")
        for line in report:
            say(f"DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR {line}")
    if do_rotate:
        say("LFC_ROTATING LFC rotating files")
        try:
            file_rotate(previous, copy, finish)
        except LFCError as e:
            code = EXIT_FAILED
            say(f"LFC_FAIL_ROTATE Rotate failed: {e}")
    try:
        os.remove(pid_path)
    except FileNotFoundError:
        pass
    except OSError as e:
        code = EXIT_FAILED
        say(f"LFC_FAIL_PID_DEL : {e}")
    say("LFC_TERMINATE LFC finished processing")
    return code


def main() -> None:
    """Entry point of C{python -m kea_ha_tw.leases.lfc}."""
    sys.exit(run_lfc(sys.argv[1:]))


# -- the server side: run the child without blocking -------------------------

class LFCProcessProtocol(protocol.ProcessProtocol):
    """
    Collects the child's messages and fires C{finished} with its exit code
    (or -1 if it died from a signal).
    """

    def __init__(self, command_line: str) -> None:
        self.finished: defer.Deferred[int] = defer.Deferred()
        self.command_line = command_line
        self._buffer = b""

    def errReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        """Log each complete line the child writes."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line:
                _log.info("{line}", msg_id="DHCPSRV_MEMFILE_LFC_OUTPUT",
                          line=line.decode("utf-8", "replace"))

    outReceived = errReceived  # noqa: N815 - Twisted API

    def processEnded(self, reason) -> None:  # noqa: N802 - Twisted API
        """Fire C{finished} with the exit code."""
        if self._buffer:
            self.errReceived(b"\n")
        if reason.check(error.ProcessDone):
            code = 0
        elif reason.check(error.ProcessTerminated):
            code = reason.value.exitCode if reason.value.exitCode is not None else -1
        else:  # pragma: no cover - Twisted only reports the two above
            code = -1
        self.finished.callback(code)


def default_lfc_command() -> list[str]:
    """Our own cleanup, run by the interpreter that runs the server."""
    return [sys.executable, "-m", "kea_ha_tw.leases.lfc"]


def _child_env() -> dict[str, str]:
    """The server's environment, with our package importable in the child."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def spawn_lfc(process_reactor, paths: LFCPaths,
              command: Sequence[str] | None = None) -> defer.Deferred[int]:
    """
    Start the cleanup of C{paths} in a child process through
    C{process_reactor} (an C{IReactorProcess}); C{command} is the program
    and its leading arguments (default L{default_lfc_command}; a path to
    Kea's C{kea-lfc} works too). The Deferred fires with the exit code.
    """
    argv = list(command or default_lfc_command()) + paths.argv()
    proto = LFCProcessProtocol(" ".join(argv))
    _log.info("executing Lease File Cleanup using: {command_line}",
              msg_id="DHCPSRV_MEMFILE_LFC_EXECUTE", command_line=proto.command_line)
    process_reactor.spawnProcess(proto, argv[0], argv, env=_child_env(),
                                 path=os.path.dirname(os.path.abspath(paths.current)))
    return proto.finished


if __name__ == "__main__":
    main()
