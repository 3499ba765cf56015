"""Random streams: one numpy generator per stochastic source (each cell's times, each cell's
failures, transport, yield, arrivals), keyed by the source's name, so two scenarios that
differ in one place draw the same numbers everywhere else (common random numbers)."""
from __future__ import annotations

import math
import zlib
from functools import partial
from itertools import chain, repeat
from typing import Callable

import numpy as np

from plant.spec import Variability

_BATCH = 512  # numpy draws one at a time cost ~1 us each; a batch amortises the call


def stream_seed(seed: int, replication: int, source: str) -> np.random.SeedSequence:
    """The SeedSequence of one source in one replication. A name, not a position, picks the
    stream, so adding a cell elsewhere leaves this cell's numbers unchanged."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, zlib.crc32(source.encode())))


def _draws(batch: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """One value at a time from `batch(_BATCH)` arrays, drawn when the previous one is used up
    (not before: a source drawing several kinds from one generator gets them in the order it
    asks). Iterators all the way down, so a draw is one call into C, no Python frame."""
    return chain.from_iterable(map(np.ndarray.tolist, map(batch, repeat(_BATCH)))).__next__


class Stream:
    """Batched draws from one source's generator: `normal()`, `exponential()` (mean 1),
    `uniform()` are attributes holding the draw of each kind."""

    __slots__ = ("_rng", "normal", "exponential", "uniform", "_gamma")

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._rng = rng = np.random.Generator(np.random.PCG64(seed))
        self.normal = _draws(rng.standard_normal)
        self.exponential = _draws(rng.standard_exponential)
        self.uniform = _draws(rng.random)
        self._gamma: dict[float, Callable[[], float]] = {}

    def gamma(self, shape: float) -> float:
        """Gamma with mean 1 and the given shape (cv = 1/sqrt(shape))."""
        draw = self._gamma.get(shape)
        if draw is None:
            draw = self._gamma[shape] = _draws(partial(self._rng.gamma, shape, 1.0 / shape))
        return draw()

    def scaled(self, mean: float, cv: float, distribution: str = "lognormal") -> float:
        """One draw with the given mean and coefficient of variation."""
        if mean <= 0:
            return 0.0
        return mean * self.multiplier(Shape.of(distribution, cv))

    def multiplier(self, shape: "Shape") -> float:
        """A draw with mean 1 and the shape's spread, to multiply a nominal duration by."""
        kind = shape.kind
        if kind == 2:
            return math.exp(shape.sigma * self.normal() - shape.half_var)
        if kind == 1:
            return self.exponential()
        if kind == 0:
            return 1.0
        return self.gamma(shape.gamma_shape)


class Shape:
    """A distribution with mean 1, precomputed once per operation so a draw is a few flops."""

    __slots__ = ("kind", "sigma", "half_var", "gamma_shape")

    def __init__(self, kind: int, sigma: float = 0.0, gamma_shape: float = 0.0) -> None:
        self.kind = kind  # 0 deterministic, 1 exponential, 2 lognormal, 3 gamma
        self.sigma = sigma
        self.half_var = sigma * sigma / 2
        self.gamma_shape = gamma_shape

    @classmethod
    def of(cls, distribution: str, cv: float) -> "Shape":
        # An exponential time has cv 1 whatever the spec says; the others need cv > 0 to vary.
        if distribution == "exponential" or (distribution == "gamma" and cv == 1.0):
            return cls(1)
        if distribution == "deterministic" or cv <= 0:
            return cls(0)
        if distribution == "lognormal":
            return cls(2, sigma=math.sqrt(math.log1p(cv * cv)))
        return cls(3, gamma_shape=1.0 / (cv * cv))

    @classmethod
    def from_variability(cls, variability: Variability) -> "Shape":
        return cls.of(variability.distribution, variability.cv)
