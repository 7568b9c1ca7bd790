"""
Issue 2: the server answers a client through a relay (ISC dhcrelay).

Server C{s0} 10.77.1.1/24 -- relay C{r1} 10.77.1.2 / C{r0} 10.77.2.1 --
client C{c0}.  The relay sets giaddr 10.77.2.1, so the server must pick
subnet 10.77.2.0/24 (not its own 10.77.1.0/24) and answer to giaddr:67.
Run against real kea-dhcp4 (the oracle) and C{twistd -n kea-ha}.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.base import SKIP, IntegrationMixin, assert_bound, assert_in_lease_file
from tests.integration.clients import CLIENTS, Sniffer, start_relay
from tests.integration.configs import relay_config
from tests.integration.netns import RELAY_DOWN_ADDR, SERVER_ADDR, relayed_link
from tests.integration.procs import KeaServer, TwistdServer


class _RelayTests(IntegrationMixin):
    """The relayed client tests, for any C{server_class}."""

    skip = SKIP

    def setUp(self):
        """Server, relay and client namespaces; server and relay running."""
        super().setUp()
        self.srv_ns, self.rel_ns, self.cli_ns = relayed_link(self.lab)
        config = relay_config(self.lease_file_path())
        self.server = self.server_class(self, self.srv_ns, self.workdir, config).start()
        self.relay = start_relay(self, self.rel_ns, "r1", "r0", SERVER_ADDR, self.workdir)

    def test_udhcpc_through_dhcrelay(self):
        """
        udhcpc behind dhcrelay binds within 10 s to an address of the relay's
        subnet 10.77.2.0/24 with that subnet's router, options 1, 3, 51, 54
        and T1 < T2 < lease.
        """
        sniffer = Sniffer(self, self.cli_ns, "c0", self.workdir)
        client = CLIENTS["udhcpc"](self, self.cli_ns, "c0", self.workdir).start()
        lease, took = client.wait_bound(10)
        client.stop()
        sniffer.stop()
        assert_bound(
            self,
            lease,
            took,
            sniffer.dhcp_replies(5),
            "10.77.2.0/24",
            RELAY_DOWN_ADDR,
            SERVER_ADDR,
            self.server,
        )
        assert_in_lease_file(self, self.server, lease.address, self.cli_ns.mac("c0"))
        self.assertIn("Forwarded BOOTREPLY", self.relay.output())


class KeaRelayTests(_RelayTests, TestCase):
    """Against real kea-dhcp4 (the oracle)."""

    server_class = KeaServer


class TwistdRelayTests(_RelayTests, TestCase):
    """Against C{twistd -n kea-ha}."""

    server_class = TwistdServer
