"""The scheduling problem as plain indexed data: cells grouped into pools of identical cells,
jobs (one per order), and tasks (one per operation of a job) with their eligible pools."""
from __future__ import annotations

from dataclasses import dataclass, field

from plant.demand import Order
from plant.spec import FactorySpec, Window


@dataclass(slots=True)
class Cell:
    id: str
    pool: int
    capacity: int = 1
    setup: int = 0  # seconds to change product family
    unavailable: list[tuple[int, int]] = field(default_factory=list)  # [start, end) windows


@dataclass(slots=True)
class Pool:
    """Identical cells: a task eligible for the pool may run on any of them at the same duration."""

    name: str
    cells: list[int]


@dataclass(slots=True)
class Task:
    job: int
    op: str
    modes: list[tuple[int, int]]  # (pool index, duration in seconds)
    predecessors: list[int]  # task indices
    capability: str = ""
    release: int = 0  # earliest start of this task alone (e.g. a fixed predecessor outside an LNS window)


@dataclass(slots=True)
class Job:
    id: str
    product: str = ""
    family: str = ""
    category: str = ""
    mw: float = 0.0
    release: int = 0
    due: int | None = None
    weight: float = 1.0
    tasks: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Problem:
    cells: list[Cell]
    pools: list[Pool]
    jobs: list[Job]
    tasks: list[Task]
    horizon: int
    name: str = "problem"

    def __post_init__(self) -> None:
        # Tasks often share one modes list (one per capability): each distinct list is checked
        # once, and only a failing check looks for the first task that holds it, to name it.
        pools = len(self.pools)
        for modes in {id(task.modes): task.modes for task in self.tasks}.values():
            if not modes:
                self._name_bad_modes()
            for pool, duration in modes:
                if not 0 <= pool < pools or duration < 0:
                    self._name_bad_modes()

    def _name_bad_modes(self) -> None:
        pools = len(self.pools)
        for t, task in enumerate(self.tasks):
            if not task.modes:
                raise ValueError(f"task {t} ({self.jobs[task.job].id}/{task.op}): no eligible cell")
            for pool, duration in task.modes:
                if not 0 <= pool < pools or duration < 0:
                    raise ValueError(f"task {t}: mode ({pool}, {duration}) is not a valid pool/duration")

    @property
    def n_operations(self) -> int:
        return len(self.tasks)

    def cells_for(self, task: Task) -> list[tuple[int, int]]:
        """Every (cell, duration) the task may run as."""
        return [(c, d) for pool, d in task.modes for c in self.pools[pool].cells]


def build_problem(spec: FactorySpec, orders: list[Order], horizon: int, *, clock: int = 0, calendar_until: int | None = None) -> Problem:
    """One job per order, one task per routing operation; each cell type becomes a pool.

    `clock` is the floor time (seconds since the spec's week start) at the problem's time 0,
    so repeating windows keep their phase when one plan follows another; cells carry their
    windows up to `calendar_until` (default: the horizon), which lets work planned across the
    horizon avoid the windows just after it."""
    pools = [Pool(t.name, []) for t in spec.cell_types]
    pool_of_type = {t.name: i for i, t in enumerate(spec.cell_types)}
    cells: list[Cell] = []
    for cell in spec.all_cells:
        ctype = spec.cell_type_index[cell.type]
        pool = pool_of_type[cell.type]
        pools[pool].cells.append(len(cells))
        windows = expand_windows(ctype.unavailable, calendar_until if calendar_until is not None else horizon, clock)
        cells.append(Cell(cell.id, pool, ctype.capacity, int(round(ctype.setup)), windows))
    modes_by_capability: dict[tuple[str, float], list[tuple[int, int]]] = {}
    jobs: list[Job] = []
    tasks: list[Task] = []
    for order in orders:
        product = spec.product_index[order.product]
        job = Job(order.id, product.name, product.family, product.category, product.mw, order.release, order.due)
        local: dict[str, int] = {}
        for op in product.routing:
            key = (op.capability, op.duration)
            if key not in modes_by_capability:
                modes_by_capability[key] = [
                    (pool_of_type[t.name], max(1, int(round(op.duration * t.capabilities[op.capability]))))
                    for t in spec.cell_types
                    if op.capability in t.capabilities and pools[pool_of_type[t.name]].cells
                ]
            local[op.id] = len(tasks)
            job.tasks.append(len(tasks))
            tasks.append(Task(len(jobs), op.id, modes_by_capability[key], [], op.capability))
        for op in product.routing:
            tasks[local[op.id]].predecessors = [local[p] for p in op.predecessors]
        jobs.append(job)
    return Problem(cells, [p for p in pools], jobs, tasks, horizon, spec.name)


def expand_windows(windows: list[Window], horizon: int, clock: int = 0) -> list[tuple[int, int]]:
    """Concrete [start, end) unavailability intervals inside [0, horizon) of a problem whose
    time 0 is floor time `clock`; before the week's start (clock < 0, e.g. a warm-up plan of
    the week before) a repeating window is taken to have repeated back in time."""
    out: list[tuple[int, int]] = []
    end_of_view = clock + horizon
    for w in windows:
        starts: list[float] = []
        start = w.start
        if w.every is not None and start + w.duration <= clock:
            start += ((clock - start - w.duration) // w.every + 1) * w.every  # skip whole periods
        while start < end_of_view:
            starts.append(start)
            if w.every is None:
                break
            start += w.every
        if w.every is not None and clock < 0:
            back = w.start - w.every
            while back + w.duration > clock:
                if back + w.duration <= 0:
                    starts.append(back)
                back -= w.every
        for s in starts:
            if s + w.duration > clock and s < end_of_view:
                out.append((int(max(0, s - clock)), int(min(horizon, s + w.duration - clock))))
    return sorted(out)


def recorded_downtime(kpis: dict) -> dict[str, list[tuple[int, int]]]:
    """The downtime a repaired plan was made around (`kpis.down`: cell id -> [[start, end], …]
    in plan seconds, written by `gwf schedule --repair`), checked: ValueError names the entry."""
    down = (kpis or {}).get("down") or {}
    if not isinstance(down, dict):
        raise ValueError(f"kpis.down: expected an object of cell id -> [[start, end], ...], got {type(down).__name__}")
    out: dict[str, list[tuple[int, int]]] = {}
    for cell, windows in down.items():
        for k, window in enumerate(windows if isinstance(windows, list) else [None]):
            try:
                start, end = (int(v) for v in window)
            except (TypeError, ValueError):
                raise ValueError(f"kpis.down.{cell}[{k}]: expected [start, end] in whole plan seconds, got {window!r}") from None
            if end <= start:
                raise ValueError(f"kpis.down.{cell}[{k}]: end {end} must be after start {start}")
            out.setdefault(str(cell), []).append((start, end))
    return out


def with_recorded_downtime(problem: Problem, kpis: dict) -> Problem:
    """`problem` with the downtime windows a repaired plan records (`kpis.down`) on its cells, so
    every reader of the plan (repair, dispatch, twin, views) sees the cell down where the repair did."""
    from dataclasses import replace

    down = recorded_downtime(kpis)
    if not down:
        return problem
    known = {c.id for c in problem.cells}
    for cell in down:
        if cell not in known:
            some = sorted(known)
            raise ValueError(f"kpis.down.{cell}: not a cell of the plan's floor (cells: {', '.join(some[:8])}{', …' if len(some) > 8 else ''})")
    cells = [replace(c, unavailable=sorted(set(c.unavailable) | set(down[c.id]))) if c.id in down else c for c in problem.cells]
    return replace(problem, cells=cells)
