#!/usr/bin/env python3
"""
The benchmark: real Kea 2.2 and ours, side by side, in the same run.

    sudo python3 bench/run.py --quick              # smoke run (minutes)
    sudo python3 bench/run.py --rounds 3           # the full run
    sudo python3 bench/run.py --scenarios single --rounds 3 --extras none

For every scenario (one server; hot-standby, load-balancing and
passive-backup pairs; mixed pairs ours+Kea), Kea first and then ours,
round after round, it searches the highest offered rate with at most
2.5 % of DISCOVERs not ending in an ACK (perfdhcp, 4-way, as a relay,
C{-g single}), then runs once more at half that rate with C{-x t} for the
median and 99th percentile latency and the CPU seconds per 1000 leases.
Each trial uses fresh servers with empty memfiles. Then: lease sync of
N leases from a partner, start-up with a big memfile, LFC on that file.

Everything runs in network namespaces named C{khb-*} (addresses inside
them only); every loop is bounded by trial counts, per-command timeouts
and C{--budget}; namespaces and processes are removed at the end, also
on Ctrl-C. Results: C{bench/results/RUN_ID/} (results.json, table.md,
rate_drops.png). Needs root, perfdhcp and kea-dhcp4 (Debian's kea-admin
and kea-dhcp4-server), matplotlib for the plot (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import extras, lab, report, scenarios, search  # noqa: E402

MODES = ("single", "hot-standby", "load-balancing", "passive-backup")
START_RATE = {"single": 4000, "hot-standby": 1000, "load-balancing": 1000,
              "passive-backup": 2000}
MAX_RATE = {"single": 40000, "hot-standby": 30000, "load-balancing": 30000,
            "passive-backup": 30000}
MIXED = (("hot-standby", ("ours", "kea")), ("hot-standby", ("kea", "ours")),
         ("load-balancing", ("ours", "kea")), ("load-balancing", ("kea", "ours")))
SYNC_PAIRS = (("kea", "kea"), ("ours", "ours"), ("kea", "ours"), ("ours", "kea"))


class BudgetExceededError(Exception):
    """The run's time budget is spent."""


def default_python(repo: str = lab.REPO) -> str:
    """
    The Python our server runs on by default: the repository's C{.venv}
    (Debian's optimised python3, see scripts/_python.sh) when it exists,
    else the Python running the bench.
    """
    venv = os.path.join(repo, ".venv", "bin", "python")
    return venv if os.access(venv, os.X_OK) else sys.executable


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 s periods, few trials, small sync/start-up files")
    p.add_argument("--rounds", type=int, default=None, help="repetitions (medians reported)")
    p.add_argument("--duration", type=float, default=None, help="perfdhcp period, s (10)")
    p.add_argument("--scenarios", default="single,hot-standby,load-balancing,passive-backup,mixed",
                   help="comma list of: single, hot-standby, load-balancing, passive-backup, "
                        "mixed, none")
    p.add_argument("--impls", default="kea,ours", help="kea, ours or both (order kept)")
    p.add_argument("--extras", default="sync,startup,lfc", help="sync, startup, lfc or none")
    p.add_argument("--kea-transport", default="best", choices=("best", "mt", "ca"),
                   help="how Kea peers talk: best per mode (baseline), mt (HA listener), "
                        "ca (kea-ctrl-agent)")
    p.add_argument("--ha-client-threads", type=int, default=0,
                   help="HA multi-threading http-client-threads of every server, Kea's "
                        "and ours (0: Kea's default, one per CPU); only where peers talk "
                        "over the HA listener (transport mt), as in Kea")
    p.add_argument("--listener-process", action="store_true",
                   help="HA key listener-process on our servers whose partner is Kea (the"
                        " mixed pairs): the HA listener in a process of its own")
    p.add_argument("--pin", action="store_true",
                   help="pin each server of a pair (with its threads and child processes)"
                        " to a CPU of its own, a stand-in for separate hosts; perfdhcp is"
                        " not pinned")
    p.add_argument("--max-trials", type=int, default=None, help="per search (10)")
    p.add_argument("--precision", type=float, default=None, help="bisection stop (0.05)")
    p.add_argument("--threshold", type=float, default=search.DEFAULT_THRESHOLD)
    p.add_argument("--start-rate", type=int, default=None, help="override per-mode start rate")
    p.add_argument("--sync-leases", type=int, default=None, help="(100000)")
    p.add_argument("--startup-leases", type=int, default=None, help="(1000000)")
    p.add_argument("--budget", type=float, default=None, help="overall time bound, s")
    p.add_argument("--nice", type=int, default=0,
                   help="scheduler priority of the whole run (its autogroup and every process"
                        " it starts); -10 on a machine shared with other work")
    p.add_argument("--python", default=default_python(),
                   help="Python that runs our server (default: the one scripts/install-deps"
                        " installed into, .venv/bin/python, else this one)")
    p.add_argument("--tree", default="HEAD",
                   help="git revision of ours to run, exported once at start (default HEAD; "
                        "'worktree' runs the working tree as it changes)")
    p.add_argument("--out", default=None, help="results directory")
    p.add_argument("--work", default="/tmp/khb-work", help="scratch directory")
    a = p.parse_args(argv)
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.duration = a.duration or (2.0 if q else 10.0)
    a.max_trials = a.max_trials or (4 if q else 10)
    a.precision = a.precision or (0.25 if q else 0.05)
    a.sync_leases = a.sync_leases or (10000 if q else 100000)
    a.startup_leases = a.startup_leases or (100000 if q else 1000000)
    a.budget = a.budget or (1200.0 if q else 4 * 3600.0)
    a.scenario_list = [s for s in a.scenarios.split(",") if s and s != "none"]
    a.impl_list = [s for s in a.impls.split(",") if s]
    a.extra_list = [s for s in a.extras.split(",") if s and s != "none"]
    for s in a.scenario_list:
        if s not in MODES and s != "mixed":
            p.error(f"unknown scenario {s!r}")
    for s in a.impl_list:
        if s not in ("kea", "ours"):
            p.error(f"unknown implementation {s!r}")
    for s in a.extra_list:
        if s not in ("sync", "startup", "lfc"):
            p.error(f"unknown extra {s!r}")
    if a.rounds < 1 or a.rounds > 20:
        p.error("--rounds must be 1..20")
    return a


def machine_meta(args: argparse.Namespace, run_id: str, argv: list[str]) -> dict:
    """Machine, versions and the exact command."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass

    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                                  cwd=lab.REPO).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "run_id": run_id, "command": "python3 bench/run.py " + shlex.join(argv),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "python": out(args.python, "-c", "import sys; print(sys.version.split()[0])")
        + " (" + args.python + ")", "kea_version": "Kea " + out("kea-dhcp4", "-v"),
        "commit": out("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(out("git", "status", "--porcelain", "--untracked-files=no", "kea_ha_tw")),
        "rounds": args.rounds, "duration": args.duration, "threshold": args.threshold,
        "max_trials": args.max_trials, "precision": args.precision, "nice": args.nice,
        "kea_transport": args.kea_transport, "ha_client_threads": args.ha_client_threads,
        "listener_process": args.listener_process, "pin": args.pin,
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def scenario_plan(args: argparse.Namespace) -> list[scenarios.Scenario]:
    """The scenarios of one round, in order: per mode Kea then ours, then mixed pairs."""
    plan = []
    for mode in MODES:
        if mode in args.scenario_list:
            for impl in args.impl_list:
                servers = (impl,) if mode == "single" else (impl, impl)
                plan.append(scenarios.scenario(mode, servers, args.kea_transport))
    if "mixed" in args.scenario_list:
        for mode, servers in MIXED:
            plan.append(scenarios.scenario(mode, servers, args.kea_transport))
    return plan


class Runner:
    """Holds the run's state; L{main} drives it."""

    def __init__(self, args: argparse.Namespace, bench: scenarios.Bench, results: dict,
                 save) -> None:
        self.args = args
        self.bench = bench
        self.results = results
        self.save = save
        self.deadline = time.monotonic() + args.budget
        self.broken: set[str] = set()
        self.failures: dict[str, int] = {}
        self.last_best: dict[str, int] = {}
        #: (mode, round) -> the half rate Kea's scenario was timed at.
        self.kea_half: dict[tuple[str, int], int] = {}

    def _check_budget(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceededError(f"time budget of {self.args.budget:.0f} s spent")

    def error(self, text: str) -> None:
        """Record and print an error (the run goes on)."""
        print(f"!! {text.splitlines()[0] if text else text}", flush=True)
        self.results["errors"].append(text[:4000])

    def scenario_round(self, sc: scenarios.Scenario, rnd: int) -> None:
        """One rate search plus the half-rate latency run."""
        if sc.name in self.broken:
            return
        args = self.args
        start = args.start_rate or self.last_best.get(sc.name) or START_RATE[sc.mode]
        trials: list[dict] = []

        def trial(rate: int) -> float:
            self._check_budget()
            t = self.bench.trial(sc, rate)
            t["round"] = rnd
            trials.append(t)
            return t["loss"]

        print(f"== round {rnd + 1}: {sc.name} (start {start}/s)", flush=True)
        try:
            found = search.search_max_rate(trial, start=start, max_rate=MAX_RATE[sc.mode],
                                           threshold=args.threshold, precision=args.precision,
                                           max_trials=args.max_trials)
        except scenarios.StartError as e:
            self.failures[sc.name] = self.failures.get(sc.name, 0) + 1
            if self.failures[sc.name] >= 2:
                self.broken.add(sc.name)
            self.error(f"{sc.name}: servers did not start: {e}")
            return
        latency = same_load = None
        if found.best > 0:
            self.last_best[sc.name] = found.best
            half = search.round_rate(found.best / 2)
            try:
                self._check_budget()
                latency = self.bench.trial(sc, half, timestamps=True)
                latency["round"] = rnd
            except scenarios.StartError as e:
                self.error(f"{sc.name}: latency run did not start: {e}")
            same_load = self._same_load_latency(sc, rnd, half, latency)
        entry = {"search": {"best": found.best, "capped": found.capped,
                            "lowest_failing": found.lowest_failing, "trials": trials},
                 "latency": latency, "latency_same_load": same_load}
        self.results["scenarios"].setdefault(sc.name, {"rounds": []})["rounds"].append(entry)
        print(f"   -> {sc.name}: max {found.best}/s"
              + (f", RA median {latency.get('ra_median_ms')} ms p99 {latency.get('ra_p99_ms')}"
                 f" ms, CPU/1000 {latency.get('cpu_per_1000')} s" if latency else ""), flush=True)
        self.save()

    def _same_load_latency(self, sc: scenarios.Scenario, rnd: int, half: int,
                           latency: dict | None) -> dict | None:
        """
        Kea's scenario records its half rate for this round; any other
        implementation of the same mode gets one more timed run at that
        same offered rate, so latency is also compared at equal load.
        """
        if sc.impl == "kea":
            if latency is not None:
                self.kea_half[(sc.mode, rnd)] = half
            return None
        rate = self.kea_half.get((sc.mode, rnd))
        if rate is None:
            return None
        if rate == half:
            return latency
        try:
            self._check_budget()
            same = self.bench.trial(sc, rate, timestamps=True)
        except scenarios.StartError as e:
            self.error(f"{sc.name}: same-load latency run did not start: {e}")
            return None
        same["round"] = rnd
        return same

    def extras_round(self, rnd: int) -> None:
        """Sync, start-up and LFC, once each per kind."""
        args = self.args
        raw = self.results.setdefault("extras_raw", {"sync": {}, "startup": {}, "lfc": {}})
        work = args.work
        if "sync" in args.extra_list:
            for source, target in SYNC_PAIRS:
                if source not in args.impl_list and target not in args.impl_list:
                    continue
                name = f"{target}<-{source}"
                self._check_budget()
                print(f"== round {rnd + 1}: sync {args.sync_leases} leases {name}", flush=True)
                try:
                    v = extras.sync(self.bench, source, target, args.sync_leases, work)
                except scenarios.StartError as e:
                    self.error(f"sync {name}: servers did not start: {e}")
                    continue
                print(f"   -> {v.get('seconds')} s, {v.get('target_leases')} leases on the "
                      f"target, answer {str(v.get('answer'))[:120]}", flush=True)
                raw["sync"].setdefault(name, []).append(v)
                self.save()
        if "startup" in args.extra_list:
            for kind in args.impl_list:
                self._check_budget()
                print(f"== round {rnd + 1}: start-up with {args.startup_leases} leases, {kind}",
                      flush=True)
                try:
                    v = extras.startup(self.bench, kind, args.startup_leases, work)
                except scenarios.StartError as e:
                    self.error(f"start-up {kind}: {e}")
                    continue
                print(f"   -> {v}", flush=True)
                raw["startup"].setdefault(kind, []).append(v)
                self.save()
        if "lfc" in args.extra_list:
            source = os.path.join(work, f"startup-{args.startup_leases}.csv")
            if not os.path.exists(source):
                extras.write_lease_file(source, args.startup_leases, extras.STARTUP_SUBNET,
                                        now=int(time.time()))
            for kind in args.impl_list:
                self._check_budget()
                print(f"== round {rnd + 1}: LFC on {args.startup_leases} leases, {kind}",
                      flush=True)
                v = extras.lfc(kind, source, work, python=args.python,
                               repo=self.bench.launcher.repo)
                print(f"   -> {v}", flush=True)
                raw["lfc"].setdefault(kind, []).append(v)
                self.save()
        self.results["extras"] = combine_extras(raw)


def combine_extras(raw: dict) -> dict:
    """Medians over rounds of each extra measurement (numbers only)."""
    out: dict = {}
    for group, by_name in raw.items():
        out[group] = {}
        for name, runs in by_name.items():
            merged: dict = {}
            for key in runs[0]:
                values = [r.get(key) for r in runs]
                if all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in values if v is not None):
                    merged[key] = report.median(values)
                elif key == "complete":
                    merged[key] = all(values)
                else:
                    merged[key] = values[-1]
            merged["runs"] = len(runs)
            out[group][name] = merged
    return out


def export_tree(revision: str, work: str) -> str:
    """
    The directory our server runs from: the working tree itself, or (the
    default) C{revision} exported once with C{git archive}, so that edits
    made while the bench runs do not change what it measures.
    """
    if revision == "worktree":
        return lab.REPO
    dest = os.path.join(work, "src")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    archive = subprocess.run(["git", "archive", revision, "kea_ha_tw", "twisted"], cwd=lab.REPO,
                             capture_output=True, timeout=60, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, timeout=60, check=True)
    return dest


def plot_warning(find_spec=importlib.util.find_spec) -> str | None:
    """
    The warning to print before a run when matplotlib is missing: the run
    still writes C{table.md}, and the plot can be redone afterwards with
    C{bench/report.py}, but an operator should know before a long run.
    """
    if find_spec("matplotlib") is not None:
        return None
    return ("bench/run.py: matplotlib is missing, so this run writes no rate_drops.png; "
            "pip install -r bench/requirements.txt, then redo it with "
            "python3 bench/report.py RESULTS.json")


def preflight(args: argparse.Namespace) -> None:
    """Root, tools, and no other bench running; warns when the plot cannot be drawn."""
    if os.geteuid() != 0:
        sys.exit("bench/run.py needs root (network namespaces, port 67): sudo python3 bench/run.py")
    for tool in ("ip", "perfdhcp", "kea-dhcp4", "kea-lfc", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/run.py: {tool} not found (Debian: kea-admin kea-dhcp4-server "
                     "kea-ctrl-agent curl iproute2)")
    if args.kea_transport == "ca" or "passive-backup" in args.scenario_list:
        if shutil.which("kea-ctrl-agent") is None:
            sys.exit("bench/run.py: kea-ctrl-agent not found")
    warning = plot_warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit code 0 when it completed (errors are in the report)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    preflight(args)
    autogroup = lab.set_priority(args.nice) if args.nice else "unchanged"
    run_id = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    out_dir = args.out or os.path.join(lab.REPO, "bench", "results", run_id)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    results: dict = {"meta": machine_meta(args, run_id, argv), "scenarios": {}, "extras": {},
                     "errors": []}
    results["meta"]["autogroup"] = autogroup
    results_path = os.path.join(out_dir, "results.json")

    def save() -> None:
        tmp = results_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, default=_json_default)
        os.replace(tmp, results_path)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    ns = lab.Namespaces()
    launcher = lab.Launcher(python=args.python, repo=export_tree(args.tree, args.work))
    results["meta"]["tree"] = args.tree
    results["meta"]["ours_from"] = launcher.repo
    bench = scenarios.Bench(os.path.join(args.work, "runs"), ns, launcher,
                            duration=args.duration, client_threads=args.ha_client_threads,
                            listener_process=args.listener_process, pin=args.pin)
    runner = Runner(args, bench, results, save)
    code = 0
    print(f"bench run {run_id}: results in {out_dir}", flush=True)
    try:
        for rnd in range(args.rounds):
            for sc in scenario_plan(args):
                runner.scenario_round(sc, rnd)
            if args.extra_list:
                runner.extras_round(rnd)
    except BudgetExceededError as e:
        runner.error(str(e))
        code = 1
    except KeyboardInterrupt as e:
        runner.error(f"interrupted ({e})")
        code = 130
    finally:
        launcher.stop_all()
        ns.cleanup()
        for s, h in old.items():
            signal.signal(s, h)
        results["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        save()
    print(report.write_report(results_path))
    return code


def _json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
