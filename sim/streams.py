"""Random streams: one numpy generator per stochastic source (each cell's times, each cell's
failures, transport, yield, arrivals), keyed by the source's name, so two scenarios that
differ in one place draw the same numbers everywhere else (common random numbers)."""
from __future__ import annotations

import math
import zlib
from functools import partial
from itertools import chain
from typing import Callable

import numpy as np

from plant.spec import Variability

_BATCH = 512  # numpy draws one at a time cost ~1 us each; a batch amortises the call
_FIRST = 32  # the first piece of a kind's batch; pieces double up to what the batch has left


def stream_seed(seed: int, replication: int, source: str) -> np.random.SeedSequence:
    """The SeedSequence of one source in one replication. A name, not a position, picks the
    stream, so adding a cell elsewhere leaves this cell's numbers unchanged."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, zlib.crc32(source.encode())))


class _Kind:
    """One kind of draw of a stream (normal, exponential, uniform, gamma of one shape)."""

    __slots__ = ("batch", "piece", "pending")

    def __init__(self, batch: Callable[[int], np.ndarray]) -> None:
        self.batch = batch  # n -> n draws of this kind from the stream's generator
        self.piece = _FIRST
        self.pending: list[float] = []  # the rest of its batch, drawn when another kind needed the generator


class _Generator:
    """A source's generator and which kind's batch is partly drawn from it. (Apart from the
    Stream, so the draw iterators that refer to it make no reference cycle with the Stream.)"""

    __slots__ = ("rng", "open", "owed")

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.open: _Kind | None = None  # the kind whose batch is partly drawn
        self.owed = 0  # draws of the open kind's batch not drawn yet

    def draws(self, batch: Callable[[int], np.ndarray]) -> Callable[[], float]:
        """One draw of a kind at a time: an iterator's `__next__`, one call into C per draw."""
        return chain.from_iterable(iter(partial(self.piece, _Kind(batch)), None)).__next__

    def piece(self, kind: _Kind) -> list[float]:
        """The next values of `kind`, when the previous ones are used up."""
        if kind.pending:
            out, kind.pending = kind.pending, []
            return out
        if self.open is not kind:
            self.close()
            self.open, self.owed = kind, _BATCH
            kind.piece = _FIRST
        n = min(kind.piece, self.owed)
        kind.piece *= 2
        self.owed -= n
        if not self.owed:
            self.open = None
        return kind.batch(n).tolist()

    def close(self) -> None:
        """Draw the rest of the open batch (another kind needs the generator now)."""
        kind = self.open
        if kind is not None:
            kind.pending = kind.batch(self.owed).tolist()
            self.open, self.owed = None, 0


class Stream:
    """Draws from one source's generator, as if each kind were drawn in batches of 512 when its
    previous batch is used up (the numbers every run of the twin has used). Most sources use few
    draws of a kind in a run (a cell's work times: ~75 a week; its repair times: ~15), so a batch
    is drawn in pieces, as they are needed: numpy fills an array one draw after another, so n
    draws then m more are the n + m draws of one call. Only when another kind of the same source
    needs the generator is the rest of the open batch drawn first, so each kind's values and
    their order stay those of whole batches.

    `normal()`, `exponential()` (mean 1) and `uniform()` are attributes holding the draw of each
    kind: an iterator's `__next__`, one call into C per draw."""

    __slots__ = ("_gen", "normal", "exponential", "uniform", "_gamma")

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._gen = gen = _Generator(seed)
        self.normal = gen.draws(gen.rng.standard_normal)
        self.exponential = gen.draws(gen.rng.standard_exponential)
        self.uniform = gen.draws(gen.rng.random)
        self._gamma: dict[float, Callable[[], float]] = {}

    def gamma(self, shape: float) -> float:
        """Gamma with mean 1 and the given shape (cv = 1/sqrt(shape))."""
        draw = self._gamma.get(shape)
        if draw is None:
            gen = self._gen
            draw = self._gamma[shape] = gen.draws(partial(gen.rng.gamma, shape, 1.0 / shape))
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
