"""
Tests for L{kea_ha_tw.network_state}: Kea's NetworkState with one disable
flag per origin (C{ha-local} and C{ha-partner} share the HA flag), a
C{max-period} that re-enables on the injected clock, and cancellation.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.interfaces import INetworkState
from kea_ha_tw.network_state import (
    ORIGIN_HA_LOCAL,
    ORIGIN_HA_PARTNER,
    ORIGIN_USER,
    NetworkState,
)


class NetworkStateTestCase(SynchronousTestCase):
    """A NetworkState on a fresh Clock."""

    def setUp(self):
        """Build the state under test."""
        self.clock = Clock()
        self.state = NetworkState(self.clock)


class FlagTests(NetworkStateTestCase):
    """Disable and enable per origin."""

    def test_provides_interface(self):
        """NetworkState provides INetworkState."""
        self.assertTrue(verifyObject(INetworkState, self.state))

    def test_enabled_initially(self):
        """A new state serves DHCP and nothing disables it."""
        self.assertTrue(self.state.is_enabled())
        self.assertEqual(self.state.disabled_by(), frozenset())

    def test_origin_names(self):
        """The origin names are Kea's command-channel spellings."""
        self.assertEqual((ORIGIN_USER, ORIGIN_HA_LOCAL, ORIGIN_HA_PARTNER),
                         ("user", "ha-local", "ha-partner"))

    def test_disable_and_enable_user(self):
        """A user disable stops the service until the user enables it."""
        self.state.disable(ORIGIN_USER)
        self.assertFalse(self.state.is_enabled())
        self.assertEqual(self.state.disabled_by(), frozenset(["user"]))
        self.state.enable(ORIGIN_USER)
        self.assertTrue(self.state.is_enabled())

    def test_ha_origins_share_one_flag(self):
        """ha-partner's enable clears ha-local's disable and the other way round."""
        self.state.disable(ORIGIN_HA_LOCAL)
        self.assertEqual(self.state.disabled_by(), frozenset(["ha"]))
        self.state.enable(ORIGIN_HA_PARTNER)
        self.assertTrue(self.state.is_enabled())

        self.state.disable(ORIGIN_HA_PARTNER)
        self.assertEqual(self.state.disabled_by(), frozenset(["ha"]))
        self.state.enable(ORIGIN_HA_LOCAL)
        self.assertTrue(self.state.is_enabled())

    def test_user_and_ha_are_independent(self):
        """Enabling one flag leaves the other's disable in force."""
        self.state.disable(ORIGIN_USER)
        self.state.disable(ORIGIN_HA_PARTNER)
        self.assertEqual(self.state.disabled_by(), frozenset(["user", "ha"]))
        self.state.enable(ORIGIN_HA_LOCAL)
        self.assertFalse(self.state.is_enabled())
        self.assertEqual(self.state.disabled_by(), frozenset(["user"]))
        self.state.enable(ORIGIN_USER)
        self.assertTrue(self.state.is_enabled())

    def test_disable_is_not_counted(self):
        """Two disables of one flag are undone by one enable (a flag, not a counter)."""
        self.state.disable(ORIGIN_HA_LOCAL)
        self.state.disable(ORIGIN_HA_PARTNER)
        self.state.enable(ORIGIN_HA_LOCAL)
        self.assertTrue(self.state.is_enabled())

    def test_enable_when_enabled(self):
        """Enabling an origin that never disabled is harmless."""
        self.state.enable(ORIGIN_USER)
        self.assertTrue(self.state.is_enabled())

    def test_unknown_origin(self):
        """An origin that is not one of the three is refused with KeyError."""
        self.assertRaises(KeyError, self.state.disable, "bogus")
        self.assertRaises(KeyError, self.state.enable, "bogus")
        self.assertTrue(self.state.is_enabled())


class MaxPeriodTests(NetworkStateTestCase):
    """max-period: a one-shot re-enable on the clock."""

    def test_reenables_after_max_period(self):
        """A disable with max-period 30 lasts until the clock reaches 30 s."""
        self.state.disable(ORIGIN_HA_PARTNER, max_period=30)
        self.clock.advance(29.999)
        self.assertFalse(self.state.is_enabled())
        self.clock.advance(0.001)
        self.assertTrue(self.state.is_enabled())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_expiry_logged(self):
        """The timed re-enable is logged with a msg_id and the flag."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.state.disable(ORIGIN_USER, max_period=5)
        self.clock.advance(5)
        reenabled = [e for e in events if e.get("msg_id") == "DHCP4_SERVICE_REENABLED"]
        self.assertEqual(len(reenabled), 1)
        self.assertEqual(reenabled[0]["flag"], "user")

    def test_expiry_clears_only_its_flag(self):
        """When the HA disable times out, a user disable stays."""
        self.state.disable(ORIGIN_USER)
        self.state.disable(ORIGIN_HA_LOCAL, max_period=10)
        self.clock.advance(10)
        self.assertFalse(self.state.is_enabled())
        self.assertEqual(self.state.disabled_by(), frozenset(["user"]))

    def test_shared_flag_shares_the_timer(self):
        """ha-local's enable cancels the timer ha-partner's disable armed."""
        self.state.disable(ORIGIN_HA_PARTNER, max_period=10)
        self.state.enable(ORIGIN_HA_LOCAL)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.state.disable(ORIGIN_HA_LOCAL)
        self.clock.advance(10)
        self.assertFalse(self.state.is_enabled(), "a stale timer re-enabled the service")

    def test_enable_cancels_timer(self):
        """An explicit enable cancels the pending re-enable."""
        self.state.disable(ORIGIN_USER, max_period=10)
        self.state.enable(ORIGIN_USER)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.state.disable(ORIGIN_USER)
        self.clock.advance(100)
        self.assertFalse(self.state.is_enabled())

    def test_disable_again_rearms(self):
        """A second disable with max-period restarts the period (the sync re-disables per page)."""
        self.state.disable(ORIGIN_HA_PARTNER, max_period=10)
        self.clock.advance(8)
        self.state.disable(ORIGIN_HA_PARTNER, max_period=10)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(8)
        self.assertFalse(self.state.is_enabled())
        self.clock.advance(2)
        self.assertTrue(self.state.is_enabled())

    def test_disable_without_period_makes_it_indefinite(self):
        """A disable without max-period replaces an earlier timed one."""
        self.state.disable(ORIGIN_USER, max_period=10)
        self.state.disable(ORIGIN_USER)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertFalse(self.state.is_enabled())

    def test_timers_per_flag(self):
        """User and HA timers run independently."""
        self.state.disable(ORIGIN_USER, max_period=5)
        self.state.disable(ORIGIN_HA_LOCAL, max_period=20)
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        self.clock.advance(5)
        self.assertEqual(self.state.disabled_by(), frozenset(["ha"]))
        self.clock.advance(15)
        self.assertTrue(self.state.is_enabled())

    def test_stop_cancels_timers(self):
        """stop() cancels every pending re-enable and leaves the flags as they are."""
        self.state.disable(ORIGIN_USER, max_period=5)
        self.state.disable(ORIGIN_HA_PARTNER, max_period=7)
        self.state.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(self.state.disabled_by(), frozenset(["user", "ha"]))

    def test_disable_logged(self):
        """A disable is logged with Kea's msg_id, the origin and the period."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.state.disable(ORIGIN_HA_PARTNER, max_period=60)
        disabled = [e for e in events if e.get("msg_id") == "DHCP4_SERVICE_DISABLED"]
        self.assertEqual(len(disabled), 1)
        self.assertEqual((disabled[0]["origin"], disabled[0]["max_period"]), ("ha-partner", 60))
