"""
Tests for L{kea_ha_tw.ha.batching}: lease updates that would queue behind
requests already out leave as one C{lease4-batch-update}; a peer that
refuses it (Kea) gets one request per change; two complete servers of
ours batch end to end and keep identical lease lists.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from treq.testing import StubTreq

from kea_ha_tw.commands.envelope import kea_json_loads
from kea_ha_tw.config.model import PeerConfig
from kea_ha_tw.dhcp.packet import MessageType
from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.batching import UpdateBatcher, batch_body
from kea_ha_tw.ha.client import PeerClient
from tests.builders import discover, request
from tests.ha_cluster import mac
from tests.kea_peer_stub import FakeKeaPeer, ok
from tests.test_two_peers import addresses, commands_to, hs_cluster, pb_cluster, start


class FakeClient:
    """A PeerClient stand-in whose requests stay open until answered."""

    name = "server2"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Deferred, object]] = []

    def send_encoded(self, body: bytes, command: str, timeout_s: float = 10.0) -> Deferred:
        """Record the request; the test fires it."""
        d: Deferred = Deferred()
        self.sent.append((command, d, kea_json_loads(body)))
        return d


def update(n: int) -> tuple[str, dict]:
    """A lease4-update for 192.0.2.n."""
    return "lease4-update", {"ip-address": f"192.0.2.{n}", "hw-address": f"aa:bb:cc:dd:ee:{n:02x}",
                             "subnet-id": 1, "force-create": True}


class BatcherTests(SynchronousTestCase):
    """The batching policy over a fake client."""

    def setUp(self):
        self.clock = Clock()
        self.client = FakeClient()
        self.batcher = UpdateBatcher(self.client, self.clock, max_in_flight=2, max_batch=3)
        self.outcomes: list[object] = []

    def submit(self, n: int) -> Deferred:
        d = self.batcher.submit(*update(n))
        d.addBoth(self.outcomes.append)
        return d

    def test_idle_peer_gets_single_commands(self):
        """Below max_in_flight a change goes out at once, as Kea's single command."""
        self.submit(1)
        self.submit(2)
        self.assertEqual([c for c, _, _ in self.client.sent], ["lease4-update"] * 2)
        self.assertEqual(self.client.sent[0][2]["arguments"]["ip-address"], "192.0.2.1")
        self.assertEqual(self.batcher.waiting, 0)

    def test_waiting_changes_leave_as_one_batch(self):
        """Changes queued behind full slots go out together, each answered by its own item."""
        for n in range(1, 7):
            self.submit(n)
        self.assertEqual(len(self.client.sent), 2)
        self.assertEqual(self.batcher.waiting, 4)
        self.client.sent[0][1].callback({"result": 0, "text": "IPv4 lease added."})
        # One slot freed: a batch of max_batch=3 leaves; one change still waits.
        command, batch, body = self.client.sent[2]
        self.assertEqual(command, "lease4-batch-update")
        self.assertEqual([u["arguments"]["ip-address"] for u in body["arguments"]["updates"]],
                         ["192.0.2.3", "192.0.2.4", "192.0.2.5"])
        self.assertEqual(body["service"], ["dhcp4"])
        self.assertEqual(self.batcher.waiting, 1)
        batch.callback({"result": 0, "text": "3 lease changes processed.", "arguments": {
            "results": [{"result": 0, "text": "IPv4 lease added."},
                        {"result": 3, "text": "IPv4 lease not found."},
                        {"result": 1, "text": "bad lease"}]}})
        self.assertTrue(self.batcher.batching)
        self.assertEqual(self.outcomes[0]["result"], 0)  # change 1 (single)
        self.assertEqual(self.outcomes[1]["result"], 0)  # change 3
        self.assertEqual(self.outcomes[2]["result"], 3)  # change 4: result 3 is success
        self.assertIsInstance(self.outcomes[3], Failure)  # change 5
        self.assertEqual(self.outcomes[3].value.text, "bad lease")
        self.assertIsInstance(self.outcomes[3].value, PeerCommandError)
        # The last waiting change went out alone when the batch returned.
        self.assertEqual(self.client.sent[3][0], "lease4-update")
        self.assertEqual(self.batcher.waiting, 0)

    def test_peer_refusing_batches_gets_singles(self):
        """Result 2 (Kea): the batch's changes are resent one by one, later ones go direct."""
        for n in range(1, 6):
            self.submit(n)
        self.client.sent[0][1].callback({"result": 0})
        _, batch, _ = self.client.sent[2]
        batch.errback(Failure(PeerCommandError("server2", 2, "")))
        self.assertIs(self.batcher.batching, False)
        commands = [c for c, _, _ in self.client.sent[3:]]
        self.assertEqual(commands, ["lease4-update"] * 3)
        for _, d, _ in self.client.sent[3:]:
            d.callback({"result": 0, "text": "IPv4 lease added."})
        self.assertEqual([o["result"] for o in self.outcomes], [0, 0, 0, 0])
        # While the peer is known not to batch, nothing waits: even past max_in_flight.
        for n in range(10, 15):
            self.submit(n)
        self.assertEqual(self.batcher.waiting, 0)
        self.assertEqual([c for c, _, _ in self.client.sent[6:]], ["lease4-update"] * 5)

    def test_refusal_is_asked_again_later(self):
        """After reprobe_s the batcher tries a batch again (a peer replaced by ours)."""
        for n in range(1, 6):
            self.submit(n)
        self.client.sent[0][1].callback({"result": 0})
        self.client.sent[2][1].errback(Failure(PeerCommandError("server2", 2, "")))
        for _, d, _ in self.client.sent[1:2] + self.client.sent[3:]:
            d.callback({"result": 0})
        self.clock.advance(61)
        sent = len(self.client.sent)
        for n in range(20, 25):
            self.submit(n)
        self.assertIsNone(self.batcher.batching)
        self.assertEqual(len(self.client.sent) - sent, 2)
        self.assertEqual(self.batcher.waiting, 3)

    def test_transport_failure_fails_every_change(self):
        """A batch lost in transit fails each of its changes with the same error."""
        for n in range(1, 6):
            self.submit(n)
        self.client.sent[0][1].callback({"result": 0})
        error = PeerCommunicationError("server2", "Connection refused")
        self.client.sent[2][1].errback(Failure(error))
        failures = [o for o in self.outcomes if isinstance(o, Failure)]
        self.assertEqual(len(failures), 3)
        self.assertTrue(all(f.value is error for f in failures))
        self.assertIsNone(self.batcher.batching)

    def test_malformed_batch_answer_fails_changes(self):
        """An answer without one result per change fails them (nothing is guessed)."""
        for n in range(1, 6):
            self.submit(n)
        self.client.sent[0][1].callback({"result": 0})
        self.client.sent[2][1].callback({"result": 0, "arguments": {"results": []}})
        failures = [o for o in self.outcomes if isinstance(o, Failure)]
        self.assertEqual(len(failures), 3)


class BatchBodyTests(SynchronousTestCase):
    """The batch request body."""

    def test_non_ascii_strings_survive_kea_reader(self):
        """Strings go as raw UTF-8, which Kea's byte-string reader gives back unchanged."""
        body = batch_body([("lease4-update", {"hostname": "café.example", "odd": "a\udcffb"})])
        parsed = kea_json_loads(body)
        item = parsed["arguments"]["updates"][0]["arguments"]
        self.assertEqual(item, {"hostname": "café.example", "odd": "a\udcffb"})
        self.assertEqual(parsed["command"], "lease4-batch-update")


class HeldTreq:
    """StubTreq whose requests wait for L{flush}, so that they overlap."""

    def __init__(self, resource) -> None:
        self._stub = StubTreq(resource)
        self._held: list[tuple[Deferred, tuple, dict]] = []

    def request(self, *args, **kwargs) -> Deferred:
        """Hold the request."""
        d: Deferred = Deferred()
        self._held.append((d, args, kwargs))
        return d

    def flush(self) -> None:
        """Deliver held requests (and those they cause) until none is left."""
        while self._held:
            held, self._held = self._held, []
            for d, args, kwargs in held:
                self._stub.request(*args, **kwargs).chainDeferred(d)
            self._stub.flush()


class KeaPeerFallbackTests(SynchronousTestCase):
    """Against a Kea-like listener that does not know the command."""

    def test_result_2_then_singles(self):
        """Kea answers result 2: every change is still delivered, once, as lease4-update."""
        clock = Clock()
        peer = FakeKeaPeer()
        peer.default = lambda command, args: (
            ok("IPv4 lease added.") if command == "lease4-update"
            else ok(f"'{command}' command not supported.", result=2))
        stub = HeldTreq(peer)
        client = PeerClient(PeerConfig(name="server2", url="http://127.0.0.12:8000/",
                                       scheme="http", host="127.0.0.12", port=8000,
                                       role="standby"), stub, clock)
        batcher = UpdateBatcher(client, clock, max_in_flight=1)
        outcomes: list[object] = []
        for n in range(1, 5):
            batcher.submit(*update(n)).addBoth(outcomes.append)
        stub.flush()
        self.assertEqual([o["result"] for o in outcomes], [0, 0, 0, 0])
        self.assertIs(batcher.batching, False)
        updates = [r.arguments["ip-address"] for r in peer.received
                   if r.command == "lease4-update"]
        self.assertEqual(sorted(updates), [f"192.0.2.{n}" for n in range(1, 5)])
        self.assertEqual(peer.commands().count("lease4-batch-update"), 1)


def _request_many(node, count: int, first: int = 1) -> list[object]:
    """DISCOVER then REQUEST for C{count} clients without settling between REQUESTs."""
    offers = [node.handle(discover(mac(n), xid=n * 16)) for n in range(first, first + count)]
    node.cluster.hold_requests = True
    replies: list[object] = []
    for n, offer in zip(range(first, first + count), offers, strict=True):
        query = request(mac(n), xid=n * 16 + 1, requested=str(offer.yiaddr),
                        server_id=str(IPv4Address(offer.options[54])))
        node.server.dhcp.handle(query, node.iface, ("0.0.0.0", 68)).addBoth(replies.append)
    node.cluster.settle()
    node.cluster.hold_requests = False
    return replies


class TwoServersTests(SynchronousTestCase):
    """Complete servers of ours batch between themselves."""

    def test_hot_standby_burst(self):
        """A burst of REQUESTs: every ACK leaves, the standby has every lease, batches were used."""
        cluster = hs_cluster()
        start(cluster)
        cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        s1, s2 = cluster["server1"], cluster["server2"]
        replies = _request_many(s1, 12)
        self.assertEqual([r.message_type for r in replies], [MessageType.ACK] * 12)
        self.assertIn("lease4-batch-update", commands_to(cluster, "server2"))
        self.assertEqual(addresses(s1), addresses(s2))
        self.assertEqual(len(addresses(s2)), 12)
        self.assertEqual(
            sorted((str(x.address), x.hwaddr, x.expire) for x in s1.store.get_all()),
            sorted((str(x.address), x.hwaddr, x.expire) for x in s2.store.get_all()))

    def test_batching_off(self):
        """C{batch-updates: false}: one lease4-update per lease, as Kea."""
        cluster = hs_cluster(**{"batch-updates": False})
        start(cluster)
        cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        replies = _request_many(cluster["server1"], 12)
        self.assertEqual([r.message_type for r in replies], [MessageType.ACK] * 12)
        self.assertNotIn("lease4-batch-update", commands_to(cluster, "server2"))
        self.assertEqual(commands_to(cluster, "server2").count("lease4-update"), 12)

    def test_passive_backup_wait_ack(self):
        """Passive-backup with wait-backup-ack: both backups get every lease through batches."""
        cluster = pb_cluster(**{"wait-backup-ack": True})
        start(cluster)
        cluster.advance(2)
        replies = _request_many(cluster["server1"], 10)
        self.assertEqual([r.message_type for r in replies], [MessageType.ACK] * 10)
        for backup in ("server2", "server3"):
            self.assertIn("lease4-batch-update", commands_to(cluster, backup))
            self.assertEqual(addresses(cluster[backup]), addresses(cluster["server1"]))

    def test_batch_body_is_json(self):
        """The batch requests the standby received are plain JSON with one item per change."""
        cluster = hs_cluster()
        start(cluster)
        cluster.run_until({"server1": "hot-standby", "server2": "hot-standby"})
        _request_many(cluster["server1"], 8)
        items = [len(json.loads(body)["arguments"]["updates"])
                 for target, body in cluster.requests
                 if target == "server2" and json.loads(body)["command"] == "lease4-batch-update"]
        self.assertTrue(items)
        self.assertEqual(sum(items) + commands_to(cluster, "server2").count("lease4-update"), 8)
