# -*- test-case-name: tests.test_batch_command -*-
"""
C{lease4-batch-update}: several HA lease changes in one request (our
extension; Kea 2.2 has no such command and answers it with result 2).

The arguments are C{{"updates": [{"command": "lease4-update" |
"lease4-del", "arguments": {...}}, ...]}}, exactly the commands Kea's HA
would have sent one request each. Every item runs, in order, through the
same registry handler as the single command, so each item's outcome is
the answer the single request would have had (texts included). The batch
answers result 0 with C{{"results": [answer, ...]}}, one answer map per
item in the same order; an item that is not a map with a batchable
C{command} gets result 1 and does not stop the others.

A peer of ours sends it (see L{kea_ha_tw.ha.batching}) only when several
updates are waiting for the same partner; a Kea peer gets one now and
then (at most once a minute) and answers result 2, after which it is sent
single commands.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kea_ha_tw.commands.envelope import Command, HTTPStatusError, answer
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry
from kea_ha_tw.errors import CommandError
from kea_ha_tw.interfaces import ICommandHandler

#: The command name.
BATCH_COMMAND = "lease4-batch-update"
#: The commands a batch may carry.
BATCHABLE_COMMANDS = frozenset(("lease4-update", "lease4-del"))
#: Most items one batch may carry.
MAX_BATCH_ITEMS = 10000


def parse_batch(arguments: Any) -> list[tuple[str | None, Any]]:
    """
    The items of a batch as (command, arguments); command None means the
    item is malformed and its second element is the error text.

    @raise CommandError: result 1 when the batch itself is malformed.
    """
    if arguments is None:
        raise CommandError(1, f"no parameters specified for {BATCH_COMMAND} command")
    if not isinstance(arguments, dict):
        raise CommandError(1, f"{BATCH_COMMAND}: arguments must be a map")
    updates = arguments.get("updates")
    if not isinstance(updates, list):
        raise CommandError(1, f"{BATCH_COMMAND}: 'updates' must be a list")
    if len(updates) > MAX_BATCH_ITEMS:
        raise CommandError(1, f"{BATCH_COMMAND}: at most {MAX_BATCH_ITEMS} updates per batch,"
                              f" got {len(updates)}")
    items: list[tuple[str | None, Any]] = []
    for index, item in enumerate(updates):
        name = item.get("command") if isinstance(item, dict) else None
        if name not in BATCHABLE_COMMANDS:
            items.append((None, f"updates[{index}]: expected a map whose 'command' is one of "
                                f"{', '.join(sorted(BATCHABLE_COMMANDS))}"))
            continue
        items.append((name, item.get("arguments")))
    return items


def build_batch_handler(registry: CommandRegistry) -> ICommandHandler:
    """The C{lease4-batch-update} handler, running items through C{registry}."""

    def handle(arguments: Any, context: Any) -> Deferred:
        # With synchronous item handlers (the lease store) nothing below
        # awaits, so the batch answers at once.
        return Deferred.fromCoroutine(_run_items(registry, context, parse_batch(arguments)))

    return CommandHandler(BATCH_COMMAND, handle)


async def _run_items(registry: CommandRegistry, context: Any,
                     items: list[tuple[str | None, Any]]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for name, item_arguments in items:
        if name is None:
            results.append(answer(1, item_arguments))
            continue
        try:
            # The lease store's handlers answer at once: no await (and no
            # Deferred) per item then.
            outcome = registry.run(Command(name=name, arguments=item_arguments), context)
            if isinstance(outcome, Deferred):
                outcome = await outcome
        except HTTPStatusError as e:
            # The registry fails only this way (a handler gave no answer).
            outcome = answer(1, f"the command failed with HTTP status {e.status}")
        results.append(outcome)
    return answer(0, f"{len(results)} lease changes processed.", {"results": results})


__all__ = ["BATCHABLE_COMMANDS", "BATCH_COMMAND", "MAX_BATCH_ITEMS", "build_batch_handler",
           "parse_batch"]
