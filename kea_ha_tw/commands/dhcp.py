# -*- test-case-name: tests.test_commands_dhcp -*-
"""
C{dhcp-disable} and C{dhcp-enable} against L{INetworkState}.

Kea 2.2 accepts C{origin} C{"user"} (the default) or C{"ha-partner"}; the
latter sets the same HA flag the local HA state machine uses. C{max-period}
(seconds, a positive integer) re-enables that origin by itself later.
Kea checks both arguments and reports every problem found, concatenated
without a separator; so do we. C{origin-id} (Kea 2.6+) is ignored, as
Kea 2.2 ignores it.
"""

from __future__ import annotations

from typing import Any

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import answer
from kea_ha_tw.commands.registry import command
from kea_ha_tw.errors import CommandError
from kea_ha_tw.network_state import ORIGIN_HA_PARTNER, ORIGIN_USER

_ORIGINS = {"user": ORIGIN_USER, "ha-partner": ORIGIN_HA_PARTNER}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(name: str, arguments: Any, with_period: bool) -> tuple[str, int | None]:
    if arguments is None:
        return ORIGIN_USER, None
    if not isinstance(arguments, dict):
        raise CommandError(1, f"arguments for the '{name}' command must be a map")
    errors = []
    max_period = None
    if with_period and "max-period" in arguments:
        value = arguments["max-period"]
        if not _is_int(value):
            errors.append("'max-period' argument must be a number")
        elif value <= 0:
            errors.append("'max-period' must be positive integer")
        else:
            max_period = value
    origin = ORIGIN_USER
    if "origin" in arguments:
        value = arguments["origin"]
        if not isinstance(value, str):
            errors.append("'origin' argument must be a string")
        elif value not in _ORIGINS:
            errors.append(f"invalid value used for 'origin' parameter: {value}")
        else:
            origin = _ORIGINS[value]
    if errors:
        raise CommandError(1, "".join(errors))
    return origin, max_period


@command("dhcp-disable")
def dhcp_disable(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Stop answering DHCP on behalf of C{origin}, optionally for C{max-period} seconds."""
    origin, max_period = _parse("dhcp-disable", arguments, with_period=True)
    context.network_state.disable(origin, max_period)
    if max_period is not None:
        return answer(0, f"DHCPv4 service disabled for {max_period} seconds")
    return answer(0, "DHCPv4 service disabled")


@command("dhcp-enable")
def dhcp_enable(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Clear C{origin}'s disable."""
    origin, _ = _parse("dhcp-enable", arguments, with_period=False)
    context.network_state.enable(origin)
    return answer(0, "DHCP service successfully enabled")


HANDLERS = (dhcp_disable, dhcp_enable)
