"""The three objectives a planner asks for, as CP-SAT objectives, and their value on a Schedule.

* makespan: when the last job is done (our lower bound fixes the variable's floor);
* weighted_tardiness: sum over jobs with a due date of weight x lateness;
* mw: MW of the jobs complete by the horizon end, maximised (jobs may be left out).

CP-SAT needs integer coefficients: weights and MW are scaled by SCALE and rounded, the scale
is divided out of the solver's bound, and the reported value is always recomputed exactly
from the schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.cpsat.variables import Variables
from scheduler.problem import Problem
from scheduler.schedule import Schedule

OBJECTIVES = ("makespan", "weighted_tardiness", "mw")
MAXIMISED = {"mw"}
SCALE = 1000  # weights and MW to 1/1000: a kW of a 1 MW-class unit, well below any real difference


@dataclass
class ObjectiveVars:
    name: str
    scale: int
    makespan: cp_model.IntVar | None = None


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: {objective!r} is not one of {', '.join(OBJECTIVES)}")


def set_objective(model: cp_model.CpModel, problem: Problem, variables: Variables, objective: str, lower: int) -> ObjectiveVars:
    check_objective(objective)
    if objective == "makespan":
        makespan = model.new_int_var(min(lower, variables.upper), variables.upper, "makespan")
        for end in variables.job_end:
            if end is not None:
                model.add(makespan >= end)
        model.minimize(makespan)
        return ObjectiveVars(objective, 1, makespan)
    if objective == "weighted_tardiness":
        terms = []
        scale = 1 if all(float(job.weight).is_integer() for job in problem.jobs) else SCALE
        for j, job in enumerate(problem.jobs):
            end = variables.job_end[j]
            if job.due is None or end is None or job.weight <= 0:
                continue
            late = model.new_int_var(0, max(0, variables.upper - job.due), f"late_{j}")
            model.add(late >= end - job.due)
            terms.append(round(job.weight * scale) * late)
        model.minimize(sum(terms))
        return ObjectiveVars(objective, scale)
    model.maximize(sum(round(job.mw * SCALE) * variables.job_present[j] for j, job in enumerate(problem.jobs)))
    return ObjectiveVars(objective, SCALE)


def objective_value(problem: Problem, schedule: Schedule, objective: str) -> float:
    """The objective measured on the schedule itself, independent of the solver."""
    check_objective(objective)
    if objective == "makespan":
        return float(schedule.makespan)
    end: dict[str, int] = {}
    done: dict[str, int] = {}
    for a in schedule.assignments:
        end[a.job] = max(end.get(a.job, 0), a.end)
        done[a.job] = done.get(a.job, 0) + 1
    if objective == "weighted_tardiness":
        return float(sum(job.weight * max(0, end[job.id] - job.due) for job in problem.jobs if job.due is not None and job.id in end))
    return float(sum(job.mw for job in problem.jobs if done.get(job.id, 0) == len(job.tasks) and end.get(job.id, 0) <= problem.horizon and job.tasks))
