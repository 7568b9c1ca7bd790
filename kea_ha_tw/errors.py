# -*- test-case-name: tests.test_errors -*-
"""
The kea-ha-tw exception hierarchy and the single Kea result-code table.

Kea answers every command with a C{result} code. L{RESULT_CODES} names them,
and L{CommandError} carries one across the boundary between a command
handler and the HTTP resource that writes the answer.
"""

from __future__ import annotations

# Kea's control-channel result codes (src/lib/cc/command_interpreter.h),
# plus the HA hook's maintenance code.
CONTROL_RESULT_SUCCESS = 0
CONTROL_RESULT_ERROR = 1
CONTROL_RESULT_COMMAND_UNSUPPORTED = 2
CONTROL_RESULT_EMPTY = 3
CONTROL_RESULT_CONFLICT = 4
HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED = 1001

RESULT_CODES = {
    CONTROL_RESULT_SUCCESS: "success",
    CONTROL_RESULT_ERROR: "error",
    CONTROL_RESULT_COMMAND_UNSUPPORTED: "unsupported",
    CONTROL_RESULT_EMPTY: "empty",
    CONTROL_RESULT_CONFLICT: "conflict",
    HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED: "maintenance not allowed",
}


class KeaHAError(Exception):
    """Base class of every error raised by kea-ha-tw."""


class ConfigError(KeaHAError):
    """
    A configuration value is missing or invalid.

    @ivar path: where in the JSON document, e.g.
        C{Dhcp4.hooks-libraries[1].parameters.high-availability[0].peers[1].url}.
    @ivar message: the reason, in words an operator understands.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class PacketDecodeError(KeaHAError):
    """A datagram is not a well-formed DHCPv4 packet."""


class AllocationError(KeaHAError):
    """No address can be allocated for a client."""


class LeaseStoreError(KeaHAError):
    """The lease store refused an operation (e.g. add of an existing lease)."""


class CommandError(KeaHAError):
    """
    A command failed; C{result} and C{text} become the Kea answer.
    """

    def __init__(self, result: int, text: str) -> None:
        super().__init__(text)
        self.result = result
        self.text = text


class PeerCommunicationError(KeaHAError):
    """A peer could not be reached, timed out, or answered with bad HTTP."""

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(f"{peer}: {reason}")
        self.peer = peer
        self.reason = reason


class PeerCommandError(KeaHAError):
    """A peer answered a command with a non-success Kea result."""

    def __init__(self, peer: str, result: int, text: str) -> None:
        super().__init__(f"{peer}: {text}, error code {result}")
        self.peer = peer
        self.result = result
        self.text = text
