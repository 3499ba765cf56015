"""Deadline search for shops whose job chains are critical: CP-SAT asked for any plan that ends by a
target makespan, every operation confined to its time window [head, target - tail - duration],
with the target raised from the lower bound only as far as needed.

Why: where chains are nearly as long as the optimum (the "long" Da Col-Teppan job shops: 1,000
jobs of ~100 operations, chains of 97-100% of the optimum, every machine loaded to exactly the
optimum) a plan at the bound leaves no cell idle and no chain waiting. Dispatching and serial
insertion decide one operation at a time from a priority; a wrong order in one place delays a
chain with no slack, that delays other cells, and so on (they end 40-75% above the optimum
there). Minimising the makespan with one CP-SAT model of 100k operations is no better (+83%):
the horizon leaves every start free over the whole plan. A target near the bound does the
opposite: each window is only as wide as its job's slack, so propagation along the chains and
on the cells (precedences, no-overlap) settles most operations before any search; measured, the
long 100k shop is solved at its bound by CP-SAT's presolve in seconds (docs/scheduling.md).

The search tries targets rising from the lower bound (TARGET_STEPS), each with a share of the
time; a target proven infeasible raises the lower bound, one that times out is skipped; after
the first plan found it bisects between the last failed target and that plan. Where chains have
slack the windows are wide and this finds nothing quickly, so the engine only calls it when the
measured shape says chains are critical (`critical_chains`).

Scope: cells that hold one job at a time and have no family setups (as the insertion builder);
unavailability windows are blocked-out time, releases and any precedence DAG are kept, and an
operation may have several eligible cells (one optional interval per cell).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from scheduler.bounds import Heads, heads_and_tails
from scheduler.insertion import applies, merged_windows
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

# The shape that calls for a deadline search: the median job chain (its longest path of shortest
# durations, release included) at least this share of the lower bound. The short Da Col-Teppan
# shops have chains under 1% of their bound, generated flexible shops about 20%, the long
# Da Col-Teppan shops 97-100%.
CRITICAL_CHAIN_SHARE = 0.5
# Targets tried in order, as shares above the lower bound, before bisecting. The first ones
# get most of the time: near the bound the windows are narrow and CP-SAT either decides the
# target quickly or not at all.
TARGET_STEPS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)
# Share of the time left that one target may use.
TARGET_SHARE = 0.5
# Bisection stops once the plan is within this share of the highest target that failed.
BISECT_TOLERANCE = 0.001
# Seconds per operation to build the model (measured ~45 us at 100k operations on a loaded
# machine): a target is only tried when the time left also leaves CP-SAT a second to solve.
BUILD_SECONDS_PER_OPERATION = 60e-6


@dataclass
class DeadlineResult:
    schedule: Schedule | None  # the best plan found (None: no target gave one)
    lower_bound: int  # the largest makespan proven impossible, plus one (0 if none)
    attempts: list[tuple[int, str, float]]  # (target, CP-SAT status, seconds) in order


def critical_chains(problem: Problem, bound: float, heads: Heads | None = None) -> bool:
    """Whether the median job's chain is at least CRITICAL_CHAIN_SHARE of `bound`, on floors the
    deadline model covers."""
    if not applies(problem) or bound <= 0 or not problem.jobs:
        return False
    heads = heads or heads_and_tails(problem)
    chains = sorted(max((heads.head[t] + heads.shortest[t] + heads.tail[t] for t in job.tasks), default=0) for job in problem.jobs)
    return chains[len(chains) // 2] >= CRITICAL_CHAIN_SHARE * bound


def deadline_search(problem: Problem, bound: float, seconds: float, *, upper: float | None = None, workers: int = 2, seed: int = 0) -> DeadlineResult:
    """Plans that end by targets rising from `bound` (only below `upper`, e.g. a plan already
    in hand), for up to `seconds`; the best one found and what was proven on the way."""
    began = time.perf_counter()
    deadline = began + seconds
    heads = heads_and_tails(problem)
    base = math.ceil(bound)
    ceiling = math.inf if upper is None else upper
    targets = sorted({max(base, math.ceil(base * (1 + step))) for step in TARGET_STEPS})
    best: Schedule | None = None
    proven = 0
    failed = base - 1  # highest target without a plan (known or assumed)
    attempts: list[tuple[int, str, float]] = []

    def attempt(target: int) -> str:
        nonlocal best, proven, failed
        left = deadline - time.perf_counter()
        t0 = time.perf_counter()
        status, found = plan_by_deadline(problem, target, TARGET_SHARE * left, heads=heads, workers=workers, seed=seed)
        attempts.append((target, status, time.perf_counter() - t0))
        if found is not None:
            if best is None or found.makespan < best.makespan:
                best = found
        else:
            failed = max(failed, target)
            if status == "INFEASIBLE":
                proven = max(proven, target + 1)
        return status

    def time_for_one() -> bool:
        return deadline - time.perf_counter() > 1.0 + BUILD_SECONDS_PER_OPERATION * problem.n_operations / TARGET_SHARE

    for target in targets:
        if target >= ceiling or not time_for_one():
            break
        if attempt(target) in ("OPTIMAL", "FEASIBLE"):
            break
    # Bisect between the highest failed target and the plan found.
    while best is not None and time_for_one():
        top = best.makespan
        if top - failed <= max(1, BISECT_TOLERANCE * base):
            break
        attempt((failed + top) // 2)
    return DeadlineResult(best, proven, attempts)


def plan_by_deadline(problem: Problem, target: int, seconds: float, *, heads: Heads | None = None, workers: int = 2, seed: int = 0) -> tuple[str, Schedule | None]:
    """(CP-SAT status, a plan ending by `target` or None): every operation inside its window
    [head, target - tail - duration] on an eligible cell, precedences and cells respected."""
    from ortools.sat.python import cp_model

    if not applies(problem):
        raise ValueError("plan_by_deadline: needs single-job cells without setups")
    began = time.perf_counter()
    heads = heads or heads_and_tails(problem)
    tasks, jobs, cells = problem.tasks, problem.jobs, problem.cells
    model = cp_model.CpModel()
    start_of, end_of = [], []
    # Per task: (cell, duration, presence literal or None when it has one eligible cell).
    chosen: list[list[tuple[int, int, object]]] = []
    on_cell: list[list[tuple[object, bool]]] = [[] for _ in cells]  # (interval, zero length)
    for t, task in enumerate(tasks):
        head, tail = heads.head[t], heads.tail[t]
        modes = [(c, d) for c, d in problem.cells_for(task) if head + d + tail <= target]
        if not modes:
            return "INFEASIBLE", None  # the chain through t alone is longer than the target
        start = model.NewIntVar(head, target - tail - min(d for _, d in modes), f"s{t}")
        end = model.NewIntVar(head + min(d for _, d in modes), target - tail, f"e{t}") if len(modes) > 1 else None
        start_of.append(start)
        options = []
        if end is None:
            c, d = modes[0]
            on_cell[c].append((model.NewFixedSizeIntervalVar(start, d, ""), d == 0))
            options.append((c, d, None))
        else:
            for c, d in modes:
                present = model.NewBoolVar("")
                on_cell[c].append((model.NewOptionalIntervalVar(start, d, end, present, ""), d == 0))
                options.append((c, d, present))
            model.AddExactlyOne(p for _, _, p in options)
        chosen.append(options)
        end_of.append(end)
        for p in task.predecessors:
            model.Add(start >= (end_of[p] if end_of[p] is not None else start_of[p] + chosen[p][0][1]))
    for c, cell in enumerate(cells):
        # Zero-length work may sit inside an unavailability window but not inside other work
        # (as scheduler.validate reads it), so it joins the windows' no-overlap only when it has length.
        blocked = [model.NewFixedSizeIntervalVar(s, e - s, "") for s, e in merged_windows(cell.unavailable)]
        work = [x for x, _ in on_cell[c]]
        if blocked and any(zero for _, zero in on_cell[c]):
            model.AddNoOverlap(work)
            model.AddNoOverlap([x for x, zero in on_cell[c] if not zero] + blocked)
        elif len(work) + len(blocked) > 1:
            model.AddNoOverlap(work + blocked)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, seconds - (time.perf_counter() - began))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    code = solver.Solve(model)
    status = solver.StatusName(code)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, None
    assignments = []
    for t, task in enumerate(tasks):
        c, d, _ = next(o for o in chosen[t] if o[2] is None or solver.BooleanValue(o[2]))
        s = solver.Value(start_of[t])
        assignments.append(Assignment(jobs[task.job].id, task.op, cells[c].id, s, s + d))
    schedule = Schedule(assignments, problem.horizon, status="heuristic", objective="makespan", name=f"{problem.name}/deadline{target}")
    schedule.value = float(schedule.makespan)
    schedule.seconds = time.perf_counter() - began
    schedule.kpis["builder"] = "deadlines"
    return status, schedule
