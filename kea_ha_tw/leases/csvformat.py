# -*- test-case-name: tests.test_csvformat -*-
"""
Kea 2.2's memfile lease file (DHCPv4): the CSV header, one row per lease
change, and the file's own escaping (pure functions, no I/O).

What Kea 2.2 writes and reads (C{CSVLeaseFile4}, C{VersionedCSVFile},
C{CSVRow}):

  - the header is exactly L{HEADER}; a delete is the lease re-written with
    C{valid_lifetime} 0 (so C{expire} = cltt);
  - C{hostname} and C{user_context} are escaped: C{,} becomes C{&#x2c} and
    C{&} becomes C{&#x26}; on read C{&#x} plus two hex digits is decoded and
    anything else is kept as it is;
  - C{user_context} is the map in Kea's own JSON style (C{{ "a": "b" }},
    keys sorted, C{[  ]} and C{{  }} when empty, every string byte outside
    0x20-0x7e as C{\\u00XX}, doubles as C++'s C{<<} prints them);
  - files of an older schema (fewer columns, but at least up to
    C{hostname}) are upgraded with the column defaults; files with more
    columns (Kea 2.4+'s C{pool_id}) are read and the extra columns dropped.

Text handling: Kea's strings are byte strings. Files are read and written
as UTF-8 with C{surrogateescape}, so any byte Kea wrote survives a
read/write cycle unchanged (L{decode_row} then L{encode_row} is the
identity on every row Kea 2.2 writes, except the unreadable doubles noted
in L{to_kea_json}).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address
from collections.abc import Iterable, Iterator

from kea_ha_tw.leases.kea_json import (
    MAX_HWADDR_LEN, MIN_CLIENT_ID_LEN, colon_hex_fast, from_kea_json, parse_client_id,
    parse_hwaddr, to_kea_json)
from kea_ha_tw.leases.model import Lease4, LeaseState, make_lease4

COLUMNS = (
    "address", "hwaddr", "client_id", "valid_lifetime", "expire", "subnet_id",
    "fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context",
)
HEADER = ",".join(COLUMNS)
# Schema version of each column (Kea 2.2: "Memfile backend 2.1") and the
# value an older file gets for a column it lacks.
COLUMN_VERSIONS = ("1.0",) * 9 + ("2.0", "2.1")
_COLUMN_DEFAULTS = ("",) * 9 + ("0", "")
# "Any file with less than hostname is invalid."
MINIMUM_VALID_COLUMNS = COLUMNS.index("hostname") + 1

UINT32_MAX = 0xFFFFFFFF
UINT64_MAX = 0xFFFFFFFFFFFFFFFF

_STATE_TEXT = {0: "default", 1: "declined", 2: "expired-reclaimed"}


class CSVFormatError(ValueError):
    """A header or row that Kea would refuse; the text says why."""


@dataclass(frozen=True, slots=True)
class FileSchema:
    """
    What the header of a lease file says about its rows.

    @ivar header_columns: how many columns the header names.
    @ivar valid_columns: how many of them match Kea 2.2's columns.
    """

    header_columns: int = len(COLUMNS)
    valid_columns: int = len(COLUMNS)

    @property
    def needs_upgrade(self) -> bool:
        """An older schema: missing columns get their defaults."""
        return self.valid_columns < len(COLUMNS)

    @property
    def needs_downgrade(self) -> bool:
        """A newer schema (e.g. 2.4's C{pool_id}): extra columns are dropped."""
        return self.header_columns > len(COLUMNS)

    @property
    def needs_conversion(self) -> bool:
        """Kea runs LFC once at start-up to rewrite such a file."""
        return self.needs_upgrade or self.needs_downgrade

    @property
    def version(self) -> str:
        """The schema version of the file's rows, e.g. C{"2.0"}."""
        return COLUMN_VERSIONS[self.valid_columns - 1]


CURRENT_SCHEMA = FileSchema()


def parse_header(line: str, filename: str = "") -> FileSchema:
    """
    Check a header line the way Kea's C{VersionedCSVFile::validateHeader}
    does and return the file's schema; raise L{CSVFormatError} if Kea would
    refuse the file.
    """
    line = line.rstrip("\n")
    names = line.split(",")
    for got, want in zip(names, COLUMNS, strict=False):
        if got != want:
            raise CSVFormatError(
                f"invalid header '{line}' in CSV file '{filename}':  - header"
                f" contains an invalid column: '{got}'")
    i = min(len(names), len(COLUMNS))
    if i < MINIMUM_VALID_COLUMNS:
        raise CSVFormatError(
            f"invalid header '{line}' in CSV file '{filename}':  - header has"
            f" only {i} valid column(s), it must have at least {MINIMUM_VALID_COLUMNS}")
    return FileSchema(header_columns=len(names), valid_columns=i)


# -- escaping ---------------------------------------------------------------

def escape(text: str) -> str:
    """
    Kea's C{CSVRow::escapeCharacters(text, ",")}: C{&} and C{,} as C{&#xHH}.
    A newline is escaped too (C{&#x0a}), which Kea reads back; Kea itself
    writes it raw and so breaks its own file.
    """
    if "&" in text:
        text = text.replace("&", "&#x26")
    if "," in text:
        text = text.replace(",", "&#x2c")
    if "\n" in text:
        text = text.replace("\n", "&#x0a")
    return text


_HEX = frozenset("0123456789abcdefABCDEF")


def unescape(text: str) -> str:
    """
    Kea's C{CSVRow::unescapeCharacters}: C{&#x} and two hex digits become
    that byte; a tag not followed by two hex digits is kept. Kea's own quirk
    is kept too: a tag with fewer than two characters after it becomes a
    NUL byte followed by what was there.
    """
    if "&#x" not in text:
        return text
    data = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    start = 0
    pos = data.find(b"&#x")
    size = len(data)
    while pos != -1:
        out += data[start:pos]
        digits = pos + 3
        if digits <= size - 2:
            pair = data[digits:digits + 2].decode("latin-1")
            if pair[0] in _HEX and pair[1] in _HEX:
                out.append(int(pair, 16))
                start = digits + 2
            else:
                out += b"&#x"
                start = digits
        else:
            # Kea reads no digit and emits the (zero) value it started with.
            out.append(0)
            start = digits
        pos = data.find(b"&#x", start)
    out += data[start:]
    return out.decode("utf-8", "surrogateescape")


def state_text(state: int) -> str:
    """Kea's C{Lease::basicStatesToText}."""
    return _STATE_TEXT.get(int(state), f"unknown ({int(state)})")


# -- rows ----------------------------------------------------------------------

_new = object.__new__

_STATES = {"0": LeaseState.DEFAULT, "1": LeaseState.DECLINED,
           "2": LeaseState.EXPIRED_RECLAIMED,
           # Kea 3.0's "released" (lease affinity) is closest to a reclaimed
           # lease; Kea 2.2 has no such state.
           "3": LeaseState.EXPIRED_RECLAIMED}
_BOOLS = {"0": False, "1": True}
_DECLINED = LeaseState.DECLINED
_inet_pton = socket.inet_pton
_inet_ntoa = socket.inet_ntoa
_AF_INET = socket.AF_INET
# Caches for the few distinct lifetimes and subnet ids of a file.
_UINT32_CACHE: dict[str, int] = {}


def _uint(text: str, limit: int, column: str) -> int:
    if not (text.isdigit() and text.isascii()):
        raise CSVFormatError(f"invalid {column} value '{text}'")
    value = int(text)
    if value > limit:
        raise CSVFormatError(f"{column} value '{text}' is out of range")
    return value


def _uint32(text: str, column: str) -> int:
    value = _UINT32_CACHE.get(text)
    if value is None:
        value = _uint(text, UINT32_MAX, column)
        if len(_UINT32_CACHE) < 4096:
            _UINT32_CACHE[text] = value
    return value


def _ipv4_from_int(value: int) -> IPv4Address:
    """C{IPv4Address(value)} for a value known to be in range, built fast."""
    address = _new(IPv4Address)
    address._ip = value
    return address


if _ipv4_from_int(0x01020304) != IPv4Address("1.2.3.4"):  # pragma: no cover
    _ipv4_from_int = IPv4Address
_from_bytes = int.from_bytes


def _address(text: str) -> IPv4Address:
    """Kea's C{IOAddress}: what C{inet_pton} accepts (dotted quad, no zero padding)."""
    try:
        return _ipv4_from_int(_from_bytes(_inet_pton(_AF_INET, text), "big"))
    except OSError:
        raise CSVFormatError(f"invalid IPv4 address '{text}'") from None


def decode_row(line: str, schema: FileSchema = CURRENT_SCHEMA) -> Lease4:
    """
    One data row (without its newline) as a L{Lease4}, with Kea's checks;
    raise L{CSVFormatError} with the reason when Kea would skip the row.
    A row with valid lifetime 0 decodes too: the loader treats it as a delete.
    """
    # The hot loop of loading a lease file: the common cases are inlined.
    fields = line.split(",")
    if len(fields) != 11:
        fields = _fit_columns(fields, schema)
    (address, hw, cid, valid, expire, subnet, fwd, rev, host, state, ctx) = fields
    try:
        addr = _ipv4_from_int(_from_bytes(_inet_pton(_AF_INET, address), "big"))
    except OSError:
        raise CSVFormatError(f"invalid IPv4 address '{address}'") from None
    try:
        if cid:
            client_id = colon_hex_fast(cid)
            if client_id is None or len(client_id) < MIN_CLIENT_ID_LEN:
                client_id = parse_client_id(cid)
        else:
            client_id = None
        if hw:
            hwaddr = colon_hex_fast(hw)
            if hwaddr is None or len(hwaddr) > MAX_HWADDR_LEN:
                hwaddr = parse_hwaddr(hw)
        else:
            hwaddr = b""
    except ValueError as e:
        raise CSVFormatError(str(e)) from None
    lease_state = _STATES.get(state)
    if lease_state is None:
        raise CSVFormatError(f"invalid state value '{state}'")
    if not hwaddr and not client_id and lease_state is not _DECLINED:
        raise CSVFormatError(f"Lease4: {address}, state: {state_text(int(state))}"
                             " has neither hardware address or client id")
    if ctx:
        try:
            context = from_kea_json(unescape(ctx))
        except ValueError as e:
            raise CSVFormatError(str(e)) from None
    else:
        context = None
    valid_lft = _UINT32_CACHE.get(valid)
    if valid_lft is None:
        valid_lft = _uint32(valid, "valid_lifetime")
    if expire.isdigit() and expire.isascii() and len(expire) < 20:
        cltt = int(expire) - valid_lft
    else:
        cltt = _uint(expire, UINT64_MAX, "expire") - valid_lft
    subnet_id = _UINT32_CACHE.get(subnet)
    if subnet_id is None:
        subnet_id = _uint32(subnet, "subnet_id")
    fqdn_fwd = _BOOLS.get(fwd)
    fqdn_rev = _BOOLS.get(rev)
    if fqdn_fwd is None or fqdn_rev is None:
        raise CSVFormatError(f"invalid fqdn_fwd/fqdn_rev value '{fwd}'/'{rev}'")
    if host and "&#x" in host:
        host = unescape(host)
    return make_lease4(addr, hwaddr, client_id, valid_lft, cltt, subnet_id,
                       fqdn_fwd, fqdn_rev, host, lease_state, context)


def _fit_columns(fields: list[str], schema: FileSchema) -> list[str]:
    """
    A row that has not exactly 11 values, as Kea 2.2 really reads it: an
    older file's row (at least as long as its header's valid columns) gets
    the missing columns' defaults; extra values are ignored (Kea 2.4's
    C{pool_id}, or anything else: C{CSVLeaseFile4::next} ignores the
    column-count verdict of C{VersionedCSVFile::next}); a row still shorter
    than 11 fails on the first column Kea reads that is not there.
    """
    n = len(fields)
    if n > len(COLUMNS):
        return fields[:len(COLUMNS)]
    if schema.needs_upgrade and n >= schema.valid_columns:
        return fields + list(_COLUMN_DEFAULTS[n:])
    # Kea reads address, client_id, hwaddr, state, user_context, ... in turn.
    missing = 2 if n <= 2 else 9 if n <= 9 else 10
    raise CSVFormatError(f"value index '{missing}' of the CSV row is out of bounds;"
                         f" maximal index is '{n - 1}'")


def encode_row(lease: Lease4, valid_lft: int | None = None) -> str:
    """
    The row Kea's C{CSVLeaseFile4::append} writes for C{lease}, newline
    included. C{valid_lft} overrides the lease's (0 writes a delete).
    """
    valid = lease.valid_lft if valid_lft is None else valid_lft
    cid = lease.client_id
    host = lease.hostname
    ctx = lease.user_context
    address = _inet_ntoa(int(lease.address).to_bytes(4, "big"))
    return (f"{address},{lease.hwaddr.hex(':')},{cid.hex(':') if cid else ''},"
            f"{valid},{lease.cltt + valid},{lease.subnet_id},"
            f"{1 if lease.fqdn_fwd else 0},{1 if lease.fqdn_rev else 0},"
            f"{escape(host) if host else ''},{int(lease.state)},"
            f"{escape(to_kea_json(ctx)) if ctx is not None else ''}\n")


def encode_delete_row(lease: Lease4) -> str:
    """The row Kea appends when C{lease} is deleted (valid lifetime 0)."""
    return encode_row(lease, valid_lft=0)


def check_writable(lease: Lease4) -> None:
    """
    Kea refuses to append a lease with neither hardware address nor
    client id unless it is declined; raise L{CSVFormatError} like it.
    """
    if not lease.hwaddr and not lease.client_id and lease.state != LeaseState.DECLINED:
        raise CSVFormatError(f"Lease4: {lease.address}, state: {state_text(lease.state)}"
                             " has neither hardware address or client id")


# -- whole files -------------------------------------------------------------

@dataclass(slots=True)
class LoadStats:
    """What reading one file found (Kea's read counters)."""

    reads: int = 0
    read_leases: int = 0
    read_errors: int = 0


def read_rows(lines: Iterable[str], filename: str = "",
              stats: LoadStats | None = None) -> Iterator[Lease4 | CSVFormatError]:
    """
    Decode the data rows of a lease file whose header was already checked
    (the first line of C{lines} must be the header). Blank lines are skipped,
    as Kea does. Yields a L{Lease4} per good row and a L{CSVFormatError}
    (naming the row) per bad one, so the caller can apply C{max-row-errors}.
    """
    it = iter(lines)
    header = next(it, None)
    while header == "\n":
        header = next(it, None)
    if header is None:
        return
    schema = parse_header(header, filename)
    if stats is None:
        stats = LoadStats()
    for line in it:
        if line[-1:] == "\n":
            line = line[:-1]
        if not line:
            continue
        stats.reads += 1
        try:
            lease = decode_row(line, schema)
        except CSVFormatError as e:
            stats.read_errors += 1
            yield CSVFormatError(f"discarding row {stats.reads}, error: {e}")
            continue
        stats.read_leases += 1
        yield lease
