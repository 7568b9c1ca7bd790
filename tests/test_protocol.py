"""
Tests for L{kea_ha_tw.dhcp.protocol}: bytes in/out, reply routing
(RFC 2131 section 4.1 as Kea 2.2 does it), malformed input, rate-limited
logging, send errors.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.codec import decode, encode
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.protocol import DHCPServerProtocol, route_reply
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.builders import (
    ETH0,
    DictLeaseStore,
    clock,
    config,
    discover,
    inform,
    ip,
    lease,
    mac,
    packet,
    request,
    subnet,
)
from tests.fakes import FakeUDPPort

SERVER = "192.0.2.1"


class RecordingRawSender:
    """Records raw sends instead of writing frames."""

    def __init__(self, error=None):
        self.sent = []
        self.error = error

    def send(self, payload, dst_mac, dst_ip, dst_port=68):
        """Record, or raise C{error}."""
        if self.error is not None:
            raise self.error
        self.sent.append((payload, dst_mac, dst_ip, dst_port))


class ProtocolTestMixin:
    """A protocol over a real DHCPServer and a FakeUDPPort."""

    raw = None

    def setUp(self):
        self.clock = clock()
        self.store = DictLeaseStore()
        self.stats = Statistics(self.clock)
        self.network_state = NetworkState(self.clock)
        self.server = DHCPServer(
            config(subnet(1, "192.0.2.0/24"), subnet(2, "10.1.0.0/24",
                                                     relay_addresses=["10.9.9.9"])),
            self.store, NoHA(), self.network_state, self.stats, self.clock)
        self.proto = DHCPServerProtocol(self.server, ETH0, self.clock, self.raw)
        self.port = FakeUDPPort(self.proto)
        self.proto.makeConnection(self.port)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def feed(self, query, source=("0.0.0.0", 68)):
        """Send C{query} (a packet or bytes); return what was written since."""
        before = len(self.port.written)
        data = query if isinstance(query, bytes) else encode(query)
        self.proto.datagramReceived(data, source)
        return [(decode(p), addr) for p, addr in self.port.written[before:]]

    def stat(self, name):
        """A statistic."""
        return self.stats.get(name)


class ExchangeTests(ProtocolTestMixin, SynchronousTestCase):
    """Bytes in, bytes out."""

    def test_start_protocol(self):
        """Broadcast is allowed and the interface address becomes a server id."""
        self.assertTrue(self.port.broadcast)
        [(ack, _)] = self.feed(request(requested="192.0.2.10", server_id=SERVER,
                                       flags=0x8000))
        self.assertEqual(ack.message_type, 5)

    def test_dora_broadcast_flag(self):
        """A client with the broadcast bit gets OFFER and ACK at 255.255.255.255:68."""
        [(offer, addr)] = self.feed(discover(flags=0x8000))
        self.assertEqual((offer.message_type, addr), (2, ("255.255.255.255", 68)))
        [(ack, addr)] = self.feed(request(requested=str(offer.yiaddr), server_id=SERVER,
                                          flags=0x8000))
        self.assertEqual((ack.message_type, addr), (5, ("255.255.255.255", 68)))
        self.assertEqual((self.stat("pkt4-sent"), self.stat("pkt4-offer-sent"),
                          self.stat("pkt4-ack-sent")), (2, 1, 1))

    def test_udp_socket_no_flag_broadcasts(self):
        """Without raw sending, a client with no address and no flag is reached by broadcast."""
        [(offer, addr)] = self.feed(discover())
        self.assertEqual(addr, ("255.255.255.255", 68))

    def test_relayed(self):
        """A relayed query is answered to giaddr, port 67."""
        [(offer, addr)] = self.feed(discover(giaddr="10.9.9.9", hops=1), ("10.9.9.9", 67))
        self.assertEqual(addr, ("10.9.9.9", 67))
        self.assertEqual(offer.yiaddr, ip("10.1.0.10"))

    def test_relay_port(self):
        """With the RFC 8357 relay-port sub-option the reply goes to the relay's source port."""
        [(_, addr)] = self.feed(discover(giaddr="10.9.9.9", hops=1,
                                         options={82: b"\x01\x01a\x13\x00"}), ("10.9.9.9", 1067))
        self.assertEqual(addr, ("10.9.9.9", 1067))

    def test_renewing_to_ciaddr(self):
        """A renewing client is answered at ciaddr:68."""
        self.store.update(lease("192.0.2.10", mac(1)))
        [(ack, addr)] = self.feed(request(ciaddr="192.0.2.10"), ("192.0.2.10", 68))
        self.assertEqual((ack.message_type, addr), (5, ("192.0.2.10", 68)))

    def test_nak_broadcast(self):
        """A NAK to a client without ciaddr and not relayed is broadcast."""
        self.store.update(lease("192.0.2.10", mac(1)))
        [(nak, addr)] = self.feed(request(requested="192.0.2.11"))
        self.assertEqual((nak.message_type, addr), (6, ("255.255.255.255", 68)))
        self.assertEqual(self.stat("pkt4-nak-sent"), 1)

    def test_inform_routes(self):
        """INFORM: to ciaddr:68; relayed without ciaddr to giaddr:67."""
        [(_, addr)] = self.feed(inform(ciaddr="192.0.2.77"), ("192.0.2.77", 68))
        self.assertEqual(addr, ("192.0.2.77", 68))
        [(ack, addr)] = self.feed(inform(giaddr="10.9.9.9", hops=1), ("10.9.9.9", 67))
        self.assertEqual(addr, ("10.9.9.9", 67))
        self.assertTrue(ack.flags & 0x8000)

    def test_max_message_size(self):
        """Option 57 raises the size the encoder may use."""
        [(offer, _)] = self.feed(discover(flags=0x8000, options={57: b"\x05\xdc"}))
        self.assertEqual(offer.message_type, 2)

    def test_disabled(self):
        """While the service is disabled nothing is decoded, counted or sent."""
        self.network_state.disable("ha-local")
        self.assertEqual(self.feed(b"garbage"), [])
        self.assertEqual(self.feed(discover()), [])
        self.assertEqual(self.stat("pkt4-parse-failed"), 0)


class SocketPort(FakeUDPPort):
    """A port exposing a C{socket}, as twisted's udp.Port does."""

    def __init__(self, protocol, error=None):
        super().__init__(protocol)
        self.socket = self
        self.error = error

    def sendto(self, data, addr):
        """Record like write, or fail with C{error}."""
        if self.error is not None:
            raise self.error
        self.written.append((data, addr))


class DirectSocketTests(ProtocolTestMixin, SynchronousTestCase):
    """Sending straight on the port's socket."""

    def setUp(self):
        super().setUp()
        self.proto = DHCPServerProtocol(self.server, ETH0, self.clock)
        self.port = SocketPort(self.proto)
        self.proto.makeConnection(self.port)

    def test_sends_on_socket(self):
        """With a socket available, replies go through its sendto."""
        [(offer, addr)] = self.feed(discover(flags=0x8000))
        self.assertEqual((offer.message_type, addr), (2, ("255.255.255.255", 68)))

    def test_send_errors_rate_limited(self):
        """A full send buffer (EAGAIN) is logged at most 5 times a minute, never raised."""
        self.port.error = BlockingIOError(11, "Resource temporarily unavailable")
        for k in range(12):
            self.assertEqual(self.feed(discover(mac(k), flags=0x8000)), [])
        fails = [e for e in self.events if e.get("msg_id") == "DHCP4_PACKET_SEND_FAIL"]
        self.assertEqual(len(fails), 5)
        self.assertEqual(self.stat("pkt4-sent"), 0)
        self.clock.advance(60)
        self.feed(discover(mac(99), flags=0x8000))
        fails = [e for e in self.events if e.get("msg_id") == "DHCP4_PACKET_SEND_FAIL"]
        self.assertEqual([e.get("count") for e in fails[5:]], [7, None])


class RawSendingTests(ProtocolTestMixin, SynchronousTestCase):
    """dhcp-socket-type raw: unicast to yiaddr at chaddr."""

    def setUp(self):
        self.raw = RecordingRawSender()
        super().setUp()

    def test_unicast_to_chaddr(self):
        """No broadcast flag: the OFFER leaves as a raw frame to the client's MAC and yiaddr."""
        self.assertEqual(self.feed(discover()), [])
        [(payload, dst_mac, dst_ip, port)] = self.raw.sent
        self.assertEqual((dst_mac, dst_ip, port), (mac(1), ip("192.0.2.10"), 68))
        self.assertEqual(decode(payload).message_type, 2)
        self.assertEqual(self.stat("pkt4-offer-sent"), 1)

    def test_broadcast_flag_frame_to_client_mac(self):
        """
        With the broadcast flag the reply goes to 255.255.255.255 in a raw
        frame addressed to the client's MAC (Kea 2.2 with raw sockets).
        """
        self.assertEqual(self.feed(discover(flags=0x8000)), [])
        [(payload, dst_mac, dst_ip, port)] = self.raw.sent
        self.assertEqual((dst_mac, dst_ip, port), (mac(1), ip("255.255.255.255"), 68))

    def test_non_ethernet_still_unicast(self):
        """Whatever htype/hlen say, the first 6 chaddr bytes address the frame (as Kea)."""
        self.assertEqual(self.feed(packet(1, b"\x02" * 8, htype=6)), [])
        [(_, dst_mac, dst_ip, _)] = self.raw.sent
        self.assertEqual((dst_mac, dst_ip), (b"\x02" * 6, ip("192.0.2.10")))

    def test_zero_chaddr_broadcasts(self):
        """An all-zero chaddr gives no MAC to send to: the UDP socket broadcasts."""
        [(_, addr)] = self.feed(packet(1, bytes(6)))
        self.assertEqual(addr, ("255.255.255.255", 68))
        self.assertEqual(self.raw.sent, [])

    def test_send_error_logged(self):
        """An error while sending is logged, never raised, and not counted as sent."""
        self.raw.error = OSError(100, "Network is down")
        self.assertEqual(self.feed(discover()), [])
        self.assertEqual(self.stat("pkt4-sent"), 0)
        self.assertTrue(any(e.get("msg_id") == "DHCP4_PACKET_SEND_FAIL" for e in self.events))


class LaterReplyTests(ProtocolTestMixin, SynchronousTestCase):
    """A reply held by the hooks (HA waiting for its partner) leaves when released."""

    def test_reply_after_hooks(self):
        """The ACK is sent only once leases_committed fires True."""
        held = Deferred()
        self.server.hooks = HeldHooks(held)
        [(offer, _)] = self.feed(discover(flags=0x8000))
        self.assertEqual(self.feed(request(requested=str(offer.yiaddr), server_id=SERVER,
                                           flags=0x8000)), [])
        held.callback(True)
        [(ack, addr)] = [(decode(p), a) for p, a in self.port.written[1:]]
        self.assertEqual((ack.message_type, addr), (5, ("255.255.255.255", 68)))


class HeldHooks(NoHA):
    """NoHA whose leases_committed answers with a given Deferred."""

    def __init__(self, answer):
        self.answer = answer

    def leases_committed(self, query, leases, deleted):
        """The held answer."""
        return self.answer


class RouteReplyTests(SynchronousTestCase):
    """route_reply on its own."""

    def test_relayed_wins_over_ciaddr(self):
        """giaddr takes precedence over ciaddr for non-INFORM messages."""
        q = request(giaddr="10.9.9.9", ciaddr="10.1.0.5")
        r = q.evolve(op=2, options={53: b"\x05"})
        self.assertEqual(route_reply(q, r, ("10.9.9.9", 67), True), ("10.9.9.9", 67, False))

    def test_no_yiaddr_falls_back_to_source(self):
        """A reply without yiaddr and no other clue goes to the source address."""
        q = discover()
        r = q.evolve(op=2, options={53: b"\x02"})
        self.assertEqual(route_reply(q, r, ("192.0.2.44", 68), True), ("192.0.2.44", 68, False))


class MalformedTests(ProtocolTestMixin, SynchronousTestCase):
    """Bad datagrams: dropped, counted, logged at a limited rate, never raised."""

    def battery(self):
        """Truncated, garbage, wrong cookie, bad option lengths, empty."""
        good = encode(discover(flags=0x8000))
        bad_len = bytearray(good)
        bad_len[240:243] = b"\x35\x09\x01"  # option 53 claims 9 bytes
        return [
            b"",
            b"\x01",
            good[:100],
            good[:236],
            b"\xff" * 400,
            good[:236] + b"\x00\x00\x00\x00" + good[240:],
            bytes(bad_len[:244]),
            good[:240] + b"\x0c",
        ]

    def test_battery(self):
        """
        Every malformed datagram is dropped; those holding a whole BOOTP
        header count as received and dropped (Kea does not count shorter
        ones); the undecodable ones as parse-failed too, while the last
        two, whose option 53 runs past the end or lacks its length byte,
        decode without a message type (Kea ignores a truncated trailing
        option) and count as unknown.
        """
        cases = self.battery()
        for data in cases:
            self.assertEqual(self.feed(data), [])
        n = sum(1 for data in cases if len(data) >= 236)
        self.assertEqual(n, 5)
        self.assertEqual((self.stat("pkt4-received"), self.stat("pkt4-parse-failed"),
                          self.stat("pkt4-receive-drop"), self.stat("pkt4-unknown-received")),
                         (n, n - 2, n, 2))
        drops = [e for e in self.events if e.get("msg_id") == "DHCP4_PACKET_DROP_0001"]
        self.assertEqual(len(drops), 5)
        # Service goes on for good packets.
        [(offer, _)] = self.feed(discover(flags=0x8000))
        self.assertEqual(offer.message_type, 2)

    def test_any_op(self):
        """A DISCOVER sent with op 2 (or any op) is answered, as Kea 2.2 does."""
        [(offer, _)] = self.feed(discover(op=2, flags=0x8000))
        self.assertEqual((offer.op, offer.message_type), (2, 2))
        self.assertEqual(self.stat("pkt4-receive-drop"), 0)

    def test_rate_limited_log(self):
        """At most 5 warnings per minute, then one summary with the suppressed count."""
        for _ in range(20):
            self.feed(b"junk")
        drops = [e for e in self.events if e.get("msg_id") == "DHCP4_PACKET_DROP_0001"]
        self.assertEqual(len(drops), 5)
        self.assertTrue(all(e["log_level"] == LogLevel.warn for e in drops))
        self.clock.advance(61)
        self.feed(b"junk")
        drops = [e for e in self.events if e.get("msg_id") == "DHCP4_PACKET_DROP_0001"]
        self.assertEqual([e.get("count") for e in drops[5:]], [15, None])
        self.assertEqual(drops[-1]["size"], 4)

    def test_handle_failure_logged(self):
        """A failing Deferred from the server is logged with log.failure, never raised."""
        self.server.process = lambda q, i, s: fail(RuntimeError("boom"))
        self.assertEqual(self.feed(discover()), [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_handle_exception_logged(self):
        """An exception raised synchronously by the server is caught and logged."""
        def boom(q, i, s):
            raise ValueError("sync boom")
        self.server.process = boom
        self.assertEqual(self.feed(discover()), [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
