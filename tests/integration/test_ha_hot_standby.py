"""
Issue 4, integration: a hot-standby pair of real Kea 2.2 and/or ours in
namespaces (see L{tests.integration.ha_scenarios.ActivePairScenario}).
Kea with Kea proves the scenario; then ours as primary, ours as standby,
and ours with ours.  The pairs on the HA dedicated listener also go through
maintenance (ha-maintenance-start / -cancel on each peer in turn).
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration.ha_scenarios import ActivePairScenario


class _HotStandby(ActivePairScenario):
    mode = "hot-standby"
    maintenance = True


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


# Behind kea-ctrl-agent (reference section 8.3) only the Kea peer is stopped
# and restarted: its agent stays up and answers "unable to forward" meanwhile.


class _HotStandbyViaAgent(_HotStandby):
    maintenance = False


class KeaViaAgentPairTests(_HotStandbyViaAgent, TestCase):
    """Kea primary and Kea standby, each behind kea-ctrl-agent (the oracle for section 8.3)."""

    kinds = ("kea", "kea")
    via_agent = frozenset({"server1", "server2"})
    victims = ("server2",)


class OursPrimaryKeaAgentStandbyTests(_HotStandbyViaAgent, TestCase):
    """Ours primary, Kea standby behind kea-ctrl-agent (ours sends "service", gets lists)."""

    kinds = ("ours", "kea")
    via_agent = frozenset({"server2"})
    victims = ("server2",)


class KeaAgentPrimaryOursStandbyTests(_HotStandbyViaAgent, TestCase):
    """Kea primary behind kea-ctrl-agent, ours standby."""

    kinds = ("kea", "ours")
    via_agent = frozenset({"server1"})
    victims = ("server1",)
