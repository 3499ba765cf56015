"""Plans that are promises: plan for the availability the floor will really have.

A cell type that fails every MTTF of work and takes MTTR to repair finishes w seconds of work
in w (1 + MTTR/MTTF) = w / A on average (preemptive resume, A = MTTF / (MTTF + MTTR); the
same mean holds for wall-clock failures). Planning every operation at its derated duration
reserves that repair time as slack inside the plan, spread over every cell in proportion to
its work, so the plan's MW is what the floor can deliver on average rather than on its best
day. The twin executes the plan at the cells' real speed: an operation that runs without a
failure finishes early and the controller lets the next one start when it is ready.

What is not derated: work carried in running at the cut (its remaining time is measured, not
planned), yield losses and rework (the spec's first-pass yields; they add visits, not time per
visit), and variability around the mean (a plan at the mean is met about half the time per
cell; the floor's pooling and the controller's look-ahead absorb part of it).
"""
from __future__ import annotations

import math
from dataclasses import replace

from plant.spec import FactorySpec
from scheduler.problem import Problem


def pool_availability(problem: Problem, spec: FactorySpec) -> list[float]:
    """A = MTTF / (MTTF + MTTR) of each pool's cell type (1 for a type that does not fail)."""
    by_name = {t.name: t for t in spec.cell_types}
    return [by_name[p.name].availability if p.name in by_name else 1.0 for p in problem.pools]


def derate(problem: Problem, spec: FactorySpec, keep: set[int] | frozenset[int] = frozenset()) -> Problem:
    """The problem with every task's durations divided by its pool's availability (rounded up to
    whole seconds); tasks in `keep` (work pinned where it runs) are left as they are."""
    share = pool_availability(problem, spec)
    tasks = [task if t in keep else replace(task, modes=[(pool, int(math.ceil(d / share[pool] - 1e-9))) for pool, d in task.modes])
             for t, task in enumerate(problem.tasks)]
    return replace(problem, tasks=tasks, name=f"{problem.name}@availability")


def nominal_mw_by_category(spec: FactorySpec, horizon: int, demand_hours: float, mode: str) -> dict[str, float]:
    """The other planned figure: MW per category the same horizon delivers at nominal durations
    (full availability), planned by the list scheduler. Next to an availability plan's own MW it
    shows how much of the nominal promise the failures are expected to take."""
    from scheduler.carryin import plan_around
    from scheduler.construct import list_schedule
    from scheduler.delivery import mw_by_category
    from scheduler.steady import horizon_problem

    carried, problem = horizon_problem(spec, horizon, demand_hours, mode)
    schedule = list_schedule(problem) if carried is None else plan_around(carried, list_schedule)
    return mw_by_category(problem, schedule)
