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
_FIRST = 32  # the first piece of a kind's batch; pieces double up to what the batch has left


def stream_seed(seed: int, replication: int, source: str) -> np.random.SeedSequence:
    """The SeedSequence of one source in one replication. A name, not a position, picks the
    stream, so adding a cell elsewhere leaves this cell's numbers unchanged."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, zlib.crc32(source.encode())))


# SeedSequence's hash (numpy.random.bit_generator, after M. E. O'Neill's seed_seq): 32-bit words.
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_crcs: dict[str, int] = {}


class _Hash:
    """The running hash constant of SeedSequence's mixing, and its two steps."""

    def __init__(self) -> None:
        self.const = _INIT_A

    def mix_in(self, value):  # hashmix: works on Python ints and uint32 arrays alike
        value = value ^ self.const
        self.const = (self.const * _MULT_A) & _M32
        value = (value * self.const) & _M32
        return value ^ (value >> 16)


def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


def _words(n: int) -> list[int]:
    words = [n & _M32]
    while n > _M32:
        n >>= 32
        words.append(n & _M32)
    return words


class _Seeded(np.random.bit_generator.ISeedSequence):
    """What a SeedSequence gives a PCG64 (`generate_state(4, uint64)`), worked out beforehand."""

    __slots__ = ("_state",)

    def __init__(self, state: np.ndarray) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:
            raise ValueError("worked out for a PCG64 only (4 words of 64 bits)")
        return self._state


def pcg64_seeds(seed: int, replication: int, sources: list[str]) -> list[np.random.bit_generator.ISeedSequence]:
    """`stream_seed(seed, replication, source)` of every source, as a PCG64 reads it, worked out
    together: the sources share the seed and the replication, so the hash runs once up to the
    source's word and then on an array of them. The same 64-bit words as SeedSequence (checked
    in tests/sim/test_twin_observer.py); outside what this handles (a seed of more than 128
    bits, a negative one), SeedSequence itself."""
    if not 0 <= seed < 1 << 128 or not 0 <= replication < 1 << 32:
        return [stream_seed(seed, replication, source) for source in sources]
    run = _words(seed)
    entropy = run + [0] * (4 - len(run)) + [replication]  # then the source's CRC: one word
    h = _Hash()
    pool = [h.mix_in(entropy[i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = _mix(pool[dst], h.mix_in(pool[src]))
    for word in entropy[4:]:
        for dst in range(4):
            pool[dst] = _mix(pool[dst], h.mix_in(word))
    crc = np.array([_crcs.get(s) or _crcs.setdefault(s, zlib.crc32(s.encode())) for s in sources], dtype=np.uint64)
    lanes = [_mix(np.uint64(pool[dst]), h.mix_in(crc)) for dst in range(4)]  # uint64 holds the 32-bit words' products
    const, words = _INIT_B, []
    for i in range(8):  # generate_state: 8 words of 32 bits, read as 4 of 64 (little end first)
        value = lanes[i % 4] ^ np.uint64(const)
        const = (const * _MULT_B) & _M32
        value = (value * np.uint64(const)) & np.uint64(_M32)
        words.append(value ^ (value >> np.uint64(16)))
    state = np.empty((len(sources), 4), dtype=np.uint64)
    for k in range(4):
        state[:, k] = words[2 * k] | (words[2 * k + 1] << np.uint64(32))
    return [_Seeded(row) for row in state]


class Seeds:
    """The seeds of one replication's sources, by name (`stream_seed`). The sources the previous
    replication asked for (the same floor, as a rule) are worked out together when this one
    starts (`pcg64_seeds`: a SeedSequence each costs ~4 us, 2,000 sources a week); any other
    the usual way."""

    _last: list[str] = []  # what the previous replication asked for, in order

    def __init__(self, seed: int, replication: int) -> None:
        self.seed, self.replication = seed, replication
        known = list(Seeds._last)
        self._ready = dict(zip(known, pcg64_seeds(seed, replication, known))) if known else {}
        self._asked: list[str] = []
        Seeds._last = self._asked

    def __call__(self, source: str):
        self._asked.append(source)
        ready = self._ready.pop(source, None)
        return ready if ready is not None else stream_seed(self.seed, self.replication, source)


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
    kind: an iterator's `__next__`, one call into C per draw, set up when first asked for (most
    sources draw one or two kinds)."""

    __slots__ = ("_gen", "normal", "exponential", "uniform", "_gamma")
    _KINDS = {"normal": "standard_normal", "exponential": "standard_exponential", "uniform": "random"}

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self._gen = _Generator(seed)
        self._gamma: dict[float, Callable[[], float]] = {}

    def __getattr__(self, name: str) -> Callable[[], float]:
        """The first `normal`, `exponential` or `uniform` of this stream: set the slot up."""
        method = self._KINDS.get(name)
        if method is None:
            raise AttributeError(name)
        draw = self._gen.draws(getattr(self._gen.rng, method))
        setattr(self, name, draw)
        return draw

    def gamma(self, shape: float) -> float:
        """Gamma with mean 1 and the given shape (cv = 1/sqrt(shape))."""
        return self._gamma_draw(shape)()

    def _gamma_draw(self, shape: float) -> Callable[[], float]:
        draw = self._gamma.get(shape)
        if draw is None:
            gen = self._gen
            draw = self._gamma[shape] = gen.draws(partial(gen.rng.gamma, shape, 1.0 / shape))
        return draw

    def draw_of(self, shape: "Shape") -> Callable[[], float] | None:
        """`multiplier(shape)` as one call into C, to bind once where a source draws one shape
        again and again (a cell's repairs): the same draw of the same kind, so the values and
        their order are those of `multiplier`. None for a lognormal shape, whose exp(sigma z -
        sigma^2/2) takes Python arithmetic (inline it on `normal`, as Floor._work_time does)."""
        kind = shape.kind
        if kind == 1:
            return self.exponential
        if kind == 3:
            return self._gamma_draw(shape.gamma_shape)
        if kind == 0:
            return repeat(1.0).__next__
        return None

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
