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

from plant.demand import Order, critical_path_s, orders_for
from plant.spec import FactorySpec
from scheduler.carryin import CarriedIn, carry_in
from scheduler.construct import list_schedule
from scheduler.problem import build_problem

# A loaded floor's queues stretch a unit's flow time past its critical path; two of the
# longest critical paths let short horizons (a shift) start from a full pipeline too.
WARMUP_CRITICAL_PATHS = 2


def warmup_length(spec: FactorySpec, horizon: int) -> int:
    """One horizon, or two of the longest unit critical paths if that is longer."""
    longest = max((critical_path_s(spec, name) for name, units in spec.demand.items() if units > 0), default=0)
    return max(int(horizon), WARMUP_CRITICAL_PATHS * longest)


def running_floor(spec: FactorySpec, orders: list[Order], horizon: int, demand_hours: float, warmup: int | None = None) -> CarriedIn:
    """`orders` over [0, horizon) joined by the work a floor running at the same demand rate
    (`demand_hours` of weekly demand per horizon) still has open when the horizon begins."""
    warmup = warmup_length(spec, horizon) if warmup is None else int(warmup)
    if warmup <= 0:
        raise ValueError(f"warmup: must be longer than 0 seconds, got {warmup}")
    warm_orders = orders_for(spec, demand_hours * warmup / horizon)
    # Floor time -warmup to 0, cell windows laid out to the horizon's end.
    previous = build_problem(spec, warm_orders, warmup, clock=-warmup, calendar_until=warmup + horizon)
    # "makespan" only labels the value; it keeps the dispatcher from demoting units that miss
    # the warm-up's end, which a running floor would not do either.
    warm_plan = list_schedule(previous, objective="makespan")
    return carry_in(previous, warm_plan, warmup, build_problem(spec, orders, horizon))
