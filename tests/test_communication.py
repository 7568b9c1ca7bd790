"""
Tests for L{kea_ha_tw.ha.communication}: the heartbeat life cycle on a
Clock, Kea's checks of a heartbeat answer, clock skew, the unacked-clients
analysis and the status-get report.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.errors import PeerCommandError, PeerCommunicationError
from kea_ha_tw.ha.communication import (
    PartnerCommunication, effective_secs, format_http_date, heartbeat_answer, parse_http_date,
)
from kea_ha_tw.ha.states import HAState
from tests.ha_helpers import FakePeerClient, ha_config, query

# 2026-11-25 08:01:30 UTC, a Wednesday.
T0 = 1795593690
T0_TEXT = "Wed, 25 Nov 2026 08:01:30 GMT"


def answer_at(seconds: float, state: str = "load-balancing", **extra) -> dict:
    """A partner heartbeat answer whose clock reads C{seconds}."""
    args = {"date-time": format_http_date(seconds), "scopes": ["server2"], "state": state,
            "unsent-update-count": 0}
    args.update(extra)
    return args


def msg_ids(observer) -> list[str]:
    """The msg_id of every captured event that has one."""
    return [e["msg_id"] for e in observer if "msg_id" in e]


class DateTests(SynchronousTestCase):
    """RFC 1123 dates as Kea writes and reads them."""

    def test_format(self):
        """Our date-time is RFC 1123 in GMT, whole seconds."""
        self.assertEqual(format_http_date(T0 + 0.9), T0_TEXT)

    def test_parse(self):
        """A GMT RFC 1123 date parses back to POSIX seconds."""
        self.assertEqual(parse_http_date(T0_TEXT), T0)
        self.assertEqual(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0)

    def test_parse_rejects(self):
        """Other zones, other formats and non-strings are refused."""
        for bad in ("Wed, 25 Nov 2026 08:01:30 +0000", "2026-11-25T08:01:30Z",
                    "Wed, 25 Nov 2026 25:01:30 GMT", "", None, 5):
            self.assertRaises(ValueError, parse_http_date, bad)

    def test_heartbeat_answer(self):
        """Our ha-heartbeat answer: Kea's text, sorted scopes, state label."""
        got = heartbeat_answer(T0, HAState.PARTNER_DOWN, {"server2", "server1"}, 7)
        self.assertEqual(got, {"result": 0, "text": "HA peer status returned.",
                               "arguments": {"date-time": T0_TEXT,
                                             "scopes": ["server1", "server2"],
                                             "state": "partner-down",
                                             "unsent-update-count": 7}})

    def test_effective_secs(self):
        """Kea's Windows fix: a big secs with a zero low byte is byte-swapped."""
        self.assertEqual(effective_secs(0x0600), 6)
        self.assertEqual(effective_secs(0x0601), 0x0601)
        self.assertEqual(effective_secs(255), 255)
        self.assertEqual(effective_secs(0x0100), 1)


class CommunicationTestCase(SynchronousTestCase):
    """A PartnerCommunication on a Clock with a scripted partner."""

    def setUp(self):
        """Clock at T0, LB primary with a 3 s heartbeat delay."""
        self.clock = Clock()
        self.clock.advance(T0)
        self.client = FakePeerClient("server2")
        self.completed: list[tuple[bool, bool]] = []
        self.build()

    def build(self, **overrides):
        """(Re)build the object under test."""
        overrides.setdefault("heartbeat_delay_ms", 3000)
        overrides.setdefault("max_response_delay_ms", 10000)
        self.ha = ha_config("load-balancing", **overrides)
        self.comm = PartnerCommunication(self.ha, self.clock, self.client,
                                         lambda ok, synced: self.completed.append((ok, synced)))
        self.comm.start()

    def heartbeats(self) -> int:
        """How many heartbeats were sent."""
        return self.client.commands().count("ha-heartbeat")


class HeartbeatLifeCycleTests(CommunicationTestCase):
    """One-shot heartbeats re-armed after each answer."""

    def test_first_heartbeat_after_delay(self):
        """Enabling arms the timer; the heartbeat leaves heartbeat-delay later."""
        self.client.answers["ha-heartbeat"] = answer_at(T0)
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(2.999)
        self.assertEqual(self.heartbeats(), 0)
        self.clock.advance(0.001)
        self.assertEqual(self.client.sent, [("ha-heartbeat", None, 10.0)])
        self.assertEqual(self.completed, [(True, False)])

    def test_rearmed_after_the_answer(self):
        """The next heartbeat leaves heartbeat-delay after the answer, not the request."""
        self.client.answers["ha-heartbeat"] = "pending"
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.assertEqual(self.heartbeats(), 1)
        self.clock.advance(7)
        self.assertEqual(self.heartbeats(), 1)
        self.client.pending.pop().callback(answer_at(self.clock.seconds()))
        self.clock.advance(2.9)
        self.assertEqual(self.heartbeats(), 1)
        self.clock.advance(0.1)
        self.assertEqual(self.heartbeats(), 2)

    def test_rearmed_after_failure(self):
        """A failed heartbeat marks the partner unavailable and re-arms too."""
        self.client.answers["ha-heartbeat"] = PeerCommunicationError("server2", "refused")
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.assertIs(self.comm.partner_state, HAState.UNAVAILABLE)
        self.assertEqual(self.completed, [(False, False)])
        self.clock.advance(3)
        self.assertEqual(self.heartbeats(), 2)

    def test_zero_delay_means_no_heartbeats(self):
        """heartbeat-delay 0: nothing is ever sent."""
        self.build(heartbeat_delay_ms=0)
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(1000)
        self.assertEqual(self.heartbeats(), 0)

    def test_disable_cancels_and_reenable_does_not_double(self):
        """Disabling cancels the timer; re-enabling while in flight arms nothing extra."""
        self.client.answers["ha-heartbeat"] = "pending"
        self.comm.set_heartbeat_enabled(True)
        self.comm.set_heartbeat_enabled(False)
        self.clock.advance(10)
        self.assertEqual(self.heartbeats(), 0)
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.assertEqual(self.heartbeats(), 1)
        self.comm.set_heartbeat_enabled(False)
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(30)
        self.assertEqual(self.heartbeats(), 1)
        self.client.pending.pop().callback(answer_at(self.clock.seconds()))
        self.clock.advance(3)
        self.assertEqual(self.heartbeats(), 2)

    def test_answer_after_disable_does_not_rearm(self):
        """An answer arriving after the heartbeat was stopped arms nothing."""
        self.client.answers["ha-heartbeat"] = "pending"
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.comm.set_heartbeat_enabled(False)
        self.client.pending.pop().callback(answer_at(self.clock.seconds()))
        self.clock.advance(100)
        self.assertEqual(self.heartbeats(), 1)
        self.assertFalse(self.clock.getDelayedCalls())

    def test_stop_ignores_answer(self):
        """After stop() an answer (or the cancellation) changes nothing."""
        self.client.answers["ha-heartbeat"] = "pending"
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        pending = self.client.pending.pop()
        self.comm.stop()
        self.assertEqual(self.completed, [])
        self.assertIsNone(self.comm.partner_state)
        self.assertFalse(self.clock.getDelayedCalls())
        self.assertTrue(pending.called)

    def test_no_client_no_heartbeat(self):
        """Without a partner client (backups, passive-backup) nothing is armed."""
        comm = PartnerCommunication(self.ha, self.clock, None, lambda *a: None)
        comm.set_heartbeat_enabled(True)
        self.assertFalse(comm.heartbeat_running)
        self.assertFalse(self.clock.getDelayedCalls())

    def test_sync_complete_notified_consumed(self):
        """The notify flag is taken by the next heartbeat and reported if it fails."""
        self.client.answers["ha-heartbeat"] = PeerCommunicationError("server2", "refused")
        self.comm.sync_complete_notified = True
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.clock.advance(3)
        self.assertEqual(self.completed, [(False, True), (False, False)])
        self.assertFalse(self.comm.sync_complete_notified)


class HeartbeatAnswerTests(CommunicationTestCase):
    """Kea's checks on the partner's heartbeat answer."""

    def exchange(self, reply) -> bool:
        """Send one heartbeat answered with C{reply}; return its success."""
        self.client.answers["ha-heartbeat"] = reply
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.comm.set_heartbeat_enabled(False)
        return self.completed[-1][0]

    def test_good_answer(self):
        """State, scopes, skew and unsent count are taken; last contact refreshed."""
        self.clock.advance(8)
        self.assertTrue(self.exchange(answer_at(T0 + 11 + 40, scopes=["server2", ""],
                                                **{"unsent-update-count": 5})))
        self.assertIs(self.comm.partner_state, HAState.LOAD_BALANCING)
        self.assertEqual(self.comm.partner_scopes, {"server2"})
        self.assertEqual(self.comm.clock_skew_s, 40)
        self.assertEqual(self.comm.duration_ms(), 0)
        self.assertTrue(self.comm.partner_has_new_unsent_updates())

    def test_bad_answers(self):
        """Each answer Kea refuses fails the heartbeat and makes the partner unavailable."""
        bads = [
            None, [], "x",
            answer_at(T0, state="unavailable"), answer_at(T0, state="hub"),
            {"date-time": T0_TEXT}, {"state": "ready"},
            answer_at(T0, **{"date-time": "Wed, 25 Nov 2026 08:01:30 CET"}),
            answer_at(T0, **{"date-time": 5}),
            answer_at(T0, **{"unsent-update-count": "1"}),
            answer_at(T0, **{"unsent-update-count": True}),
        ]
        for bad in bads:
            self.build()
            self.assertFalse(self.exchange(bad), bad)
            self.assertIs(self.comm.partner_state, HAState.UNAVAILABLE, bad)

    def test_command_error(self):
        """A Kea error answer fails the heartbeat."""
        self.assertFalse(self.exchange(PeerCommandError("server2", 1, "boom")))

    def test_optional_fields(self):
        """scopes and unsent-update-count may be missing; bad scopes are ignored."""
        self.assertTrue(self.exchange({"date-time": T0_TEXT, "state": "ready"}))
        self.assertEqual(self.comm.partner_scopes, frozenset())
        self.assertTrue(self.exchange(answer_at(T0, scopes="server2")))
        self.assertTrue(self.exchange(answer_at(T0, scopes=["server2", 3])))
        self.assertEqual(self.comm.partner_scopes, frozenset())
        self.assertIs(self.comm.partner_state, HAState.LOAD_BALANCING)

    def test_unsent_update_history(self):
        """New unsent updates: the latest value is non-zero and differs from the one before."""
        for count, expected in ((0, False), (3, True), (3, False), (4, True), (0, False)):
            self.exchange(answer_at(T0, **{"unsent-update-count": count}))
            self.assertEqual(self.comm.partner_has_new_unsent_updates(), expected, count)

    def test_logs(self):
        """Failures are logged with Kea's message ids."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.exchange(PeerCommunicationError("server2", "refused"))
        self.exchange(answer_at(T0, state="hub"))
        self.clock.advance(20)
        self.exchange(PeerCommunicationError("server2", "refused"))
        self.assertEqual(msg_ids(observer),
                         ["HA_HEARTBEAT_COMMUNICATIONS_FAILED", "HA_HEARTBEAT_FAILED",
                          "HA_HEARTBEAT_COMMUNICATIONS_FAILED", "HA_COMMUNICATION_INTERRUPTED"])


class InterruptionTests(CommunicationTestCase):
    """Communication interrupted, unacked clients and the report."""

    def test_interrupted_after_max_response_delay(self):
        """Strictly more than max-response-delay since start (or the last success)."""
        self.clock.advance(10)
        self.assertFalse(self.comm.is_communication_interrupted())
        self.clock.advance(0.001)
        self.assertTrue(self.comm.is_communication_interrupted())
        self.comm.poke()
        self.assertFalse(self.comm.is_communication_interrupted())

    def test_unacked_analysis(self):
        """secs*1000 > max-ack-delay, per (chaddr, client-id), counted once."""
        self.build(max_ack_delay_ms=5000, max_unacked_clients=2)
        mac1, mac2, mac3 = b"\x01" * 6, b"\x02" * 6, b"\x03" * 6
        self.comm.analyze_query(query(mac=mac1, secs=5))
        self.assertEqual((self.comm.connecting_clients, self.comm.unacked_clients), (1, 0))
        self.comm.analyze_query(query(mac=mac1, secs=6))
        self.comm.analyze_query(query(mac=mac1, secs=9))
        self.assertEqual((self.comm.connecting_clients, self.comm.unacked_clients), (1, 1))
        self.comm.analyze_query(query(mac=mac1, client_id=b"\x01abc", secs=6))
        self.comm.analyze_query(query(mac=mac2, secs=0x0600))
        self.assertEqual(self.comm.unacked_clients, 3)
        self.assertTrue(self.comm.failure_detected())
        self.comm.analyze_query(query(mac=mac3, secs=0x0500))
        self.assertEqual((self.comm.connecting_clients, self.comm.unacked_clients), (4, 3))
        self.assertEqual(self.comm.analyzed_packets, 6)

    def test_threshold(self):
        """failureDetected: more than max-unacked-clients, or max 0."""
        self.build(max_unacked_clients=1)
        self.comm.analyze_query(query(mac=b"\x01" * 6, secs=11))
        self.assertFalse(self.comm.failure_detected())
        self.comm.analyze_query(query(mac=b"\x02" * 6, secs=11))
        self.assertTrue(self.comm.failure_detected())
        self.build(max_unacked_clients=0)
        self.assertTrue(self.comm.failure_detected())

    def test_success_clears_tracking(self):
        """A successful heartbeat forgets every tracked client."""
        self.comm.analyze_query(query(secs=30))
        self.client.answers["ha-heartbeat"] = answer_at(T0 + 3)
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(3)
        self.assertEqual((self.comm.connecting_clients, self.comm.unacked_clients,
                          self.comm.analyzed_packets), (0, 0, 0))

    def test_report(self):
        """The remote part of status-get, as measured on Kea during an interruption."""
        self.assertEqual(self.comm.report(), {
            "age": 0, "analyzed-packets": 0, "communication-interrupted": False,
            "connecting-clients": 0, "in-touch": False, "last-scopes": [], "last-state": "",
            "unacked-clients": 0, "unacked-clients-left": 0})
        self.build(max_unacked_clients=2)
        self.client.answers["ha-heartbeat"] = PeerCommunicationError("server2", "refused")
        self.comm.set_heartbeat_enabled(True)
        self.clock.advance(12)
        for i, secs in enumerate((30, 30, 0)):
            self.comm.analyze_query(query(mac=bytes([i]) * 6, secs=secs))
        self.assertEqual(self.comm.report(), {
            "age": 12, "analyzed-packets": 3, "communication-interrupted": True,
            "connecting-clients": 3, "in-touch": True, "last-scopes": [],
            "last-state": "unavailable", "unacked-clients": 2, "unacked-clients-left": 1})


class ClockSkewTests(CommunicationTestCase):
    """Warn above 30 s (at most once a minute), terminate above 60 s."""

    def test_skew(self):
        """The warning is gated; the termination is an error each time it is assessed."""
        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.comm.clock_skew_s = 30
        self.assertFalse(self.comm.assess_clock_skew())
        self.comm.clock_skew_s = -45
        self.assertFalse(self.comm.assess_clock_skew())
        self.clock.advance(60)
        self.assertFalse(self.comm.assess_clock_skew())
        self.clock.advance(1)
        self.assertFalse(self.comm.assess_clock_skew())
        self.assertEqual(msg_ids(observer), ["HA_HIGH_CLOCK_SKEW", "HA_HIGH_CLOCK_SKEW"])
        self.comm.clock_skew_s = 61
        self.assertTrue(self.comm.assess_clock_skew())
        self.assertEqual(msg_ids(observer)[-1], "HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION")
        self.assertEqual(observer[-1]["skew"], 61)
