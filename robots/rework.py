"""What a unit redoes when a controller reports that an operation failed its check: the spec's
rework routing, by the one definition the twin and the spec checks share (plant.rework)."""
from __future__ import annotations

from plant.rework import rework_set
from plant.spec import FactorySpec

MAX_ROUNDS = 3  # a unit sent back this often is a person's problem, not the routing's


def rework_sets(spec: FactorySpec) -> dict[tuple[str, str], list[str]]:
    """(product, failed operation) -> operations to redo (target first), for every operation that can fail."""
    out: dict[tuple[str, str], list[str]] = {}
    for product in spec.products:
        for i, op in enumerate(product.routing):
            if op.first_pass_yield < 1.0:
                out[(product.name, op.id)] = [product.routing[k].id for k in rework_set(product.routing, i)]
    return out
