"""The opening state of a running floor: the same demand rate dispatched quickly over a warm-up
period just before the horizon, and the warm-up's unfinished work carried into it.

A planner asks what a floor that has been running delivers in a week, not what an empty floor
does while its pipeline fills (on the default catalog a rack needs about 30 h from release to
crate, so an empty floor finishes nothing on its first day). The warm-up uses the list
scheduler, not the full engine: it only has to leave a plausible work in progress behind,
and it costs seconds. The warm-up sees the horizon's cell windows, so nothing it leaves
running at the cut sits in one of them.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from plant.demand import WEEK_S, Order, critical_path_s, orders_for
from plant.spec import FactorySpec
from scheduler.carryin import CarriedIn, carry_in
from scheduler.construct import list_schedule
from scheduler.planning import Limits, Progress, plan
from scheduler.problem import Problem, build_problem
from scheduler.result import Result

MODES = ("steady-state", "from-empty")

# A loaded floor's queues stretch a unit's flow time past its critical path; two of the
# longest critical paths let short horizons (a shift) start from a full pipeline too.
WARMUP_CRITICAL_PATHS = 2
# The fill is capped: a spec whose units take months to build (valid, if unusual) would
# otherwise ask for months of warm-up orders and calendar windows, which exhausts memory (the
# service's spec fuzz test found it). Such a floor opens with a partly filled pipeline.
MAX_FILL_S = 4 * WEEK_S


def warmup_length(spec: FactorySpec, horizon: int) -> int:
    """One horizon, or two of the longest unit critical paths (at most MAX_FILL_S) if longer."""
    longest = max((critical_path_s(spec, name) for name, units in spec.demand.items() if units > 0), default=0)
    return max(int(horizon), min(WARMUP_CRITICAL_PATHS * longest, MAX_FILL_S))


def running_floor(spec: FactorySpec, orders: list[Order], horizon: int, demand_hours: float, warmup: int | None = None) -> CarriedIn:
    """`orders` over [0, horizon) joined by the work a floor running at the same demand rate
    (`demand_hours` of weekly demand per horizon) still has open when the horizon begins."""
    warmup = warmup_length(spec, horizon) if warmup is None else int(warmup)
    if warmup <= 0:
        raise ValueError(f"warmup: must be longer than 0 seconds, got {warmup}")
    previous = warmup_problem(spec, orders_for(spec, demand_hours * warmup / horizon), warmup, horizon)
    # "makespan" only labels the value; it keeps the dispatcher from demoting units that miss
    # the warm-up's end, which a running floor would not do either.
    warm_plan = list_schedule(previous, objective="makespan")
    return carry_in(previous, warm_plan, warmup, build_problem(spec, orders, horizon))


def warmup_problem(spec: FactorySpec, orders: list[Order], warmup: int, horizon: int) -> Problem:
    """The warm-up as a problem: floor time -warmup to 0, its cells' windows laid out to the
    horizon's end, so work it leaves running at the cut avoids the horizon's windows."""
    return build_problem(spec, orders, warmup, clock=-warmup, calendar_until=warmup + horizon)


def horizon_problem(spec: FactorySpec, horizon: int, demand_hours: float, mode: str = "steady-state", warmup: int | None = None,
                    availability: bool = False) -> tuple[CarriedIn | None, Problem]:
    """(the carried-in work or None, the problem) for planning `demand_hours` of weekly demand
    over `horizon` on a running floor or, in mode "from-empty", an empty one; with
    `availability`, at durations derated for the cells' failures (scheduler.availability).
    Deterministic, so the problem a saved plan was made for can be rebuilt from what the plan records."""
    from scheduler.availability import derate

    if mode not in MODES:
        raise ValueError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    orders = orders_for(spec, demand_hours)
    if mode == "from-empty":
        problem = build_problem(spec, orders, horizon)
        return None, derate(problem, spec) if availability else problem
    carried = running_floor(spec, orders, horizon, demand_hours, warmup)
    if availability:
        carried = replace(carried, problem=derate(carried.problem, spec, keep=set(carried.pinned)))
    return carried, carried.problem


def plan_horizon(
    spec: FactorySpec, horizon: int, demand_hours: float, mode: str, objective: str = "mw", limits: Limits = Limits(),
    *, record: dict[str, Any] | None = None, progress: Progress | None = None, planner: Callable[..., Result] = plan,
    availability: bool = False,
) -> tuple[CarriedIn | None, Problem, Result]:
    """The horizon's problem in `mode`, planned by the front door `scheduler.plan` (around the
    pinned running work on a running floor) within `limits`, warm-up included; the plan's KPIs
    record what `recorded_problem` needs to rebuild the problem. `planner` is the front door
    itself unless a caller wraps it (the service's adapter). With `availability`, durations are
    derated for the cells' failures (scheduler.availability)."""
    began = time.perf_counter()
    carried, problem = horizon_problem(spec, horizon, demand_hours, mode, availability=availability)
    left = max(1.0, limits.time_limit - (time.perf_counter() - began))
    kpis = {**(record or {}), "horizon_s": horizon, "demand_hours": demand_hours, "mode": mode,
            "warmup_s": carried.cut if carried is not None else 0, "availability": availability}
    result = planner(problem, objective=objective, limits=replace(limits, time_limit=left),
                     pinned=carried.pinned if carried is not None else None, spec=spec, record=kpis, progress=progress)
    return carried, problem, result


def recorded_problem(spec: FactorySpec, kpis: dict[str, Any]) -> Problem | None:
    """The problem a plan was made for, from the mode, horizon, demand and warm-up its KPIs
    record (`gwf schedule` writes them); None when they do not say."""
    if kpis.get("mode") not in MODES or "horizon_s" not in kpis:
        return None
    horizon = int(kpis["horizon_s"])
    warmup = kpis.get("warmup_s")
    return horizon_problem(spec, horizon, float(kpis.get("demand_hours", horizon / 3600)), kpis["mode"], int(warmup) if warmup else None,
                           availability=bool(kpis.get("availability", False)))[1]
