# -*- test-case-name: tests.test_kea_json -*-
"""
Kea 2.2's lease JSON (C{Lease4::toElement} / C{Lease4::fromElement}) and
Kea's own JSON text (C{Element::str}), plus the hex identifier parsers both
share with the lease file (pure functions, no I/O).

Lease elements hold text (C{str}); Kea's byte-string view of JSON (every
byte outside 0x20-0x7e as C{\\u00XX}) is the wire codec's business
(C{kea_ha_tw.commands.envelope}). The lease file's JSON text, which Kea
writes the same way, is read and written here (L{to_kea_json},
L{from_kea_json}).
"""

from __future__ import annotations

import json
import socket
from ipaddress import IPv4Address
from typing import Any
from collections.abc import Mapping

from kea_ha_tw.leases.model import Lease4, LeaseState, make_lease4

MAX_HWADDR_LEN = 20
MIN_CLIENT_ID_LEN = 2
MAX_CLIENT_ID_LEN = 128
_HEX = frozenset("0123456789abcdefABCDEF")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT32_MAX = 0xFFFFFFFF


# -- Kea's JSON text (Element::str) ----------------------------------------

_SIMPLE_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f",
                   0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _kea_string(text: str) -> str:
    """Kea's C{StringElement::toJSON} of the UTF-8 bytes of C{text}."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    parts = ['"']
    for byte in text.encode("utf-8", "surrogateescape"):
        simple = _SIMPLE_ESCAPES.get(byte)
        if simple is not None:
            parts.append(simple)
        elif byte < 0x20 or byte >= 0x7F:
            parts.append(f"\\u{byte:04x}")
        else:
            parts.append(chr(byte))
    parts.append('"')
    return "".join(parts)


def _kea_key(key: str) -> str:
    """
    A map key. Kea writes keys unescaped (raw bytes); we do too, except that
    characters which would make the JSON invalid are escaped (where Kea's
    output could not be read back, even by Kea).
    """
    if '"' in key or "\\" in key or not key.isprintable():
        return json.dumps(key, ensure_ascii=False)
    return '"' + key + '"'


def _kea_double(value: float) -> str:
    """
    C++ C{ostream << double} (6 significant digits) plus Kea's C{.0} when
    there is no decimal point. Where that gives an exponent (C{1e+20}) Kea
    writes C{1e+20.0}, which neither Kea nor we can read back; we write
    C{1e+20}, which both read as the same double.
    """
    text = format(value, "g")
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def to_kea_json(value: Any) -> str:
    """C{value} (a JSON-like Python value) as Kea's C{Element::str()} writes it."""
    if isinstance(value, str):
        return _kea_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _kea_double(value)
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: k.encode("utf-8", "surrogateescape"))
        inner = ", ".join(_kea_key(k) + ": " + to_kea_json(value[k]) for k in keys)
        return "{ " + inner + " }"
    if isinstance(value, (list, tuple)):
        return "[ " + ", ".join(to_kea_json(v) for v in value) + " ]"
    raise TypeError(f"cannot write {type(value).__name__} as Kea JSON")


def text_from_kea_bytes(text: str, lossless: bool = True) -> str:
    """
    Undo Kea's per-byte C{\\u00XX} escapes: a string whose characters are
    all below 0x100 is taken as bytes and decoded as UTF-8. When those bytes
    are not UTF-8, C{lossless} keeps them as surrogate escapes (so they are
    written back unchanged), otherwise C{text} is returned as it is.
    """
    if text.isascii():
        return text
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape") if lossless else text


def _fix_strings(value: Any, lossless: bool) -> Any:
    if isinstance(value, str):
        return text_from_kea_bytes(value, lossless)
    if isinstance(value, dict):
        return {k: _fix_strings(v, lossless) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_strings(v, lossless) for v in value]
    return value


def from_kea_json(text: str) -> dict[str, Any]:
    """
    Read a user context written by Kea (or L{to_kea_json}); it must be a JSON
    map. String values get their C{\\u00XX} byte escapes undone
    (L{text_from_kea_bytes}); keys are raw text in Kea's files.
    """
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"invalid user context '{text}': {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"user context '{text}' is not a JSON map")
    if "\\u" in text or not text.isascii():
        value = _fix_strings(value, True)
    return value


# -- hex identifiers ---------------------------------------------------------

_COLONS = [":" * i for i in range(MAX_CLIENT_ID_LEN + 1)]


def colon_hex_fast(text: str) -> bytes | None:
    """
    C{aa:bb:...} with two digits per byte, or None to take the slow path.
    When C{fromhex} finds M bytes, the text is 3M-1 long and every third
    character is a colon, all the other 2M characters are hex digits.
    """
    try:
        data = bytes.fromhex(text.replace(":", " "))
    except ValueError:
        return None
    m = len(data)
    if len(text) == 3 * m - 1 and m <= MAX_CLIENT_ID_LEN and text[2::3] == _COLONS[m - 1]:
        return data
    return None


def _separated_hex(text: str, sep: str) -> bytes:
    """Kea's C{decodeSeparatedHexString}: 1-2 hex digits between separators."""
    tokens = text.split(sep)
    out = bytearray()
    for token in tokens:
        if len(tokens) > 1 and not token:
            raise ValueError(f"two consecutive separators ('{sep}') specified in"
                             f" a decoded string '{text}'")
        if len(token) > 2:
            raise ValueError(f"invalid format of the decoded string '{text}'")
        for ch in token:
            if ch not in _HEX:
                raise ValueError(f"'{ch}' is not a valid hexadecimal digit in"
                                 f" decoded string '{text}'")
        if token:
            out.append(int(token, 16))
    return bytes(out)


def parse_hwaddr(text: str) -> bytes:
    """Kea's C{HWAddr::fromText}: colon-separated hex, at most 20 bytes."""
    if not text:
        return b""
    data = colon_hex_fast(text)
    if data is None:
        data = _separated_hex(text, ":")
    if len(data) > MAX_HWADDR_LEN:
        raise ValueError("hwaddr length exceeds MAX_HWADDR_LEN")
    return data


def parse_client_id(text: str) -> bytes:
    """
    Kea's C{ClientId::fromText}: colon- or space-separated hex, or plain hex
    (optional C{0x}, odd length padded), 2 to 128 bytes.
    """
    data = colon_hex_fast(text)
    if data is None:
        if ":" in text:
            data = _separated_hex(text, ":")
        elif " " in text:
            data = _separated_hex(text, " ")
        else:
            digits = text[2:] if len(text) > 2 and text.startswith("0x") else text
            if len(text) % 2:
                digits = "0" + digits
            if not all(ch in _HEX for ch in digits):
                raise ValueError(f"'{text}' is not a valid string of hexadecimal digits")
            data = bytes.fromhex(digits)
    if len(data) > MAX_CLIENT_ID_LEN:
        raise ValueError(f"DUID size is {len(data)} bytes, exceeds maximum of {MAX_CLIENT_ID_LEN}")
    if not data:
        raise ValueError("Empty DUIDs are not allowed")
    if len(data) < MIN_CLIENT_ID_LEN:
        raise ValueError(f"client-id is too short ({len(data)}), at least 2 is required")
    return data


# -- Lease4::toElement ------------------------------------------------------------

def lease_to_element(lease: Lease4, *, with_expire: bool = False) -> dict[str, Any]:
    """
    Kea 2.2's C{Lease4::toElement} of C{lease}, keys in Kea's (sorted)
    order: C{client-id} and C{user-context} only when set, identifiers as
    lowercase colon hex. C{with_expire} replaces C{cltt} by C{expire} (cltt
    + valid-lft), as HA's C{lease4-update} and C{lease4-del} carry it.
    """
    element: dict[str, Any] = {}
    if lease.client_id:
        element["client-id"] = lease.client_id.hex(":")
    if with_expire:
        element["expire"] = lease.cltt + lease.valid_lft
    else:
        element["cltt"] = lease.cltt
    element["fqdn-fwd"] = bool(lease.fqdn_fwd)
    element["fqdn-rev"] = bool(lease.fqdn_rev)
    element["hostname"] = lease.hostname
    element["hw-address"] = lease.hwaddr.hex(":")
    # inet_ntoa is several times cheaper than IPv4Address.__str__.
    address = lease.address
    element["ip-address"] = (socket.inet_ntoa(address.packed) if type(address) is IPv4Address
                             else str(address))
    element["state"] = int(lease.state)
    element["subnet-id"] = lease.subnet_id
    if lease.user_context is not None:
        element["user-context"] = lease.user_context
    element["valid-lft"] = lease.valid_lft
    return element


# -- Lease4::fromElement -----------------------------------------------------------

def _is_int(value: Any) -> bool:
    """A Kea integer element: an int (not a bool) that fits int64."""
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _ascii_lower(text: str) -> str:
    """C{boost::algorithm::to_lower} in the C locale: A-Z only."""
    if text.isascii():
        return text.lower()
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in text)


def _parse_ip(text: str) -> IPv4Address | str:
    """An IPv4Address, or the text of an IPv6 address (Kea's IOAddress accepts both)."""
    try:
        return IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError):
        raise ValueError(f"invalid IP address {text} in the parsed lease") from None


def lease_from_element(element: Any, *, now: float | None = None) -> Lease4:
    """
    Kea 2.2's C{Lease4::fromElement}, as HA's lease sync uses it on each
    C{lease4-get-page} entry: the same checks, in the same order, with
    Kea's error texts (raised as C{ValueError}).

    One extension for lease updates: when C{cltt} is absent, C{expire}
    gives cltt = expire - valid-lft (with lease_cmds' checks), and without
    either C{now} is the cltt if given.
    """
    if not isinstance(element, dict):
        raise ValueError("parsed lease data is not a JSON map")
    ip_address = element.get("ip-address")
    if not isinstance(ip_address, str):
        raise ValueError("ip-address not present in the parsed lease or it is not a string")
    address = _parse_ip(ip_address)

    subnet_id = element.get("subnet-id")
    if not _is_int(subnet_id):
        raise ValueError("subnet-id not present in the parsed lease or it is not a number")
    if subnet_id <= 0:
        raise ValueError(f"subnet-id {subnet_id} is not a positive integer")
    if subnet_id > _UINT32_MAX:
        raise ValueError(f"subnet-id {subnet_id} is not a 32 bit unsigned integer")

    hwaddr = None
    if "hw-address" in element:
        hw_text = element["hw-address"]
        if not isinstance(hw_text, str):
            raise ValueError("hw-address is not a string in the parsed lease")
        try:
            hwaddr = parse_hwaddr(hw_text)
        except ValueError:
            raise ValueError(f"invalid hardware address {hw_text} in the parsed lease") from None

    cltt = element.get("cltt")
    if "cltt" in element or ("expire" not in element and now is None):
        if not _is_int(cltt):
            raise ValueError("cltt is not present in the parsed lease or it is not a number")
        if cltt <= 0:
            raise ValueError(f"cltt {cltt} is not a positive integer in the parsed lease")

    valid_lft = element.get("valid-lft")
    if not _is_int(valid_lft):
        raise ValueError("valid-lft is not present in the parsed lease or it is not a number")
    if valid_lft < 0:
        raise ValueError(f"valid-lft {valid_lft} is negative in the parsed lease")
    # Kea keeps the int64 in a uint32.
    valid_lft &= _UINT32_MAX

    if cltt is None:
        if "expire" in element:
            expire = element["expire"]
            if not _is_int(expire):
                raise ValueError("expire is not a number in the parsed lease")
            if expire <= 0:
                raise ValueError(f"expiration time must be positive for address {ip_address}")
            if expire < valid_lft:
                raise ValueError("expiration time must be greater than valid lifetime for"
                                 f" address {ip_address}")
            cltt = expire - valid_lft
        else:
            cltt = int(now)

    flags = []
    for name in ("fqdn-fwd", "fqdn-rev"):
        flag = element.get(name)
        if not isinstance(flag, bool):
            raise ValueError(f"{name} is not present in the parsed lease"
                             " or it is not a boolean value")
        flags.append(flag)

    hostname = element.get("hostname")
    if not isinstance(hostname, str):
        raise ValueError("hostname is not present in the parsed lease or it is not a string value")
    hostname = _ascii_lower(hostname)

    state = element.get("state")
    if not _is_int(state):
        raise ValueError("state is not present in the parsed lease or it is not a number")
    if not 0 <= state <= LeaseState.EXPIRED_RECLAIMED:
        raise ValueError(f"state {state} must be in range [0..{int(LeaseState.EXPIRED_RECLAIMED)}]")

    context = None
    if "user-context" in element:
        context = element["user-context"]
        if not isinstance(context, dict):
            raise ValueError("user context is not a map")

    if not isinstance(address, IPv4Address):
        raise ValueError(f"address {address} it not an IPv4 address")
    if hwaddr is None:
        raise ValueError("hw-address not present in the parsed lease")

    client_id = None
    if "client-id" in element:
        cid_text = element["client-id"]
        if not isinstance(cid_text, str):
            raise ValueError("client identifier is not a string in the parsed lease")
        try:
            client_id = parse_client_id(cid_text)
        except ValueError:
            raise ValueError(f"invalid client identifier {cid_text} in the parsed lease") from None

    return make_lease4(address, hwaddr, client_id, valid_lft, cltt, subnet_id, flags[0],
                       flags[1], hostname, LeaseState(state), context)
