"""
Differential RFC 2131 client-state scenarios: real C{kea-dhcp4} 2.2 (the
oracle) and C{twistd kea-ha} run the same Kea JSON (L{diff_config}), each
in its own pair of C{khr-} namespaces, and get the same crafted datagrams
in lockstep from the scapy driver (L{tests.integration.scapy_client}).

Every scenario first checks what Kea did (so the scenario means what it
says), then requires ours to have done exactly the same: message type or
silence, every BOOTP field, every option with its value and in Kea's
order, the reply's Ethernet/IP/UDP destination; then the same current
leases in both memfiles and the same statistics (C{statistic-get-all}
over each server's unix control socket).
"""

from __future__ import annotations

import time

from twisted.trial.unittest import TestCase

from tests.integration.diff_support import (
    RELAY,
    RELAY_FRAME,
    DiffMixin,
    bound_broadcast_frame,
    unicast_frame,
)
from tests.integration.scapy_client import (
    DECLINE,
    DISCOVER,
    INFORM,
    RELEASE,
    REQUEST,
    Identity,
    ip4,
    mac_bytes,
)

SID = ip4("10.77.1.1")
OTHER_SID = ip4("10.77.1.99")


def mac(n: int, group: int = 0) -> str:
    """Client MAC number C{n} of scenario group C{group}."""
    return f"02:{group:02x}:00:00:{n >> 8:02x}:{n & 0xff:02x}"


class RawSocketDiffTests(DiffMixin, TestCase):
    """Kea vs ours on a veth link, C{dhcp-socket-type} raw (Kea's default)."""

    def test_selecting(self):
        """
        INIT: DISCOVER -> OFFER; SELECTING: REQUEST naming our server id ->
        ACK; REQUEST naming another server -> silence and the offered
        address is not leased; a REQUEST for a free pool address nobody
        offered -> ACK; DISCOVER naming a server id -> dropped.
        """
        a = Identity(mac(1, 1))
        ack = self.dora(a, "A")
        self.assertEqual(ack["yiaddr"], "10.77.1.100")
        self.assertEqual(ack["eth_dst"], a.mac)

        b = Identity(mac(2, 1))
        k, _ = self.pair.step("B DISCOVER", b.query(DISCOVER), {"src_mac": b.mac})
        offered = self.one(k, "OFFER", "B")["yiaddr"]
        k, _ = self.pair.step("B REQUEST other server",
                              b.query(REQUEST, [(50, ip4(offered)), (54, OTHER_SID)]),
                              {"src_mac": b.mac})
        self.one(k, None, "B REQUEST other server")

        c = Identity(mac(3, 1))
        k, _ = self.pair.step("C REQUEST not offered",
                              c.query(REQUEST, [(50, ip4("10.77.1.150")), (54, SID)]),
                              {"src_mac": c.mac})
        self.one(k, "ACK", "C")

        d = Identity(mac(4, 1))
        k, _ = self.pair.step("D DISCOVER with server id", d.query(DISCOVER, [(54, SID)]),
                              {"src_mac": d.mac})
        leases = self.assert_same_leases()
        self.assertNotIn(offered, leases)
        self.assertIn("10.77.1.150", leases)
        self.finish()

    def test_init_reboot(self):
        """
        INIT-REBOOT (no server id, option 50): own address -> ACK, another
        address of the subnet -> NAK, an address of another subnet -> NAK;
        an unknown client -> silence on a non-authoritative subnet (direct
        and relayed), NAK on an authoritative one.
        """
        a = Identity(mac(1, 2))
        yi = self.dora(a, "A")["yiaddr"]
        k, _ = self.pair.step("A reboot own", a.query(REQUEST, [(50, ip4(yi))]),
                              {"src_mac": a.mac})
        self.one(k, "ACK", "A reboot own")
        k, _ = self.pair.step("A reboot other address",
                              a.query(REQUEST, [(50, ip4("10.77.1.170"))]), {"src_mac": a.mac})
        self.one(k, "NAK", "A reboot other")
        k, _ = self.pair.step("A reboot wrong subnet",
                              a.query(REQUEST, [(50, ip4("10.77.2.150"))]), {"src_mac": a.mac})
        self.one(k, "NAK", "A reboot wrong subnet")

        u = Identity(mac(2, 2))
        k, _ = self.pair.step("U reboot non-authoritative",
                              u.query(REQUEST, [(50, ip4("10.77.1.160"))]), {"src_mac": u.mac})
        self.one(k, None, "unknown, non-authoritative")
        k, _ = self.pair.step("U reboot relayed non-authoritative",
                              u.query(REQUEST, [(50, ip4("10.77.2.160"))],
                                      giaddr=RELAY["plain"]), RELAY_FRAME)
        self.one(k, None, "unknown, relayed non-authoritative")
        k, _ = self.pair.step("U reboot authoritative",
                              u.query(REQUEST, [(50, ip4("10.77.4.160"))],
                                      giaddr=RELAY["authoritative"]), RELAY_FRAME)
        self.one(k, "NAK", "unknown, authoritative")
        k, _ = self.pair.step("U reboot authoritative, wrong subnet",
                              u.query(REQUEST, [(50, ip4("10.77.1.160"))],
                                      giaddr=RELAY["authoritative"]), RELAY_FRAME)
        self.one(k, "NAK", "unknown, authoritative, wrong subnet")
        self.finish()

    def test_renew_rebind(self):
        """
        RENEWING (unicast from ciaddr) -> ACK to ciaddr; REBINDING
        (broadcast, ciaddr) -> ACK; renewing an address the client does
        not hold (free, another client's, outside every subnet) and after
        a RELEASE.
        """
        a = Identity(mac(1, 3))
        yi = self.dora(a, "A")["yiaddr"]
        self.own_address(yi)
        k, _ = self.pair.step("A renew", a.query(REQUEST, ciaddr=yi), unicast_frame(yi))
        self.assertEqual(self.one(k, "ACK", "renew")["ip_dst"], yi)
        k, _ = self.pair.step("A rebind", a.query(REQUEST, ciaddr=yi), bound_broadcast_frame(yi))
        self.one(k, "ACK", "rebind")

        b = Identity(mac(2, 3))
        self.own_address("10.77.1.180")
        k, _ = self.pair.step("B renew free address", b.query(REQUEST, ciaddr="10.77.1.180"),
                              unicast_frame("10.77.1.180"))
        k, _ = self.pair.step("B renew A's address", b.query(REQUEST, ciaddr=yi),
                              unicast_frame(yi))
        self.one(k, "NAK", "renew of another client's address")
        k, _ = self.pair.step("B rebind A's address", b.query(REQUEST, ciaddr=yi),
                              bound_broadcast_frame(yi))
        k, _ = self.pair.step("B renew foreign address", b.query(REQUEST, ciaddr="10.77.99.5"),
                              unicast_frame("10.77.99.5"))

        k, _ = self.pair.step("A release", a.query(RELEASE, [(54, SID)], ciaddr=yi),
                              unicast_frame(yi))
        self.one(k, None, "release")
        k, _ = self.pair.step("A renew after release", a.query(REQUEST, ciaddr=yi),
                              unicast_frame(yi))
        k, _ = self.pair.step("A rebind after release", a.query(REQUEST, ciaddr=yi),
                              bound_broadcast_frame(yi))
        self.finish()

    def test_release_then_request(self):
        """
        RELEASE (by the owner, by another client, of an unknown address),
        then the owner REQUESTs (SELECTING) and DISCOVERs again.
        """
        a = Identity(mac(1, 5))
        other = Identity(mac(2, 5))
        yi = self.dora(a, "A")["yiaddr"]
        k, _ = self.pair.step("other releases A's address",
                              other.query(RELEASE, [(54, SID)], ciaddr=yi), unicast_frame(yi))
        self.assertIn(yi, self.assert_same_leases())
        k, _ = self.pair.step("A releases an unknown address",
                              a.query(RELEASE, [(54, SID)], ciaddr="10.77.1.190"),
                              unicast_frame("10.77.1.190"))
        k, _ = self.pair.step("A releases", a.query(RELEASE, [(54, SID)], ciaddr=yi),
                              unicast_frame(yi))
        self.one(k, None, "release")
        self.assertNotIn(yi, self.assert_same_leases())
        k, _ = self.pair.step("A requests the released address",
                              a.query(REQUEST, [(50, ip4(yi)), (54, SID)]), {"src_mac": a.mac})
        self.one(k, "ACK", "request after release")
        k, _ = self.pair.step("A releases again", a.query(RELEASE, [(54, SID)], ciaddr=yi),
                              unicast_frame(yi))
        k, _ = self.pair.step("A discovers again", a.query(DISCOVER), {"src_mac": a.mac})
        self.one(k, "OFFER", "discover after release")
        self.finish()

    def test_decline(self):
        """
        DECLINE -> silence, the address in probation (declined row), the
        next client gets another address; a DECLINE by a non-owner or
        without option 50 changes nothing.
        """
        a = Identity(mac(1, 6))
        yi = self.dora(a, "A")["yiaddr"]
        b = Identity(mac(2, 6))
        k, _ = self.pair.step("B declines A's address",
                              b.query(DECLINE, [(50, ip4(yi)), (54, SID)]), {"src_mac": b.mac})
        k, _ = self.pair.step("A declines without option 50", a.query(DECLINE, [(54, SID)]),
                              {"src_mac": a.mac})
        k, _ = self.pair.step("A declines", a.query(DECLINE, [(50, ip4(yi)), (54, SID)]),
                              {"src_mac": a.mac})
        self.one(k, None, "decline")
        leases = self.assert_same_leases()
        self.assertEqual(leases[yi]["state"], "1")
        c = Identity(mac(3, 6))
        self.assertNotEqual(self.dora(c, "C")["yiaddr"], yi)
        k, _ = self.pair.step("A discovers after declining", a.query(DISCOVER),
                              {"src_mac": a.mac})
        self.assertNotEqual(self.one(k, "OFFER", "after decline")["yiaddr"], yi)
        self.finish()

    def test_inform(self):
        """
        INFORM: unicast from ciaddr, broadcast with ciaddr, broadcast
        without ciaddr from 0.0.0.0, relayed with and without ciaddr.
        """
        c = Identity(mac(1, 7))
        prl = [(55, bytes([1, 3, 6, 15, 42]))]
        self.own_address("10.77.1.30")
        k, _ = self.pair.step("unicast with ciaddr", c.query(INFORM, prl, ciaddr="10.77.1.30"),
                              unicast_frame("10.77.1.30"))
        self.one(k, "ACK", "inform unicast")
        k, _ = self.pair.step("broadcast with ciaddr", c.query(INFORM, prl, ciaddr="10.77.1.30"),
                              bound_broadcast_frame("10.77.1.30"))
        k, _ = self.pair.step("broadcast without ciaddr", c.query(INFORM, prl),
                              {"src_mac": c.mac})
        k, _ = self.pair.step("relayed with ciaddr",
                              c.query(INFORM, prl, ciaddr="10.77.2.30", giaddr=RELAY["plain"]),
                              RELAY_FRAME)
        k, _ = self.pair.step("relayed without ciaddr",
                              c.query(INFORM, prl, giaddr=RELAY["plain"]), RELAY_FRAME)
        k, _ = self.pair.step("relayed broadcast flag",
                              c.query(INFORM, prl, giaddr=RELAY["plain"], flags=0x8000),
                              RELAY_FRAME)
        self.finish()

    def test_client_identity(self):
        """
        Client identity with match-client-id true (subnet 1) and false
        (subnet 5): same chaddr with another client-id, same client-id
        with another chaddr, the chaddr without any client-id.
        """
        for label, relay in (("match", None), ("no-match", RELAY["no-match-client-id"])):
            frame = RELAY_FRAME if relay else None
            giaddr = relay or "0.0.0.0"
            x = Identity(mac(1, 8), client_id=b"\x01" + mac_bytes(mac(1, 8)) + b"x")
            yx = self.dora(x, f"{label} X", relay=relay)["yiaddr"]

            def discover(ident, what, label=label, giaddr=giaddr, frame=frame):
                k, _ = self.pair.step(f"{label}: {what}",
                                      ident.query(DISCOVER, giaddr=giaddr),
                                      frame or {"src_mac": ident.mac})
                return k

            discover(Identity(x.mac, client_id=b"\x01other-id"), "same chaddr, other client-id")
            discover(Identity(mac(2, 8), client_id=x.client_id), "same client-id, other chaddr")
            discover(Identity(x.mac), "same chaddr, no client-id")
            y = Identity(mac(3, 8), client_id=x.client_id)
            k, _ = self.pair.step(f"{label}: Y reboots with X's client-id",
                                  y.query(REQUEST, [(50, ip4(yx))], giaddr=giaddr),
                                  frame or {"src_mac": y.mac})
        self.finish()

    def test_requested_address(self):
        """
        Option 50 in DISCOVER: a free pool address, an address of the
        subnet outside the pool, an address of another subnet, a taken
        address; a SELECTING REQUEST for a taken address.
        """
        a = Identity(mac(1, 9))
        taken = self.dora(a, "A")["yiaddr"]
        for n, (what, wanted) in enumerate((("free in pool", "10.77.1.150"),
                                            ("in subnet, out of pool", "10.77.1.20"),
                                            ("other subnet", "10.77.3.150"),
                                            ("taken", taken)), start=2):
            c = Identity(mac(n, 9))
            k, _ = self.pair.step(f"DISCOVER {what}", c.query(DISCOVER, [(50, ip4(wanted))]),
                                  {"src_mac": c.mac})
            self.one(k, "OFFER", what)
        c = Identity(mac(9, 9))
        k, _ = self.pair.step("REQUEST taken", c.query(REQUEST, [(50, ip4(taken)), (54, SID)]),
                              {"src_mac": c.mac})
        self.one(k, "NAK", "request of a taken address")
        k, _ = self.pair.step("REQUEST out of pool",
                              c.query(REQUEST, [(50, ip4("10.77.1.20")), (54, SID)]),
                              {"src_mac": c.mac})
        k, _ = self.pair.step("REQUEST other subnet",
                              c.query(REQUEST, [(50, ip4("10.77.3.150")), (54, SID)]),
                              {"src_mac": c.mac})
        self.finish()

    def test_flags_and_request_lists(self):
        """
        Broadcast flag set vs not (reply destination); parameter request
        list absent, empty, with unknown codes, with duplicates; option
        57 small; hostname option 12 variants.
        """
        n = iter(range(1, 100))

        def discover(what, options=(), flags=0):
            c = Identity(mac(next(n), 10))
            k, _ = self.pair.step(what, c.query(DISCOVER, options, flags=flags),
                                  {"src_mac": c.mac})
            return self.one(k, "OFFER", what)

        self.assertEqual(discover("broadcast flag", flags=0x8000)["ip_dst"], "255.255.255.255")
        self.assertEqual(discover("no broadcast flag")["eth_dst"], mac(2, 10))
        c = Identity(mac(90, 10))
        k, _ = self.pair.step("prl empty", c.query(DISCOVER, [(55, b"")]), {"src_mac": c.mac})
        self.one(k, None, "an empty request list fails Kea's unpacking")
        discover("prl ntp+unknown", [(55, bytes([42, 200, 224, 254, 1]))])
        discover("prl duplicates", [(55, bytes([3, 3, 6, 42, 42, 6]))])
        discover("prl reversed", [(55, bytes([42, 15, 6, 3, 1]))])
        discover("max size 576", [(57, (576).to_bytes(2, "big")), (55, bytes([42]))])
        discover("max size 200", [(57, (200).to_bytes(2, "big")), (55, bytes([42]))])
        c = Identity(mac(91, 10))
        k, _ = self.pair.step("max size 1 byte", c.query(DISCOVER, [(57, b"\x02")]),
                              {"src_mac": c.mac})
        self.one(k, None, "a 1-byte option 57 fails Kea's unpacking")
        discover("hostname", [(12, b"MyHost")])
        discover("hostname fqdn", [(12, b"host.example.org")])
        discover("hostname dot", [(12, b".")])
        discover("hostname junk", [(12, b"bad_name!*")])
        discover("hostname empty", [(12, b"")])
        self.finish()

    def test_lease_time_hints(self):
        """Option 51 hint with and without min/max-valid-lifetime (subnet 7, subnet 2)."""
        for n, hint in enumerate((None, 100, 3000, 5000, 99999)):
            opts = [] if hint is None else [(51, hint.to_bytes(4, "big"))]
            for relay in (RELAY["lifetimes"], RELAY["plain"]):
                c = Identity(mac(n * 2 + (relay == RELAY["plain"]) + 1, 11))
                self.dora(c, f"hint {hint} via {relay}", relay=relay, options=opts)
        self.finish()

    def test_relays(self):
        """
        giaddr in a subnet, giaddr listed in relay.ip-addresses, giaddr
        in no subnet; option 82 echoed as received; hops kept; RFC 8357
        relay port; broadcast flag through a relay.
        """
        c = Identity(mac(1, 12))
        self.dora(c, "giaddr in subnet", relay=RELAY["plain"])
        self.dora(Identity(mac(2, 12)), "relay.ip-addresses", relay=RELAY["relay-ip"])
        k, _ = self.pair.step("giaddr in no subnet",
                              Identity(mac(3, 12)).query(DISCOVER, giaddr="10.77.99.1"),
                              RELAY_FRAME)
        self.one(k, None, "giaddr in no subnet")
        rai = [(82, bytes([1, 4]) + b"eth0" + bytes([2, 6]) + mac_bytes(mac(4, 12)))]
        self.dora(Identity(mac(4, 12)), "option 82", relay=RELAY["plain"], options=rai)
        d = Identity(mac(5, 12))
        k, _ = self.pair.step("hops 3", d.query(DISCOVER, giaddr=RELAY["plain"], hops=3),
                              RELAY_FRAME)
        self.one(k, "OFFER", "hops")
        port = [(82, bytes([1, 2]) + b"p1" + bytes([19, 0]))]
        k, _ = self.pair.step("relay port", d.query(DISCOVER, port, giaddr=RELAY["plain"]),
                              dict(RELAY_FRAME, sport=6767))
        k, _ = self.pair.step("relayed broadcast flag",
                              d.query(DISCOVER, giaddr=RELAY["plain"], flags=0x8000), RELAY_FRAME)
        self.one(k, "OFFER", "relayed broadcast")
        self.finish()

    def test_pool_exhaustion(self):
        """A two-address pool: two clients bind, the third gets no OFFER and a NAK."""
        for n in (1, 2):
            self.dora(Identity(mac(n, 13)), f"client {n}", relay=RELAY["tiny"])
        c = Identity(mac(3, 13))
        k, _ = self.pair.step("third DISCOVER", c.query(DISCOVER, giaddr=RELAY["tiny"]),
                              RELAY_FRAME)
        self.one(k, None, "exhausted DISCOVER")
        k, _ = self.pair.step("third REQUEST",
                              c.query(REQUEST, [(50, ip4("10.77.6.100")), (54, SID)],
                                      giaddr=RELAY["tiny"]), RELAY_FRAME)
        self.one(k, "NAK", "exhausted REQUEST")
        self.finish()

    def test_bootp_and_oddities(self):
        """
        BOOTP (no option 53) -> Kea drops; op=2; message types a server
        never answers (OFFER, ACK, NAK sent by a client, type 0, 9, 18).
        """
        c = Identity(mac(1, 14))
        k, _ = self.pair.step("BOOTP", c.query(None), {"src_mac": c.mac})
        self.one(k, None, "bootp")
        k, _ = self.pair.step("op 2 DISCOVER", c.query(DISCOVER, op=2), {"src_mac": c.mac})
        for mtype in (2, 5, 6, 0, 9, 18):
            self.pair.step(f"type {mtype}", c.query(mtype), {"src_mac": c.mac})
        k, _ = self.pair.step("valid DISCOVER afterwards", c.query(DISCOVER), {"src_mac": c.mac})
        self.one(k, "OFFER", "afterwards")
        self.finish()


class ExpiryDiffTests(DiffMixin, TestCase):
    """A subnet whose leases last 3 s: expired-but-not-reclaimed leases."""

    def mutate_config(self, dhcp4):
        """Subnet 9 (giaddr 10.77.10.1): valid 3 s, T1 1 s, T2 2 s."""
        dhcp4["subnet4"].append({
            "id": 9, "subnet": "10.77.10.0/24", "pools": [{"pool": "10.77.10.100 - 10.77.10.101"}],
            "valid-lifetime": 3, "renew-timer": 1, "rebind-timer": 2})

    def test_expired(self):
        """
        After expiry: the owner renews (unicast, via relay) and
        re-requests; a second client on the full pool takes the expired
        address of a third.
        """
        relay = "10.77.10.1"
        a, b, c = (Identity(mac(n, 15)) for n in (1, 2, 3))
        ya = self.dora(a, "A", relay=relay)["yiaddr"]
        yb = self.dora(b, "B", relay=relay)["yiaddr"]
        time.sleep(4.5)  # past expiry even with whole-second lease times
        k, _ = self.pair.step("A renews expired", a.query(REQUEST, ciaddr=ya, giaddr=relay),
                              RELAY_FRAME)
        k, _ = self.pair.step("C discovers (B's lease expired)",
                              c.query(DISCOVER, giaddr=relay), RELAY_FRAME)
        offer = self.one(k, "OFFER", "reuse of an expired lease")
        self.assertEqual(offer["yiaddr"], yb)
        k, _ = self.pair.step("C requests it",
                              c.query(REQUEST, [(50, ip4(yb)), (54, SID)], giaddr=relay),
                              RELAY_FRAME)
        self.one(k, "ACK", "reuse")
        k, _ = self.pair.step("B reboots into its lost address",
                              b.query(REQUEST, [(50, ip4(yb))], giaddr=relay), RELAY_FRAME)
        self.finish()


class UDPSocketDiffTests(DiffMixin, TestCase):
    """
    C{dhcp-socket-type} udp: direct clients on C{s0}, and a relay on the
    server's own loopback (127.0.0.2 -> 127.0.0.1).
    """

    def mutate_config(self, dhcp4):
        """UDP sockets on C{s0} and C{lo/127.0.0.1}."""
        dhcp4["interfaces-config"] = {"interfaces": ["s0", "lo/127.0.0.1"],
                                      "dhcp-socket-type": "udp"}

    def test_udp_sockets(self):
        """
        The loopback relay (subnet 8 by relay.ip-addresses): DORA, INFORM,
        RELEASE. (Direct clients are left out: Kea's UDP socket is bound
        to the interface address and never sees their broadcasts, while
        ours answers them; see dhcp-diff-findings.md.)
        """
        r = Identity(mac(2, 16))
        k, _ = self.pair.step("lo DISCOVER", r.query(DISCOVER, giaddr="127.0.0.2"), link="udp")
        yi = self.one(k, "OFFER", "loopback relay")["yiaddr"]
        k, _ = self.pair.step("lo REQUEST",
                              r.query(REQUEST, [(50, ip4(yi)), (54, ip4("127.0.0.1"))],
                                      giaddr="127.0.0.2"), link="udp")
        self.one(k, "ACK", "loopback relay")
        k, _ = self.pair.step("lo INFORM", r.query(INFORM, ciaddr=yi, giaddr="127.0.0.2"),
                              link="udp")
        k, _ = self.pair.step("lo RELEASE", r.query(RELEASE, [(54, ip4("127.0.0.1"))],
                                                    ciaddr=yi, giaddr="127.0.0.2"), link="udp")
        self.assertNotIn(yi, self.assert_same_leases())
        self.finish()
