"""
Tests for L{kea_ha_tw.errors}: the exception hierarchy and Kea's
control-channel result codes.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw import errors
from kea_ha_tw.errors import (
    CONTROL_RESULT_COMMAND_UNSUPPORTED,
    CONTROL_RESULT_CONFLICT,
    CONTROL_RESULT_EMPTY,
    CONTROL_RESULT_ERROR,
    CONTROL_RESULT_SUCCESS,
    HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED,
    RESULT_CODES,
    AllocationError,
    CommandError,
    ConfigError,
    KeaHAError,
    LeaseStoreError,
    PacketDecodeError,
    PeerCommandError,
    PeerCommunicationError,
)


class ResultCodeTests(SynchronousTestCase):
    """The result codes are Kea's (command_interpreter.h and the HA hook)."""

    def test_values(self):
        """0 success, 1 error, 2 unsupported, 3 empty, 4 conflict, 1001 maintenance refused."""
        self.assertEqual(
            (CONTROL_RESULT_SUCCESS, CONTROL_RESULT_ERROR, CONTROL_RESULT_COMMAND_UNSUPPORTED,
             CONTROL_RESULT_EMPTY, CONTROL_RESULT_CONFLICT,
             HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED),
            (0, 1, 2, 3, 4, 1001),
        )

    def test_table_names_every_code(self):
        """RESULT_CODES names exactly the codes defined in the module, each once."""
        defined = {value for name, value in vars(errors).items()
                   if name.endswith(tuple(["_SUCCESS", "_ERROR", "_UNSUPPORTED", "_EMPTY",
                                           "_CONFLICT", "_NOT_ALLOWED"]))
                   and isinstance(value, int)}
        self.assertEqual(set(RESULT_CODES), defined)
        self.assertEqual(len(set(RESULT_CODES.values())), len(RESULT_CODES))
        self.assertEqual(RESULT_CODES[CONTROL_RESULT_EMPTY], "empty")


class HierarchyTests(SynchronousTestCase):
    """One hierarchy under KeaHAError."""

    def test_every_error_is_a_kea_ha_error(self):
        """Every exception class of the module derives from KeaHAError."""
        classes = [value for value in vars(errors).values()
                   if isinstance(value, type) and issubclass(value, BaseException)]
        self.assertEqual(
            sorted(c.__name__ for c in classes),
            sorted(["KeaHAError", "ConfigError", "PacketDecodeError", "AllocationError",
                    "LeaseStoreError", "CommandError", "PeerCommunicationError",
                    "PeerCommandError"]),
        )
        for cls in classes:
            self.assertTrue(issubclass(cls, KeaHAError), cls)
        self.assertTrue(issubclass(KeaHAError, Exception))

    def test_simple_errors_carry_their_text(self):
        """PacketDecodeError, AllocationError and LeaseStoreError keep their message."""
        for cls in (PacketDecodeError, AllocationError, LeaseStoreError):
            self.assertEqual(str(cls("truncated at 12")), "truncated at 12")

    def test_errors_are_distinct(self):
        """Catching one error type does not catch a sibling."""
        with self.assertRaises(PacketDecodeError):
            try:
                raise PacketDecodeError("bad")
            except AllocationError:
                self.fail("AllocationError caught a PacketDecodeError")


class ConfigErrorTests(SynchronousTestCase):
    """ConfigError carries the JSON path and the reason."""

    def test_fields_and_text(self):
        """path and message are kept; str() is 'path: message'."""
        path = "Dhcp4.hooks-libraries[1].parameters.high-availability[0].peers[1].url"
        e = ConfigError(path, "'http://' is not a valid URL")
        self.assertEqual(e.path, path)
        self.assertEqual(e.message, "'http://' is not a valid URL")
        self.assertEqual(str(e), f"{path}: 'http://' is not a valid URL")


class CommandErrorTests(SynchronousTestCase):
    """CommandError becomes a Kea answer at the resource boundary."""

    def test_fields_and_text(self):
        """result and text are kept; str() is the text."""
        e = CommandError(CONTROL_RESULT_ERROR, "missing parameter 'ip-address'")
        self.assertEqual((e.result, e.text), (1, "missing parameter 'ip-address'"))
        self.assertEqual(str(e), "missing parameter 'ip-address'")


class PeerErrorTests(SynchronousTestCase):
    """Errors talking to an HA peer name the peer."""

    def test_communication_error(self):
        """PeerCommunicationError keeps peer and reason; str() is 'peer: reason'."""
        e = PeerCommunicationError("server2", "Connection refused")
        self.assertEqual((e.peer, e.reason), ("server2", "Connection refused"))
        self.assertEqual(str(e), "server2: Connection refused")

    def test_command_error_text_is_kea_22s(self):
        """PeerCommandError reads like Kea 2.2's '<text>, error code <n>' after the peer name."""
        e = PeerCommandError("server2", 1001, "Unable to transition to the in-maintenance state")
        self.assertEqual((e.peer, e.result, e.text),
                         ("server2", 1001, "Unable to transition to the in-maintenance state"))
        self.assertEqual(str(e),
                         "server2: Unable to transition to the in-maintenance state,"
                         " error code 1001")
