# -*- test-case-name: tests.test_config -*-
"""
The service sections of C{Dhcp4}: C{interfaces-config}, C{lease-database},
C{expired-leases-processing}, C{multi-threading}, C{control-socket} (Kea
2.2, unix), C{control-sockets} (Kea 3.0's HTTP(S) list, an extension) and
C{loggers}, with Kea's defaults, ranges and error texts.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from kea_ha_tw.config import keys
from kea_ha_tw.config.jsonc import join_path
from kea_ha_tw.config.model import (
    DEFAULT_LEASE_FILE,
    ClientCredentials,
    ControlSocketConfig,
    ExpiredLeasesConfig,
    LeaseDatabaseConfig,
    TLSConfig,
)
from kea_ha_tw.config.types import (
    UINT16_MAX,
    UINT32_MAX,
    check_type,
    get_bool,
    get_int,
    get_list,
    get_map,
    get_str,
    require,
)
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import LoggerConfig, OutputOption, severity_of

SOCKET_TYPES = ("raw", "udp")
OUTBOUND = ("same-as-inbound", "use-routing")
FSYNC_MODES = ("none", "always")


def parse_interfaces(m: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """C{interfaces-config}: interface names, socket type, outbound, re-detect."""
    if m is None:
        return {"interfaces": (), "dhcp_socket_type": "raw"}
    keys.check_keys(
        m, path, "interfaces-config", keys.INTERFACES_IMPLEMENTED, keys.INTERFACES_IGNORED
    )
    names = check_type(require(m, "interfaces", path), "list", join_path(path, "interfaces"))
    interfaces = []
    for i, name in enumerate(names):
        check_type(name, "string", join_path(join_path(path, "interfaces"), i))
        interfaces.append(name)
    sock = get_str(m, "dhcp-socket-type", path, "raw")
    if sock not in SOCKET_TYPES:
        raise ConfigError(join_path(path, "dhcp-socket-type"), f"'{sock}': expecting raw or udp")
    outbound = get_str(m, "outbound-interface", path, "same-as-inbound")
    if outbound not in OUTBOUND:
        raise ConfigError(
            join_path(path, "outbound-interface"),
            f"'{outbound}': expecting same-as-inbound or use-routing",
        )
    return {
        "interfaces": tuple(interfaces),
        "dhcp_socket_type": sock,
        "outbound_interface": outbound,
        "re_detect": get_bool(m, "re-detect", path, True),
    }


def _db_uint32(m: Mapping[str, Any], key: str, path: str, default: int) -> int:
    value = get_int(m, key, path, default, lo=-(2**63), hi=2**63)
    if not 0 <= value <= UINT32_MAX:
        raise ConfigError(
            join_path(path, key),
            f"{key} value: {value} is out of range, expected value: 0..{UINT32_MAX}",
        )
    return value


def parse_lease_database(m: Mapping[str, Any] | None, path: str) -> LeaseDatabaseConfig:
    """C{lease-database}: memfile only."""
    if m is None:
        return LeaseDatabaseConfig()
    keys.check_keys(m, path, "lease-database", keys.LEASE_DB_IMPLEMENTED, keys.LEASE_DB_IGNORED)
    db_type = require(m, "type", path)
    if db_type in ("mysql", "postgresql"):
        raise ConfigError(
            join_path(path, "type"),
            f"lease database type '{db_type}' is not supported by kea-ha-tw (only memfile)",
        )
    if db_type != "memfile":
        raise ConfigError(
            join_path(path, "type"), f"'{db_type}': expecting memfile or mysql or postgresql"
        )
    fsync = get_str(m, "fsync", path, "none")
    if fsync not in FSYNC_MODES:
        raise ConfigError(join_path(path, "fsync"), f"'{fsync}': expecting none or always")
    return LeaseDatabaseConfig(
        type="memfile",
        persist=get_bool(m, "persist", path, True),
        name=get_str(m, "name", path, DEFAULT_LEASE_FILE),
        lfc_interval=_db_uint32(m, "lfc-interval", path, 3600),
        max_row_errors=_db_uint32(m, "max-row-errors", path, 0),
        fsync=fsync,
    )


# key -> (maximum, default): CfgExpiration's LIMIT_* and DEFAULT_* in Kea 2.2.
_EXPIRED = {
    "reclaim-timer-wait-time": (UINT16_MAX, 10),
    "flush-reclaimed-timer-wait-time": (UINT16_MAX, 25),
    "hold-reclaimed-time": (UINT32_MAX, 3600),
    "max-reclaim-leases": (UINT32_MAX, 100),
    "max-reclaim-time": (10000, 250),
    "unwarned-reclaim-cycles": (UINT16_MAX, 5),
}


def parse_expired(m: Mapping[str, Any] | None, path: str) -> ExpiredLeasesConfig:
    """C{expired-leases-processing}."""
    if m is None:
        return ExpiredLeasesConfig()
    keys.check_keys(m, path, "expired-leases-processing", keys.EXPIRED_IMPLEMENTED)
    values = {}
    for key, (hi, default) in _EXPIRED.items():
        value = get_int(m, key, path, default, lo=-(2**63), hi=2**63)
        if value < 0:
            raise ConfigError(
                join_path(path, key),
                f"value for configuration parameter '{key}' must not be negative",
            )
        if value > hi:
            raise ConfigError(
                join_path(path, key),
                f"out range value '{value}' for configuration parameter "
                f"'{key}', expected maximum value of '{hi}'",
            )
        values[key.replace("-", "_")] = value
    return ExpiredLeasesConfig(**values)


def parse_multi_threading(m: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """C{Dhcp4.multi-threading} (Kea 2.2 defaults: off, 0 threads, queue 64)."""
    if m is None:
        return {"multi_threading_enabled": False}
    keys.check_keys(m, path, "multi-threading", keys.MULTI_THREADING_IMPLEMENTED)
    out = {"multi_threading_enabled": get_bool(m, "enable-multi-threading", path, False)}
    for key, msg, default in (
        ("thread-pool-size", "thread pool size code must not be negative", 0),
        ("packet-queue-size", "packet queue size code must not be negative", 64),
    ):
        value = get_int(m, key, path, default, lo=-(2**63), hi=UINT32_MAX)
        if value < 0:
            raise ConfigError(join_path(path, key), msg)
        out[key.replace("-", "_")] = value
    return out


def parse_control_socket(m: Mapping[str, Any] | None, path: str) -> tuple[ControlSocketConfig, ...]:
    """Kea 2.2's C{control-socket}: one unix socket."""
    if m is None:
        return ()
    keys.check_keys(m, path, "control-socket", keys.CONTROL_SOCKET_IMPLEMENTED)
    if "socket-type" not in m:
        raise ConfigError(
            join_path(path, "socket-type"), "Mandatory 'socket-type' parameter missing"
        )
    if m["socket-type"] != "unix":
        raise ConfigError(
            join_path(path, "socket-type"),
            f"Invalid 'socket-type' parameter value {m['socket-type']}",
        )
    if "socket-name" not in m:
        raise ConfigError(
            join_path(path, "socket-name"), "Mandatory 'socket-name' parameter missing"
        )
    return (ControlSocketConfig(socket_type="unix", socket_name=m["socket-name"]),)


def parse_control_sockets(entries: list[Any], path: str) -> tuple[ControlSocketConfig, ...]:
    """
    Kea 3.0's C{control-sockets} (an extension to 2.2): unix, http, https.
    A socket with TLS files is reported as C{"https"}.
    """
    out = []
    for i, m in enumerate(entries):
        p = join_path(path, i)
        check_type(m, "map", p)
        keys.check_keys(
            m, p, "control-sockets", keys.CONTROL_SOCKETS_IMPLEMENTED, keys.CONTROL_SOCKETS_IGNORED
        )
        stype = require(m, "socket-type", p)
        if stype == "unix":
            if "socket-name" not in m:
                raise ConfigError(
                    join_path(p, "socket-name"), "Mandatory 'socket-name' parameter missing"
                )
            out.append(ControlSocketConfig(socket_type="unix", socket_name=m["socket-name"]))
            continue
        if stype not in ("http", "https"):
            raise ConfigError(
                join_path(p, "socket-type"),
                f"unsupported 'socket-type' '{stype}' not 'http' or 'https'",
            )
        if "socket-name" in m:
            raise ConfigError(
                join_path(p, "socket-name"),
                f"parameter 'socket-name' is not supported by {stype.upper()} control sockets",
            )
        address = get_str(m, "socket-address", p, "127.0.0.1")
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise ConfigError(
                join_path(p, "socket-address"), f"failed to convert '{address}' to address"
            ) from None
        port = get_int(m, "socket-port", p, 8000, lo=-(2**63), hi=2**63)
        if not 0 <= port <= UINT16_MAX:
            raise ConfigError(
                join_path(p, "socket-port"),
                f"out of range value {port} specified for parameter 'socket-port'",
            )
        ca, cert, key = (get_str(m, k, p, "") for k in ("trust-anchor", "cert-file", "key-file"))
        tls = None
        if ca or cert or key:
            for value, label in ((ca, "trust-anchor"), (cert, "cert-file"), (key, "key-file")):
                if not value:
                    raise ConfigError(
                        p,
                        f"{label} parameter is missing or empty: all or "
                        "none of TLS parameters must be set",
                    )
            tls = TLSConfig(ca, cert, key, get_bool(m, "cert-required", p, True))
        elif stype == "https":
            raise ConfigError(p, "no TLS setup for a HTTPS control socket")
        realm, clients = _parse_auth(
            get_map(m, "authentication", p), join_path(p, "authentication")
        )
        out.append(
            ControlSocketConfig(
                socket_type="https" if tls else "http",
                socket_address=address,
                socket_port=port,
                tls=tls,
                auth_realm=realm,
                auth_clients=clients,
            )
        )
    return tuple(out)


def _parse_auth(
    m: Mapping[str, Any] | None, path: str
) -> tuple[str, tuple[ClientCredentials, ...]]:
    if m is None:
        return ControlSocketConfig.__dataclass_fields__["auth_realm"].default, ()
    keys.check_keys(m, path, "authentication", keys.AUTHENTICATION_IMPLEMENTED)
    auth_type = get_str(m, "type", path, "basic")
    if auth_type != "basic":
        raise ConfigError(
            join_path(path, "type"),
            f"only basic HTTP authentication is supported: type is '{auth_type}' not 'basic'",
        )
    realm = get_str(
        m, "realm", path, ControlSocketConfig.__dataclass_fields__["auth_realm"].default
    )
    directory = get_str(m, "directory", path, "")
    clients = []
    for i, c in enumerate(get_list(m, "clients", path)):
        cp = join_path(join_path(path, "clients"), i)
        check_type(c, "map", cp)
        keys.check_keys(c, cp, "clients", keys.AUTH_CLIENT_IMPLEMENTED)
        user = _secret(c, "user", cp, directory)
        if user is None:
            raise ConfigError(cp, "user is required in clients items")
        if ":" in user:
            raise ConfigError(join_path(cp, "user"), f"user '{user}' must not contain a ':'")
        password = _secret(c, "password", cp, directory)
        clients.append(ClientCredentials(user, password or ""))
    return realm, tuple(clients)


def _secret(c: Mapping[str, Any], key: str, path: str, directory: str) -> str | None:
    """C{key} or the content of C{key-file} (relative to C{directory})."""
    file_key = f"{key}-file"
    if key in c and file_key in c:
        raise ConfigError(path, f"{key} and {file_key} are mutually exclusive")
    if key in c:
        return c[key]
    if file_key in c:
        name = os.path.join(directory, c[file_key]) if directory else c[file_key]
        try:
            with open(name, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise ConfigError(
                join_path(path, file_key), f"can't open file '{name}': {e.strerror}"
            ) from None
    return None


def parse_loggers(entries: list[Any], path: str) -> tuple[LoggerConfig, ...]:
    """
    Kea 2.2's C{loggers} (C{LogConfigParser}): C{name} and C{severity} are
    mandatory, C{debuglevel} is 0-99, every C{output_options} entry needs
    an C{output}. An unknown severity is taken as C{INFO}, as Kea does.
    """
    out = []
    for i, m in enumerate(entries):
        p = join_path(path, i)
        check_type(m, "map", p)
        keys.check_keys(m, p, "loggers", keys.LOGGER_IMPLEMENTED)
        for key in ("name", "severity"):
            if key not in m:
                raise ConfigError(
                    join_path(p, key), f"loggers entry does not have a mandatory '{key}' element"
                )
        debuglevel = get_int(m, "debuglevel", p, 0, lo=-(2**63), hi=2**63 - 1)
        if not 0 <= debuglevel <= 99:
            raise ConfigError(
                join_path(p, "debuglevel"),
                f"Unsupported debuglevel value '{debuglevel}', expected 0-99",
            )
        options = []
        opath = join_path(p, "output_options")
        raw_options = get_list(m, "output_options", p)
        if "output_options" in m and not raw_options:
            raise ConfigError(opath, "output_options must hold at least one entry")
        for j, o in enumerate(raw_options):
            q = join_path(opath, j)
            check_type(o, "map", q)
            keys.check_keys(o, q, "output_options", keys.OUTPUT_OPTION_IMPLEMENTED)
            if "output" not in o:
                raise ConfigError(
                    join_path(q, "output"),
                    "output_options entry does not have a mandatory 'output' element",
                )
            options.append(OutputOption(
                output=o["output"], flush=get_bool(o, "flush", q, True),
                maxsize=get_int(o, "maxsize", q, 10240000, lo=0, hi=2**64 - 1),
                maxver=get_int(o, "maxver", q, 1, lo=-(2**31), hi=2**31 - 1),
                pattern=get_str(o, "pattern", q, "")))
        out.append(LoggerConfig(name=m["name"], severity=severity_of(m["severity"]),
                                debuglevel=debuglevel, output_options=tuple(options)))
    return tuple(out)
