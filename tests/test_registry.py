"""
Tests for L{kea_ha_tw.commands.registry}: registration, the conversion of a
handler's outcome into a Kea answer, and the processed-command hook.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.commands.envelope import Command, HTTPStatusError, PositionedError, answer
from kea_ha_tw.commands.registry import (
    CommandHandler,
    CommandRegistry,
    build_default_registry,
    command,
)
from kea_ha_tw.errors import CommandError
from kea_ha_tw.interfaces import ICommandHandler

#: The commands Kea 2.2 has (with lease_cmds) that we implement, sorted,
#: plus our lease4-batch-update.
DEFAULT_COMMANDS = [
    "build-report", "config-get", "config-reload", "config-set", "config-test", "config-write",
    "dhcp-disable", "dhcp-enable", "lease4-add", "lease4-batch-update",
    "lease4-del", "lease4-get", "lease4-get-all",
    "lease4-get-by-client-id", "lease4-get-by-hostname", "lease4-get-by-hw-address",
    "lease4-get-page", "lease4-resend-ddns", "lease4-update", "lease4-wipe", "list-commands",
    "shutdown", "statistic-get", "statistic-get-all", "statistic-remove", "statistic-remove-all",
    "statistic-reset", "statistic-reset-all", "status-get", "version-get",
]


class BoomError(Exception):
    """A handler bug."""


class RegistrationTests(SynchronousTestCase):
    """Handlers are registered under their name, once."""

    def test_handler_provides_interface(self):
        """L{CommandHandler} and the decorator provide ICommandHandler."""
        self.assertTrue(verifyObject(ICommandHandler, CommandHandler("x", lambda a, c: None)))

        @command("y")
        def y(arguments, context):
            return answer(0)

        self.assertTrue(verifyObject(ICommandHandler, y))
        self.assertEqual(y.name, "y")

    def test_register_and_lookup(self):
        """A registered handler is found, listed and removable."""
        registry = CommandRegistry()
        handler = CommandHandler("b", lambda a, c: answer(0))
        registry.register(handler)
        registry.register(CommandHandler("a", lambda a, c: answer(0)))
        self.assertIs(registry.get("b"), handler)
        self.assertIn("b", registry)
        self.assertEqual(registry.names(), ["a", "b"])
        self.assertTrue(registry.unregister("b"))
        self.assertFalse(registry.unregister("b"))
        self.assertIsNone(registry.get("b"))

    def test_duplicate_refused_unless_replacing(self):
        """A second handler for a name needs C{replace=True}."""
        registry = CommandRegistry()
        registry.register(CommandHandler("a", lambda a, c: answer(0)))
        other = CommandHandler("a", lambda a, c: answer(1))
        self.assertRaises(ValueError, registry.register, other)
        registry.register(other, replace=True)
        self.assertIs(registry.get("a"), other)

    def test_default_registry(self):
        """The default registry holds every non-HA command of Kea 2.2 we implement."""
        registry = build_default_registry()
        self.assertEqual(registry.names(), DEFAULT_COMMANDS)
        for name in registry.names():
            self.assertTrue(verifyObject(ICommandHandler, registry.get(name)))


class ExecuteTests(SynchronousTestCase):
    """L{CommandRegistry.execute} always ends in a Kea answer."""

    def setUp(self):
        self.registry = CommandRegistry()
        self.seen = []

    def run_handler(self, func, arguments=None, text=None):
        self.registry.register(CommandHandler("cmd", func), replace=True)
        return self.registry.execute(Command("cmd", arguments, text=text), self)

    def test_unknown_command(self):
        """Kea: result 2 "'foo-bar' command not supported."."""
        result = self.successResultOf(self.registry.execute(Command("foo-bar"), None))
        self.assertEqual(result, {"result": 2, "text": "'foo-bar' command not supported."})

    def test_arguments_and_context_passed(self):
        """The handler gets the command's arguments and the context."""
        def handler(arguments, context):
            self.seen.append((arguments, context))
            return answer(0, "ok")

        self.assertEqual(self.successResultOf(self.run_handler(handler, {"a": 1})),
                         {"result": 0, "text": "ok"})
        self.assertEqual(self.seen, [({"a": 1}, self)])

    def test_deferred_answer(self):
        """A handler may answer later through a Deferred."""
        later = Deferred()
        d = self.run_handler(lambda a, c: later)
        self.assertNoResult(d)
        later.callback(answer(0, "later"))
        self.assertEqual(self.successResultOf(d), {"result": 0, "text": "later"})

    def test_command_error(self):
        """CommandError becomes its result and text."""
        def handler(arguments, context):
            raise CommandError(3, "nothing")

        self.assertEqual(self.successResultOf(self.run_handler(handler)),
                         {"result": 3, "text": "nothing"})

    def test_failed_deferred_command_error(self):
        """A Deferred failing with CommandError is answered the same way."""
        d = self.run_handler(lambda a, c: fail(CommandError(1, "late error")))
        self.assertEqual(self.successResultOf(d), {"result": 1, "text": "late error"})

    def test_positioned_error(self):
        """A PositionedError gets the element position from the request text."""
        def handler(arguments, context):
            raise PositionedError("invalid type specified for parameter 'ip-address' ({pos})",
                                  ("ip-address",))

        text = '{"command":"cmd","arguments":{"ip-address":5}}'
        result = self.successResultOf(self.run_handler(handler, {"ip-address": 5}, text))
        self.assertEqual(result["text"],
                         "invalid type specified for parameter 'ip-address' (<wire>:0:43)")

    def test_crash_is_result_1_and_logged(self):
        """An unexpected exception: result 1 naming it, and a logged failure."""
        def handler(arguments, context):
            raise BoomError("kaputt")

        result = self.successResultOf(self.run_handler(handler))
        self.assertEqual(result, {"result": 1, "text": "Error during command processing: kaputt"})
        self.assertEqual(len(self.flushLoggedErrors(BoomError)), 1)

    def test_no_answer_is_http_500(self):
        """A handler producing nothing: HTTPStatusError(500), as Kea's null response."""
        f = self.failureResultOf(self.run_handler(lambda a, c: None), HTTPStatusError)
        self.assertEqual(f.value.status, 500)

    def test_http_status_error_passes(self):
        """A handler may ask for an HTTP status itself."""
        def handler(arguments, context):
            raise HTTPStatusError(500)

        self.failureResultOf(self.run_handler(handler), HTTPStatusError)

    def test_malformed_answer(self):
        """An answer without an integer result is a result 1 error."""
        result = self.successResultOf(self.run_handler(lambda a, c: succeed({"text": "x"})))
        self.assertEqual(result["result"], 1)

    def test_processed_hook_rewrites(self):
        """A processed hook sees every answer and may replace it (status-get extension)."""
        calls = []

        def hook(cmd, result):
            calls.append((cmd.name, result["result"]))
            if cmd.name == "cmd":
                return {**result, "arguments": {"extra": True}}
            return None

        self.registry.add_processed_hook(hook)
        result = self.successResultOf(self.run_handler(lambda a, c: answer(0)))
        self.assertEqual(result, {"result": 0, "arguments": {"extra": True}})
        self.successResultOf(self.registry.execute(Command("nope"), None))
        self.assertEqual(calls, [("cmd", 0), ("nope", 2)])
        self.registry.remove_processed_hook(hook)
        self.assertEqual(self.successResultOf(self.run_handler(lambda a, c: answer(0))),
                         {"result": 0})

    def test_execute_map(self):
        """Commands can be run from inside the server without a request."""
        self.registry.register(CommandHandler("cmd", lambda a, c: answer(0, arguments=a)))
        self.assertEqual(self.successResultOf(self.registry.execute_map("cmd", [1], None)),
                         {"result": 0, "arguments": [1]})


class RunTests(SynchronousTestCase):
    """L{CommandRegistry.run}: the answer itself for handlers that answer at once."""

    def registry(self):
        """A registry with a synchronous, a deferred, a broken and a silent handler."""
        r = CommandRegistry()
        r.register(CommandHandler("now", lambda a, c: answer(0, "now")))
        r.register(CommandHandler("later", lambda a, c: succeed(answer(0, "later"))))

        def boom(arguments, context):
            raise BoomError("bug")

        r.register(CommandHandler("boom", boom))
        r.register(CommandHandler("silent", lambda a, c: None))
        return r

    def test_synchronous_answer_is_no_deferred(self):
        """A handler that answers at once gives the map itself, hooks applied."""
        r = self.registry()
        r.add_processed_hook(lambda cmd, result: dict(result, hooked=True))
        outcome = r.run(Command(name="now"), None)
        self.assertNotIsInstance(outcome, Deferred)
        self.assertEqual(outcome, {"result": 0, "text": "now", "hooked": True})

    def test_deferred_answer(self):
        """A handler answering with a Deferred gives a Deferred with the same answer."""
        outcome = self.registry().run(Command(name="later"), None)
        self.assertIsInstance(outcome, Deferred)
        self.assertEqual(self.successResultOf(outcome)["text"], "later")

    def test_unknown_and_broken(self):
        """Unknown commands and handler bugs answer as execute does, without a Deferred."""
        r = self.registry()
        self.assertEqual(r.run(Command(name="nope"), None)["result"], 2)
        self.assertEqual(r.run(Command(name="boom"), None)["result"], 1)
        self.flushLoggedErrors(BoomError)

    def test_no_answer_raises_http_500(self):
        """A handler giving no answer raises HTTPStatusError; execute fails with it."""
        r = self.registry()
        self.assertRaises(HTTPStatusError, r.run, Command(name="silent"), None)
        self.failureResultOf(r.execute(Command(name="silent"), None), HTTPStatusError)
