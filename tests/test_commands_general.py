"""
Tests for L{kea_ha_tw.commands.general} and L{kea_ha_tw.commands.context}:
list-commands, version-get, build-report, config-*, status-get and
shutdown through the HTTP resource, with Kea 2.2.0's captured texts.
"""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

import kea_ha_tw
from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import kea_json_dumps
from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.errors import CommandError, ConfigError
from tests.commands_support import CommandHarness

CONFIG_TEXT = """{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "control-socket": { "socket-type": "unix", "socket-name": "/tmp/khk-test.sock" },
  "lease-database": { "type": "memfile", "persist": false },
  "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
  // comments are allowed, as in Kea
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ] },
               { "id": 2, "subnet": "198.51.100.0/24", "valid-lifetime": 7200 } ]
} }"""

SANE = ("Configuration seems sane. Control-socket, hook-libraries, and D2 configuration were "
        "sanity checked, but not applied.")

#: (request, Kea 2.2.0's answer) captured over the unix socket.
CAPTURED = [
    ('{"command":"config-test"}',
     '{ "result": 1, "text": "Missing mandatory \'arguments\' parameter." }'),
    ('{"command":"config-test","arguments":{}}',
     '{ "result": 1, "text": "Missing mandatory \'Dhcp4\' parameter." }'),
    ('{"command":"config-test","arguments":[]}',
     '{ "result": 1, "text": "Error during command processing: get(string) called on a non-map '
     'Element in (<wire>:0:38)" }'),
    ('{"command":"config-test","arguments":{"Dhcp4":{"subnet4":[{"id":1,"subnet":"10.0.0.0/8"}]}}}',
     '{ "result": 0, "text": "' + SANE + '" }'),
    ('{"command":"config-test","arguments":{"Dhcp6":{}}}',
     '{ "result": 1, "text": "Missing mandatory \'Dhcp4\' parameter." }'),
    ('{"command":"config-test","arguments":{"Dhcp4":[]}}',
     '{ "result": 1, "text": "\'Dhcp4\' parameter expected to be a map." }'),
    ('{"command":"config-test","arguments":{"Dhcp4":{},"Logging":{}}}',
     '{ "result": 1, "text": "Unsupported \'Logging\' parameter." }'),
    ('{"command":"config-set"}',
     '{ "result": 1, "text": "Missing mandatory \'arguments\' parameter." }'),
    ('{"command":"config-set","arguments":{}}',
     '{ "result": 1, "text": "Missing mandatory \'Dhcp4\' parameter." }'),
    ('{"command":"config-set","arguments":{"Dhcp4":[]}}',
     '{ "result": 1, "text": "\'Dhcp4\' parameter expected to be a map." }'),
    ('{"command":"config-write","arguments":{"filename":5}}',
     '{ "result": 1, "text": "passed parameter \'filename\' is not a string" }'),
    ('{"command":"config-write","arguments":{"filename":"/nonexistent/dir/x.json"}}',
     '{ "result": 1, "text": "Error during write-config:Unable to open file '
     '/nonexistent/dir/x.json for writing" }'),
    ('{"command":"config-write","arguments":[]}',
     '{ "result": 1, "text": "Argument must be a map" }'),
    ('{"command":"shutdown","arguments":{"exit-value":"x"}}',
     '{ "result": 1, "text": "parameter \'exit-value\' is not an integer" }'),
    ('{"command":"shutdown","arguments":{"exit-value":1.5}}',
     '{ "result": 1, "text": "parameter \'exit-value\' is not an integer" }'),
    ('{"command":"shutdown","arguments":[]}', '{ "result": 1, "text": "Argument must be a map" }'),
]


class GeneralCommandTests(SynchronousTestCase):
    """The daemon-wide commands."""

    def setUp(self):
        self.path = self.mktemp()
        with open(self.path, "w") as f:
            f.write(CONFIG_TEXT)
        self.config = parse_config(CONFIG_TEXT, self.path)
        self.h = CommandHarness(self, self.config, config_path=self.path)

    def test_captured_answers(self):
        """Kea's texts for envelope and argument errors."""
        for request, expected in CAPTURED:
            self.h.assert_kea(request, expected)
        self.assertEqual(self.h.applied, [])
        self.assertEqual(self.h.shutdowns, [])

    def test_list_commands(self):
        """Sorted names of what is registered, no text; a registered extension shows."""
        result = self.h.command("list-commands")
        self.assertEqual(result, {"result": 0, "arguments": self.h.registry.names()})
        self.assertIn("lease4-get-page", result["arguments"])
        self.assertEqual(result["arguments"], sorted(result["arguments"]))

    def test_version_get(self):
        """Kea's shape; text is the Kea version we match, extended says what we are."""
        result = self.h.command("version-get")
        self.assertEqual((result["result"], result["text"]), (0, "2.2.0"))
        lines = result["arguments"]["extended"].split("\n")
        self.assertEqual(lines[:3], ["2.2.0", f"kea-ha-tw {kea_ha_tw.__version__}", "linked with:"])
        self.assertIn("database:", lines)

    def test_build_report(self):
        """A text report naming our version; no arguments."""
        result = self.h.command("build-report", [])
        self.assertEqual(set(result), {"result", "text"})
        self.assertIn(f"Version:           {kea_ha_tw.__version__}", result["text"])

    def test_status_get(self):
        """Kea 2.2's fields without multi-threading, and no text."""
        self.h.clock.advance(11)
        self.assertEqual(self.h.wire('{"command":"status-get"}'),
                         '{ "arguments": { "multi-threading-enabled": false, "pid": 4242, '
                         '"reload": 11, "sockets": { "status": "ready" }, "uptime": 11 }, '
                         '"result": 0 }')

    def test_status_contributor(self):
        """A status contributor (HA) adds its section to status-get."""
        self.h.context.add_status_contributor(lambda ctx: {"high-availability": [{"ha-mode": "x"}]})
        result = self.h.command("status-get")
        self.assertEqual(result["arguments"]["high-availability"], [{"ha-mode": "x"}])
        self.assertEqual(result["arguments"]["pid"], 4242)

    def test_config_get(self):
        """The configuration as read, in a Dhcp4 map, without text."""
        result = self.h.command("config-get")
        self.assertEqual(set(result), {"result", "arguments"})
        d4 = result["arguments"]["Dhcp4"]
        self.assertEqual(d4["valid-lifetime"], 3600)
        self.assertEqual([s["id"] for s in d4["subnet4"]], [1, 2])

    def test_config_test_rejects_with_path(self):
        """An invalid configuration: result 1 with the loader's path and reason; nothing applied."""
        bogus = {"Dhcp4": {"subnet4": [{"id": 1, "subnet": "bogus"}]}}
        result = self.h.command("config-test", bogus)
        self.assertEqual(result, {"result": 1,
                                  "text": "Dhcp4.subnet4[0].subnet: Invalid subnet syntax "
                                          "(prefix/len expected):bogus"})
        self.assertEqual(self.h.applied, [])

    def test_config_set_applies(self):
        """config-set hands the new configuration to the seam and resets the reload time."""
        self.h.clock.advance(50)
        new = {"Dhcp4": {"valid-lifetime": 600, "subnet4": [{"id": 5, "subnet": "10.0.0.0/8"}]}}
        self.assertEqual(self.h.command("config-set", new),
                         {"result": 0, "text": "Configuration successful."})
        self.assertEqual([s.id for s in self.h.applied[0].subnets], [5])
        self.assertIs(self.h.context.config, self.h.applied[0])
        status = self.h.command("status-get")["arguments"]
        self.assertEqual((status["uptime"], status["reload"]), (50, 0))

    def test_config_set_seam_failure_keeps_old(self):
        """A failing reconfigure seam: result 1 with its reason, the old config stays."""
        def refuse(config):
            return fail(ConfigError("Dhcp4.control-socket", "cannot bind"))

        h = CommandHarness(self, self.config, reconfigure=refuse)
        result = h.command("config-set", {"Dhcp4": {"valid-lifetime": 600}})
        self.assertEqual(result, {"result": 1, "text": "Dhcp4.control-socket: cannot bind"})
        self.assertIs(h.context.config, self.config)

    def test_config_set_waits_for_the_seam(self):
        """The answer waits until the new configuration is in use."""
        pending = Deferred()
        h = CommandHarness(self, self.config, reconfigure=lambda c: pending)
        d = h.stub.post("http://x/", data=b'{"command":"config-set","arguments":{"Dhcp4":{}}}',
                        headers={b"Content-Type": [b"application/json"]})
        h.stub.flush()
        self.assertNoResult(d)
        pending.callback(None)
        h.stub.flush()
        response = self.successResultOf(d)
        self.assertEqual(json.loads(self.successResultOf(h.stub.content(response))),
                         [{"result": 0, "text": "Configuration successful."}])

    def test_without_reconfigure_seam(self):
        """No seam: config-set is refused with result 1, config-test still works."""
        h = CommandHarness(self, self.config, reconfigure=None)
        self.assertEqual(h.command("config-set", {"Dhcp4": {}})["result"], 1)
        self.assertEqual(h.command("config-test", {"Dhcp4": {}}), {"result": 0, "text": SANE})

    def test_config_reload(self):
        """The file is read again and applied; Kea's success text."""
        with open(self.path, "w") as f:
            f.write(CONFIG_TEXT.replace('"valid-lifetime": 3600', '"valid-lifetime": 1200'))
        self.assertEqual(self.h.command("config-reload"),
                         {"result": 0, "text": "Configuration successful."})
        self.assertEqual(self.h.applied[0].valid_lifetime, 1200)

    def test_config_reload_errors(self):
        """A broken or missing file: Kea's "Config reload failed" texts; nothing applied."""
        with open(self.path, "w") as f:
            f.write('{ "Dhcp4": { "valid-lifetime": "x" } }')
        prefix = f"Config reload failed: configuration error using file '{self.path}': "
        result = self.h.command("config-reload")
        self.assertEqual(result["result"], 1)
        self.assertTrue(result["text"].startswith(prefix + "Dhcp4.valid-lifetime: "),
                        result["text"])
        missing = CommandHarness(self, self.config, config_path=self.path + ".gone")
        self.assertEqual(missing.command("config-reload")["text"],
                         "Config reload failed: configuration error using file"
                         f" '{self.path}.gone': Unable to open file {self.path}.gone")
        self.assertEqual(self.h.applied, [])

    def test_config_write(self):
        """The running configuration in Kea's pretty form; filename and size answered."""
        target = self.mktemp()
        result = self.h.command("config-write", {"filename": target})
        with open(target, "rb") as f:
            data = f.read()
        self.assertEqual(result, {"result": 0,
                                  "text": f"Configuration written to {target} successful",
                                  "arguments": {"filename": target, "size": len(data)}})
        self.assertTrue(data.startswith(b'{\n  "Dhcp4": {\n'))
        self.assertEqual(parse_config(data.decode(), target).subnets, self.config.subnets)

    def test_config_write_default_file(self):
        """Without a filename (or with ""), the file the configuration came from."""
        for arguments in (None, {"filename": ""}):
            result = self.h.command("config-write", arguments)
            self.assertEqual(result["arguments"]["filename"], self.path)

    def test_shutdown(self):
        """The answer leaves first; the stop seam runs on the next turn with the exit value."""
        self.assertEqual(self.h.command("shutdown", {"exit-value": 3}),
                         {"result": 0, "text": "Shutting down."})
        self.assertEqual(self.h.shutdowns, [])
        self.h.clock.advance(0)
        self.assertEqual(self.h.shutdowns, [3])
        self.h.command("shutdown")
        self.h.clock.advance(0)
        self.assertEqual(self.h.shutdowns, [3, 0])


class ContextTests(SynchronousTestCase):
    """L{CommandContext} on its own."""

    def test_missing_seams(self):
        """Without seams, apply_config and request_shutdown refuse with CommandError."""
        h = CommandHarness(self)
        context = CommandContext(clock=h.clock, config=h.context.config, lease_store=h.store,
                                 network_state=h.network_state, statistics=h.statistics)
        self.assertFalse(context.can_reconfigure)
        self.assertFalse(context.can_shutdown)
        self.assertRaises(CommandError, context.apply_config, h.context.config)
        self.assertRaises(CommandError, context.request_shutdown, 0)

    def test_socket_status_seam(self):
        """status-get's sockets come from the seam when there is one."""
        h = CommandHarness(self)
        context = CommandContext(clock=h.clock, config=h.context.config, lease_store=h.store,
                                 network_state=h.network_state, statistics=h.statistics,
                                 socket_status=lambda: {"status": "failed", "errors": ["eth9"]})
        self.assertEqual(kea_json_dumps(context.status_arguments()["sockets"]),
                         '{ "errors": [ "eth9" ], "status": "failed" }')
        removable = context.add_status_contributor
        contributor = lambda ctx: {"x": 1}  # noqa: E731
        removable(contributor)
        self.assertEqual(context.status_arguments()["x"], 1)
        context.remove_status_contributor(contributor)
        self.assertNotIn("x", context.status_arguments())
