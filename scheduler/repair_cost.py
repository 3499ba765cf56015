"""What a repair cost, measured against the plan it repaired: MW and deployable GW lost per
category, units that were on time and now are not, operations moved; and the repaired plan's
own value, bound and gap, computed once from the repaired problem (the downtime included).
Kept apart from `scheduler.repair`, whose core the floor controller calls at run time."""
from __future__ import annotations

from dataclasses import dataclass, field

from plant.spec import FactorySpec, deployable_gw
from scheduler.capacity import problem_capacity_bound
from scheduler.delivery import mw_by_category
from scheduler.problem import Problem
from scheduler.repair import Downtime, RepairResult
from scheduler.result import gap
from scheduler.schedule import Schedule


@dataclass(frozen=True)
class RepairCost:
    mw_before: dict[str, float]
    mw_after: dict[str, float]
    gw_before: float
    gw_after: float
    late_units: list[str]  # on time in the original plan, late (or unfinished) in the repair
    moved: int
    unstarted: int
    value: float  # the repaired plan's delivered MW
    bound: float  # upper bound on the MW any plan of the repaired problem delivers
    bound_before: float  # the same bound without the downtime
    notices: list[str] = field(default_factory=list)

    @property
    def mw_lost(self) -> dict[str, float]:
        return {c: self.mw_before.get(c, 0.0) - self.mw_after.get(c, 0.0) for c in sorted(set(self.mw_before) | set(self.mw_after))}

    @property
    def gap(self) -> float | None:
        """How far below its bound the repaired plan delivers (scheduler.result.gap; MW is maximised)."""
        return gap("mw", self.value, self.bound)

    def summary(self) -> dict:
        r = lambda x: round(x, 6) + 0.0  # noqa: E731 (-0.0 reads badly in JSON)
        return {
            "mw_lost_by_category": {c: r(v) for c, v in self.mw_lost.items()},
            "mw_before_by_category": {c: r(v) for c, v in sorted(self.mw_before.items())},
            "mw_after_by_category": {c: r(v) for c, v in sorted(self.mw_after.items())},
            "gw_lost": r(self.gw_before - self.gw_after),
            "deployable_gw_before": r(self.gw_before),
            "deployable_gw_after": r(self.gw_after),
            "units_now_late": len(self.late_units),
            "late_units": self.late_units[:20],
            "moved": self.moved,
            "unstarted": self.unstarted,
            "value_mw": r(self.value),
            "bound_mw": r(self.bound),
            "gap": None if self.gap is None else r(self.gap),
            "bound_mw_without_downtime": r(self.bound_before),
        }


def outside_horizon(down: list[Downtime], horizon: int, now: int) -> dict[int, str]:
    """A notice for each downtime (by index) that cannot touch the plan: it starts at or after
    the horizon, or ends before the repair's `now`."""
    notices = {}
    for k, d in enumerate(down):
        if d.start >= horizon:
            notices[k] = (f"--down {d.cell}@{d.start / 3600:g}h starts at or after the plan's horizon ({horizon / 3600:g} h): it changes nothing")
        elif d.start + d.duration <= now:
            notices[k] = (f"--down {d.cell}@{d.start / 3600:g}h+{d.duration / 3600:g}h is over before the repair time ({now / 3600:g} h): it changes nothing")
    return notices


def repair_cost(spec: FactorySpec, problem: Problem, plan: Schedule, result: RepairResult) -> RepairCost:
    """The cost of `result` (a repair of `plan`, a plan for `problem`)."""
    repaired_problem = result.problem or problem
    before = mw_by_category(problem, plan)
    after = mw_by_category(repaired_problem, result.schedule)
    for cat in set(before) | set(after) | set(spec.target.mw):
        before.setdefault(cat, 0.0)
        after.setdefault(cat, 0.0)
    late_before = _late_units(problem, plan)
    late_after = _late_units(repaired_problem, result.schedule)
    return RepairCost(
        mw_before=before,
        mw_after=after,
        gw_before=deployable_gw(before, spec.target),
        gw_after=deployable_gw(after, spec.target),
        late_units=sorted(late_after - late_before),
        moved=result.moved,
        unstarted=result.unstarted,
        value=sum(after.values()),
        bound=sum(problem_capacity_bound(repaired_problem, None, spec).mw_by_category.values()),
        bound_before=sum(problem_capacity_bound(problem, None, spec).mw_by_category.values()),
    )


def repaired_schedule(result: RepairResult, cost: RepairCost) -> Schedule:
    """The repaired plan as a result of its own: its value and bound are the repair's, not the
    original's (and not left at zero)."""
    s = result.schedule
    return Schedule(s.assignments, s.horizon, s.status, "mw", cost.value, cost.bound, s.seconds,
                    {**s.kpis, "repair": cost.summary()}, s.name)


def _late_units(problem: Problem, schedule: Schedule) -> set[str]:
    """Units that do not finish by their due time (the horizon when they have none)."""
    end: dict[str, int] = {}
    placed: dict[str, int] = {}
    for a in schedule.assignments:
        end[a.job] = max(end.get(a.job, 0), a.end)
        placed[a.job] = placed.get(a.job, 0) + 1
    late = set()
    for job in problem.jobs:
        due = job.due if job.due is not None else problem.horizon
        if placed.get(job.id, 0) < len(job.tasks) or end.get(job.id, 0) > min(due, problem.horizon):
            late.add(job.id)
    return late
