"""Tests for L{kea_ha_tw.service}: the composition root's wiring."""

from __future__ import annotations

import json

from treq.testing import StubTreq
from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.errors import CommandError, ConfigError
from kea_ha_tw.ha.service import HAService
from kea_ha_tw.service import OrderedMultiService, build_service
from tests.builders import ETH0
from tests.fakes import MemoryUDPReactor

STANDALONE = """
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "lease-database": { "type": "memfile", "persist": false },
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ] } ]
} }
"""

HOT_STANDBY = """
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "lease-database": { "type": "memfile", "persist": false },
  "hooks-libraries": [
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so" },
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
      "parameters": { "high-availability": [ {
        "this-server-name": "server1", "mode": "hot-standby",
        "peers": [
          { "name": "server1", "url": "http://127.0.0.11:8001/", "role": "primary" },
          { "name": "server2", "url": "http://127.0.0.12:8001/", "role": "standby" } ]
      } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ] } ]
} }
"""


class _Recorder:
    """A child service that records when it was stopped."""

    def __init__(self, name, log):
        self.name, self.log, self.running, self.parent = name, log, 0, None

    def setServiceParent(self, parent):  # noqa: N802 - Twisted API
        parent.addService(self)

    def disownServiceParent(self):  # noqa: N802 - Twisted API
        pass

    def privilegedStartService(self):  # noqa: N802 - Twisted API
        pass

    def startService(self):  # noqa: N802 - Twisted API
        self.running = 1

    def stopService(self):  # noqa: N802 - Twisted API
        self.log.append(self.name)
        self.running = 0
        return succeed(None)


class BuildServiceTests(SynchronousTestCase):
    """L{build_service} composes the services in Kea's start order."""

    def test_standalone_children(self):
        """Without HA the tree is lease store, then DHCP sockets; hooks are NoHA."""
        top = build_service(parse_config(STANDALONE), reactor=MemoryUDPReactor())
        kinds = [type(c) for c in top]
        self.assertEqual([k.__name__ for k in kinds],
                         ["LeaseStoreService", "_RecountAfterLoad", "DHCPListenerService"])
        self.assertIsInstance(top.server.hooks, NoHA)

    def test_ha_children_and_commands(self):
        """With the HA hook, HAService and the peer-url listener join, and ha-* commands exist."""
        top = build_service(parse_config(HOT_STANDBY), reactor=MemoryUDPReactor(),
                            http_client_factory=lambda reactor, peers, tls: StubTreq(None))
        kinds = [type(c).__name__ for c in top]
        self.assertEqual(kinds, ["LeaseStoreService", "_RecountAfterLoad", "HAService",
                                 "StreamServerEndpointService", "DHCPListenerService"])
        self.assertIsInstance(top.server.hooks, HAService)
        names = top.server.registry.names()
        for name in ("ha-heartbeat", "ha-sync", "lease4-update", "status-get"):
            self.assertIn(name, names)

    def _listener_process_config(self, **extra):
        cfg = json.loads(HOT_STANDBY)
        ha = cfg["Dhcp4"]["hooks-libraries"][1]["parameters"]["high-availability"][0]
        ha["listener-process"] = True
        cfg["Dhcp4"].update(extra)
        return parse_config(json.dumps(cfg))

    def test_listener_process_replaces_the_peer_url_listener(self):
        """With listener-process the child's service takes the peer-url listener's place."""
        top = build_service(self._listener_process_config(), reactor=MemoryUDPReactor(),
                            config_path="/etc/kea/ha.json",
                            http_client_factory=lambda reactor, peers, tls: StubTreq(None))
        kinds = [type(c).__name__ for c in top]
        self.assertEqual(kinds, ["LeaseStoreService", "_RecountAfterLoad", "HAService",
                                 "ListenerProcessService", "DHCPListenerService"])
        child = list(top)[3]
        self.assertEqual(child.config_path, "/etc/kea/ha.json")
        self.assertIs(child.resource.registry, top.server.registry)
        self.assertIsNone(child.resource.accept_commands)

    def test_listener_process_needs_the_file(self):
        """The child reads the configuration file: without one, start-up stops naming the key."""
        with self.assertRaises(ConfigError) as e:
            build_service(self._listener_process_config(), reactor=MemoryUDPReactor(),
                          http_client_factory=lambda reactor, peers, tls: StubTreq(None))
        self.assertEqual(e.exception.path, "high-availability[0].listener-process")

    def test_listener_process_not_on_a_control_socket(self):
        """A control socket on the peer url cannot be handed to the child."""
        config = self._listener_process_config(**{"control-sockets": [
            {"socket-type": "http", "socket-address": "127.0.0.11", "socket-port": 8001}]})
        with self.assertRaises(ConfigError) as e:
            build_service(config, reactor=MemoryUDPReactor(), config_path="/c.json",
                          http_client_factory=lambda reactor, peers, tls: StubTreq(None))
        self.assertIn("control socket", e.exception.message)

    def test_peer_connections_from_config(self):
        """The production peer client keeps http-client-threads connections per peer."""
        cfg = json.loads(HOT_STANDBY)
        ha = cfg["Dhcp4"]["hooks-libraries"][1]["parameters"]["high-availability"][0]
        ha["multi-threading"] = {"http-client-threads": 3}
        top = build_service(parse_config(json.dumps(cfg)), reactor=MemoryUDPReactor())
        clients = top.server.ha._clients.values()
        self.assertEqual({c._http.connections_per_peer for c in clients}, {3})

    def test_commands_reach_the_store(self):
        """A lease4-add through the composed registry lands in the composed store."""
        top = build_service(parse_config(STANDALONE), reactor=MemoryUDPReactor())
        server = top.server
        from kea_ha_tw.commands.envelope import decode_command

        cmd = decode_command(json.dumps({"command": "lease4-add", "arguments": {
            "ip-address": "192.0.2.150", "hw-address": "aa:bb:cc:dd:ee:ff"}}).encode())
        answer = self.successResultOf(server.registry.execute(cmd, server.context))
        self.assertEqual(answer["result"], 0)
        self.assertEqual(len(server.store.get_all()), 1)


class LoadedStatisticsTests(SynchronousTestCase):
    """Lease statistics reflect the leases loaded at start-up."""

    def test_assigned_addresses_counted_after_load(self):
        """A lease present when the store starts counts in subnet[1].assigned-addresses."""
        from ipaddress import IPv4Address

        from kea_ha_tw.leases.model import Lease4

        top = build_service(parse_config(STANDALONE), reactor=MemoryUDPReactor())
        top.server.store.update(Lease4(IPv4Address("192.0.2.150"), b"\xaa" * 6, None,
                                       3600, 1795600000, 1))
        top.startService()
        self.addCleanup(top.stopService)
        self.assertEqual(top.server.statistics.get("subnet[1].assigned-addresses"), 1)


class OrderedStopTests(SynchronousTestCase):
    """L{OrderedMultiService} stops children last-first."""

    def test_reverse_order(self):
        """Children stop in reverse insertion order."""
        log = []
        top = OrderedMultiService()
        for name in ("leases", "ha", "http", "dhcp"):
            _Recorder(name, log).setServiceParent(top)
        top.startService()
        self.successResultOf(top.stopService())
        self.assertEqual(log, ["dhcp", "http", "ha", "leases"])


class ReconfigureTests(SynchronousTestCase):
    """config-set / config-reload go through L{Server.reconfigure}."""

    def test_subnet_change_applies(self):
        """A new pool reaches every DHCP protocol at once."""
        reactor = MemoryUDPReactor()
        top = build_service(parse_config(STANDALONE), reactor=reactor)
        server = top.server
        protocol = server.protocol_for(ETH0, None)
        new = parse_config(STANDALONE.replace("192.0.2.199", "192.0.2.120"))
        self.successResultOf(server.reconfigure(new))
        self.assertIs(protocol.server, server.dhcp)
        self.assertIs(server.dhcp.config, new)

    def test_lease_database_change_refused(self):
        """Changing lease-database needs a restart: result 1 naming the key."""
        top = build_service(parse_config(STANDALONE), reactor=MemoryUDPReactor())
        new = parse_config(STANDALONE.replace('"persist": false',
                                              '"persist": false, "lfc-interval": 5'))
        with self.assertRaises(CommandError) as e:
            top.server.reconfigure(new)
        self.assertIn("lease-database", e.exception.text)


class ReloadOnSignalTests(SynchronousTestCase):
    """SIGHUP re-reads the configuration file, as kea-dhcp4 does."""

    def _build(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        installed = {}
        reactor = MemoryUDPReactor()
        reactor.callFromThread = lambda f, *a: f(*a)
        top = build_service(parse_config(text), reactor=reactor, config_path=path,
                            install_signal=installed.__setitem__)
        top.startService()
        self.addCleanup(top.stopService)
        return top, path, installed

    def test_sighup_applies_new_file(self):
        """After the file changes, SIGHUP puts the new pools in use."""
        import signal

        top, path, installed = self._build(STANDALONE)
        with open(path, "w") as f:
            f.write(STANDALONE.replace("192.0.2.199", "192.0.2.120"))
        installed[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(str(top.server.dhcp.config.subnets[0].pools[0].end), "192.0.2.120")

    def test_sighup_with_bad_file_keeps_running_config(self):
        """An invalid file is logged and the old configuration stays."""
        import signal

        top, path, installed = self._build(STANDALONE)
        before = top.server.dhcp.config
        with open(path, "w") as f:
            f.write('{"Dhcp4": {"subnet4": [{"subnet": "nonsense"}]}}')
        installed[signal.SIGHUP](signal.SIGHUP, None)
        self.assertIs(top.server.dhcp.config, before)
