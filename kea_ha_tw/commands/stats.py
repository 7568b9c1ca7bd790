# -*- test-case-name: tests.test_commands_stats -*-
"""
C{statistic-get}, C{-get-all}, C{-reset}, C{-reset-all}, C{-remove},
C{-remove-all} against L{IStatistics}, in Kea's shapes: each statistic is
a list of C{[value, "YYYY-MM-DD HH:MM:SS.ffffff"]} samples, the maps have
no C{text}, an unknown name gives C{{ }} for C{statistic-get}.

Before reading, every statistics refresher added to the context runs.
L{refresh_lease_statistics} is the one the server adds: it brings
C{subnet[ID].assigned-addresses}, C{subnet[ID].declined-addresses},
C{subnet[ID].total-addresses} and C{declined-addresses} up to date from the
lease store (Kea keeps them in step with every lease change; deriving them
from the store keeps them right whoever changed the leases).
"""

from __future__ import annotations

from typing import Any

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import PositionedError, answer
from kea_ha_tw.commands.registry import command
from kea_ha_tw.errors import CommandError


def _set_if_changed(context: CommandContext, name: str, value: int) -> None:
    if context.statistics.get(name) != value:
        context.statistics.set(name, value)


def refresh_lease_statistics(context: CommandContext) -> None:
    """Set the per-subnet address counters from the lease store and the pools."""
    declined_total = 0
    for subnet in context.config.subnets:
        assigned, declined = context.lease_store.subnet_counts(subnet.id)
        declined_total += declined
        _set_if_changed(context, f"subnet[{subnet.id}].assigned-addresses", assigned)
        _set_if_changed(context, f"subnet[{subnet.id}].declined-addresses", declined)
        _set_if_changed(context, f"subnet[{subnet.id}].total-addresses",
                        sum(pool.size for pool in subnet.pools))
    _set_if_changed(context, "declined-addresses", declined_total)


def _refreshed(context: CommandContext) -> None:
    context.refresh_statistics()


def _name(arguments: Any) -> str:
    if arguments is None:
        raise CommandError(1, "Missing mandatory 'name' parameter.")
    if not isinstance(arguments, dict):
        raise PositionedError(
            "Error during command processing: get(string) called on a non-map Element in ({pos})")
    if "name" not in arguments:
        raise CommandError(1, "Missing mandatory 'name' parameter.")
    name = arguments["name"]
    if not isinstance(name, str):
        raise CommandError(1, "'name' parameter expected to be a string.")
    return name


@command("statistic-get")
def statistic_get(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """One statistic: C{{"arguments": {name: samples}, "result": 0}}; C{{ }} if unknown."""
    name = _name(arguments)
    _refreshed(context)
    samples = context.statistics.get_samples(name)
    return answer(0, arguments={name: samples} if samples else {})


@command("statistic-get-all")
def statistic_get_all(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Every statistic with its samples."""
    _refreshed(context)
    stats = context.statistics
    return answer(0, arguments={name: stats.get_samples(name) for name in stats.names()})


@command("statistic-reset")
def statistic_reset(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Set one statistic back to zero."""
    name = _name(arguments)
    if not context.statistics.reset(name):
        raise CommandError(1, f"No '{name}' statistic found")
    return answer(0, f"Statistic '{name}' reset.")


@command("statistic-reset-all")
def statistic_reset_all(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Set every statistic back to zero."""
    for name in context.statistics.names():
        context.statistics.reset(name)
    return answer(0, "All statistics reset to neutral values.")


@command("statistic-remove")
def statistic_remove(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Forget one statistic."""
    name = _name(arguments)
    if not context.statistics.remove(name):
        raise CommandError(1, f"No '{name}' statistic found")
    return answer(0, f"Statistic '{name}' removed.")


@command("statistic-remove-all")
def statistic_remove_all(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Forget every statistic (deprecated in Kea 2.2, and it says so)."""
    for name in context.statistics.names():
        context.statistics.remove(name)
    return answer(0, "Warning: statistic-remove-all command is deprecated. All statistics removed.")


HANDLERS = (
    statistic_get, statistic_get_all, statistic_reset, statistic_reset_all,
    statistic_remove, statistic_remove_all,
)
