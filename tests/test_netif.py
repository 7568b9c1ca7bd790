"""
Tests for L{kea_ha_tw.dhcp.netif}: interface resolution (with the system
reads injected), raw frame building (checked with scapy), and the listener
service over a fake reactor.
"""

from __future__ import annotations

import socket

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.netif import (
    IFF_LOOPBACK,
    IFF_UP,
    DHCPListenerService,
    MAX_DATAGRAM,
    READ_TURN_BYTES,
    InterfaceInfo,
    RawSender,
    build_frame,
    resolve_interfaces,
)
from kea_ha_tw.errors import ConfigError
from tests.builders import ETH0, ip
from tests.fakes import FakeUDPPort, MemoryUDPReactor

NAMES = [(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "eth2")]
ADDRS = [
    (1, ip("127.0.0.1"), 8, None),
    (1, ip("127.0.0.2"), 8, None),
    (2, ip("192.0.2.1"), 24, ip("192.0.2.255")),
    (2, ip("192.0.2.9"), 24, ip("192.0.2.255")),
    (3, ip("198.51.100.1"), 25, None),
]
FLAGS = {"lo": IFF_UP | IFF_LOOPBACK, "eth0": IFF_UP, "eth1": IFF_UP, "eth2": IFF_UP}
MACS = {"lo": b"", "eth0": b"\x02\x00\x00\x00\x00\x01", "eth1": b"\x02\x00\x00\x00\x00\x02",
        "eth2": b"\x02\x00\x00\x00\x00\x03"}


def resolve(specs, flags=FLAGS):
    """resolve_interfaces over the fake system above."""
    return resolve_interfaces(specs, names=lambda: NAMES, addresses=lambda: ADDRS,
                              flags_of=flags.__getitem__, mac_of=MACS.__getitem__)


class ResolveTests(SynchronousTestCase):
    """Kea's interfaces-config.interfaces forms."""

    def test_name(self):
        """A bare name takes the interface's first address, its mask and broadcast."""
        [info] = resolve(["eth0"])
        self.assertEqual(info, InterfaceInfo("eth0", 2, ip("192.0.2.1"), ip("255.255.255.0"),
                                             MACS["eth0"], ip("192.0.2.255")))

    def test_name_address(self):
        """name/address picks that address."""
        [info] = resolve(["eth0/192.0.2.9"])
        self.assertEqual(info.address, ip("192.0.2.9"))

    def test_broadcast_computed(self):
        """Without a broadcast attribute the prefix's broadcast address is used."""
        [info] = resolve(["eth1"])
        self.assertEqual((info.netmask, info.broadcast),
                         (ip("255.255.255.128"), ip("198.51.100.127")))

    def test_loopback_by_name(self):
        """lo can be named explicitly (perfdhcp relay topology); it has no MAC."""
        [info] = resolve(["lo"])
        self.assertEqual((info.address, info.mac), (ip("127.0.0.1"), b""))

    def test_wildcard(self):
        """'*' is every up interface with an address, loopback excepted, one entry each."""
        infos = resolve(["*"], flags=dict(FLAGS, eth1=0))
        self.assertEqual([(i.name, str(i.address)) for i in infos], [("eth0", "192.0.2.1")])

    def test_one_entry_per_interface(self):
        """Naming an interface twice keeps the first entry (one socket per interface)."""
        infos = resolve(["eth0", "eth0/192.0.2.9", "*"])
        self.assertEqual([(i.name, str(i.address)) for i in infos],
                         [("eth0", "192.0.2.1"), ("eth1", "198.51.100.1")])

    def test_errors(self):
        """Unknown interface, no address, wrong or malformed address: ConfigError with the path."""
        for spec, words in (("eth9", "does not exist"), ("eth2", "no IPv4 address"),
                            ("eth0/192.0.2.77", "no address 192.0.2.77"),
                            ("eth0/banana", "not an IPv4 address")):
            e = self.assertRaises(ConfigError, resolve, ["lo", spec])
            self.assertEqual(e.path, "Dhcp4.interfaces-config.interfaces[1]")
            self.assertIn(words, e.message)


class FrameTests(SynchronousTestCase):
    """build_frame, checked against scapy's own parsing and checksums."""

    def test_frame(self):
        """Ethernet, IPv4 (TOS 0x10, DF, TTL 128) and UDP headers with correct checksums."""
        payload = bytes(range(256)) + b"\x01\x02\x03"  # odd length
        frame = build_frame(payload, src_mac=MACS["eth0"], dst_mac=b"\xaa\x00\x00\x00\x00\x01",
                            src_ip=ip("192.0.2.1"), dst_ip=ip("192.0.2.10"))
        pkt = Ether(frame)
        self.assertEqual((pkt.src, pkt.dst, pkt.type), ("02:00:00:00:00:01", "aa:00:00:00:00:01",
                                                        0x0800))
        self.assertEqual((pkt[IP].src, pkt[IP].dst, pkt[IP].ttl, pkt[IP].tos, int(pkt[IP].flags)),
                         ("192.0.2.1", "192.0.2.10", 128, 0x10, 2))
        self.assertEqual((pkt[UDP].sport, pkt[UDP].dport), (67, 68))
        self.assertEqual(bytes(pkt[UDP].payload), payload)
        ip_sum, udp_sum = pkt[IP].chksum, pkt[UDP].chksum
        del pkt[IP].chksum
        del pkt[UDP].chksum
        again = Ether(bytes(pkt))
        self.assertEqual((again[IP].chksum, again[UDP].chksum), (ip_sum, udp_sum))

    def test_raw_sender(self):
        """RawSender writes one frame from the interface's MAC and address."""
        sent = []

        class Sock:
            def send(self, data):
                sent.append(data)

            def close(self):
                sent.append("closed")

        raw = RawSender(Sock(), ETH0)
        raw.send(b"x" * 300, b"\xaa" * 6, ip("192.0.2.10"))
        raw.close()
        pkt = Ether(sent[0])
        self.assertEqual((pkt.src, pkt[IP].src, pkt[IP].dst, pkt[UDP].dport),
                         ("02:00:00:00:00:01", "192.0.2.1", "192.0.2.10", 68))
        self.assertEqual(sent[1], "closed")


class FakeSocket:
    """Stands in for a socket: a file number and a close flag."""

    def __init__(self, fileno):
        self._fileno = fileno
        self.closed = False

    def fileno(self):
        """The fake descriptor."""
        return self._fileno

    def close(self):
        """Mark closed."""
        self.closed = True

    def send(self, data):
        """Swallow."""


class AdoptingReactor(MemoryUDPReactor):
    """MemoryUDPReactor plus adoptDatagramPort."""

    def __init__(self):
        super().__init__()
        self.adopted = []

    def adoptDatagramPort(self, fileDescriptor, addressFamily, protocol,  # noqa: N802,N803
                          maxPacketSize=8192):  # noqa: N803
        """Record the descriptor and start C{protocol} on a fake port."""
        port = FakeUDPPort(protocol)
        port.max_packet_size = maxPacketSize
        self.adopted.append((fileDescriptor, addressFamily, port))
        protocol.makeConnection(port)
        return port


class ListenerServiceTests(SynchronousTestCase):
    """DHCPListenerService."""

    def setUp(self):
        self.reactor = AdoptingReactor()
        self.opened = []
        self.raw_opened = []
        self.made = []

    def service(self, specs, socket_type="raw"):
        """A service over the fake system and reactor."""
        def opener(iface, port):
            s = FakeSocket(100 + len(self.opened))
            self.opened.append((iface.name, port, s))
            return s

        def raw_opener(iface):
            s = FakeSocket(200 + len(self.raw_opened))
            self.raw_opened.append((iface.name, s))
            return s

        def factory(iface, raw):
            self.made.append((iface.name, raw))
            return DatagramProtocol()

        return DHCPListenerService(self.reactor, specs, factory, socket_type, resolver=resolve,
                                   socket_opener=opener, raw_opener=raw_opener)

    def test_opens_and_adopts_per_interface(self):
        """One socket per interface on port 67, adopted as AF_INET, then our copy closed."""
        svc = self.service(["lo", "eth0"])
        svc.privilegedStartService()
        svc.startService()
        self.assertEqual([(n, p) for n, p, _ in self.opened], [("lo", 67), ("eth0", 67)])
        self.assertEqual([(fd, fam) for fd, fam, _ in self.reactor.adopted],
                         [(100, socket.AF_INET), (101, socket.AF_INET)])
        self.assertTrue(all(s.closed for _, _, s in self.opened))
        self.assertEqual([i.name for i in svc.interfaces], ["lo", "eth0"])

    def test_reads_at_most_1500_bytes(self):
        """Datagrams are read up to 1500 bytes, Kea 2.2's receive buffer."""
        self.service(["eth0"]).startService()
        [(_, _, port)] = self.reactor.adopted
        self.assertEqual(port.max_packet_size, MAX_DATAGRAM)
        self.assertEqual(MAX_DATAGRAM, 1500)

    def test_read_turn_is_short(self):
        """A read turn takes about 50 queries (not Twisted's 256 KiB): peer answers interleave."""
        self.service(["eth0"]).startService()
        [(_, _, port)] = self.reactor.adopted
        self.assertEqual(port.maxThroughput, READ_TURN_BYTES)
        self.assertLessEqual(READ_TURN_BYTES, 32 * 1024)

    def test_raw_sender_only_for_ethernet(self):
        """socket type raw: a raw sender for eth0, none for lo (no MAC)."""
        svc = self.service(["lo", "eth0"])
        svc.startService()
        self.assertEqual([n for n, _ in self.raw_opened], ["eth0"])
        self.assertIsNone(self.made[0][1])
        self.assertIsInstance(self.made[1][1], RawSender)

    def test_udp_socket_type_no_raw(self):
        """socket type udp opens no raw socket."""
        svc = self.service(["eth0"], socket_type="udp")
        svc.startService()
        self.assertEqual(self.raw_opened, [])
        self.assertEqual(self.made, [("eth0", None)])

    def test_stop(self):
        """stopService stops every port and closes the raw sockets."""
        svc = self.service(["eth0", "eth1"])
        svc.startService()
        self.successResultOf(svc.stopService())
        self.assertTrue(all(not port.listening for _, _, port in self.reactor.adopted))
        self.assertTrue(all(s.closed for _, s in self.raw_opened))

    def test_bad_interface_fails_start(self):
        """A configured interface that does not exist stops the start with ConfigError."""
        svc = self.service(["eth9"])
        self.assertRaises(ConfigError, svc.privilegedStartService)
        self.assertEqual(self.opened, [])
