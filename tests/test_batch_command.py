"""
Tests for L{kea_ha_tw.commands.batch}: C{lease4-batch-update} runs each
item through the single command's handler, in order, and answers one
result per item; malformed batches and items get result 1.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.batch import BATCH_COMMAND, MAX_BATCH_ITEMS, build_batch_handler
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS
from tests.commands_support import CommandHarness


def update(n: int, **extra) -> dict:
    """A lease4-update item for 192.0.2.n in subnet 1."""
    arguments = {"ip-address": f"192.0.2.{n}", "hw-address": f"1a:1b:1c:1d:1e:{n:02x}",
                 "subnet-id": 1, "force-create": True}
    arguments.update(extra)
    return {"command": "lease4-update", "arguments": arguments}


class BatchCommandTests(SynchronousTestCase):
    """Through the real resource and the default registry."""

    def setUp(self):
        self.h = CommandHarness(self)

    def test_items_applied_in_order(self):
        """Adds, an update of the same lease, then its delete: the store follows the order."""
        result = self.h.command(BATCH_COMMAND, {"updates": [
            update(50), update(51), update(50, hostname="later.example"),
            {"command": "lease4-del", "arguments": {"ip-address": "192.0.2.51"}},
            {"command": "lease4-del", "arguments": {"ip-address": "192.0.2.99"}},
        ]})
        self.assertEqual(result["result"], 0)
        self.assertEqual(result["text"], "5 lease changes processed.")
        self.assertEqual(result["arguments"]["results"], [
            {"result": 0, "text": "IPv4 lease added."},
            {"result": 0, "text": "IPv4 lease added."},
            {"result": 0, "text": "IPv4 lease updated."},
            {"result": 0, "text": "IPv4 lease deleted."},
            {"result": 3, "text": "IPv4 lease not found."},
        ])
        lease = self.h.store.get(IPv4Address("192.0.2.50"))
        self.assertEqual(lease.hostname, "later.example")
        self.assertIsNone(self.h.store.get(IPv4Address("192.0.2.51")))

    def test_item_answers_equal_single_commands(self):
        """A failing item answers exactly what the single command answers."""
        bad = {"ip-address": "192.0.2.60", "subnet-id": 1}
        single = self.h.command("lease4-update", bad)
        batch = self.h.command(BATCH_COMMAND, {"updates": [
            {"command": "lease4-update", "arguments": bad}]})
        self.assertEqual(batch["arguments"]["results"][0]["result"], single["result"])
        self.assertEqual(batch["arguments"]["results"][0]["text"].split(" (")[0],
                         single["text"].split(" (")[0])

    def test_malformed_items_do_not_stop_others(self):
        """An item that is not a batchable command is result 1 in its slot."""
        result = self.h.command(BATCH_COMMAND, {"updates": [
            "nope", {"command": "lease4-wipe"}, update(70)]})
        results = result["arguments"]["results"]
        self.assertEqual([r["result"] for r in results], [1, 1, 0])
        self.assertIn("updates[0]", results[0]["text"])
        self.assertIn("updates[1]", results[1]["text"])
        self.assertIsNotNone(self.h.store.get(IPv4Address("192.0.2.70")))

    def test_malformed_batches(self):
        """No arguments, no list, too many items: result 1 naming the problem."""
        cases = [
            (None, "no parameters specified for lease4-batch-update command"),
            ([], "lease4-batch-update: arguments must be a map"),
            ({"updates": {}}, "lease4-batch-update: 'updates' must be a list"),
            ({"updates": [update(1)] * (MAX_BATCH_ITEMS + 1)},
             f"lease4-batch-update: at most {MAX_BATCH_ITEMS} updates per batch, "
             f"got {MAX_BATCH_ITEMS + 1}"),
        ]
        for arguments, text in cases:
            result = self.h.command(BATCH_COMMAND, arguments)
            self.assertEqual((result["result"], result["text"]), (1, text), arguments)

    def test_allowed_on_restricted_ha_listener(self):
        """restrict-commands lets the batch through, like lease4-update."""
        self.assertIn(BATCH_COMMAND, HA_RESTRICTED_COMMANDS)
        h = CommandHarness(self, accept_commands=HA_RESTRICTED_COMMANDS)
        self.assertEqual(h.command(BATCH_COMMAND, {"updates": [update(80)]})["result"], 0)


class AsynchronousItemTests(SynchronousTestCase):
    """Items whose handler answers later still run in order."""

    def test_async_handler(self):
        """The batch waits for an item answered later, then runs the rest."""
        registry = CommandRegistry()
        order: list[str] = []
        pending: list[Deferred] = []

        def slow(arguments, context):
            order.append(arguments["n"])
            d: Deferred = Deferred()
            pending.append(d)
            return d

        def fast(arguments, context):
            order.append(arguments["n"])
            return {"result": 0, "text": "deleted"}

        registry.register(CommandHandler("lease4-update", slow))
        registry.register(CommandHandler("lease4-del", fast))
        handler = build_batch_handler(registry)
        d = handler.handle({"updates": [
            {"command": "lease4-del", "arguments": {"n": "a"}},
            {"command": "lease4-update", "arguments": {"n": "b"}},
            {"command": "lease4-del", "arguments": {"n": "c"}},
        ]}, None)
        self.assertIsInstance(d, Deferred)
        self.assertEqual(order, ["a", "b"])
        self.assertNoResult(d)
        pending[0].callback({"result": 0, "text": "updated"})
        result = self.successResultOf(d)
        self.assertEqual(order, ["a", "b", "c"])
        self.assertEqual([r["text"] for r in result["arguments"]["results"]],
                         ["deleted", "updated", "deleted"])
