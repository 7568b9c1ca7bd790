"""
Issue 2: the memfile is Kea 2.2's, both ways.

A writer server hands out two leases (one at an address the client asked
for, so it is not what a fresh allocator would pick), stops; a reader
server is started on the same file.  The reader must give each client its
address back and must not give either address to a new client.  With the
server under test as reader, that proves it loads what real kea-dhcp4
wrote; as writer, that real kea-dhcp4 loads what it wrote.  The Kea
variant (Kea writes, Kea reads) proves the test itself.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin, current_leases
from tests.integration.clients import Udhcpc
from tests.integration.configs import direct_config
from tests.integration.netns import direct_link, random_mac, set_mac
from tests.integration.procs import KeaServer, TwistdServer

ASKED = "10.77.1.150"


class _LeaseFileInteropTests(IntegrationMixin):
    """Write with one server, read with another, for any C{server_class}."""

    skip = SKIP

    def setUp(self):
        """A direct link; three client identities."""
        super().setUp()
        self.srv_ns, self.cli_ns = direct_link(self.lab)
        self.macs = {name: random_mac() for name in ("a", "b", "c")}
        self.config = direct_config(self.lease_file_path())

    def _client(self, who: str, run: str, requested: str | None = None):
        set_mac(self.cli_ns, "c0", self.macs[who])
        client = Udhcpc(self, self.cli_ns, "c0", self.workdir, name=f"{who}-{run}")
        client.start(requested)
        lease, _ = client.wait_bound(10)
        client.stop()
        return lease.address

    def _write_then_read(self, writer_class, reader_class):
        writer = writer_class(self, self.srv_ns, self.workdir, self.config, name="writer").start()
        a = self._client("a", "write")
        b = self._client("b", "write", requested=ASKED)
        ctx = "\n" + writer.log_tail()
        self.assertEqual(str(b), ASKED, "writer did not honour the requested address" + ctx)
        self.assertNotEqual(a, b)
        self.assertIsNotNone(writer.stop(), "writer did not stop")
        rows = current_leases(writer.lease_file)
        self.assertEqual(
            {(addr, r["hwaddr"]) for addr, r in rows.items()},
            {(str(a), self.macs["a"]), (ASKED, self.macs["b"])},
            "writer's lease file" + ctx,
        )

        reader = reader_class(self, self.srv_ns, self.workdir, self.config, name="reader").start()
        ctx = "\n" + reader.log_tail()
        self.assertEqual(str(self._client("b", "read")), ASKED, "b lost its lease" + ctx)
        self.assertEqual(self._client("a", "read"), a, "a lost its lease" + ctx)
        c = self._client("c", "read")
        self.assertNotIn(c, (a, b), "a loaded lease was handed to a new client" + ctx)
        reader.stop()
        self.assertNotIn("LEASE_LOAD_ROW_ERROR", reader.log(), ctx)

    def test_reads_lease_file_written_by_kea(self):
        """The server loads a memfile real kea-dhcp4 wrote and honours its leases."""
        self._write_then_read(KeaServer, self.server_class)

    def test_kea_reads_lease_file_written_here(self):
        """Real kea-dhcp4 loads the server's memfile and honours its leases."""
        self._write_then_read(self.server_class, KeaServer)


class KeaLeaseFileInteropTests(_LeaseFileInteropTests, TestCase):
    """Kea writes, Kea reads: proves the test."""

    server_class = KeaServer


class TwistdLeaseFileInteropTests(_LeaseFileInteropTests, TestCase):
    """Kea <-> C{twistd -n kea-ha}."""

    server_class = TwistdServer
