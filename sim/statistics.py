"""Output analysis: warm-up cuts (Welch's method on output, MSER-5 on WIP), t confidence
intervals across replications, and Roser's active-period bottleneck."""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean across replications with its 95% t confidence interval."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high

    def to_dict(self, digits: int = 6) -> dict:
        return {"mean": round(self.mean, digits), "ci_low": round(self.ci_low, digits), "ci_high": round(self.ci_high, digits)}


def t_interval(values, confidence: float = 0.95) -> Interval:
    """Replication means are independent, so the t interval is valid (never build it from the
    autocorrelated observations inside one run: it is far too narrow)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, -math.inf, math.inf, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size))


def welch_warmup(series: np.ndarray, max_share: float = 0.5) -> tuple[int, bool]:
    """Welch's method on per-bin output [replication, bin]: average across replications, smooth
    with a centred moving average (shrinking at the start), and cut where the curve enters the
    band around its level over the second half of the run and stays there for a while.
    Returns (bins to delete, whether no cut was found in the first `max_share` of the run,
    i.e. the run is too short to show a steady state)."""
    mean = np.asarray(series, dtype=float).mean(axis=0)
    n = mean.size
    if n < 8:
        return 0, False
    window = max(1, n // 40)
    smooth = np.array([mean[i - min(i, window): i + min(i, window) + 1].mean() for i in range(n)])
    tail = smooth[n // 2:]
    level = float(tail.mean())
    band = max(3.0 * float(tail.std()), 0.05 * abs(level), 1e-12)
    inside = np.abs(smooth - level) <= band
    stay = max(3, n // 20)
    cap = int(n * max_share)
    for i in range(cap):
        if inside[i: i + stay].all():
            return i, False
    return cap, True


def mser_warmup(series: np.ndarray, batch: int = 5, max_share: float = 0.5) -> tuple[int, bool]:
    """MSER-5 (White 1997; White, Cobb & Spratt 2000) on per-bin values [replication, bin]:
    average across replications, form batch means of `batch` bins, and delete the d batches
    that minimise the squared standard error of what is left, sum_{i>=d} (b_i - mean_d)^2 /
    (n - d)^2, searching the first `max_share` of the run. A filling queue shows as a rising
    level that the remaining mean must not include, so the minimum lies past it.
    Returns (bins to delete, whether the minimum sits at the end of the search: no steady
    state in sight, run longer)."""
    mean = np.asarray(series, dtype=float)
    if mean.ndim == 2:
        mean = mean.mean(axis=0)
    n = mean.size // batch
    if n < 4:
        return 0, False
    b = mean[: n * batch].reshape(n, batch).mean(axis=1)
    # Suffix sums give every candidate's statistic in one pass.
    s1 = np.cumsum(b[::-1])[::-1]
    s2 = np.cumsum((b * b)[::-1])[::-1]
    k = n - np.arange(n)
    stat = np.maximum(s2 - s1 * s1 / k, 0.0) / (k * k)
    cap = max(1, int(n * max_share))
    d = int(np.argmin(stat[: cap + 1]))
    return d * batch, d >= cap


def momentary_bottleneck(active: list[tuple[int, float, float]], n_stations: int, start: float, end: float) -> np.ndarray:
    """Share of [start, end) each station is the momentary bottleneck (Roser, Nakano & Tanaka
    2002): at any instant, the station whose current uninterrupted active period is the longest.
    A station is active when none of its cells waits (all busy, changing over or down)."""
    share = np.zeros(n_stations)
    span = end - start
    if span <= 0:
        return share
    periods = sorted((max(s, start), min(e, end), st, e - s) for st, s, e in active if e > start and s < end and e > s)
    bounds = sorted({p[0] for p in periods} | {p[1] for p in periods})
    heap: list[tuple[float, float, int]] = []
    i = 0
    for t0, t1 in zip(bounds, bounds[1:]):
        while i < len(periods) and periods[i][0] <= t0:
            s, e, st, length = periods[i]
            heapq.heappush(heap, (-length, e, st))
            i += 1
        while heap and heap[0][1] <= t0:
            heapq.heappop(heap)
        if heap:
            share[heap[0][2]] += t1 - t0
    return share / span
