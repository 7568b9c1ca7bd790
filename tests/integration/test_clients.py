"""
Issue 2: the server answers real DHCP clients on a directly attached link.

Server namespace C{s0} 10.77.1.1/24 <-veth-> client namespace C{c0}; the
client has no address yet, so the reply must reach it as RFC 2131 4.1
says (Kea does this with a raw socket).  Each client must bind within
10 s to an address of 10.77.1.0/24 with options 1, 3, 51, 54 and
T1 < T2 < lease, and the lease must already be in the memfile.

Every test runs twice: against real kea-dhcp4 (proving the test) and
against C{twistd -n kea-ha} (the check).
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin, assert_bound, assert_in_lease_file
from tests.integration.clients import CLIENTS, Sniffer
from tests.integration.configs import direct_config
from tests.integration.netns import SERVER_ADDR, direct_link
from tests.integration.procs import KeaServer, TwistdServer


class _DirectClientTests(IntegrationMixin):
    """The direct-link client tests, for any C{server_class}."""

    skip = SKIP

    def setUp(self):
        """One server on a fresh link to an empty client namespace."""
        super().setUp()
        self.srv_ns, self.cli_ns = direct_link(self.lab)
        config = direct_config(self.lease_file_path())
        self.server = self.server_class(self, self.srv_ns, self.workdir, config).start()

    def _bind(self, kind: str) -> None:
        sniffer = Sniffer(self, self.cli_ns, "c0", self.workdir)
        client = CLIENTS[kind](self, self.cli_ns, "c0", self.workdir).start()
        lease, took = client.wait_bound(10)
        client.stop()
        sniffer.stop()
        assert_bound(
            self,
            lease,
            took,
            sniffer.dhcp_replies(5),
            "10.77.1.0/24",
            SERVER_ADDR,
            SERVER_ADDR,
            self.server,
        )
        assert_in_lease_file(self, self.server, lease.address, self.cli_ns.mac("c0"))

    def test_udhcpc(self):
        """busybox udhcpc binds within 10 s with options 1, 3, 51, 54, 58, 59."""
        self._bind("udhcpc")

    def test_dhclient(self):
        """ISC dhclient binds within 10 s with options 1, 3, 51, 54, 58, 59."""
        self._bind("dhclient")

    def test_dhcpcd(self):
        """dhcpcd binds within 10 s with options 1, 3, 51, 54, 58, 59."""
        self._bind("dhcpcd")

    def test_same_client_same_address(self):
        """A client that comes back (same MAC, new exchange) gets its address back."""
        first = CLIENTS["udhcpc"](self, self.cli_ns, "c0", self.workdir, name="first").start()
        lease1, _ = first.wait_bound(10)
        first.stop()
        second = CLIENTS["dhcpcd"](self, self.cli_ns, "c0", self.workdir, name="second").start()
        lease2, _ = second.wait_bound(10)
        second.stop()
        self.assertEqual(lease1.address, lease2.address, self.server.log_tail())


class KeaDirectClientTests(_DirectClientTests, TestCase):
    """Against real kea-dhcp4 (the oracle)."""

    server_class = KeaServer


class TwistdDirectClientTests(_DirectClientTests, TestCase):
    """Against C{twistd -n kea-ha}."""

    server_class = TwistdServer
