"""
Tests for L{kea_ha_tw.commands.dhcp}: C{dhcp-disable} / C{dhcp-enable}
through the HTTP resource, with Kea 2.2.0's captured texts, and the effect
on a real L{DHCPServer} sharing the same L{NetworkState}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.server import DHCPServer
from tests.builders import ETH0, discover
from tests.commands_support import CommandHarness

#: (request, Kea 2.2.0's answer) captured over the unix socket.
CAPTURED = [
    ('{"command":"dhcp-disable"}', '{ "result": 0, "text": "DHCPv4 service disabled" }'),
    ('{"command":"dhcp-enable"}', '{ "result": 0, "text": "DHCP service successfully enabled" }'),
    ('{"command":"dhcp-disable","arguments":{}}',
     '{ "result": 0, "text": "DHCPv4 service disabled" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":60}}',
     '{ "result": 0, "text": "DHCPv4 service disabled for 60 seconds" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":0}}',
     '{ "result": 1, "text": "\'max-period\' must be positive integer" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":-1}}',
     '{ "result": 1, "text": "\'max-period\' must be positive integer" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":"60"}}',
     '{ "result": 1, "text": "\'max-period\' argument must be a number" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":1.5}}',
     '{ "result": 1, "text": "\'max-period\' argument must be a number" }'),
    ('{"command":"dhcp-disable","arguments":{"origin":"bogus"}}',
     '{ "result": 1, "text": "invalid value used for \'origin\' parameter: bogus" }'),
    ('{"command":"dhcp-disable","arguments":{"origin":5}}',
     '{ "result": 1, "text": "\'origin\' argument must be a string" }'),
    ('{"command":"dhcp-disable","arguments":{"origin":"ha-partner","max-period":60}}',
     '{ "result": 0, "text": "DHCPv4 service disabled for 60 seconds" }'),
    ('{"command":"dhcp-disable","arguments":{"origin":"user","origin-id":2000}}',
     '{ "result": 0, "text": "DHCPv4 service disabled" }'),
    ('{"command":"dhcp-disable","arguments":[]}',
     '{ "result": 1, "text": "arguments for the \'dhcp-disable\' command must be a map" }'),
    ('{"command":"dhcp-disable","arguments":"x"}',
     '{ "result": 1, "text": "arguments for the \'dhcp-disable\' command must be a map" }'),
    ('{"command":"dhcp-disable","arguments":{"foo":1}}',
     '{ "result": 0, "text": "DHCPv4 service disabled" }'),
    ('{"command":"dhcp-enable","arguments":{"origin":"bogus"}}',
     '{ "result": 1, "text": "invalid value used for \'origin\' parameter: bogus" }'),
    ('{"command":"dhcp-enable","arguments":{"origin":"ha-partner"}}',
     '{ "result": 0, "text": "DHCP service successfully enabled" }'),
    ('{"command":"dhcp-enable","arguments":{"origin":5}}',
     '{ "result": 1, "text": "\'origin\' argument must be a string" }'),
    ('{"command":"dhcp-enable","arguments":{"max-period":5}}',
     '{ "result": 0, "text": "DHCP service successfully enabled" }'),
    ('{"command":"dhcp-enable","arguments":[]}',
     '{ "result": 1, "text": "arguments for the \'dhcp-enable\' command must be a map" }'),
    ('{"command":"dhcp-enable","arguments":{}}',
     '{ "result": 0, "text": "DHCP service successfully enabled" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":0,"origin":"bogus"}}',
     '{ "result": 1, "text": "\'max-period\' must be positive integerinvalid value used for '
     '\'origin\' parameter: bogus" }'),
    ('{"command":"dhcp-disable","arguments":{"max-period":"x","origin":5}}',
     '{ "result": 1, "text": "\'max-period\' argument must be a number\'origin\' argument must be '
     'a string" }'),
    ('{"command":"dhcp-enable","arguments":{"origin":"ha-partner","max-period":"x"}}',
     '{ "result": 0, "text": "DHCP service successfully enabled" }'),
]


class DHCPCommandTests(SynchronousTestCase):
    """The commands, their texts and their effect on the network state."""

    def setUp(self):
        self.h = CommandHarness(self)
        self.state = self.h.network_state

    def test_captured_answers(self):
        """Every captured Kea answer is reproduced."""
        for request, expected in CAPTURED:
            self.h.assert_kea(request, expected)

    def test_disable_enable_user(self):
        """Without arguments the origin is "user"."""
        self.h.command("dhcp-disable")
        self.assertEqual((self.state.is_enabled(), self.state.disabled_by()), (False, {"user"}))
        self.h.command("dhcp-enable")
        self.assertTrue(self.state.is_enabled())

    def test_max_period_re_enables(self):
        """max-period re-enables that origin on the clock."""
        self.h.command("dhcp-disable", {"max-period": 60, "origin": "ha-partner"})
        self.h.clock.advance(59)
        self.assertFalse(self.state.is_enabled())
        self.h.clock.advance(1)
        self.assertTrue(self.state.is_enabled())

    def test_origins_are_independent(self):
        """A user enable does not clear the HA partner's disable."""
        self.h.command("dhcp-disable", {"origin": "ha-partner"})
        self.h.command("dhcp-disable")
        self.h.command("dhcp-enable")
        self.assertEqual(self.state.disabled_by(), {"ha"})
        self.h.command("dhcp-enable", {"origin": "ha-partner"})
        self.assertTrue(self.state.is_enabled())

    def test_rejected_disable_changes_nothing(self):
        """An error answer leaves the service enabled."""
        self.h.command("dhcp-disable", {"max-period": 0})
        self.assertTrue(self.state.is_enabled())

    def test_disable_silences_the_dhcp_server(self):
        """A DHCPServer sharing the network state stops answering, then answers again."""
        server = DHCPServer(self.h.context.config, self.h.store, NoHA(), self.state,
                            self.h.statistics, self.h.clock)

        def offer():
            return self.successResultOf(server.handle(discover(), ETH0, ("0.0.0.0", 68)))

        self.assertIsNotNone(offer())
        self.h.command("dhcp-disable", {"max-period": 30})
        self.assertIsNone(offer())
        self.h.clock.advance(30)
        self.assertIsNotNone(offer())
