"""
Tests for L{kea_ha_tw.commands.stats}: the C{statistic-*} commands through
the HTTP resource, in Kea 2.2.0's shapes and texts (captured), and the lease
counters kept in step with the lease store.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.commands_support import CommandHarness
from tests.test_stats import set_time_zone

#: "2026-11-25 09:54:44.000000": the harness clock in Kea's sample format.
STAMP = "2026-11-25 09:54:44.000000"

#: (request, Kea 2.2.0's answer) captured over the unix socket.
CAPTURED_ERRORS = [
    ('{"command":"statistic-get","arguments":{}}',
     '{ "result": 1, "text": "Missing mandatory \'name\' parameter." }'),
    ('{"command":"statistic-get"}',
     '{ "result": 1, "text": "Missing mandatory \'name\' parameter." }'),
    ('{"command":"statistic-get","arguments":{"name":5}}',
     '{ "result": 1, "text": "\'name\' parameter expected to be a string." }'),
    ('{"command":"statistic-get","arguments":[]}',
     '{ "result": 1, "text": "Error during command processing: get(string) called on a non-map '
     'Element in (<wire>:0:40)" }'),
    ('{"command":"statistic-get","arguments":{"name":"nonexistent"}}',
     '{ "arguments": {  }, "result": 0 }'),
    ('{"command":"statistic-reset","arguments":{"name":"nonexistent"}}',
     '{ "result": 1, "text": "No \'nonexistent\' statistic found" }'),
    ('{"command":"statistic-reset"}',
     '{ "result": 1, "text": "Missing mandatory \'name\' parameter." }'),
    ('{"command":"statistic-reset","arguments":{}}',
     '{ "result": 1, "text": "Missing mandatory \'name\' parameter." }'),
    ('{"command":"statistic-reset-all"}',
     '{ "result": 0, "text": "All statistics reset to neutral values." }'),
    ('{"command":"statistic-reset-all","arguments":{"x":1}}',
     '{ "result": 0, "text": "All statistics reset to neutral values." }'),
]


class StatisticCommandTests(SynchronousTestCase):
    """The statistic commands over a Statistics object."""

    def setUp(self):
        # Kea prints sample times in local time; the captured texts are UTC.
        set_time_zone(self, "UTC")
        self.h = CommandHarness(self)
        self.h.statistics.set("pkt4-received", 7)

    def test_captured_answers(self):
        """Kea's error texts and the empty answer for an unknown name."""
        for request, expected in CAPTURED_ERRORS:
            self.h.assert_kea(request, expected)

    def test_get(self):
        """One statistic, as Kea: no text, [[value, timestamp]]."""
        self.assertEqual(self.h.wire('{"command":"statistic-get","arguments":{"name":"pkt4-received"}}'),
                         '{ "arguments": { "pkt4-received": [ [ 7, "' + STAMP + '" ] ] }, '
                         '"result": 0 }')

    def test_get_all_has_lease_counters(self):
        """statistic-get-all includes the per-subnet address counters from the store."""
        self.h.command("lease4-add", {"ip-address": "192.0.2.10",
                                      "hw-address": "1a:1b:1c:1d:1e:1f"})
        self.h.command("lease4-add", {"ip-address": "192.0.2.11", "hw-address": "1a:1b:1c:1d:1e:20",
                                      "state": 1})
        result = self.h.command("statistic-get-all")
        self.assertNotIn("text", result)
        values = {name: samples[0][0] for name, samples in result["arguments"].items()}
        self.assertEqual(values, {
            "pkt4-received": 7, "declined-addresses": 1,
            "subnet[1].assigned-addresses": 2, "subnet[1].declined-addresses": 1,
            "subnet[1].total-addresses": 100, "subnet[2].assigned-addresses": 0,
            "subnet[2].declined-addresses": 0, "subnet[2].total-addresses": 0,
        })
        self.assertEqual(result["arguments"]["pkt4-received"], [[7, STAMP]])

    def test_counters_follow_lease_commands(self):
        """Deleting through a command lowers assigned-addresses at the next read."""
        self.h.command("lease4-add", {"ip-address": "192.0.2.10",
                                      "hw-address": "1a:1b:1c:1d:1e:1f"})
        name = {"name": "subnet[1].assigned-addresses"}
        self.assertEqual(self.h.command("statistic-get", name)["arguments"][name["name"]][0][0], 1)
        self.h.command("lease4-del", {"ip-address": "192.0.2.10"})
        self.assertEqual(self.h.command("statistic-get", name)["arguments"][name["name"]][0][0], 0)

    def test_reset(self):
        """statistic-reset zeroes one statistic, with Kea's text."""
        self.h.clock.advance(1.5)
        self.assertEqual(self.h.wire('{"command":"statistic-reset","arguments":{"name":"pkt4-received"}}'),
                         '{ "result": 0, "text": "Statistic \'pkt4-received\' reset." }')
        self.assertEqual(self.h.statistics.get_samples("pkt4-received"),
                         [[0, "2026-11-25 09:54:45.500000"]])

    def test_reset_all(self):
        """statistic-reset-all zeroes everything."""
        self.h.statistics.set("pkt4-sent", 3)
        self.h.command("statistic-reset-all")
        self.assertEqual((self.h.statistics.get("pkt4-received"),
                          self.h.statistics.get("pkt4-sent")), (0, 0))

    def test_remove(self):
        """statistic-remove forgets one; a second time it is unknown (Kea's texts)."""
        request = '{"command":"statistic-remove","arguments":{"name":"pkt4-received"}}'
        self.h.assert_kea(request,
                          '{ "result": 0, "text": "Statistic \'pkt4-received\' removed." }')
        self.h.assert_kea(request,
                          '{ "result": 1, "text": "No \'pkt4-received\' statistic found" }')

    def test_remove_all(self):
        """statistic-remove-all forgets everything, with Kea 2.2's deprecation text."""
        self.h.assert_kea('{"command":"statistic-remove-all"}',
                          '{ "result": 0, "text": "Warning: statistic-remove-all command is '
                          'deprecated. '
                          'All statistics removed." }')
        self.assertEqual(self.h.statistics.names(), [])

    def test_refreshers_run_before_reading(self):
        """Statistics refreshers added to the context run before statistic-get."""
        self.h.context.add_statistics_refresher(lambda ctx: ctx.statistics.set("custom", 42))
        result = self.h.command("statistic-get", {"name": "custom"})
        self.assertEqual(result["arguments"]["custom"][0][0], 42)
