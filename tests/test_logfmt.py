"""Tests for L{kea_ha_tw.logfmt}: Kea-shaped log lines."""

from __future__ import annotations

import io

from datetime import timezone

from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.logfmt import format_kea_line, observer


class LocalTimeTests(SynchronousTestCase):
    """Without a zone the line carries local time, as Kea's logs do."""

    def test_local_time(self):
        """The stamp is C{datetime.fromtimestamp} in the local zone."""
        from datetime import datetime

        line = format_kea_line({"log_time": 1795600000, "log_level": LogLevel.info,
                                "log_namespace": "x", "log_format": "t"})
        self.assertTrue(line.startswith(
            datetime.fromtimestamp(1795600000).strftime("%Y-%m-%d %H:%M:%S.000 ")))


class FormatTests(SynchronousTestCase):
    """Events become one line with time, level, namespace, msg_id and text."""

    def test_line_with_msg_id(self):
        """The Kea message id precedes the rendered text."""
        line = format_kea_line({
            "log_time": 1795600000.5, "log_level": LogLevel.info,
            "log_namespace": "kea_ha_tw.ha.service.HAService",
            "log_format": "{server}: transition {old_state} -> {new_state}",
            "server": "server1", "old_state": "waiting", "new_state": "syncing",
            "msg_id": "HA_STATE_TRANSITION",
        }, timezone.utc)
        self.assertEqual(
            line,
            "2026-11-25 09:46:40.500 INFO  [kea-ha-tw.ha.service.HAService] "
            "HA_STATE_TRANSITION server1: transition waiting -> syncing\n")

    def test_line_without_msg_id(self):
        """Events without msg_id are written without one."""
        line = format_kea_line({"log_time": 0, "log_level": LogLevel.warn,
                                "log_namespace": "x", "log_format": "hello"}, timezone.utc)
        self.assertEqual(line, "1970-01-01 00:00:00.000 WARN  [x] hello\n")

    def test_observer_writes_stream(self):
        """The twistd --logger factory writes to the stream it is given."""
        out = io.StringIO()
        observer(out)({"log_time": 0, "log_level": LogLevel.error, "log_namespace": "n",
                       "log_format": "boom {n}", "n": 1, "msg_id": "X"})
        self.assertIn("ERROR [n] X boom 1", out.getvalue())
