"""The factory spec: what the floor builds (products and routings), with what (cell types and
cells), and the weekly target it must meet. Models validate themselves on construction."""
from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plant.units import Duration

Category = Literal["compute", "cooling", "power"]
CATEGORIES: tuple[Category, ...] = ("compute", "cooling", "power")
Distribution = Literal["deterministic", "exponential", "lognormal", "gamma"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variability(Strict):
    """How an operation's real duration scatters around its nominal value (used by the twin)."""

    distribution: Distribution = "deterministic"
    cv: float = Field(0.0, ge=0.0, le=5.0, description="coefficient of variation (std / mean)")


class Operation(Strict):
    """One step of a product's routing, done by a cell that offers its capability."""

    id: str = Field(min_length=1)
    capability: str = Field(min_length=1)
    duration: Duration = Field(description="nominal duration on a cell with duration factor 1")
    predecessors: list[str] = Field(default_factory=list)
    variability: Variability = Variability()
    first_pass_yield: float = Field(1.0, gt=0.0, le=1.0, description="share of units that pass this step first time")
    rework_to: str | None = Field(None, description="operation a failed unit goes back to; None scraps nothing and just repeats this step")


class Product(Strict):
    """Something the floor ships: a rack, a CDU, a power skid, a prefab module."""

    name: str = Field(min_length=1)
    family: str = Field(min_length=1, description="setup family: a cell changing family pays a setup")
    category: Category
    mw: float = Field(gt=0, description="MW of IT load this unit serves in its category")
    routing: list[Operation] = Field(min_length=1)

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
            raise ValueError("routing: predecessors form a cycle; a routing must be a DAG")
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


class Window(Strict):
    """A time a cell is unavailable (maintenance, shift break), counted from the week's start,
    optionally repeating (e.g. every 24h)."""

    start: Duration
    duration: Duration = Field(description="how long the cell is unavailable")
    every: Duration | None = Field(None, description="repeat period; None for a one-off window")

    @model_validator(mode="after")
    def _fits_period(self) -> "Window":
        if self.every is not None and self.every <= self.duration:
            raise ValueError("every: the repeat period must be longer than the window's duration")
        return self


class CellType(Strict):
    """A kind of robotic cell: what it can do, how fast, how reliable, how many jobs at once."""

    name: str = Field(min_length=1)
    capabilities: dict[str, float] = Field(min_length=1, description="capability -> duration factor (1.0 = nominal)")
    capacity: int = Field(1, ge=1, description="jobs held at once (a burn-in bay holds many racks)")
    mttf: Duration | None = Field(None, description="mean time to failure; None for a cell that does not fail")
    mttr: Duration = Field(0.0, description="mean time to repair")
    repair_cv: float = Field(1.0, ge=0.0, description="coefficient of variation of repair times")
    fails_when: Literal["working", "always"] = "working"
    setup: Duration = Field(0.0, description="changeover time when the product family changes")
    buffer: int | None = Field(None, ge=0, description="input buffer places; None for unlimited")
    unavailable: list[Window] = Field(default_factory=list)
    # Optional economics, read only by `gwf plan` (cheapest floor) and its reports.
    cost: float | None = Field(None, ge=0, description="capital cost of one cell, installed (USD); None: unknown")
    footprint_m2: float | None = Field(None, ge=0, description="floor area of one cell in square metres")
    power_kw: float | None = Field(None, ge=0, description="electrical power one cell draws while working, kW")

    @model_validator(mode="after")
    def _factors_positive(self) -> "CellType":
        for cap, factor in self.capabilities.items():
            if not factor > 0:
                raise ValueError(f"capabilities.{cap}: duration factor must be > 0, got {factor}")
        if self.mttf is not None and self.mttf <= 0:
            raise ValueError("mttf: must be > 0 (or omitted for a cell that does not fail)")
        return self

    @property
    def availability(self) -> float:
        """Share of time up, A = MTTF / (MTTF + MTTR) (failures only while working counts the same in steady state)."""
        if self.mttf is None or self.mttr == 0:
            return 1.0
        return self.mttf / (self.mttf + self.mttr)


class CellGroup(Strict):
    """`count` identical cells of one type; ids are `prefix-001`…, URLs fill `{id}` in `url`."""

    type: str = Field(min_length=1)
    count: int = Field(1, ge=1)
    prefix: str | None = Field(None, min_length=1)
    url: str = Field("mock://{id}", description="driver URL; '{id}' is replaced by the cell id")


class Cell(Strict):
    id: str
    type: str
    url: str


class Transport(Strict):
    """AGVs moving units between cells (the twin uses it; the scheduler folds it into lags)."""

    vehicles: int = Field(0, ge=0, description="0 means transport is not modelled")
    travel_time: Duration = 0.0
    travel_cv: float = Field(0.0, ge=0.0)


class Release(Strict):
    """How the twin lets orders onto the floor when it runs a dispatch policy (no plan).
    The scheduler ignores it. Defaults keep every existing spec valid: weekly demand, evenly."""

    mode: Literal["demand", "poisson", "conwip", "saturate"] = Field(
        "demand",
        description="demand: the weekly demand released evenly; poisson: exponential interarrival times; "
        "conwip: a new unit enters each time one leaves, keeping `wip` on the floor; "
        "saturate: the first operations never run out of work (infinite supply)",
    )
    units_per_hour: float | None = Field(None, gt=0, description="poisson arrival rate; None = the weekly demand rate")
    wip: int | None = Field(None, ge=1, description="units kept on the floor in conwip mode")
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
    products: list[Product] = Field(min_length=1)
    cell_types: list[CellType] = Field(min_length=1)
    cells: list[CellGroup] = Field(min_length=1)
    demand: dict[str, float] = Field(description="units per week of each product")
    target: Target
    transport: Transport = Transport()
    release: Release = Release()

    @model_validator(mode="after")
    def _references_resolve(self) -> "FactorySpec":
        _check_unique("products", [p.name for p in self.products], "name")
        _check_unique("cell_types", [t.name for t in self.cell_types], "name")
        offered = {cap for t in self.cell_types for cap in t.capabilities}
        type_names = [t.name for t in self.cell_types]
        cells_by_type = {g.type for g in self.cells}
        for i, product in enumerate(self.products):
            for j, op in enumerate(product.routing):
                if op.capability not in offered:
                    raise ValueError(f"products[{i}].routing[{j}].capability: {op.capability!r} is not offered by any cell type; offered: {', '.join(sorted(offered))}")
                if not any(op.capability in t.capabilities for t in self.cell_types if t.name in cells_by_type):
                    raise ValueError(f"products[{i}].routing[{j}].capability: {op.capability!r} is offered by no cell on the floor (add cells of a type that offers it)")
        for i, group in enumerate(self.cells):
            if group.type not in type_names:
                raise ValueError(f"cells[{i}].type: {group.type!r} is not a cell type; valid: {', '.join(type_names)}")
        seen_ids: set[str] = set()
        for i, group in enumerate(self.cells):
            for cell in _expand(group):
                if cell.id in seen_ids:
                    raise ValueError(f"cells[{i}].prefix: cell id {cell.id!r} is used by another group; give each group its own prefix")
                seen_ids.add(cell.id)
        names = [p.name for p in self.products]
        for product, units in self.demand.items():
            if product not in names:
                raise ValueError(f"demand.{product}: not a product; valid: {', '.join(names)}")
            if units < 0:
                raise ValueError(f"demand.{product}: units per week must be >= 0, got {units}")
        for cat in self.target.mw:
            if not any(p.category == cat for p in self.products):
                raise ValueError(f"target.mw.{cat}: no product delivers this category")
        return self

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
