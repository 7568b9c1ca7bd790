# -*- test-case-name: tests.test_server -*-
"""
L{NoHA}: the L{IDHCPHooks} a standalone server uses. Every query is in
scope, no classes are added, and replies leave as soon as leases are stored.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from kea_ha_tw.interfaces import IDHCPHooks

_NO_CLASSES: frozenset[str] = frozenset()


@implementer(IDHCPHooks)
class NoHA:
    """DHCP hooks without High Availability."""

    def classify(self, query) -> frozenset[str]:
        """No extra client classes."""
        return _NO_CLASSES

    def query_in_scope(self, query) -> bool:
        """Every query is ours."""
        return True

    def answers_none(self) -> bool:
        """Never: every query is answered."""
        return False

    def updates_queued(self) -> bool:
        """Never: nothing is sent anywhere."""
        return False

    def leases_committed(self, query, leases, deleted) -> Deferred:
        """Nothing to wait for: fire True at once."""
        return succeed(True)
