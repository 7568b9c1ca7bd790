# -*- test-case-name: tests.test_config -*-
"""
C{subnet4[]} with its pools, reservations and options, plus the option
data and lifetime rules shared with the global level, as Kea 2.2 reads
them (C{Subnet4ConfigParser}, C{BaseNetworkParser}, C{OptionDataParser}).

Kea copies the global C{renew-timer}, C{rebind-timer}, C{valid-lifetime}
(default 7200), C{min-}/C{max-valid-lifetime}, C{calculate-tee-times},
C{t1-percent} and C{t2-percent} into every subnet before checking it
(C{INHERIT_TO_SUBNET4}), so a subnet is checked with inherited values.
The model keeps only the subnet's own values (C{None} = inherit).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from collections.abc import Mapping
from typing import Any


from kea_ha_tw.config import keys
from kea_ha_tw.config.jsonc import join_path
from kea_ha_tw.config.model import OptionData, PoolConfig, ReservationConfig, SubnetConfig
from kea_ha_tw.config.types import (
    check_type,
    get_bool,
    get_int,
    get_list,
    get_map,
    get_real,
    get_str,
    parse_identifier,
    parse_ipv4,
    parse_pool,
    parse_subnet,
    require,
)
from kea_ha_tw.dhcp.option_defs import OptionDataError, OptionDefinition, resolve_option
from kea_ha_tw.errors import ConfigError
from kea_ha_tw.loggers import Logger

_log = Logger(namespace="kea_ha_tw.config")

SUBNET_ID_MAX = 2**32 - 2
HWADDR_MAX = 20
# Keys Kea copies from the global map into each subnet before checking it.
INHERITED = (
    "renew-timer",
    "rebind-timer",
    "valid-lifetime",
    "min-valid-lifetime",
    "max-valid-lifetime",
    "calculate-tee-times",
    "t1-percent",
    "t2-percent",
)
GLOBAL_DEFAULTS: dict[str, Any] = {
    "valid-lifetime": 7200,
    "calculate-tee-times": False,
    "t1-percent": 0.5,
    "t2-percent": 0.875,
}


def parse_option_data(
    entries: list[Any], path: str, custom: tuple[OptionDefinition, ...]
) -> tuple[OptionData, ...]:
    """An C{option-data} list: each entry encoded to its wire payload."""
    out = []
    for i, entry in enumerate(entries):
        p = join_path(path, i)
        check_type(entry, "map", p)
        keys.check_keys(entry, p, "option-data", keys.OPTION_DATA_IMPLEMENTED)
        space = get_str(entry, "space", p, "dhcp4")
        if space != "dhcp4":
            where = join_path(p, "space")
            if space == "dhcp6":
                raise ConfigError(where, "'dhcp6' option space name is reserved for DHCPv6 server")
            raise ConfigError(
                where, f"option space '{space}' is not supported by kea-ha-tw (only dhcp4)"
            )
        code = get_int(entry, "code", p, None, lo=0, hi=2**63)
        try:
            code, name, payload = resolve_option(
                get_str(entry, "name", p),
                code,
                get_str(entry, "data", p, ""),
                get_bool(entry, "csv-format", p),
                space,
                custom,
            )
        except OptionDataError as e:
            raise ConfigError(p, str(e)) from None
        out.append(
            OptionData(code, name, payload, bool(get_bool(entry, "always-send", p, False)), space)
        )
    return tuple(out)


def check_lifetimes(scope: Mapping[str, Any], path: str, own: Mapping[str, Any]) -> None:
    """
    Kea's checks on one network level's timers (C{parseCommon},
    C{parseIntTriplet}, C{parseTeePercents}); C{scope} holds the values to
    check (own plus inherited), C{own} the keys the level itself gives.
    """
    renew, rebind = scope.get("renew-timer"), scope.get("rebind-timer")
    if renew is not None and rebind is not None and renew > rebind:
        raise ConfigError(
            join_path(path, "renew-timer" if "renew-timer" in own else "rebind-timer"),
            f"the value of renew-timer ({renew}) is greater than "
            f"the value of rebind-timer ({rebind})",
        )
    value = scope.get("valid-lifetime")
    lo, hi = scope.get("min-valid-lifetime"), scope.get("max-valid-lifetime")
    if value is None and lo is not None and hi is not None:
        raise ConfigError(
            path, "have min-valid-lifetime and max-valid-lifetime but no valid-lifetime (default)"
        )
    if value is None:
        value = lo if lo is not None else hi
    vpath = join_path(path, "valid-lifetime")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(
            vpath,
            f"the value of min-valid-lifetime ({lo}) is not less than max-valid-lifetime ({hi})",
        )
    if lo is not None and hi is None and lo > value:
        raise ConfigError(
            vpath,
            f"the value of min-valid-lifetime ({lo}) is not less "
            f"than (default) valid-lifetime ({value})",
        )
    if hi is not None and lo is None and value > hi:
        raise ConfigError(
            vpath,
            f"the value of (default) valid-lifetime ({value}) is not "
            f"less than max-valid-lifetime ({hi})",
        )
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise ConfigError(
            vpath,
            f"the value of (default) valid-lifetime ({value}) is not between "
            f"min-valid-lifetime ({lo}) and max-valid-lifetime ({hi})",
        )
    if scope.get("calculate-tee-times"):
        t1, t2 = scope.get("t1-percent"), scope.get("t2-percent")
        if t2 is not None and not 0.0 < t2 < 1.0:
            raise ConfigError(
                join_path(path, "t2-percent"),
                f"t2-percent:  {t2} is invalid, it must be greater than 0.0 and less than 1.0",
            )
        if t1 is not None and not 0.0 < t1 < 1.0:
            raise ConfigError(
                join_path(path, "t1-percent"),
                f"t1-percent:  {t1} is invalid it must be greater than 0.0 and less than 1.0",
            )
        if t1 is not None and t2 is not None and t1 >= t2:
            raise ConfigError(
                join_path(path, "t1-percent"),
                f"t1-percent:  {t1} is invalid, it must be less than t2-percent: {t2}",
            )


def parse_network_fields(m: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The timer, flag and BOOTP fields a subnet and the global map share."""
    out: dict[str, Any] = {}
    for key in (
        "valid-lifetime",
        "min-valid-lifetime",
        "max-valid-lifetime",
        "renew-timer",
        "rebind-timer",
    ):
        out[key] = get_int(m, key, path)
    for key in ("calculate-tee-times", "match-client-id", "authoritative"):
        out[key] = get_bool(m, key, path)
    for key in ("t1-percent", "t2-percent"):
        out[key] = get_real(m, key, path)
    ns = get_str(m, "next-server", path)
    if ns is not None:
        try:
            out["next-server"] = IPv4Address(ns) if ns else IPv4Address(0)
        except ValueError:
            raise ConfigError(
                join_path(path, "next-server"), f"invalid parameter next-server : {ns}"
            ) from None
    sname = get_str(m, "server-hostname", path)
    if sname is not None and len(sname.encode("utf-8")) > 63:
        raise ConfigError(
            join_path(path, "server-hostname"),
            f"server-hostname must be at most 63 bytes long, it is {len(sname.encode('utf-8'))}",
        )
    out["server-hostname"] = sname
    bfn = get_str(m, "boot-file-name", path)
    if bfn is not None and len(bfn.encode("utf-8")) > 128:
        raise ConfigError(
            join_path(path, "boot-file-name"),
            f"boot-file-name must be at most 128 bytes long, it is {len(bfn.encode('utf-8'))}",
        )
    out["boot-file-name"] = bfn
    return out


def parse_subnets(
    subnets: list[Any],
    path: str,
    global_scope: Mapping[str, Any],
    custom: tuple[OptionDefinition, ...],
) -> tuple[SubnetConfig, ...]:
    """
    C{Dhcp4.subnet4}. Subnets without an C{id} (or with 0) get 1, 2, 3, ...
    in order from a counter of their own, as Kea 2.2 does: the counter does
    not skip ids given explicitly, so a clash is an error, as in Kea.
    """
    out: list[SubnetConfig] = []
    used_ids: dict[int, int] = {}
    prefixes: set[IPv4Network] = set()
    next_auto = 1
    for i, s in enumerate(subnets):
        p = join_path(path, i)
        check_type(s, "map", p)
        keys.check_keys(s, p, "subnet4", keys.SUBNET4_IMPLEMENTED, keys.SUBNET4_IGNORED)
        network = parse_subnet(require(s, "subnet", p), join_path(p, "subnet"))
        subnet_id = get_int(s, "id", p, 0, hi=2**63)
        if subnet_id > SUBNET_ID_MAX or subnet_id < 0:
            raise ConfigError(
                join_path(p, "id"),
                f"The 'id' value ({subnet_id}) is not within expected range: (0 - {SUBNET_ID_MAX})",
            )
        id_path = join_path(p, "id")
        if subnet_id == 0:
            subnet_id, next_auto = next_auto, next_auto + 1
            id_path = p
        if network in prefixes:
            raise ConfigError(
                join_path(p, "subnet"), f"subnet with the prefix of '{network}' already exists"
            )
        if subnet_id in used_ids:
            raise ConfigError(id_path, f"ID of the new IPv4 subnet '{subnet_id}' is already in use")
        prefixes.add(network)
        used_ids[subnet_id] = i

        fields = parse_network_fields(s, p)
        own = {k: v for k, v in fields.items() if v is not None}
        scope = dict(GLOBAL_DEFAULTS)
        scope.update({k: v for k, v in global_scope.items() if v is not None})
        scope.update({k: own[k] for k in INHERITED if k in own})
        check_lifetimes(scope, p, own)

        interface = get_str(s, "interface", p) or None
        out.append(
            SubnetConfig(
                id=subnet_id,
                subnet=network,
                pools=_parse_pools(get_list(s, "pools", p), join_path(p, "pools"), network, custom),
                option_data=parse_option_data(
                    get_list(s, "option-data", p), join_path(p, "option-data"), custom
                ),
                relay_addresses=_parse_relay(get_map(s, "relay", p), join_path(p, "relay")),
                interface=interface,
                valid_lifetime=fields["valid-lifetime"],
                min_valid_lifetime=fields["min-valid-lifetime"],
                max_valid_lifetime=fields["max-valid-lifetime"],
                renew_timer=fields["renew-timer"],
                rebind_timer=fields["rebind-timer"],
                match_client_id=fields["match-client-id"],
                authoritative=fields["authoritative"],
                client_class=get_str(s, "client-class", p) or None,
                reservations=_parse_reservations(
                    get_list(s, "reservations", p),
                    join_path(p, "reservations"),
                    network,
                    subnet_id,
                    custom,
                ),
                next_server=fields.get("next-server"),
                server_hostname=fields["server-hostname"],
                boot_file_name=fields["boot-file-name"],
                calculate_tee_times=fields["calculate-tee-times"],
                t1_percent=fields["t1-percent"],
                t2_percent=fields["t2-percent"],
            )
        )
    return tuple(out)


def _parse_relay(relay: Mapping[str, Any] | None, path: str) -> tuple[IPv4Address, ...]:
    if relay is None:
        return ()
    keys.check_keys(relay, path, "relay", keys.RELAY_IMPLEMENTED)
    if "ip-address" in relay and "ip-addresses" in relay:
        raise ConfigError(path, "only one of ip-address and ip-addresses may be specified")
    if "ip-address" in relay:
        return (parse_ipv4(relay["ip-address"], join_path(path, "ip-address")),)
    if "ip-addresses" in relay:
        out = []
        for i, a in enumerate(relay["ip-addresses"]):
            ap = join_path(join_path(path, "ip-addresses"), i)
            out.append(parse_ipv4(check_type(a, "string", ap), ap))
        return tuple(out)
    raise ConfigError(path, "expecting ip-address or ip-addresses")


def _parse_pools(
    pools: list[Any], path: str, network: IPv4Network, custom: tuple[OptionDefinition, ...]
) -> tuple[PoolConfig, ...]:
    out: list[PoolConfig] = []
    for i, pool in enumerate(pools):
        p = join_path(path, i)
        check_type(pool, "map", p)
        keys.check_keys(pool, p, "pools", keys.POOL_IMPLEMENTED, keys.POOL_IGNORED)
        text = require(pool, "pool", p)
        start, end = parse_pool(text, join_path(p, "pool"))
        where = join_path(p, "pool")
        if start not in network or end not in network:
            raise ConfigError(
                where,
                f"a pool of type V4, with the following address range: {start}-{end} does not "
                f"match the prefix of a subnet: {network} to which it is being added",
            )
        for other in out:
            if start <= other.end and other.start <= end:
                raise ConfigError(
                    where,
                    f"a pool of type V4, with the following address range: {start}-{end} overlaps "
                    f"with an existing pool in the subnet: {network} to which it is being added",
                )
        out.append(
            PoolConfig(
                start=start,
                end=end,
                option_data=parse_option_data(
                    get_list(pool, "option-data", p), join_path(p, "option-data"), custom
                ),
                client_class=get_str(pool, "client-class", p) or None,
            )
        )
    return tuple(out)


_IDENTIFIERS = ("hw-address", "client-id", "duid", "circuit-id", "flex-id")


def _parse_reservations(
    reservations: list[Any],
    path: str,
    network: IPv4Network,
    subnet_id: int,
    custom: tuple[OptionDefinition, ...],
) -> tuple[ReservationConfig, ...]:
    out: list[ReservationConfig] = []
    by_ident: set[tuple[str, bytes]] = set()
    by_ip: set[IPv4Address] = set()
    for i, r in enumerate(reservations):
        p = join_path(path, i)
        check_type(r, "map", p)
        keys.check_keys(
            r, p, "reservations", keys.RESERVATION_IMPLEMENTED, keys.RESERVATION_IGNORED
        )
        given = [k for k in r if k in _IDENTIFIERS]
        if not given:
            raise ConfigError(
                p,
                "one of the supported identifiers must be specified for host reservation: "
                "circuit-id, client-id, duid, flex-id, hw-address",
            )
        if len(given) > 1:
            raise ConfigError(p, f"the '{given[0]}' and '{given[1]}' are mutually exclusive")
        kind = given[0]
        ident = parse_identifier(r[kind], join_path(p, kind), quoted_ok=kind != "hw-address")
        if kind == "hw-address" and len(ident) > HWADDR_MAX:
            raise ConfigError(join_path(p, kind), "address vector size exceeds MAX_HWADDR_LEN")
        if (kind, ident) in by_ident:
            label = "HW address" if kind == "hw-address" else kind
            raise ConfigError(
                join_path(p, kind),
                f"failed to add new host using the {label} '{r[kind]}' to the IPv4 subnet id "
                f"'{subnet_id}' as this host has already been added",
            )
        by_ident.add((kind, ident))
        address = None
        if "ip-address" in r:
            ap = join_path(p, "ip-address")
            try:
                address = IPv4Address(r["ip-address"])
            except ValueError:
                raise ConfigError(
                    ap, f"address '{r['ip-address']}' is not a valid IPv4 address"
                ) from None
            if int(address) == 0:
                raise ConfigError(ap, "must not make reservation for the '0.0.0.0' address")
            if address not in network:
                raise ConfigError(
                    ap,
                    f"specified reservation '{address}' is not within the IPv4 subnet '{network}'",
                )
            if address in by_ip:
                raise ConfigError(
                    ap,
                    "There's already a reservation for the address "
                    f"{address} in subnet {subnet_id}",
                )
            by_ip.add(address)
        options = parse_option_data(
            get_list(r, "option-data", p), join_path(p, "option-data"), custom
        )
        if kind not in ("hw-address", "client-id"):
            _log.warn(
                "{path}: reservation by {kind} not supported by kea-ha-tw, ignored",
                path=p,
                kind=kind,
                msg_id="KHT_CONFIG_KEY_IGNORED",
            )
            continue
        out.append(
            ReservationConfig(
                hw_address=ident if kind == "hw-address" else None,
                client_id=ident if kind == "client-id" else None,
                ip_address=address,
                hostname=get_str(r, "hostname", p, ""),
                option_data=options,
            )
        )
    return tuple(out)
