"""Random streams: one numpy generator per stochastic source (each cell's times, each cell's
failures, transport, yield, arrivals), keyed by the source's name, so two scenarios that
differ in one place draw the same numbers everywhere else (common random numbers)."""
from __future__ import annotations

import math
import zlib

import numpy as np

from plant.spec import Variability

_BATCH = 512  # numpy draws one at a time cost ~1 us each; a batch amortises the call


def stream_seed(seed: int, replication: int, source: str) -> np.random.SeedSequence:
    """The SeedSequence of one source in one replication. A name, not a position, picks the
    stream, so adding a cell elsewhere leaves this cell's numbers unchanged."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, zlib.crc32(source.encode())))


class Stream:
    """Batched draws from one source's generator."""

    __slots__ = ("_rng", "_normal", "_ni", "_expo", "_ei", "_unif", "_ui", "_gamma")

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._normal: list[float] = []
        self._ni = 0
        self._expo: list[float] = []
        self._ei = 0
        self._unif: list[float] = []
        self._ui = 0
        self._gamma: dict[float, tuple[list[float], list[int]]] = {}

    def normal(self) -> float:
        if self._ni >= len(self._normal):
            self._normal, self._ni = self._rng.standard_normal(_BATCH).tolist(), 0
        self._ni += 1
        return self._normal[self._ni - 1]

    def exponential(self) -> float:
        """Exponential with mean 1."""
        if self._ei >= len(self._expo):
            self._expo, self._ei = self._rng.standard_exponential(_BATCH).tolist(), 0
        self._ei += 1
        return self._expo[self._ei - 1]

    def uniform(self) -> float:
        if self._ui >= len(self._unif):
            self._unif, self._ui = self._rng.random(_BATCH).tolist(), 0
        self._ui += 1
        return self._unif[self._ui - 1]

    def gamma(self, shape: float) -> float:
        """Gamma with mean 1 and the given shape (cv = 1/sqrt(shape))."""
        entry = self._gamma.get(shape)
        if entry is None or entry[1][0] >= len(entry[0]):
            entry = (self._rng.gamma(shape, 1.0 / shape, _BATCH).tolist(), [0])
            self._gamma[shape] = entry
        entry[1][0] += 1
        return entry[0][entry[1][0] - 1]

    def scaled(self, mean: float, cv: float, distribution: str = "lognormal") -> float:
        """One draw with the given mean and coefficient of variation."""
        if mean <= 0:
            return 0.0
        return mean * self.multiplier(Shape.of(distribution, cv))

    def multiplier(self, shape: "Shape") -> float:
        """A draw with mean 1 and the shape's spread, to multiply a nominal duration by."""
        kind = shape.kind
        if kind == 0:
            return 1.0
        if kind == 1:
            return self.exponential()
        if kind == 2:
            return math.exp(shape.sigma * self.normal() - shape.half_var)
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
