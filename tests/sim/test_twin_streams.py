"""Random streams draw the numbers the twin has always drawn: each kind in batches of 512 from
the source's own PCG64, seeded by SeedSequence(seed, (replication, crc32(name))), however the
draws and the seeds are worked out now (batches in pieces, seeds for many sources at once)."""
import math
import random

import numpy as np
import pytest

from sim.streams import Seeds, Shape, Stream, pcg64_seeds, stream_seed


class _WholeBatches:
    """Each kind drawn 512 at a time when its previous batch is used up (the former sim.streams.Stream)."""

    def __init__(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.left = {}

    def draw(self, kind):
        values = self.left.get(kind)
        if not values:
            if kind == "normal":
                values = self.rng.standard_normal(512).tolist()
            elif kind == "exponential":
                values = self.rng.standard_exponential(512).tolist()
            elif kind == "uniform":
                values = self.rng.random(512).tolist()
            else:
                values = self.rng.gamma(kind, 1.0 / kind, 512).tolist()
            self.left[kind] = values = values[::-1]
        return values.pop()


@pytest.mark.parametrize("seed", range(8))
def test_a_stream_draws_what_whole_batches_of_each_kind_draw(seed):
    # A batch is drawn in pieces, as needed, and finished first when another kind needs the
    # generator: every kind's values, in order, are those of 512-batches drawn when needed.
    rng = random.Random(seed)
    kinds = ["normal", "exponential", "uniform", 4.0, 0.7]
    weights = [rng.random() ** 3 for _ in kinds]  # mostly one or two kinds, as sources are
    stream, whole = Stream(stream_seed(seed, 1, "times/x")), _WholeBatches(stream_seed(seed, 1, "times/x"))
    for _ in range(rng.choice((40, 700, 3000))):
        kind = rng.choices(kinds, weights)[0]
        got = stream.gamma(kind) if isinstance(kind, float) else getattr(stream, kind)()
        assert got == whole.draw(kind), kind


def test_multiplier_and_scaled_draw_their_shape():
    seed = stream_seed(5, 2, "failures/x")
    stream, whole = Stream(seed), _WholeBatches(stream_seed(5, 2, "failures/x"))
    assert stream.multiplier(Shape(0)) == 1.0
    assert stream.multiplier(Shape(1)) == whole.draw("exponential")
    assert stream.multiplier(Shape(3, gamma_shape=4.0)) == whole.draw(4.0)
    assert stream.multiplier(Shape(2, sigma=0.5)) == math.exp(0.5 * whole.draw("normal") - 0.125)
    assert stream.scaled(60.0, 0.5, "gamma") == 60.0 * whole.draw(4.0)
    assert stream.scaled(0.0, 0.5) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**40 + 3, 2**100, 2**128 - 1, 2**128 + 5])
def test_seeds_worked_out_together_are_seed_sequences(seed):
    rng = random.Random(seed)
    names = ["yield", "transport", "times/mech-cell-001", "times/burn-in-bay-01/24"] + [f"x{rng.random()}" for _ in range(30)]
    for replication in (0, 3, 2**31):
        for name, fast in zip(names, pcg64_seeds(seed, replication, names)):
            assert np.random.PCG64(fast).state == np.random.PCG64(stream_seed(seed, replication, name)).state


def test_a_replication_seeds_every_source_as_stream_seed_whatever_the_previous_asked():
    first = Seeds(4, 0)
    assert [np.random.PCG64(first(n)).state for n in ("a", "b")] == [np.random.PCG64(stream_seed(4, 0, n)).state for n in ("a", "b")]
    second = Seeds(4, 1)  # worked out ahead: a, b (what the first asked); c the usual way; a asked twice
    names = ("b", "c", "a", "a")
    assert [np.random.PCG64(second(n)).state for n in names] == [np.random.PCG64(stream_seed(4, 1, n)).state for n in names]


@pytest.mark.parametrize("seed", range(6))
def test_a_shapes_bound_draw_draws_what_its_multiplier_draws(seed):
    # Stream.draw_of(shape), bound once (a cell's repairs), then drawn among the stream's other
    # kinds, gives the values multiplier(shape) gives in the same place of the same sequence.
    rng = random.Random(seed)
    shapes = [Shape.of("gamma", 0.5), Shape.of("gamma", 1.0), Shape.of("gamma", 0.0), Shape.of("gamma", 1.3)]
    bound, plain = Stream(stream_seed(seed, 0, "failures/x")), Stream(stream_seed(seed, 0, "failures/x"))
    draws = [bound.draw_of(shape) for shape in shapes]  # bound before any draw: nothing drawn yet
    assert bound.draw_of(Shape.of("lognormal", 0.3)) is None  # exp(sigma z - s^2/2) stays Python arithmetic
    for _ in range(rng.choice((50, 900, 2500))):
        k = rng.randrange(len(shapes) + 1)
        if k == len(shapes):
            assert bound.uniform() == plain.uniform()
        else:
            assert draws[k]() == plain.multiplier(shapes[k]), shapes[k].kind
