"""
Issue 4, integration: a load-balancing pair of real Kea 2.2 and/or ours in
namespaces (see L{tests.integration.ha_scenarios.ActivePairScenario}).
Kea with Kea proves the scenario; then ours as primary, ours as secondary,
and ours with ours.
"""

from __future__ import annotations

import os
import time

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


class KeaPrimaryOursListenerProcessTests(_LoadBalancing, TestCase):
    """
    Kea primary, ours secondary with its HA listener in a process of its
    own (HA key listener-process): Kea's updates are acknowledged by the
    child and reach our lease store; heartbeats, the lease sync after each
    restart and the whole scenario work through it.
    """

    kinds = ("kea", "ours")
    ours_ha_extra = {"listener-process": True}

    def test_child_process(self):
        """Our server runs one listener child while up, and none once it stopped."""
        ours = self.peers[1]
        self.wait_states({self.peers[0]: "load-balancing", ours: "load-balancing"}, 20)
        children = listener_children(ours)
        self.assertEqual(len(children), 1, children)
        ours.stop()
        self.assertEqual(listener_children_alive(children), [])


def listener_children(peer) -> list[int]:
    """Pids of the HA listener processes whose parent is C{peer}'s server."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{name}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"--ha-listener-fd" in argv and parent == peer.server.proc.pid:
            pids.append(int(name))
    return pids


def listener_children_alive(pids: list[int]) -> list[int]:
    """Those of C{pids} still running (given 5 s to exit)."""
    deadline = time.monotonic() + 5
    while True:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


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
