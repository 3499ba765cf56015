"""solve(problem) -> Schedule: bounds, warm start, CP-SAT model, extraction, validation.

The returned schedule has always passed `scheduler.validate` (partial plans with complete=False
in the `mw` objective, where unfinished jobs are left out)."""
from __future__ import annotations

import math
import time
from collections import defaultdict

from ortools.sat.python import cp_model

from scheduler.bounds import compute_bounds, objective_bound
from scheduler.cpsat.model import BuiltModel, add_hint, build_model, extract
from scheduler.cpsat.objective import MAXIMISED, check_objective, objective_value
from scheduler.cpsat.warmstart import FLEXIBLE_SHOP, flexible_share, flexible_shop, improve_makespan, tabu_applies, warm_start
from scheduler.distributed import Tasks
from scheduler.problem import Problem
from scheduler.result import gap, meets, tighter
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import validate, violations

# Of the time limit: CP-SAT from the list schedule before the tabu search, JOB_SHOP_PROBE_SHARE
# on a job shop down to PROBE_SHARE where FLEXIBLE_SHOP of the operations have a choice of cell
# (PROBE_SHARE 0: no probe).
# The probe is the run that proves optima: a CP-SAT run that starts from a near-optimal plan (the
# tabu search's, as the main run does) proves far worse than one that finds the optimum itself
# (Hurink car3, car8, orb2, 10 s, 3 seeds each: optimum as hint 1 of 9 proved, list schedule
# as hint 6 of 9, textbook model 9 of 9). On job shops CP-SAT's proof is what wins, so the
# probe gets the larger share there; flexible shops keep the tabu search's time.
PROBE_SHARE = 0.05
JOB_SHOP_PROBE_SHARE = 0.5

_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.UNKNOWN: "unknown",
}


def solve(
    problem: Problem,
    *,
    objective: str = "makespan",
    time_limit: float = 10.0,
    workers: int = 2,
    seed: int = 0,
    hint: Schedule | None = None,
    local_search: bool = True,
    log: bool = False,
    parameters: dict[str, object] | None = None,
    tasks: Tasks | None = None,
) -> Schedule:
    """Best schedule CP-SAT finds within `time_limit` seconds, warm-started from `hint` (or from
    the list scheduler when none is given), with its bound and gap. For the makespan on floors
    the tabu search models exactly, a short CP-SAT probe and the tabu search run first from the
    warm start (`local_search=False` skips both: LNS steps, whose sub-problems are too short-lived
    for them). `parameters` overrides CP-SAT parameters by name (for experiments; the defaults
    are the measured best). `tasks`: where the tabu search's independent restarts run (a Dask
    cluster; by default `workers` local processes)."""
    check_objective(objective)
    began = time.perf_counter()
    bounds = compute_bounds(problem)
    own_bound = objective_bound(problem, objective, bounds)
    complete = objective not in MAXIMISED
    hint, hint_note = _usable_hint(problem, hint, objective, complete, time_limit, seed)
    upper = _upper_bound(problem, objective, hint)

    built = build_model(problem, objective, bounds, upper)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    for key, value in (parameters or {}).items():
        if isinstance(value, list):  # repeated fields cannot be assigned, only extended
            getattr(solver.parameters, key).extend(value)
        else:
            setattr(solver.parameters, key, value)
    code, incumbent = None, None
    if hint is not None and local_search and tabu_applies(problem, objective):
        code, hint, incumbent, hint_note = _probe_then_tabu(built, solver, hint, hint_note, time_limit, int(own_bound), seed, tasks, workers)
    if incumbent is not None and meets(objective, incumbent.makespan, own_bound):
        code = cp_model.UNKNOWN  # the plan kept aside is at our bound: nothing left to prove
    elif code != cp_model.OPTIMAL:
        if hint is not None:
            add_hint(built, built.model, hint)
        solver.parameters.max_time_in_seconds = max(0.0, time_limit - (time.perf_counter() - began))
        code = solver.solve(built.model)
    status = status_name(code)
    solved = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if incumbent is not None and (not solved or solver.objective_value > incumbent.makespan):
        assignments, source, status, hint = list(incumbent.assignments), "tabu", "feasible", incumbent
    elif solved:
        assignments, source = extract(built, solver), "cp-sat"
    elif hint is not None:  # the solver found nothing better in time: the warm start still stands
        assignments, source, status = list(hint.assignments), "hint", "feasible"
    else:
        assignments, source = [], "none"
    solver_bound = solver.best_objective_bound / built.goal.scale if code != cp_model.INFEASIBLE else None
    # Campaigns restrict the problem: the solver's bound (and its "optimal", its "infeasible")
    # then hold for the restricted model only, so only our own bound may be reported.
    restricted = "campaigns" in built.constraints.setup_models.values()
    if restricted and status in ("optimal", "infeasible"):
        status = "feasible" if assignments else "unknown"
    bound = tighter(objective, own_bound, None if restricted else solver_bound)
    plan = Schedule(assignments, problem.horizon, status, objective, name=problem.name)
    if assignments:
        validate(problem, plan, complete=complete)
    value = objective_value(problem, plan, objective)
    searched = incumbent if incumbent is not None else hint  # the plan that carries the probe's and tabu search's KPIs
    if assignments and meets(objective, value, bound):
        status = "optimal"  # our own bound can close what the solver left open
    kpis = {
        "objective": objective,
        # For mw (maximised) the plan itself is the lower bound and ours is an upper bound.
        "lower_bound": own_bound if complete else value,
        "upper_bound": None if complete else own_bound,
        "solver_bound": solver_bound,
        "solver_bound_restricted": restricted,
        "path_bound": bounds.path,
        "load_bound": bounds.load,
        "gap": gap(objective, value, bound),
        "source": source,
        "hint": hint_note,
        "hint_value": objective_value(problem, hint, objective) if hint is not None else None,
        "pooled_pools": len(built.variables.pooled),
        "setup_models": built.constraints.setup_models,
        "branches": solver.num_branches,
        "conflicts": solver.num_conflicts,
        "operations": problem.n_operations,
        "scheduled": len(assignments),
        **{k: searched.kpis[k] for k in ("probe_makespan", "tabu_makespan", "tabu_iterations", "tabu_restarts") if searched is not None and k in searched.kpis},
    }
    return Schedule(assignments, problem.horizon, status, objective, value, bound, time.perf_counter() - began, kpis, problem.name)


def _probe_then_tabu(
    built: BuiltModel, solver: cp_model.CpSolver, hint: Schedule, note: str, time_limit: float, lower_bound: int, seed: int,
    tasks: Tasks | None, workers: int,
) -> tuple[int, Schedule, Schedule | None, str]:
    """A CP-SAT run from the list schedule (`probe_share` of the budget), then the tabu search
    from the better plan; (probe's status, the main run's hint, the best plan kept aside, note).

    The probe returns at once where CP-SAT proves the optimum (small job shops: the tabu search
    would only delay that proof, and the main run, which starts from the tabu search's
    near-optimal plan, proves far more slowly than a run that finds the optimum itself);
    elsewhere its plan and bound feed the tabu search. Where the tabu search improved on the
    probe's plan, its plan is the main run's hint and caps its makespan (CP-SAT's LNS improves
    from there). Where it did not, on a near-job-shop, CP-SAT found that plan itself and its
    proof is what is left: the main run starts again from the list schedule, uncapped, and the
    best plan so far is kept aside, to be returned if CP-SAT ends with nothing better."""
    problem = built.problem
    code = cp_model.UNKNOWN
    share = probe_share(problem)
    if share > 0:
        add_hint(built, built.model, hint)
        solver.parameters.max_time_in_seconds = share * time_limit
        code = solver.solve(built.model)
    if code == cp_model.OPTIMAL:
        return code, hint, None, f"{note}; optimum proved by the CP-SAT probe"
    start = hint
    if code == cp_model.FEASIBLE:
        probed = Schedule(extract(built, solver), problem.horizon, "feasible", "makespan", name=problem.name)
        if probed.makespan < hint.makespan and not violations(problem, probed):
            start = probed
    proved = math.ceil(solver.best_objective_bound - 1e-9) if code == cp_model.FEASIBLE else 0
    improved = improve_makespan(problem, start, time_limit, max(lower_bound, proved), seed, tasks, workers)
    if violations(problem, improved):  # never expected: the search builds plans from the disjunctive graph
        improved = start
    improved.kpis = {**hint.kpis, "probe_makespan": start.makespan, "tabu_makespan": improved.makespan,
                     "tabu_iterations": improved.kpis.get("tabu_iterations", 0),
                     "tabu_restarts": improved.kpis.get("tabu_restarts", 1)}
    note = f"{note} ({hint.makespan}); CP-SAT probe {start.makespan}; tabu search {improved.makespan}"
    if improved.makespan >= start.makespan and not flexible_shop(problem):
        return code, hint, improved, f"{note}; main run from the list schedule"
    built.model.add(built.goal.makespan <= improved.makespan)  # a plan this good exists
    return code, improved, None, note


def probe_share(problem: Problem) -> float:
    """Share of the time limit for the CP-SAT probe: JOB_SHOP_PROBE_SHARE on a job shop, falling
    linearly to PROBE_SHARE where FLEXIBLE_SHOP of the operations have a choice of cell."""
    if PROBE_SHARE <= 0:
        return 0.0
    towards_flexible = min(1.0, flexible_share(problem) / FLEXIBLE_SHOP)
    return JOB_SHOP_PROBE_SHARE * (1.0 - towards_flexible) + PROBE_SHARE * towards_flexible


def status_name(code: int) -> str:
    if code == cp_model.MODEL_INVALID:
        raise RuntimeError("CP-SAT rejected the model as invalid")
    return _STATUS[code]


def serial_upper_bound(problem: Problem) -> int:
    """A makespan no feasible plan needs to exceed: everything one after another after the last
    release, each waiting out every window and setup on the floor."""
    releases = max([j.release for j in problem.jobs] + [t.release for t in problem.tasks] + [0])
    work = sum(max(d for _, d in t.modes) for t in problem.tasks)
    setups = max((c.setup for c in problem.cells), default=0) * len(problem.tasks)
    windows = sum(e - s for c in problem.cells for s, e in c.unavailable)
    return releases + work + setups + windows


def _upper_bound(problem: Problem, objective: str, hint: Schedule | None) -> int:
    if objective in MAXIMISED:
        return problem.horizon
    if objective == "makespan" and hint is not None:
        return hint.makespan  # a plan this good exists, so nothing better ends later
    return max(problem.horizon, serial_upper_bound(problem), hint.makespan if hint else 0)


def _usable_hint(
    problem: Problem, hint: Schedule | None, objective: str, complete: bool, time_limit: float, seed: int
) -> tuple[Schedule | None, str]:
    """The given hint or the best list schedule, checked by the validator; for `mw`, trimmed to
    the jobs it completes by the horizon end."""
    note = "given"
    if hint is None:
        hint = warm_start(problem, objective, time_limit, seed)
        note = f"list schedule ({hint.kpis.get('rule')})"
    if not complete:
        hint = _trim_to_horizon(problem, hint)
    found = violations(problem, hint, complete=complete)
    if found:
        return None, f"{note} rejected: {found[0]}"
    return hint, note


def _trim_to_horizon(problem: Problem, schedule: Schedule) -> Schedule:
    by_job: dict[str, list[Assignment]] = defaultdict(list)
    for a in schedule.assignments:
        by_job[a.job].append(a)
    keep = [
        a
        for job in problem.jobs
        if len(by_job[job.id]) == len(job.tasks) and all(a.end <= problem.horizon for a in by_job[job.id])
        for a in by_job[job.id]
    ]
    return Schedule(keep, problem.horizon, schedule.status, schedule.objective, name=schedule.name)
