# -*- test-case-name: tests.test_config -*-
"""
Which configuration keys kea-ha-tw implements, which Kea 2.2 keys it
accepts and ignores, per map, with Kea's JSON type for each.

The lists come from Kea 2.2.0's grammar (C{dhcp4_parser.yy}) and
C{SimpleParser4}'s keyword tables. A key in neither list is refused with
Kea's own words (C{got unexpected keyword "x" in Dhcp4 map.}), as
C{kea-dhcp4 -t} does. A key in C{IGNORED} is accepted, type-checked, kept
in the C{raw} map for C{config-get}, and logged once as
"not supported by kea-ha-tw, ignored".

Keys marked "extension" are not Kea 2.2's: C{control-sockets} is Kea 3.0's
HTTP(S) command channel; C{lease-database.fsync} is ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kea_ha_tw.config.jsonc import join_path
from kea_ha_tw.config.types import BOOL, INT, LIST, MAP, REAL, STR, check_type
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

_log = Logger(namespace="kea_ha_tw.config")

_COMMON = {"user-context": MAP, "comment": STR}

_DDNS = {
    "ddns-send-updates": BOOL,
    "ddns-override-no-update": BOOL,
    "ddns-override-client-update": BOOL,
    "ddns-replace-client-name": STR,
    "ddns-generated-prefix": STR,
    "ddns-qualifying-suffix": STR,
    "ddns-update-on-renew": BOOL,
    "ddns-use-conflict-resolution": BOOL,
    "hostname-char-set": STR,
    "hostname-char-replacement": STR,
    "store-extended-info": BOOL,
    "cache-threshold": REAL,
    "cache-max-age": INT,
}
_RESERVATION_FLAGS = {
    "reservation-mode": STR,
    "reservations-global": BOOL,
    "reservations-in-subnet": BOOL,
    "reservations-out-of-pool": BOOL,
}
_TIMERS = {
    "valid-lifetime": INT,
    "min-valid-lifetime": INT,
    "max-valid-lifetime": INT,
    "renew-timer": INT,
    "rebind-timer": INT,
    "calculate-tee-times": BOOL,
    "t1-percent": REAL,
    "t2-percent": REAL,
    "match-client-id": BOOL,
    "authoritative": BOOL,
    "next-server": STR,
    "server-hostname": STR,
    "boot-file-name": STR,
    "option-data": LIST,
}

# Dhcp4: the global map.
DHCP4_IMPLEMENTED: dict[str, str] = {
    **_TIMERS,
    **_COMMON,
    "decline-probation-period": INT,
    "echo-client-id": BOOL,
    "parked-packet-limit": INT,
    "subnet4": LIST,
    "interfaces-config": MAP,
    "lease-database": MAP,
    "option-def": LIST,
    "hooks-libraries": LIST,
    "expired-leases-processing": MAP,
    "control-socket": MAP,
    "control-sockets": LIST,  # extension: Kea 3.0
    "multi-threading": MAP,
    "server-tag": STR,
    "loggers": LIST,
}
DHCP4_IGNORED: dict[str, str] = {
    **_DDNS,
    **_RESERVATION_FLAGS,
    "shared-networks": LIST,
    "hosts-database": MAP,
    "hosts-databases": LIST,
    "host-reservation-identifiers": LIST,
    "client-classes": LIST,
    "dhcp4o6-port": INT,
    "dhcp-queue-control": MAP,
    "dhcp-ddns": MAP,
    "sanity-checks": MAP,
    "reservations": LIST,
    "config-control": MAP,
    "statistic-default-sample-count": INT,
    "statistic-default-sample-age": INT,
    "early-global-reservations-lookup": BOOL,
    "ip-reservations-unique": BOOL,
    "reservations-lookup-first": BOOL,
    "compatibility": MAP,
}

SUBNET4_IMPLEMENTED: dict[str, str] = {
    **_TIMERS,
    **_COMMON,
    "pools": LIST,
    "subnet": STR,
    "interface": STR,
    "id": INT,
    "client-class": STR,
    "reservations": LIST,
    "relay": MAP,
}
SUBNET4_IGNORED: dict[str, str] = {
    **_DDNS,
    **_RESERVATION_FLAGS,
    "require-client-classes": LIST,
    "4o6-interface": STR,
    "4o6-interface-id": STR,
    "4o6-subnet": STR,
}

POOL_IMPLEMENTED = {"pool": STR, "option-data": LIST, "client-class": STR, **_COMMON}
POOL_IGNORED = {"require-client-classes": LIST}

RESERVATION_IMPLEMENTED = {
    "hw-address": STR,
    "client-id": STR,
    "ip-address": STR,
    "hostname": STR,
    "option-data": LIST,
    **_COMMON,
}
RESERVATION_IGNORED = {
    "duid": STR,
    "circuit-id": STR,
    "flex-id": STR,
    "client-classes": LIST,
    "next-server": STR,
    "server-hostname": STR,
    "boot-file-name": STR,
}

OPTION_DATA_IMPLEMENTED = {
    "name": STR,
    "data": STR,
    "code": INT,
    "space": STR,
    "csv-format": BOOL,
    "always-send": BOOL,
    **_COMMON,
}
OPTION_DEF_IMPLEMENTED = {
    "name": STR,
    "code": INT,
    "type": STR,
    "record-types": STR,
    "space": STR,
    "encapsulate": STR,
    "array": BOOL,
    **_COMMON,
}

INTERFACES_IMPLEMENTED = {
    "interfaces": LIST,
    "dhcp-socket-type": STR,
    "outbound-interface": STR,
    "re-detect": BOOL,
    **_COMMON,
}
INTERFACES_IGNORED = {
    "service-sockets-require-all": BOOL,
    "service-sockets-retry-wait-time": INT,
    "service-sockets-max-retries": INT,
}

LEASE_DB_IMPLEMENTED = {
    "type": STR,
    "persist": BOOL,
    "name": STR,
    "lfc-interval": INT,
    "max-row-errors": INT,
    "fsync": STR,  # extension
}
LEASE_DB_IGNORED = {
    "user": STR,
    "password": STR,
    "host": STR,
    "port": INT,
    "readonly": BOOL,
    "connect-timeout": INT,
    "max-reconnect-tries": INT,
    "reconnect-wait-time": INT,
    "on-fail": STR,
    "trust-anchor": STR,
    "cert-file": STR,
    "key-file": STR,
    "cipher-list": STR,
}

CONTROL_SOCKET_IMPLEMENTED = {"socket-type": STR, "socket-name": STR, **_COMMON}
# Kea 3.0's control-sockets[] entries (extension).
CONTROL_SOCKETS_IMPLEMENTED = {
    "socket-type": STR,
    "socket-name": STR,
    "socket-address": STR,
    "socket-port": INT,
    "trust-anchor": STR,
    "cert-file": STR,
    "key-file": STR,
    "cert-required": BOOL,
    "authentication": MAP,
    **_COMMON,
}
CONTROL_SOCKETS_IGNORED = {"http-headers": LIST}
AUTHENTICATION_IMPLEMENTED = {
    "type": STR,
    "realm": STR,
    "directory": STR,
    "clients": LIST,
    **_COMMON,
}
AUTH_CLIENT_IMPLEMENTED = {
    "user": STR,
    "password": STR,
    "user-file": STR,
    "password-file": STR,
    **_COMMON,
}

MULTI_THREADING_IMPLEMENTED = {
    "enable-multi-threading": BOOL,
    "thread-pool-size": INT,
    "packet-queue-size": INT,
    **_COMMON,
}
EXPIRED_IMPLEMENTED = {
    "reclaim-timer-wait-time": INT,
    "flush-reclaimed-timer-wait-time": INT,
    "hold-reclaimed-time": INT,
    "max-reclaim-leases": INT,
    "max-reclaim-time": INT,
    "unwarned-reclaim-cycles": INT,
}
LOGGER_IMPLEMENTED = {
    "name": STR,
    "severity": STR,
    "debuglevel": INT,
    "output_options": LIST,
    **_COMMON,
}
OUTPUT_OPTION_IMPLEMENTED = {
    "output": STR,
    "flush": BOOL,
    "maxsize": INT,
    "maxver": INT,
    "pattern": STR,
}
RELAY_IMPLEMENTED = {"ip-address": STR, "ip-addresses": LIST}
HOOK_IMPLEMENTED = {"library": STR, "parameters": MAP}

# The hook libraries kea-ha-tw provides, by the basename Kea loads.
SUPPORTED_HOOKS = {"libdhcp_ha.so": "ha", "libdhcp_lease_cmds.so": "lease_cmds"}


def check_keys(
    m: Mapping[str, Any],
    path: str,
    context: str,
    implemented: Mapping[str, str],
    ignored: Mapping[str, str] | None = None,
) -> None:
    """
    Refuse keys Kea 2.2 refuses in the C{context} map, type-check every
    key, and log each accepted-but-ignored key once.

    @raise ConfigError: an unknown key, or a key of the wrong JSON type.
    """
    ignored = ignored or {}
    for key, value in m.items():
        kpath = join_path(path, key)
        if key in implemented:
            check_type(value, implemented[key], kpath)
        elif key in ignored:
            check_type(value, ignored[key], kpath)
            _log.warn(
                "{path}: not supported by kea-ha-tw, ignored",
                path=kpath,
                key=key,
                msg_id="KHT_CONFIG_KEY_IGNORED",
            )
        else:
            raise ConfigError(kpath, f'got unexpected keyword "{key}" in {context} map.')
