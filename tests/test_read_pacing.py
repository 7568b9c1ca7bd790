"""
Tests for L{kea_ha_tw.dhcp.read_pacing}: the pacer on a fake port and a
Clock, and L{DHCPServerProtocol} pacing its socket while its server answers
no query (service disabled, HA hooks out of every scope) and not otherwise;
L{ShortReadTurns}, and the protocol reading one datagram per turn while
the hooks say lease updates are queued, through Twisted's own
C{udp.Port.doRead} over a fake socket.
"""

from __future__ import annotations

import errno

from twisted.internet import udp
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.dhcp.codec import encode
from kea_ha_tw.dhcp.hooks import NoHA
from kea_ha_tw.dhcp.protocol import DHCPServerProtocol
from kea_ha_tw.dhcp.read_pacing import (
    IDLE_READ_INTERVAL_S, IDLE_TURN_BYTES, SHORT_TURN_BYTES, IdleReadPacer, ShortReadTurns,
)
from kea_ha_tw.dhcp.server import DHCPServer
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics
from tests.builders import ETH0, DictLeaseStore, clock, config, discover, subnet
from tests.fakes import FakeUDPPort
from tests.test_server import RecordingHooks

BUSY_TURN = 16 * 1024


class PacerTests(SynchronousTestCase):
    """L{IdleReadPacer} on a fake port."""

    def setUp(self):
        self.clock = clock()
        self.port = FakeUDPPort(None)
        self.port.maxThroughput = BUSY_TURN
        self.pacer = IdleReadPacer(self.clock)
        self.pacer.attach(self.port)

    def test_pause_and_resume(self):
        """A pause stops reading, widens the turn, and resumes one interval later."""
        self.pacer.pause()
        self.assertTrue(self.pacer.paused)
        self.assertFalse(self.port.reading)
        self.assertEqual(self.port.maxThroughput, IDLE_TURN_BYTES)
        self.clock.advance(IDLE_READ_INTERVAL_S * 0.9)
        self.assertFalse(self.port.reading)
        self.clock.advance(IDLE_READ_INTERVAL_S * 0.1)
        self.assertTrue(self.port.reading)
        self.assertFalse(self.pacer.paused)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)

    def test_pause_while_paused(self):
        """A second pause in the same turn schedules nothing more."""
        self.pacer.pause()
        self.pacer.pause()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_interval_zero(self):
        """An interval of 0 never pauses."""
        pacer = IdleReadPacer(self.clock, 0)
        pacer.attach(self.port)
        pacer.pause()
        self.assertFalse(pacer.paused)
        self.assertTrue(self.port.reading)

    def test_stop_cancels(self):
        """Stopping while paused cancels the resume; later pauses do nothing."""
        self.pacer.pause()
        self.pacer.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.port.reading)
        self.pacer.pause()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unattached(self):
        """Before a transport is attached a pause does nothing."""
        pacer = IdleReadPacer(self.clock)
        pacer.pause()
        self.assertFalse(pacer.paused)


class ProtocolPacingTests(SynchronousTestCase):
    """L{DHCPServerProtocol} paces its port only while its server answers none."""

    def build(self, hooks):
        """A protocol over a real DHCPServer with C{hooks}, on a FakeUDPPort."""
        self.clock = clock()
        self.network_state = NetworkState(self.clock)
        self.stats = Statistics(self.clock)
        self.server = DHCPServer(config(subnet(1, "192.0.2.0/24")), DictLeaseStore(), hooks,
                                 self.network_state, self.stats, self.clock)
        self.proto = DHCPServerProtocol(self.server, ETH0, self.clock)
        self.port = FakeUDPPort(self.proto)
        self.port.maxThroughput = BUSY_TURN
        self.proto.makeConnection(self.port)

    def feed(self, n=1):
        """Deliver C{n} DISCOVERs in one read turn."""
        for i in range(n):
            self.proto.datagramReceived(encode(discover(bytes([2, 0, 0, 0, 0, i]))),
                                        ("0.0.0.0", 68))

    def test_serving_server_reads_every_datagram(self):
        """A server that answers (no HA) never stops reading."""
        self.build(NoHA())
        self.feed(3)
        self.assertTrue(self.port.reading)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.port.written), 3)

    def test_standby_reads_in_paced_turns(self):
        """Out of every scope: the turn goes on, counting; then one interval unread."""
        self.build(RecordingHooks(in_scope=False))
        self.feed(5)
        self.assertFalse(self.port.reading)
        self.assertEqual(self.port.maxThroughput, IDLE_TURN_BYTES)
        self.assertEqual(self.stats.get("pkt4-received"), 5)
        self.assertEqual(self.port.written, [])
        self.clock.advance(IDLE_READ_INTERVAL_S)
        self.assertTrue(self.port.reading)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)

    def test_back_in_scope(self):
        """Once the hooks answer again, the next turn reads at the normal pace."""
        hooks = RecordingHooks(in_scope=False)
        self.build(hooks)
        self.feed()
        self.clock.advance(IDLE_READ_INTERVAL_S)
        hooks.in_scope = True
        self.feed(2)
        self.assertTrue(self.port.reading)
        self.assertEqual(len(self.port.written), 2)

    def test_disabled_service(self):
        """A disabled DHCP service (waiting, syncing, dhcp-disable) is read in paced turns."""
        self.build(NoHA())
        self.network_state.disable("ha-local")
        self.feed()
        self.assertFalse(self.port.reading)
        self.network_state.enable("ha-local")
        self.clock.advance(IDLE_READ_INTERVAL_S)
        self.feed()
        self.assertTrue(self.port.reading)
        self.assertEqual(len(self.port.written), 1)

    def test_stop_listening_while_paused(self):
        """A port closed during a pause is not restarted."""
        self.build(RecordingHooks(in_scope=False))
        self.feed()
        self.port.stopListening()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.port.reading)


class ShortReadTurnsTests(SynchronousTestCase):
    """L{ShortReadTurns} on a fake port."""

    def setUp(self):
        self.port = FakeUDPPort(None)
        self.port.maxThroughput = BUSY_TURN
        self.turns = ShortReadTurns()
        self.turns.attach(self.port)

    def test_short_then_normal(self):
        """Queued: one datagram per turn; no longer queued: the port's own turn again."""
        self.turns.update(True)
        self.assertTrue(self.turns.short)
        self.assertEqual(self.port.maxThroughput, SHORT_TURN_BYTES)
        self.turns.update(False)
        self.assertFalse(self.turns.short)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)

    def test_repeated_updates_keep_the_normal_turn(self):
        """Saying 'queued' twice does not take the short turn for the normal one."""
        self.turns.update(True)
        self.turns.update(True)
        self.turns.update(False)
        self.turns.update(False)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)

    def test_unattached_or_no_turn(self):
        """Without a transport, or one with no C{maxThroughput}, nothing happens."""
        turns = ShortReadTurns()
        turns.update(True)
        self.assertFalse(turns.short)
        turns.attach(object())
        turns.update(True)
        self.assertFalse(turns.short)


class _QueueSocket:
    """A socket whose C{recvfrom} hands out queued datagrams, then EAGAIN."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)

    def recvfrom(self, size):
        """The next datagram, or EAGAIN."""
        if not self.datagrams:
            raise BlockingIOError(errno.EAGAIN, "empty")
        return self.datagrams.pop(0), ("192.0.2.9", 67)

    def sendto(self, data, addr):
        """Replies are not looked at here."""
        return len(data)


class QueuedUpdatesTurnTests(SynchronousTestCase):
    """
    L{DHCPServerProtocol} under Twisted's C{udp.Port.doRead}: a whole turn
    of queued queries normally, one query per turn while updates are queued.
    """

    def setUp(self):
        self.clock = clock()
        self.hooks = RecordingHooks()
        self.stats = Statistics(self.clock)
        server = DHCPServer(config(subnet(1, "192.0.2.0/24")), DictLeaseStore(), self.hooks,
                            NetworkState(self.clock), self.stats, self.clock)
        self.proto = DHCPServerProtocol(server, ETH0, self.clock)
        self.port = udp.Port(67, self.proto, reactor=self.clock)
        self.port.maxThroughput = BUSY_TURN
        self.port.socket = _QueueSocket(
            encode(discover(bytes([2, 0, 0, 0, 0, i]))) for i in range(6))
        self.port.setBroadcastAllowed = lambda enabled: None
        self.port.stopReading = self.port.startReading = lambda: None
        self.proto.makeConnection(self.port)

    def test_whole_turn_without_queued_updates(self):
        """Nothing queued: one doRead reads every waiting query."""
        self.port.doRead()
        self.assertEqual(self.stats.get("pkt4-received"), 6)

    def test_one_query_per_turn_while_updates_are_queued(self):
        """
        Queued updates: each doRead reads one query (the reactor reads the
        peers' answers in between); when the queue empties, the next turn
        is whole again.
        """
        self.hooks.queued = True
        self.port.doRead()
        self.port.doRead()
        # The first datagram of the first turn saw the queue and ended it.
        self.assertEqual(self.stats.get("pkt4-received"), 2)
        self.assertEqual(self.port.maxThroughput, SHORT_TURN_BYTES)
        self.hooks.queued = False
        self.port.doRead()
        self.assertEqual(self.stats.get("pkt4-received"), 6)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)

    def test_pause_keeps_the_normal_turn(self):
        """
        A server that stops answering while its turns are short is paced
        with the idle turn, and resumes with the normal one, not one datagram.
        """
        self.hooks.queued = True
        self.port.doRead()
        self.hooks.in_scope = False
        self.port.doRead()
        self.assertEqual(self.port.maxThroughput, IDLE_TURN_BYTES)
        self.hooks.in_scope = True
        self.hooks.queued = False
        self.clock.advance(IDLE_READ_INTERVAL_S)
        self.assertEqual(self.port.maxThroughput, BUSY_TURN)
