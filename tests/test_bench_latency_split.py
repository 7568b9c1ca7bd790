"""
Tests for L{bench.latency_split}: one held exchange built with scapy in
memory (no capture, no socket) is split into its three parts.
"""

from twisted.trial.unittest import SynchronousTestCase

from bench import latency_split


def packets():
    """REQUEST in at 1.000, update out at 1.001, answer in at 1.003, ACK out at 1.004."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, TCP, UDP

    def stamp(p, t):
        p = IP(bytes(p))  # dissected, as read from a capture
        p.time = t
        return p

    request = IP(src="10.99.0.10", dst="255.255.255.255") / UDP(sport=67, dport=67) / BOOTP(
        xid=7) / DHCP(options=[("message-type", "request"), "end"])
    update = IP(src="10.99.0.1", dst="10.99.0.2") / TCP(sport=40000, dport=8000) / (
        b'POST / HTTP/1.1\r\n\r\n{"command": "lease4-update", "arguments": '
        b'{"ip-address": "10.100.0.5"}}')
    answer = IP(src="10.99.0.2", dst="10.99.0.1") / TCP(sport=8000, dport=40000) / (
        b"HTTP/1.1 200 OK\r\n\r\n[]")
    ack = IP(src="10.99.0.1", dst="10.99.0.10") / UDP(sport=67, dport=67) / BOOTP(
        op=2, xid=7, yiaddr="10.100.0.5") / DHCP(options=[("message-type", "ack"), "end"])
    return [stamp(request, 1.000), stamp(update, 1.001), stamp(answer, 1.003),
            stamp(ack, 1.004)]


class SplitTests(SynchronousTestCase):
    """L{latency_split.split} and L{latency_split.summary}."""

    def test_three_parts(self):
        """The exchange's time is cut at the update and at the partner's answer."""
        parts = latency_split.split(packets(), "10.99.0.1", 8000)
        for key, expected in (("in", 0.001), ("peer", 0.002), ("out", 0.001),
                              ("total", 0.004), ("rtt", 0.002)):
            self.assertEqual(len(parts[key]), 1, key)
            self.assertAlmostEqual(parts[key][0], expected, places=6)
        self.assertEqual(parts["leases_per_request"], [1])

    def test_unanswered_update_not_counted(self):
        """Without the partner's answer the exchange is left out."""
        parts = latency_split.split(packets()[:2] + packets()[3:], "10.99.0.1", 8000)
        self.assertEqual(parts["total"], [])

    def test_summary_lines(self):
        """Every part is printed, with a line for parts without samples."""
        lines = latency_split.summary(latency_split.split(packets(), "10.99.0.1", 8000))
        self.assertTrue(lines[0].startswith("REQUEST in -> update out"))
        self.assertIn("median   1.000 ms", lines[0])
        empty = latency_split.summary({k: [] for k in ("in", "peer", "out", "total", "rtt",
                                                       "leases_per_request")})
        self.assertIn("no samples", empty[0])
