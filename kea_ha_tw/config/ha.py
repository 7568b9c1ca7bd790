# -*- test-case-name: tests.test_config -*-
"""
The C{libdhcp_ha.so} hook parameters (C{high-availability}) read the way
Kea 2.2's C{HAConfigParser::parse} and C{HAConfig::validate} read them, in
the same order, with Kea's error texts (see kea-ha-reference.md section 1).

Kea 2.2 checks these only when it loads the hook (a real start, not
C{kea-dhcp4 -t}); we check them at load and at C{--test}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


from kea_ha_tw.config.jsonc import join_path
from kea_ha_tw.config.model import (
    HAConfig,
    HAMultiThreadingConfig,
    PeerConfig,
    StatePauseConfig,
    TLSConfig,
)
from kea_ha_tw.config.types import (
    BOOL,
    HA_MODES,
    HA_ROLES,
    HA_STATES,
    INT,
    PAUSE_VALUES,
    STR,
    UINT16_MAX,
    UINT32_MAX,
    check_type,
    parse_peer_url,
)
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

_log = Logger(namespace="kea_ha_tw.config.ha")

# Kea 2.2's HA_CONFIG_DEFAULTS (ha_config_parser.cc); delayed-updates-limit
# is 100 for load-balancing (HA_CONFIG_LB_DEFAULTS).
HA_DEFAULTS: dict[str, Any] = {
    "delayed-updates-limit": 0,
    "heartbeat-delay": 10000,
    "max-ack-delay": 10000,
    "max-response-delay": 60000,
    "max-unacked-clients": 10,
    "require-client-certs": True,
    "restrict-commands": False,
    "send-lease-updates": True,
    "sync-leases": True,
    "sync-timeout": 60000,
    "sync-page-limit": 10000,
    "wait-backup-ack": False,
}
HA_LB_DEFAULTS: dict[str, Any] = {"delayed-updates-limit": 100}
HA_MT_DEFAULTS: dict[str, Any] = {
    "enable-multi-threading": False,
    "http-client-threads": 0,
    "http-dedicated-listener": False,
    "http-listener-threads": 0,
}
HA_PEER_DEFAULTS: dict[str, Any] = {"auto-failover": True}
HA_STATE_DEFAULTS: dict[str, Any] = {"pause": "never"}

# Our extension: send lease4-update (state 2) / lease4-del for leases this
# server reclaims, so partners and backups learn about expiry too.
EXT_REPLICATE_EXPIRED = "replicate-expired-leases"
# Our extension: coalesce lease updates waiting for a peer of ours into
# lease4-batch-update requests (a Kea peer is detected and gets singles).
EXT_BATCH_UPDATES = "batch-updates"
# Our extension: run the HA listener in a process of its own, which answers
# partners' lease4-update at once and hands the changes on in batches
# (kea_ha_tw.ha.listener_relay).
EXT_LISTENER_PROCESS = "listener-process"

# Keys the HA parser reads; any other key is ignored, as Kea 2.2 does.
HA_KNOWN_KEYS = frozenset(
    set(HA_DEFAULTS)
    | {EXT_REPLICATE_EXPIRED, EXT_BATCH_UPDATES, EXT_LISTENER_PROCESS}
    | {"this-server-name", "mode", "peers", "state-machine", "multi-threading"}
    | {"trust-anchor", "cert-file", "key-file"}
)
PEER_KNOWN_KEYS = frozenset(
    {"name", "url", "role", "auto-failover", "trust-anchor", "cert-file", "key-file"}
    | {"basic-auth-user", "basic-auth-password", "basic-auth-password-file"}
)

_UINT16 = ("heartbeat-delay", "max-response-delay", "max-ack-delay")
_UINT32 = ("sync-timeout", "sync-page-limit", "delayed-updates-limit", "max-unacked-clients")


def _get(m: Mapping[str, Any], key: str, path: str, expected: str, default: Any = None) -> Any:
    """Kea's SimpleParser getters: missing or mistyped parameters."""
    if key not in m:
        if default is None:
            raise ConfigError(join_path(path, key), f"missing parameter '{key}'")
        return default
    return check_type(m[key], expected, join_path(path, key))


def _get_uint(m: Mapping[str, Any], key: str, path: str, hi: int, default: int) -> int:
    value = _get(m, key, path, INT, default)
    if value < 0:
        raise ConfigError(join_path(path, key), f"'{key}' must not be negative")
    if value > hi:
        raise ConfigError(join_path(path, key), f"'{key}' must not be greater than {hi}")
    return value


def _tls(ca: str | None, cert: str | None, key: str | None) -> tuple[str | None, ...]:
    """Kea treats C{""} as unset."""
    return tuple(v if v else None for v in (ca, cert, key))


def parse_ha(parameters: Any, path: str, dhcp_mt_enabled: bool) -> HAConfig:
    """
    Parse a C{libdhcp_ha.so} entry's C{parameters}.

    @param path: the JSON path of C{parameters}.
    @param dhcp_mt_enabled: C{Dhcp4.multi-threading.enable-multi-threading};
        without it Kea switches HA multi-threading (and the dedicated
        listener) off, and so do we.
    @raise ConfigError: at the first rule broken, with Kea's text.
    """
    if not isinstance(parameters, dict) or "high-availability" not in parameters:
        raise ConfigError(
            path, "high-availability parameter not specified for High Availability hooks library"
        )
    rel_path = join_path(path, "high-availability")
    relationships = parameters["high-availability"]
    if not isinstance(relationships, list):
        raise ConfigError(rel_path, "HA configuration must be a list")
    if len(relationships) != 1:
        raise ConfigError(
            rel_path,
            "invalid number of configurations in the HA configuration list. "
            "Expected exactly one configuration",
        )
    p = join_path(rel_path, 0)
    c = relationships[0]
    if not isinstance(c, dict):
        raise ConfigError(p, "expected list of maps in the HA configuration")

    mode = _get(c, "mode", p, STR)
    if mode not in HA_MODES:
        raise ConfigError(join_path(p, "mode"), f"unsupported value '{mode}' for mode parameter")
    defaults = dict(HA_DEFAULTS, **(HA_LB_DEFAULTS if mode == "load-balancing" else {}))

    if "peers" not in c:
        raise ConfigError(join_path(p, "peers"), "'peers' parameter missing in HA configuration")
    peers = c["peers"]
    if not isinstance(peers, list):
        raise ConfigError(join_path(p, "peers"), "'peers' parameter must be a list")
    state_machine = c.get("state-machine")
    states: list[Any] = []
    if state_machine is not None:
        if not isinstance(state_machine, dict):
            raise ConfigError(
                join_path(p, "state-machine"), "'state-machine' parameter must be a map"
            )
        states = state_machine.get("states", [])
        if not isinstance(states, list):
            raise ConfigError(
                join_path(p, "state-machine.states"), "'states' parameter must be a list"
            )

    this_name = _get(c, "this-server-name", p, STR).strip()
    if not this_name:
        raise ConfigError(
            join_path(p, "this-server-name"), "'this-server-name' value must not be empty"
        )

    values: dict[str, Any] = {}
    for key in ("send-lease-updates", "sync-leases"):
        values[key] = _get(c, key, p, BOOL, defaults[key])
    for key in _UINT32:
        values[key] = _get_uint(c, key, p, UINT32_MAX, defaults[key])
    for key in _UINT16:
        values[key] = _get_uint(c, key, p, UINT16_MAX, defaults[key])
    values["wait-backup-ack"] = _get(c, "wait-backup-ack", p, BOOL, False)
    # Extension (Kea 2.2 ignores unknown HA keys): replicate reclaimed leases.
    values[EXT_REPLICATE_EXPIRED] = _get(c, EXT_REPLICATE_EXPIRED, p, BOOL, True)
    values[EXT_BATCH_UPDATES] = _get(c, EXT_BATCH_UPDATES, p, BOOL, True)
    values[EXT_LISTENER_PROCESS] = _get(c, EXT_LISTENER_PROCESS, p, BOOL, False)
    if values[EXT_LISTENER_PROCESS] and (mode == "passive-backup" or not values["sync-leases"]):
        # A lease update is acknowledged before it reaches the lease file;
        # the lease sync after a restart is what recovers one a crash lost.
        raise ConfigError(join_path(p, EXT_LISTENER_PROCESS),
                          "'listener-process' needs 'sync-leases' true and a hot-standby or "
                          "load-balancing mode: updates acknowledged but not yet written are "
                          "recovered only by the lease sync after a restart")

    mt_path = join_path(p, "multi-threading")
    mt = c.get("multi-threading", {})
    if not isinstance(mt, dict):
        raise ConfigError(mt_path, "multi-threading configuration must be a map")
    mt_enable = _get(mt, "enable-multi-threading", mt_path, BOOL, False)
    mt_listener = _get(mt, "http-dedicated-listener", mt_path, BOOL, False)
    mt_listener_threads = _get_uint(mt, "http-listener-threads", mt_path, UINT32_MAX, 0)
    mt_client_threads = _get_uint(mt, "http-client-threads", mt_path, UINT32_MAX, 0)

    g_ca, g_cert, g_key = _tls(
        *(_get(c, k, p, STR, "") for k in ("trust-anchor", "cert-file", "key-file"))
    )
    require_client_certs = _get(c, "require-client-certs", p, BOOL, True)
    restrict_commands = _get(c, "restrict-commands", p, BOOL, False)

    for key in sorted(set(c) - HA_KNOWN_KEYS):
        _log.info(
            "{path}: unknown HA parameter {key!r} ignored (Kea 2.2 ignores it too)",
            path=join_path(p, key),
            key=key,
            msg_id="KHT_HA_CONFIG_UNKNOWN_KEY",
        )

    parsed_peers = _parse_peers(peers, join_path(p, "peers"))
    pauses = _parse_states(states, join_path(p, "state-machine.states"))

    by_name = {peer["name"]: peer for peer in parsed_peers}
    if this_name not in by_name:
        raise ConfigError(
            join_path(p, "this-server-name"),
            f"no peer configuration specified for the '{this_name}'",
        )

    final_peers: dict[str, PeerConfig] = {}
    # Kea keeps peers in a map ordered by name and validates in that order.
    for name in sorted(by_name):
        raw = by_name[name]
        ppath = raw["path"]
        scheme, host, port = parse_peer_url(raw["url"], join_path(ppath, "url"), name)
        ca, cert, key = (
            raw[k] if raw[k] is not None else g
            for k, g in zip(("ca", "cert", "key"), (g_ca, g_cert, g_key), strict=True)
        )
        ca, cert, key = _tls(ca, cert, key)
        tls = None
        if ca or cert or key:
            for value, label in ((ca, "trust-anchor"), (cert, "cert-file"), (key, "key-file")):
                if not value:
                    raise ConfigError(
                        ppath,
                        f"bad TLS config for server {name}: {label} parameter is missing or "
                        "empty: all or none of TLS parameters must be set",
                    )
            for value in (ca, cert, key):
                if not os.access(value, os.R_OK):
                    raise ConfigError(
                        ppath, f"bad TLS config for server {name}: can't read file '{value}'"
                    )
            tls = TLSConfig(ca, cert, key, require_client_certs if name == this_name else True)
        elif scheme == "https":
            raise ConfigError(
                join_path(ppath, "url"),
                f"bad url '{raw['url']}': https scheme is not supported for server {name} "
                "where TLS is disabled",
            )
        final_peers[name] = PeerConfig(
            name=name,
            url=raw["url"],
            scheme=scheme,
            host=host,
            port=port,
            role=raw["role"],
            auto_failover=raw["auto-failover"],
            basic_auth_user=raw["user"],
            basic_auth_password=raw["password"],
            tls=tls,
        )

    _check_roles(mode, [final_peers[n] for n in sorted(final_peers)], values, p)

    if mt_enable and not dhcp_mt_enabled:
        _log.info(
            "HA multi-threading has been disabled, it cannot be enabled when Kea global "
            "multi-threading is disabled",
            msg_id="HA_CONFIG_DHCP_MT_DISABLED",
        )
        mt_enable = False
    return HAConfig(
        this_server_name=this_name,
        mode=mode,
        # In configuration order, as written.
        peers=tuple(final_peers[peer["name"]] for peer in parsed_peers),
        heartbeat_delay_ms=values["heartbeat-delay"],
        max_response_delay_ms=values["max-response-delay"],
        max_ack_delay_ms=values["max-ack-delay"],
        max_unacked_clients=values["max-unacked-clients"],
        delayed_updates_limit=values["delayed-updates-limit"],
        send_lease_updates=values["send-lease-updates"],
        sync_leases=values["sync-leases"],
        sync_timeout_ms=values["sync-timeout"],
        sync_page_limit=values["sync-page-limit"],
        wait_backup_ack=values["wait-backup-ack"],
        replicate_expired_leases=values[EXT_REPLICATE_EXPIRED],
        batch_updates=values[EXT_BATCH_UPDATES],
        listener_process=values[EXT_LISTENER_PROCESS],
        require_client_certs=require_client_certs,
        restrict_commands=restrict_commands,
        tls=TLSConfig(g_ca, g_cert, g_key, require_client_certs)
        if (g_ca or g_cert or g_key)
        else None,
        multi_threading=HAMultiThreadingConfig(
            enable_multi_threading=mt_enable,
            http_dedicated_listener=mt_listener,
            http_listener_threads=mt_listener_threads,
            http_client_threads=mt_client_threads,
        ),
        state_machine=pauses,
    )


def _parse_peers(peers: list[Any], path: str) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for i, peer in enumerate(peers):
        ppath = join_path(path, i)
        if not isinstance(peer, dict):
            raise ConfigError(ppath, "peer configuration must be a map")
        raw_name = _get(peer, "name", ppath, STR)
        name = raw_name.strip()
        # Kea 2.2 compares untrimmed names here; we compare trimmed ones, so
        # "server1" and " server1" cannot both be configured.
        if name in seen:
            raise ConfigError(
                join_path(ppath, "name"), f"peer with name '{name}' already specified"
            )
        if not name:
            raise ConfigError(join_path(ppath, "name"), "peer name must not be empty")
        seen.add(name)
        url = _get(peer, "url", ppath, STR)
        tls = {
            k: _get(peer, label, ppath, STR, "") if label in peer else None
            for k, label in (("ca", "trust-anchor"), ("cert", "cert-file"), ("key", "key-file"))
        }
        role = _get(peer, "role", ppath, STR)
        if role not in HA_ROLES:
            raise ConfigError(
                join_path(ppath, "role"), f"unsupported value '{role}' for role parameter"
            )
        auto_failover = _get(peer, "auto-failover", ppath, BOOL, True)
        password = ""
        if "basic-auth-password" in peer:
            if "basic-auth-password-file" in peer:
                raise ConfigError(
                    ppath,
                    "only one of basic-auth-password and basic-auth-password-file parameter "
                    f"can be configured in peer '{name}'",
                )
            password = _get(peer, "basic-auth-password", ppath, STR)
        if "basic-auth-password-file" in peer:
            password_file = _get(peer, "basic-auth-password-file", ppath, STR)
            password = _read_file(password_file, join_path(ppath, "basic-auth-password-file"), name)
        user = None
        if "basic-auth-user" in peer:
            user = _get(peer, "basic-auth-user", ppath, STR) or None
            if user is not None and ":" in user:
                raise ConfigError(
                    join_path(ppath, "basic-auth-user"),
                    f"user '{user}' must not contain a ':' in peer '{name}'",
                )
        for key in sorted(set(peer) - PEER_KNOWN_KEYS):
            _log.info(
                "{path}: unknown HA peer parameter {key!r} ignored (Kea 2.2 ignores it too)",
                path=join_path(ppath, key),
                key=key,
                msg_id="KHT_HA_CONFIG_UNKNOWN_KEY",
            )
        out.append(
            dict(
                path=ppath,
                name=name,
                url=url,
                role=role,
                user=user,
                password=password,
                **{"auto-failover": auto_failover},
                **tls,
            )
        )
    return out


def _read_file(file_name: str, path: str, peer: str) -> str:
    """Kea's C{util::file::getContent}: the whole file, as is."""
    try:
        if not os.path.isfile(file_name):
            if os.path.exists(file_name):
                raise ConfigError(
                    path,
                    f"bad password file in peer '{peer}': '{file_name}' must be a regular file",
                )
            raise FileNotFoundError(2, "No such file or directory")
        with open(file_name, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(
            path, f"bad password file in peer '{peer}': can't open file '{file_name}': {e.strerror}"
        ) from None


def _parse_states(states: list[Any], path: str) -> tuple[StatePauseConfig, ...]:
    seen: set[str] = set()
    out = []
    for i, s in enumerate(states):
        spath = join_path(path, i)
        if not isinstance(s, dict):
            raise ConfigError(spath, "state configuration must be a map")
        name = _get(s, "state", spath, STR)
        if name not in HA_STATES:
            raise ConfigError(join_path(spath, "state"), f"unknown state {name}")
        if name in seen:
            raise ConfigError(spath, f"duplicated configuration for the '{name}' state")
        seen.add(name)
        pause = _get(s, "pause", spath, STR, "never")
        if pause not in PAUSE_VALUES:
            raise ConfigError(
                join_path(spath, "pause"), f"unsupported value {pause} of 'pause' parameter"
            )
        out.append(StatePauseConfig(name, pause))
    return tuple(out)


def _check_roles(mode: str, peers: list[PeerConfig], values: Mapping[str, Any], p: str) -> None:
    """Kea's role-count and per-mode rules (HAConfig::validate)."""
    counts = {role: sum(1 for x in peers if x.role == role) for role in HA_ROLES}
    ppath = join_path(p, "peers")
    for role in ("primary", "secondary", "standby"):
        if counts[role] > 1:
            raise ConfigError(ppath, f"multiple {role} servers specified")
    words = {
        "load-balancing": "load balancing",
        "hot-standby": "hot standby",
        "passive-backup": "passive backup",
    }[mode]
    required = {
        "load-balancing": ("secondary", "primary"),
        "hot-standby": ("standby", "primary"),
        "passive-backup": ("primary",),
    }[mode]
    forbidden = {
        "load-balancing": ("standby",),
        "hot-standby": ("secondary",),
        "passive-backup": ("secondary", "standby"),
    }[mode]
    for role in forbidden:
        if counts[role]:
            raise ConfigError(ppath, f"{role} servers not allowed in the {words} configuration")
    for role in required:
        if not counts[role]:
            raise ConfigError(ppath, f"{role} server required in the {words} configuration")
    if mode != "passive-backup" and values["wait-backup-ack"]:
        raise ConfigError(
            join_path(p, "wait-backup-ack"),
            f"'wait-backup-ack' must be set to false in the {words} configuration",
        )
    if mode != "load-balancing" and values["delayed-updates-limit"] > 0:
        raise ConfigError(
            join_path(p, "delayed-updates-limit"),
            f"'delayed-updates-limit' must be set to 0 in the {words} configuration",
        )
