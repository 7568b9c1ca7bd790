"""
Tests for L{kea_ha_tw.dhcp.rx_options}: Kea 2.2's reading of received
options, checked against measurements of a running kea-dhcp4 2.2.0
(tests/kea22_option_lengths.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.rx_options import (
    CHECKS,
    FIXED_SIZES,
    check_option,
    complete_suboptions,
    fuse_repeated,
)

GOLDEN = json.loads((Path(__file__).parent / "kea22_option_lengths.json").read_text())


class KeaMeasurementTests(SynchronousTestCase):
    """check_option agrees with what Kea 2.2 answered."""

    def test_every_measured_length(self):
        """
        For every standard option, lengths 0..9 of 0x01 and 0x00 bytes: we
        reject exactly the payloads Kea failed to unpack (a client-id
        shorter than 2 bytes is the server's drop, not the parser's).
        """
        mismatches = []
        for code, entry in GOLDEN.items():
            if not code.isdigit():
                continue
            for fill, byte in (("fill1", 1), ("fill0", 0)):
                for length in GOLDEN["lengths"]:
                    kea = length in entry[fill] or (code == "61" and length < 2)
                    ours = check_option(int(code), bytes([byte]) * length) is not None
                    if kea != ours:
                        mismatches.append((int(code), entry["name"], fill, length, kea))
        self.assertEqual(mismatches, [])

    def test_golden_covers_the_checks(self):
        """Every code with a check was measured (53, 54 and 118 are covered by the
        differential battery instead)."""
        measured = {int(c) for c in GOLDEN if c.isdigit()}
        self.assertEqual(set(CHECKS) - measured - {53, 54, 118}, set())


class CheckOptionTests(SynchronousTestCase):
    """Single instances."""

    def test_fixed_sizes_cut(self):
        """A longer integer or address is cut to its size; shorter is rejected."""
        self.assertEqual(check_option(53, b"\x01\x00"), b"\x01")
        self.assertEqual(check_option(57, b"\x05\xdc\x00"), b"\x05\xdc")
        self.assertEqual(check_option(50, b"\x0a\x00\x00\x05\x09"), b"\x0a\x00\x00\x05")
        self.assertIsNone(check_option(50, b"\x0a\x00\x00"))
        self.assertIsNone(check_option(53, b""))
        self.assertEqual(FIXED_SIZES[51], 4)

    def test_lists(self):
        """Address lists: multiples of 4 (none is fine); integer lists: whole, non-empty."""
        self.assertEqual(check_option(3, b""), b"")
        self.assertIsNone(check_option(3, b"\x0a\x00\x00\x01\x00"))
        self.assertIsNone(check_option(55, b""))
        self.assertEqual(check_option(55, b"\x01\x03"), b"\x01\x03")
        self.assertIsNone(check_option(25, b"\x00\x01\x02"))

    def test_anything_goes(self):
        """Strings, binary, encapsulating and undefined options take anything."""
        for code in (12, 60, 61, 77, 82, 43, 224, 121):
            self.assertEqual(check_option(code, b""), b"")

    def test_vendor_class(self):
        """124: enterprise id, then tuples, each further one after the same id."""
        ent = b"\x00\x00\x0d\xe9"
        self.assertIsNotNone(check_option(124, ent + b"\x02ab"))
        self.assertIsNotNone(check_option(124, ent + b"\x01a" + ent + b"\x01b"))
        self.assertIsNone(check_option(124, ent + b"\x01a" + b"\x00\x00\x00\x01\x01b"))
        self.assertIsNone(check_option(124, ent + b"\x03ab"))
        self.assertIsNone(check_option(124, b"\x00\x00"))

    def test_domain_names(self):
        """Domain-name lists must be complete wire names."""
        self.assertIsNotNone(check_option(119, b"\x03foo\x03bar\x00\x03baz\x00"))
        self.assertIsNone(check_option(119, b"\x03foo\x03ba"))
        self.assertIsNone(check_option(119, b""))


class FuseTests(SynchronousTestCase):
    """Repeated options."""

    def test_fused_reading(self):
        """53 becomes no type, typed options go, binary and unknown ones stay."""
        options = {53: b"\x01\x01", 12: b"abcd", 55: b"\x01\x03", 61: b"\x01ab",
                   224: b"xy", 54: b"12345678"}
        fuse_repeated(options, {53, 12, 55, 61, 224, 54})
        self.assertEqual(options, {53: b"", 61: b"\x01ab", 224: b"xy", 54: b"12345678"})

    def test_complete_suboptions(self):
        """Only complete sub-options survive; 0 and 255 are ordinary codes."""
        self.assertEqual(complete_suboptions(b"\x01\x02ab\x02\x09x"), b"\x01\x02ab")
        self.assertEqual(complete_suboptions(b"\x00\x01\x02ab\xff"), b"\x00\x01\x02")
        self.assertEqual(complete_suboptions(b"\x01"), b"")
