"""Random small problems with every feature the validator checks, shared by the scale tests."""
from __future__ import annotations

import random

from scheduler.problem import Cell, Job, Pool, Problem, Task


def random_problem(seed: int, jobs: int = 6, pools: int = 3, horizon: int = 2_000) -> Problem:
    """Pools of 1-3 cells (some multi-slot, some with setups and windows), jobs with a random
    DAG of 1-5 tasks, flexible modes, job and task releases."""
    rng = random.Random(seed)
    cells: list[Cell] = []
    pool_list: list[Pool] = []
    for p in range(pools):
        capacity = rng.choice([1, 1, 1, 2, 3])
        setup = rng.choice([0, 0, 5, 20]) if capacity == 1 else 0
        windows = []
        if rng.random() < 0.4:
            start = rng.randrange(0, 200)
            while start < horizon:
                windows.append((start, min(horizon, start + rng.randrange(5, 40))))
                start += rng.randrange(80, 300)
        ids = []
        for k in range(rng.randint(1, 3)):
            ids.append(len(cells))
            cells.append(Cell(f"P{p}-{k}", p, capacity, setup, list(windows)))
        pool_list.append(Pool(f"P{p}", ids))
    job_list: list[Job] = []
    tasks: list[Task] = []
    for j in range(jobs):
        family = rng.choice("ABC")
        job = Job(f"J{j}", family=family, category=rng.choice(["compute", "power"]), mw=rng.choice([0.5, 1.0, 2.0]), release=rng.randrange(0, 100))
        first = len(tasks)
        for k in range(rng.randint(1, 5)):
            modes = [(p, rng.randrange(0, 60)) for p in rng.sample(range(pools), rng.randint(1, min(2, pools)))]
            preds = [first + i for i in range(k) if rng.random() < 0.5]
            job.tasks.append(len(tasks))
            tasks.append(Task(j, f"op{k}", modes, preds, release=rng.choice([0, 0, rng.randrange(0, 150)])))
        job_list.append(job)
    return Problem(cells, pool_list, job_list, tasks, horizon, name=f"random{seed}")


# A floor small enough to plan to optimality in a test: setups, a daily window, a 4-slot cell,
# and a capability two cell types share.
TINY_SPEC = """
name: tiny
target: {facility_gw: 0.001, mw: {compute: 0.5, power: 0.5}}
demand: {rack: 168, skid: 21}
products:
  - name: rack
    family: rack
    category: compute
    mw: 0.01
    routing:
      - {id: build, capability: build, duration: 30m}
      - {id: test, capability: test, duration: 2h, predecessors: [build]}
  - name: skid
    family: power
    category: power
    mw: 0.2
    routing:
      - {id: build, capability: build, duration: 2h}
      - {id: wire, capability: wire, duration: 3h, predecessors: [build]}
cell_types:
  - {name: builder, capabilities: {build: 1.0, wire: 1.5}, setup: 10m, unavailable: [{start: 6h, duration: 30m, every: 24h}]}
  - {name: tester, capabilities: {test: 1.0}, capacity: 4}
  - {name: wirer, capabilities: {wire: 1.0}}
cells:
  - {type: builder, count: 2}
  - {type: tester, count: 1}
  - {type: wirer, count: 1}
"""
