"""Rebuilds the problem a saved schedule was made for, so dispatch knows each job's routing."""
from __future__ import annotations

from plant.demand import Order
from plant.spec import FactorySpec
from scheduler.problem import Problem, build_problem
from scheduler.schedule import Schedule


def problem_for_schedule(spec: FactorySpec, schedule: Schedule) -> Problem:
    """Jobs are named `PRODUCT#N` by `plant.orders_for`; the product gives the routing. A plan
    `gwf schedule` made for a running floor (its carried-in units have only some operations
    left) is rebuilt the way it was made, from what its KPIs record."""
    if (schedule.kpis or {}).get("mode") == "steady-state":
        # Imported here: only such plans need the list scheduler for the warm-up.
        from scheduler.steady import recorded_problem

        recorded = recorded_problem(spec, schedule.kpis)
        if recorded is not None:
            return recorded
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
    return build_problem(spec, list(orders.values()), max(schedule.horizon, schedule.makespan))


def first_assignments(schedule: Schedule, n: int) -> Schedule:
    """The first n assignments by start, closed under predecessors of the same job (a job's
    earlier operations start earlier in a valid plan, so a start-time prefix is closed)."""
    kept = sorted(schedule.assignments, key=lambda a: (a.start, a.end))[:n]
    return Schedule(kept, schedule.horizon, schedule.status, kpis=dict(schedule.kpis), name=schedule.name)
