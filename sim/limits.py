"""Capacity and demand told apart. A twin run fed the spec's release says how much of what it
is offered the floor delivers; a second run offered more than the floor can take (the demand
mix, well above its analytic capacity) says what the floor can make. Together they say which
one limits the week: the floor (add cells at its bottleneck) or the demand (it ships what it
is given; raise the demand or the release)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plant.spec import FactorySpec, deployable_gw
from sim.report import TwinReport, capacity_bound_gw
from sim.statistics import Interval
from sim.units import power, power_interval

# How far above the analytic capacity the capacity run is offered: enough that every run
# saturates the bottleneck even when queueing costs some capacity, not so much that WIP balloons.
OVERLOAD = 1.3
# A floor delivering at least this share of what it is offered takes all of it (what is
# still inside when the window closes is the rest).
TAKES_ALL = 0.99


@dataclass
class Limits:
    target_gw: float
    demand_gw: float  # the weekly demand, deployable (the scarcest category sets it)
    offered_gw: float  # released in the run (demand x load)
    delivered: Interval
    capacity: Interval | None  # twin offered more than it can take
    capacity_bound_gw: float  # analytic best case at the demand mix
    capacity_offered_gw: float
    capacity_bottleneck: str | None
    limited_by: str  # capacity | demand
    meets_target: bool

    @property
    def demand_met(self) -> float:
        return self.delivered.mean / self.demand_gw if self.demand_gw > 0 else math.nan

    @property
    def offered_taken(self) -> float:
        return self.delivered.mean / self.offered_gw if self.offered_gw > 0 else math.nan

    def sentences(self) -> list[str]:
        ref = self.target_gw
        out = []
        if self.capacity is not None:
            out.append(f"the floor can make {power_interval(self.capacity.mean, self.capacity.ci_low, self.capacity.ci_high, ref)} "
                       f"(twin offered {power(self.capacity_offered_gw, ref)}; analytic best case {power(self.capacity_bound_gw, ref)}), "
                       f"bottleneck {self.capacity_bottleneck}")
        else:
            out.append(f"the floor can make at most {power(self.capacity_bound_gw, ref)} (analytic best case)")
        out.append(f"demand is {power(self.demand_gw, ref)}, {power(self.offered_gw, ref)} offered in this run; "
                   f"it delivers {power(self.delivered.mean, ref)}: {self.offered_taken:.1%} of what it is offered, "
                   f"{self.demand_met:.1%} of the demand")
        verdict = "meets" if self.meets_target else "misses"
        if self.limited_by == "capacity":
            out.append(f"limited by capacity: the floor cannot take what it is offered; it {verdict} the target "
                       f"{power(self.target_gw, ref)} — add cells where it chokes")
        else:
            reason = ("the demand is below the target: raise the demand (or the release load)" if self.demand_gw < self.target_gw * (1 - 1e-9)
                      else "a floor fed exactly its demand can at best just meet it: offer a little more (--load 1.05)")
            tail = "" if self.meets_target else f"; {reason}"
            out.append(f"limited by demand: the floor ships what it is given and {verdict} the target {power(self.target_gw, ref)}{tail}")
        return out

    def to_dict(self) -> dict[str, Any]:
        from sim.report import _json_safe

        return _json_safe({"target_gw": self.target_gw, "demand_gw": round(self.demand_gw, 6), "offered_gw": round(self.offered_gw, 6),
                "delivered_gw": self.delivered.to_dict(6),
                "capacity_gw": self.capacity.to_dict(6) if self.capacity is not None else None,
                "capacity_method": "twin, offered more than it can take" if self.capacity is not None else "analytic best case",
                "capacity_offered_gw": round(self.capacity_offered_gw, 6), "capacity_bound_gw": round(self.capacity_bound_gw, 6),
                "capacity_bottleneck": self.capacity_bottleneck, "demand_met": round(self.demand_met, 4),
                "offered_taken": round(self.offered_taken, 4), "limited_by": self.limited_by, "meets_target": self.meets_target,
                "summary": self.sentences()})


def overload_spec(spec: FactorySpec, factor: float = OVERLOAD) -> tuple[FactorySpec, float]:
    """The spec with its weekly demand scaled to `factor` x its analytic capacity (the demand mix
    kept), released evenly; and that scale. Demand is scaled rather than the release load,
    which a spec caps at 10x (a tiny demand on a big floor needs more)."""
    from plant.spec import Release
    from sim.layout import compile_layout

    demand = deployable_gw(spec.demand_mw(), spec.target)
    bound = capacity_bound_gw(spec, compile_layout(spec))
    scale = factor * bound / demand if demand > 0 and math.isfinite(bound) else factor
    scale = max(scale, factor)
    return spec.model_copy(update={"demand": {p: units * scale for p, units in spec.demand.items()},
                                   "release": Release(mode="demand", load=1.0)}), scale


def assess(spec: FactorySpec, report: TwinReport, capacity: TwinReport | None) -> Limits:
    """Which one limits: the floor cannot take what it is offered (capacity), or it takes all of
    it (demand). With no capacity run, the analytic best case stands in for it."""
    demand = deployable_gw(spec.demand_mw(), spec.target)
    offered = report.offered_gw_per_week
    can_make = capacity.gw_per_week if capacity is not None else None
    ceiling = can_make.ci_high if can_make is not None else report.capacity_bound_gw_per_week
    takes_all = report.gw_per_week.mean >= TAKES_ALL * offered and ceiling >= offered * TAKES_ALL
    return Limits(
        target_gw=spec.target.facility_gw, demand_gw=demand, offered_gw=offered, delivered=report.gw_per_week,
        capacity=can_make, capacity_bound_gw=report.capacity_bound_gw_per_week,
        capacity_offered_gw=capacity.offered_gw_per_week if capacity is not None else math.nan,
        capacity_bottleneck=capacity.bottleneck["type"] if capacity is not None else report.bottleneck["type"],
        limited_by="demand" if takes_all else "capacity", meets_target=report.gw_per_week.ci_low >= spec.target.facility_gw)


def capacity_run(spec: FactorySpec, progress=None, **twin_kwargs: Any) -> TwinReport:
    """The twin offered OVERLOAD x the analytic capacity at the demand mix: its output is what
    the floor can make. Same seed as the demand run, so both see the same failures and times."""
    from sim.twin import Twin

    overloaded, _ = overload_spec(spec)
    return Twin(overloaded, progress=progress, **twin_kwargs).run()
