"""Flexible job shops with a known optimal makespan, built backwards from a perfect plan.

Every machine is filled back to back over [0, C) with operations of random lengths; the
operations are then chained into jobs in time order (each next operation starts after the
previous one ends), and each gets extra machines at durations no shorter than the one it
used. The packed plan is feasible with makespan C, and C is also a lower bound: every
operation's shortest duration is the one it used, so the total shortest work is exactly
machines x C and M machines need at least C to do it. Hence the optimum is exactly C,
which lets a scheduler be judged at sizes no public benchmark reaches (100k operations).
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from scheduler.fjsplib import machine_id
from scheduler.problem import Cell, Job, Pool, Problem, Task


@dataclass
class KnownOptimum:
    problem: Problem
    optimum: int  # the makespan of the packed plan, proven optimal by the load bound


def generate_fjsp(
    operations: int,
    machines: int,
    *,
    job_length: int = 20,
    alternatives: int = 3,
    min_duration: int = 5,
    max_duration: int = 50,
    slowdown: float = 0.5,
    seed: int = 0,
) -> KnownOptimum:
    """About `operations` operations (exactly machines x per-machine count) on `machines`
    machines; jobs of at most `job_length` operations; each operation eligible on up to
    `alternatives` machines, the extra ones up to `slowdown` x slower."""
    if machines < 1 or operations < machines:
        raise ValueError(f"operations: need at least one per machine ({machines} machines), got {operations}")
    if not 1 <= min_duration <= max_duration:
        raise ValueError(f"min_duration/max_duration: need 1 <= {min_duration} <= {max_duration}")
    rng = random.Random(seed)
    per_machine = operations // machines
    mean = (min_duration + max_duration) // 2
    optimum = per_machine * mean
    # Each machine: `per_machine` lengths in [min, max] summing exactly to the optimum.
    placed: list[tuple[int, int, int]] = []  # (start, end, machine)
    for m in range(machines):
        lengths = _lengths_summing_to(rng, per_machine, optimum, min_duration, max_duration)
        start = 0
        for d in lengths:
            placed.append((start, start + d, m))
            start += d
    placed.sort()
    chains = _chain_in_time_order(rng, placed, job_length)

    cells = [Cell(machine_id(m + 1), m) for m in range(machines)]
    pools = [Pool(machine_id(m + 1), [m]) for m in range(machines)]
    jobs: list[Job] = []
    tasks: list[Task] = []
    for j, chain in enumerate(chains):
        job = Job(str(j))
        for o, k in enumerate(chain):
            start, end, m = placed[k]
            modes = {m: end - start}
            for other in rng.sample(range(machines), min(machines, alternatives + 1)):
                if len(modes) >= alternatives:
                    break
                modes.setdefault(other, int(round((end - start) * (1 + rng.random() * slowdown))))
            t = len(tasks)
            tasks.append(Task(j, str(o), _shuffled(rng, modes), [t - 1] if o else []))
            job.tasks.append(t)
        jobs.append(job)
    horizon = sum(max(d for _, d in t.modes) for t in tasks)
    return KnownOptimum(Problem(cells, pools, jobs, tasks, horizon, f"packed-{len(tasks)}x{machines}-s{seed}"), optimum)


def _lengths_summing_to(rng: random.Random, count: int, total: int, low: int, high: int) -> list[int]:
    lengths = [rng.randint(low, high) for _ in range(count)]
    # Nudge random entries until the sum is exact; the mean target keeps this short.
    diff = total - sum(lengths)
    while diff:
        i = rng.randrange(count)
        step = max(diff, low - lengths[i]) if diff < 0 else min(diff, high - lengths[i])
        lengths[i] += step
        diff -= step
    return lengths


def _chain_in_time_order(rng: random.Random, placed: list[tuple[int, int, int]], job_length: int) -> list[list[int]]:
    """Jobs as lists of indices into `placed` (sorted by start): each operation joins a random
    job whose last operation has ended by its start, or opens a new job."""
    chains: list[list[int]] = []
    pending: list[tuple[int, int]] = []  # (end of last operation, chain) not yet free to extend
    free: list[int] = []  # chains whose last operation has ended
    for k, (start, end, _) in enumerate(placed):
        while pending and pending[0][0] <= start:
            free.append(heapq.heappop(pending)[1])
        if free:
            i = rng.randrange(len(free))
            free[i], free[-1] = free[-1], free[i]
            c = free.pop()
        else:
            c = len(chains)
            chains.append([])
        chains[c].append(k)
        if len(chains[c]) < job_length:
            heapq.heappush(pending, (end, c))
    return chains


def _shuffled(rng: random.Random, modes: dict[int, int]) -> list[tuple[int, int]]:
    items = list(modes.items())
    rng.shuffle(items)
    return items
