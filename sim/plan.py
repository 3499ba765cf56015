"""Capacity planning: the fewest cells of each type that make the weekly target with 95%
confidence. Start from the analytic bound (each type's weekly work over one cell's available
time), then let the twin confirm: while the lower confidence bound of deployable GW/week is
below target, add cells where the twin says the floor chokes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from plant.loader import spec_from_dict
from plant.spec import FactorySpec
from sim.capacity import type_loads
from sim.report import TwinReport
from sim.twin import Twin


@dataclass
class PlanRow:
    cell_type: str
    cells_now: int
    cells_bound: int  # analytic: the work fits in the available time at 100% utilisation
    cells_needed: int  # confirmed (or last tried) by the twin
    utilisation: float  # busy + setup over available time, in the twin at cells_needed

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.cell_type, "cells_now": self.cells_now, "cells_bound": self.cells_bound,
                "cells_needed": self.cells_needed, "utilisation": round(self.utilisation, 4)}


@dataclass
class CapacityPlan:
    target_gw: float
    load: float
    rows: list[PlanRow]
    confirmed: bool
    gw_per_week: dict[str, float]
    bottleneck: str
    iterations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"target_gw": self.target_gw, "offered_load": self.load, "confirmed": self.confirmed,
                "gw_per_week": self.gw_per_week, "bottleneck": self.bottleneck,
                "cells": [r.to_dict() for r in self.rows], "iterations": self.iterations,
                "cells_now_total": sum(r.cells_now for r in self.rows),
                "cells_needed_total": sum(r.cells_needed for r in self.rows)}


def with_cell_counts(spec: FactorySpec, counts: dict[str, int], load: float | None = None) -> FactorySpec:
    """The spec with each listed type's cell total changed (the last group of the type absorbs the
    difference, so existing cell ids, and their random streams, stay the same)."""
    raw = spec.model_dump(mode="json")
    for type_name, wanted in counts.items():
        groups = [g for g in raw["cells"] if g["type"] == type_name]
        if not groups:
            raw["cells"].append({"type": type_name, "count": wanted})
            continue
        others = sum(g["count"] for g in groups[:-1])
        if wanted - others >= 1:
            groups[-1]["count"] = wanted - others
        else:  # fewer cells than the earlier groups hold: collapse into one group
            first = dict(groups[0], count=wanted)
            raw["cells"] = [g for g in raw["cells"] if g["type"] != type_name] + [first]
    if load is not None:
        raw["release"] = {"mode": "demand", "load": load}
    return spec_from_dict(raw, f"{spec.name} (capacity plan)")


def plan_capacity(spec: FactorySpec, *, load: float = 1.05, max_iterations: int = 8, target_utilisation: float = 0.92,
                  progress: Callable[[str], None] | None = None, **twin_kwargs: Any) -> CapacityPlan:
    """Offer `load` x demand (a floor offered exactly the demand can at best just meet it, so
    its lower bound would sit below target by noise alone), run the twin, and while the lower
    95% bound of deployable GW/week misses the target, grow the bottleneck type (and any type
    whose utilisation of available time exceeds `target_utilisation`) in proportion to its load."""
    loads = {t.cell_type: t for t in type_loads(spec)}
    now = {name: t.cells for name, t in loads.items()}
    bound = {name: t.cells_needed() for name, t in loads.items()}
    counts = {name: max(1, n) for name, n in bound.items()}
    iterations: list[dict[str, Any]] = []
    report: TwinReport | None = None
    target = spec.target.facility_gw
    for iteration in range(max_iterations):
        candidate = with_cell_counts(spec, counts, load)
        report = Twin(candidate, **twin_kwargs).run()
        util = _utilisation(report)
        gw = report.gw_per_week
        iterations.append({"iteration": iteration + 1, "cells_total": sum(counts.values()), "gw_per_week": gw.to_dict(4),
                           "bottleneck": report.bottleneck["type"]})
        if progress:
            progress(f"iteration {iteration + 1}: {sum(counts.values())} cells, {gw.mean:.3f} GW/week "
                     f"[{gw.ci_low:.3f}, {gw.ci_high:.3f}], bottleneck {report.bottleneck['type']}")
        if gw.ci_low >= target:
            return _result(spec, now, bound, counts, util, report, load, True, iterations)
        if iteration == max_iterations - 1:
            break
        grow = {report.bottleneck["type"]} | {t for t, u in util.items() if u > target_utilisation}
        for t in grow:
            # Cells that bring this type's utilisation down to the target, and at least one more.
            counts[t] = max(counts[t] + 1, math.ceil(counts[t] * util[t] / target_utilisation))
    assert report is not None
    return _result(spec, now, bound, counts, _utilisation(report), report, load, False, iterations)


def _utilisation(report: TwinReport) -> dict[str, float]:
    return dict(report.bottleneck["utilisation_of_available_time"])


def _result(spec, now, bound, counts, util, report: TwinReport, load, confirmed, iterations) -> CapacityPlan:
    rows = [PlanRow(name, now[name], bound[name], counts[name], util.get(name, 0.0)) for name in now]
    return CapacityPlan(spec.target.facility_gw, load, rows, confirmed, report.gw_per_week.to_dict(4),
                        report.bottleneck["type"], iterations)
