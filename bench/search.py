"""
The rate search (ISC's method for Kea's performance reports): the highest
offered rate at which at most 2.5 % of the exchanges are lost.

Pure: C{trial(rate) -> loss} is supplied by the caller (one perfdhcp run
against fresh servers). The search doubles from a start rate while the
loss stays within the threshold (halving instead when the start already
fails), then bisects between the best passing rate and the lowest failing
one until they are within C{precision} of each other. Every loop is
bounded by C{max_trials}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Callable

#: ISC's drop threshold for "max rate".
DEFAULT_THRESHOLD = 0.025


@dataclass
class Trial:
    """One measured point: offered rate and the fraction lost (0..1)."""

    rate: int
    loss: float

    def passed(self, threshold: float) -> bool:
        """Within the threshold (a NaN loss never passes)."""
        return not math.isnan(self.loss) and self.loss <= threshold


@dataclass
class SearchResult:
    """The outcome: best passing rate (0 if none), every trial in order."""

    best: int
    trials: list[Trial] = field(default_factory=list)
    capped: bool = False
    lowest_failing: int | None = None

    @property
    def points(self) -> list[tuple[int, float]]:
        """(rate, loss) of every trial, sorted by rate (for the plot)."""
        return sorted((t.rate, t.loss) for t in self.trials)


def round_rate(rate: float) -> int:
    """
    C{rate} rounded to two significant digits (5432 -> 5400, 987 -> 990),
    at least 1, so that repeated searches land on the same rates.
    """
    if rate < 1:
        return 1
    digits = int(math.floor(math.log10(rate)))
    step = 10 ** max(digits - 1, 0)
    return max(1, int(round(rate / step)) * step)


def _midpoint(good: int, bad: int) -> int | None:
    """A rounded rate strictly between C{good} and C{bad}, or None."""
    mid = round_rate(math.sqrt(good * bad) if good > 0 else bad / 2)
    if good < mid < bad:
        return mid
    mid = (good + bad) // 2
    return mid if good < mid < bad else None


def search_max_rate(trial: Callable[[int], float], *, start: int, max_rate: int,
                    threshold: float = DEFAULT_THRESHOLD, precision: float = 0.05,
                    max_trials: int = 12, min_rate: int = 10) -> SearchResult:
    """
    Search the highest rate whose loss is at most C{threshold}.

    @param trial: runs one measurement at the given rate, returns the
        loss fraction (0..1).
    @param start: the first rate tried.
    @param max_rate: never try above this; if it passes, the result is
        C{capped} (the server was not the limit within the range).
    @param precision: stop bisecting when (failing - passing) / passing
        is at most this.
    @param max_trials: hard bound on the number of trials.
    @param min_rate: do not go below this when the start fails.
    """
    if start < 1 or max_rate < 1 or max_trials < 1:
        raise ValueError("start, max_rate and max_trials must be positive")
    result = SearchResult(best=0)
    good: int | None = None
    bad: int | None = None
    rate = min(round_rate(start), max_rate)

    def run(r: int) -> bool:
        loss = float(trial(r))
        t = Trial(r, loss)
        result.trials.append(t)
        return t.passed(threshold)

    # Phase 1: bracket.
    while len(result.trials) < max_trials:
        if run(rate):
            good = rate
            if rate >= max_rate:
                result.capped = True
                break
            if bad is not None:
                break
            rate = min(round_rate(rate * 2), max_rate)
        else:
            bad = rate
            if good is not None:
                break
            if rate <= min_rate:
                break
            rate = max(round_rate(rate / 2), min_rate)
    # Phase 2: bisect.
    while (good is not None and bad is not None and len(result.trials) < max_trials
           and (bad - good) / good > precision):
        mid = _midpoint(good, bad)
        if mid is None:
            break
        if run(mid):
            good = mid
        else:
            bad = mid
    result.best = good or 0
    result.lowest_failing = bad
    return result
