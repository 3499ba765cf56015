"""How big a job this server takes on: operations of one plan, weeks x replications of one
twin run. Checked when the request arrives, before anything is queued; each refusal is a
ValueError naming the field (HTTP 422). Specs themselves are bounded by `plant.limits`, which
the loader checks before building one."""
from __future__ import annotations

from plant.spec import FactorySpec


class LimitError(ValueError):
    """A job larger than this server accepts; the message names the field."""


def plan_operations(spec: FactorySpec, demand_hours: float) -> int:
    """Operations a plan of `demand_hours` of the spec's weekly demand holds, counted without
    making a single order."""
    share = demand_hours / 168.0
    return round(sum(units * share * len(spec.product_index[name].routing)
                     for name, units in spec.demand.items() if units > 0 and name in spec.product_index))


def check_plan_size(spec: FactorySpec, demand_hours: float, limit: int) -> None:
    operations = plan_operations(spec, demand_hours)
    if operations > limit:
        raise LimitError(f"demand_hours: {demand_hours:g} h of this spec's demand is {operations} operations; "
                         f"at most {limit} in one plan; ask for fewer hours")


def check_twin_size(weeks: float, replications: int, limit: float) -> None:
    if weeks * replications > limit:
        raise LimitError(f"replications: {weeks:g} weeks x {replications} replications = {weeks * replications:g} "
                         f"simulated weeks; at most {limit:g} in one job; ask for fewer")
