"""What dispatch reads from a saved schedule: the problem it was made for (routing, and the
downtime a repair planned around), the part of it that is really to be sent (carried-in work
and `--jobs N`), and when a cell that a repair took down may work again."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from plant.demand import Order
from plant.spec import FactorySpec
from scheduler.carryin import CARRIED_MARK
from scheduler.problem import Problem, build_problem, with_recorded_downtime
from scheduler.schedule import Assignment, Schedule

# What to do with the units a steady-state plan carries in from its warm-up (`PRODUCT#N-wip`).
CARRY_IN_RULES = {
    "skip": "not sent: they stand for units already on the floor, which the dispatch of the plan that started them runs",
    "send": "sent like the plan's own: only for a floor whose work in progress really is the warm-up's (a simulated one)",
}


def problem_for_schedule(spec: FactorySpec, schedule: Schedule) -> Problem:
    """Jobs are named `PRODUCT#N` by `plant.orders_for`; the product gives the routing. A plan
    `gwf schedule` made for a running floor (its carried-in units have only some operations
    left) is rebuilt the way it was made, from what its KPIs record; a repaired plan's cells
    carry the downtime it was repaired around (`kpis.down`), so moved work keeps off them too."""
    kpis = schedule.kpis or {}
    if kpis.get("mode") == "steady-state":
        # Imported here: only such plans need the list scheduler for the warm-up.
        from scheduler.steady import recorded_problem

        recorded = recorded_problem(spec, kpis)
        if recorded is not None:
            return with_recorded_downtime(recorded, kpis)
    orders: dict[str, Order] = {}
    for i, a in enumerate(schedule.assignments):
        if a.job in orders:
            continue
        product = a.job.rsplit("#", 1)[0]
        if product not in spec.product_index:
            raise ValueError(
                f"assignments[{i}].job: {a.job!r} does not name a product of spec {spec.name!r} "
                f"(expected PRODUCT#N with PRODUCT one of {', '.join(spec.product_index)})"
            )
        orders[a.job] = Order(a.job, product, 0, 0)
    return with_recorded_downtime(build_problem(spec, list(orders.values()), max(schedule.horizon, schedule.makespan)), kpis)


def first_assignments(schedule: Schedule, n: int) -> Schedule:
    """The first n assignments by start, closed under predecessors of the same job (a job's
    earlier operations start earlier in a valid plan, so a start-time prefix is closed)."""
    kept = sorted(schedule.assignments, key=lambda a: (a.start, a.end))[:n]
    return Schedule(kept, schedule.horizon, schedule.status, kpis=dict(schedule.kpis), name=schedule.name)


@dataclass
class CarriedIn:
    """The carried-in work of a plan, as dispatch treats it under `rule`."""

    rule: str
    units: int
    operations: int

    def sentence(self) -> str:
        if not self.operations:
            return "carry-in: none (the plan carries no work in from a warm-up)"
        other = "--carry-in send sends them" if self.rule == "skip" else "--carry-in skip leaves them to the floor"
        return (f"carry-in: {self.rule} — {self.operations} operations of {self.units} units carried in from the warm-up "
                f"(-wip) are {CARRY_IN_RULES[self.rule]}; {other}")


def to_dispatch(schedule: Schedule, carry_in: str = "skip", first: int | None = None) -> tuple[Schedule, CarriedIn]:
    """The part of `schedule` to send, and what happened to its carried-in work. A steady-state
    plan opens on a warm-up's work in progress: units `PRODUCT#N-wip` that a model left half built.
    On a real floor that work is whatever is really there, run by the dispatch of the plan that
    started it, so by default ('skip') it is not sent; 'send' sends it (a simulated floor that
    starts with exactly the warm-up's work). `first`: then only the first N by start."""
    if carry_in not in CARRY_IN_RULES:
        raise ValueError(f"--carry-in: {carry_in!r} is not a carry-in rule; valid: {', '.join(CARRY_IN_RULES)}")
    carried = [a for a in schedule.assignments if a.job.endswith(CARRIED_MARK)]
    info = CarriedIn(carry_in, len({a.job for a in carried}), len(carried))
    if carry_in == "skip" and carried:
        kept = [a for a in schedule.assignments if not a.job.endswith(CARRIED_MARK)]
        schedule = Schedule(kept, schedule.horizon, schedule.status, schedule.objective, kpis=dict(schedule.kpis), name=schedule.name)
    if first is not None:
        schedule = first_assignments(schedule, first)
    return schedule, info


def clear_of_downtime(windows: list[tuple[int, int]], now: float, duration: float) -> float:
    """The earliest plan time >= `now` at which work of `duration` plan seconds fits between a
    cell's downtime `windows` (the repair took the cell down there: it gets no work inside them,
    whatever the release rule; predecessors-done would otherwise run ahead into a window)."""
    at = now
    for start, end in sorted(windows):
        if at < end and at + duration > start:
            at = end
    return at


async def wait_out_downtime(windows: list[tuple[int, int]], epoch: float, speed: float, a: Assignment) -> None:
    """Sleep until assignment `a` (its remaining work: a job carried in running has started)
    fits clear of its cell's downtime `windows` on the plan's clock (plan seconds since `epoch`
    at `speed` plan seconds per wall second)."""
    if not windows:
        return
    now = (time.time() - epoch) * speed
    at = clear_of_downtime(windows, now, a.end - max(a.start, 0))
    if at > now:
        await asyncio.sleep((at - now) / speed)
