"""The factory spec: what the floor builds (products and routings), with what (cell types and
cells), and the weekly target it must meet. Models validate themselves on construction."""
from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plant import limits as L
from plant.rework import expected_visits, graph
from plant.units import duration_type

Category = Literal["compute", "cooling", "power"]
CATEGORIES: tuple[Category, ...] = ("compute", "cooling", "power")
Distribution = Literal["deterministic", "exponential", "lognormal", "gamma"]
Name = Annotated[str, Field(min_length=1, max_length=L.MAX_NAME_CHARS)]
# Durations the twin works through (their length sets how long a run must be) and durations on
# the calendar (the shorter, the more events a week holds).
WorkDuration = duration_type(0.0, L.MAX_WORK_S)
CalendarDuration = duration_type(0.0, L.MAX_CALENDAR_S)
PeriodDuration = duration_type(L.MIN_PERIOD_S, L.MAX_CALENDAR_S)
FailureDuration = duration_type(L.MIN_MTTF_S, L.MAX_CALENDAR_S)
UnitsPerWeek = Annotated[float, Field(ge=0, le=L.MAX_UNITS_PER_WEEK)]
DurationFactor = Annotated[float, Field(gt=0, le=L.MAX_FACTOR)]


class Strict(BaseModel):
    # Infinities and NaN (YAML's .inf, .nan) are no quantity of a floor.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Variability(Strict):
    """How an operation's real duration scatters around its nominal value (used by the twin)."""

    distribution: Distribution = "deterministic"
    cv: float = Field(0.0, ge=0.0, le=5.0, description="coefficient of variation (std / mean)")


class Operation(Strict):
    """One step of a product's routing, done by a cell that offers its capability."""

    id: Name
    capability: Name
    duration: WorkDuration = Field(description="nominal duration on a cell with duration factor 1")
    predecessors: list[Name] = Field(default_factory=list, max_length=L.MAX_ROUTING)
    variability: Variability = Variability()
    first_pass_yield: float = Field(1.0, gt=0.0, le=1.0, description="share of units that pass this step first time")
    rework_to: Name | None = Field(None, description="operation a failed unit goes back to; None scraps nothing and just repeats this step")


class Product(Strict):
    """Something the floor ships: a rack, a CDU, a power skid, a prefab module."""

    name: Name
    family: Name = Field(description="setup family: a cell changing family pays a setup")
    category: Category
    mw: float = Field(gt=0, description="MW of IT load this unit serves in its category")
    routing: list[Operation] = Field(min_length=1, max_length=L.MAX_ROUTING)

    @model_validator(mode="after")
    def _routing_is_a_dag(self) -> "Product":
        ids = [op.id for op in self.routing]
        seen: set[str] = set()
        for i, op in enumerate(self.routing):
            if op.id in seen:
                raise ValueError(f"routing[{i}].id: duplicate operation id {op.id!r}")
            seen.add(op.id)
        for i, op in enumerate(self.routing):
            for j, pred in enumerate(op.predecessors):
                if pred not in seen:
                    raise ValueError(f"routing[{i}].predecessors[{j}]: {pred!r} is not an operation of this product; valid: {', '.join(ids)}")
                if pred == op.id:
                    raise ValueError(f"routing[{i}].predecessors[{j}]: operation {op.id!r} cannot precede itself")
            if op.rework_to is not None and op.rework_to not in seen:
                raise ValueError(f"routing[{i}].rework_to: {op.rework_to!r} is not an operation of this product; valid: {', '.join(ids)}")
        order = topological_order(self.routing)
        if order is None:
            cycle = " -> ".join(find_cycle(self.routing))
            raise ValueError(f"routing: predecessors form a cycle ({cycle}); a routing must be a DAG")
        return self

    @cached_property
    def operation_index(self) -> dict[str, Operation]:
        return {op.id: op for op in self.routing}


def topological_order(routing: list[Operation]) -> list[str] | None:
    """Operation ids with every predecessor first, or None when there is a cycle."""
    indegree = {op.id: len(set(op.predecessors)) for op in routing}
    successors: dict[str, list[str]] = {op.id: [] for op in routing}
    for op in routing:
        for pred in set(op.predecessors):
            if pred in successors:
                successors[pred].append(op.id)
    ready = [op.id for op in routing if indegree[op.id] == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for nxt in successors[current]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order if len(order) == len(routing) else None


def find_cycle(routing: list[Operation]) -> list[str]:
    """One cycle of a routing that is not a DAG, as ids with the first repeated at the end:
    walk backwards along predecessors until an operation comes round again."""
    _, preds, _ = graph(routing)
    ids = [op.id for op in routing]
    order = topological_order(routing) or []
    done = set(order)
    start = next((i for i, op_id in enumerate(ids) if op_id not in done), None)
    if start is None:
        return []
    walk, seen, current = [], {}, start
    while current not in seen:
        seen[current] = len(walk)
        walk.append(current)
        current = next(p for p in preds[current] if ids[p] not in done)  # an op on or behind a cycle has such a predecessor
    cycle = walk[seen[current]:]
    return [ids[i] for i in reversed(cycle)] + [ids[cycle[-1]]]


class Window(Strict):
    """A time a cell is unavailable (maintenance, shift break), counted from the week's start,
    optionally repeating (e.g. every 24h)."""

    start: CalendarDuration
    duration: WorkDuration = Field(description="how long the cell is unavailable")
    every: PeriodDuration | None = Field(None, description="repeat period; None for a one-off window")

    @model_validator(mode="after")
    def _fits_period(self) -> "Window":
        if self.every is not None and self.every <= self.duration:
            raise ValueError("every: the repeat period must be longer than the window's duration")
        return self


class CellType(Strict):
    """A kind of robotic cell: what it can do, how fast, how reliable, how many jobs at once."""

    name: Name
    capabilities: dict[Name, DurationFactor] = Field(min_length=1, max_length=L.MAX_CAPABILITIES,
                                                     description="capability -> duration factor (1.0 = nominal)")
    capacity: int = Field(1, ge=1, le=L.MAX_CAPACITY, description="jobs held at once (a burn-in bay holds many racks)")
    mttf: FailureDuration | None = Field(None, description="mean time to failure; None for a cell that does not fail")
    mttr: WorkDuration = Field(0.0, description="mean time to repair")
    repair_cv: float = Field(1.0, ge=0.0, le=L.MAX_CV, description="coefficient of variation of repair times")
    fails_when: Literal["working", "always"] = "working"
    setup: WorkDuration = Field(0.0, description="changeover time when the product family changes")
    buffer: int | None = Field(None, ge=0, le=L.MAX_WIP, description="input buffer places per cell; None for unlimited")
    unavailable: list[Window] = Field(default_factory=list, max_length=L.MAX_WINDOWS)
    # Optional economics, read only by `gwf plan` (cheapest floor) and its reports.
    cost: float | None = Field(None, ge=0, le=1e10, description="capital cost of one cell, installed (USD); None: unknown")
    footprint_m2: float | None = Field(None, ge=0, le=1e6, description="floor area of one cell in square metres")
    power_kw: float | None = Field(None, ge=0, le=1e6, description="electrical power one cell draws while working, kW")

    @property
    def availability(self) -> float:
        """Share of time up, A = MTTF / (MTTF + MTTR) (failures only while working counts the same in steady state)."""
        if self.mttf is None or self.mttr == 0:
            return 1.0
        return self.mttf / (self.mttf + self.mttr)


class CellGroup(Strict):
    """`count` identical cells of one type; ids are `prefix-001`…, URLs fill `{id}` in `url`."""

    type: Name
    count: int = Field(1, ge=1, le=L.MAX_CELLS)
    prefix: Name | None = None
    url: str = Field("mock://{id}", max_length=L.MAX_URL_CHARS, description="driver URL; '{id}' is replaced by the cell id")


class Cell(Strict):
    id: str
    type: str
    url: str


class Transport(Strict):
    """AGVs moving units between cells (the twin uses it; the scheduler folds it into lags)."""

    vehicles: int = Field(0, ge=0, le=L.MAX_VEHICLES, description="0 means transport is not modelled")
    travel_time: WorkDuration = 0.0
    travel_cv: float = Field(0.0, ge=0.0, le=L.MAX_CV)


class Release(Strict):
    """How the twin lets orders onto the floor when it runs a dispatch policy (no plan).
    The scheduler ignores it. Defaults keep every existing spec valid: weekly demand, evenly."""

    mode: Literal["demand", "poisson", "conwip", "saturate"] = Field(
        "demand",
        description="demand: the weekly demand released evenly; poisson: exponential interarrival times; "
        "conwip: a new unit enters each time one leaves, keeping `wip` on the floor; "
        "saturate: the first operations never run out of work (infinite supply)",
    )
    units_per_hour: float | None = Field(None, gt=0, le=L.MAX_UNITS_PER_HOUR, description="poisson arrival rate; None = the weekly demand rate")
    wip: int | None = Field(None, ge=1, le=L.MAX_WIP, description="units kept on the floor in conwip mode")
    load: float = Field(1.0, gt=0, le=10.0, description="multiplier on the demand rate (1.1 offers 10% more than demand)")

    @model_validator(mode="after")
    def _mode_has_its_parameter(self) -> "Release":
        if self.mode == "conwip" and self.wip is None:
            raise ValueError("wip: conwip release needs the number of units to keep on the floor")
        return self


class Target(Strict):
    """What one week must deliver: MW per category that together make `facility_gw` deployable."""

    facility_gw: float = Field(gt=0)
    mw: dict[Category, float] = Field(min_length=1, description="MW per category per week")

    @model_validator(mode="after")
    def _positive(self) -> "Target":
        for cat, value in self.mw.items():
            if not value > 0:
                raise ValueError(f"mw.{cat}: must be > 0, got {value}")
        return self


class FactorySpec(Strict):
    """A whole floor: the root of every spec file."""

    name: str = "factory"
    products: list[Product] = Field(min_length=1, max_length=L.MAX_PRODUCTS)
    cell_types: list[CellType] = Field(min_length=1, max_length=L.MAX_CELL_TYPES)
    cells: list[CellGroup] = Field(min_length=1, max_length=L.MAX_CELL_GROUPS)
    demand: dict[str, UnitsPerWeek] = Field(max_length=L.MAX_PRODUCTS, description="units per week of each product")
    target: Target
    transport: Transport = Transport()
    release: Release = Release()

    @model_validator(mode="after")
    def _references_resolve(self) -> "FactorySpec":
        # Sizes first: nothing below may build per-cell or per-unit data for a spec beyond them.
        _check_unique("products", [p.name for p in self.products], "name")
        _check_unique("cell_types", [t.name for t in self.cell_types], "name")
        L.at_most("products", sum(len(p.routing) for p in self.products), L.MAX_OPERATIONS, "operations over all routings")
        type_index = {t.name: t for t in self.cell_types}
        type_names = list(type_index)
        # A cell group of an unknown type is blamed on the group, not on the routing steps that
        # then find no cell (a typo `tray-cel` must point at cells[i].type).
        for i, group in enumerate(self.cells):
            if group.type not in type_index:
                raise ValueError(f"cells[{i}].type: {group.type!r} is not a cell type; valid: {', '.join(type_names)}")
        L.at_most("cells", sum(g.count for g in self.cells), L.MAX_CELLS, "cells in total")
        L.at_most("cells", sum(g.count * type_index[g.type].capacity for g in self.cells), L.MAX_SLOTS,
                  "cell slots in total (count x capacity)")
        offered = {cap for t in self.cell_types for cap in t.capabilities}
        cells_by_type = {g.type for g in self.cells}
        for i, product in enumerate(self.products):
            for j, op in enumerate(product.routing):
                if op.capability not in offered:
                    raise ValueError(f"products[{i}].routing[{j}].capability: {op.capability!r} is not offered by any cell type; offered: {', '.join(sorted(offered))}")
                if not any(op.capability in t.capabilities for t in self.cell_types if t.name in cells_by_type):
                    raise ValueError(f"products[{i}].routing[{j}].capability: {op.capability!r} is offered by no cell on the floor (add cells of a type that offers it)")
        seen_ids: set[str] = set()
        for i, group in enumerate(self.cells):
            for cell in _expand(group):
                if cell.id in seen_ids:
                    raise ValueError(f"cells[{i}].prefix: cell id {cell.id!r} is used by another group; give each group its own prefix")
                seen_ids.add(cell.id)
        names = [p.name for p in self.products]
        for product in self.demand:
            if product not in names:
                raise ValueError(f"demand.{product}: not a product; valid: {', '.join(names)}")
        L.at_most("demand", sum(self.demand.values()), L.MAX_UNITS_PER_WEEK, "units per week in total")
        self._check_work()
        for cat in self.target.mw:
            if not any(p.category == cat for p in self.products):
                raise ValueError(f"target.mw.{cat}: no product delivers this category")
        return self

    def _check_work(self) -> None:
        """How long one unit takes at best (the twin runs twice that before it measures) and how
        many operations a week of demand holds, rework included."""
        fastest = {}
        for t in self.cell_types:
            for cap, factor in t.capabilities.items():
                fastest[cap] = min(factor, fastest.get(cap, factor))
        per_week, heaviest = 0.0, (0.0, "")
        for i, product in enumerate(self.products):
            finish: dict[str, float] = {}
            for op_id in topological_order(product.routing) or []:
                op = product.operation_index[op_id]
                finish[op_id] = max((finish[p] for p in op.predecessors), default=0.0) + op.duration * fastest[op.capability]
            L.at_most(f"products[{i}].routing", max(finish.values()) / 3600, L.MAX_FLOW_S / 3600, "hours of shortest flow time for one unit")
            visits = expected_visits(product.routing)
            if visits is None:
                raise ValueError(f"products[{i}].routing: rework never ends on average (first_pass_yield too low for what "
                                 "rework_to sends back); raise first_pass_yield or send failed units back a shorter way")
            runs = sum(visits)
            per_week += self.demand.get(product.name, 0.0) * runs
            heaviest = max(heaviest, (self.demand.get(product.name, 0.0) * runs, f"products[{i}] {product.name!r}: {L.number(runs)} operation runs per unit"))
        L.at_most("demand", per_week, L.MAX_OPERATIONS_PER_WEEK,
                  f"operations per week (demand x operation runs per unit, rework included; most from {heaviest[1]})")

    @cached_property
    def all_cells(self) -> list[Cell]:
        return [cell for group in self.cells for cell in _expand(group)]

    @cached_property
    def cell_type_index(self) -> dict[str, CellType]:
        return {t.name: t for t in self.cell_types}

    @cached_property
    def product_index(self) -> dict[str, Product]:
        return {p.name: p for p in self.products}

    def cell_count(self, type_name: str) -> int:
        return sum(g.count for g in self.cells if g.type == type_name)

    def demand_mw(self) -> dict[str, float]:
        """MW per category that the weekly demand delivers if all of it is built."""
        out = {cat: 0.0 for cat in self.target.mw}
        for name, units in self.demand.items():
            product = self.product_index[name]
            out[product.category] = out.get(product.category, 0.0) + units * product.mw
        return out


def deployable_gw(mw_by_category: dict[str, float], target: Target) -> float:
    """GW of facility the delivered MW can run: the scarcest category sets it (racks without
    cooling or power deploy nothing)."""
    return target.facility_gw * min(mw_by_category.get(cat, 0.0) / need for cat, need in target.mw.items())


def _expand(group: CellGroup) -> list[Cell]:
    prefix = group.prefix or group.type
    ids = [prefix] if (group.count == 1 and group.prefix) else [f"{prefix}-{k + 1:03d}" for k in range(group.count)]
    return [Cell(id=cell_id, type=group.type, url=group.url.replace("{id}", cell_id)) for cell_id in ids]


def _check_unique(field: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ValueError(f"{field}[{i}].{what.split()[0]}: duplicate {what} {value!r}")
        seen.add(value)
