"""What a unit redoes when a controller reports that an operation failed its check: the spec's
rework routing (`rework_to`), as the twin applies it — every operation on a path from the
rework target to the failed one, target first, in routing order.

The same rule as sim/layout.py's `_rework_set`, written over the spec's own records because
robots/ cannot import the twin; both belong in plant/ (noted for the spec's owner)."""
from __future__ import annotations

from plant.spec import FactorySpec, Product

MAX_ROUNDS = 3  # a unit that fails the same check this often is a person's problem, not the routing's


def rework_sets(spec: FactorySpec) -> dict[tuple[str, str], list[str]]:
    """(product, failed operation) -> operations to redo, for every operation that can fail."""
    out: dict[tuple[str, str], list[str]] = {}
    for product in spec.products:
        for op in product.routing:
            if op.first_pass_yield < 1.0:
                out[(product.name, op.id)] = _between(product, op.rework_to or op.id, op.id)
    return out


def _between(product: Product, target: str, failed: str) -> list[str]:
    succs: dict[str, list[str]] = {op.id: [] for op in product.routing}
    preds = {op.id: list(op.predecessors) for op in product.routing}
    for op in product.routing:
        for p in op.predecessors:
            succs[p].append(op.id)
    downstream = _reach(target, succs)
    upstream = _reach(failed, preds)
    order = [op.id for op in product.routing]
    keep = (downstream & upstream) | {target, failed}
    return [target] + [o for o in order if o in keep and o != target]


def _reach(start: str, step: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in step[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
