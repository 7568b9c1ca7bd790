"""
Tests for L{bench.run.Runner}'s latency runs: Kea's half rate of a round
is remembered and every other implementation of that mode is timed once
more at that same offered rate; L{bench.run.default_python}; and
L{bench.lab.Launcher}, which starts our server from the tree under test.
"""

import argparse
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench import configs, lab, run, scenarios


class FakeBench:
    """Records the timed trials it is asked for."""

    def __init__(self) -> None:
        self.timed: list[tuple[str, int]] = []

    def trial(self, sc, rate, *, timestamps=False):
        """A trial record with the rate as its median (to tell them apart)."""
        if timestamps:
            self.timed.append((sc.name, rate))
        return {"rate": rate, "loss": 0.0, "ra_median_ms": rate / 1000}


def runner() -> tuple[run.Runner, FakeBench]:
    """A Runner over a FakeBench with a generous budget."""
    args = argparse.Namespace(budget=3600.0)
    bench = FakeBench()
    return run.Runner(args, bench, {"scenarios": {}, "errors": []}, lambda: None), bench


class SameLoadLatencyTests(SynchronousTestCase):
    """L{run.Runner._same_load_latency}."""

    def test_kea_records_its_half_rate(self):
        """Kea's own run is not repeated; its half rate is kept for the round."""
        r, bench = runner()
        kea = scenarios.scenario("hot-standby", ("kea", "kea"))
        self.assertIsNone(r._same_load_latency(kea, 0, 750, {"rate": 750}))
        self.assertEqual(r.kea_half[("hot-standby", 0)], 750)
        self.assertEqual(bench.timed, [])

    def test_ours_timed_at_keas_half_rate(self):
        """Ours (and a mixed pair) get one more timed run at Kea's half rate of that round."""
        r, bench = runner()
        r.kea_half[("hot-standby", 1)] = 750
        ours = scenarios.scenario("hot-standby", ("ours", "ours"))
        same = r._same_load_latency(ours, 1, 1500, {"rate": 1500})
        self.assertEqual(same["rate"], 750)
        self.assertEqual(same["round"], 1)
        self.assertEqual(bench.timed, [("hot-standby/ours", 750)])

    def test_equal_half_rates_reuse_the_run(self):
        """When both half rates are equal, the half-rate run serves for both."""
        r, bench = runner()
        r.kea_half[("single", 0)] = 2000
        ours = scenarios.scenario("single", ("ours",))
        latency = {"rate": 2000}
        self.assertIs(r._same_load_latency(ours, 0, 2000, latency), latency)
        self.assertEqual(bench.timed, [])

    def test_no_kea_in_the_round(self):
        """Without Kea's figure for that mode and round, nothing more is run."""
        r, bench = runner()
        ours = scenarios.scenario("load-balancing", ("ours", "ours"))
        self.assertIsNone(r._same_load_latency(ours, 0, 1500, {"rate": 1500}))
        self.assertEqual(bench.timed, [])


class DefaultPythonTests(SynchronousTestCase):
    """L{run.default_python}: the server runs on the installed interpreter."""

    def test_repository_venv(self):
        """A repository with C{.venv/bin/python} runs our server on it."""
        repo = self.mktemp()
        os.makedirs(os.path.join(repo, ".venv", "bin"))
        venv = os.path.join(repo, ".venv", "bin", "python")
        os.symlink(sys.executable, venv)
        self.assertEqual(run.default_python(repo), venv)

    def test_no_venv(self):
        """Without a venv, the bench's own Python runs the server."""
        repo = self.mktemp()
        os.makedirs(repo)
        self.assertEqual(run.default_python(repo), sys.executable)


class LauncherTests(SynchronousTestCase):
    """L{bench.lab.Launcher.ours}: our server runs the tree under test."""

    def test_ours_runs_in_the_tree_under_test(self):
        """
        The server's working directory is the tree under test, so the
        C{''} that C{python -c} puts first on C{sys.path} finds that tree,
        not whatever checkout the bench was started from.
        """
        launcher = lab.Launcher(python="/usr/bin/python3", repo="/tmp/khb-tree")
        proc = launcher.ours("server1-ours", "khb-1", "/tmp/s1.json", "/tmp/s1.log")
        self.assertEqual(proc.cwd, "/tmp/khb-tree")
        self.assertTrue(proc.env["PYTHONPATH"].startswith("/tmp/khb-tree"))
        self.assertEqual(proc.argv[:2], ["/usr/bin/python3", "-c"])


class ClientThreadsTests(SynchronousTestCase):
    """C{--ha-client-threads}: one HA C{http-client-threads} for every server of a run."""

    def test_parsed_with_kea_default(self):
        """Without the option the bench keeps Kea's default (0: one per CPU)."""
        self.assertEqual(run.parse_args([]).ha_client_threads, 0)
        self.assertEqual(run.parse_args(["--ha-client-threads", "4"]).ha_client_threads, 4)

    def test_in_every_ha_config(self):
        """The value lands in the relationship's C{multi-threading} map."""
        peers = [configs.Peer("server1", "10.99.0.1", "primary"),
                 configs.Peer("server2", "10.99.0.2", "secondary")]
        rel = configs.ha_parameters("load-balancing", "server1", peers,
                                    multi_threading=True, client_threads=4)
        self.assertEqual(rel["multi-threading"]["http-client-threads"], 4)
        rel = configs.ha_parameters("load-balancing", "server1", peers, multi_threading=True)
        self.assertEqual(rel["multi-threading"]["http-client-threads"], 0)


class ListenerProcessOptionTests(SynchronousTestCase):
    """C{--listener-process} and C{--pin}: parsed, and the key only on ours with a Kea partner."""

    def test_parsed(self):
        """Both are off unless asked for."""
        a = run.parse_args([])
        self.assertEqual((a.listener_process, a.pin), (False, False))
        a = run.parse_args(["--listener-process", "--pin"])
        self.assertEqual((a.listener_process, a.pin), (True, True))

    def test_key_on_ours_with_kea(self):
        """Only a server of ours paired with Kea gets listener-process."""
        from bench.scenarios import ours_extensions

        self.assertEqual(ours_extensions("ours", ("kea", "ours"), True),
                         {"listener-process": True})
        self.assertEqual(ours_extensions("ours", ("ours", "kea"), True),
                         {"listener-process": True})
        self.assertEqual(ours_extensions("kea", ("kea", "ours"), True), {})
        self.assertEqual(ours_extensions("ours", ("ours", "ours"), True), {})
        self.assertEqual(ours_extensions("ours", ("kea", "ours"), False), {})


class PlotWarningTests(SynchronousTestCase):
    """The bench says before a run, not after it, that it cannot draw the plot."""

    def test_matplotlib_missing(self):
        """Without matplotlib the warning names the file and both ways to get it."""
        warning = run.plot_warning(find_spec=lambda name: None)
        self.assertIn("rate_drops.png", warning)
        self.assertIn("pip install -r bench/requirements.txt", warning)
        self.assertIn("bench/report.py", warning)

    def test_matplotlib_present(self):
        """With matplotlib there is nothing to say."""
        self.assertIsNone(run.plot_warning(find_spec=lambda name: object()))

    def test_asks_for_matplotlib(self):
        """It looks for the matplotlib package, the one report.plot imports."""
        asked = []
        run.plot_warning(find_spec=lambda name: asked.append(name) or object())
        self.assertEqual(asked, ["matplotlib"])
