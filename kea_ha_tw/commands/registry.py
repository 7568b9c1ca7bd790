# -*- test-case-name: tests.test_registry -*-
"""
Command name -> handler, and the one place where a handler's outcome
becomes a Kea answer.

A handler is anything providing L{ICommandHandler}: a C{name} and
C{handle(arguments, context)} returning (or firing a Deferred with) an
answer map. L{CommandHandler} wraps a plain function. Handlers raise
L{CommandError} (or L{PositionedError}) for Kea-style failures; anything
else is a bug, logged, and answered with result 1, as the style guide
asks. A handler that returns C{None} or raises L{HTTPStatusError} makes
the HTTP channel answer HTTP 500, as Kea does when a callout produces no
response.

Extensions (HA) register their own handlers with L{CommandRegistry.register}
and may watch or rewrite every answer with
L{CommandRegistry.add_processed_hook}, Kea's C{command_processed} hook point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_ha_tw.commands.envelope import Command, HTTPStatusError, answer
from kea_ha_tw.errors import CommandError
from kea_ha_tw.interfaces import ICommandHandler
from kea_ha_tw.loggers import Logger

#: C{hook(command, answer)} may return a replacement answer (or None to keep it).
ProcessedHook = Callable[[Command, dict], "dict | None"]

_PROCESSING = "Error during command processing: "


@implementer(ICommandHandler)
class CommandHandler:
    """
    An L{ICommandHandler} made from a function C{func(arguments, context)}.

    @ivar name: the command name.
    """

    def __init__(self, name: str, func: Callable[[Any, Any], Any]) -> None:
        self.name = name
        self._func = func

    def handle(self, arguments: Any, context: Any) -> Any:
        """Run the wrapped function."""
        return self._func(arguments, context)

    def __repr__(self) -> str:
        return f"<CommandHandler {self.name!r}>"


def command(name: str) -> Callable[[Callable[[Any, Any], Any]], CommandHandler]:
    """Decorator: C{@command("lease4-get")} turns a function into a L{CommandHandler}."""

    def wrap(func: Callable[[Any, Any], Any]) -> CommandHandler:
        return CommandHandler(name, func)

    return wrap


def unsupported(name: str) -> dict[str, Any]:
    """Kea's answer to an unknown command: result 2 C{"'foo' command not supported."}."""
    return answer(2, f"'{name}' command not supported.")


class CommandRegistry:
    """The commands this server knows."""

    _log = Logger()

    def __init__(self) -> None:
        self._handlers: dict[str, ICommandHandler] = {}
        self._processed_hooks: list[ProcessedHook] = []

    # -- registration ---------------------------------------------------------------

    def register(self, handler: ICommandHandler, replace: bool = False) -> None:
        """
        Add C{handler} under C{handler.name}.

        @raise ValueError: the name is taken and C{replace} is false.
        """
        if not replace and handler.name in self._handlers:
            raise ValueError(f"command {handler.name!r} is already registered")
        self._handlers[handler.name] = handler

    def register_all(self, handlers: list[ICommandHandler] | tuple[ICommandHandler, ...]) -> None:
        """Register every handler of C{handlers}."""
        for handler in handlers:
            self.register(handler)

    def unregister(self, name: str) -> bool:
        """Remove the command C{name}; True if it was registered."""
        return self._handlers.pop(name, None) is not None

    def get(self, name: str) -> ICommandHandler | None:
        """The handler for C{name}, or None."""
        return self._handlers.get(name)

    def names(self) -> list[str]:
        """Registered command names, sorted (C{list-commands})."""
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def add_processed_hook(self, hook: ProcessedHook) -> None:
        """
        Call C{hook(command, answer)} after every command; a map it returns
        replaces the answer.
        """
        self._processed_hooks.append(hook)

    def remove_processed_hook(self, hook: ProcessedHook) -> None:
        """Undo L{add_processed_hook}."""
        self._processed_hooks.remove(hook)

    # -- execution ---------------------------------------------------------------------

    def execute(self, command: Command, context: Any) -> Deferred[dict[str, Any]]:
        """
        Run C{command}; fire with its answer map. Never fails, except with
        L{HTTPStatusError} when Kea would answer at the HTTP level.
        """
        try:
            outcome = self.run(command, context)
        except HTTPStatusError:
            return fail()
        return outcome if isinstance(outcome, Deferred) else succeed(outcome)

    def run(self, command: Command, context: Any) -> dict[str, Any] | Deferred[dict[str, Any]]:
        """
        L{execute} without a Deferred for the handlers that answer at once
        (the lease store's: HA lease updates arrive by the thousand per
        second): the answer map itself, or a Deferred when the handler
        answers later. Raises L{HTTPStatusError} where L{execute} fails with
        it.
        """
        handler = self._handlers.get(command.name)
        if handler is None:
            return self._processed(command, unsupported(command.name))
        try:
            result = handler.handle(command.arguments, context)
        except Exception:
            return self._processed(command, self._failed(Failure(), command))
        if isinstance(result, Deferred):
            d = result.addCallbacks(self._checked, self._failed,
                                    callbackArgs=(command,), errbackArgs=(command,))
            return d.addCallback(lambda answer_: self._processed(command, answer_))
        return self._processed(command, self._checked(result, command))

    def execute_map(self, name: str, arguments: Any, context: Any) -> Deferred[dict[str, Any]]:
        """Run command C{name} with C{arguments} (for callers inside the server)."""
        return self.execute(Command(name=name, arguments=arguments), context)

    def _checked(self, result: Any, command: Command) -> dict[str, Any]:
        if result is None:
            self._log.error("command {command} produced no answer", msg_id="COMMAND_PROCESS_ERROR1",
                            command=command.name)
            raise HTTPStatusError(500)
        if not isinstance(result, dict) or not isinstance(result.get("result"), int):
            self._log.error("command {command} produced a malformed answer",
                            msg_id="COMMAND_PROCESS_ERROR1", command=command.name)
            return answer(1, _PROCESSING + "invalid answer produced by the command handler")
        return result

    def _failed(self, failure: Failure, command: Command) -> dict[str, Any]:
        if failure.check(HTTPStatusError):
            failure.raiseException()
        if failure.check(CommandError):
            return answer(failure.value.result, command.error_text(failure.value))
        self._log.failure("command {command} failed", failure, msg_id="COMMAND_PROCESS_ERROR2",
                          command=command.name)
        return answer(1, _PROCESSING + str(failure.value))

    def _processed(self, command: Command, result: dict[str, Any]) -> dict[str, Any]:
        for hook in self._processed_hooks:
            replaced = hook(command, result)
            if replaced is not None:
                result = replaced
        return result


def build_default_registry() -> CommandRegistry:
    """
    A registry with every command kea-ha-tw implements outside HA:
    general (list-commands, version-get, config-*, status-get, shutdown, ...),
    lease4-*, dhcp-disable/-enable and statistic-*, and our
    C{lease4-batch-update} (L{kea_ha_tw.commands.batch}).
    """
    from kea_ha_tw.commands import batch, dhcp, general, leases, stats

    registry = CommandRegistry()
    registry.register_all(general.handlers(registry))
    registry.register_all(leases.HANDLERS)
    registry.register_all(dhcp.HANDLERS)
    registry.register_all(stats.HANDLERS)
    registry.register(batch.build_batch_handler(registry))
    return registry
