# -*- test-case-name: tests.test_commands_general -*-
"""
The commands every Kea daemon has: C{list-commands}, C{version-get},
C{build-report}, C{config-get}, C{config-test}, C{config-set},
C{config-write}, C{config-reload}, C{status-get} and C{shutdown}.

C{version-get} answers in Kea's shape with the Kea version we are
compatible with as C{text} (C{"2.2.0"}, so tools that read it pick Kea
2.2's command set) and says what we really are in C{extended}
(C{"2.2.0\\nkea-ha-tw 0.1.0\\n..."}).

Configuration commands go through L{kea_ha_tw.config.loader}; swapping the
running configuration goes through the context's reconfigure seam.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

import kea_ha_tw
from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import PositionedError, answer, kea_json_dumps, kea_json_pretty
from kea_ha_tw.commands.registry import CommandHandler, CommandRegistry, command
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.errors import CommandError, ConfigError
from kea_ha_tw.interfaces import ICommandHandler
from kea_ha_tw.loggers import Logger

#: The Kea release whose commands and answers we reproduce.
KEA_VERSION = "2.2.0"

_log = Logger()


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def extended_version() -> str:
    """C{version-get}'s C{extended} text: our version and what we are linked with."""
    return "\n".join([
        KEA_VERSION,
        f"kea-ha-tw {kea_ha_tw.__version__}",
        "linked with:",
        f"Python {platform.python_version()}",
        f"Twisted {_package_version('twisted')}",
        f"pyOpenSSL {_package_version('pyopenssl')}",
        "database:",
        "Memfile backend (Kea CSV lease file)",
    ])


def build_report() -> str:
    """C{build-report}'s text."""
    lines = [
        "kea-ha-tw build report",
        "",
        "Package:",
        "  Name:              kea-ha-tw",
        f"  Version:           {kea_ha_tw.__version__}",
        f"  Kea compatibility: {KEA_VERSION}",
        "",
        "Python:",
        f"  Implementation:    {platform.python_implementation()}",
        f"  Version:           {platform.python_version()}",
        "",
        "Libraries:",
    ]
    for name in ("twisted", "treq", "pyopenssl", "zope.interface", "service-identity"):
        lines.append(f"  {name + ':':<18} {_package_version(name)}")
    return "\n".join(lines) + "\n"


# -- configuration -----------------------------------------------------------------------


def config_element(config: ServerConfig) -> dict[str, Any]:
    """C{{"Dhcp4": {...}}} for C{config}, as C{config-get} returns it."""
    from kea_ha_tw.config.loader import config_to_element

    return {"Dhcp4": config_to_element(config)}


def _config_arguments(arguments: Any) -> dict[str, Any]:
    if arguments is None:
        raise CommandError(1, "Missing mandatory 'arguments' parameter.")
    if not isinstance(arguments, dict):
        raise PositionedError(
            "Error during command processing: get(string) called on a non-map Element in ({pos})")
    if "Dhcp4" not in arguments:
        raise CommandError(1, "Missing mandatory 'Dhcp4' parameter.")
    if not isinstance(arguments["Dhcp4"], dict):
        raise CommandError(1, "'Dhcp4' parameter expected to be a map.")
    for key in sorted(arguments):
        if key != "Dhcp4":
            raise CommandError(1, f"Unsupported '{key}' parameter.")
    return arguments


def parse_config_arguments(arguments: Any) -> ServerConfig:
    """
    The L{ServerConfig} described by C{config-test}/C{config-set} arguments.

    @raise CommandError: Kea's envelope texts, or the loader's C{path: reason}.
    """
    from kea_ha_tw.config.loader import parse_config

    document = {"Dhcp4": _config_arguments(arguments)["Dhcp4"]}
    try:
        return parse_config(kea_json_dumps(document), "<wire>")
    except ConfigError as e:
        raise CommandError(1, f"{e.path}: {e.message}") from None


def _applied(context: CommandContext, new_config: ServerConfig, failure_prefix: str) -> Deferred:
    def failed(failure: Failure) -> dict[str, Any]:
        if failure.check(ConfigError):
            return answer(1, f"{failure_prefix}{failure.value.path}: {failure.value.message}")
        if failure.check(CommandError):
            return answer(failure.value.result, failure_prefix + failure.value.text)
        _log.failure("reconfiguration failed", failure, msg_id="DHCP4_CONFIG_LOAD_FAIL")
        return answer(1, f"{failure_prefix}{failure.getErrorMessage()}")

    d = context.apply_config(new_config)
    d.addCallbacks(lambda _: answer(0, "Configuration successful."), failed)
    return d


@command("config-get")
def config_get(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """The running configuration (Kea's C{{"Dhcp4": {...}}}), no text."""
    return answer(0, arguments=config_element(context.config))


@command("config-test")
def config_test(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Check a configuration without applying it."""
    parse_config_arguments(arguments)
    return answer(0, "Configuration seems sane. Control-socket, hook-libraries, and D2 "
                     "configuration were sanity checked, but not applied.")


@command("config-set")
def config_set(arguments: Any, context: CommandContext) -> Deferred:
    """Check a configuration and put it in use."""
    return _applied(context, parse_config_arguments(arguments), "")


@command("config-reload")
def config_reload(arguments: Any, context: CommandContext) -> Deferred:
    """Read the configuration file again and put it in use."""
    from kea_ha_tw.config.loader import load_config

    path = context.config_path
    prefix = f"Config reload failed: configuration error using file '{path}': "
    if path is None:
        raise CommandError(1, "Config reload failed: the server was not started from a file")
    try:
        new_config = load_config(path)
    except ConfigError as e:
        raise CommandError(1, f"{prefix}{e.path}: {e.message}") from None
    except OSError:
        raise CommandError(1, f"{prefix}Unable to open file {path}") from None
    return _applied(context, new_config, prefix)


@command("config-write")
def config_write(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Write the running configuration to C{filename} (default: the file it came from)."""
    filename = None
    if arguments is not None:
        if not isinstance(arguments, dict):
            raise CommandError(1, "Argument must be a map")
        if "filename" in arguments:
            filename = arguments["filename"]
            if not isinstance(filename, str):
                raise CommandError(1, "passed parameter 'filename' is not a string")
    if not filename:
        filename = context.config_path
    if not filename:
        raise CommandError(1, "Unable to determine filename. Please specify valid filename "
                              "explicitly.")
    data = kea_json_pretty(config_element(context.config)).encode("utf-8")
    try:
        with open(filename, "wb") as f:
            f.write(data)
    except OSError:
        raise CommandError(
            1, f"Error during write-config:Unable to open file {filename} for writing") from None
    return answer(0, f"Configuration written to {filename} successful",
                  {"filename": filename, "size": len(data)})


# -- process ---------------------------------------------------------------------------------


@command("version-get")
def version_get(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Kea's shape: C{text} the Kea version we match, C{extended} what we are."""
    return answer(0, KEA_VERSION, {"extended": extended_version()})


@command("build-report")
def build_report_command(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """How this server was built, as text."""
    return answer(0, build_report())


@command("status-get")
def status_get(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """pid, uptime, reload, sockets, multi-threading-enabled (+ contributors); no text."""
    return answer(0, arguments=context.status_arguments())


@command("shutdown")
def shutdown(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Stop the server, with C{exit-value} (default 0)."""
    exit_value = 0
    if arguments is not None:
        if not isinstance(arguments, dict):
            raise CommandError(1, "Argument must be a map")
        if "exit-value" in arguments:
            exit_value = arguments["exit-value"]
            if not isinstance(exit_value, int) or isinstance(exit_value, bool):
                raise CommandError(1, "parameter 'exit-value' is not an integer")
    context.request_shutdown(exit_value)
    return answer(0, "Shutting down.")


def list_commands(registry: CommandRegistry) -> ICommandHandler:
    """C{list-commands} over C{registry}: every registered name, sorted, no text."""
    return CommandHandler("list-commands",
                          lambda arguments, context: answer(0, arguments=registry.names()))


def handlers(registry: CommandRegistry) -> list[ICommandHandler]:
    """The general commands; C{list-commands} reports what C{registry} holds."""
    return [
        list_commands(registry), version_get, build_report_command, config_get, config_test,
        config_set, config_reload, config_write, status_get, shutdown,
    ]
