# -*- test-case-name: tests.test_commands_ha -*-
"""
The HA hook's control commands, as thin handlers over L{HAService}:
C{ha-heartbeat}, C{ha-sync}, C{ha-scopes}, C{ha-continue},
C{ha-maintenance-start}, C{ha-maintenance-cancel}, C{ha-maintenance-notify},
C{ha-reset}, C{ha-sync-complete-notify}, and the C{high-availability} part
of C{status-get} (Kea's C{command_processed} callout).

The handlers check the arguments with Kea 2.2's texts (C{ha_impl.cc}) and
leave every decision to the service, whose methods return Kea answer maps.
Arguments newer Kea versions add (C{server-name} in C{ha-heartbeat},
C{ha-reset}, C{ha-maintenance-notify}; C{state}, C{origin-id}) are
accepted and ignored, as Kea 2.2 ignores them.

Deviations from Kea 2.2, on purpose:
 - C{ha-maintenance-notify} without arguments or without a boolean
   C{cancel}: Kea's callout throws and its listener answers HTTP 500; we
   answer result 1 with the text Kea logs. A Kea sender treats both as
   error 1.
 - C{ha-sync} fetches every page from C{server-name} (Kea 2.2 pages from
   the failover partner whatever C{server-name} says, fixed in 2.5.8);
   C{server-name} naming this server is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import maybeDeferred

from kea_ha_tw.commands.envelope import Command
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry
from kea_ha_tw.errors import CommandError
from kea_ha_tw.interfaces import ICommandHandler

#: The commands the HA hook registers.
HA_COMMANDS = (
    "ha-continue",
    "ha-heartbeat",
    "ha-maintenance-cancel",
    "ha-maintenance-notify",
    "ha-maintenance-start",
    "ha-reset",
    "ha-scopes",
    "ha-sync",
    "ha-sync-complete-notify",
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_sync_arguments(arguments: Any) -> tuple[str, int | None]:
    """
    C{ha-sync}'s C{server-name} and optional C{max-period}.

    @raise CommandError: with Kea 2.2's texts.
    """
    if arguments is None:
        raise CommandError(1, "arguments not found in the 'ha-sync' command")
    if not isinstance(arguments, dict):
        raise CommandError(1, "arguments in the 'ha-sync' command are not a map")
    if "server-name" not in arguments:
        raise CommandError(1, "'server-name' is mandatory for the 'ha-sync' command")
    server_name = arguments["server-name"]
    if not isinstance(server_name, str):
        raise CommandError(1, "'server-name' must be a string in the 'ha-sync' command")
    max_period = None
    if "max-period" in arguments:
        value = arguments["max-period"]
        if not _is_int(value) or value <= 0:
            raise CommandError(
                1, "'max-period' must be a positive integer in the 'ha-sync' command")
        max_period = value
    return server_name, max_period


def parse_scopes_arguments(arguments: Any) -> list[str]:
    """
    C{ha-scopes}'s C{scopes} list (may be empty).

    @raise CommandError: with Kea 2.2's texts.
    """
    if arguments is None:
        raise CommandError(1, "arguments not found in the 'ha-scopes' command")
    if not isinstance(arguments, dict):
        raise CommandError(1, "arguments in the 'ha-scopes' command are not a map")
    if "scopes" not in arguments:
        raise CommandError(1, "'scopes' is mandatory for the 'ha-scopes' command")
    scopes = arguments["scopes"]
    if not isinstance(scopes, list):
        raise CommandError(1, "'scopes' must be a list in the 'ha-scopes' command")
    for scope in scopes:
        if not isinstance(scope, str):
            raise CommandError(1, "scope name must be a string in the 'scopes' argument")
    return list(scopes)


def parse_maintenance_notify_arguments(arguments: Any) -> bool:
    """
    C{ha-maintenance-notify}'s C{cancel} flag.

    @raise CommandError: with the texts Kea 2.2 logs (it answers HTTP 500).
    """
    if arguments is None:
        raise CommandError(1, "no arguments specified for the 'ha-maintenance-notify' command")
    if not isinstance(arguments, dict):
        raise CommandError(
            1, "arguments specified for the 'ha-maintenance-notify' command are not a map")
    if not arguments:
        raise CommandError(
            1, "arguments must not be empty for the 'ha-maintenance-notify' command")
    if "cancel" not in arguments:
        raise CommandError(1, "'cancel' is mandatory for the 'ha-maintenance-notify' command")
    cancel = arguments["cancel"]
    if not isinstance(cancel, bool):
        raise CommandError(1, "'cancel' must be a boolean in the 'ha-maintenance-notify' command")
    return cancel


def build_ha_handlers(service: Any) -> list[ICommandHandler]:
    """The HA command handlers over C{service} (an L{HAService})."""

    def sync(arguments: Any, context: Any) -> Any:
        server_name, max_period = parse_sync_arguments(arguments)
        if server_name == service.ha.this_server_name:
            raise CommandError(
                1, f"'server-name' {server_name} is this server: ha-sync needs another peer")
        return maybeDeferred(service.synchronize, server_name, max_period)

    def scopes(arguments: Any, context: Any) -> Any:
        return service.set_scopes(parse_scopes_arguments(arguments))

    def maintenance_notify(arguments: Any, context: Any) -> Any:
        return service.maintenance_notify(parse_maintenance_notify_arguments(arguments))

    def ignoring(method: Callable[[], Any]) -> Callable[[Any, Any], Any]:
        return lambda arguments, context: method()

    return [
        CommandHandler("ha-continue", ignoring(service.continue_)),
        CommandHandler("ha-heartbeat", ignoring(service.heartbeat_answer)),
        CommandHandler("ha-maintenance-cancel", ignoring(service.maintenance_cancel)),
        CommandHandler("ha-maintenance-notify", maintenance_notify),
        CommandHandler("ha-maintenance-start", ignoring(service.maintenance_start)),
        CommandHandler("ha-reset", ignoring(service.reset)),
        CommandHandler("ha-scopes", scopes),
        CommandHandler("ha-sync", sync),
        CommandHandler("ha-sync-complete-notify", ignoring(service.sync_complete_notify)),
    ]


def status_get_hook(service: Any) -> Callable[[Command, dict], dict | None]:
    """
    Kea's C{command_processed} callout: put C{high-availability} into the
    arguments of a successful C{status-get} answer.
    """

    def hook(command: Command, result: dict) -> dict | None:
        if command.name != "status-get":
            return None
        arguments = result.get("arguments")
        if not isinstance(arguments, dict):
            return None
        extended = dict(arguments)
        extended["high-availability"] = service.status_section()
        return {**result, "arguments": extended}

    return hook


def register_ha_commands(registry: CommandRegistry, service: Any) -> None:
    """Register the HA commands and the status-get extension in C{registry}."""
    registry.register_all(build_ha_handlers(service))
    registry.add_processed_hook(status_get_hook(service))


__all__ = [
    "HA_COMMANDS",
    "build_ha_handlers",
    "parse_maintenance_notify_arguments",
    "parse_scopes_arguments",
    "parse_sync_arguments",
    "register_ha_commands",
    "status_get_hook",
]
