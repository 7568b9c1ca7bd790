"""
Issue 4, integration: a hot-standby pair of real Kea 2.2 and/or ours in
namespaces (see L{tests.integration.ha_scenarios.ActivePairScenario}).
Kea with Kea proves the scenario; then ours as primary, ours as standby,
and ours with ours.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.ha_scenarios import ActivePairScenario


class _HotStandby(ActivePairScenario):
    mode = "hot-standby"


class KeaPrimaryKeaStandbyTests(_HotStandby, TestCase):
    """Kea primary, Kea standby (the oracle)."""

    kinds = ("kea", "kea")


class OursPrimaryKeaStandbyTests(_HotStandby, TestCase):
    """Ours primary, Kea standby."""

    kinds = ("ours", "kea")


class KeaPrimaryOursStandbyTests(_HotStandby, TestCase):
    """Kea primary, ours standby."""

    kinds = ("kea", "ours")


class OursPrimaryOursStandbyTests(_HotStandby, TestCase):
    """Ours primary, ours standby."""

    kinds = ("ours", "ours")
