"""
From a run's trials to medians, the ratio table (ours / Kea) and the
rate-versus-drops plot.

    python3 bench/report.py bench/results/RUN/results.json

rewrites C{table.md} and C{rate_drops.png} next to it. Everything but
L{plot} is pure (and unit-tested in tests/test_bench_report.py).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from typing import Any

#: Targets of issue 5 (ratio ours / Kea): (metric, bound, "min"|"max").
RATE_TARGETS = {"single": 0.8, "hot-standby": 2.0, "load-balancing": 2.0,
                "passive-backup": 1.0}
MIXED_TARGET = 1.0
LATENCY_TARGET = 1.5
MODES = ("single", "hot-standby", "load-balancing", "passive-backup")


def median(values: list[float | None]) -> float | None:
    """Median of the values that are not None (None if there are none)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(ours: float | None, kea: float | None) -> float | None:
    """C{ours / kea}, or None when either is missing or Kea's is 0."""
    if ours is None or kea is None or kea == 0:
        return None
    return ours / kea


def summarize_round(search: dict, latency_trial: dict | None,
                    same_load_trial: dict | None = None) -> dict:
    """
    One scenario in one round: the search's best rate and the ACK rate
    reached there, latency and CPU from the half-rate run, peak RSS over
    all its trials (largest process), and the latency at Kea's half rate
    of the same mode and round (C{same_*}; None for Kea itself).
    """
    trials = search.get("trials", [])
    best = search.get("best", 0)
    at_best = [t for t in trials if t.get("rate") == best]
    hwm = [max(t["hwm_kib"].values()) for t in trials if t.get("hwm_kib")]
    out = {
        "max_rate": best,
        "ack_rate_at_max": at_best[-1]["ack_rate"] if at_best else None,
        "capped": search.get("capped", False),
        "peak_rss_mib": round(max(hwm) / 1024, 1) if hwm else None,
        "cpu_per_1000": None, "ra_median_ms": None, "ra_p99_ms": None,
        "do_median_ms": None, "do_p99_ms": None, "half_rate": None, "half_loss": None,
    }
    for key in ("rate", "loss", "ra_median_ms", "ra_p99_ms"):
        out[f"same_{key}"] = same_load_trial.get(key) if same_load_trial else None
    if latency_trial:
        out["half_rate"] = latency_trial.get("rate")
        out["half_loss"] = latency_trial.get("loss")
        for key in ("cpu_per_1000", "ra_median_ms", "ra_p99_ms", "do_median_ms", "do_p99_ms"):
            out[key] = latency_trial.get(key)
    return out


def combine_rounds(rounds: list[dict]) -> dict:
    """The median of each metric over the rounds (and the per-round values)."""
    keys = ("max_rate", "ack_rate_at_max", "peak_rss_mib", "cpu_per_1000", "ra_median_ms",
            "ra_p99_ms", "do_median_ms", "do_p99_ms", "half_rate", "same_rate",
            "same_ra_median_ms", "same_ra_p99_ms")
    out: dict[str, Any] = {k: median([r.get(k) for r in rounds]) for k in keys}
    out["rounds"] = len(rounds)
    out["max_rate_by_round"] = [r.get("max_rate") for r in rounds]
    out["capped"] = any(r.get("capped") for r in rounds)
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    """C{value} with C{digits} decimals, an em dash for None."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}"


def ratio_rows(summary: dict[str, dict]) -> list[dict]:
    """
    The ratio table: one row per mode with both Kea and ours measured
    (and one per mixed pair against Kea's pair), each metric as
    (ours, kea, ratio) plus whether the issue's targets hold.

    @param summary: scenario name (C{"single/kea"}, C{"hot-standby/ours+kea"})
        -> L{combine_rounds} output.
    """
    rows = []
    for mode in MODES:
        kea = summary.get(f"{mode}/kea")
        if kea is None:
            continue
        others = [(name.split("/", 1)[1], s) for name, s in sorted(summary.items())
                  if name.startswith(mode + "/") and name != f"{mode}/kea"]
        # ours first, then the mixed pairs
        others.sort(key=lambda item: (item[0] != "ours", item[0]))
        for impl, s in others:
            target = RATE_TARGETS[mode] if impl == "ours" else MIXED_TARGET
            rate_r = ratio(s.get("max_rate"), kea.get("max_rate"))
            lat_r = ratio(s.get("ra_median_ms"), kea.get("ra_median_ms"))
            rows.append({
                "mode": mode, "impl": impl,
                "rate": (s.get("max_rate"), kea.get("max_rate"), rate_r),
                "ra_median": (s.get("ra_median_ms"), kea.get("ra_median_ms"), lat_r),
                "ra_p99": (s.get("ra_p99_ms"), kea.get("ra_p99_ms"),
                           ratio(s.get("ra_p99_ms"), kea.get("ra_p99_ms"))),
                "cpu_per_1000": (s.get("cpu_per_1000"), kea.get("cpu_per_1000"),
                                 ratio(s.get("cpu_per_1000"), kea.get("cpu_per_1000"))),
                "peak_rss": (s.get("peak_rss_mib"), kea.get("peak_rss_mib"),
                             ratio(s.get("peak_rss_mib"), kea.get("peak_rss_mib"))),
                "same_load": (s.get("same_rate"), s.get("same_ra_median_ms"),
                              kea.get("ra_median_ms"),
                              ratio(s.get("same_ra_median_ms"), kea.get("ra_median_ms"))),
                "half_rates": (s.get("half_rate"), kea.get("half_rate")),
                "rate_target": target,
                "rate_ok": None if rate_r is None else rate_r >= target,
                "latency_ok": None if lat_r is None else lat_r <= LATENCY_TARGET,
                "capped": bool(s.get("capped") or kea.get("capped")),
            })
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The ratio table as Markdown (values: ours / Kea = ratio)."""
    head = ("| scenario | max DORA/s ours / Kea = ratio (target) | REQUEST→ACK median ms at half"
            " rate | p99 ms | CPU s per 1000 leases | peak RSS MiB |\n"
            "|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        name = r["mode"] if r["impl"] == "ours" else f"{r['mode']}, {r['impl']} vs Kea pair"
        rate = r["rate"]
        mark = {True: "met", False: "MISSED", None: "n/a"}[r["rate_ok"]]
        lat_mark = {True: "", False: " (over 1.5x)", None: ""}[r["latency_ok"]]
        cells = [
            f"{_fmt(rate[0], 0)} / {_fmt(rate[1], 0)} = **{_fmt(rate[2])}x** "
            f"(≥ {r['rate_target']}: {mark}){' capped' if r['capped'] else ''}",
        ]
        for key, digits in (("ra_median", 3), ("ra_p99", 2), ("cpu_per_1000", 3), ("peak_rss", 1)):
            o, k, x = r[key]
            cells.append(f"{_fmt(o, digits)} / {_fmt(k, digits)} = {_fmt(x)}x"
                         + (lat_mark if key == "ra_median" else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def same_load_table(rows: list[dict]) -> str:
    """
    Latency at equal load as Markdown: each implementation's REQUEST→ACK
    median at its own half rate next to its median at Kea's half rate of
    the same round (the offered rate Kea's own median was taken at).
    """
    head = ("| scenario | half rates ours / Kea (DORA/s) | REQUEST→ACK median ms at own half rate,"
            " ours / Kea | at Kea's half rate (same offered rate), ours / Kea = ratio |\n"
            "|---|---|---|---|\n")
    lines = []
    for r in rows:
        name = r["mode"] if r["impl"] == "ours" else f"{r['mode']}, {r['impl']} vs Kea pair"
        rate, same, kea, x = r.get("same_load", (None, None, None, None))
        own = r["ra_median"]
        halves = r.get("half_rates", (None, None))
        lines.append(
            f"| {name} | {_fmt(halves[0], 0)} / {_fmt(halves[1], 0)} | "
            f"{_fmt(own[0], 3)} / {_fmt(own[1], 3)} = {_fmt(own[2])}x | "
            f"{_fmt(same, 3)} / {_fmt(kea, 3)} = **{_fmt(x)}x** (at {_fmt(rate, 0)}/s) |")
    return head + "\n".join(lines) + "\n"


def extras_rows(extras: dict) -> list[tuple[str, str]]:
    """(measurement, text) for sync, start-up and LFC medians."""
    out = []
    sync = extras.get("sync", {})
    for name in ("kea<-kea", "ours<-ours", "ours<-kea", "kea<-ours"):
        v = sync.get(name)
        if v:
            out.append((f"sync {v.get('leases')} leases, {name}",
                        f"{_fmt(v.get('seconds'))} s"
                        + ("" if v.get("complete", True) else " (INCOMPLETE)")))
    k, o = sync.get("kea<-kea"), sync.get("ours<-ours")
    if k and o:
        out.append(("sync ratio ours<-ours / kea<-kea (target ≤ 1.0)",
                    f"{_fmt(ratio(o.get('seconds'), k.get('seconds')))}x"))
    k, o = sync.get("kea<-kea"), sync.get("ours<-kea")
    if k and o:
        out.append(("sync ratio ours<-kea / kea<-kea (target ≤ 1.0)",
                    f"{_fmt(ratio(o.get('seconds'), k.get('seconds')))}x"))
    for kind in ("kea", "ours"):
        v = extras.get("startup", {}).get(kind)
        if v:
            out.append((f"start-up with {v.get('leases')} leases, {kind}",
                        f"{_fmt(v.get('seconds'))} s to first OFFER, "
                        f"RSS {_fmt(v.get('rss_mib'), 0)}"
                        f" MiB (peak {_fmt(v.get('hwm_mib'), 0)} MiB)"))
    for kind in ("kea", "ours"):
        v = extras.get("lfc", {}).get(kind)
        if v:
            out.append((f"LFC of {v.get('rows')} rows, {kind}",
                        f"{_fmt(v.get('seconds'))} s, CPU {_fmt(v.get('cpu_s'))} s, peak RSS "
                        f"{_fmt(v.get('maxrss_mib'), 0)} MiB, exit {v.get('exit')}"))
    return out


def build_summary(results: dict) -> dict[str, dict]:
    """C{results["scenarios"][name]["rounds"]} -> name -> L{combine_rounds}."""
    out = {}
    for name, data in results.get("scenarios", {}).items():
        rounds = [summarize_round(r["search"], r.get("latency"), r.get("latency_same_load"))
                  for r in data.get("rounds", [])]
        if rounds:
            out[name] = combine_rounds(rounds)
    return out


def plot(results: dict, path: str) -> None:
    """
    Offered rate vs % lost, one panel per mode: every trial of every round
    as a point, and each implementation's median max rate as a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if any(n.startswith(m + "/") for n in results.get("scenarios", {}))]
    if not modes:
        return
    summary = build_summary(results)
    cols = min(2, len(modes))
    rows = (len(modes) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 4.6 * rows), squeeze=False)
    markers = "osD^vP"
    for ax, mode in zip(axes.flat, modes, strict=False):
        names = sorted(n for n in results["scenarios"] if n.startswith(mode + "/"))
        for k, name in enumerate(names):
            data = results["scenarios"][name]
            pts = [(t["rate"], t["loss"] * 100) for r in data.get("rounds", [])
                   for t in r["search"].get("trials", [])]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            impl = name.split("/", 1)[1]
            best = summary.get(name, {}).get("max_rate")
            line = ax.scatter(xs, ys, marker=markers[k % len(markers)], alpha=0.75,
                              label=f"{impl} (max {best:.0f}/s)" if best else impl)
            if best:
                ax.axvline(best, color=line.get_facecolor()[0], linestyle=":", linewidth=1.2)
        ax.axhline(2.5, color="grey", linestyle="--", linewidth=1)
        ax.set_title(mode)
        ax.set_xscale("log")
        ax.set_xlabel("offered DORA/s (perfdhcp -r)")
        ax.set_ylabel("% DISCOVERs without an ACK")
        ax.set_ylim(-3, 100)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    for ax in list(axes.flat)[len(modes):]:
        ax.set_visible(False)
    meta = results.get("meta", {})
    fig.suptitle(f"kea-ha-tw vs Kea 2.2, run {meta.get('run_id', '')}: {meta.get('cpu', '')}, "
                 f"nproc {meta.get('nproc', '')}, {meta.get('rounds', '')} rounds "
                 f"(dotted: median max rate at ≤ 2.5 % lost)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(results_path: str) -> str:
    """Write table.md (and rate_drops.png) next to C{results_path}; return the Markdown."""
    with open(results_path) as f:
        results = json.load(f)
    out_dir = os.path.dirname(results_path)
    summary = build_summary(results)
    rows = ratio_rows(summary)
    meta = results.get("meta", {})
    md = [f"# Bench run {meta.get('run_id', '')}\n",
          f"- command: `{meta.get('command', '')}`",
          f"- machine: {meta.get('cpu', '')}, nproc {meta.get('nproc', '')}, "
          f"load average before {meta.get('load_before')}, after {meta.get('load_after')}",
          f"- commit {meta.get('commit', '')}, {meta.get('kea_version', '')}, "
          f"Python {meta.get('python', '')}",
          f"- rounds {meta.get('rounds')}, perfdhcp period {meta.get('duration')} s, "
          f"loss threshold {meta.get('threshold')}"
          + (f", HA http-client-threads {meta['ha_client_threads']} on every server"
             if meta.get("ha_client_threads") else "")
          + (", HA listener-process on our servers with a Kea partner"
             if meta.get("listener_process") else "")
          + (", each server pinned to a CPU of its own" if meta.get("pin") else "") + "\n",
          "## Ratios (ours / Kea, medians over rounds)\n",
          markdown_table(rows),
          "## Latency at the same offered rate (medians)\n",
          same_load_table(rows),
          "## Every scenario (medians)\n",
          "| scenario | max DORA/s (by round) | median / p99 REQUEST→ACK ms | median / p99"
          " DISCOVER→OFFER ms | CPU s / 1000 leases | peak RSS MiB |",
          "|---|---|---|---|---|---|"]
    for name, s in sorted(summary.items()):
        by_round = ", ".join(str(x) for x in s["max_rate_by_round"])
        md.append(f"| {name} | {_fmt(s['max_rate'], 0)} ({by_round})"
                  f"{' capped' if s['capped'] else ''} | {_fmt(s['ra_median_ms'], 3)} / "
                  f"{_fmt(s['ra_p99_ms'], 2)} | {_fmt(s['do_median_ms'], 3)} / "
                  f"{_fmt(s['do_p99_ms'], 2)} | {_fmt(s['cpu_per_1000'], 3)} | "
                  f"{_fmt(s['peak_rss_mib'], 1)} |")
    errors = results.get("errors", [])
    extras = extras_rows(results.get("extras", {}))
    if extras:
        md += ["", "## Sync, start-up, LFC (medians)\n", "| measurement | result |", "|---|---|"]
        md += [f"| {a} | {b} |" for a, b in extras]
    if errors:
        md += ["", "## Errors\n"] + [f"- {e}" for e in errors]
    text = "\n".join(md) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    try:
        plot(results, os.path.join(out_dir, "rate_drops.png"))
    except ImportError:
        sys.stderr.write("matplotlib missing: pip install -r bench/requirements.txt\n")
    return text


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 bench/report.py RESULTS.json")
    sys.stdout.write(write_report(sys.argv[1]))
