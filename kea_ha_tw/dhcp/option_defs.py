# -*- test-case-name: tests.test_option_defs -*-
"""
The standard DHCPv4 option definitions, by Kea's names, and the conversion
of Kea's C{option-data} C{data} strings to wire payloads and back.

The table follows Kea 2.2's C{STANDARD_V4_OPTION_DEFINITIONS} (names, codes,
types, array flags, record fields), plus Kea's last-resort definition of
option 43 and, as an extension, C{classless-static-route} (121), which Kea
only defines from 2.5 on (2.2 needs C{"code": 121} with hex data).

Encoding follows Kea's C{OptionDataParser}/C{OptionDefinition} rules:
  - C{csv-format} true (the default when a definition exists): C{data} is
    split on commas (C{\\,} escapes one), each token is trimmed and written
    per the definition's type; a non-array, non-record option uses only the
    first token, as Kea does.
  - C{csv-format} false, or no definition: C{data} is hex, with optional
    C{:} or space separators and an optional C{0x} prefix; or a single-quoted
    string (C{'text'}) taken literally.

Pure module: no Twisted, no I/O.
"""

from __future__ import annotations

import ipaddress
import re

from kea_ha_tw.dhcp.option_table import (
    DATA_TYPES,
    INT_RANGES,
    STANDARD_DEFINITIONS,
    OptionDataError,
    OptionDefinition,
    get_definition,
    make_definition,
)
from kea_ha_tw.dhcp.option_text import decode_option_data, validate_payload

__all__ = [
    "OptionDefinition",
    "OptionDataError",
    "DATA_TYPES",
    "STANDARD_DEFINITIONS",
    "get_definition",
    "make_definition",
    "encode_csv",
    "decode_hex_data",
    "decode_option_data",
    "validate_payload",
    "resolve_option",
    "split_tokens",
    "encode_fqdn",
]

_HEX = re.compile(r"[0-9a-fA-F]*")


# -- csv-format true: text tokens -> bytes ---------------------------------


def split_tokens(data: str) -> list[str]:
    """Kea's C{tokens(data, ",", escape=true)}: C{\\,} escapes, empty tokens dropped."""
    out: list[str] = []
    token: list[str] = []
    escaped = False
    for c in data:
        if c == ",":
            if escaped:
                token.append(c)
                escaped = False
            elif token:
                out.append("".join(token))
                token = []
        elif c == "\\":
            if escaped:
                token.append(c)
            escaped = not escaped
        else:
            if escaped:
                token.append("\\")
                escaped = False
            token.append(c)
    if escaped:
        token.append("\\")
    if token:
        out.append("".join(token))
    return out


def _int(value: str, type_: str) -> bytes:
    lo, hi, size = INT_RANGES[type_]
    try:
        n = int(value, 10)
    except ValueError:
        try:
            # Kea falls back to reading hexadecimal ("0x5dc", even "abc").
            n = int(value, 16)
        except ValueError:
            raise OptionDataError(
                f"unable to convert the value '{value}' to integer data type"
            ) from None
    if not lo <= n <= hi:
        raise OptionDataError(
            f"unable to convert '{value}' to numeric type. "
            f"This value is expected to be in the range of {lo}..{hi}"
        )
    return (n & (2 ** (8 * size) - 1)).to_bytes(size, "big")


def _bool(value: str) -> bytes:
    if value.lower() == "true":
        return b"\x01"
    if value.lower() == "false":
        return b"\x00"
    try:
        n = int(value)
    except ValueError:
        raise OptionDataError(
            f"unable to covert the value '{value}' to boolean data type"
        ) from None
    if n not in (0, 1):
        raise OptionDataError(f"unable to convert '{value}' to boolean data type")
    return bytes([n])


def _ipv4(value: str) -> bytes:
    try:
        return ipaddress.IPv4Address(value).packed
    except ValueError:
        raise OptionDataError(
            f"Failed to convert string to address '{value}': Invalid argument"
        ) from None


def _ipv6(value: str) -> bytes:
    try:
        return ipaddress.IPv6Address(value).packed
    except ValueError:
        raise OptionDataError(
            f"Failed to convert string to address '{value}': Invalid argument"
        ) from None


def encode_fqdn(value: str) -> bytes:
    """A domain name in DNS wire format (uncompressed, with the root label)."""
    if value == "":
        raise OptionDataError("label is empty in ''")
    if value == ".":
        return b"\x00"
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    text = value[:-1] if value.endswith(".") and not value.endswith("\\.") else value
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                current.append(int(text[i + 1 : i + 4]) & 0xFF)
                i += 4
                continue
            current.extend(text[i + 1].encode("utf-8"))
            i += 2
            continue
        if c == ".":
            if not current:
                raise OptionDataError(f"duplicate period in {value}")
            labels.append(bytes(current))
            current = bytearray()
        else:
            current.extend(c.encode("utf-8"))
        i += 1
    if not current:
        raise OptionDataError(f"duplicate period in {value}")
    labels.append(bytes(current))
    out = bytearray()
    for label in labels:
        if len(label) > 63:
            raise OptionDataError(f"label is too long in {value}")
        out.append(len(label))
        out.extend(label)
    out.append(0)
    if len(out) > 255:
        raise OptionDataError(f"name is too long: {value}")
    return bytes(out)


def _hex_plain(value: str) -> bytes:
    """Kea's C{decodeHex}: an even number of hex digits, nothing else."""
    if len(value) % 2:
        raise OptionDataError(
            f"unable to cast {value} to binary data type: Incomplete input for base16: {value}"
        )
    if not _HEX.fullmatch(value):
        raise OptionDataError(f"unable to cast {value} to binary data type: invalid base16 input")
    return bytes.fromhex(value)


def _psid(value: str) -> bytes:
    text = value.replace(" ", "").replace("\t", "")
    if "/" not in text:
        raise OptionDataError(f"provided PSID value {value} is not valid")
    psid_s, len_s = text.split("/", 1)
    psid = int.from_bytes(_int(psid_s, "uint16"), "big")
    plen = _int(len_s, "uint8")[0]
    if plen > 16:
        raise OptionDataError(
            f"invalid PSID length value {plen}, this value is expected to be in range of 0..16"
        )
    if plen and psid >= 2**plen:
        raise OptionDataError(f"invalid PSID value {psid} for a specified PSID length {plen}")
    return bytes([plen]) + ((psid << (16 - plen)) & 0xFFFF if plen else 0).to_bytes(2, "big")


def _ipv6_prefix(value: str) -> bytes:
    text = value.replace(" ", "").replace("\t", "")
    if "/" not in text:
        raise OptionDataError(f"provided address/prefix {value} is not valid.")
    addr_s, len_s = text.split("/", 1)
    addr = _ipv6(addr_s)
    plen = _int(len_s, "uint8")[0]
    if plen > 128:
        raise OptionDataError(f"provided prefix {len_s} is not valid.")
    return bytes([plen]) + addr[: (plen + 7) // 8]


def _classless_routes(data: str) -> bytes:
    """RFC 3442 payload from Kea's text form "10.0.0.0/8 - 10.0.0.1, ..."."""
    out = bytearray()
    for route in split_tokens(data):
        parts = [p.strip() for p in route.split("-")]
        if len(parts) != 2 or "/" not in parts[0]:
            raise OptionDataError(
                f"DHCPv4 OptionClasslessStaticRoute {route.strip()} is not a valid route, "
                "expected format: prefix/len - router"
            )
        try:
            net = ipaddress.IPv4Network(parts[0], strict=False)
        except ValueError:
            raise OptionDataError(
                f"DHCPv4 OptionClasslessStaticRoute prefix {parts[0]} is not valid"
            ) from None
        plen = net.prefixlen
        out.append(plen)
        out.extend(net.network_address.packed[: (plen + 7) // 8])
        out.extend(_ipv4(parts[1]))
    return bytes(out)


def _write(value: str, type_: str) -> bytes:
    if type_ in INT_RANGES:
        return _int(value, type_)
    if type_ == "ipv4-address":
        return _ipv4(value)
    if type_ == "ipv6-address":
        return _ipv6(value)
    if type_ == "boolean":
        return _bool(value)
    if type_ == "string":
        return value.encode("utf-8")
    if type_ == "fqdn":
        return encode_fqdn(value)
    if type_ == "binary":
        return _hex_plain(value)
    if type_ == "tuple":
        raw = value.encode("utf-8")
        if len(raw) > 255:
            raise OptionDataError(f"invalid tuple value (size {len(raw)} larger than 255)")
        return bytes([len(raw)]) + raw
    if type_ == "psid":
        return _psid(value)
    if type_ == "ipv6-prefix":
        return _ipv6_prefix(value)
    raise OptionDataError(
        f"attempt to write invalid option data field type into the option buffer: {type_}"
    )


def encode_csv(definition: OptionDefinition, data: str) -> bytes:
    """
    The payload for C{data} written in Kea's CSV form for C{definition}.

    @raise OptionDataError: with (a Python rendering of) Kea's text.
    """
    if definition.type == "internal":
        return _classless_routes(data)
    values = [v.strip() for v in split_tokens(data)]
    t = definition.type
    if t == "record":
        fields = definition.record_types
        if len(fields) > len(values):
            raise OptionDataError(
                f"number of data fields for the option type '{definition.code}' is greater "
                "than number of values provided."
            )
        out = b"".join(_write(v, f) for v, f in zip(values, fields, strict=False))
        if definition.array:
            out += b"".join(_write(v, fields[-1]) for v in values[len(fields) :])
        payload = out
    elif definition.array:
        payload = b"".join(_write(v, t) for v in values)
    elif not values:
        if t != "empty":
            raise OptionDataError("no option value specified")
        payload = b""
    elif t == "empty":
        raise OptionDataError(
            "attempt to write invalid option data field type into the option buffer: empty"
        )
    else:
        payload = _write(values[0], t)
    if definition.code == 125 and definition.space == "dhcp4" and t == "uint32":
        # Kea's OptionVendor: enterprise-id, then a data-len octet (no sub-options).
        payload += b"\x00"
    validate_payload(definition, payload)
    return payload


def decode_hex_data(data: str) -> bytes:
    """
    Kea's non-CSV C{data}: C{'quoted text'}, or hex with C{:} or space
    separators (one or two digits per octet), or plain hex with an
    optional C{0x} prefix (an odd digit count gets a leading 0).

    @raise OptionDataError: "option data is not a valid string of
        hexadecimal digits".
    """
    trimmed = data.strip()
    if len(trimmed) > 1 and trimmed[0] == "'" and trimmed[-1] == "'":
        inner = trimmed[1:-1].strip()
        if inner:
            return inner.encode("utf-8")
    bad = OptionDataError(f"option data is not a valid string of hexadecimal digits: {data}")
    for sep in (":", " "):
        if sep in data:
            parts = data.split(sep)
            out = bytearray()
            for part in parts:
                if not part and len(parts) > 1:
                    raise bad
                if len(part) > 2 or not all(c in "0123456789abcdefABCDEF" for c in part):
                    raise bad
                out.append(int(part, 16))
            return bytes(out)
    digits = data[2:] if len(data) > 2 and data.startswith("0x") else data
    if len(data) % 2:
        digits = "0" + digits
    if not _HEX.fullmatch(digits):
        raise bad
    return bytes.fromhex(digits)


def resolve_option(
    name: str | None,
    code: int | None,
    data: str,
    csv_format: bool | None,
    space: str = "dhcp4",
    custom: tuple[OptionDefinition, ...] = (),
) -> tuple[int, str, bytes]:
    """
    Kea's C{OptionDataParser::createOption} for one C{option-data} entry:
    find the definition (by code if given, else by name), check that a
    given name matches it, and encode C{data}.

    @return: C{(code, name, payload)}; C{name} is C{""} for an option
        without a definition (given by code, with hex data).
    @raise OptionDataError: with Kea's texts.
    """
    if name is not None and " " in name:
        raise OptionDataError(f"invalid option name '{name}', space character is not allowed")
    if code is not None and code > 255:
        raise OptionDataError(f"invalid option code '{code}', it must not be greater than '255'")
    if space == "dhcp6":
        raise OptionDataError("'dhcp6' option space name is reserved for DHCPv6 server")
    if code is None and name is None:
        raise OptionDataError(
            "option data configuration requires one of 'code' or 'name' parameters to be specified"
        )
    definition = get_definition(name, code, custom) if space == "dhcp4" else None
    if definition is None:
        if csv_format:
            raise OptionDataError(
                f"definition for the option '{space}.{name or ''}' "
                f"having code '{code}' does not exist"
            )
        if code is None:
            raise OptionDataError(f"definition for the option '{space}.{name}' does not exist")
    if definition is not None and not definition.kea22 and csv_format is None and _looks_hex(data):
        # Kea 2.2 has no definition for this code, so a 2.2 config gives hex.
        csv_format = False
    if definition is None or csv_format is False:
        payload = decode_hex_data(data)
    else:
        payload = b""
    if code in (0, 255) or (definition is not None and definition.code in (0, 255)):
        which = code if code is not None else definition.code
        raise OptionDataError(
            f"invalid option code '{which}': reserved for {'PAD' if which == 0 else 'END'}"
        )
    if definition is None:
        return code, "", payload
    if name is not None and definition.name != name:
        raise OptionDataError(
            f"specified option name '{name}' does not match the option definition: "
            f"'{space}.{definition.name}'"
        )
    try:
        if csv_format is False:
            validate_payload(definition, payload)
        else:
            payload = encode_csv(definition, data)
    except OptionDataError as e:
        raise OptionDataError(
            f"option data does not match option definition (space: {space}, "
            f"code: {definition.code}): {e}"
        ) from None
    return definition.code, definition.name, payload


def _looks_hex(data: str) -> bool:
    try:
        decode_hex_data(data)
    except OptionDataError:
        return False
    return "'" not in data
