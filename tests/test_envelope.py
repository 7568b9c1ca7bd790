"""
Tests for L{kea_ha_tw.commands.envelope}: Kea's JSON writer and reader,
element positions and the command envelope. Expected texts are Kea 2.2.0's,
captured from C{kea-dhcp4} and its HTTP listeners.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import (
    EMPTY_BODY_TEXT,
    Command,
    KeaJSONError,
    PositionedError,
    answer,
    decode_command,
    element_position,
    kea_json_dumps,
    kea_json_loads,
    kea_json_pretty,
    make_command,
    parse_command,
    stock_http_body,
)
from kea_ha_tw.errors import CommandError


class WriterTests(SynchronousTestCase):
    """L{kea_json_dumps} writes what Kea's C{Element::str()} writes."""

    def test_request_shape_of_the_ha_client(self):
        """The HA heartbeat body is byte for byte Kea's (reference 2.2)."""
        self.assertEqual(
            kea_json_dumps(make_command("ha-heartbeat", service=["dhcp4"])),
            '{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }',
        )

    def test_sorted_keys_and_empty_containers(self):
        """Keys are sorted; empty containers are C{{  }} and C{[  ]}."""
        self.assertEqual(
            kea_json_dumps({"leases": [], "count": 0, "a": {}}),
            '{ "a": {  }, "count": 0, "leases": [  ] }',
        )

    def test_scalars(self):
        """true/false/null, ints, and doubles the way C++ prints them."""
        self.assertEqual(kea_json_dumps([True, False, None, -5, 0]), "[ true, false, null, -5, 0 ]")
        # Captured: user-context {"e":1e5,"f":0.1,"g":1e300,"h":123456789.123,"m":-0.0,"n":1.5}
        # came back as 100000.0, 0.1, 1e+300.0, 1.23457e+08, -0.0, 1.5: we match all but
        # 1e+300.0, which is not JSON (Kea cannot read it back either), so we write 1e+300.
        self.assertEqual(
            kea_json_dumps([100000.0, 0.1, 1e300, 123456789.123, -0.0, 1.5, 0.0]),
            "[ 100000.0, 0.1, 1e+300, 1.23457e+08, -0.0, 1.5, 0.0 ]",
        )
        self.assertEqual(json.loads(kea_json_dumps([1e300, 1e-7])), [1e300, 1e-7])

    def test_string_escapes(self):
        """Kea escapes quote, backslash, the C escapes, other controls and 0x7f; not '/'."""
        self.assertEqual(
            kea_json_dumps("a\x7fb\x01c/d\"e\\f\tg\n"),
            '"a\\u007fb\\u0001c/d\\"e\\\\f\\tg\\n"',
        )

    def test_non_ascii_is_one_escape_per_utf8_byte(self):
        """'É' leaves as its two UTF-8 bytes, as Kea writes a stored hostname 'hÉx'."""
        self.assertEqual(kea_json_dumps("h\u00c9x"), '"h\\u00c3\\u0089x"')

    def test_tuple_is_a_list(self):
        """Tuples are written as lists."""
        self.assertEqual(kea_json_dumps((1, 2)), "[ 1, 2 ]")

    def test_unknown_type_refused(self):
        """Values JSON cannot hold raise TypeError."""
        self.assertRaises(TypeError, kea_json_dumps, {"a": object()})

    def test_output_is_ascii_and_valid_json(self):
        """Whatever goes in, the text is ASCII and standard JSON readers accept it."""
        value = {"x": ["é€", {"b": 1.25}, None], "y": "q\"\\"}
        text = kea_json_dumps(value)
        self.assertTrue(text.isascii())
        self.assertEqual(kea_json_loads(text), value)


class PrettyTests(SynchronousTestCase):
    """L{kea_json_pretty} writes what Kea's C{config-write} writes."""

    def test_config_file_layout(self):
        """Maps one entry per line, scalar lists inline, lists of maps expanded."""
        value = {"Dhcp4": {
            "host-reservation-identifiers": ["hw-address", "duid"],
            "interfaces-config": {"interfaces": [], "re-detect": True},
            "hooks-libraries": [{"library": "/x.so"}],
            "user-context": {},
        }}
        self.assertEqual(kea_json_pretty(value), "\n".join([
            "{",
            '  "Dhcp4": {',
            '    "hooks-libraries": [',
            "      {",
            '        "library": "/x.so"',
            "      }",
            "    ],",
            '    "host-reservation-identifiers": [ "hw-address", "duid" ],',
            '    "interfaces-config": {',
            '      "interfaces": [ ],',
            '      "re-detect": true',
            "    },",
            '    "user-context": { }',
            "  }",
            "}",
        ]))


class ReaderTests(SynchronousTestCase):
    """L{kea_json_loads} reads like Kea's C{Element::fromJSON}."""

    def test_plain(self):
        """Ordinary JSON reads as Python values."""
        self.assertEqual(kea_json_loads(b'{"a": [1, 2.5, true, null, "x"]}'),
                         {"a": [1, 2.5, True, None, "x"]})

    def test_raw_utf8_and_byte_escapes_agree(self):
        """Raw UTF-8 and C{\\u00c3\\u0089} are the same bytes for Kea: both read 'É'."""
        self.assertEqual(kea_json_loads('{"a":"HÉx"}'.encode()), {"a": "HÉx"})
        self.assertEqual(kea_json_loads(b'{"a":"H\\u00c3\\u0089x"}'), {"a": "HÉx"})

    def test_round_trip_through_kea_form(self):
        """What L{kea_json_dumps} writes reads back to the same text values."""
        value = {"hostname": "münchen-é", "k\u00e9y": ["\x01"]}
        self.assertEqual(kea_json_loads(kea_json_dumps(value)), value)

    def test_wide_escape_refused(self):
        """Kea: "Unsupported unicode escape" for an escape above 0xff."""
        e = self.assertRaises(KeaJSONError, kea_json_loads, b'{"a":"a\\u20acb"}')
        self.assertIn("Unsupported unicode escape", str(e))

    def test_int64_overflow_refused(self):
        """Kea: "Number overflow" for integers beyond int64."""
        self.assertRaises(KeaJSONError, kea_json_loads, b'{"big":12345678901234567890}')
        self.assertEqual(kea_json_loads(b"[9223372036854775807, -9223372036854775808]"),
                         [2**63 - 1, -(2**63)])

    def test_bad_json_refused(self):
        """Syntax errors, trailing text, NaN and the empty text are errors."""
        for bad in (b"{", b'{"command":', b'{"a":1} xx', b"NaN", b"", b"   ", b"{'a': 1}"):
            self.assertRaises(KeaJSONError, kea_json_loads, bad)

    def test_duplicate_keys_keep_last(self):
        """Kea used C{version-get} for C{{"command":"foo","command":"version-get"}}."""
        self.assertEqual(kea_json_loads(b'{"command":"foo","command":"version-get"}'),
                         {"command": "version-get"})

    def test_invalid_utf8_kept(self):
        """A byte that is not UTF-8 is kept (surrogate escape) and written back as Kea does."""
        value = kea_json_loads(b'["x\\u00e9y"]')
        self.assertEqual(value, ["x\udce9y"])
        self.assertEqual(kea_json_dumps(value), '[ "x\\u00e9y" ]')


class PositionTests(SynchronousTestCase):
    """L{element_position} numbers lines and columns as Kea's reader does."""

    #: (request text, path, Kea's position) as captured from Kea 2.2.0.
    CAPTURED = [
        ('{"command":"lease4-add","arguments":{}}', ("arguments",), "<wire>:0:37"),
        ('{"command":"lease4-add","arguments":{"ip-address":5}}', ("arguments", "ip-address"),
         "<wire>:0:50"),
        ('{"command":"lease4-add","arguments":{"ip-address":"x"}}', ("arguments", "ip-address"),
         "<wire>:0:50"),
        ('{"command":"lease4-add","arguments":{"ip-address":true}}', ("arguments", "ip-address"),
         "<wire>:0:50"),
        ('{"command":"lease4-add","arguments":{"ip-address":null}}', ("arguments", "ip-address"),
         "<wire>:0:50"),
        ('{"command":"lease4-add","arguments":{"ip-address":[1]}}', ("arguments", "ip-address"),
         "<wire>:0:51"),
        ('{"command":"lease4-add","arguments":{"ip-address":{}}}', ("arguments", "ip-address"),
         "<wire>:0:51"),
        ('{"command":"lease4-add","arguments":{"ip-address":  5}}', ("arguments", "ip-address"),
         "<wire>:0:52"),
        ('{"command":"lease4-add","arguments":{"ip-address" :  5}}', ("arguments", "ip-address"),
         "<wire>:0:53"),
        ('{"command":"lease4-add","arguments": {}}', ("arguments",), "<wire>:0:38"),
        ('{"command":"lease4-add","arguments":  {  }}', ("arguments",), "<wire>:0:39"),
        ('{"command":"lease4-add","arguments":[]}', ("arguments",), "<wire>:0:37"),
        ('{"command":"lease4-add","arguments":  [ ]}', ("arguments",), "<wire>:0:39"),
        ('{"command":"lease4-add",\n"arguments":{}}', ("arguments",), "<wire>:1:14"),
        ('{"command":"lease4-add",\n\n  "arguments":{}}', ("arguments",), "<wire>:2:16"),
        ('{"command":"lease4-add",\n"arguments":{"ip-address":\n  5}}',
         ("arguments", "ip-address"), "<wire>:2:3"),
        ('{"command":"lease4-get-all","arguments":[]}', ("arguments",), "<wire>:0:41"),
    ]

    def test_captured_positions(self):
        """Every position Kea printed is reproduced."""
        for text, path, expected in self.CAPTURED:
            self.assertEqual(element_position(text, path), expected, text)

    def test_position_after_spaced_keys(self):
        """Python's json.dumps spacing (what the captures sent) gives Kea's columns."""
        text = json.dumps({"command": "lease4-add", "arguments": {
            "ip-address": "192.0.2.9", "hw-address": "1a:1b", "fqdn-rev": "x", "fqdn-fwd": "x"}})
        self.assertEqual(element_position(text, ("arguments", "fqdn-fwd")), "<wire>:0:119")

    def test_duplicate_key_uses_last(self):
        """With a repeated key the position is the one Kea kept: the last."""
        self.assertEqual(element_position('{"a":1,"a":22}', ("a",)), "<wire>:0:11")

    def test_list_index(self):
        """Paths may go through lists."""
        self.assertEqual(element_position('{"s":[1, "x", {}]}', ("s", 2)), "<wire>:0:15")

    def test_unknown(self):
        """No text or no such element: Kea's position of a built element."""
        self.assertEqual(element_position(None, ("a",)), "<string>:0:0")
        self.assertEqual(element_position('{"a":1}', ("b",)), "<string>:0:0")
        self.assertEqual(element_position('{"a":1', ("a", "x")), "<string>:0:0")


class EnvelopeTests(SynchronousTestCase):
    """L{parse_command} and L{decode_command} apply Kea's envelope rules."""

    def _error(self, element):
        return self.assertRaises(CommandError, parse_command, element)

    def test_command(self):
        """A command with arguments, service and remote-address."""
        cmd = parse_command({"command": "x", "arguments": {"a": 1}, "service": ["dhcp4"],
                             "remote-address": "1.2.3.4"})
        self.assertEqual((cmd.name, cmd.arguments, cmd.service, cmd.remote_address),
                         ("x", {"a": 1}, ["dhcp4"], "1.2.3.4"))

    def test_not_a_map(self):
        """A list, string, number or null: "Invalid command Element specified, expected map"."""
        for element in ([{"command": "x"}], "x", 5, None, True):
            e = self._error(element)
            self.assertEqual((e.result, e.text), (1, "Error during command processing: Invalid "
                                                     "command Element specified, expected map"))

    def test_no_command(self):
        """Missing C{command} is reported before unsupported keys."""
        for element in ({}, {"extra": 1}):
            self.assertEqual(self._error(element).text, "Error during command processing: Invalid "
                             "answer specified, does not contain mandatory 'command'")

    def test_unsupported_key_first_in_sorted_order(self):
        """Kea names the first unsupported key in key order, before checking the name type."""
        self.assertEqual(self._error({"command": "x", "extra": 1, "aaa": 2}).text,
                         "Error during command processing: Received command contains "
                         "unsupported parameter 'aaa'")
        self.assertEqual(self._error({"command": 5, "extra": 1}).text,
                         "Error during command processing: Received command contains "
                         "unsupported parameter 'extra'")

    def test_command_not_string(self):
        """C{command} must be a string."""
        self.assertEqual(self._error({"command": 5}).text, "Error during command processing: "
                         "'command' element in command message is not a string")

    def test_decode_empty_body(self):
        """An empty body is Kea's "NULL command parameter" (HTTP 200, result 1)."""
        e = self.assertRaises(CommandError, decode_command, b"")
        self.assertEqual((e.result, e.text), (1, EMPTY_BODY_TEXT))

    def test_decode_bad_json(self):
        """A body that is not JSON raises KeaJSONError (HTTP 400)."""
        self.assertRaises(KeaJSONError, decode_command, b"{bad")

    def test_decode_keeps_text_for_positions(self):
        """A decoded command can locate its elements."""
        cmd = decode_command(b'{"command":"lease4-add","arguments":{"ip-address":5}}')
        self.assertEqual(cmd.position(("arguments", "ip-address")), "<wire>:0:50")

    def test_positioned_error(self):
        """A PositionedError's text gets the position of its path under arguments."""
        cmd = Command("lease4-add", {}, text='{"command":"lease4-add","arguments":{}}')
        error = PositionedError("missing parameter 'ip-address' ({pos})")
        self.assertEqual(cmd.error_text(error), "missing parameter 'ip-address' (<wire>:0:37)")
        self.assertEqual(error.text, "missing parameter 'ip-address' (<string>:0:0)")
        self.assertEqual(cmd.error_text(CommandError(1, "plain")), "plain")


class AnswerTests(SynchronousTestCase):
    """L{answer} and L{stock_http_body} build Kea's maps."""

    def test_answer_omits_absent_parts(self):
        """C{text} and C{arguments} appear only when given."""
        self.assertEqual(answer(0), {"result": 0})
        self.assertEqual(answer(3, "x"), {"result": 3, "text": "x"})
        self.assertEqual(answer(0, arguments=[]), {"result": 0, "arguments": []})

    def test_stock_bodies(self):
        """The HTTP-level bodies, written as Kea writes them."""
        self.assertEqual(kea_json_dumps(stock_http_body(400)),
                         '{ "result": 400, "text": "Bad Request" }')
        self.assertEqual(kea_json_dumps(stock_http_body(401)),
                         '{ "result": 401, "text": "Unauthorized" }')
        self.assertEqual(kea_json_dumps(stock_http_body(403)),
                         '{ "result": 403, "text": "Forbidden" }')
        self.assertEqual(kea_json_dumps(stock_http_body(500)),
                         '{ "result": 500, "text": "Internal Server Error" }')
