"""
Tests for L{kea_ha_tw.leases.lfc}: lease file cleanup with Kea's file
protocol, in-process and as C{python -m kea_ha_tw.leases.lfc}, and its
interchangeability with Kea 2.2's own C{/usr/sbin/kea-lfc} (run as a
subprocess on local files only).
"""

import io
import os
import subprocess
import sys
from ipaddress import IPv4Address

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.model import LeaseDatabaseConfig
from kea_ha_tw.leases import lfc
from kea_ha_tw.leases.csvformat import HEADER
from kea_ha_tw.leases.memfile import MemfileLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.fakes import FakeProcessReactor
from tests.test_csvformat import (
    KEA_10_CONVERTED, KEA_10_FILE, KEA_LFC_OUTPUT, KEA_WRITTEN)

KEA_LFC = "/usr/sbin/kea-lfc"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def row(address: str, host: str = "", valid: int = 3600, expire: int = 5000) -> str:
    """A data row with a fixed hardware address."""
    return f"{address},aa:bb:cc:dd:ee:ff,,{valid},{expire},1,0,0,{host},0,\n"


class LFCTestCase(SynchronousTestCase):
    """A temporary directory with one lease file's LFC paths."""

    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.paths = lfc.LFCPaths.for_lease_file(os.path.join(self.dir, "leases4.csv"))
        self.out = io.StringIO()

    def write(self, path: str, data) -> None:
        """Write C{data} (str or bytes) to C{path}."""
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)

    def read(self, path: str) -> bytes:
        """The content of C{path}."""
        with open(path, "rb") as f:
            return f.read()

    def run_lfc(self) -> int:
        """Run the cleanup in-process with the server's arguments."""
        return lfc.run_lfc(self.paths.argv(), out=self.out)

    def exists(self, *paths) -> list[bool]:
        """Which of C{paths} exist."""
        return [os.path.exists(p) for p in paths]


class PathsTests(SynchronousTestCase):
    """Kea's names and arguments."""

    def test_paths(self):
        """Suffixes and the argument list are Kea's."""
        p = lfc.LFCPaths.for_lease_file("/var/lib/kea/kea-leases4.csv")
        self.assertEqual(p.argv(), [
            "-4", "-x", "/var/lib/kea/kea-leases4.csv.2", "-i", "/var/lib/kea/kea-leases4.csv.1",
            "-o", "/var/lib/kea/kea-leases4.csv.output",
            "-f", "/var/lib/kea/kea-leases4.csv.completed",
            "-p", "/var/lib/kea/kea-leases4.csv.pid", "-c", "ignored-path"])


class PidFileTests(LFCTestCase):
    """Kea's PIDFile::check."""

    def test_missing(self):
        """No file: not running."""
        self.assertEqual(lfc.pid_file_check(self.paths.pid), 0)

    def test_live(self):
        """A live process's pid is returned."""
        self.write(self.paths.pid, f"{os.getpid()}\n")
        self.assertEqual(lfc.pid_file_check(self.paths.pid), os.getpid())

    def test_dead(self):
        """A pid no process has: not running."""
        self.write(self.paths.pid, "  2147483646\n")
        self.assertEqual(lfc.pid_file_check(self.paths.pid), 0)

    def test_unreadable(self):
        """No number, a number too big for an int, or a number at end of file: an error."""
        for text in ("abc\n", "99999999999\n", f"{os.getpid()}", ""):
            self.write(self.paths.pid, text)
            self.assertRaises(lfc.LFCError, lfc.pid_file_check, self.paths.pid)


class RunTests(LFCTestCase):
    """The kea-lfc procedure, in-process."""

    def test_merge(self):
        """.2 then .1, last row wins, deletes dropped, output by address; files rotated."""
        self.write(self.paths.previous, HEADER + "\n" + row("192.0.2.9", "old")
                   + row("192.0.2.1", "gone") + row("192.0.2.5", "keep"))
        self.write(self.paths.copy, HEADER + "\n" + row("192.0.2.9", "new")
                   + row("192.0.2.1", "gone", valid=0) + row("10.0.0.1", "", valid=0)
                   + row("192.0.2.7", "x&#x2cy&#x26z"))
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous).decode(), HEADER + "\n"
                         + row("192.0.2.5", "keep") + row("192.0.2.7", "x&#x2cy&#x26z")
                         + row("192.0.2.9", "new"))
        self.assertEqual(self.exists(self.paths.copy, self.paths.output, self.paths.finish,
                                     self.paths.pid), [False] * 4)
        self.assertIn("LFC_TERMINATE", self.out.getvalue())

    def test_expired_survive(self):
        """Expired (not deleted) leases survive the cleanup."""
        self.write(self.paths.copy, HEADER + "\n" + row("192.0.2.1", expire=10))
        self.run_lfc()
        self.assertIn(b"192.0.2.1,", self.read(self.paths.previous))

    def test_kea_written(self):
        """On a file Kea 2.2 wrote, the output is byte for byte kea-lfc's."""
        self.write(self.paths.copy, KEA_WRITTEN)
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous), KEA_LFC_OUTPUT)
        self.assertIn("discarding row 21", self.out.getvalue())

    def test_converts_old_schema(self):
        """A 1.0 file comes out in the 2.1 schema, as kea-lfc wrote it."""
        self.write(self.paths.copy, KEA_10_FILE)
        self.run_lfc()
        self.assertEqual(self.read(self.paths.previous).decode(), KEA_10_CONVERTED)

    def test_finish_exists(self):
        """With .completed present only the renaming is done."""
        self.write(self.paths.finish, HEADER + "\n" + row("192.0.2.3"))
        self.write(self.paths.previous, HEADER + "\n" + row("192.0.2.2"))
        self.write(self.paths.copy, HEADER + "\n" + row("192.0.2.1"))
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous).decode(), HEADER + "\n" + row("192.0.2.3"))
        self.assertEqual(self.exists(self.paths.copy, self.paths.finish), [False, False])

    def test_already_running(self):
        """Another live cleanup holds the pid file: nothing is touched."""
        self.write(self.paths.pid, f"{os.getpid()}\n")
        self.write(self.paths.copy, HEADER + "\n" + row("192.0.2.1"))
        self.assertEqual(self.run_lfc(), lfc.EXIT_FAILED)
        self.assertEqual(self.exists(self.paths.copy, self.paths.previous, self.paths.pid),
                         [True, False, True])
        self.assertIn("LFC_RUNNING", self.out.getvalue())

    def test_too_many_errors(self):
        """More than 100 bad rows in a file: no output, no rotation, pid file removed."""
        self.write(self.paths.copy, HEADER + "\n" + "bad\n" * 101 + row("192.0.2.1"))
        self.assertEqual(self.run_lfc(), lfc.EXIT_FAILED)
        self.assertEqual(self.exists(self.paths.copy, self.paths.previous, self.paths.pid),
                         [True, False, False])
        self.assertIn("exceeded maximum number of failures 100", self.out.getvalue())

    def test_hundred_errors(self):
        """Exactly 100 bad rows are still skipped."""
        self.write(self.paths.copy, HEADER + "\n" + "bad\n" * 100 + row("192.0.2.1"))
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous).decode(), HEADER + "\n" + row("192.0.2.1"))

    def test_nothing_to_do(self):
        """Without input files the output is an empty lease file."""
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous).decode(), HEADER + "\n")

    def test_usage(self):
        """Missing or unknown arguments are usage errors."""
        argv = self.paths.argv()
        for bad in (argv[:-2], argv + ["extra"], ["-6"] + argv[1:], argv + ["-z"]):
            self.assertEqual(lfc.run_lfc(bad, out=self.out), lfc.EXIT_USAGE)
        self.assertIn("Usage error", self.out.getvalue())


class EntryPointTests(LFCTestCase):
    """C{python -m kea_ha_tw.leases.lfc} works as a program."""

    def test_module(self):
        """The module runs as the cleanup program the server starts."""
        self.write(self.paths.copy, KEA_WRITTEN)
        env = dict(os.environ, PYTHONPATH=REPO_ROOT)
        done = subprocess.run(lfc.default_lfc_command() + self.paths.argv(), env=env,
                              capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.read(self.paths.previous), KEA_LFC_OUTPUT)


class KeaLFCInteropTests(LFCTestCase):
    """Kea's kea-lfc and ours clean each other's files."""

    if not os.access(KEA_LFC, os.X_OK):
        skip = f"{KEA_LFC} (Kea 2.2) is not installed"

    def run_kea_lfc(self) -> None:
        """Run Kea's kea-lfc with the server's arguments."""
        env = dict(os.environ, KEA_LOCKFILE_DIR=self.dir, KEA_PIDFILE_DIR=self.dir)
        done = subprocess.run([KEA_LFC] + self.paths.argv(), env=env, capture_output=True,
                              timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)

    def store(self, **kwargs) -> MemfileLeaseStore:
        """An opened store on the test's lease file."""
        s = MemfileLeaseStore(LeaseDatabaseConfig(name=self.paths.current, lfc_interval=0),
                              Clock(), FakeProcessReactor(), **kwargs)
        s.open()
        self.addCleanup(s.close)
        return s

    def fill(self, s: MemfileLeaseStore) -> None:
        """Every kind of lease and change, through the store."""
        base = Lease4(address=IPv4Address("192.0.2.1"), hwaddr=b"\xaa\xbb\xcc\xdd\xee\x01",
                      client_id=b"\x01\xaa\xbb\xcc\xdd\xee\x01", valid_lft=3600,
                      cltt=1795600000, subnet_id=1)
        s.add(base.evolve(hostname="host,one&x", user_context={"a": "b,c", "n": [1, 2.5]}))
        s.add(base.evolve(address=IPv4Address("192.0.2.2"), hostname="café",
                          user_context={"ék": "é✓", "q": "a\"b\\c\nd"}))
        s.add(base.evolve(address=IPv4Address("192.0.2.3"), hwaddr=b"", client_id=None,
                          state=LeaseState.DECLINED, valid_lft=86400))
        s.add(base.evolve(address=IPv4Address("192.0.2.4"), hwaddr=b"",
                          state=LeaseState.EXPIRED_RECLAIMED))
        s.add(base.evolve(address=IPv4Address("10.0.0.4"), subnet_id=7, fqdn_fwd=True,
                          hostname="a.example"))
        s.update(base.evolve(address=IPv4Address("192.0.2.4"), cltt=1795609999))
        s.delete(IPv4Address("192.0.2.1"))
        s.add(base.evolve(address=IPv4Address("192.0.2.5"), valid_lft=0))

    def test_kea_lfc_cleans_our_file(self):
        """Kea's kea-lfc compacts a file we wrote; we reload the same leases."""
        s = self.store(lfc_command=[KEA_LFC])
        self.fill(s)
        # A lease stored with lifetime 0 is a delete row on disk (as in Kea).
        before = [x for x in s.get_all() if x.valid_lft]
        s.lfc()
        s.update(before[0].evolve(cltt=1795700000))
        before[0] = before[0].evolve(cltt=1795700000)
        self.run_kea_lfc()
        self.assertEqual(self.exists(self.paths.copy, self.paths.finish, self.paths.pid),
                         [False, False, False])
        s.close()
        self.assertEqual(self.store().get_all(), before)

    def test_same_output_as_ours(self):
        """On the same input kea-lfc and our cleanup write the same bytes."""
        s = self.store()
        self.fill(s)
        s.close()
        os.rename(self.paths.current, self.paths.copy)
        self.run_kea_lfc()
        theirs = self.read(self.paths.previous)
        os.rename(self.paths.previous, self.paths.copy)
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous), theirs)

    def test_we_clean_kea_lfc_output(self):
        """Our cleanup reads what kea-lfc wrote, and changes nothing in it."""
        self.write(self.paths.copy, KEA_WRITTEN)
        self.run_kea_lfc()
        theirs = self.read(self.paths.previous)
        self.assertEqual(theirs, KEA_LFC_OUTPUT)
        self.assertEqual(self.run_lfc(), lfc.EXIT_OK)
        self.assertEqual(self.read(self.paths.previous), theirs)


class ProcessProtocolTests(SynchronousTestCase):
    """The server side of the child process."""

    def test_exit_codes(self):
        """Normal exit fires 0, an exit code fires it, a signal fires -1."""
        for reason, code in ((ProcessDone(0), 0), (ProcessTerminated(exitCode=3), 3),
                             (ProcessTerminated(signal=9), -1)):
            proto = lfc.LFCProcessProtocol("cmd")
            proto.processEnded(Failure(reason))
            self.assertEqual(self.successResultOf(proto.finished), code)

    def test_output_logged(self):
        """Each line the child writes is logged, a partial last one too."""
        proto = lfc.LFCProcessProtocol("cmd")
        with capturedLogs() as events:
            proto.errReceived(b"LFC_START a\nLFC_PRO")
            proto.errReceived(b"CESSING b\n")
            proto.outReceived(b"tail")
            proto.processEnded(Failure(ProcessDone(0)))
        lines = [e["line"] for e in events if e.get("msg_id") == "DHCPSRV_MEMFILE_LFC_OUTPUT"]
        self.assertEqual(lines, ["LFC_START a", "LFC_PROCESSING b", "tail"])
        self.assertTrue(all(e["log_level"] == LogLevel.info for e in events))

    def test_spawn(self):
        """spawn_lfc starts the command with Kea's arguments in the file's directory."""
        reactor = FakeProcessReactor()
        paths = lfc.LFCPaths.for_lease_file("/var/lib/kea/l.csv")
        d = lfc.spawn_lfc(reactor, paths, ["/usr/sbin/kea-lfc"])
        [child] = reactor.spawned
        self.assertEqual(child.args, ["/usr/sbin/kea-lfc"] + paths.argv())
        self.assertEqual(child.path, "/var/lib/kea")
        self.assertIn(REPO_ROOT, child.env["PYTHONPATH"].split(os.pathsep))
        child.end(2)
        self.assertEqual(self.successResultOf(d), 2)

    def test_default_command(self):
        """By default the server's own interpreter runs our module."""
        self.assertEqual(lfc.default_lfc_command(), [sys.executable, "-m", "kea_ha_tw.leases.lfc"])
