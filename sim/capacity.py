"""Analytic capacity: how much work each cell type gets per week (rework included, each
operation on its fastest eligible type, as the twin's fifo/edd routing does) against the time
its cells are available. Gives the best-case bound no run may beat, and the starting point of
the cell-count search in `sim.plan`."""
from __future__ import annotations

import math
from dataclasses import dataclass

from plant.demand import WEEK_S
from plant.spec import FactorySpec
from sim.layout import Layout, ProductDef, StationDef, compile_layout


def expected_visits(product: ProductDef) -> list[float]:
    """Mean times each operation runs per good unit: every attempt at op i fails with
    probability 1 - fpy_i and then sends the unit back through op i's rework set, so
    v_o = 1 + sum_i v_i (1 - fpy_i) [o in rework(i)]. Solved by fixed-point iteration."""
    v = [1.0] * len(product.ops)
    for _ in range(200):
        nxt = [1.0] * len(product.ops)
        for op in product.ops:
            if op.fpy < 1.0:
                for o in op.rework:
                    nxt[o] += v[op.index] * (1 - op.fpy)
        if max(abs(a - b) for a, b in zip(nxt, v)) < 1e-12:
            return nxt
        v = nxt
    return v


def available_fraction(station: StationDef) -> float:
    """Share of time a cell can work: breakdown availability MTTF/(MTTF+MTTR) times the share
    outside planned windows (repeating windows counted by their duty cycle)."""
    a = 1.0
    if station.mttf is not None and station.mttr > 0:
        a = station.mttf / (station.mttf + station.mttr)
    off = sum(w.duration / w.every for w in station.windows if w.every is not None)
    return a * max(0.0, 1.0 - off)


def work_per_unit(layout: Layout, product: ProductDef) -> dict[int, float]:
    """Busy seconds each station spends on one good unit of the product."""
    visits = expected_visits(product)
    out: dict[int, float] = {}
    for op in product.ops:
        station, factor = op.options[0]
        out[station] = out.get(station, 0.0) + visits[op.index] * op.duration * factor
    return out


@dataclass(frozen=True)
class TypeLoad:
    cell_type: str
    cells: int
    capacity: int  # units one cell holds at once
    availability: float
    busy_s_per_week: float  # at the spec's demand

    @property
    def utilisation(self) -> float:
        """Load over available slot time; > 1 means the type cannot keep up with demand."""
        slot_s = self.cells * self.capacity * self.availability * WEEK_S
        return self.busy_s_per_week / slot_s if slot_s > 0 else math.inf

    def cells_needed(self, load: float = 1.0) -> int:
        """Fewest cells whose available time covers the load (a bound: queueing needs more)."""
        per_cell = self.capacity * self.availability * WEEK_S
        return max(1, math.ceil(self.busy_s_per_week * load / per_cell - 1e-9)) if self.busy_s_per_week > 0 else 0


def type_loads(spec: FactorySpec, layout: Layout | None = None) -> list[TypeLoad]:
    layout = layout or compile_layout(spec)
    busy = [0.0] * len(layout.stations)
    for product in layout.products:
        if product.weekly_units > 0:
            for station, seconds in work_per_unit(layout, product).items():
                busy[station] += seconds * product.weekly_units
    return [TypeLoad(s.name, len(s.cells), s.capacity, available_fraction(s), busy[s.index]) for s in layout.stations]


def bottleneck_rate_per_h(spec: FactorySpec, product_name: str) -> float:
    """rb: the most units of one product per hour the floor could make if it made nothing else."""
    layout = compile_layout(spec)
    product = layout.products[layout.product_index[product_name]]
    rates = [layout.stations[st].slots * available_fraction(layout.stations[st]) * 3600 / seconds
             for st, seconds in work_per_unit(layout, product).items() if seconds > 0]
    return min(rates)


def raw_process_time_h(spec: FactorySpec, product_name: str) -> float:
    """T0: the product's longest chain of nominal operation times on its fastest cells, with
    each step stretched by its cell's availability (effective process time t0 / A)."""
    layout = compile_layout(spec)
    product = layout.products[layout.product_index[product_name]]
    finish: dict[int, float] = {}
    remaining = list(product.ops)
    while remaining:
        for op in list(remaining):
            if all(p in finish for p in op.preds):
                station, factor = op.options[0]
                t = op.duration * factor / available_fraction(layout.stations[station])
                finish[op.index] = max((finish[p] for p in op.preds), default=0.0) + t
                remaining.remove(op)
    return max(finish.values()) / 3600


def best_case_throughput_per_h(spec: FactorySpec, product_name: str, wip: float | None = None) -> float:
    """The best case for any line: TH = min(w / T0, rb) (rb alone for an open line)."""
    rb = bottleneck_rate_per_h(spec, product_name)
    return rb if wip is None else min(wip / raw_process_time_h(spec, product_name), rb)
