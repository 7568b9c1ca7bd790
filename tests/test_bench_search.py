"""
Tests for L{bench.search}: the highest rate with at most 2.5 % loss, found
against model servers (a server of capacity C loses 1 - C/rate above C).
"""

import math

from twisted.trial.unittest import SynchronousTestCase

from bench import search


def capacity(c: float, noise: dict | None = None):
    """A trial function for a server that answers at most C exchanges/s."""
    calls: list[int] = []

    def trial(rate: int) -> float:
        calls.append(rate)
        if noise and rate in noise:
            return noise[rate]
        return max(0.0, 1.0 - c / rate)

    trial.calls = calls  # type: ignore[attr-defined]
    return trial


class RoundRateTests(SynchronousTestCase):
    """L{search.round_rate}."""

    def test_two_significant_digits(self):
        """Rates keep two significant digits, so rounds land on the same rates."""
        self.assertEqual(search.round_rate(5432), 5400)
        self.assertEqual(search.round_rate(987), 990)
        self.assertEqual(search.round_rate(15), 15)
        self.assertEqual(search.round_rate(7.4), 7)
        self.assertEqual(search.round_rate(0.2), 1)


class SearchTests(SynchronousTestCase):
    """L{search.search_max_rate}."""

    def test_finds_capacity_from_below(self):
        """
        Doubling from below, then bisection: the result passes, is within
        the precision of the true limit (C / 0.975), and the next rate
        tried above it failed.
        """
        trial = capacity(3000)
        r = search.search_max_rate(trial, start=500, max_rate=40000, precision=0.05,
                                   max_trials=20)
        limit = 3000 / 0.975
        self.assertLessEqual(r.best, limit)
        self.assertGreater(r.best, limit * 0.95)
        self.assertIsNotNone(r.lowest_failing)
        self.assertGreater(r.lowest_failing, limit)
        self.assertLessEqual((r.lowest_failing - r.best) / r.best, 0.05)
        self.assertEqual(trial.calls[:4], [500, 1000, 2000, 4000])
        self.assertFalse(r.capped)

    def test_finds_capacity_from_above(self):
        """A start that already fails halves until a rate passes, then bisects."""
        trial = capacity(700)
        r = search.search_max_rate(trial, start=4000, max_rate=40000, max_trials=20)
        self.assertEqual(trial.calls[:4], [4000, 2000, 1000, 500])
        self.assertLessEqual(r.best, 700 / 0.975)
        self.assertGreater(r.best, 700 / 0.975 * 0.95)

    def test_trial_bound(self):
        """Never more trials than max_trials, even far from converging."""
        trial = capacity(10)
        r = search.search_max_rate(trial, start=40000, max_rate=40000, max_trials=3,
                                   min_rate=1)
        self.assertEqual(len(trial.calls), 3)
        self.assertEqual(len(r.trials), 3)
        self.assertEqual(r.best, 0)

    def test_capped(self):
        """A server faster than max_rate: best is max_rate, marked capped, no rate above it."""
        trial = capacity(10 ** 6)
        r = search.search_max_rate(trial, start=1000, max_rate=5000)
        self.assertEqual(r.best, 5000)
        self.assertTrue(r.capped)
        self.assertLessEqual(max(trial.calls), 5000)

    def test_nothing_passes(self):
        """A dead server: halving stops at min_rate, best 0."""
        r = search.search_max_rate(lambda rate: 1.0, start=1000, max_rate=5000, min_rate=100,
                                   max_trials=50)
        self.assertEqual(r.best, 0)
        self.assertEqual(min(t.rate for t in r.trials), 100)
        self.assertLessEqual(len(r.trials), 6)

    def test_threshold_is_inclusive(self):
        """Exactly 2.5 % lost passes (ISC: at most 2.5 %); a NaN loss never passes."""
        self.assertTrue(search.Trial(100, 0.025).passed(0.025))
        self.assertFalse(search.Trial(100, 0.0251).passed(0.025))
        self.assertFalse(search.Trial(100, math.nan).passed(0.025))

    def test_non_monotonic_noise(self):
        """
        A noisy failure below a pass does not make the search claim a rate
        it never passed: best is always a rate that was measured passing.
        """
        trial = capacity(3000, noise={2000: 0.5})
        r = search.search_max_rate(trial, start=1000, max_rate=40000, max_trials=10)
        passed = {t.rate for t in r.trials if t.passed(0.025)}
        self.assertIn(r.best, passed)

    def test_points_sorted(self):
        """points: (rate, loss) of every trial, by rate, for the plot."""
        r = search.search_max_rate(capacity(1000), start=4000, max_rate=8000, max_trials=4)
        rates = [p[0] for p in r.points]
        self.assertEqual(rates, sorted(rates))
        self.assertEqual(len(r.points), 4)

    def test_bad_arguments(self):
        """Non-positive start, max_rate or max_trials are refused."""
        self.assertRaises(ValueError, search.search_max_rate, capacity(1), start=0, max_rate=10)
        self.assertRaises(ValueError, search.search_max_rate, capacity(1), start=1, max_rate=10,
                          max_trials=0)
