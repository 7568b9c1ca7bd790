# -*- test-case-name: tests.test_config -*-
"""
Read a Kea-style configuration file into L{ServerConfig}.

The file holds C{{"Dhcp4": {...}}}, read as Kea 2.2 reads it (comments,
one extraneous comma tolerated with a warning, duplicate keys refused),
and validated like Kea: keys Kea refuses are refused with Kea's words;
keys Kea accepts that kea-ha-tw does not implement are accepted, logged
and kept in C{raw} (the lists are in L{kea_ha_tw.config.keys}); the HA
hook parameters follow L{kea_ha_tw.config.ha}.

Every error is a L{ConfigError} whose C{path} is the JSON path of the
offending value, e.g.
C{Dhcp4.hooks-libraries[1].parameters.high-availability[0].peers[1].url}.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from kea_ha_tw.config import keys, sections
from kea_ha_tw.config.ha import (
    HA_DEFAULTS,
    HA_LB_DEFAULTS,
    HA_MT_DEFAULTS,
    HA_PEER_DEFAULTS,
    HA_STATE_DEFAULTS,
    parse_ha,
)
from kea_ha_tw.config.jsonc import JSONCError, join_path, loads
from kea_ha_tw.config.model import HAConfig, HookLibraryConfig, ServerConfig
from kea_ha_tw.config.subnets import (
    check_lifetimes,
    parse_network_fields,
    parse_option_data,
    parse_subnets,
)
from kea_ha_tw.config.types import (
    check_type,
    get_bool,
    get_int,
    get_list,
    get_map,
    get_str,
    require,
)
from kea_ha_tw.dhcp.option_defs import (
    DATA_TYPES,
    OptionDataError,
    OptionDefinition,
    get_definition,
    make_definition,
)
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

__all__ = [
    "load_config",
    "parse_config",
    "config_to_element",
    "IMPLEMENTED_DHCP4_KEYS",
    "IGNORED_DHCP4_KEYS",
]

_log = Logger(namespace="kea_ha_tw.config")

# The Dhcp4 keys kea-ha-tw implements, and the Kea 2.2 keys it accepts and
# ignores (with their JSON types); see kea_ha_tw.config.keys for every map.
IMPLEMENTED_DHCP4_KEYS = keys.DHCP4_IMPLEMENTED
IGNORED_DHCP4_KEYS = keys.DHCP4_IGNORED


def load_config(path: str) -> ServerConfig:
    """
    Read and validate the configuration file at C{path}.

    @raise ConfigError: the configuration is invalid.
    @raise OSError: the file cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_config(text, source=path)


def parse_config(text: str, source: str = "<string>") -> ServerConfig:
    """
    Parse and validate a configuration given as text.

    @param source: the file name, used in positions of syntax errors
        (C{ConfigError.path} is then C{"<source>:<line>.<column>"}).
    @raise ConfigError: the configuration is invalid.
    """
    try:
        document, warnings = loads(text)
    except JSONCError as e:
        raise ConfigError(f"{source}:{e.line}.{e.column}", e.reason) from None
    for w in warnings:
        _log.warn(
            "configuration syntax warning: {source}:{line}.{column}: {message}",
            source=source,
            line=w.line,
            column=w.column,
            message=w.message,
            msg_id="DHCP4_CONFIG_SYNTAX_WARNING",
        )
    if not isinstance(document, dict) or "Dhcp4" not in document:
        raise ConfigError("Dhcp4", "missing 'Dhcp4' map at the top level")
    for key in document:
        if key != "Dhcp4":
            # Kea 2.2 itself refuses any top-level key but Dhcp4.
            _log.warn(
                "top-level map {key!r} ignored: only Dhcp4 is read",
                key=key,
                msg_id="KHT_CONFIG_KEY_IGNORED",
            )
    return _parse_dhcp4(check_type(document["Dhcp4"], "map", "Dhcp4"))


def _parse_dhcp4(d4: dict[str, Any]) -> ServerConfig:
    path = "Dhcp4"
    keys.check_keys(d4, path, "Dhcp4", keys.DHCP4_IMPLEMENTED, keys.DHCP4_IGNORED)
    custom = _parse_option_defs(get_list(d4, "option-def", path), join_path(path, "option-def"))

    fields = parse_network_fields(d4, path)
    own = {k: v for k, v in fields.items() if v is not None}
    scope = {"valid-lifetime": 7200, **own}
    check_lifetimes({k: v for k, v in scope.items() if k.endswith("lifetime")}, path, own)

    mt = sections.parse_multi_threading(
        get_map(d4, "multi-threading", path), join_path(path, "multi-threading")
    )
    hooks, ha = _parse_hooks(
        get_list(d4, "hooks-libraries", path),
        join_path(path, "hooks-libraries"),
        mt["multi_threading_enabled"],
    )
    sockets = sections.parse_control_socket(
        get_map(d4, "control-socket", path), join_path(path, "control-socket")
    )
    sockets += sections.parse_control_sockets(
        get_list(d4, "control-sockets", path), join_path(path, "control-sockets")
    )
    decline = get_int(d4, "decline-probation-period", path, 86400, lo=-(2**63))
    if decline < 0:
        raise ConfigError(
            join_path(path, "decline-probation-period"),
            f"out of range value ({decline}) specified for parameter 'decline-probation-period'",
        )
    # Kea 2.2 takes any JSON integer and applies it as a uint32_t.
    parked = get_int(d4, "parked-packet-limit", path, 256, lo=-(2**63), hi=2**63 - 1)
    optional = {
        key: fields[kea]
        for key, kea in (
            ("valid_lifetime", "valid-lifetime"),
            ("calculate_tee_times", "calculate-tee-times"),
            ("t1_percent", "t1-percent"),
            ("t2_percent", "t2-percent"),
            ("match_client_id", "match-client-id"),
            ("authoritative", "authoritative"),
            ("next_server", "next-server"),
            ("server_hostname", "server-hostname"),
            ("boot_file_name", "boot-file-name"),
        )
        if fields.get(kea) is not None
    }
    return ServerConfig(
        subnets=parse_subnets(
            get_list(d4, "subnet4", path), join_path(path, "subnet4"), own, custom
        ),
        lease_database=sections.parse_lease_database(
            get_map(d4, "lease-database", path), join_path(path, "lease-database")
        ),
        min_valid_lifetime=fields["min-valid-lifetime"],
        max_valid_lifetime=fields["max-valid-lifetime"],
        renew_timer=fields["renew-timer"],
        rebind_timer=fields["rebind-timer"],
        echo_client_id=get_bool(d4, "echo-client-id", path, True),
        decline_probation_period=decline,
        parked_packet_limit=parked & 0xFFFFFFFF,
        option_data=parse_option_data(
            get_list(d4, "option-data", path), join_path(path, "option-data"), custom
        ),
        expired_leases=sections.parse_expired(
            get_map(d4, "expired-leases-processing", path),
            join_path(path, "expired-leases-processing"),
        ),
        control_sockets=sockets,
        hooks=hooks,
        ha=ha,
        server_tag=get_str(d4, "server-tag", path, ""),
        loggers=sections.parse_loggers(get_list(d4, "loggers", path), join_path(path, "loggers")),
        raw=d4,
        **optional,
        **mt,
        **sections.parse_interfaces(
            get_map(d4, "interfaces-config", path), join_path(path, "interfaces-config")
        ),
    )


def _parse_option_defs(entries: list[Any], path: str) -> tuple[OptionDefinition, ...]:
    """
    C{option-def}: custom definitions in the C{dhcp4} space, without
    encapsulation (other spaces and encapsulation are refused).
    """
    out: list[OptionDefinition] = []
    for i, d in enumerate(entries):
        p = join_path(path, i)
        check_type(d, "map", p)
        keys.check_keys(d, p, "option-def", keys.OPTION_DEF_IMPLEMENTED)
        name = require(d, "name", p)
        code = require(d, "code", p)
        type_ = require(d, "type", p)
        space = get_str(d, "space", p, "dhcp4")
        if code < 0:
            raise ConfigError(join_path(p, "code"), "option code must not be negative")
        if code > 255:
            raise ConfigError(
                join_path(p, "code"),
                f"invalid option code '{code}', it must not be greater than '255'",
            )
        if space != "dhcp4":
            raise ConfigError(
                join_path(p, "space"),
                f"option definitions in space '{space}' are not supported by kea-ha-tw",
            )
        if code in (0, 255):
            raise ConfigError(
                join_path(p, "code"),
                f"invalid option code '{code}': reserved for {'PAD' if code == 0 else 'END'}",
            )
        if get_str(d, "encapsulate", p, ""):
            raise ConfigError(
                join_path(p, "encapsulate"), "option encapsulation is not supported by kea-ha-tw"
            )
        if type_ not in DATA_TYPES:
            raise ConfigError(join_path(p, "type"), f"option type {type_} not supported.")
        try:
            definition = make_definition(
                name,
                code,
                type_,
                bool(get_bool(d, "array", p, False)),
                get_str(d, "record-types", p, ""),
            )
        except OptionDataError as e:
            raise ConfigError(p, str(e)) from None
        for other in out:
            if other.code == code:
                raise ConfigError(
                    p,
                    f"option definition with code '{code}' already exists in option space 'dhcp4'",
                )
            if other.name == name:
                raise ConfigError(
                    p,
                    f"option definition with name '{name}' already exists in option space 'dhcp4'",
                )
        for std in (get_definition(code=code), get_definition(name=name)):
            # A definition Kea 2.2 lacks (e.g. 121) may be given by the user.
            if std is not None and std.kea22:
                which = code if std.code == code else name
                raise ConfigError(
                    p,
                    f"unable to override definition of option '{which}' "
                    "in standard option space 'dhcp4'",
                )
        out.append(definition)
    return tuple(out)


def _parse_hooks(
    entries: list[Any], path: str, dhcp_mt: bool
) -> tuple[tuple[HookLibraryConfig, ...], HAConfig | None]:
    hooks: list[HookLibraryConfig] = []
    ha = None
    kinds: dict[str, int] = {}
    for i, entry in enumerate(entries):
        p = join_path(path, i)
        check_type(entry, "map", p)
        keys.check_keys(entry, p, "hooks-libraries", keys.HOOK_IMPLEMENTED)
        library = require(entry, "library", p)
        if not library.strip():
            raise ConfigError(
                join_path(p, "library"), "value of 'library' element must not be blank"
            )
        base = os.path.basename(library)
        kind = keys.SUPPORTED_HOOKS.get(base)
        if kind is None:
            raise ConfigError(
                join_path(p, "library"),
                f"hook library '{library}' is not supported by kea-ha-tw; supported: "
                + ", ".join(sorted(keys.SUPPORTED_HOOKS)),
            )
        if kind in kinds:
            raise ConfigError(join_path(p, "library"), f"{base} is listed more than once")
        kinds[kind] = i
        parameters = entry.get("parameters", {})
        if kind == "ha":
            ha = parse_ha(entry.get("parameters"), join_path(p, "parameters"), dhcp_mt)
        hooks.append(HookLibraryConfig(library=library, kind=kind, parameters=parameters))
    if "ha" in kinds and "lease_cmds" not in kinds:
        # Kea 2.2 starts without it, but then every lease4-update from the
        # partner fails; kea-ha-tw insists on the pair.
        raise ConfigError(
            path,
            "libdhcp_ha.so requires libdhcp_lease_cmds.so: the partner's lease4-update, "
            "lease4-del and lease4-get-page commands need it",
        )
    return tuple(hooks), ha


def config_to_element(config: ServerConfig) -> dict[str, Any]:
    """
    The C{Dhcp4} map for C{config-get}: the map as read, with the HA
    hook's defaults filled in as Kea's C{config-get} shows them
    (C{delayed-updates-limit}, C{require-client-certs}, C{restrict-commands},
    C{sync-*}, C{wait-backup-ack}, the full C{multi-threading} map,
    C{auto-failover} per peer, C{pause} per state) and the subnet ids
    that were assigned automatically.
    """
    d4 = copy.deepcopy(dict(config.raw))
    for raw, subnet in zip(d4.get("subnet4", []), config.subnets, strict=True):
        if not raw.get("id"):
            raw["id"] = subnet.id
    for entry in d4.get("hooks-libraries", []):
        if os.path.basename(entry.get("library", "")) != "libdhcp_ha.so" or config.ha is None:
            continue
        c = entry["parameters"]["high-availability"][0]
        defaults = dict(
            HA_DEFAULTS, **(HA_LB_DEFAULTS if config.ha.mode == "load-balancing" else {})
        )
        for key, value in defaults.items():
            c.setdefault(key, value)
        mt = c.setdefault("multi-threading", {})
        for key, value in HA_MT_DEFAULTS.items():
            mt.setdefault(key, value)
        for peer in c.get("peers", []):
            for key, value in HA_PEER_DEFAULTS.items():
                peer.setdefault(key, value)
        for state in c.get("state-machine", {}).get("states", []):
            for key, value in HA_STATE_DEFAULTS.items():
                state.setdefault(key, value)
    return d4
