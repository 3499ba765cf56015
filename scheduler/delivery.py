"""What a plan delivers: the MW per category of units whose every operation ends inside the
horizon (work still open at the horizon is next week's work in progress, worth nothing yet)."""
from __future__ import annotations

from scheduler.problem import Problem
from scheduler.schedule import Schedule


def finished_jobs(problem: Problem, schedule: Schedule) -> set[int]:
    """Indices of jobs whose operations are all scheduled and end by the horizon."""
    job_index = {job.id: j for j, job in enumerate(problem.jobs)}
    placed = [0] * len(problem.jobs)
    late = [False] * len(problem.jobs)
    for a in schedule.assignments:
        j = job_index.get(a.job)
        if j is None:
            continue
        placed[j] += 1
        if a.end > problem.horizon:
            late[j] = True
    return {j for j, job in enumerate(problem.jobs) if placed[j] == len(job.tasks) and job.tasks and not late[j]}


def mw_by_category(problem: Problem, schedule: Schedule) -> dict[str, float]:
    out: dict[str, float] = {}
    for job in problem.jobs:
        if job.category:
            out.setdefault(job.category, 0.0)
    for j in finished_jobs(problem, schedule):
        job = problem.jobs[j]
        out[job.category] = out.get(job.category, 0.0) + job.mw
    return out


def delivered_mw(problem: Problem, schedule: Schedule) -> float:
    return sum(mw_by_category(problem, schedule).values())


def mw_finished_between(problem: Problem, schedule: Schedule, start: int, end: int) -> dict[str, float]:
    """MW per category of units whose last operation ends in [start, end): a plan's output in
    one window, e.g. its second week, once the floor is full."""
    last_end: dict[str, int] = {}
    placed: dict[str, int] = {}
    for a in schedule.assignments:
        last_end[a.job] = max(last_end.get(a.job, 0), a.end)
        placed[a.job] = placed.get(a.job, 0) + 1
    out = {job.category: 0.0 for job in problem.jobs if job.category}
    for job in problem.jobs:
        if job.category and placed.get(job.id) == len(job.tasks) and start <= last_end[job.id] < end:
            out[job.category] += job.mw
    return out
