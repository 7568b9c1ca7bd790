"""
Tests for L{kea_ha_tw.dhcp.options}: payload builders and parsers, relay
agent sub-options, option 57, and the choice of reply options.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.codec import decode, encode
from kea_ha_tw.dhcp.options import (
    KEA_ALWAYS_SENT,
    decode_ip,
    decode_ip_list,
    decode_message_type,
    decode_parameter_request_list,
    decode_uint8,
    decode_uint16,
    decode_uint32,
    encode_ip,
    encode_ip_list,
    encode_message_type,
    encode_parameter_request_list,
    encode_suboptions,
    encode_text,
    encode_uint8,
    encode_uint16,
    encode_uint32,
    max_message_size,
    parse_suboptions,
    select_reply_options,
)
from kea_ha_tw.dhcp.packet import DHCPPacket, MessageType
from kea_ha_tw.errors import PacketDecodeError

from tests.test_codec import (
    KEA_OFFER_NO_PRL,
    KEA_OFFER_TO_UDHCPC,
    RELAYED_DISCOVER,
    UDHCPC_DISCOVER,
)


class AddressTests(SynchronousTestCase):
    """IPv4 address payloads."""

    def test_encode_ip(self):
        """An address (object or text) becomes its 4 bytes."""
        self.assertEqual(encode_ip("192.0.2.1"), b"\xc0\x00\x02\x01")
        self.assertEqual(encode_ip(IPv4Address("10.0.0.255")), b"\x0a\x00\x00\xff")

    def test_decode_ip(self):
        """4 bytes become an address; any other length is a decode error."""
        self.assertEqual(decode_ip(b"\xc0\x00\x02\x01"), IPv4Address("192.0.2.1"))
        for bad in (b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"):
            e = self.assertRaises(PacketDecodeError, decode_ip, bad)
            self.assertIn(f"{len(bad)} bytes, expected 4", str(e))

    def test_ip_list(self):
        """Lists round-trip in order."""
        addresses = [IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")]
        payload = encode_ip_list(["10.0.0.1", "10.0.0.2"])
        self.assertEqual(payload, b"\x0a\x00\x00\x01\x0a\x00\x00\x02")
        self.assertEqual(decode_ip_list(payload), addresses)

    def test_empty_ip_list(self):
        """An empty list cannot be built (RFC 2132 minimum length 4)."""
        self.assertRaises(ValueError, encode_ip_list, [])

    def test_bad_ip_list(self):
        """An empty or ragged payload is a decode error."""
        for bad in (b"", b"\x01\x02\x03\x04\x05"):
            self.assertRaises(PacketDecodeError, decode_ip_list, bad)


class IntegerTests(SynchronousTestCase):
    """uint8/16/32 payloads."""

    def test_round_trips(self):
        """Each width encodes big-endian and decodes back."""
        self.assertEqual(encode_uint8(7), b"\x07")
        self.assertEqual(encode_uint16(1500), b"\x05\xdc")
        self.assertEqual(encode_uint32(3600), b"\x00\x00\x0e\x10")
        self.assertEqual(decode_uint8(b"\x07"), 7)
        self.assertEqual(decode_uint16(b"\x05\xdc"), 1500)
        self.assertEqual(decode_uint32(b"\x00\x00\x0e\x10"), 3600)

    def test_out_of_range(self):
        """Values that do not fit are a ValueError."""
        for f, v in ((encode_uint8, 256), (encode_uint16, 65536),
                     (encode_uint32, 2 ** 32), (encode_uint32, -1)):
            self.assertRaises(ValueError, f, v)

    def test_wrong_length(self):
        """Payloads of the wrong size are decode errors naming the type."""
        e = self.assertRaises(PacketDecodeError, decode_uint32, b"\x00\x01")
        self.assertIn("uint32 payload is 2 bytes, expected 4", str(e))
        self.assertRaises(PacketDecodeError, decode_uint16, b"\x00")
        self.assertRaises(PacketDecodeError, decode_uint8, b"")

    @given(st.integers(0, 2 ** 32 - 1))
    def test_uint32_property(self, value):
        """Every uint32 round-trips."""
        self.assertEqual(decode_uint32(encode_uint32(value)), value)


class MessageTypeAndPRLTests(SynchronousTestCase):
    """Options 53 and 55."""

    def test_message_type(self):
        """Option 53 round-trips and compares equal to MessageType."""
        payload = encode_message_type(MessageType.OFFER)
        self.assertEqual(payload, b"\x02")
        self.assertEqual(decode_message_type(payload), MessageType.OFFER)
        self.assertEqual(decode_message_type(b"\x0d"), 13)

    def test_message_type_errors(self):
        """Wrong length or value is rejected."""
        self.assertRaises(PacketDecodeError, decode_message_type, b"\x01\x01")
        self.assertRaises(ValueError, encode_message_type, 0)

    def test_parameter_request_list(self):
        """Option 55 keeps the client's order."""
        self.assertEqual(encode_parameter_request_list([1, 3, 6, 15]), b"\x01\x03\x06\x0f")
        self.assertEqual(decode_parameter_request_list(b"\x06\x01\x03"), (6, 1, 3))
        self.assertRaises(ValueError, encode_parameter_request_list, [1, 0])
        self.assertRaises(ValueError, encode_parameter_request_list, [255])

    def test_text(self):
        """Text options are UTF-8 with no trailing NUL."""
        self.assertEqual(encode_text("example.org"), b"example.org")


class SuboptionTests(SynchronousTestCase):
    """Relay agent information sub-options (option 82)."""

    def test_captured_relay_option(self):
        """dhcrelay -a adds a circuit id holding the interface name."""
        rai = decode(RELAYED_DISCOVER).options[82]
        self.assertEqual(parse_suboptions(rai), {1: b"r0"})

    def test_several(self):
        """Circuit id, remote id and link selection, in wire order."""
        payload = b"\x01\x03abc\x02\x02xy\x05\x04\x0a\x00\x00\x01"
        parsed = parse_suboptions(payload)
        self.assertEqual(parsed, {1: b"abc", 2: b"xy", 5: b"\x0a\x00\x00\x01"})
        self.assertEqual(list(parsed), [1, 2, 5])
        self.assertEqual(encode_suboptions(parsed.items()), payload)

    def test_zero_and_255_are_ordinary_codes(self):
        """Sub-options have no PAD/END: codes 0 and 255 are plain TLVs."""
        self.assertEqual(parse_suboptions(b"\x00\x01a\xff\x00"), {0: b"a", 255: b""})

    def test_repeated_concatenated(self):
        """Repeated sub-options are joined (RFC 3396), as Kea does."""
        self.assertEqual(parse_suboptions(b"\x01\x01a\x02\x00\x01\x01b"), {1: b"ab", 2: b""})

    def test_truncated(self):
        """A missing length byte or data past the end is a decode error."""
        e = self.assertRaises(PacketDecodeError, parse_suboptions, b"\x01\x01a\x02")
        self.assertIn("sub-option 2 at offset 3: length byte missing", str(e))
        e = self.assertRaises(PacketDecodeError, parse_suboptions, b"\x01\x05ab")
        self.assertIn("length 5 runs past the end (2 bytes left)", str(e))

    def test_encode_too_long(self):
        """A sub-option over 255 bytes cannot be encoded."""
        self.assertRaises(ValueError, encode_suboptions, [(1, bytes(256))])

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def test_parse_never_crashes(self, payload):
        """Arbitrary payloads parse or raise PacketDecodeError."""
        try:
            parse_suboptions(payload)
        except PacketDecodeError:
            pass


class MaxMessageSizeTests(SynchronousTestCase):
    """Option 57 as a max_size for the encoder."""

    def test_udhcpc(self):
        """udhcpc announces 576."""
        self.assertEqual(max_message_size(decode(UDHCPC_DISCOVER).options), 576)

    def test_values(self):
        """Absent, malformed or too small means 576; larger values count."""
        self.assertEqual(max_message_size({}), 576)
        self.assertEqual(max_message_size({57: b"\x05"}), 576)
        self.assertEqual(max_message_size({57: b"\x01\x00"}), 576)
        self.assertEqual(max_message_size({57: b"\x05\xdc"}), 1500)


#: What the server could send in the lab: the options configured for
#: 10.77.1.0/24 plus those Kea computes, as in KEA_OFFER_TO_UDHCPC.
LAB_AVAILABLE = {
    53: b"\x02",
    54: encode_ip("10.77.1.1"),
    51: encode_uint32(3600),
    58: encode_uint32(900),
    59: encode_uint32(1800),
    1: encode_ip("255.255.255.0"),
    3: encode_ip("10.77.1.1"),
    6: encode_ip_list(["10.77.1.53", "10.77.1.54"]),
    15: encode_text("example.org"),
    28: encode_ip("10.77.1.255"),
    42: encode_ip("10.77.1.123"),
    26: encode_uint16(1500),
}


class SelectReplyOptionsTests(SynchronousTestCase):
    """Honouring the parameter request list."""

    def test_always_first_then_prl_order(self):
        """Always-sent options come first, requested ones follow in PRL order."""
        chosen = select_reply_options(bytes([42, 28, 1, 26]), LAB_AVAILABLE, {53, 54, 51})
        self.assertEqual([c for c, _ in chosen], [53, 54, 51, 42, 28, 1, 26])
        self.assertEqual(dict(chosen)[42], LAB_AVAILABLE[42])

    def test_unavailable_and_repeated_skipped(self):
        """Unknown codes, repeats, 0 and 255 in the PRL are ignored."""
        chosen = select_reply_options(bytes([99, 3, 3, 0, 255, 53, 6]), LAB_AVAILABLE, {53})
        self.assertEqual([c for c, _ in chosen], [53, 3, 6])

    def test_always_only_if_available(self):
        """An always-sent code with nothing to send is left out."""
        chosen = select_reply_options(b"", {53: b"\x02"}, {53, 54, 1})
        self.assertEqual(chosen, [(53, b"\x02")])

    def test_kea_without_prl(self):
        """
        With Kea's always-sent set and no PRL the reply carries what
        kea-dhcp4 2.2 sent in KEA_OFFER_NO_PRL: no 28, 42 or 26.
        """
        chosen = select_reply_options(b"", LAB_AVAILABLE, KEA_ALWAYS_SENT)
        self.assertEqual(
            sorted(c for c, _ in chosen), sorted(decode(KEA_OFFER_NO_PRL).options)
        )

    def test_kea_with_udhcpc_prl(self):
        """
        With udhcpc's PRL (1 3 6 12 15 28 42) the reply has the options
        Kea sent it (the echoed client id aside, and 12 which was not
        available here).
        """
        prl = decode(UDHCPC_DISCOVER).parameter_request_list
        chosen = dict(select_reply_options(prl, LAB_AVAILABLE, KEA_ALWAYS_SENT))
        kea = dict(decode(KEA_OFFER_TO_UDHCPC).options)
        del kea[61]
        self.assertEqual(chosen, kea)

    def test_feeds_encode(self):
        """The chosen list encodes with 53 first; the drop order is the list's."""
        chosen = select_reply_options(bytes([42, 28]), LAB_AVAILABLE, KEA_ALWAYS_SENT)
        data = encode(DHCPPacket(op=2, options=dict(chosen)))
        self.assertEqual(list(decode(data).options), [c for c, _ in chosen])
