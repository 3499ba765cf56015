"""Warnings about a spec that is valid but probably not what its author meant: the cases the
models accept silently. Each warning is one line, `field.path: what and why`."""
from __future__ import annotations

from plant.rework import graph, reach
from plant.spec import FactorySpec, deployable_gw


def spec_warnings(spec: FactorySpec) -> list[str]:
    return _rework_downstream(spec) + _demand_below_target(spec) + _types_without_cells(spec)


def _rework_downstream(spec: FactorySpec) -> list[str]:
    """rework_to should name the failed step or one before it: the unit goes back and redoes
    everything on the way. A later (or parallel) step redoes only that step and the failed one."""
    out = []
    for i, product in enumerate(spec.products):
        index, preds, succs = graph(product.routing)
        for j, op in enumerate(product.routing):
            if op.rework_to is None or op.rework_to == op.id:
                continue
            target = index[op.rework_to]
            if target in reach(j, preds):
                continue
            where = "after" if target in reach(j, succs) else "beside (on a parallel branch of)"
            out.append(f"products[{i}].routing[{j}].rework_to: {op.rework_to!r} comes {where} {op.id!r}, not before it; "
                       f"a failed unit redoes only {op.rework_to!r} and {op.id!r} (name {op.id!r} or one of its predecessors)")
    return out


def _demand_below_target(spec: FactorySpec) -> list[str]:
    """Demand that delivers less than the target in some category caps deployable GW below it,
    however fast the floor is."""
    made = spec.demand_mw()
    out = []
    for category, need in spec.target.mw.items():
        if made.get(category, 0.0) < need * (1 - 1e-9):
            out.append(f"demand: the weekly demand delivers {made.get(category, 0.0):,.1f} MW of {category}, below target.mw.{category} "
                       f"= {need:,.1f} MW; even if everything is built, deployable output is at most "
                       f"{deployable_gw(made, spec.target):.3g} of {spec.target.facility_gw:g} GW/week")
    return out


def _types_without_cells(spec: FactorySpec) -> list[str]:
    on_floor = {g.type for g in spec.cells}
    return [f"cell_types[{i}]: {t.name!r} has no cells (add a group to `cells` or remove the type)"
            for i, t in enumerate(spec.cell_types) if t.name not in on_floor]
