# -*- test-case-name: tests.test_commands_leases -*-
"""
Kea's C{lease_cmds} hook for DHCPv4: C{lease4-add}, C{-get}, C{-get-all},
C{-get-page}, C{-get-by-hw-address}, C{-get-by-client-id},
C{-get-by-hostname}, C{-update}, C{-del}, C{-wipe}, C{-resend-ddns}.

Every check and every text follows Kea 2.2's C{lease_cmds} and
C{Lease4Parser}, captured from a running Kea 2.2.0 (see
C{tests/test_commands_leases.py}), including the order in which arguments
are checked, so the first error Kea reports is the one we report.
Changes go through L{ILeaseStore}, which makes them durable like any other.
We have no DDNS, so C{lease4-resend-ddns} answers what Kea answers when
DDNS is off.
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import PositionedError, answer, kea_json_dumps
from kea_ha_tw.commands.registry import command
from kea_ha_tw.config.model import SubnetConfig
from kea_ha_tw.errors import CommandError, LeaseStoreError
from kea_ha_tw.leases.kea_json import lease_to_element
from kea_ha_tw.leases.model import Lease4, LeaseState, make_lease4

_UINT32_MAX = 2**32 - 1
_INT64 = (-(2**63), 2**63 - 1)
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_HWADDR = 20
_MAX_DUID = 128
_STATE_NAMES = {0: "default", 1: "declined", 2: "expired-reclaimed"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# -- Kea's text forms -------------------------------------------------------------------


def _fail(text: str) -> CommandError:
    return CommandError(1, text)


_CANONICAL_HEX = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*\Z")


def decode_separated_hex(text: str, sep: str = ":") -> bytes:
    """Kea's C{decodeSeparatedHexString}: C{"1:a2:3"} -> C{01 a2 03}."""
    if not text:
        return b""
    if sep == ":" and _CANONICAL_HEX.match(text):
        return bytes.fromhex(text.replace(":", ""))
    out = bytearray()
    for part in text.split(sep):
        if not part:
            raise _fail(f"two consecutive separators ('{sep}') specified"
                        f" in a decoded string '{text}'")
        if len(part) > 2:
            raise _fail(f"invalid format of the decoded string '{text}'")
        for c in part:
            if c not in _HEX:
                raise _fail(f"'{c}' is not a valid hexadecimal digit in decoded string '{text}'")
        out.append(int(part, 16))
    return bytes(out)


def decode_formatted_hex(text: str) -> bytes:
    """Kea's C{decodeFormattedHexString}: colon or space separated, or plain (C{0x}) hex."""
    if ":" in text:
        return decode_separated_hex(text, ":")
    if " " in text:
        return decode_separated_hex(text, " ")
    digits = text[2:] if text.startswith("0x") else text
    if len(digits) % 2:
        digits = "0" + digits
    if any(c not in _HEX for c in digits):
        raise _fail(f"'{text}' is not a valid string of hexadecimal digits")
    return bytes.fromhex(digits)


def hwaddr_from_text(text: str) -> bytes:
    """C{HWAddr::fromText}: colon-separated hex, at most 20 bytes, C{""} allowed."""
    raw = decode_separated_hex(text, ":")
    if len(raw) > _MAX_HWADDR:
        raise _fail("address vector size exceeds MAX_HWADDR_LEN")
    return raw


def client_id_from_text(text: str) -> bytes:
    """C{ClientId::fromText}: 2 to 128 bytes of formatted hex."""
    raw = decode_formatted_hex(text)
    if not raw:
        raise _fail("Empty DUIDs are not allowed")
    if len(raw) > _MAX_DUID:
        raise _fail(f"DUID size is {len(raw)} bytes, exceeds maximum of {_MAX_DUID}")
    if len(raw) < 2:
        raise _fail(f"client-id is too short ({len(raw)}), at least 2 is required")
    return raw


def kea_lower(text: str) -> str:
    """Lowercase ASCII letters only, as Kea's C{tolower} over bytes does."""
    return text.translate(_ASCII_LOWER)


def parse_ip(text: str) -> IPv4Address | IPv6Address | None:
    """An address as C{inet_pton} reads it, or None."""
    if "%" in text:
        return None
    try:
        # inet_pton itself (strict dotted quad, as Kea's IOAddress), and
        # several times cheaper than IPv4Address(text).
        return IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        return ip_address(text)
    except ValueError:
        return None


# -- SimpleParser-style getters (positioned errors) -----------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _missing(key: str) -> PositionedError:
    return PositionedError(f"missing parameter '{key}' ({{pos}})")


def _bad_type(key: str) -> PositionedError:
    return PositionedError(f"invalid type specified for parameter '{key}' ({{pos}})", (key,))


def get_string(args: dict, key: str) -> str:
    """C{SimpleParser::getString}."""
    if key not in args:
        raise _missing(key)
    if not isinstance(args[key], str):
        raise _bad_type(key)
    return args[key]


def get_bool(args: dict, key: str) -> bool:
    """C{SimpleParser::getBoolean}."""
    if key not in args:
        raise _missing(key)
    if not isinstance(args[key], bool):
        raise _bad_type(key)
    return args[key]


def get_integer(args: dict, key: str, low: int = _INT64[0], high: int = _INT64[1]) -> int:
    """C{SimpleParser::getInteger} / C{getUint32}: an int within C{low..high}."""
    if key not in args:
        raise _missing(key)
    value = args[key]
    if not _is_int(value):
        raise _bad_type(key)
    if not low <= value <= high:
        raise PositionedError(
            f"out of range value ({value}) specified for parameter '{key}' ({{pos}})", (key,))
    return value


def get_address(args: dict, key: str) -> IPv4Address | IPv6Address:
    """C{SimpleParser::getAddress}."""
    text = get_string(args, key)
    address = parse_ip(text)
    if address is None:
        raise PositionedError(
            f"Failed to convert '{text}' to address: Failed to convert string to address "
            f"'{text}': Invalid argument({{pos}})", (key,))
    return address


def _non_map(method: str) -> PositionedError:
    return PositionedError(f"{method}(string) called on a non-map Element in ({{pos}})")


# -- Lease4Parser ---------------------------------------------------------------------


def _subnet_for(context: CommandContext, args: dict, address: IPv4Address) -> SubnetConfig:
    config = context.config
    subnet_id = get_integer(args, "subnet-id", 0, _UINT32_MAX) if "subnet-id" in args else 0
    if subnet_id:
        subnet = config.subnet_by_id(subnet_id)
        if subnet is None:
            raise _fail(f"Invalid subnet-id: No IPv4 subnet with subnet-id={subnet_id} "
                        "currently configured.")
        if address not in subnet.subnet:
            raise _fail(f"The address {address} does not belong to subnet {subnet.subnet}, "
                        f"subnet-id={subnet_id}")
        return subnet
    subnet = config.subnet_for_address(address)
    if subnet is None:
        raise _fail(f"subnet-id not specified and failed to find a subnet for address {address}")
    return subnet


def parse_lease4(args: Any, context: CommandContext) -> tuple[Lease4, bool]:
    """
    Kea 2.2's C{Lease4Parser::parse}: the lease described by C{lease4-add} /
    C{lease4-update} arguments, and the C{force-create} flag.
    """
    if not isinstance(args, dict):
        raise _non_map("get")
    address = get_address(args, "ip-address")
    if not isinstance(address, IPv4Address):
        raise _fail(f"Non-IPv4 address specified: {address}")
    hwaddr = hwaddr_from_text(get_string(args, "hw-address"))
    subnet = _subnet_for(context, args, address)
    client_id = None
    if "client-id" in args:
        client_id = client_id_from_text(get_string(args, "client-id"))
    if "valid-lft" in args:
        valid_lft = get_integer(args, "valid-lft", 0, _UINT32_MAX)
    else:
        valid_lft = context.config.effective(subnet, "valid_lifetime")
    if "expire" in args:
        expire = get_integer(args, "expire")
        if expire <= 0:
            raise _fail(f"expiration time must be positive for address {address}")
        if expire < valid_lft:
            raise _fail("expiration time must be greater than valid lifetime"
                        f" for address {address}")
        cltt = expire - valid_lft
    else:
        cltt = context.now()
    fqdn_fwd = get_bool(args, "fqdn-fwd") if "fqdn-fwd" in args else False
    fqdn_rev = get_bool(args, "fqdn-rev") if "fqdn-rev" in args else False
    hostname = kea_lower(get_string(args, "hostname")) if "hostname" in args else ""
    if not hostname and (fqdn_fwd or fqdn_rev):
        raise _fail("No hostname specified and either forward or reverse fqdn was set to true.")
    state = get_integer(args, "state", 0, _UINT32_MAX) if "state" in args else 0
    if state > LeaseState.EXPIRED_RECLAIMED:
        raise _fail(f"Invalid state value: {state}, supported values are: 0 (default), "
                    "1 (declined) and 2 (expired-reclaimed)")
    user_context = None
    if "user-context" in args:
        user_context = args["user-context"]
        if not isinstance(user_context, dict):
            raise _fail(f"Invalid user context '{kea_json_dumps(user_context)}' is not a JSON map.")
    if "comment" in args:
        if user_context is None:
            user_context = {}
        elif "comment" in user_context:
            raise _fail(f"Duplicated comment entry '{kea_json_dumps(args['comment'])}' in user "
                        f"context '{kea_json_dumps(user_context)}'")
        user_context = dict(user_context, comment=args["comment"])
    force_create = get_bool(args, "force-create") if "force-create" in args else False
    if state != LeaseState.DECLINED and not hwaddr and client_id is None:
        raise _fail(f"Lease4: {address}, state: {_STATE_NAMES[state]} has neither hardware "
                    "address or client id")
    lease = make_lease4(address, hwaddr, client_id, valid_lft, cltt, subnet.id, fqdn_fwd,
                        fqdn_rev, hostname, LeaseState(state), user_context)
    return lease, force_create


# -- identifier lookups (Kea's getParameters) -------------------------------------------


def _lookup_one(args: Any, context: CommandContext) -> Lease4 | None:
    """C{lease4-get} / C{lease4-del} selection: by address, or identifier + subnet."""
    if not isinstance(args, dict):
        raise _fail("Parameters missing or are not a map.")
    store = context.lease_store
    if "ip-address" in args:
        text = args["ip-address"]
        if not isinstance(text, str):
            raise _fail("'ip-address' is not a string.")
        address = parse_ip(text)
        if address is None:
            raise _fail(f"Failed to convert string to address '{text}': Invalid argument")
        if not isinstance(address, IPv4Address):
            raise _fail(f"Invalid IPv4 address specified: {text}")
        _check_update_ddns(args)
        return store.get(address, include_reclaimed=True)
    if "subnet-id" not in args:
        raise _fail("Mandatory 'subnet-id' parameter missing.")
    subnet_id = args["subnet-id"]
    if not _is_int(subnet_id):
        raise _fail("'subnet-id' parameter is not integer.")
    kind = args.get("identifier-type")
    if not isinstance(kind, str):
        raise _fail("No 'ip-address' provided and 'identifier-type' is either missing "
                    "or not a string.")
    ident = args.get("identifier")
    if not isinstance(ident, str):
        raise _fail("No 'ip-address' provided and 'identifier' is either missing or not a string.")
    if kind == "hw-address":
        key = hwaddr_from_text(ident)
        found = store.get_by_hwaddr(key, subnet_id, include_reclaimed=True)
    elif kind == "client-id":
        key = client_id_from_text(ident)
        found = store.get_by_client_id(key, subnet_id, include_reclaimed=True)
    elif kind == "duid":
        raise _fail("Query by duid is not allowed in v4.")
    else:
        raise _fail(f"Incorrect identifier type: {kind}, the only supported values are: "
                    "address, hw-address, duid")
    _check_update_ddns(args)
    return found[0] if found else None


def _check_update_ddns(args: dict) -> None:
    if "update-ddns" in args and not isinstance(args["update-ddns"], bool):
        raise _fail("'update-ddns' is not a boolean")


def _leases_answer(leases: list[Lease4], with_count: bool = False) -> dict[str, Any]:
    elements = [lease_to_element(lease) for lease in leases]
    arguments: dict[str, Any] = {"leases": elements}
    if with_count:
        arguments["count"] = len(elements)
    return answer(0 if elements else 3, f"{len(elements)} IPv4 lease(s) found.", arguments)


# -- handlers -----------------------------------------------------------------------------


@command("lease4-add")
def lease4_add(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Add a lease; Kea 2.2 answers result 1 "IPv4 lease already exists." when taken."""
    if arguments is None:
        raise _fail("no parameters specified for the command")
    lease, _ = parse_lease4(arguments, context)
    if context.lease_store.get(lease.address, include_reclaimed=True) is not None:
        raise _fail("IPv4 lease already exists.")
    try:
        context.lease_store.add(lease)
    except LeaseStoreError:
        raise _fail("IPv4 lease already exists.") from None
    return answer(0, f"Lease for address {lease.address}, subnet-id {lease.subnet_id} added.")


@command("lease4-update")
def lease4_update(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Replace a lease unconditionally; add it when missing only with C{force-create}."""
    if arguments is None:
        raise _fail("no parameters specified for lease4-update command")
    lease, force_create = parse_lease4(arguments, context)
    store = context.lease_store
    if store.get(lease.address, include_reclaimed=True) is not None:
        store.update(lease)
        return answer(0, "IPv4 lease updated.")
    if not force_create:
        raise _fail(f"failed to update the lease with address {lease.address} either because "
                    "the lease has been deleted or it has changed in the database, in both "
                    "cases a retry might succeed")
    store.add(lease)
    return answer(0, "IPv4 lease added.")


@command("lease4-get")
def lease4_get(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """One lease, by C{ip-address} or by C{identifier-type}/C{identifier}/C{subnet-id}."""
    lease = _lookup_one(arguments, context)
    if lease is None:
        return answer(3, "Lease not found.")
    return answer(0, "IPv4 lease found.", lease_to_element(lease))


@command("lease4-del")
def lease4_del(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Delete one lease; result 3 "IPv4 lease not found." when there is none."""
    lease = _lookup_one(arguments, context)
    if lease is None or not context.lease_store.delete(lease.address):
        return answer(3, "IPv4 lease not found.")
    return answer(0, "IPv4 lease deleted.")


@command("lease4-get-all")
def lease4_get_all(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Every lease, or those of C{subnets} (concatenated in the order given)."""
    store = context.lease_store
    if arguments is None:
        return _leases_answer(store.get_all())
    if not isinstance(arguments, dict):
        raise _non_map("get")
    if "subnets" not in arguments:
        raise _fail("'subnets' parameter not specified")
    subnets = arguments["subnets"]
    if not isinstance(subnets, list):
        raise _fail("'subnets' parameter must be a list")
    leases: list[Lease4] = []
    for subnet_id in subnets:
        if not _is_int(subnet_id):
            raise _fail("listed subnet identifiers must be numbers")
        leases.extend(store.get_all([subnet_id]))
    return _leases_answer(leases)


@command("lease4-get-page")
def lease4_get_page(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Up to C{limit} leases above C{from} (C{"start"} or an IPv4 address), ascending."""
    if arguments is None:
        raise _fail("no parameters specified for the lease4-get-page command")
    if not isinstance(arguments, dict):
        raise _non_map("get")
    if "from" not in arguments:
        raise _fail("'from' parameter not specified")
    start = arguments["from"]
    if not isinstance(start, str):
        raise _fail("'from' parameter must be a string")
    if start == "start":
        after = IPv4Address(0)
    else:
        parsed = parse_ip(start)
        if parsed is None:
            raise _fail("'from' parameter value is neither 'start' keyword"
                        " nor a valid IPv4 address")
        if not isinstance(parsed, IPv4Address):
            raise _fail(f"'from' parameter value {start} is not an IPv4 address")
        after = parsed
    if "limit" not in arguments:
        raise _fail("'limit' parameter not specified")
    limit = arguments["limit"]
    if not _is_int(limit):
        raise _fail("'limit' parameter must be a number")
    if limit == 0:
        raise _fail("page size of retrieved leases must not be 0")
    if not 0 < limit <= _UINT32_MAX:
        raise _fail(f"page size of retrieved leases must not be greater than {_UINT32_MAX}")
    return _leases_answer(context.lease_store.get_page(after, limit), with_count=True)


def _by_key_arguments(arguments: Any, key: str) -> str:
    if not isinstance(arguments, dict):
        raise _fail("Command arguments missing or a not a map.")
    if key not in arguments:
        raise _fail(f"'{key}' parameter not specified")
    value = arguments[key]
    if not isinstance(value, str):
        raise _fail(f"'{key}' parameter must be a string")
    return value


@command("lease4-get-by-hw-address")
def lease4_get_by_hw_address(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Every lease of a hardware address, in all subnets."""
    hwaddr = hwaddr_from_text(_by_key_arguments(arguments, "hw-address"))
    return _leases_answer(context.lease_store.get_by_hwaddr(hwaddr, include_reclaimed=True))


@command("lease4-get-by-client-id")
def lease4_get_by_client_id(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Every lease of a client identifier, in all subnets."""
    client_id = client_id_from_text(_by_key_arguments(arguments, "client-id"))
    return _leases_answer(context.lease_store.get_by_client_id(client_id, include_reclaimed=True))


@command("lease4-get-by-hostname")
def lease4_get_by_hostname(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Every lease with a hostname (compared lowercased), in all subnets."""
    hostname = _by_key_arguments(arguments, "hostname")
    if not hostname:
        raise _fail("'hostname' parameter is empty")
    store = context.lease_store
    return _leases_answer(store.get_by_hostname(kea_lower(hostname), include_reclaimed=True))


@command("lease4-wipe")
def lease4_wipe(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """
    Delete the leases of C{subnet-id}, or of every configured subnet when it
    is absent or 0 (Kea 2.2 deprecates the command but still has it).
    """
    subnet_id = 0
    if arguments is not None:
        if not isinstance(arguments, dict):
            raise _non_map("contains")
        if "subnet-id" in arguments:
            subnet_id = get_integer(arguments, "subnet-id", 0, _UINT32_MAX)
    if subnet_id:
        ids = [subnet_id]
    else:
        ids = [subnet.id for subnet in context.config.subnets]
    deleted = sum(context.lease_store.wipe(i) for i in ids)
    where = "".join(f" {i}" for i in ids)
    return answer(0 if deleted else 3, f"Deleted {deleted} IPv4 lease(s) from subnet(s){where}")


@command("lease4-resend-ddns")
def lease4_resend_ddns(arguments: Any, context: CommandContext) -> dict[str, Any]:
    """Kea's answer when DDNS is off, which it always is here: result 1."""
    if arguments is not None and not isinstance(arguments, dict):
        raise _non_map("get")
    if not arguments or "ip-address" not in arguments:
        raise _fail("'ip-address' parameter is missing.")
    text = arguments["ip-address"]
    if not isinstance(text, str):
        raise _fail("'ip-address' is not a string.")
    address = parse_ip(text)
    if address is None:
        raise _fail(f"'{text}' is not a valid IP address.")
    if not isinstance(address, IPv4Address):
        raise _fail(f"Invalid IPv4 address specified: {text}")
    raise _fail("DDNS updating is not enabled")


HANDLERS = (
    lease4_add, lease4_get, lease4_get_all, lease4_get_page, lease4_get_by_hw_address,
    lease4_get_by_client_id, lease4_get_by_hostname, lease4_update, lease4_del, lease4_wipe,
    lease4_resend_ddns,
)
