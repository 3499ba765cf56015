"""Where each unit of a plan stands: finished inside the horizon, late against its due date,
or still open (operations not planned, or ending after the horizon)."""
from __future__ import annotations

from dataclasses import dataclass

from scheduler.problem import Problem
from scheduler.schedule import Schedule


@dataclass(frozen=True)
class UnitStatus:
    job: int  # index into problem.jobs
    id: str
    product: str
    category: str
    mw: float
    release: int
    due: int | None
    planned_ops: int
    total_ops: int
    finish: int | None  # end of its last operation, when every operation is planned

    def is_open(self, horizon: int) -> bool:
        return self.finish is None or self.finish > horizon

    @property
    def lateness_s(self) -> int:
        """Seconds past the due date (0 when on time, unplanned or without a due date)."""
        if self.due is None or self.finish is None:
            return 0
        return max(0, self.finish - self.due)

    def state(self, horizon: int) -> str:
        if self.is_open(horizon):
            return "open"
        return "late" if self.lateness_s > 0 else "done"


def unit_statuses(problem: Problem, schedule: Schedule) -> list[UnitStatus]:
    placed: dict[str, int] = {}
    last: dict[str, int] = {}
    for a in schedule.assignments:
        placed[a.job] = placed.get(a.job, 0) + 1
        last[a.job] = max(last.get(a.job, 0), a.end)
    out = []
    for j, job in enumerate(problem.jobs):
        n = placed.get(job.id, 0)
        finish = last[job.id] if job.tasks and n == len(job.tasks) else None
        out.append(UnitStatus(j, job.id, job.product, job.category, job.mw, job.release, job.due, n, len(job.tasks), finish))
    return out
