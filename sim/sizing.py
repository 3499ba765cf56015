"""Sizing with money: the cheapest floor (cell counts per type) that meets the weekly target with
at least the required probability, and the cost-against-P(target) trade-off on the way.

Start from the analytic bound (fewest cells at 100% utilisation), grow what the twin says
chokes until the floor is feasible, then prune: try removing cells of the type whose spare
capacity is worth the most money first, keeping a removal only when the twin (same seed, so
common random numbers make the comparison fair) still says feasible. The cheapest feasible
floor is then confirmed on fresh random numbers before it is returned: choosing the cheapest
of many floors on one set of replications would otherwise favour a lucky one.

Feasible: every replication reaches the target (with 5 replications, a share >= 95% means all
of them) and the normal fit of the replications gives P(week >= target) >= the required level.
Without costs in the spec every cell costs 1, so the cheapest floor is the fewest cells."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from plant.spec import FactorySpec
from sim.capacity import type_loads
from sim.limits import TAKES_ALL
from sim.plan import with_cell_counts
from sim.report import TwinReport
from sim.twin import Twin

GROW_UTILISATION = 0.92  # grow a type running hotter than this (queues explode near 100%)
PRUNE_UTILISATION = 0.99  # never try to run a type hotter than this


@dataclass
class Candidate:
    counts: dict[str, int]
    cost: float
    footprint_m2: float
    power_kw: float
    gw: dict[str, float]
    gw_per_replication: list[float]
    p_share: float
    p_normal: float
    feasible: bool
    bottleneck: str
    utilisation: dict[str, float]
    stage: str  # grow | prune | confirm
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"cells_total": sum(self.counts.values()), "cost": self.cost, "footprint_m2": self.footprint_m2,
                "power_kw": self.power_kw, "gw_per_week": self.gw, "p_meets_target": round(self.p_share, 4),
                "p_meets_target_normal": round(self.p_normal, 4), "feasible": self.feasible,
                "bottleneck": self.bottleneck, "stage": self.stage, "seed": self.seed, "counts": self.counts,
                "gw_per_replication": [round(g, 6) for g in self.gw_per_replication]}


@dataclass
class Sizing:
    spec: FactorySpec
    target_gw: float
    load: float
    p_required: float
    costed: bool  # every cell type has a cost in the spec
    cells_now: dict[str, int]
    cells_bound: dict[str, int]
    chosen: Candidate | None  # confirmed on fresh random numbers
    evaluated: list[Candidate] = field(default_factory=list)

    @property
    def fewest_cells(self) -> Candidate | None:
        feasible = [c for c in self.evaluated if c.feasible and c.stage != "confirm"]
        return min(feasible, key=lambda c: (sum(c.counts.values()), c.cost)) if feasible else None

    def tradeoff(self) -> list[Candidate]:
        """The cost against P(target) frontier: each floor no cheaper floor beats on P(target)."""
        out: list[Candidate] = []
        for c in sorted(self.evaluated, key=lambda c: (c.cost, -c.p_normal)):
            if not out or c.p_normal > out[-1].p_normal + 1e-9:
                out.append(c)
        return out

    def written_spec(self) -> FactorySpec:
        if self.chosen is None:
            raise ValueError("no confirmed floor to write: raise --runs or --replications")
        return with_cell_counts(self.spec, self.chosen.counts)

    def to_dict(self) -> dict[str, Any]:
        return {"target_gw": self.target_gw, "offered_load": self.load, "p_required": self.p_required,
                "costed": self.costed, "cells_now": self.cells_now, "cells_bound": self.cells_bound,
                "cost_now": floor_cost(self.spec, self.cells_now)[0],
                "chosen": self.chosen.to_dict() if self.chosen else None,
                "fewest_cells": self.fewest_cells.to_dict() if self.fewest_cells else None,
                "tradeoff": [c.to_dict() for c in self.tradeoff()],
                "evaluated": [c.to_dict() for c in self.evaluated]}


def floor_cost(spec: FactorySpec, counts: dict[str, int]) -> tuple[float, float, float]:
    """(cost, footprint m², power kW) of a floor; a type without a cost counts 1 per cell."""
    types = spec.cell_type_index
    cost = sum(n * (types[t].cost if types[t].cost is not None else 1.0) for t, n in counts.items())
    area = sum(n * (types[t].footprint_m2 or 0.0) for t, n in counts.items())
    power = sum(n * (types[t].power_kw or 0.0) for t, n in counts.items())
    return cost, area, power


def spec_yaml(spec: FactorySpec, note: str = "") -> str:
    """A spec as YAML that `plant.load_spec` reads back to the same model."""
    raw = spec.model_dump(mode="json", exclude_defaults=True)
    head = f"# {note}\n" if note else ""
    return head + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)


def scaled_spec(spec: FactorySpec, target_gw: float) -> FactorySpec:
    """The same floor design for another weekly target: demand, target MW, cell counts and AGVs
    all scaled by target_gw / the spec's target (counts rounded up)."""
    from plant.loader import spec_from_dict

    if not target_gw > 0:
        raise ValueError(f"--target: must be > 0 GW, got {target_gw}")
    k = target_gw / spec.target.facility_gw
    raw = spec.model_dump(mode="json")
    raw["target"]["facility_gw"] = target_gw
    raw["target"]["mw"] = {c: v * k for c, v in raw["target"]["mw"].items()}
    raw["demand"] = {p: u * k for p, u in raw["demand"].items()}
    for group in raw["cells"]:
        group["count"] = max(1, math.ceil(group["count"] * k))
    if raw.get("transport", {}).get("vehicles"):
        raw["transport"]["vehicles"] = max(1, math.ceil(raw["transport"]["vehicles"] * k))
    return spec_from_dict(raw, f"{spec.name} x{k:g}")


class _Search:
    def __init__(self, spec: FactorySpec, load: float, p_required: float, seed: int, max_runs: int,
                 progress: Callable[[str], None] | None, twin_kwargs: dict[str, Any]) -> None:
        self.spec, self.load, self.p_required, self.seed = spec, load, p_required, seed
        self.max_runs, self.progress, self.twin_kwargs = max_runs, progress, twin_kwargs
        self.evaluated: list[Candidate] = []
        self.target = spec.target.facility_gw
        self.last_report: TwinReport | None = None

    @property
    def budget_left(self) -> int:
        return self.max_runs - len(self.evaluated)

    def evaluate(self, counts: dict[str, int], stage: str, seed: int | None = None) -> Candidate:
        seed = self.seed if seed is None else seed
        report: TwinReport = Twin(with_cell_counts(self.spec, counts, self.load), seed=seed, **self.twin_kwargs).run()
        cost, area, power = floor_cost(self.spec, counts)
        reps = report.gw_per_replication
        feasible = bool(min(reps) >= self.target) and report.p_meets_target >= self.p_required and report.p_meets_target_normal >= self.p_required
        c = Candidate(dict(counts), cost, area, power, report.gw_per_week.to_dict(9), [float(g) for g in reps],
                      float(report.p_meets_target), float(report.p_meets_target_normal), bool(feasible), report.bottleneck["type"],
                      dict(report.bottleneck["utilisation_of_available_time"]), stage, seed)
        self.evaluated.append(c)
        self.last_report = report
        if self.progress:
            gw = report.gw_per_week
            self.progress(f"run {len(self.evaluated)} ({stage}): {sum(counts.values())} cells, cost {cost:,.0f}, "
                          f"{gw.mean:.4g} GW/week [{gw.ci_low:.4g}, {gw.ci_high:.4g}], P(target) {report.p_meets_target_normal:.0%}"
                          f"{' feasible' if feasible else ''}")
        return c

    def grow(self, counts: dict[str, int]) -> Candidate | None:
        """Grow what chokes until feasible (or out of runs)."""
        while self.budget_left > 0:
            c = self.evaluate(counts, "grow")
            if c.feasible:
                return c
            offered = self.last_report.offered_gw_per_week
            if c.gw["mean"] >= TAKES_ALL * offered and offered < self.target:
                # It ships all it is offered and that is short of the target: more cells cannot help.
                raise ValueError(f"release: the floor delivers all it is offered ({offered:.4g} GW/week deployable at "
                                 f"{self.load:g}x demand) and that is below the target {self.target:g}; raise --load or the demand")
            grow = {c.bottleneck} | {t for t, u in c.utilisation.items() if u > GROW_UTILISATION}
            counts = dict(counts)
            for t in grow:
                counts[t] = max(counts[t] + 1, math.ceil(counts[t] * c.utilisation.get(t, 1.0) / GROW_UTILISATION))
        return None

    def prune(self, best: Candidate) -> Candidate:
        """Remove cells where the spare capacity is worth most, while the floor stays feasible;
        ends when no type can lose even one cell (every such floor was tried and missed) or the
        runs are spent. Each tried floor is also a point of the cost/P(target) trade-off."""
        types = self.spec.cell_type_index
        unit_cost = {t: types[t].cost if types[t].cost is not None else 1.0 for t in best.counts}
        # The fewest cells of each type seen to miss: taking cells elsewhere never makes a type's
        # removal succeed where it failed before, so such removals are not tried again.
        missed_at: dict[str, int] = {}
        improved = True
        while improved and self.budget_left > 0:
            improved = False

            def spare(t: str) -> int:
                return best.counts[t] - math.ceil(best.counts[t] * best.utilisation.get(t, 1.0) / PRUNE_UTILISATION)

            for t in sorted(best.counts, key=lambda t: (max(spare(t), 1) * unit_cost[t], unit_cost[t]), reverse=True):
                if best.counts[t] <= 1:
                    continue
                for k in sorted({max(spare(t), 1), max(1, spare(t) // 2), 1}, reverse=True):
                    trial = dict(best.counts, **{t: best.counts[t] - k})
                    if trial[t] <= missed_at.get(t, 0):
                        continue
                    if self.budget_left <= 0:
                        return best
                    c = self.evaluate(trial, "prune")
                    if c.feasible:
                        best, improved = c, True
                        break
                    missed_at[t] = max(missed_at.get(t, 0), trial[t])
                if improved:
                    break  # utilisations changed: rank the types again
        return best

    def confirm(self) -> Candidate | None:
        """The cheapest feasible floors, cheapest first, re-run on fresh random numbers; the first
        that stays feasible is the answer."""
        tried: set[tuple] = set()
        for c in sorted((c for c in self.evaluated if c.feasible), key=lambda c: (c.cost, sum(c.counts.values()))):
            key = tuple(sorted(c.counts.items()))
            if key in tried:
                continue
            tried.add(key)
            if len(tried) > 3:
                break
            check = self.evaluate(c.counts, "confirm", seed=self.seed + 1_000_003)
            if check.feasible:
                return check
        return None


def cheapest_floor(spec: FactorySpec, *, load: float = 1.05, p_required: float = 0.95, max_runs: int = 16, seed: int = 0,
                   progress: Callable[[str], None] | None = None, **twin_kwargs: Any) -> Sizing:
    if not 0 < p_required < 1:
        raise ValueError(f"--p: must be between 0 and 1, got {p_required}")
    if max_runs < 1:
        raise ValueError(f"--runs: need at least 1 twin run, got {max_runs}")
    loads = {t.cell_type: t for t in type_loads(spec)}
    now = {name: t.cells for name, t in loads.items()}
    bound = {name: max(1, t.cells_needed()) for name, t in loads.items()}
    from plant.spec import deployable_gw

    offered = deployable_gw(spec.demand_mw(), spec.target) * load
    if offered < spec.target.facility_gw * (1 - 1e-9):
        raise ValueError(f"demand: {load:g}x the weekly demand is {offered:.4g} GW/week deployable, below the target "
                         f"{spec.target.facility_gw:g}; no floor can meet it (raise the demand or --load)")
    # Sizing and pruning share max_runs; confirming adds at most 3 runs on fresh random numbers.
    search = _Search(spec, load, p_required, seed, max_runs, progress, twin_kwargs)
    first = search.grow(dict(bound))
    if first is not None:
        search.prune(first)
    chosen = search.confirm() if first is not None else None
    costed = all(t.cost is not None for t in spec.cell_types)
    return Sizing(spec, spec.target.facility_gw, load, p_required, costed, now, bound, chosen, search.evaluated)
