"""Job shops whose chains are critical, with a known optimum: every machine packed over [0, C),
the pieces chained into jobs in time order, never twice in a row on one machine (the shape of
the long Da Col-Teppan shops: as many jobs as machines, each chain 95-100% of C)."""
from __future__ import annotations

import heapq
import random

from scheduler.fjsplib import machine_id
from scheduler.problem import Cell, Job, Pool, Problem, Task


def long_chain_shop(machines: int, per_machine: int, optimum: int = 60_000, seed: int = 0) -> Problem:
    """A job shop with optimum exactly `optimum` (its load bound, and the packed plan meets it)."""
    rng = random.Random(seed)
    placed: list[tuple[int, int, int]] = []
    for m in range(machines):
        cuts = [0, *sorted(rng.sample(range(1, optimum), per_machine - 1)), optimum]
        placed.extend((s, e, m) for s, e in zip(cuts, cuts[1:]))
    placed.sort()
    chains: list[list[tuple[int, int, int]]] = []
    pending: list[tuple[int, int]] = []  # (end of its last piece, chain)
    free: list[int] = []
    for s, e, m in placed:
        while pending and pending[0][0] <= s:
            free.append(heapq.heappop(pending)[1])
        fits = [i for i, c in enumerate(free) if chains[c][-1][2] != m]
        if fits:
            c = free.pop(rng.choice(fits))
        else:
            c = len(chains)
            chains.append([])
        chains[c].append((s, e, m))
        heapq.heappush(pending, (e, c))
    cells = [Cell(machine_id(m + 1), m) for m in range(machines)]
    pools = [Pool(machine_id(m + 1), [m]) for m in range(machines)]
    jobs, tasks = [], []
    for j, chain in enumerate(chains):
        job = Job(str(j + 1))
        for o, (s, e, m) in enumerate(chain):
            job.tasks.append(len(tasks))
            tasks.append(Task(j, str(o + 1), [(m, e - s)], [len(tasks) - 1] if o else []))
        jobs.append(job)
    return Problem(cells, pools, jobs, tasks, 10 * optimum, f"long-chains-{machines}x{per_machine}-s{seed}")
