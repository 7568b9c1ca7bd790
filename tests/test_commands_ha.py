"""
Tests for L{kea_ha_tw.commands.ha}: the HA commands through the command
registry, over a real L{HAService} whose peers are scripted Kea endpoints
reached through real L{PeerClient}s and StubTreq.
"""

from __future__ import annotations

import email.utils

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import Command
from kea_ha_tw.commands.ha import HA_COMMANDS, register_ha_commands, status_get_hook
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.ha.client import PeerClient
from kea_ha_tw.ha.service import HAService
from kea_ha_tw.ha.states import HAState
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.ha_helpers import ha_config
from tests.kea_peer_stub import FakeKeaPeer, ok

S = HAState


class Rig:
    """server1's HAService + registry; every other peer is a FakeKeaPeer."""

    def __init__(self, mode="load-balancing", **kwargs):
        self.clock = Clock()
        self.clock.advance(1795593702)
        self.ha = ha_config(mode, **kwargs)
        self.stubs = {}
        self.treqs = {}
        clients = {}
        for p in self.ha.peers:
            if p.name == self.ha.this_server_name:
                continue
            self.stubs[p.name] = FakeKeaPeer()
            self.treqs[p.name] = StubTreq(self.stubs[p.name])
            clients[p.name] = PeerClient(p, self.treqs[p.name], self.clock)
        self.network_state = NetworkState(self.clock)
        self.store = InMemoryLeaseStore()
        self.service = HAService(ServerConfig(ha=self.ha), self.network_state,
                                 Statistics(self.clock), self.clock, self.store, clients)
        self.registry = CommandRegistry()
        self.registry.register(CommandHandler(
            "status-get", lambda a, c: {"result": 0, "arguments": {"pid": 7}}))
        register_ha_commands(self.registry, self.service)

    def run(self, name, arguments=None):
        """Execute a command; return its answer."""
        d = self.registry.execute_map(name, arguments, None)
        return d


class RegistrationTests(SynchronousTestCase):
    """Every HA command is registered."""

    def test_names(self):
        """The nine HA commands appear in the registry (list-commands)."""
        rig = Rig()
        for name in HA_COMMANDS:
            self.assertIn(name, rig.registry)
        self.assertEqual(len(HA_COMMANDS), 9)


class HeartbeatTests(SynchronousTestCase):
    """ha-heartbeat."""

    def test_shape(self):
        """The answer carries state, RFC 1123 date-time, scopes and unsent-update-count."""
        rig = Rig()
        answer = self.successResultOf(rig.run("ha-heartbeat", {"server-name": "server2"}))
        self.assertEqual(answer["result"], 0)
        self.assertEqual(answer["text"], "HA peer status returned.")
        args = answer["arguments"]
        self.assertEqual(args["state"], "waiting")
        self.assertEqual(args["scopes"], [])
        self.assertEqual(args["unsent-update-count"], 0)
        self.assertEqual(args["date-time"], email.utils.formatdate(1795593702, usegmt=True))


class SyncCommandTests(SynchronousTestCase):
    """ha-sync."""

    def test_argument_errors(self):
        """Kea 2.2's texts for every argument problem."""
        rig = Rig()
        cases = [
            (None, "arguments not found in the 'ha-sync' command"),
            ([], "arguments in the 'ha-sync' command are not a map"),
            ({}, "'server-name' is mandatory for the 'ha-sync' command"),
            ({"server-name": 2}, "'server-name' must be a string in the 'ha-sync' command"),
            ({"server-name": "server2", "max-period": 0},
             "'max-period' must be a positive integer in the 'ha-sync' command"),
            ({"server-name": "server2", "max-period": "5"},
             "'max-period' must be a positive integer in the 'ha-sync' command"),
            ({"server-name": "server2", "max-period": True},
             "'max-period' must be a positive integer in the 'ha-sync' command"),
        ]
        for arguments, text in cases:
            self.assertEqual(self.successResultOf(rig.run("ha-sync", arguments)),
                             {"result": 1, "text": text}, arguments)
        self.assertEqual(rig.stubs["server2"].received, [])

    def test_success(self):
        """ha-sync pulls from server-name and answers Kea's text."""
        rig = Rig()
        rig.stubs["server2"].answers["lease4-get-page"] = ok(
            "0 IPv4 lease(s) found.", {"count": 0, "leases": []}, 3)
        answer = self.successResultOf(
            rig.run("ha-sync", {"server-name": "server2", "max-period": 30}))
        self.assertEqual(answer, {"result": 0, "text": "Lease database synchronization complete."})
        self.assertEqual(
            [(r.command, r.arguments) for r in rig.stubs["server2"].received],
            [("dhcp-disable", {"max-period": 30, "origin": "ha-partner"}),
             ("lease4-get-page", {"from": "start", "limit": 10000}),
             ("ha-sync-complete-notify", None)])

    def test_failure_text(self):
        """A failed sync answers result 1 with Kea's error message."""
        rig = Rig()
        rig.stubs["server2"].answers["dhcp-disable"] = ok("busy", result=1)
        self.assertEqual(self.successResultOf(rig.run("ha-sync", {"server-name": "server2"})),
                         {"result": 1, "text": "busy, error code 1"})

    def test_own_name(self):
        """server-name naming this server is refused."""
        rig = Rig()
        answer = self.successResultOf(rig.run("ha-sync", {"server-name": "server1"}))
        self.assertEqual(answer["result"], 1)
        self.assertEqual(rig.stubs["server2"].received, [])


class ScopesTests(SynchronousTestCase):
    """ha-scopes."""

    def test_argument_errors(self):
        """Kea 2.2's texts for every argument problem."""
        rig = Rig()
        cases = [
            (None, "arguments not found in the 'ha-scopes' command"),
            ("x", "arguments in the 'ha-scopes' command are not a map"),
            ({}, "'scopes' is mandatory for the 'ha-scopes' command"),
            ({"scopes": "server1"}, "'scopes' must be a list in the 'ha-scopes' command"),
            ({"scopes": [1]}, "scope name must be a string in the 'scopes' argument"),
        ]
        for arguments, text in cases:
            self.assertEqual(self.successResultOf(rig.run("ha-scopes", arguments)),
                             {"result": 1, "text": text})

    def test_class_name_rejected(self):
        """HA_server1 is a class name, not a peer name: rejected like Kea 2.2."""
        rig = Rig()
        self.assertEqual(
            self.successResultOf(rig.run("ha-scopes", {"scopes": ["HA_server1"]})),
            {"result": 1, "text": "invalid server name specified 'HA_server1' while "
                                  "enabling/disabling HA scopes"})

    def test_set(self):
        """Peer names are accepted; the heartbeat reports them."""
        rig = Rig()
        self.assertEqual(
            self.successResultOf(rig.run("ha-scopes", {"scopes": ["server2", "server1"]})),
            {"result": 0, "text": "New HA scopes configured."})
        heartbeat = self.successResultOf(rig.run("ha-heartbeat"))
        self.assertEqual(heartbeat["arguments"]["scopes"], ["server1", "server2"])


class SimpleCommandTests(SynchronousTestCase):
    """ha-continue, ha-reset, ha-sync-complete-notify."""

    def test_continue_not_paused(self):
        """ha-continue on a running machine."""
        self.assertEqual(self.successResultOf(Rig().run("ha-continue")),
                         {"result": 0, "text": "HA state machine is not paused."})

    def test_reset_in_waiting(self):
        """ha-reset while waiting (arguments of newer Kea ignored)."""
        self.assertEqual(
            self.successResultOf(Rig().run("ha-reset", {"server-name": "server2"})),
            {"result": 0, "text": "HA state machine already in WAITING state."})

    def test_sync_complete_notify(self):
        """ha-sync-complete-notify answers Kea's text and enables DHCP (HA origin)."""
        rig = Rig()
        rig.network_state.disable("ha-partner")
        self.assertEqual(self.successResultOf(rig.run("ha-sync-complete-notify")),
                         {"result": 0, "text": "Server successfully notified about the "
                                               "synchronization completion."})
        self.assertTrue(rig.network_state.is_enabled())


class MaintenanceTests(SynchronousTestCase):
    """ha-maintenance-notify / -start / -cancel."""

    def test_notify_argument_errors(self):
        """Missing or non-boolean cancel is result 1 with a text."""
        rig = Rig()
        for arguments, text in [
            (None, "no arguments specified for the 'ha-maintenance-notify' command"),
            ({}, "arguments must not be empty for the 'ha-maintenance-notify' command"),
            ({"server-name": "x"}, "'cancel' is mandatory for the 'ha-maintenance-notify' command"),
            ({"cancel": "no"}, "'cancel' must be a boolean in the 'ha-maintenance-notify' command"),
        ]:
            self.assertEqual(self.successResultOf(rig.run("ha-maintenance-notify", arguments)),
                             {"result": 1, "text": text})

    def test_notify_and_cancel(self):
        """notify cancel:false -> in-maintenance; cancel:true -> back; again -> error."""
        rig = Rig()
        self.assertEqual(
            self.successResultOf(rig.run("ha-maintenance-notify", {"cancel": False})),
            {"result": 0, "text": "Server is in-maintenance state."})
        self.assertIs(rig.service.state, S.IN_MAINTENANCE)
        self.assertEqual(
            self.successResultOf(rig.run("ha-maintenance-notify", {"cancel": True})),
            {"result": 0, "text": "Server maintenance canceled."})
        self.assertEqual(
            self.successResultOf(rig.run("ha-maintenance-notify", {"cancel": True})),
            {"result": 1, "text": "Unable to cancel the maintenance for the server not in the "
                                  "in-maintenance state."})

    def test_start_partner_agrees(self):
        """ha-maintenance-start: partner answers 0 -> partner-in-maintenance."""
        rig = Rig()
        answer = self.successResultOf(rig.run("ha-maintenance-start"))
        self.assertEqual(answer["text"], "Server is now in the partner-in-maintenance state and "
                         "its partner is in-maintenance state. The partner can be now safely "
                         "shut down.")
        self.assertIs(rig.service.state, S.PARTNER_IN_MAINTENANCE)
        self.assertEqual(rig.stubs["server2"].received[0].body,
                         b'{ "arguments": { "cancel": false }, "command": '
                         b'"ha-maintenance-notify", "service": [ "dhcp4" ] }')
        cancel = self.successResultOf(rig.run("ha-maintenance-cancel"))
        self.assertEqual(cancel, {"result": 0, "text": "Server maintenance successfully canceled."})
        self.assertEqual(rig.stubs["server2"].received[1].arguments, {"cancel": True})

    def test_start_partner_refuses(self):
        """Partner answers 1001 -> error quoting the partner's message."""
        rig = Rig()
        rig.stubs["server2"].answers["ha-maintenance-notify"] = ok(
            "Unable to transition the server from the terminated to in-maintenance state.",
            result=1001)
        self.assertEqual(self.successResultOf(rig.run("ha-maintenance-start")), {
            "result": 1,
            "text": "Unable to transition to the partner-in-maintenance state. The partner "
                    "server responded with the following message to the ha-maintenance-notify "
                    "command: Unable to transition the server from the terminated to "
                    "in-maintenance state., error code 1001."})

    def test_start_partner_offline(self):
        """Partner error 1 -> partner-down 'offline for maintenance'."""
        rig = Rig()
        rig.stubs["server2"].answers["ha-maintenance-notify"] = ok("x", result=1)
        self.assertEqual(self.successResultOf(rig.run("ha-maintenance-start")), {
            "result": 0,
            "text": "Server is now in the partner-down state as its partner appears to be "
                    "offline for maintenance."})
        self.assertIs(rig.service.state, S.PARTNER_DOWN)

    def test_cancel_not_in_partner_maintenance(self):
        """ha-maintenance-cancel outside partner-in-maintenance."""
        self.assertEqual(self.successResultOf(Rig().run("ha-maintenance-cancel")), {
            "result": 1,
            "text": "Unable to cancel maintenance request because the server is not in the "
                    "partner-in-maintenance state."})


class StatusGetTests(SynchronousTestCase):
    """The high-availability section of status-get."""

    def test_load_balancing(self):
        """LB: local and remote parts, ha-mode, inside status-get's arguments."""
        rig = Rig()
        args = self.successResultOf(rig.run("status-get"))["arguments"]
        self.assertEqual(args["pid"], 7)
        [relationship] = args["high-availability"]
        self.assertEqual(relationship["ha-mode"], "load-balancing")
        servers = relationship["ha-servers"]
        self.assertEqual(servers["local"], {"role": "primary", "scopes": [], "state": "waiting"})
        self.assertEqual(servers["remote"]["role"], "secondary")

    def test_passive_backup_no_remote(self):
        """passive-backup: no remote part."""
        rig = Rig("passive-backup", backups=2)
        servers = self.successResultOf(rig.run("status-get"))["arguments"][
            "high-availability"][0]["ha-servers"]
        self.assertNotIn("remote", servers)

    def test_other_commands_untouched(self):
        """The hook leaves other answers alone."""
        hook = status_get_hook(Rig().service)
        self.assertIsNone(hook(Command(name="version-get"), {"result": 0}))
        self.assertIsNone(hook(Command(name="status-get"), {"result": 1, "text": "x"}))
