"""Turns a spec's weekly demand into concrete orders (one unit each) over a slice of time."""
from __future__ import annotations

import math
from dataclasses import dataclass

from plant import limits
from plant.spec import FactorySpec

WEEK_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Order:
    """One unit to build: released at `release` seconds, wanted by `due` seconds."""

    id: str
    product: str
    release: int
    due: int


def orders_for(spec: FactorySpec, hours: float, due_slack_hours: float | None = None) -> list[Order]:
    """The share of weekly demand that falls in `hours`, released evenly across the slice.

    Units are apportioned by largest remainder so a short slice still carries every product
    whose share rounds to at least one unit. Due dates default to release + the product's
    longest path + the slice length (a unit is late when it falls behind the takt).
    """
    share = hours * 3600 / WEEK_S
    wanted = {name: units * share for name, units in spec.demand.items() if units > 0}
    counts = _largest_remainder(wanted)
    # Refused before the orders exist: a long horizon of a big floor is millions of operations.
    limits.check_plan_size(sum(count * len(spec.product_index[name].routing) for name, count in counts.items()), hours)
    slice_s = int(round(hours * 3600))
    orders: list[Order] = []
    for name, count in counts.items():
        product = spec.product_index[name]
        lead = critical_path_s(spec, name)
        slack = int(due_slack_hours * 3600) if due_slack_hours is not None else slice_s
        for k in range(count):
            release = int(slice_s * k / count)
            orders.append(Order(f"{name}#{k + 1:05d}", product.name, release, release + lead + slack))
    orders.sort(key=lambda o: (o.release, o.id))
    return orders


def critical_path_s(spec: FactorySpec, product_name: str) -> int:
    """Shortest possible flow time of one unit: its longest chain of operations at the fastest cell."""
    from plant.spec import topological_order

    product = spec.product_index[product_name]
    fastest = {}
    for op in product.routing:
        factors = [t.capabilities[op.capability] for t in spec.cell_types if op.capability in t.capabilities]
        fastest[op.id] = op.duration * min(factors)
    finish: dict[str, float] = {}
    for op_id in topological_order(product.routing) or []:
        op = product.operation_index[op_id]
        finish[op_id] = max((finish[p] for p in op.predecessors), default=0.0) + fastest[op_id]
    return int(math.ceil(max(finish.values())))


def _largest_remainder(wanted: dict[str, float]) -> dict[str, int]:
    floors = {k: int(math.floor(v)) for k, v in wanted.items()}
    total = int(round(sum(wanted.values())))
    leftovers = sorted(wanted, key=lambda k: wanted[k] - floors[k], reverse=True)
    for name in leftovers[: max(0, total - sum(floors.values()))]:
        floors[name] += 1
    return {k: v for k, v in floors.items() if v > 0}
