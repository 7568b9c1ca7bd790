# -*- test-case-name: tests.test_config -*-
"""
One small parser per Kea value type, each raising L{ConfigError} with the
JSON path of the offending value.

Kea's configuration grammar types every key (an integer where an integer
belongs, a string where a string belongs); these helpers do the same after
the JSON is read. Pure module: no Twisted, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network
from collections.abc import Mapping
from typing import Any

from kea_ha_tw.config.jsonc import join_path
from kea_ha_tw.errors import ConfigError

UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1

# Type tags used by the key tables (kea_ha_tw.config.keys).
INT, BOOL, STR, REAL, MAP, LIST, ANY = "integer", "boolean", "string", "real", "map", "list", "any"

_PY_TYPES = {
    INT: (int,),
    BOOL: (bool,),
    STR: (str,),
    REAL: (float,),
    MAP: (dict,),
    LIST: (list,),
}

# Kea's HA state names (ha_service_states.cc stringToState).
HA_STATES = (
    "backup",
    "communication-recovery",
    "hot-standby",
    "load-balancing",
    "in-maintenance",
    "partner-down",
    "partner-in-maintenance",
    "passive-backup",
    "ready",
    "syncing",
    "terminated",
    "waiting",
    "unavailable",
)
HA_MODES = ("load-balancing", "hot-standby", "passive-backup")
HA_ROLES = ("primary", "secondary", "standby", "backup")
PAUSE_VALUES = ("always", "never", "once")


def json_type_name(value: Any) -> str:
    """Kea's word for the JSON type of C{value}."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return REAL
    if isinstance(value, str):
        return STR
    if isinstance(value, dict):
        return MAP
    if isinstance(value, list):
        return LIST
    return "null"


def check_type(value: Any, expected: str, path: str) -> Any:
    """Return C{value} if its JSON type is C{expected}, else raise."""
    if expected == ANY:
        return value
    ok = isinstance(value, _PY_TYPES[expected])
    if expected == INT and isinstance(value, bool):
        ok = False
    if not ok:
        raise ConfigError(
            path,
            f"invalid type specified for parameter '{path.rsplit('.', 1)[-1]}': "
            f"expected {expected}, got {json_type_name(value)}",
        )
    return value


def require(m: Mapping[str, Any], key: str, path: str) -> Any:
    """C{m[key]}, or "missing parameter" at C{path}."""
    if key not in m:
        raise ConfigError(join_path(path, key), f"missing parameter '{key}'")
    return m[key]


def get_typed(m: Mapping[str, Any], key: str, path: str, expected: str, default: Any = None) -> Any:
    """C{m[key]} checked to be of JSON type C{expected}; C{default} if absent."""
    if key not in m:
        return default
    return check_type(m[key], expected, join_path(path, key))


def get_int(
    m: Mapping[str, Any],
    key: str,
    path: str,
    default: int | None = None,
    lo: int = 0,
    hi: int = UINT32_MAX,
) -> int | None:
    """An integer within C{lo}..C{hi} (Kea's wording for the range errors)."""
    value = get_typed(m, key, path, INT, default)
    if key in m:
        p = join_path(path, key)
        if value < lo:
            if lo == 0:
                raise ConfigError(p, f"'{key}' must not be negative")
            raise ConfigError(p, f"'{key}' must not be less than {lo}")
        if value > hi:
            raise ConfigError(p, f"'{key}' must not be greater than {hi}")
    return value


def get_bool(m: Mapping[str, Any], key: str, path: str, default: bool | None = None) -> bool | None:
    """A JSON boolean."""
    return get_typed(m, key, path, BOOL, default)


def get_str(m: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str | None:
    """A JSON string."""
    return get_typed(m, key, path, STR, default)


def get_real(
    m: Mapping[str, Any], key: str, path: str, default: float | None = None
) -> float | None:
    """A JSON floating-point number (Kea's grammar refuses an integer here)."""
    return get_typed(m, key, path, REAL, default)


def get_map(m: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    """A JSON map, or C{None} when absent."""
    return get_typed(m, key, path, MAP, None)


def get_list(m: Mapping[str, Any], key: str, path: str) -> list[Any]:
    """A JSON list, or C{[]} when absent."""
    return get_typed(m, key, path, LIST, [])


def parse_ipv4(text: str, path: str) -> IPv4Address:
    """A literal IPv4 address."""
    try:
        return IPv4Address(text.strip())
    except ValueError:
        raise ConfigError(path, f"address {text} is not a valid IPv4 address") from None


def parse_subnet(text: str, path: str) -> IPv4Network:
    """C{subnet4[].subnet}: "prefix/len" with Kea's error texts."""
    if "/" not in text:
        raise ConfigError(path, f"Invalid subnet syntax (prefix/len expected):{text}")
    addr, _, plen = text.partition("/")
    try:
        ipaddress.ip_address(addr.strip())
    except ValueError:
        raise ConfigError(
            path, f"Failed to convert string to address '{addr}': Invalid argument"
        ) from None
    if ":" in addr:
        raise ConfigError(path, f"Non IPv4 prefix {addr} specified in subnet4")
    if not plen.strip().isdigit() or int(plen) > 32:
        raise ConfigError(path, f"Invalid prefix length specified for subnet: {plen}")
    return IPv4Network(f"{addr.strip()}/{int(plen)}", strict=False)


def parse_pool(text: str, path: str) -> tuple[IPv4Address, IPv4Address]:
    """C{pools[].pool}: "first - last" or "prefix/len"."""
    if "/" in text:
        addr, _, plen = text.partition("/")
        try:
            net = IPv4Network(f"{addr.strip()}/{int(plen.strip())}", strict=False)
        except ValueError:
            raise ConfigError(path, f"Failed to create pool defined by: {text}") from None
        return net.network_address, net.broadcast_address
    if "-" in text:
        first, _, last = text.partition("-")
        try:
            start, end = IPv4Address(first.strip()), IPv4Address(last.strip())
        except ValueError:
            raise ConfigError(path, f"Failed to create pool defined by: {text}") from None
        if start > end:
            raise ConfigError(path, f"Failed to create pool defined by: {text}")
        return start, end
    raise ConfigError(
        path,
        f"invalid pool definition: {text}. There are two acceptable formats "
        "<min address-max address> or <prefix/len>",
    )


_HEXDIGITS = re.compile(r"[0-9a-fA-F]+")


def parse_identifier(text: str, path: str, quoted_ok: bool) -> bytes:
    """
    A host identifier (C{hw-address}, C{client-id}) as Kea reads it:
    hex octets separated by C{:} or spaces (one or two digits each), or
    plain hex with an optional C{0x}; for a client-id also C{'text'}.
    """
    t = text.strip()
    if not t:
        raise ConfigError(path, "empty host identifier used")
    if quoted_ok and len(t) > 1 and t[0] == t[-1] == "'":
        inner = t[1:-1]
        if inner:
            return inner.encode("utf-8")
    bad = ConfigError(path, f"invalid host identifier value '{text}'")
    for sep in (":", " "):
        if sep in t:
            parts = t.split(sep)
            if any(not p or len(p) > 2 or not _HEXDIGITS.fullmatch(p) for p in parts):
                raise bad
            return bytes(int(p, 16) for p in parts)
    digits = t[2:] if t.startswith("0x") else t
    if not _HEXDIGITS.fullmatch(digits):
        raise bad
    if len(digits) % 2:
        digits = "0" + digits
    return bytes.fromhex(digits)


def parse_peer_url(url: str, path: str, server: str) -> tuple[str, str, int]:
    """
    A peer C{url} as Kea 2.2's C{http::Url} plus C{HAConfig::validate} read it.

    @return: C{(scheme, host, port)}: the host is the literal address
        (IPv6 without brackets) and the port the scheme's default when
        omitted. The path is ignored: Kea always POSTs to C{/}.
    """

    def invalid(reason: str) -> ConfigError:
        return ConfigError(path, f"invalid URL: {reason} for server {server}")

    colon = url.find(":")
    if colon <= 0:
        raise invalid(f"url {url} lacks http or https scheme")
    scheme = url[:colon]
    if scheme not in ("http", "https"):
        raise invalid(f"invalid scheme {scheme} in {url}")
    if url[colon : colon + 3] != "://":
        raise invalid(f"expected :// after scheme in {url}")
    rest = url[colon + 3 :]
    if not rest:
        raise invalid(f"hostname missing in {url}")
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise invalid(f"expected ] after IPv6 address in {url}")
        if close == 1:
            raise invalid(f"expected IPv6 address within [] in {url}")
        host, rest = rest[1:close], rest[close + 1 :]
    else:
        end = min([i for i in (rest.find(":"), rest.find("/")) if i >= 0] or [len(rest)])
        host, rest = rest[:end], rest[end:]
    port = 443 if scheme == "https" else 80
    if rest.startswith(":"):
        port_text = rest[1:].split("/", 1)[0]
        if not port_text.isdigit():
            raise invalid(f"invalid port number {port_text} in {url}")
        port = int(port_text)
        if not 0 < port <= UINT16_MAX:
            # Kea 2.2 accepts and truncates such a port; we refuse it.
            raise ConfigError(
                path, f"bad url '{url}': port {port} out of range for server {server}"
            )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            path,
            f"bad url '{url}': Failed to convert string to address '{host}': "
            f"Invalid argument for server {server}",
        ) from None
    return scheme, str(address), port
