"""
Tests for L{bench.perfdhcp}: the command line and the parser of what
perfdhcp 2.2 prints. The texts are perfdhcp 2.2.0's own output from runs
against Kea and ours in the bench's namespaces (timestamp lists cut short).
"""

from twisted.trial.unittest import SynchronousTestCase

from bench import perfdhcp

# -r 2000 -p 5 against a server that could not keep up (exit code 3).
OVERLOADED = """\
Running: perfdhcp -4 -g single -r 2000 -R 100000 -p 5 -W 200000 -l 127.0.0.2 127.0.0.1
Scenario: basic.
WARNING: Currently system can run more than 1 thread in parallel.
WARNING: Better results are achieved when run in multi-threaded mode.
WARNING: To switch use -g multi option.
***Rate statistics***
Rate: 949.606 4-way exchanges/second, expected rate: 2000

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 9999
received packets: 6033
drops: 3966
drops ratio: 39.664 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.119 ms
avg delay: 61.259 ms
max delay: 218.476 ms
std deviation: 48.790 ms
collected packets: 100

***Statistics for: REQUEST-ACK***
sent packets: 6033
received packets: 4938
drops: 1095
drops ratio: 18.150 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.151 ms
avg delay: 46.866 ms
max delay: 192.259 ms
std deviation: 42.831 ms
collected packets: 24

"""

# -r 100 -p 1 -x t: every exchange answered, with per-exchange timers.
WITH_TIMERS = """\
Running: perfdhcp -4 -g single -r 100 -R 100000 -p 1 -W 200000 -x t -l 127.0.0.2 127.0.0.1
Scenario: basic.
***Rate statistics***
Rate: 82.4317 4-way exchanges/second, expected rate: 100

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 4
received packets: 4
drops: 0
drops ratio: 0 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.130 ms
avg delay: 0.567 ms
max delay: 5.295 ms
std deviation: 0.746 ms
collected packets: 0

***Statistics for: REQUEST-ACK***
sent packets: 4
received packets: 4
drops: 0
drops ratio: 0.000 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.146 ms
avg delay: 0.361 ms
max delay: 2.412 ms
std deviation: 0.223 ms
collected packets: 0

***Timestamps for packets: DISCOVER-OFFER***
sent / received: 000001.705840 / 000001.706115
sent / received: 000001.710533 / 000001.713951
sent / received: 000001.717953 / 000001.718311
sent / received: 000001.720452 / 000001.720800

***Timestamps for packets: REQUEST-ACK***
sent / received: 000001.706200 / 000001.706400
sent / received: 000001.714000 / 000001.714100
sent / received: 000001.718400 / 000001.718700
sent / received: 000001.720900 / 000001.723900

"""


class CommandTests(SynchronousTestCase):
    """L{perfdhcp.command}."""

    def test_relay_to_server(self):
        """A unicast run: relay address with -l, the server last, -g single, bounded by -p."""
        self.assertEqual(
            perfdhcp.command(5000, 10, "127.0.0.2", "127.0.0.1"),
            ["perfdhcp", "-4", "-g", "single", "-r", "5000", "-R", "100000", "-p", "10",
             "-W", "200000", "-l", "127.0.0.2", "127.0.0.1"])

    def test_broadcast_with_timers(self):
        """No server: perfdhcp broadcasts from the interface; -x t asks for timers."""
        argv = perfdhcp.command(300, 2.5, "br0", None, clients=50, wait_us=1000,
                                timestamps=True)
        self.assertEqual(argv[-3:], ["br0", "-x", "t"])
        self.assertIn("2.5", argv)
        self.assertEqual(argv[argv.index("-R") + 1], "50")
        self.assertEqual(argv[argv.index("-W") + 1], "1000")

    def test_packet_bound(self):
        """max_packets adds -n (a second bound besides the period)."""
        argv = perfdhcp.command(1, 1, "br0", max_packets=1)
        self.assertEqual(argv[argv.index("-n") + 1], "1")

    def test_rejects_nonsense(self):
        """A zero rate or duration is refused (perfdhcp would run unbounded or not at all)."""
        self.assertRaises(ValueError, perfdhcp.command, 0, 10, "br0")
        self.assertRaises(ValueError, perfdhcp.command, 10, 0, "br0")


class ParseTests(SynchronousTestCase):
    """L{perfdhcp.parse}."""

    def test_overloaded_counts(self):
        """Every counter of both exchanges, and the rate line."""
        r = perfdhcp.parse(OVERLOADED)
        self.assertEqual((r.rate, r.expected_rate), (949.606, 2000.0))
        do = r.exchanges[perfdhcp.DISCOVER_OFFER]
        ra = r.exchanges[perfdhcp.REQUEST_ACK]
        self.assertEqual((do.sent, do.received, do.drops, do.collected), (9999, 6033, 3966, 100))
        self.assertEqual((ra.sent, ra.received, ra.drops), (6033, 4938, 1095))
        self.assertEqual(do.drops_ratio, 39.664)
        self.assertEqual((ra.min_delay_ms, ra.avg_delay_ms, ra.max_delay_ms, ra.std_delay_ms),
                         (0.151, 46.866, 192.259, 42.831))
        self.assertEqual(r.malformed, 0)

    def test_loss_is_discovers_without_ack(self):
        """The search's loss: 1 - ACKs / DISCOVERs (both exchanges' drops together)."""
        r = perfdhcp.parse(OVERLOADED)
        self.assertEqual((r.discovers_sent, r.offers_received, r.acks_received),
                         (9999, 6033, 4938))
        self.assertAlmostEqual(r.loss, 1 - 4938 / 9999)

    def test_no_output_is_total_loss(self):
        """A run that printed nothing (perfdhcp failed to start) counts as 100 % lost."""
        r = perfdhcp.parse("ERROR: parsing command line options: without an interface, "
                           "server is required\n")
        self.assertEqual(r.exchanges, {})
        self.assertEqual(r.loss, 1.0)

    def test_timers(self):
        """-x t timers become per-exchange delays in ms, block by block."""
        r = perfdhcp.parse(WITH_TIMERS)
        ra = r.exchanges[perfdhcp.REQUEST_ACK].delays_ms
        do = r.exchanges[perfdhcp.DISCOVER_OFFER].delays_ms
        self.assertEqual(len(ra), 4)
        self.assertEqual(len(do), 4)
        self.assertEqual([round(x, 3) for x in ra], [0.2, 0.1, 0.3, 3.0])
        self.assertAlmostEqual(do[1], 3.418, places=3)
        self.assertEqual(r.loss, 0.0)

    def test_latency(self):
        """Median and p99 of the timers (interpolated, as numpy does)."""
        median, p99 = perfdhcp.parse(WITH_TIMERS).latency()
        self.assertAlmostEqual(median, 0.25, places=6)
        self.assertAlmostEqual(p99, 0.3 + 0.97 * 2.7, places=6)

    def test_latency_without_timers(self):
        """No -x t: no latency figures rather than made-up ones."""
        self.assertEqual(perfdhcp.parse(OVERLOADED).latency(), (None, None))

    def test_timer_lines_outside_a_block_ignored(self):
        """Timer lines before any timestamps header are not attributed to an exchange."""
        r = perfdhcp.parse("sent / received: 1.0 / 2.0\n" + OVERLOADED)
        self.assertEqual(r.exchanges[perfdhcp.REQUEST_ACK].delays_ms, [])


class PercentileTests(SynchronousTestCase):
    """L{perfdhcp.percentile}."""

    def test_values(self):
        """Linear interpolation between closest ranks; the ends are min and max."""
        data = [5.0, 1.0, 3.0, 2.0, 4.0]
        self.assertEqual(perfdhcp.percentile(data, 50), 3.0)
        self.assertEqual(perfdhcp.percentile(data, 0), 1.0)
        self.assertEqual(perfdhcp.percentile(data, 100), 5.0)
        self.assertEqual(perfdhcp.percentile(data, 25), 2.0)
        self.assertAlmostEqual(perfdhcp.percentile([1.0, 2.0], 99), 1.99)

    def test_empty_and_bad(self):
        """No values: None; a q outside 0..100 is an error."""
        self.assertIsNone(perfdhcp.percentile([], 50))
        self.assertRaises(ValueError, perfdhcp.percentile, [1.0], 101)
