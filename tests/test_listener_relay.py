"""
Tests for L{kea_ha_tw.ha.listener_relay}: the HA listener process answers
HA's C{lease4-update} at once and hands the changes to the server in
C{lease4-batch-update} requests, in arrival order, one request at a time;
every other command's answer is the server's.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.envelope import HTTPStatusError, kea_json_loads, parse_command
from kea_ha_tw.commands.resource import ControlChannelResource
from kea_ha_tw.ha.listener_child import RelayContext
from kea_ha_tw.ha.listener_relay import (
    FLUSH_DELAY,
    UPDATED,
    UpdateRelay,
    answer_of,
    batch_body,
    fast_path,
)
from kea_ha_tw.service import HA_RESTRICTED_COMMANDS
from tests.commands_support import CONFIG, JSON_HEADERS, NOW, URL, CommandHarness


def update_args(n: int, **extra: Any) -> dict:
    """HA's lease4-update arguments for 192.0.2.n in subnet 1."""
    arguments = {"ip-address": f"192.0.2.{n}", "hw-address": f"1a:1b:1c:1d:1e:{n:02x}",
                 "subnet-id": 1, "valid-lft": 3600, "expire": NOW + 3600,
                 "force-create": True}
    arguments.update(extra)
    return arguments


def update(n: int, **extra: Any) -> dict:
    """HA's whole lease4-update command for 192.0.2.n."""
    return {"command": "lease4-update", "service": ["dhcp4"], "arguments": update_args(n, **extra)}


class ManualUpstream:
    """The server side as a list of (body, Deferred) the test answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, Deferred]] = []

    def __call__(self, body: bytes) -> Deferred:
        d: Deferred = Deferred()
        self.requests.append((body, d))
        return d

    def command(self, index: int) -> dict:
        """The decoded request C{index}."""
        return kea_json_loads(self.requests[index][0])

    def answer(self, index: int, result: dict, status: int = 200) -> None:
        """Answer request C{index} with C{result} (as the HTTP listener would)."""
        self.requests[index][1].callback((status, json.dumps([result]).encode()))


class RelayHarness:
    """A relay over a resource driven through StubTreq, its upstream given."""

    def __init__(self, testcase: SynchronousTestCase, send: Any, **kwargs: Any) -> None:
        self.testcase = testcase
        self.clock = Clock()
        self.clock.advance(NOW)
        self.relay = UpdateRelay(send, RelayContext(CONFIG, self.clock), self.clock, **kwargs)
        self.stub = StubTreq(ControlChannelResource(
            self.relay, None, accept_commands=HA_RESTRICTED_COMMANDS))

    def post(self, element: Any) -> Deferred:
        """Send C{element}; a Deferred of (status, decoded body)."""
        body = json.dumps(element).encode()
        d = self.stub.request("POST", URL, data=body, headers=JSON_HEADERS)
        self.stub.flush()

        def content(response):
            return self.stub.content(response).addCallback(
                lambda raw: (response.code, kea_json_loads(raw)))

        return d.addCallback(content)

    def result(self, d: Deferred) -> tuple[int, Any]:
        """The answer C{d} now has (after the stub delivers it)."""
        self.stub.flush()
        return self.testcase.successResultOf(d)

    def answered(self, element: Any) -> tuple[int, Any]:
        """Send C{element}; the answer, which must be there at once."""
        return self.testcase.successResultOf(self.post(element))


class FastPathTests(SynchronousTestCase):
    """Which commands the relay may acknowledge itself."""

    def check(self, element: dict) -> bool:
        return fast_path(parse_command(element, json.dumps(element)),
                         RelayContext(CONFIG, Clock()))

    def test_ha_update(self):
        """HA's lease4-update (force-create true, a valid lease) is acknowledged."""
        self.assertTrue(self.check(update(10)))

    def test_not_force_create(self):
        """Without force-create the answer depends on the store: the server's."""
        self.assertFalse(self.check(update(10, **{"force-create": False})))
        element = update(10)
        del element["arguments"]["force-create"]
        self.assertFalse(self.check(element))

    def test_invalid_lease(self):
        """Arguments Kea's parser refuses go to the server, for Kea's error text."""
        self.assertFalse(self.check(update(10, **{"ip-address": "not an address"})))
        self.assertFalse(self.check(update(10, **{"subnet-id": 99})))

    def test_other_commands(self):
        """lease4-del, heartbeats and the rest are never acknowledged by the relay."""
        self.assertFalse(self.check({"command": "lease4-del",
                                     "arguments": {"ip-address": "192.0.2.10"}}))
        self.assertFalse(self.check({"command": "ha-heartbeat"}))
        self.assertFalse(self.check({"command": "lease4-update", "arguments": [1]}))


class BodyTests(SynchronousTestCase):
    """The batch body and the server's answer."""

    def test_batch_body_carries_texts(self):
        """The items are the commands' texts as sent (spacing included), in order."""
        texts = [json.dumps(update(1)).encode(),
                 b'\n { "command" :\t"lease4-update", "arguments": {} }\n']
        value = kea_json_loads(batch_body(texts))
        self.assertEqual(value["command"], "lease4-batch-update")
        self.assertEqual([item["command"] for item in value["arguments"]["updates"]],
                         ["lease4-update", "lease4-update"])
        self.assertEqual(value["arguments"]["updates"][0]["arguments"], update_args(1))

    def test_answer_of(self):
        """The one map of a 200 answer; anything else is an HTTP error."""
        self.assertEqual(answer_of(200, b'[ { "result": 0 } ]'), {"result": 0})
        self.assertEqual(self.assertRaises(HTTPStatusError, answer_of, 403, b"").status, 403)
        self.assertRaises(HTTPStatusError, answer_of, 200, b"not json")
        self.assertRaises(HTTPStatusError, answer_of, 200, b"[1, 2]")


class RelayTests(SynchronousTestCase):
    """The relay's queue, with a server the test answers by hand."""

    def setUp(self):
        self.up = ManualUpstream()
        self.h = RelayHarness(self, self.up)

    def test_update_answered_at_once_then_batched(self):
        """The update is answered before the server sees it; it leaves after the gather delay."""
        self.assertEqual(self.h.answered(update(10)), (200, [UPDATED]))
        self.assertEqual(self.up.requests, [])
        self.h.clock.advance(FLUSH_DELAY)
        self.assertEqual(len(self.up.requests), 1)
        sent = self.up.command(0)
        self.assertEqual(sent["command"], "lease4-batch-update")
        self.assertEqual(sent["arguments"]["updates"], [update(10)])
        self.assertEqual((self.h.relay.acknowledged, self.h.relay.batches), (1, 1))

    def test_updates_gather_in_order(self):
        """Updates within the delay leave together, in the order they came."""
        for n in (3, 1, 2):
            self.h.answered(update(n))
        self.h.clock.advance(FLUSH_DELAY)
        items = self.up.command(0)["arguments"]["updates"]
        self.assertEqual([i["arguments"]["ip-address"] for i in items],
                         ["192.0.2.3", "192.0.2.1", "192.0.2.2"])

    def test_one_request_at_a_time(self):
        """Updates while a batch is out form the next batch, sent when the answer comes."""
        self.h.answered(update(1))
        self.h.clock.advance(FLUSH_DELAY)
        self.h.answered(update(2))
        self.h.answered(update(3))
        self.h.clock.advance(FLUSH_DELAY * 10)
        self.assertEqual(len(self.up.requests), 1)
        self.up.answer(0, {"result": 0, "arguments": {"results": [{"result": 0}]}})
        self.assertEqual(len(self.up.requests), 2)
        self.assertEqual(len(self.up.command(1)["arguments"]["updates"]), 2)

    def test_full_batch_leaves_at_once(self):
        """A batch that reaches max_batch does not wait for the delay."""
        h = RelayHarness(self, self.up, max_batch=2)
        h.answered(update(1))
        self.assertEqual(self.up.requests, [])
        h.answered(update(2))
        self.assertEqual(len(self.up.requests), 1)
        self.assertEqual(len(self.up.command(0)["arguments"]["updates"]), 2)

    def test_proxied_command_after_pending_updates(self):
        """A heartbeat flushes the gathering batch first, then gets the server's answer."""
        self.h.answered(update(1))
        heartbeat = self.h.post({"command": "ha-heartbeat"})
        self.assertNoResult(heartbeat)
        self.assertEqual(self.up.command(0)["command"], "lease4-batch-update")
        self.assertEqual(len(self.up.requests), 1)
        self.up.answer(0, {"result": 0, "arguments": {"results": [{"result": 0}]}})
        self.assertEqual(self.up.command(1), {"command": "ha-heartbeat"})
        server_answer = {"result": 0, "text": "HA peer status returned.",
                         "arguments": {"state": "load-balancing"}}
        self.up.answer(1, server_answer)
        self.assertEqual(self.h.result(heartbeat), (200, [server_answer]))

    def test_update_the_relay_cannot_check_is_proxied(self):
        """An invalid update gets the server's own error answer, not an acknowledgement."""
        d = self.h.post(update(10, **{"subnet-id": 99}))
        self.assertNoResult(d)
        self.assertEqual(self.up.command(0)["arguments"]["subnet-id"], 99)
        error = {"result": 1, "text": "Invalid subnet-id: No IPv4 subnet with subnet-id=99 "
                                      "currently configured."}
        self.up.answer(0, error)
        self.assertEqual(self.h.result(d), (200, [error]))
        self.assertEqual(self.h.relay.acknowledged, 0)

    def test_proxied_http_error(self):
        """The server's HTTP error status is the relay's."""
        d = self.h.post({"command": "status-get"})
        self.up.answer(0, {}, status=500)
        self.assertEqual(self.h.result(d)[0], 500)

    def test_refused_item_counted(self):
        """An acknowledged update the server refuses is counted (and logged)."""
        self.h.answered(update(1))
        self.h.answered(update(2))
        self.h.clock.advance(FLUSH_DELAY)
        self.up.answer(0, {"result": 0, "arguments": {"results": [
            {"result": 0}, {"result": 1, "text": "no such subnet"}]}})
        self.assertEqual(self.h.relay.refused, 1)

    def test_refused_batch_counted(self):
        """A batch the server refuses as a whole counts every item."""
        self.h.answered(update(1))
        self.h.answered(update(2))
        self.h.clock.advance(FLUSH_DELAY)
        self.up.answer(0, {"result": 2, "text": "'lease4-batch-update' command not supported."})
        self.assertEqual(self.h.relay.refused, 2)

    def test_restricted_commands_filtered(self):
        """The HA listener's command filter applies before the relay (403)."""
        self.assertEqual(self.h.answered({"command": "config-get"})[0], 403)
        self.assertEqual(self.up.requests, [])

    def test_server_gone(self):
        """The server's connection failing fails what waits, and later commands get 503."""
        self.h.answered(update(1))
        waiting = self.h.post({"command": "ha-heartbeat"})
        self.up.requests[0][1].errback(Failure(ConnectionError("gone")))
        self.assertEqual(self.h.result(waiting)[0], 503)
        self.assertEqual(self.h.answered({"command": "ha-heartbeat"})[0], 503)
        self.assertEqual(self.h.answered(update(2))[0], 503)
        self.assertEqual(len(self.up.requests), 1)

    def test_fail_cancels_gather_timer(self):
        """fail() while a batch gathers leaves no timer behind."""
        self.h.answered(update(1))
        self.h.relay.fail(Failure(ConnectionError("gone")))
        self.assertEqual(self.h.clock.getDelayedCalls(), [])


class ThroughServerTests(SynchronousTestCase):
    """The relay in front of a real server's command resource."""

    def setUp(self):
        self.server = CommandHarness(self)

        def send(body: bytes) -> Deferred:
            response, content = self.server.post_raw(body)
            d: Deferred = Deferred()
            d.callback((response.code, content))
            return d

        self.h = RelayHarness(self, send)

    def test_updates_reach_the_store(self):
        """Acknowledged updates are in the server's store after the batch."""
        for n in (10, 11):
            self.assertEqual(self.h.answered(update(n)), (200, [UPDATED]))
        self.assertIsNone(self.server.store.get(IPv4Address("192.0.2.10")))
        self.h.clock.advance(FLUSH_DELAY)
        lease = self.server.store.get(IPv4Address("192.0.2.11"))
        self.assertEqual(lease.hwaddr, bytes.fromhex("1a1b1c1d1e0b"))
        self.assertEqual(self.h.relay.refused, 0)

    def test_delete_answered_by_the_server(self):
        """lease4-del of a missing lease gets the server's result 3."""
        self.assertEqual(self.h.answered({"command": "lease4-del",
                                          "arguments": {"ip-address": "192.0.2.77"}}),
                         (200, [{"result": 3, "text": "IPv4 lease not found."}]))

    def test_bad_update_gets_keas_error(self):
        """An update without an address gets the server's (Kea's) error text."""
        code, answers = self.h.answered({"command": "lease4-update",
                                         "arguments": {"force-create": True}})
        self.assertEqual(code, 200)
        self.assertEqual(answers[0]["result"], 1)
        self.assertIn("ip-address", answers[0]["text"])
