"""The warm start handed to CP-SAT: the best of the list scheduler's dispatching rules, then a
few random tie-breaking restarts of the best rule while a small share of the time budget lasts.
A good first incumbent matters more than anything else on short limits: CP-SAT's LNS workers
improve around it instead of spending the budget finding a first solution.

Also the tabu search step `solve` runs after its short CP-SAT probe, for the makespan on floors
the disjunctive graph models exactly (capacity-1 cells, no setups, no windows): it gets a share
of the budget that grows with the share of operations that have a choice of cell
(`local_search_share`). CP-SAT's disjunctive propagation is at its best where there is little
choice (job shops), the tabu search's reassignment moves where there is much (measured in
docs/scheduling.md "Core model")."""
from __future__ import annotations

import time

from scheduler.construct import RULES, list_schedule
from scheduler.cpsat.objective import MAXIMISED, objective_value
from scheduler.distributed import Tasks
from scheduler.localsearch import applies, improve
from scheduler.problem import Problem
from scheduler.schedule import Schedule

BUDGET_SHARE = 0.03  # of the solve's time limit; restarts stop once it is spent
MAX_RESTARTS = 32
# Of the time limit (makespan only): no flexible operation .. all flexible. The low end was 0.2
# until the tabu search was measured delaying CP-SAT's proofs on near-job-shops (Hurink edata
# orb5 at 30 s: optimum proved at 26 s with 0.2, at 13.5 s with 0.05, reference model 9.9 s);
# the flexible Brandimarte instances get 0.37-0.8. The high end was 0.6 until the compiled search
# (fifth session): CP-SAT then improved the tabu search's plan on none of 13 flexible instances
# (Brandimarte, Fattahi, Kacem at 20-60 s; it did on Hurink job shops), while the search kept
# finding better plans with more time.
LOCAL_SEARCH_SHARE = (0.05, 0.8)
# From this share of operations with a choice of cell on, a shop counts as flexible (Brandimarte
# 0.43-1.0, Hurink edata 0.13-0.2): the tabu search then keeps its whole share (no stall stop).
FLEXIBLE_SHOP = 0.5


def warm_start(problem: Problem, objective: str, time_limit: float, seed: int = 0) -> Schedule:
    """The best list schedule for the objective (rules, then tie-breaking restarts)."""
    began = time.perf_counter()
    sign = -1.0 if objective in MAXIMISED else 1.0
    label = "mw" if objective == "mw" else "makespan"

    def score(schedule: Schedule) -> float:
        return sign * objective_value(problem, schedule, objective)

    tried = [(score(s), i, s) for i, s in enumerate(list_schedule(problem, rule=rule, objective=label) for rule in RULES)]
    best_score, _, best = min(tried, key=lambda item: item[:2])
    rule = best.kpis.get("rule", RULES[0])
    for restart in range(1, MAX_RESTARTS + 1):
        if time.perf_counter() - began > BUDGET_SHARE * time_limit:
            break
        candidate = list_schedule(problem, rule=rule, seed=seed * 1000 + restart, objective=label)
        if score(candidate) < best_score:
            best_score, best = score(candidate), candidate
    best.kpis["warm_start_seconds"] = time.perf_counter() - began
    return best


def tabu_applies(problem: Problem, objective: str) -> bool:
    return objective == "makespan" and applies(problem)


def improve_makespan(problem: Problem, start: Schedule, time_limit: float, lower_bound: int, seed: int, tasks: Tasks | None = None,
                     workers: int = 1) -> Schedule:
    """`start` after the tabu search's share of `time_limit` (the caller checks `tabu_applies`):
    independent restarts from `start`, one per slot of `tasks` (a cluster's width, or `workers`
    local processes: CP-SAT's cores are idle meanwhile), each with its own seed; the best stays
    (ties to the lowest seed, so one slot gives the serial search's plan)."""
    tasks = tasks or Tasks()
    count = tasks.slots(workers)
    seconds = local_search_share(problem) * time_limit
    # On job shops the time after the tabu search stalls buys CP-SAT's proofs; on flexible shops
    # CP-SAT rarely improves the tabu search's plan in it, so there the search keeps its share
    # (mk06 / mk10 at 60 s, same load: 59 / 207 with the stall stop, 60 / 199 without).
    calls = [((problem, start, seconds), {"lower_bound": lower_bound, "seed": seed + k, "stall_stop": not flexible_shop(problem)}) for k in range(count)]
    found = tasks.run(improve, calls, processes=count)
    best = min(range(count), key=lambda k: (found[k].makespan, k))
    kept = found[best]
    kept.kpis = {**kept.kpis, "tabu_restarts": count, "tabu_iterations": sum(f.kpis.get("tabu_iterations", 0) for f in found)}
    return kept


def flexible_share(problem: Problem) -> float:
    """Share of the operations that have a choice of cell (0 on a job shop)."""
    if not problem.tasks:
        return 0.0
    return sum(len(problem.cells_for(t)) > 1 for t in problem.tasks) / len(problem.tasks)


def flexible_shop(problem: Problem) -> bool:
    return flexible_share(problem) >= FLEXIBLE_SHOP


def local_search_share(problem: Problem) -> float:
    """Share of the time limit for the tabu search: from LOCAL_SEARCH_SHARE[0] when no operation
    has a choice of cell to LOCAL_SEARCH_SHARE[1] when every operation has one."""
    low, high = LOCAL_SEARCH_SHARE
    return low + (high - low) * flexible_share(problem)
