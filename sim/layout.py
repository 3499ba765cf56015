"""Compiles a FactorySpec into the indexed form the floor model runs: one station per cell type
(its cells share one input queue), and each product's routing as operations with predecessor,
successor and rework index lists, their eligible stations and duration shapes."""
from __future__ import annotations

from dataclasses import dataclass, field

from plant.demand import critical_path_s
from plant.rework import rework_set
from plant.spec import FactorySpec
from sim.streams import Shape


@dataclass
class StationDef:
    index: int
    name: str  # the cell type
    cells: list[str]  # cell ids
    capacity: int  # jobs one cell holds at once
    places: int | None  # input buffer places of the whole station; None = unlimited
    setup: float
    mttf: float | None
    mttr: float
    repair_cv: float
    fails_when: str
    windows: list = field(default_factory=list)
    # One-off downtime of single cells, cell id -> [(start, end)] in seconds: what a repaired
    # plan was made around (`kpis.down`); the cell is down then, whatever the failure draws say.
    cell_down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        return len(self.cells) * self.capacity


@dataclass
class OpDef:
    index: int
    id: str
    capability: str
    duration: float
    shape: Shape
    fpy: float
    preds: list[int]
    succs: list[int] = field(default_factory=list)
    options: list[tuple[int, float]] = field(default_factory=list)  # (station, duration factor), fastest first
    factor: dict[int, float] = field(default_factory=dict)
    rework: list[int] = field(default_factory=list)  # ops redone when this one fails; first is the target
    in_rework: set[int] = field(default_factory=set)


@dataclass
class ProductDef:
    index: int
    name: str
    family: str
    category: str
    mw: float
    ops: list[OpDef]
    roots: list[int]
    critical_path_s: float
    weekly_units: float


@dataclass
class Layout:
    stations: list[StationDef]
    products: list[ProductDef]
    product_index: dict[str, int]

    @property
    def station_index(self) -> dict[str, int]:
        return {s.name: s.index for s in self.stations}


def compile_layout(spec: FactorySpec, cell_down: dict[str, list[tuple[int, int]]] | None = None) -> Layout:
    """`cell_down`: cell id -> one-off downtime windows (a repaired plan's `kpis.down`)."""
    stations: list[StationDef] = []
    cell_down = cell_down or {}
    for ctype in spec.cell_types:
        cells = [c.id for c in spec.all_cells if c.type == ctype.name]
        if not cells:
            continue
        places = None if ctype.buffer is None else ctype.buffer * len(cells)
        down = {c: sorted((float(s), float(e)) for s, e in cell_down[c]) for c in cells if c in cell_down}
        stations.append(StationDef(len(stations), ctype.name, cells, ctype.capacity, places, ctype.setup, ctype.mttf,
                                   ctype.mttr, ctype.repair_cv, ctype.fails_when, list(ctype.unavailable), down))
    products = [_compile_product(spec, p_index, stations) for p_index in range(len(spec.products))]
    return Layout(stations, products, {p.name: p.index for p in products})


def _compile_product(spec: FactorySpec, p_index: int, stations: list[StationDef]) -> ProductDef:
    product = spec.products[p_index]
    index = {op.id: i for i, op in enumerate(product.routing)}
    ops: list[OpDef] = []
    for i, op in enumerate(product.routing):
        options = []
        for st in stations:
            factor = spec.cell_type_index[st.name].capabilities.get(op.capability)
            if factor is not None:
                options.append((st.index, factor))
        # Fastest first; among equals the station with more slots (more chances of a free cell).
        options.sort(key=lambda o: (o[1], -stations[o[0]].slots))
        ops.append(OpDef(i, op.id, op.capability, op.duration, Shape.from_variability(op.variability), op.first_pass_yield,
                         [index[p] for p in op.predecessors], options=options, factor=dict(options)))
    for op in ops:
        for p in op.preds:
            ops[p].succs.append(op.index)
    for i in range(len(product.routing)):
        ops[i].rework = rework_set(product.routing, i)
        ops[i].in_rework = set(ops[i].rework)
    roots = [op.index for op in ops if not op.preds]
    return ProductDef(p_index, product.name, product.family, product.category, product.mw, ops, roots,
                      float(critical_path_s(spec, product.name)), spec.demand.get(product.name, 0.0))
