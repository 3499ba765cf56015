"""Sensitivity: how many GW/week each input that matters moves, for a ±10% change — operation
durations, MTTF, MTTR and cell count of each cell type, and each step's yield — measured with
the twin under common random numbers (every variant runs the same seed; the streams are named
by source, so a change leaves every other source's draws alone) and given as the mean paired
difference per replication with its 95% t interval.

By default the floor is offered more than it can take (sim.limits), so the figure is what the
floor can make: on a floor fed exactly its demand most changes would read zero. A yield's ±10%
is a change of its failure share (1 − yield): a yield of 0.95 cannot rise 10%."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from plant.loader import spec_from_dict
from plant.spec import FactorySpec
from sim.plan import with_cell_counts
from sim.statistics import Interval, t_interval
from sim.twin import Twin

KINDS = ("duration", "mttf", "mttr", "cells", "yield")


@dataclass(frozen=True)
class Input:
    kind: str  # duration | mttf | mttr | cells | yield
    target: str  # a cell type, or product/operation for a yield
    base: float

    @property
    def label(self) -> str:
        return {"duration": f"durations on {self.target}", "mttf": f"MTTF of {self.target}", "mttr": f"MTTR of {self.target}",
                "cells": f"cells of {self.target}", "yield": f"failure share of {self.target}"}[self.kind]


@dataclass
class Effect:
    input: Input
    low_change: float  # the input's actual relative change downwards (cell counts are whole)
    high_change: float
    low: Interval  # GW/week change, paired per replication
    high: Interval

    @property
    def swing(self) -> float:
        return max(abs(self.low.mean), abs(self.high.mean))

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input.label, "kind": self.input.kind, "target": self.input.target, "base": self.input.base,
                "low_change": round(self.low_change, 4), "high_change": round(self.high_change, 4),
                "gw_change_low": self.low.to_dict(6), "gw_change_high": self.high.to_dict(6), "swing_gw": round(self.swing, 6)}


@dataclass
class Sensitivity:
    spec_name: str
    target_gw: float
    offered: str  # capacity | spec
    change: float
    base: Interval
    replications: int
    effects: list[Effect] = field(default_factory=list)
    base_report: Any = None  # the base run's TwinReport, for the HTML report

    def ranked(self) -> list[Effect]:
        return sorted(self.effects, key=lambda e: -e.swing)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec_name, "target_gw": self.target_gw, "offered": self.offered, "change": self.change,
                "base_gw_per_week": self.base.to_dict(6), "replications": self.replications,
                "ranking": [e.to_dict() for e in self.ranked()]}


def inputs_of(spec: FactorySpec, kinds: tuple[str, ...] = KINDS, types: set[str] | None = None) -> list[Input]:
    """Every input of the listed kinds that the spec has (a type that never fails has no MTTF)."""
    used = {t for p in spec.products for op in p.routing for t in _types_for(spec, op.capability)}
    out: list[Input] = []
    for t in spec.cell_types:
        if t.name not in used or (types is not None and t.name not in types):
            continue
        if "duration" in kinds:
            out.append(Input("duration", t.name, 1.0))
        if "mttf" in kinds and t.mttf is not None:
            out.append(Input("mttf", t.name, float(t.mttf)))
        if "mttr" in kinds and t.mttf is not None and t.mttr > 0:
            out.append(Input("mttr", t.name, float(t.mttr)))
        if "cells" in kinds:
            out.append(Input("cells", t.name, float(spec.cell_count(t.name))))
    if "yield" in kinds:
        for p in spec.products:
            if spec.demand.get(p.name, 0) <= 0:
                continue
            for op in p.routing:
                if op.first_pass_yield < 1.0:
                    out.append(Input("yield", f"{p.name}/{op.id}", op.first_pass_yield))
    return out


def _types_for(spec: FactorySpec, capability: str) -> list[str]:
    return [t.name for t in spec.cell_types if capability in t.capabilities]


def perturbed(spec: FactorySpec, item: Input, factor: float) -> tuple[FactorySpec, float]:
    """The spec with `item` scaled by `factor` (1.1 = +10%), and the relative change made."""
    if item.kind == "cells":
        n = int(item.base)
        wanted = max(1, round(n * factor))
        if wanted == n:  # a small count: move by one cell, the smallest change there is
            wanted = n + (1 if factor > 1 else -1)
        wanted = max(1, wanted)
        return with_cell_counts(spec, {item.target: wanted}), wanted / n - 1
    raw = spec.model_dump(mode="json")
    if item.kind == "yield":
        product, op_id = item.target.split("/", 1)
        for p in raw["products"]:
            if p["name"] == product:
                for op in p["routing"]:
                    if op["id"] == op_id:
                        fail = (1 - op["first_pass_yield"]) * factor
                        op["first_pass_yield"] = min(1.0, max(1e-6, 1 - fail))
        return spec_from_dict(raw, spec.name), factor - 1
    for t in raw["cell_types"]:
        if t["name"] != item.target:
            continue
        if item.kind == "duration":
            t["capabilities"] = {c: f * factor for c, f in t["capabilities"].items()}
        elif item.kind == "mttf":
            t["mttf"] = t["mttf"] * factor
        elif item.kind == "mttr":
            t["mttr"] = t["mttr"] * factor
    return spec_from_dict(raw, spec.name), factor - 1


def sensitivity(spec: FactorySpec, *, change: float = 0.1, kinds: tuple[str, ...] = KINDS, types: set[str] | None = None,
                offered: str = "capacity", seed: int = 0, progress: Callable[[str], None] | None = None,
                **twin_kwargs: Any) -> Sensitivity:
    if not 0 < change < 1:
        raise ValueError(f"--change: must be between 0 and 1 (0.1 = ±10%), got {change}")
    if offered not in ("capacity", "spec"):
        raise ValueError(f"--offered: {offered!r} is not capacity or spec")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"--inputs: {', '.join(sorted(unknown))} not among {', '.join(KINDS)}")
    if types is not None:
        missing = types - set(spec.cell_type_index)
        if missing:
            raise ValueError(f"--types: {', '.join(sorted(missing))} not a cell type of the spec ({', '.join(spec.cell_type_index)})")
    if offered == "capacity":
        from sim.limits import overload_spec

        # Offer well above what even the +10% floors can take, the same offer for every variant.
        spec, _ = overload_spec(spec, 1.3 * (1 + change) / 1.0)
    items = inputs_of(spec, kinds, types)

    def run(s: FactorySpec) -> list[float]:
        return Twin(s, seed=seed, **twin_kwargs).run().gw_per_replication

    base_report = Twin(spec, seed=seed, **twin_kwargs).run()
    base = base_report.gw_per_replication
    result = Sensitivity(spec.name, spec.target.facility_gw, offered, change, t_interval(base), len(base), base_report=base_report)
    for k, item in enumerate(items):
        diffs = []
        changes = []
        for factor in (1 - change, 1 + change):
            variant, actual = perturbed(spec, item, factor)
            gw = run(variant)
            diffs.append(t_interval([g - b for g, b in zip(gw, base)]))
            changes.append(actual)
        effect = Effect(item, changes[0], changes[1], diffs[0], diffs[1])
        result.effects.append(effect)
        if progress:
            scale, unit = (1.0, "GW") if result.target_gw >= 1 else (1000.0, "MW")
            progress(f"input {k + 1}/{len(items)}: {item.label}: {effect.low.mean * scale:+.4g} / {effect.high.mean * scale:+.4g} {unit}/week")
    return result


def elasticity(effect: Effect, base_gw: float) -> float:
    """Relative GW change per relative input change, from the two sides (a slope through both)."""
    span = effect.high_change - effect.low_change
    if span == 0 or base_gw == 0:
        return math.nan
    return (effect.high.mean - effect.low.mean) / base_gw / span
