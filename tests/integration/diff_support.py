"""
Shared set-up of the differential tests (test_rfc2131_diff, test_malformed):
one Kea JSON configuration, a Kea side and an ours side each in its own
pair of C{khr-} namespaces, both started side by side, and the assertion
that compares their transcripts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import threading

from tests.integration.base import SKIP
from tests.integration.procs import KeaServer, TwistdServer, wait_until
from tests.integration.scapy_client import (
    CLIENT_LINK_ADDR,
    CLIENT_LINK_MAC,
    DISCOVER,
    REQUEST,
    SERVER_ADDR,
    SERVER_MAC,
    Identity,
    Pair,
    RawLink,
    RLab,
    Side,
    UDPLink,
    direct_pair_link,
    ip4,
    option,
    short_socket_dir,
    write_json,
)

#: How a relay on the client link (10.77.1.2, port 67) frames its packets.
RELAY_FRAME = {"src_mac": CLIENT_LINK_MAC, "dst_mac": SERVER_MAC, "src_ip": CLIENT_LINK_ADDR,
               "dst_ip": SERVER_ADDR, "sport": 67}


def unicast_frame(ciaddr: str) -> dict:
    """A client that owns C{ciaddr} talking to the server directly (RENEWING, RELEASE)."""
    return {"src_mac": CLIENT_LINK_MAC, "dst_mac": SERVER_MAC, "src_ip": ciaddr,
            "dst_ip": SERVER_ADDR}


def bound_broadcast_frame(ciaddr: str) -> dict:
    """A client that owns C{ciaddr} broadcasting (REBINDING)."""
    return {"src_mac": CLIENT_LINK_MAC, "src_ip": ciaddr}

#: Relay addresses (giaddr) that select each relayed subnet.
RELAY = {
    "plain": "10.77.2.1",       # subnet 2 contains it
    "relay-ip": "10.77.9.9",    # in no subnet; subnet 3 lists it in relay.ip-addresses
    "authoritative": "10.77.4.1",
    "no-match-client-id": "10.77.5.1",
    "tiny": "10.77.6.1",
    "lifetimes": "10.77.7.1",
    "loopback": "127.0.0.2",    # subnet 8 lists it; the relay on lo
}


def _subnet(subnet_id: int, third: int, **extra) -> dict:
    net = f"10.77.{third}"
    sub = {
        "id": subnet_id,
        "subnet": f"{net}.0/24",
        "pools": [{"pool": f"{net}.100 - {net}.199"}],
        "option-data": [
            {"name": "routers", "data": f"{net}.1"},
            {"name": "domain-name-servers", "data": f"{net}.1, 10.77.0.53"},
            {"name": "domain-name", "data": "khr.example"},
            {"name": "ntp-servers", "data": f"{net}.123"},
        ],
    }
    sub.update(extra)
    return sub


def diff_config(lease_file: str, socket_path: str) -> dict:
    """
    The one configuration both servers run: direct clients on C{s0}
    (subnet 1, non-authoritative), relayed subnets 2-7 each picked by
    its giaddr (see L{RELAY}), and subnet 8 for the loopback relay.
    """
    return {
        "Dhcp4": {
            "interfaces-config": {"interfaces": ["s0"]},
            "control-socket": {"socket-type": "unix", "socket-name": socket_path},
            "lease-database": {"type": "memfile", "persist": True, "name": lease_file,
                               "lfc-interval": 0},
            "valid-lifetime": 4000,
            "renew-timer": 1000,
            "rebind-timer": 2000,
            "decline-probation-period": 3600,
            "subnet4": [
                _subnet(1, 1),
                _subnet(2, 2),
                _subnet(3, 3, relay={"ip-addresses": [RELAY["relay-ip"]]}),
                _subnet(4, 4, authoritative=True),
                _subnet(5, 5, **{"match-client-id": False}),
                _subnet(6, 6, pools=[{"pool": "10.77.6.100 - 10.77.6.101"}]),
                _subnet(7, 7, **{"min-valid-lifetime": 2000, "max-valid-lifetime": 6000}),
                _subnet(8, 8, relay={"ip-addresses": [RELAY["loopback"]]}),
            ],
        }
    }


class DiffMixin:
    """
    setUp builds both sides and starts both servers; C{self.pair} drives
    them. Mixed into a trial C{TestCase}. C{mutate_config} may change the
    C{Dhcp4} map before the servers start.
    """

    skip = SKIP
    timeout = 60

    def mutate_config(self, dhcp4: dict) -> None:
        """Hook for subclasses: change the configuration in place."""

    def setUp(self):
        """Two namespace pairs, two servers, links, the pair."""
        from pathlib import Path

        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        self.lab = RLab(self)
        sockdir = short_socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        sides = []
        servers = []
        for role, cls in (("k", KeaServer), ("t", TwistdServer)):
            srv_ns, cli_ns = direct_pair_link(self.lab, role)
            sock = f"{sockdir}/{role}.sock"
            conf = diff_config(str(self.workdir / f"leases-{role}.csv"), sock)
            self.mutate_config(conf["Dhcp4"])
            server = cls(self, srv_ns, self.workdir, copy.deepcopy(conf), name=cls.label.split()[0]
                         .replace("-", "_"))
            servers.append((server, srv_ns, cli_ns, sock))
        # Ours boots slower: start it in a thread while Kea starts here.
        errors = []

        def start(server):
            try:
                server.start()
            except BaseException as e:  # reported below
                errors.append(e)

        booting = threading.Thread(target=start, args=(servers[1][0],))
        booting.start()
        start(servers[0][0])
        booting.join(30)
        if errors:
            raise errors[0]
        for (server, srv_ns, cli_ns, sock), label in zip(servers, ("kea", "ours"), strict=True):
            wait_until(lambda s=sock: os.path.exists(s), 10, f"{label} control socket")
            raw = RawLink(cli_ns, "c0")
            udp = UDPLink(srv_ns)
            self.addCleanup(raw.close)
            self.addCleanup(udp.close)
            sides.append(Side(label, server, {"raw": raw, "udp": udp}, sock, cli_ns))
        self.pair = Pair(*sides)
        self.addCleanup(self._keep_transcripts)

    def _keep_transcripts(self):
        for side in self.pair.sides:
            write_json(self.workdir / f"transcript-{side.label}.json", side.transcript)

    def assert_same(self, what: str = "transcript") -> None:
        """Ours said exactly what Kea said, step by step (first difference shown)."""
        kea, ours = self.pair.kea.transcript, self.pair.ours.transcript
        for (label, k), (_, o) in zip(kea, ours, strict=False):
            if k != o:
                self.fail(f"{what}: step {label!r} differs\n kea:  {json.dumps(k)}\n"
                          f" ours: {json.dumps(o)}\n" + self.pair.ours.server.log_tail(15))
        self.assertEqual(len(kea), len(ours))

    def assert_same_leases(self) -> dict:
        """Both lease files hold the same current leases (expire aside); Kea's."""
        kea, ours = self.pair.leases()
        self.assertEqual(kea, ours, "lease files differ")
        return kea

    def assert_same_stats(self, ignore=()) -> dict:
        """Both servers report the same statistics (they saw the same traffic); Kea's."""
        kea, ours = self.pair.kea.stats(), self.pair.ours.stats()
        for name in ignore:
            kea.pop(name, None)
            ours.pop(name, None)
        diff = {k: (kea.get(k), ours.get(k)) for k in sorted(set(kea) | set(ours))
                if kea.get(k) != ours.get(k)}
        self.assertEqual(diff, {}, "statistics differ (name: (kea, ours))")
        return kea

    def finish(self, stats=True) -> dict | None:
        """
        The end of every scenario: same transcript, same leases, same
        statistics; Kea's statistics.
        """
        self.assert_both_alive()
        self.assert_same()
        self.assert_same_leases()
        return self.assert_same_stats() if stats else None

    def one(self, replies: list, mtype: str | None, what: str = "") -> dict | None:
        """
        Kea (the oracle) gave exactly one reply of C{mtype} (C{None}:
        silence); that reply. Proves the scenario means what it says.
        """
        if mtype is None:
            self.assertEqual(replies, [], f"{what}: kea was expected to stay silent")
            return None
        self.assertEqual([r.get("type") for r in replies], [mtype],
                         f"{what}: kea's answer was expected to be {mtype}: {replies}")
        return replies[0]

    def own_address(self, address: str) -> None:
        """Both client links answer ARP for C{address} (a client that is bound)."""
        for side in self.pair.sides:
            side.client_ns.ip("addr", "add", f"{address}/32", "dev", "c0")

    def dora(self, ident: Identity, label: str, relay: str | None = None, options=(),
             flags: int = 0) -> dict:
        """
        DISCOVER, then REQUEST (SELECTING) of what Kea offered, to both
        servers; Kea must OFFER and ACK. Returns Kea's ACK.
        """
        giaddr = relay or "0.0.0.0"
        frame = RELAY_FRAME if relay else {"src_mac": ident.mac}
        k, _ = self.pair.step(f"{label}: DISCOVER",
                              ident.query(DISCOVER, options, giaddr=giaddr, flags=flags), frame)
        offer = self.one(k, "OFFER", label)
        request = [(50, ip4(offer["yiaddr"])), (54, bytes.fromhex(option(offer, 54)))]
        k, _ = self.pair.step(f"{label}: REQUEST",
                              ident.query(REQUEST, request + list(options), giaddr=giaddr,
                                          flags=flags), frame)
        return self.one(k, "ACK", label)

    def assert_both_alive(self) -> None:
        """Neither server died."""
        for side in self.pair.sides:
            self.assertTrue(side.server.alive(), f"{side.label} died\n" + side.server.log_tail())

