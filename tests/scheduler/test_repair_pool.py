"""scheduler.repair_pool: one pool's repair when one of its cells stops. Moves stay in the pool,
never onto the stopped cell, never before a task may start, never onto work already projected
on a twin slot, and only when the twin starts the task sooner than the stopped cell could."""
from __future__ import annotations

import random

import pytest

from scheduler.repair import PoolCell, QueuedTask, repair_pool


def chain(cell_tasks, key0: int, ready0: int, duration: int) -> list[QueuedTask]:
    return [QueuedTask(key0 + k, ready0 + k * duration, ready0 + k * duration, duration) for k in range(cell_tasks)]


def test_a_stopped_cells_queue_goes_to_the_idle_twin_in_order():
    cells = [PoolCell(1, [0], chain(3, 0, 0, 100)), PoolCell(1, [0], [])]
    moves = repair_pool(cells, down=0, until=1000, now=0)
    assert [(k, c) for k, c, _ in moves] == [(0, 1), (1, 1), (2, 1)]
    starts = [s for _, _, s in moves]
    assert starts == [0, 100, 200]  # back to back on the twin, none before it may start


def test_a_short_stop_that_delays_nothing_moves_nothing():
    # The queue's first task is not ready before the stop ends.
    cells = [PoolCell(1, [0], [QueuedTask(0, 500, 500, 100)]), PoolCell(1, [0], [])]
    assert repair_pool(cells, down=0, until=400, now=0) == []


def test_nothing_moves_onto_a_twin_that_is_down_longer():
    cells = [PoolCell(1, [0], chain(2, 0, 0, 100)), PoolCell(1, [0], [], windows=[(0, 5000)])]
    assert repair_pool(cells, down=0, until=1000, now=0) == []


def test_a_changeover_counts_on_the_twin():
    cells = [PoolCell(1, [0], [QueuedTask(0, 0, 0, 100, "b")]), PoolCell(1, [0], [], setup=50, family="a")]
    [(key, cell, start)] = repair_pool(cells, down=0, until=1000, now=0)
    assert (key, cell, start) == (0, 1, 50)


@pytest.mark.parametrize("seed", range(8))
def test_random_pools_keep_capacity_and_only_move_what_the_stop_delays(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 5)
    cells, key = [], 0
    for _ in range(n):
        queue, at = [], 0
        for _ in range(rng.randint(0, 6)):
            at += rng.randint(0, 300)
            d = rng.randint(30, 300)
            queue.append(QueuedTask(key, at, at, d))
            key += 1
            at += d
        cells.append(PoolCell(1, [rng.randint(0, 200)], queue))
    down = rng.randrange(n)
    until = rng.randint(0, 3000)
    moves = repair_pool(cells, down=down, until=until, now=0)
    moved = {k: (c, s) for k, c, s in moves}
    own = {t.key for t in cells[down].queue}
    assert set(moved) <= own  # only the stopped cell's queue moves
    for k, (c, s) in moved.items():
        task = next(t for t in cells[down].queue if t.key == k)
        assert c != down and 0 <= c < n  # inside the pool, never onto the stopped cell
        assert s >= task.ready and s < max(until, task.ready) + sum(t.duration for t in cells[down].queue)
    # Capacity: on each twin (one slot), its own queue projected in order plus what moved there
    # never overlap. The projection of a one-slot cell without windows is start = max(ready, free).
    for c, cell in enumerate(cells):
        if c == down:
            continue
        busy, free = [], max(0, cell.free[0])
        busy.append((0, free))
        for t in cell.queue:
            start = max(t.ready, free)
            busy.append((start, start + t.duration))
            free = start + t.duration
        for k, (to, s) in moved.items():
            if to == c:
                d = next(t.duration for t in cells[down].queue if t.key == k)
                busy.append((s, s + d))
        busy.sort()
        for (s1, e1), (s2, e2) in zip(busy, busy[1:]):
            assert e1 <= s2, f"overlap on cell {c}: {(s1, e1)} and {(s2, e2)}"


def test_the_stopped_cell_must_be_in_the_pool():
    with pytest.raises(ValueError, match="down"):
        repair_pool([PoolCell(1, [0], [])], down=3, until=10, now=0)
