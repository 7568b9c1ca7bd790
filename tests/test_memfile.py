"""
Tests for L{kea_ha_tw.leases.memfile}: the lease file store. Files live in
the test's temporary directory; the cleanup child is never started here
(L{tests.fakes.FakeProcessReactor} records it and the test runs the
cleanup itself).
"""

import errno
import os
import signal
import subprocess
import sys
from ipaddress import IPv4Address

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.config.model import LeaseDatabaseConfig
from kea_ha_tw.errors import LeaseStoreError
from kea_ha_tw.interfaces import ILeaseStore
from kea_ha_tw.leases import lfc
from kea_ha_tw.leases.csvformat import HEADER, decode_row
from kea_ha_tw.leases.memfile import MemfileLeaseStore, create_lease_store
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.fakes import FakeProcessReactor
from tests.test_csvformat import KEA_24_FILE, KEA_LFC_OUTPUT, KEA_WRITTEN


def lease(address="192.0.2.1", **fields) -> Lease4:
    """A lease with test defaults."""
    values = dict(hwaddr=b"\x01\x02\x03\x04\x05\x06", client_id=None, valid_lft=3600,
                  cltt=1000, subnet_id=1)
    values.update(fields)
    return Lease4(address=IPv4Address(address), **values)


def leases_of(data: bytes) -> list[Lease4]:
    """The leases of a lease file's content, in its order."""
    rows = data.decode("utf-8", "surrogateescape").splitlines()[1:]
    return [decode_row(r) for r in rows if r]


class MemfileTestCase(SynchronousTestCase):
    """Helpers: a temporary lease file and stores on it."""

    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.name = os.path.join(self.dir, "kea-leases4.csv")
        self.process_reactor = FakeProcessReactor()

    def store(self, open_it=True, **config) -> MemfileLeaseStore:
        """A store on the test file (opened unless told otherwise)."""
        config.setdefault("name", self.name)
        s = MemfileLeaseStore(LeaseDatabaseConfig(**config), Clock(), self.process_reactor)
        if open_it:
            s.open()
            self.addCleanup(s.close)
        return s

    def write(self, suffix: str, data: bytes | str) -> None:
        """Write C{data} to the lease file with C{suffix}."""
        if isinstance(data, str):
            data = data.encode()
        with open(self.name + suffix, "wb") as f:
            f.write(data)

    def read(self, suffix: str = "") -> bytes:
        """The content of the lease file with C{suffix}."""
        with open(self.name + suffix, "rb") as f:
            return f.read()


class BasicTests(MemfileTestCase):
    """Opening, writing, reloading."""

    def test_interface(self):
        """MemfileLeaseStore provides ILeaseStore."""
        self.assertTrue(verifyObject(ILeaseStore, self.store()))

    def test_new_file(self):
        """A missing lease file is created with Kea's header."""
        self.store()
        self.assertEqual(self.read(), (HEADER + "\n").encode())

    def test_rows(self):
        """add, update and delete each append the row Kea would write."""
        s = self.store()
        a = lease(hostname="x,y")
        s.add(a)
        s.update(a.evolve(cltt=2000))
        s.delete(a.address)
        self.assertEqual(self.read().decode().splitlines(), [
            HEADER,
            "192.0.2.1,01:02:03:04:05:06,,3600,4600,1,0,0,x&#x2cy,0,",
            "192.0.2.1,01:02:03:04:05:06,,3600,5600,1,0,0,x&#x2cy,0,",
            "192.0.2.1,01:02:03:04:05:06,,0,2000,1,0,0,x&#x2cy,0,",
        ])

    def test_durable_before_return(self):
        """The row is in the file (written to the OS) when update returns, without flush."""
        s = self.store()
        s.update(lease())
        self.assertIn(b"\n192.0.2.1,01:02:03:04:05:06,,3600,4600,1,0,0,,0,\n", self.read())

    def test_kill_9(self):
        """
        A process killed with SIGKILL right after its updates returned loses
        none of them (each row was written before the call returned).
        """
        script = (
            "import sys\n"
            "from ipaddress import IPv4Address\n"
            "from twisted.internet.task import Clock\n"
            "from kea_ha_tw.config.model import LeaseDatabaseConfig\n"
            "from kea_ha_tw.leases.memfile import MemfileLeaseStore\n"
            "from kea_ha_tw.leases.model import Lease4\n"
            "s = MemfileLeaseStore(LeaseDatabaseConfig(name=sys.argv[1]), Clock())\n"
            "s.open()\n"
            "for i in range(500):\n"
            "    s.update(Lease4(IPv4Address(0x0A000000 + i), b'\\x01' * 6, None, 60, i + 1, 1))\n"
            "print('acked', flush=True)\n"
            "sys.stdin.read()\n")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        child = subprocess.Popen([sys.executable, "-c", script, self.name],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=dict(os.environ, PYTHONPATH=root))
        self.addCleanup(child.stdin.close)
        self.addCleanup(child.stdout.close)
        self.assertEqual(child.stdout.readline(), b"acked\n")
        child.kill()
        self.assertEqual(child.wait(timeout=30), -signal.SIGKILL)
        s = self.store()
        self.assertEqual(len(s), 500)
        self.assertEqual(s.get(IPv4Address("10.0.1.243")).cltt, 500)

    def test_reload(self):
        """A new store on the same file sees the same leases."""
        s = self.store()
        for i in range(1, 6):
            s.update(lease(f"192.0.2.{i}", cltt=i, user_context={"i": i}))
        s.update(lease("192.0.2.2", cltt=99))
        s.delete(IPv4Address("192.0.2.4"))
        s.update(lease("192.0.2.3", state=LeaseState.EXPIRED_RECLAIMED))
        s.close()
        again = self.store()
        self.assertEqual(again.get_all(), s.get_all())
        self.assertEqual(len(again), 4)

    def test_refuses_no_identifier(self):
        """A lease Kea could not write is refused and not stored."""
        s = self.store()
        e = self.assertRaises(LeaseStoreError, s.update, lease(hwaddr=b""))
        self.assertIn("has neither hardware address or client id", str(e))
        self.assertEqual(len(s), 0)
        self.assertEqual(self.read(), (HEADER + "\n").encode())

    def test_not_open(self):
        """Writes before open fail."""
        s = self.store(open_it=False)
        self.assertRaises(LeaseStoreError, s.update, lease())

    def test_flush_and_close(self):
        """flush closes the file (a later write reopens it); close refuses writes."""
        s = self.store()
        s.update(lease())
        s.flush()
        s.update(lease("192.0.2.2"))
        self.assertEqual(len(leases_of(self.read())), 2)
        s.close()
        self.assertRaises(LeaseStoreError, s.update, lease("192.0.2.3"))

    def test_fsync_always(self):
        """With fsync "always" every row is fsynced before the call returns."""
        synced = []
        real = os.fsync
        self.patch(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
        s = self.store(fsync="always")
        del synced[:]
        s.update(lease())
        s.delete(IPv4Address("192.0.2.1"))
        self.assertEqual(len(synced), 2)

    def test_fsync_none(self):
        """By default (Kea's behaviour) rows are not fsynced."""
        synced = []
        self.patch(os, "fsync", synced.append)
        s = self.store()
        s.update(lease())
        self.assertEqual(synced, [])

    def test_bad_fsync(self):
        """An unknown fsync mode is refused."""
        self.assertRaises(LeaseStoreError, self.store, open_it=False, fsync="sometimes")

    def test_write_failure(self):
        """A failed write raises, leaves memory unchanged, and does not glue rows."""
        s = self.store()
        s.update(lease())
        real = os.write

        def partial(fd, data):
            real(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(os, "write", partial)
        e = self.assertRaises(LeaseStoreError, s.update, lease(cltt=5))
        self.assertIn("No space left on device", str(e))
        self.assertEqual(s.get(IPv4Address("192.0.2.1")).cltt, 1000)
        self.patch(os, "write", real)
        s.update(lease("192.0.2.2"))
        s.close()
        again = self.store()
        self.assertEqual([str(x.address) for x in again.get_all()], ["192.0.2.1", "192.0.2.2"])
        self.assertEqual(len(again.load_errors), 1)

    def test_broken_last_line(self):
        """A file cut in the middle of a row gets our next row on a line of its own."""
        self.write("", HEADER + "\n192.0.2.1,01:02:03:04:05:06,,3600,4600,1,0,0,,0,\n"
                   "192.0.2.9,01:0")
        s = self.store()
        s.update(lease("192.0.2.2"))
        s.close()
        again = self.store()
        self.assertEqual([str(x.address) for x in again.get_all()], ["192.0.2.1", "192.0.2.2"])

    def test_create_lease_store(self):
        """persist false gives the in-memory store; other backends are refused."""
        memory = create_lease_store(LeaseDatabaseConfig(persist=False), Clock())
        self.assertIs(type(memory), InMemoryLeaseStore)
        self.assertIsInstance(create_lease_store(LeaseDatabaseConfig(name=self.name), Clock()),
                              MemfileLeaseStore)
        self.assertRaises(LeaseStoreError, create_lease_store,
                          LeaseDatabaseConfig(type="mysql"), Clock())


class LoadTests(MemfileTestCase):
    """Loading follows Kea's order and rules."""

    def test_kea_file(self):
        """
        A file Kea wrote loads to exactly the leases Kea's own LFC kept from
        it (last row wins, deletes, zero lifetimes, the unreadable row).
        """
        self.write("", KEA_WRITTEN)
        s = self.store()
        self.assertEqual(s.get_all(), leases_of(KEA_LFC_OUTPUT))
        self.assertEqual(len(s.load_errors), 1)
        self.assertIn("discarding row 21", s.load_errors[0])
        self.assertFalse(s.needs_conversion)

    def test_order_without_completed(self):
        """Without .completed: .2, then .1, then the file; later rows win."""
        self.write(".2", HEADER + "\n192.0.2.1,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,two,0,\n"
                                  "192.0.2.2,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,two,0,\n")
        self.write(".1", HEADER + "\n192.0.2.2,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,one,0,\n"
                                  "192.0.2.3,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,one,0,\n")
        self.write("", HEADER + "\n192.0.2.3,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,cur,0,\n"
                                "192.0.2.1,aa:aa:aa:aa:aa:aa,,0,90,1,0,0,two,0,\n")
        s = self.store()
        self.assertEqual([(str(x.address), x.hostname) for x in s.get_all()],
                         [("192.0.2.2", "one"), ("192.0.2.3", "cur")])

    def test_completed_wins(self):
        """A .completed file (an LFC that did not finish) replaces .2 and .1."""
        self.write(".completed", HEADER + "\n192.0.2.5,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,c,0,\n")
        self.write(".2", HEADER + "\n192.0.2.6,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,two,0,\n")
        self.write(".1", HEADER + "\n192.0.2.7,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,one,0,\n")
        s = self.store()
        self.assertEqual([str(x.address) for x in s.get_all()], ["192.0.2.5"])

    def test_live_lfc(self):
        """Loading is refused while the pid file names a live process."""
        self.write(".pid", f"{os.getpid()}\n")
        e = self.assertRaises(LeaseStoreError, self.store)
        self.assertEqual(str(e), "unable to load leases from files while the lease file"
                                 " cleanup is in progress")

    def test_stale_pid(self):
        """A pid file naming no process does not stop loading."""
        self.write(".pid", "2147483646\n")
        self.store()

    def test_unreadable_pid(self):
        """A pid file without a pid stops loading, as in Kea."""
        self.write(".pid", "garbage\n")
        e = self.assertRaises(LeaseStoreError, self.store)
        self.assertIn("Unable to read PID from file", str(e))

    def test_max_row_errors(self):
        """More bad rows than max-row-errors in one file refuse the load; 0 = no limit."""
        self.write("", HEADER + "\n" + "bad,row\n" * 3
                   + "192.0.2.1,aa:aa:aa:aa:aa:aa,,10,100,1,0,0,,0,\n")
        e = self.assertRaises(LeaseStoreError, self.store, max_row_errors=2)
        self.assertIn("exceeded maximum number of failures 2", str(e))
        self.assertEqual(len(self.store(max_row_errors=3)), 1)
        self.assertEqual(len(self.store(max_row_errors=0)), 1)

    def test_bad_header(self):
        """A file whose header Kea refuses is refused."""
        self.write("", "address,mac\n")
        self.assertRaises(LeaseStoreError, self.store)

    def test_kea_24_file(self):
        """A Kea 2.4 file loads, asks for conversion, and gets 2.2 rows appended."""
        self.write("", KEA_24_FILE)
        s = self.store()
        self.assertTrue(s.needs_conversion)
        self.assertEqual(len(s), 4)
        s.update(lease("192.0.2.99"))
        s.close()
        self.assertTrue(self.read().endswith(b"\n192.0.2.99,01:02:03:04:05:06,,3600,4600,1,0,0,,0,\n"))
        self.assertEqual(len(self.store()), 5)


class LFCTests(MemfileTestCase):
    """The server side of lease file cleanup."""

    def test_rotate_and_spawn(self):
        """The file becomes .1, a fresh file is started, the child gets Kea's arguments."""
        s = self.store()
        s.update(lease("192.0.2.1"))
        d = s.lfc()
        self.assertNoResult(d)
        self.assertTrue(s.lfc_running)
        self.assertEqual(leases_of(self.read(".1")), [lease("192.0.2.1")])
        self.assertEqual(self.read(), (HEADER + "\n").encode())
        [child] = self.process_reactor.spawned
        self.assertEqual(child.args, [
            sys.executable, "-m", "kea_ha_tw.leases.lfc", "-4",
            "-x", self.name + ".2", "-i", self.name + ".1", "-o", self.name + ".output",
            "-f", self.name + ".completed", "-p", self.name + ".pid", "-c", "ignored-path"])
        self.assertEqual(child.executable, sys.executable)
        root = os.path.dirname(os.path.dirname(os.path.abspath(lfc.__file__)))
        self.assertEqual(child.env["PYTHONPATH"].split(os.pathsep)[0], os.path.dirname(root))
        s.update(lease("192.0.2.2"))
        self.assertEqual(leases_of(self.read()), [lease("192.0.2.2")])
        child.end(0)
        self.assertEqual(self.successResultOf(d), 0)
        self.assertFalse(s.lfc_running)

    def test_full_cycle(self):
        """After the child's cleanup the files reload to the same leases."""
        s = self.store()
        for i in range(1, 5):
            s.update(lease(f"192.0.2.{i}", cltt=i))
        s.delete(IPv4Address("192.0.2.3"))
        d = s.lfc()
        s.update(lease("192.0.2.1", cltt=77))
        [child] = self.process_reactor.spawned
        self.assertEqual(lfc.run_lfc(child.args[3:], out=open(os.devnull, "w")), 0)
        child.end(0)
        self.successResultOf(d)
        self.assertFalse(os.path.exists(self.name + ".1"))
        self.assertEqual([str(x.address) for x in leases_of(self.read(".2"))],
                         ["192.0.2.1", "192.0.2.2", "192.0.2.4"])
        before = s.get_all()
        s.close()
        self.assertEqual(self.store().get_all(), before)

    def test_one_at_a_time(self):
        """While a cleanup runs, another request starts nothing."""
        s = self.store()
        s.lfc()
        self.assertIsNone(self.successResultOf(s.lfc()))
        self.assertEqual(len(self.process_reactor.spawned), 1)

    def test_stalled_previous_run(self):
        """With a .1 left behind the file is not rotated, but the child still runs."""
        s = self.store()
        self.write(".1", HEADER + "\n")
        s.update(lease())
        s.lfc()
        self.assertEqual(leases_of(self.read()), [lease()])
        self.assertEqual(len(self.process_reactor.spawned), 1)

    def test_rename_failure(self):
        """If the file cannot be moved, no child is started and writes go on."""
        s = self.store()

        def refuse(src, dst):
            raise OSError(errno.EACCES, "Permission denied")

        self.patch(os, "rename", refuse)
        self.assertIsNone(self.successResultOf(s.lfc()))
        self.assertEqual(self.process_reactor.spawned, [])
        s.update(lease())
        self.assertEqual(leases_of(self.read()), [lease()])

    def test_spawn_failure(self):
        """A child that cannot be started is logged, not raised."""
        s = self.store()

        def broken(*args, **kwargs):
            raise OSError(errno.ENOENT, "No such file")

        self.patch(self.process_reactor, "spawnProcess", broken)
        self.assertIsNone(self.successResultOf(s.lfc()))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertFalse(s.lfc_running)

    def test_no_process_reactor(self):
        """Without a process reactor LFC cannot run."""
        s = MemfileLeaseStore(LeaseDatabaseConfig(name=self.name), Clock())
        s.open()
        self.addCleanup(s.close)
        self.assertRaises(LeaseStoreError, s.lfc)

    def test_kea_lfc_command(self):
        """Another cleanup program (Kea's kea-lfc) can be named."""
        s = MemfileLeaseStore(LeaseDatabaseConfig(name=self.name), Clock(),
                              self.process_reactor, lfc_command=["/usr/sbin/kea-lfc"])
        s.open()
        self.addCleanup(s.close)
        s.lfc()
        self.assertEqual(self.process_reactor.spawned[0].args[:2], ["/usr/sbin/kea-lfc", "-4"])
