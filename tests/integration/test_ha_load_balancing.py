"""
Issue 4, integration: a load-balancing pair of real Kea 2.2 and/or ours in
namespaces (see L{tests.integration.ha_scenarios.ActivePairScenario}).
Kea with Kea proves the scenario; then ours as primary, ours as secondary,
and ours with ours.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.ha_scenarios import ActivePairScenario


class _LoadBalancing(ActivePairScenario):
    mode = "load-balancing"


class KeaPrimaryKeaSecondaryTests(_LoadBalancing, TestCase):
    """Kea primary, Kea secondary (the oracle)."""

    kinds = ("kea", "kea")


class OursPrimaryKeaSecondaryTests(_LoadBalancing, TestCase):
    """Ours primary, Kea secondary."""

    kinds = ("ours", "kea")


class KeaPrimaryOursSecondaryTests(_LoadBalancing, TestCase):
    """Kea primary, ours secondary."""

    kinds = ("kea", "ours")


class OursPrimaryOursSecondaryTests(_LoadBalancing, TestCase):
    """Ours primary, ours secondary."""

    kinds = ("ours", "ours")
