"""
Issue 4, integration: a load-balancing pair of real Kea 2.2 and/or ours in
namespaces (see L{tests.integration.ha_scenarios.ActivePairScenario}).
Kea with Kea proves the scenario; then ours as primary, ours as secondary,
and ours with ours.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.ha_scenarios import ActivePairScenario, CommunicationRecoveryScenario


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


class KeaKeaRecoveryTests(CommunicationRecoveryScenario, TestCase):
    """Communication-recovery: Kea primary, Kea secondary (the oracle)."""

    kinds = ("kea", "kea")


class OursKeaRecoveryTests(CommunicationRecoveryScenario, TestCase):
    """Communication-recovery: ours primary (holds the backlog), Kea secondary."""

    kinds = ("ours", "kea")


class KeaOursRecoveryTests(CommunicationRecoveryScenario, TestCase):
    """Communication-recovery: Kea primary (holds the backlog), ours secondary."""

    kinds = ("kea", "ours")


class OursOursRecoveryTests(CommunicationRecoveryScenario, TestCase):
    """Communication-recovery: ours primary, ours secondary."""

    kinds = ("ours", "ours")
