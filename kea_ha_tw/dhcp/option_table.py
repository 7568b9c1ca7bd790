# -*- test-case-name: tests.test_option_defs -*-
"""
The DHCPv4 option definitions Kea 2.2 knows by default (its
C{STANDARD_V4_OPTION_DEFINITIONS} plus the last-resort option 43), with
C{classless-static-route} (121) added as an extension (Kea defines it only
from 2.5 on), and the checks Kea applies to custom C{option-def} entries.

Pure module. The public API is re-exported by L{kea_ha_tw.dhcp.option_defs}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DATA_TYPES = frozenset(
    "empty binary boolean int8 int16 int32 uint8 uint16 uint32 ipv4-address "
    "ipv6-address ipv6-prefix psid string tuple fqdn record internal".split()
)
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1, 1),
    "int16": (-(2**15), 2**15 - 1, 2),
    "int32": (-(2**31), 2**31 - 1, 4),
    "uint8": (0, 2**8 - 1, 1),
    "uint16": (0, 2**16 - 1, 2),
    "uint32": (0, 2**32 - 1, 4),
}


class OptionDataError(ValueError):
    """C{data} does not fit the option's definition; the text says why."""


@dataclass(frozen=True, slots=True)
class OptionDefinition:
    """
    One option definition.

    @ivar record_types: the field types when C{type} is C{"record"}.
    @ivar encapsulate: the option space carried as sub-options, or C{""}.
    @ivar kea22: whether Kea 2.2 knows this definition by default.
    """

    name: str
    code: int
    type: str
    array: bool = False
    record_types: tuple[str, ...] = ()
    space: str = "dhcp4"
    encapsulate: str = ""
    kea22: bool = True


def _d(name, code, type_, array=False, records=(), encapsulate="", kea22=True):
    return OptionDefinition(name, code, type_, array, tuple(records), "dhcp4", encapsulate, kea22)


_IP, _IPS = "ipv4-address", True
STANDARD_DEFINITIONS: tuple[OptionDefinition, ...] = (
    _d("subnet-mask", 1, _IP),
    _d("time-offset", 2, "int32"),
    _d("routers", 3, _IP, _IPS),
    _d("time-servers", 4, _IP, _IPS),
    _d("name-servers", 5, _IP, _IPS),
    _d("domain-name-servers", 6, _IP, _IPS),
    _d("log-servers", 7, _IP, _IPS),
    _d("cookie-servers", 8, _IP, _IPS),
    _d("lpr-servers", 9, _IP, _IPS),
    _d("impress-servers", 10, _IP, _IPS),
    _d("resource-location-servers", 11, _IP, _IPS),
    _d("host-name", 12, "string"),
    _d("boot-size", 13, "uint16"),
    _d("merit-dump", 14, "string"),
    _d("domain-name", 15, "string"),
    _d("swap-server", 16, _IP),
    _d("root-path", 17, "string"),
    _d("extensions-path", 18, "string"),
    _d("ip-forwarding", 19, "boolean"),
    _d("non-local-source-routing", 20, "boolean"),
    _d("policy-filter", 21, _IP, _IPS),
    _d("max-dgram-reassembly", 22, "uint16"),
    _d("default-ip-ttl", 23, "uint8"),
    _d("path-mtu-aging-timeout", 24, "uint32"),
    _d("path-mtu-plateau-table", 25, "uint16", True),
    _d("interface-mtu", 26, "uint16"),
    _d("all-subnets-local", 27, "boolean"),
    _d("broadcast-address", 28, _IP),
    _d("perform-mask-discovery", 29, "boolean"),
    _d("mask-supplier", 30, "boolean"),
    _d("router-discovery", 31, "boolean"),
    _d("router-solicitation-address", 32, _IP),
    _d("static-routes", 33, _IP, _IPS),
    _d("trailer-encapsulation", 34, "boolean"),
    _d("arp-cache-timeout", 35, "uint32"),
    _d("ieee802-3-encapsulation", 36, "boolean"),
    _d("default-tcp-ttl", 37, "uint8"),
    _d("tcp-keepalive-interval", 38, "uint32"),
    _d("tcp-keepalive-garbage", 39, "boolean"),
    _d("nis-domain", 40, "string"),
    _d("nis-servers", 41, _IP, _IPS),
    _d("ntp-servers", 42, _IP, _IPS),
    # Kea's "last resort" definition: sub-options of its own space.
    _d("vendor-encapsulated-options", 43, "empty", encapsulate="vendor-encapsulated-options-space"),
    _d("netbios-name-servers", 44, _IP, _IPS),
    _d("netbios-dd-server", 45, _IP, _IPS),
    _d("netbios-node-type", 46, "uint8"),
    _d("netbios-scope", 47, "string"),
    _d("font-servers", 48, _IP, _IPS),
    _d("x-display-manager", 49, _IP, _IPS),
    _d("dhcp-requested-address", 50, _IP),
    _d("dhcp-lease-time", 51, "uint32"),
    _d("dhcp-option-overload", 52, "uint8"),
    _d("dhcp-message-type", 53, "uint8"),
    _d("dhcp-server-identifier", 54, _IP),
    _d("dhcp-parameter-request-list", 55, "uint8", True),
    _d("dhcp-message", 56, "string"),
    _d("dhcp-max-message-size", 57, "uint16"),
    _d("dhcp-renewal-time", 58, "uint32"),
    _d("dhcp-rebinding-time", 59, "uint32"),
    _d("vendor-class-identifier", 60, "string"),
    _d("dhcp-client-identifier", 61, "binary"),
    _d("nwip-domain-name", 62, "string"),
    _d("nwip-suboptions", 63, "binary"),
    _d("nisplus-domain-name", 64, "string"),
    _d("nisplus-servers", 65, _IP, _IPS),
    _d("tftp-server-name", 66, "string"),
    _d("boot-file-name", 67, "string"),
    _d("mobile-ip-home-agent", 68, _IP, _IPS),
    _d("smtp-server", 69, _IP, _IPS),
    _d("pop-server", 70, _IP, _IPS),
    _d("nntp-server", 71, _IP, _IPS),
    _d("www-server", 72, _IP, _IPS),
    _d("finger-server", 73, _IP, _IPS),
    _d("irc-server", 74, _IP, _IPS),
    _d("streettalk-server", 75, _IP, _IPS),
    _d("streettalk-directory-assistance-server", 76, _IP, _IPS),
    _d("user-class", 77, "binary"),
    _d("slp-directory-agent", 78, "record", True, ("boolean", _IP)),
    _d("slp-service-scope", 79, "record", False, ("boolean", "string")),
    _d("fqdn", 81, "record", False, ("uint8", "uint8", "uint8", "fqdn")),
    _d("dhcp-agent-options", 82, "empty", encapsulate="dhcp-agent-options-space"),
    _d("nds-servers", 85, _IP, _IPS),
    _d("nds-tree-name", 86, "string"),
    _d("nds-context", 87, "string"),
    _d("bcms-controller-names", 88, "fqdn", True),
    _d("bcms-controller-address", 89, _IP, _IPS),
    _d("authenticate", 90, "binary"),
    _d("client-last-transaction-time", 91, "uint32"),
    _d("associated-ip", 92, _IP, _IPS),
    _d("client-system", 93, "uint16", True),
    _d("client-ndi", 94, "record", False, ("uint8", "uint8", "uint8")),
    _d("uuid-guid", 97, "record", False, ("uint8", "binary")),
    _d("uap-servers", 98, "string"),
    _d("geoconf-civic", 99, "binary"),
    _d("pcode", 100, "string"),
    _d("tcode", 101, "string"),
    _d("v6-only-preferred", 108, "uint32"),
    _d("netinfo-server-address", 112, _IP, _IPS),
    _d("netinfo-server-tag", 113, "string"),
    _d("v4-captive-portal", 114, "string"),
    _d("auto-config", 116, "uint8"),
    _d("name-service-search", 117, "uint16", True),
    _d("subnet-selection", 118, _IP),
    _d("domain-search", 119, "fqdn", True),
    _d("classless-static-route", 121, "internal", kea22=False),
    _d("vivco-suboptions", 124, "record", False, ("uint32", "binary")),
    _d("vivso-suboptions", 125, "uint32"),
    _d("pana-agent", 136, _IP, _IPS),
    _d("v4-lost", 137, "fqdn"),
    _d("capwap-ac-v4", 138, _IP, _IPS),
    _d("sip-ua-cs-domains", 141, "fqdn", True),
    _d("rdnss-selection", 146, "record", True, ("uint8", _IP, _IP, "fqdn")),
    _d("v4-portparams", 159, "record", False, ("uint8", "psid")),
    _d("option-6rd", 212, "record", True, ("uint8", "uint8", "ipv6-address", _IP)),
    _d("v4-access-domain", 213, "fqdn"),
)

_BY_NAME = {d.name: d for d in STANDARD_DEFINITIONS}
_BY_CODE = {d.code: d for d in STANDARD_DEFINITIONS}


def get_definition(
    name: str | None = None,
    code: int | None = None,
    custom: tuple[OptionDefinition, ...] = (),
) -> OptionDefinition | None:
    """
    The definition with C{code} (preferred, as in Kea) or C{name} in the
    C{dhcp4} space, looking at C{custom} definitions first; C{None} if none.
    """
    for d in custom:
        if (code is not None and d.code == code) or (code is None and d.name == name):
            return d
    if code is not None:
        return _BY_CODE.get(code)
    return _BY_NAME.get(name) if name is not None else None


_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


def make_definition(
    name: str, code: int, type_: str, array: bool, record_types: str
) -> OptionDefinition:
    """
    A custom C{dhcp4} definition from C{option-def} fields, validated as
    Kea's C{OptionDefinition::validate} does.

    @raise OptionDataError: with Kea's text.
    """
    if not _NAME_RE.fullmatch(name) or name[0] in "-_" or name[-1] in "-_":
        raise OptionDataError(f"invalid option name '{name}'")
    if type_ not in DATA_TYPES or type_ == "internal":
        raise OptionDataError(f"option type {type_} not supported.")
    records = tuple(t.strip() for t in record_types.split(",") if t.strip())
    for t in records:
        if t not in DATA_TYPES or t in ("record", "internal"):
            raise OptionDataError(
                "invalid record type values specified for the option definition: "
                f"attempted to add invalid data type '{t}' to the record."
            )
    if type_ == "record":
        if len(records) < 2:
            raise OptionDataError(
                f"invalid number of data fields: {len(records)} specified for the option of "
                "type 'record'. Expected at least 2 fields."
            )
        for i, t in enumerate(records):
            last = i == len(records) - 1
            if t in ("string", "binary") and not last:
                raise OptionDataError(
                    f"{t} data field can't be laid before data fields of other types."
                )
            if t == "empty":
                raise OptionDataError(
                    "empty data type can't be stored as a field in an option record."
                )
        if array and records[-1] in ("string", "binary"):
            raise OptionDataError(_array_error(records[-1]))
    elif array and type_ in ("string", "binary", "empty"):
        raise OptionDataError(_array_error(type_))
    return OptionDefinition(name, code, type_, array, records if type_ == "record" else ())


def _array_error(type_: str) -> str:
    if type_ == "string":
        return "array of strings is not a valid option definition."
    if type_ == "binary":
        return "array of binary values is not a valid option definition."
    return "array of empty value is not a valid option definition."
