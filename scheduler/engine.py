"""search(problem) -> the best plan found, at any size, for the front door `scheduler.plan`
(scheduler/planning.py), which measures it against its bound once. Small problems go to the
core model's portfolio (warm start, CP-SAT probe, tabu search, CP-SAT) on the whole problem;
large ones keep the best dispatching schedule and improve it with forward-backward passes, the
tabu search (where the disjunctive graph models the floor exactly) and CP-SAT on sub-problems
(large neighbourhood search), because one model of 70k-100k operations finds nothing in
minutes. Every returned plan is complete.

Why the end: a dispatcher's losses gather where the horizon cuts (units that just miss it) and
where the makespan is set (the last busy cells); a suffix of the plan is also closed under
successors, so it can be re-planned without touching anything that waits for it. Idle time in
the middle of a makespan plan is reached first by forward-backward passes (scheduler.mirror).
See docs/scheduling.md, "Scale", for the measurements behind the numbers below.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scheduler.bounds import Heads, heads_and_tails
from scheduler.calendars import CellCalendar
from scheduler.capacity import earliest_finish
from scheduler import chains, insertion
from scheduler.construct import list_schedule
from scheduler.delivery import delivered_mw
from scheduler.distributed import Tasks
from scheduler.localsearch import applies as tabu_fits
from scheduler.localsearch import improve
from scheduler.mirror import forward_backward, mirrorable
from scheduler.problem import Problem
from scheduler.result import better, meets
from scheduler.schedule import Assignment, Schedule
from scheduler.subproblem import Placement, SubProblem, glue, placements, restrict
from scheduler.validate import violations

Progress = Callable[[float, str], None]

# Up to this many operations one CP-SAT model is worth it (it finds and improves plans in
# seconds); above, the model only burns the time limit.
DIRECT_MAX_OPERATIONS = 3_000
# Operations per LNS sub-problem: large enough to move a whole tail, small enough for CP-SAT
# to close or nearly close it in a few seconds on 2 workers.
NEIGHBOURHOOD_OPERATIONS = 400
# CP-SAT time per neighbourhood: measured on generated 10k-operation shops, a 400-operation
# suffix improves within 3-10 s and rarely after; shorter steps mean more neighbourhoods.
LNS_STEP_SECONDS = 6.0
# Share of the time limit that forward-backward passes may use before LNS takes over: on
# generated shops they cut the dispatch gap by a third within a few passes, then stall.
FORWARD_BACKWARD_SHARE = 0.35
# (rule, work weight) pairs tried for the starting plan, best first; later ones only run while
# they take a small share of the time limit.
# Share of the time left after forward-backward passes that the tabu search gets on large
# problems where it applies (makespan, capacity-1 cells, no setups or windows).
LARGE_TABU_SHARE = 0.3
# The LNS stops when this share of the time limit has passed without a better plan and at
# least STALL_NEIGHBOURHOODS neighbourhoods in a row brought nothing.
STALL_SHARE = 0.3
STALL_NEIGHBOURHOODS = 8
# Share of the time limit the deadline search may use where chains are critical (scheduler/chains.py).
DEADLINE_SHARE = 0.4
STARTS = (("slack", 4.0), ("fifo", 4.0), ("slack", 2.0), ("slack", 8.0), ("edd", 4.0), ("mwkr", 1.0))


@dataclass
class Found:
    """What a search route hands back to the front door: a complete plan of the problem (not yet
    measured against the bound: `scheduler.planning` does that once) and how it was found."""

    schedule: Schedule
    method: str
    status: str  # optimal when CP-SAT proved it on the whole problem, else feasible / heuristic
    solver_bound: float | None  # a bound CP-SAT proved on the whole problem, if it ran on it
    kpis: dict[str, Any] = field(default_factory=dict)


def search(problem: Problem, objective: str, bound: float, *, time_limit: float, workers: int, seed: int, progress: Progress | None = None,
           tasks: Tasks | None = None) -> Found:
    """The best plan of `problem` within `time_limit`, routed by size once: the whole-problem
    portfolio up to DIRECT_MAX_OPERATIONS, else dispatching, forward-backward passes, the tabu
    search and LNS. Stops early when the plan meets `bound` or the LNS stops improving. With
    `tasks` on a cluster, tabu restarts and LNS neighbourhoods run `tasks.width` at a time."""
    tasks = tasks or Tasks()
    began = time.perf_counter()
    deadline = began + time_limit
    report = progress or (lambda fraction, message: None)
    report(0.0, f"dispatching {problem.n_operations} operations")
    best = _best_start(problem, objective, deadline, time_limit, report)
    kpis: dict[str, Any] = {"start": best.name, "start_value": best.value, "operations": problem.n_operations}
    status, solver_bound = "heuristic", None
    if objective == "makespan" and problem.n_operations > DIRECT_MAX_OPERATIONS and not meets(objective, best.value, bound) and chains.critical_chains(problem, bound):
        report(0.2, "CP-SAT on deadlines along the chains")
        best, solver_bound = _by_deadlines(problem, best, bound, DEADLINE_SHARE * (deadline - time.perf_counter()), workers, seed, kpis)
    if meets(objective, best.value, bound):
        method = best.kpis.get("builder", "dispatch")  # nothing left to gain: do not spend the time limit
    elif problem.n_operations <= DIRECT_MAX_OPERATIONS:
        best, status, solver_bound = _direct(problem, best, objective, deadline, workers, seed, report)
        method = "cp-sat"
        kpis.update({k: best.kpis[k] for k in ("hint", "probe_makespan", "tabu_makespan", "tabu_iterations") if k in best.kpis})
    else:
        method = "lns"
        if objective == "makespan" and mirrorable(problem):
            report(0.2, "forward-backward passes")
            # Each pass rebuilds with the dispatcher and, where it applies, with insertion: on
            # the public 100k shops dispatch passes took the short 100-machine one from 3.0% to
            # 0.001%, insertion passes the long one from 38.5% to 33.7% (docs/scheduling.md).
            builds = [lambda p, priority: list_schedule(p, objective="makespan", priority=priority)]
            if insertion.applies(problem):
                builds.append(insertion.serial_schedule)
            best = forward_backward(problem, best, began + FORWARD_BACKWARD_SHARE * time_limit, builds=builds)
            method = "forward-backward + lns"
        if objective == "makespan" and tabu_fits(problem) and not meets(objective, best.value, bound):
            report(0.3, "tabu search on the critical path")
            seconds = LARGE_TABU_SHARE * (deadline - time.perf_counter())
            # Independent restarts (one per task slot, each its own seed); the best one stays.
            restarts = tasks.run(improve, [((problem, best, seconds), {"lower_bound": int(bound), "seed": seed + k}) for k in range(tasks.width)])
            searched = min(restarts, key=lambda found: found.makespan)
            kpis.update(tabu_makespan=searched.makespan, tabu_iterations=searched.kpis.get("tabu_iterations", 0))
            best = _valued(problem, searched, objective)
            method = method.replace("lns", "tabu + lns")
        best, lns = _improve_end(problem, best, objective, deadline, workers, seed, report, bound, time_limit, tasks)
        kpis.update(lns)
    report(0.98, "validating")
    return Found(best, method, status, solver_bound, kpis)


def _by_deadlines(problem: Problem, best: Schedule, bound: float, seconds: float, workers: int, seed: int, kpis: dict[str, Any]) -> tuple[Schedule, float | None]:
    """The better of `best` and the deadline search's plan (chains too long for dispatching to
    get right), and the makespan that search proved impossible plus one, if any."""
    found = chains.deadline_search(problem, bound, seconds, upper=best.value, workers=workers, seed=seed)
    kpis["deadline_attempts"] = [(target, status) for target, status, _ in found.attempts]
    if found.schedule is not None and found.schedule.makespan < best.value:
        best = found.schedule
    return best, (float(found.lower_bound) if found.lower_bound else None)


def value_of(problem: Problem, schedule: Schedule, objective: str) -> float:
    return delivered_mw(problem, schedule) if objective == "mw" else float(schedule.makespan)


def _valued(problem: Problem, schedule: Schedule, objective: str) -> Schedule:
    schedule.value = value_of(problem, schedule, objective)
    return schedule


def _best_start(problem: Problem, objective: str, deadline: float, time_limit: float, report: Progress) -> Schedule:
    """The best of the dispatching starts and, for the makespan on single-job cells without
    setups, the insertion starts (scheduler/insertion.py: chains without slack need them)."""
    best: Schedule | None = None
    builders = [("dispatch", rule, lambda rule=rule, weight=weight: list_schedule(problem, rule=rule, objective=objective, work_weight=weight)) for rule, weight in STARTS]
    if objective == "makespan" and insertion.applies(problem):
        # Insertion by earliest start and by latest start, right after the first dispatch.
        builders[1:1] = [("insertion", "earliest start", lambda: insertion.serial_schedule(problem, insertion.earliest_start_priority(problem))),
                         ("insertion", "latest start", lambda: insertion.serial_schedule(problem, insertion.latest_start_priority(problem)))]
    # The first dispatch and the insertion starts always run (each suits shops the others do
    # not: on the long 100k job shop insertion is 36 points better, on generated flexible shops
    # dispatch is 1-3 points better); the other dispatch variants only while dispatching stays
    # a small share of the budget.
    always = 1 + sum(kind == "insertion" for kind, _, _ in builders)
    for k, (kind, rule, build) in enumerate(builders):
        spent = time_limit - (deadline - time.perf_counter())
        if k >= always and spent + best.seconds > 0.25 * time_limit:  # type: ignore[union-attr]
            break
        candidate = build()
        candidate.kpis["builder"] = kind
        if best is None or better(objective, candidate.value, best.value):
            best = candidate
        report(0.05 + 0.15 * (k + 1) / len(builders), f"{kind} {rule}: {best.value:,.1f}")
    assert best is not None
    best.kpis["start"] = best.name
    return best


def _direct(problem: Problem, start: Schedule, objective: str, deadline: float, workers: int, seed: int, report: Progress) -> tuple[Schedule, str, float | None]:
    """The whole problem through the core model's portfolio (CP-SAT probe, tabu search where it
    applies, CP-SAT), warm-started by the better of the best dispatching start and the core
    model's own warm start (every rule, tie-breaking restarts); (plan, status, CP-SAT's bound
    on the whole problem)."""
    from scheduler.cpsat import solve
    from scheduler.cpsat.warmstart import warm_start

    remaining = deadline - time.perf_counter()
    if remaining <= 0.5:
        return start, "heuristic", None
    own = _valued(problem, warm_start(problem, objective, remaining, seed), objective)
    hint = own if better(objective, own.value, start.value) else start
    report(0.25, "CP-SAT on the whole problem")
    found = solve(problem, objective=objective, time_limit=deadline - time.perf_counter(), workers=workers, seed=seed, hint=hint)
    if not found.assignments:
        return hint, "heuristic", found.bound
    full = _valued(problem, complete(problem, found) if objective == "mw" else found, objective)
    if better(objective, hint.value, full.value):
        return hint, "heuristic", found.bound
    status = found.status if len(found.assignments) == problem.n_operations or objective == "mw" else "feasible"
    return full, status, found.bound


def complete(problem: Problem, partial: Schedule) -> Schedule:
    """A partial plan (the core model leaves out units it cannot finish in time) with the missing
    operations dispatched around it, so the plan covers every order."""
    fixed = placements(problem, partial)
    missing = set(range(problem.n_operations)) - set(fixed)
    if not missing:
        return Schedule(list(partial.assignments), problem.horizon, partial.status, partial.objective, name=partial.name)
    sub = restrict(problem, fixed, missing, name=f"{problem.name}/rest")
    rest = list_schedule(sub.problem, rule="slack", objective="mw")
    return Schedule(glue(problem, fixed, sub, rest), problem.horizon, partial.status, partial.objective, name=partial.name)


def _improve_end(
    problem: Problem, current: Schedule, objective: str, deadline: float, workers: int, seed: int, report: Progress, bound: float, time_limit: float,
    tasks: Tasks,
) -> tuple[Schedule, dict[str, Any]]:
    """LNS on suffixes of the plan: free every operation starting after a cut (for MW, only of
    units that can still finish), re-plan them with CP-SAT, keep the result if better. Stops at
    the bound, or when STALL_SHARE of the time limit (and STALL_NEIGHBOURHOODS in a row) brought
    nothing better: a plan at an optimum its bound cannot see should not burn the clock. Each
    round draws `tasks.width` neighbourhoods of the same plan and solves them as independent
    tasks (one CP-SAT worker each when there are several); the best result is kept."""
    from scheduler.cpsat import solve

    rng = random.Random(seed)
    heads = heads_and_tails(problem)
    in_reach = _units_in_reach(problem) if objective == "mw" else set()
    successors = _successors(problem)
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    # The plan lives as task -> (cell, start, end) between steps; a Schedule of 100k assignments
    # is built once at the end (rebuilding and gluing it every step cost more than CP-SAT did).
    plan = placements(problem, current)
    value = current.value
    size = NEIGHBOURHOOD_OPERATIONS
    began = time.perf_counter()
    total = max(1e-9, deadline - began)
    iterations = improved = 0
    turn = empty = 0  # neighbourhood kinds alternate by turn; empty draws count until one is not
    last_gain, since_gain = began, 0
    stopped = "time limit"
    while deadline - time.perf_counter() > 2.0:
        if meets(objective, value, bound):
            stopped = "bound"
            break
        if since_gain >= STALL_NEIGHBOURHOODS and time.perf_counter() - last_gain > STALL_SHARE * time_limit:
            stopped = "stalled"
            break
        draws: list[tuple[dict[int, Placement], SubProblem, Schedule | None]] = []
        for _ in range(tasks.width):
            fixed = dict(plan)
            lost = sorted(in_reach - _finished(problem, plan)) if objective == "mw" else []
            if objective == "makespan" and turn % 2:
                free, cut = _busiest_cells_suffix(problem, fixed, size, rng, successors)
            elif lost and turn % 2:
                free, cut = _lost_unit_and_neighbours(problem, fixed, rng.choice(lost), size)
            else:
                free, cut = _suffix(problem, fixed, objective, size, rng, heads)
            turn += 1
            if not free:
                # A suffix can be all hopeless units (measured: a running floor's week, 2nd
                # draw); another draw or the other kind usually is not.
                empty += 1
                continue
            for t in free:
                del fixed[t]
            sub = restrict(problem, fixed, free, name=f"{problem.name}/lns{iterations + len(draws)}", not_before=cut)
            draws.append((fixed, sub, _local_hint(problem, plan, sub)))
        if not draws:
            if empty > 20:  # give up only after many empty draws in a row
                stopped = "no neighbourhood"
                break
            continue
        empty = 0
        budget = min(LNS_STEP_SECONDS, deadline - time.perf_counter() - 1.0)
        per_task = workers if len(draws) == 1 else 1
        calls = [((sub.problem,), {"objective": objective, "time_limit": budget, "workers": per_task, "seed": seed + iterations + k,
                                   "hint": hint, "local_search": False}) for k, (_, sub, hint) in enumerate(draws)]
        round_best: tuple[float, dict[int, Placement]] | None = None
        for (fixed, sub, _), found in zip(draws, tasks.run(solve, calls)):
            iterations += 1
            since_gain += 1
            if not found.assignments:
                continue
            part = complete(sub.problem, found) if objective == "mw" else found
            candidate = _merged(problem, fixed, sub, part, cell_index)
            candidate_value = _value(problem, candidate, objective)
            if round_best is None or better(objective, candidate_value, round_best[0]):
                round_best = (candidate_value, candidate)
            # A neighbourhood CP-SAT closes quickly can grow; one it cannot finish should shrink.
            size = int(size * 1.3) if found.status == "optimal" else max(100, int(size * 0.8))
        if round_best is not None:
            candidate_value, candidate = round_best
            if better(objective, candidate_value, value):
                plan, value, improved = candidate, candidate_value, improved + 1
                last_gain, since_gain = time.perf_counter(), 0
            elif objective == "makespan" and candidate_value == value and _tail_load(candidate) < _tail_load(plan):
                plan = candidate  # same makespan, fewer cells near it: the next step has less to move
        fraction = 0.2 + 0.75 * min(1.0, (time.perf_counter() - began) / total)
        report(fraction, f"LNS {iterations}: {value:,.1f} ({improved} improvements)")
    result = Schedule(_assignments(problem, plan), problem.horizon, "heuristic", objective, value, name=current.name)
    return result, {"lns_iterations": iterations, "lns_improvements": improved, "lns_stopped": stopped, "lns_width": tasks.width}


def _successors(problem: Problem) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in problem.tasks]
    for t, task in enumerate(problem.tasks):
        for p in task.predecessors:
            out[p].append(t)
    return out


def _merged(problem: Problem, fixed: dict[int, Placement], sub: SubProblem, part: Schedule, cell_index: dict[str, int]) -> dict[int, Placement]:
    """The fixed placements plus a sub-plan's, in the whole problem's task and cell indices."""
    local = {(sub.problem.jobs[task.job].id, task.op): sub.task_of[i] for i, task in enumerate(sub.problem.tasks)}
    out = dict(fixed)
    for a in part.assignments:
        out[local[(a.job, a.op)]] = (cell_index[sub.cell_of[a.cell]], a.start, a.end)
    return out


def _assignments(problem: Problem, plan: dict[int, Placement]) -> list[Assignment]:
    return [Assignment(problem.jobs[problem.tasks[t].job].id, problem.tasks[t].op, problem.cells[c].id, s, e) for t, (c, s, e) in sorted(plan.items())]


def _finished(problem: Problem, plan: dict[int, Placement]) -> set[int]:
    """Jobs whose every operation is placed and ends by the horizon (as scheduler.delivery counts)."""
    horizon = problem.horizon
    return {j for j, job in enumerate(problem.jobs) if job.tasks and all(t in plan and plan[t][2] <= horizon for t in job.tasks)}


def _value(problem: Problem, plan: dict[int, Placement], objective: str) -> float:
    if objective == "mw":
        return sum(problem.jobs[j].mw for j in _finished(problem, plan))
    return float(max((e for _, _, e in plan.values()), default=0))


def _suffix(problem: Problem, fixed: dict[int, Placement], objective: str, size: int, rng: random.Random, heads: Heads) -> tuple[set[int], int]:
    """About `size` operations that start last, cut at a randomly jittered point, and the cut.
    Closed under successors, since a successor never starts before its predecessor."""
    horizon = problem.horizon
    starts = sorted(s for _, s, _ in fixed.values() if objective != "mw" or s < horizon)
    if not starts:
        return set(), 0
    cut = starts[max(0, len(starts) - int(size * (0.5 + rng.random())))]
    free = {t for t, (_, s, _) in fixed.items() if s >= cut}
    if objective == "mw":
        free = _drop_hopeless_units(problem, fixed, free, cut, heads)
    return free, cut


def _tail_load(plan: dict[int, Placement]) -> int:
    """Sum over cells of how close their last operation ends to the makespan: lower means the
    makespan rests on fewer cells, so a plateau of equal makespans can still make progress."""
    last: dict[int, int] = {}
    for c, _, e in plan.values():
        if e > last.get(c, 0):
            last[c] = e
    makespan = max(last.values(), default=0)
    return sum(max(0, end - int(0.99 * makespan)) for end in last.values())


def _units_in_reach(problem: Problem) -> set[int]:
    """Jobs that could finish by the horizon with the floor to themselves."""
    calendars = [CellCalendar(c.unavailable) for c in problem.cells]
    return {j for j, end in enumerate(earliest_finish(problem, calendars)) if end <= problem.horizon and problem.jobs[j].tasks}


def _lost_unit_and_neighbours(problem: Problem, fixed: dict[int, Placement], unit: int, size: int) -> tuple[set[int], int]:
    """For MW: a unit that could finish in time but does not, from its first operation on, with
    the units that use the same cells after that point, nearest in time first, so CP-SAT can
    reorder them (a setup saved or a queue jumped). Closed under successors: each unit is freed
    from the cut to its end, and a unit's work waits only for its own."""
    own = problem.jobs[unit].tasks
    cut = min(fixed[t][1] for t in own)
    cells = {fixed[t][0] for t in own}
    until = max(fixed[t][2] for t in own)
    nearby: dict[int, int] = {}
    for t, (c, s, _) in fixed.items():
        job = problem.tasks[t].job
        if c in cells and cut <= s <= until and job != unit:
            nearby[job] = min(nearby.get(job, s), s)
    free = {t for t in own}
    for job in sorted(nearby, key=nearby.get):
        if len(free) >= size:
            break
        free.update(t for t in problem.jobs[job].tasks if fixed[t][1] >= cut)
    return free, cut


def _busiest_cells_suffix(problem: Problem, fixed: dict[int, Placement], size: int, rng: random.Random, successors: list[list[int]]) -> tuple[set[int], int]:
    """For makespan: the cells that finish last, cut deeper than a global suffix can (their
    work may move to cells that finish early), plus everything that waits for it."""
    last_end: dict[int, int] = {}
    by_cell: dict[int, list[tuple[int, int]]] = {}
    for t, (c, s, e) in fixed.items():
        last_end[c] = max(last_end.get(c, 0), e)
        by_cell.setdefault(c, []).append((s, t))
    ranked = sorted(last_end, key=lambda c: -last_end[c])
    chosen = ranked[: max(1, int(len(ranked) * 0.02 * (0.5 + rng.random())))]
    per_cell = max(2, size // len(chosen))
    cut = min(sorted(by_cell[c])[-min(per_cell, len(by_cell[c]))][0] for c in chosen)
    free = {t for c in chosen for s, t in by_cell[c] if s >= cut}
    stack = list(free)
    while stack:  # everything that waits for freed work is freed too
        for u in successors[stack.pop()]:
            if u not in free:
                free.add(u)
                stack.append(u)
    return free, cut


def _drop_hopeless_units(problem: Problem, fixed: dict[int, Placement], free: set[int], cut: int, heads: Heads) -> set[int]:
    """For MW, leave out whole units that cannot finish by the horizon even alone on the floor
    from where their fixed part leaves them (a burn-in of 24 h started late, say): re-planning
    them only costs model size."""
    hopeless_jobs = set()
    for t in free:
        ready = max([cut, problem.tasks[t].release, problem.jobs[problem.tasks[t].job].release] + [fixed[p][2] for p in problem.tasks[t].predecessors if p in fixed and p not in free])
        if ready + heads.shortest[t] + heads.tail[t] > problem.horizon:
            hopeless_jobs.add(problem.tasks[t].job)
    return {t for t in free if problem.tasks[t].job not in hopeless_jobs}


def _local_hint(problem: Problem, plan: dict[int, Placement], sub: SubProblem) -> Schedule | None:
    """The current plan's placements of the free operations, on the sub-problem's cells (a lane
    of a multi-job cell is picked later by the model; only single-job cells carry over)."""
    cells = {cell.id for cell in sub.problem.cells}
    assignments = []
    for t in sub.task_of:
        c, s, e = plan[t]
        if problem.cells[c].id in cells:
            assignments.append(Assignment(problem.jobs[problem.tasks[t].job].id, problem.tasks[t].op, problem.cells[c].id, s, e))
    hint = Schedule(assignments, sub.problem.horizon, name="hint")
    # Setup padding around fixed work can clash with where the plan has a free operation (same
    # family, no setup needed); then let the core model build its own warm start.
    return hint if not violations(sub.problem, hint, complete=False) else None
