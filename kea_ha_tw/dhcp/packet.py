# -*- test-case-name: tests.test_codec -*-
"""
The DHCPv4 packet as a value (RFC 2131 section 2), independent of its
wire form. L{kea_ha_tw.dhcp.codec} converts between bytes and L{DHCPPacket}.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from typing import Any, Mapping

ZERO = IPv4Address("0.0.0.0")
BOOTREQUEST = 1
BOOTREPLY = 2
FLAG_BROADCAST = 0x8000


class MessageType(enum.IntEnum):
    """Option 53 values (RFC 2132 section 9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Opt(enum.IntEnum):
    """The option codes the server logic refers to by name."""

    PAD = 0
    SUBNET_MASK = 1
    ROUTERS = 3
    DOMAIN_NAME_SERVERS = 6
    HOST_NAME = 12
    DOMAIN_NAME = 15
    BROADCAST_ADDRESS = 28
    REQUESTED_ADDRESS = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS_ID = 60
    CLIENT_ID = 61
    FQDN = 81
    RELAY_AGENT_INFO = 82
    SUBNET_SELECTION = 118
    END = 255


@dataclass(frozen=True, slots=True, eq=True)
class DHCPPacket:
    """
    A decoded DHCPv4 message.

    @ivar chaddr: the full 16-byte C{chaddr} field as on the wire; use
        L{hwaddr} for the C{hlen} significant bytes.
    @ivar sname: the 64-byte C{sname} field (options already moved out
        when overloaded).
    @ivar file: the 128-byte C{file} field (likewise).
    @ivar options: option code -> payload, in wire order. Repeated
        instances of one code are concatenated (RFC 3396). Codes 0 and 255
        never appear.
    """

    op: int = BOOTREQUEST
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = ZERO
    yiaddr: IPv4Address = ZERO
    siaddr: IPv4Address = ZERO
    giaddr: IPv4Address = ZERO
    chaddr: bytes = b"\x00" * 16
    sname: bytes = b"\x00" * 64
    file: bytes = b"\x00" * 128
    options: Mapping[int, bytes] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]

    @property
    def hwaddr(self) -> bytes:
        """The significant bytes of C{chaddr} (at most 16)."""
        return self.chaddr[: min(self.hlen, 16)]

    @property
    def message_type(self) -> int | None:
        """Option 53 as an int, or C{None} (BOOTP or malformed)."""
        v = self.options.get(Opt.MESSAGE_TYPE)
        return v[0] if v and len(v) == 1 else None

    @property
    def client_id(self) -> bytes | None:
        """The option 61 payload, or C{None} when absent or empty."""
        return self.options.get(Opt.CLIENT_ID) or None

    @property
    def requested_address(self) -> IPv4Address | None:
        """Option 50, or C{None} when absent or not 4 bytes."""
        v = self.options.get(Opt.REQUESTED_ADDRESS)
        return IPv4Address(v) if v is not None and len(v) == 4 else None

    @property
    def server_id(self) -> IPv4Address | None:
        """Option 54, or C{None} when absent or not 4 bytes."""
        v = self.options.get(Opt.SERVER_ID)
        return IPv4Address(v) if v is not None and len(v) == 4 else None

    @property
    def parameter_request_list(self) -> bytes:
        """Option 55 (the codes, in the client's order), or C{b""}."""
        return self.options.get(Opt.PARAMETER_REQUEST_LIST, b"")

    @property
    def hostname(self) -> str | None:
        """Option 12 decoded leniently, or C{None}."""
        v = self.options.get(Opt.HOST_NAME)
        return v.decode("ascii", "replace") if v else None

    @property
    def broadcast(self) -> bool:
        """The BROADCAST bit of C{flags}."""
        return bool(self.flags & FLAG_BROADCAST)

    def evolve(self, **changes: Any) -> "DHCPPacket":
        """A copy with C{changes} applied."""
        return replace(self, **changes)
