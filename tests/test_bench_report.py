"""
Tests for L{bench.report}: medians over rounds, the ours / Kea ratio
table and its targets, and the Markdown it makes.
"""

from twisted.trial.unittest import SynchronousTestCase

from bench import report


def trial(rate, loss, hwm=20000, **extra):
    """A trial record as L{bench.scenarios.Bench.trial} writes it."""
    t = {"rate": rate, "loss": loss, "ack_rate": rate * (1 - loss),
         "hwm_kib": {"server1": hwm, "server2": hwm // 2}}
    t.update(extra)
    return t


def round_(best, trials, latency=None):
    """One round of one scenario."""
    return {"search": {"best": best, "capped": False, "trials": trials}, "latency": latency}


class SummaryTests(SynchronousTestCase):
    """L{report.summarize_round}, L{report.combine_rounds}, L{report.build_summary}."""

    def test_round(self):
        """Max rate and ACK rate there, half-rate figures, peak RSS of the largest process."""
        s = report.summarize_round(
            {"best": 4000, "trials": [trial(8000, 0.3, hwm=40960), trial(4000, 0.01)]},
            {"rate": 2000, "loss": 0.0, "cpu_per_1000": 0.12, "ra_median_ms": 0.2,
             "ra_p99_ms": 1.5, "do_median_ms": 0.3, "do_p99_ms": 2.0})
        self.assertEqual(s["max_rate"], 4000)
        self.assertAlmostEqual(s["ack_rate_at_max"], 3960)
        self.assertEqual(s["peak_rss_mib"], 40.0)
        self.assertEqual((s["cpu_per_1000"], s["ra_median_ms"], s["half_rate"]), (0.12, 0.2, 2000))

    def test_round_with_same_load_run(self):
        """The run at Kea's half rate gives the same_* figures."""
        s = report.summarize_round(
            {"best": 4000, "trials": [trial(4000, 0.0)]},
            {"rate": 2000, "loss": 0.0, "ra_median_ms": 0.9},
            {"rate": 1000, "loss": 0.0, "ra_median_ms": 0.4, "ra_p99_ms": 1.1})
        self.assertEqual((s["same_rate"], s["same_ra_median_ms"], s["same_ra_p99_ms"]),
                         (1000, 0.4, 1.1))
        self.assertEqual(s["half_rate"], 2000)

    def test_round_without_latency_run(self):
        """No half-rate run (nothing passed): latency and CPU stay None."""
        s = report.summarize_round({"best": 0, "trials": [trial(100, 1.0)]}, None)
        self.assertEqual(s["max_rate"], 0)
        self.assertIsNone(s["ra_median_ms"])
        self.assertIsNone(s["cpu_per_1000"])

    def test_medians_over_rounds(self):
        """Each metric is the median over rounds; missing values are skipped."""
        rounds = [{"max_rate": 1000, "ra_median_ms": 0.3}, {"max_rate": 3000, "ra_median_ms": None},
                  {"max_rate": 2000, "ra_median_ms": 0.1}]
        c = report.combine_rounds(rounds)
        self.assertEqual(c["max_rate"], 2000)
        self.assertAlmostEqual(c["ra_median_ms"], 0.2)
        self.assertEqual(c["max_rate_by_round"], [1000, 3000, 2000])
        self.assertEqual(c["rounds"], 3)

    def test_build_summary(self):
        """results.json's scenarios -> medians per scenario name."""
        results = {"scenarios": {
            "single/kea": {"rounds": [round_(1000, [trial(1000, 0)]),
                                      round_(3000, [trial(3000, 0)])]}}}
        self.assertEqual(report.build_summary(results)["single/kea"]["max_rate"], 2000)


class RatioTests(SynchronousTestCase):
    """L{report.ratio_rows} and L{report.markdown_table}."""

    def summary(self):
        """Kea and ours for two modes, plus a mixed pair."""
        return {
            "single/kea": {"max_rate": 10000, "ra_median_ms": 0.2, "ra_p99_ms": 1.0,
                           "cpu_per_1000": 0.1, "peak_rss_mib": 20.0},
            "single/ours": {"max_rate": 7000, "ra_median_ms": 0.4, "ra_p99_ms": 2.0,
                            "cpu_per_1000": 0.15, "peak_rss_mib": 60.0},
            "hot-standby/kea": {"max_rate": 2000, "ra_median_ms": 0.7},
            "hot-standby/ours": {"max_rate": 5000, "ra_median_ms": 0.5},
            "hot-standby/ours+kea": {"max_rate": 2100, "ra_median_ms": 0.8},
            "passive-backup/ours": {"max_rate": 100},
        }

    def test_rows_and_targets(self):
        """
        One row per implementation against Kea's, ours first; each target
        checked: single 0.8x, pairs 2x, mixed 1x, latency at most 1.5x.
        """
        rows = report.ratio_rows(self.summary())
        self.assertEqual([(r["mode"], r["impl"]) for r in rows],
                         [("single", "ours"), ("hot-standby", "ours"),
                          ("hot-standby", "ours+kea")])
        single, hs, mixed = rows
        self.assertAlmostEqual(single["rate"][2], 0.7)
        self.assertFalse(single["rate_ok"])
        self.assertFalse(single["latency_ok"])
        self.assertAlmostEqual(single["cpu_per_1000"][2], 1.5)
        self.assertAlmostEqual(single["peak_rss"][2], 3.0)
        self.assertTrue(hs["rate_ok"])
        self.assertEqual(hs["rate_target"], 2.0)
        self.assertTrue(hs["latency_ok"])
        self.assertEqual(mixed["rate_target"], 1.0)
        self.assertTrue(mixed["rate_ok"])

    def test_no_kea_no_row(self):
        """A mode Kea was not measured in has no ratio row."""
        rows = report.ratio_rows({"passive-backup/ours": {"max_rate": 5}})
        self.assertEqual(rows, [])

    def test_missing_values(self):
        """A missing figure gives no ratio and no verdict, not a crash."""
        rows = report.ratio_rows({"single/kea": {"max_rate": 0}, "single/ours": {"max_rate": 5}})
        self.assertIsNone(rows[0]["rate"][2])
        self.assertIsNone(rows[0]["rate_ok"])
        self.assertIn("n/a", report.markdown_table(rows))

    def test_markdown(self):
        """The table shows ours / Kea = ratio and flags missed targets."""
        md = report.markdown_table(report.ratio_rows(self.summary()))
        self.assertIn("| single | 7000 / 10000 = **0.70x** (≥ 0.8: MISSED)", md)
        self.assertIn("(over 1.5x)", md)
        self.assertIn("hot-standby, ours+kea vs Kea pair", md)
        self.assertIn("5000 / 2000 = **2.50x** (≥ 2.0: met)", md)

    def test_same_load_table(self):
        """Latency at equal load: ours at Kea's half rate against Kea's median there."""
        summary = {
            "hot-standby/kea": {"max_rate": 1500, "half_rate": 750, "ra_median_ms": 0.8},
            "hot-standby/ours": {"max_rate": 3000, "half_rate": 1500, "ra_median_ms": 2.0,
                                 "same_rate": 750, "same_ra_median_ms": 0.6},
        }
        rows = report.ratio_rows(summary)
        self.assertAlmostEqual(rows[0]["same_load"][3], 0.75)
        md = report.same_load_table(rows)
        self.assertIn("| hot-standby | 1500 / 750 | 2.000 / 0.800 = 2.50x | "
                      "0.600 / 0.800 = **0.75x** (at 750/s) |", md)

    def test_ratio(self):
        """ratio: None for a missing value or a zero denominator."""
        self.assertEqual(report.ratio(3, 2), 1.5)
        self.assertIsNone(report.ratio(None, 2))
        self.assertIsNone(report.ratio(1, 0))


class ExtrasTests(SynchronousTestCase):
    """L{report.extras_rows}."""

    def test_rows(self):
        """Sync times with their ratios against Kea, start-up and LFC lines."""
        rows = dict(report.extras_rows({
            "sync": {"kea<-kea": {"leases": 100000, "seconds": 10.0},
                     "ours<-ours": {"leases": 100000, "seconds": 5.0},
                     "ours<-kea": {"leases": 100000, "seconds": 12.0, "complete": False}},
            "startup": {"ours": {"leases": 1000000, "seconds": 8.5, "rss_mib": 700,
                                 "hwm_mib": 800}},
            "lfc": {"kea": {"rows": 1000000, "seconds": 3.0, "cpu_s": 2.9, "maxrss_mib": 300,
                            "exit": 0}},
        }))
        self.assertEqual(rows["sync ratio ours<-ours / kea<-kea (target ≤ 1.0)"], "0.50x")
        self.assertEqual(rows["sync ratio ours<-kea / kea<-kea (target ≤ 1.0)"], "1.20x")
        self.assertIn("INCOMPLETE", rows["sync 100000 leases, ours<-kea"])
        self.assertIn("8.50 s to first OFFER", rows["start-up with 1000000 leases, ours"])
        self.assertIn("exit 0", rows["LFC of 1000000 rows, kea"])
