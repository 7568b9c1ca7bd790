"""
Tests for L{kea_ha_tw.stats}: named statistics stamped from the injected
clock, and Kea's sample timestamp text.

Kea 2.2 prints a sample's time in the server's local time zone with six
fractional digits (C{kea-dhcp4} under C{TZ=America/New_York} answered
C{[ 0, "2026-11-25 06:06:26.607566" ]} at 11:06:26 UTC), so the format
tests pin C{TZ} for their duration.
"""

from __future__ import annotations

import os
import re
import time

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_ha_tw.interfaces import IStatistics
from kea_ha_tw.stats import Statistics, kea_timestamp

#: Wed, 25 Nov 2026 09:54:44 UTC.
T0 = 1795600484
KEA_SAMPLE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def set_time_zone(case: SynchronousTestCase, zone: str) -> None:
    """Run the rest of C{case} with C{TZ=zone}; restore the previous zone afterwards."""
    previous = os.environ.get("TZ")

    def restore() -> None:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()

    case.addCleanup(restore)
    os.environ["TZ"] = zone
    time.tzset()


class TimestampTests(SynchronousTestCase):
    """kea_timestamp renders Unix seconds like Kea's statistic-get."""

    def test_utc(self):
        """In UTC the text is the UTC date and time with microseconds."""
        set_time_zone(self, "UTC")
        self.assertEqual(kea_timestamp(T0), "2026-11-25 09:54:44.000000")
        self.assertEqual(kea_timestamp(T0 + 1.5), "2026-11-25 09:54:45.500000")
        self.assertEqual(kea_timestamp(T0 + 0.000123), "2026-11-25 09:54:44.000123")

    def test_local_time(self):
        """The text is in the local time zone, as Kea prints it (EST is UTC-5 in November)."""
        set_time_zone(self, "America/New_York")
        self.assertEqual(kea_timestamp(T0), "2026-11-25 04:54:44.000000")

    def test_format(self):
        """Date, space, time, six fractional digits: nothing else."""
        set_time_zone(self, "UTC")
        for seconds in (0, T0, T0 + 0.999999, 4102444799.25):
            self.assertRegex(kea_timestamp(seconds), KEA_SAMPLE_TIME)
        self.assertEqual(kea_timestamp(0), "1970-01-01 00:00:00.000000")


class StatisticsTests(SynchronousTestCase):
    """The Statistics store."""

    def setUp(self):
        """A store on a Clock at T0, rendered in UTC."""
        set_time_zone(self, "UTC")
        self.clock = Clock()
        self.clock.advance(T0)
        self.stats = Statistics(self.clock)

    def test_provides_interface(self):
        """Statistics provides IStatistics."""
        self.assertTrue(verifyObject(IStatistics, self.stats))

    def test_unknown(self):
        """An unknown name has no value and no samples."""
        self.assertIsNone(self.stats.get("pkt4-received"))
        self.assertEqual(self.stats.get_samples("pkt4-received"), [])
        self.assertEqual(self.stats.names(), [])

    def test_add_creates_at_zero(self):
        """add() starts a new statistic at zero and adds 1 by default."""
        self.stats.add("pkt4-received")
        self.stats.add("pkt4-received")
        self.stats.add("pkt4-received", 5)
        self.assertEqual(self.stats.get("pkt4-received"), 7)

    def test_set(self):
        """set() replaces the value, integers and floats alike."""
        self.stats.set("subnet[1].total-addresses", 100)
        self.stats.set("subnet[1].total-addresses", 254)
        self.assertEqual(self.stats.get("subnet[1].total-addresses"), 254)
        self.stats.set("ratio", 0.5)
        self.assertEqual(self.stats.get("ratio"), 0.5)

    def test_sample_stamp_is_last_change(self):
        """The sample carries the clock time of the last change, in Kea's format."""
        self.stats.add("pkt4-received")
        self.clock.advance(1.5)
        self.stats.add("pkt4-received", 2)
        self.clock.advance(10)
        self.assertEqual(self.stats.get_samples("pkt4-received"),
                         [[3, "2026-11-25 09:54:45.500000"]])

    def test_reset(self):
        """reset() zeroes an existing statistic, restamps it and says True; else False."""
        self.stats.add("pkt4-received", 4)
        self.clock.advance(2)
        self.assertTrue(self.stats.reset("pkt4-received"))
        self.assertEqual(self.stats.get_samples("pkt4-received"),
                         [[0, "2026-11-25 09:54:46.000000"]])
        self.assertFalse(self.stats.reset("pkt4-sent"))
        self.assertIsNone(self.stats.get("pkt4-sent"))

    def test_remove(self):
        """remove() forgets a statistic and says whether it existed."""
        self.stats.add("pkt4-received")
        self.assertTrue(self.stats.remove("pkt4-received"))
        self.assertFalse(self.stats.remove("pkt4-received"))
        self.assertEqual(self.stats.get_samples("pkt4-received"), [])
        self.assertEqual(self.stats.names(), [])

    def test_remove_zero_valued(self):
        """A statistic whose value is 0 still exists and is removed."""
        self.stats.set("declined-addresses", 0)
        self.assertTrue(self.stats.remove("declined-addresses"))
        self.assertNotIn("declined-addresses", self.stats.names())

    def test_names_sorted(self):
        """names() lists every statistic, sorted."""
        for name in ("pkt4-sent", "pkt4-ack-sent", "subnet[1].assigned-addresses"):
            self.stats.add(name)
        self.assertEqual(self.stats.names(),
                         ["pkt4-ack-sent", "pkt4-sent", "subnet[1].assigned-addresses"])
