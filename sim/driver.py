"""`sim://CELL?speed=600&seed=0&replication=0[&spec=PATH]`: a simulated robot cell behind the
same Driver face as a real controller, so the real dispatcher, journal and crash recovery run
against a simulated floor in accelerated time (virtual commissioning).

The cell is the twin's cell model, drawn from the same places with the same seeds: the work
time is the operation's nominal time on this cell type times a draw of its variability
(stream `times/CELL`, or `times/CELL/k` for slot k of a multi-unit bay), failures follow the
cell type's MTTF/MTTR on the busy-time clock (or the wall clock for bays and
`fails_when: always`, stream `failures/CELL`), planned windows stop it, a change of product
family costs the type's setup, and an operation fails its inspection with probability
1 - first-pass yield. One difference: the twin draws yield from one floor-wide stream, a sim
cell from its own (`yield/CELL`), so single runs differ while the distributions agree.

Time: plan seconds run `speed` times faster than the wall clock, from plan time 0 as the
dispatcher tells it (`use_clock`), else from the moment the first sim cell of this process
connects. Results carry wall-clock times, as a real controller's do,
so the dispatcher measures both the same way.

Dependency direction: hardware/ cannot import the twin, so this driver lives in sim/ (which may
import hardware/) and registers its scheme when imported; `gwf` imports it (gwf/drivers.py).
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hardware.driver import CellJob, Driver, DriverError, JobRejected, JobResult
from hardware.registry import register
from plant.spec import FactorySpec
from sim.calendar import DOWN, OFF, Calendar, failure_windows, planned_windows
from sim.layout import Layout, StationDef, compile_layout
from sim.streams import Shape, Stream, stream_seed

_EPS = 1e-9
_OPTIONS = ("speed", "seed", "replication", "spec")
_default_spec: FactorySpec | None = None
_layouts: dict[object, tuple[FactorySpec, Layout]] = {}
_clocks: dict[tuple, float] = {}  # per simulated floor (spec, seed, replication): when it started
_plan_epoch: float | None = None  # set by use_clock: every floor's time 0


def use_clock(epoch: float) -> None:
    """Plan time 0 of the sim floors of this process (the dispatcher's, `Dispatcher(on_clock=…)`):
    a simulated floor runs on the plan's clock, as a real one runs on the wall clock the
    dispatcher reads. Without it a floor's clock starts when its first cell connects."""
    global _plan_epoch
    _plan_epoch = epoch


def use_spec(spec: FactorySpec) -> None:
    """The spec sim cells of this process model unless their URL names one (`spec=PATH`)."""
    global _default_spec
    _default_spec = spec


def _epoch(floor: tuple, wall: float) -> float:
    return _clocks.setdefault(floor, wall)


@dataclass
class _Slot:
    times: Stream
    calendar: Calendar | None
    failures: Stream | None = None
    ttf_left: float = math.inf
    family: str | None = None
    busy: bool = False


@dataclass
class _Cell:
    station: StationDef
    slots: list[_Slot] = field(default_factory=list)


@register("sim")
class SimDriver(Driver):
    idempotent_job_ids = True  # a simulated controller remembers the ids it ran, as ours do

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        parts = urlsplit(url)
        self.cell_id = parts.netloc or parts.path.lstrip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - set(_OPTIONS))
        if unknown:
            raise ValueError(f"driver url {url!r}: unknown field {unknown[0]!r}; valid: {', '.join(_OPTIONS)}")
        try:
            self.speed = float(query.get("speed", 1.0))
            self.seed = int(query.get("seed", 0))
            self.replication = int(query.get("replication", 0))
        except ValueError as exc:
            raise ValueError(f"driver url {url!r}: speed must be a number, seed and replication integers ({exc})") from None
        if not self.speed > 0:
            raise ValueError(f"driver url {url!r}: speed={self.speed}; must be > 0 plan seconds per wall second")
        self.spec_path = query.get("spec")
        self.executed: dict[str, JobResult] = {}
        self.cell: _Cell | None = None
        self.layout: Layout | None = None
        self.yields: Stream | None = None

    async def _connect(self) -> None:
        if self.cell is not None:
            return  # reconnecting keeps the cell's state, as a real cell keeps running
        spec, layout = _layout(self.spec_path)
        station = next((s for s in layout.stations if self.cell_id in s.cells), None)
        if station is None:
            raise DriverError(f"{self.url}: spec {spec.name!r} has no cell {self.cell_id!r}")
        self.layout, self.cell = layout, _Cell(station)
        self.pipeline_depth = station.capacity

        def stream(source: str) -> Stream:
            return Stream(stream_seed(self.seed, self.replication, source))

        wall_clock = station.mttf is not None and (station.fails_when == "always" or station.capacity > 1)
        for k in range(station.capacity):
            name = self.cell_id if station.capacity == 1 else f"{self.cell_id}/{k + 1}"
            sources = [(OFF, planned_windows(station.windows))] if station.windows else []
            if wall_clock:
                # Every slot replays the cell's one failure sequence (same stream, same seed): a failed bay stops all.
                sources.append((DOWN, failure_windows(station.mttf, station.mttr, station.repair_cv, stream(f"failures/{self.cell_id}"))))
            slot = _Slot(stream(f"times/{name}"), Calendar(sources) if sources else None)
            if station.mttf is not None and not wall_clock:
                slot.failures = stream(f"failures/{self.cell_id}")
                slot.ttf_left = station.mttf * slot.failures.exponential()
            self.cell.slots.append(slot)
        self.yields = stream(f"yield/{self.cell_id}")
        # The floor's clock starts with its first cell; all cells of one floor share it.
        self.epoch = _epoch((self.spec_path or id(spec), self.seed, self.replication), time.time())

    async def _close(self) -> None:
        return None

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        if job.job_id in self.executed:
            before = self.executed[job.job_id]
            return JobResult(job.job_id, before.ok, before.detail, before.started_at, before.finished_at, duplicate=True)
        assert self.cell is not None and self.layout is not None and self.yields is not None
        op, family = self._operation(job)
        slot = next((s for s in self.cell.slots if not s.busy), None)
        if slot is None:
            raise JobRejected(f"{self.url}: all {len(self.cell.slots)} places busy; job {job.job_id} refused")
        slot.busy = True
        try:
            started = time.time()
            epoch = self.epoch if _plan_epoch is None else _plan_epoch
            t = (started - epoch) * self.speed
            station = self.cell.station
            if station.setup > 0 and slot.family is not None and slot.family != family:
                t = _work(slot, station, t, station.setup)
            slot.family = family
            # The job's own duration when it is shorter: the remainder of work a plan carries in
            # already running. Never longer: a plan made for derated availability stretches its
            # durations, and the failures that stretch them are drawn here.
            nominal = min(op.duration * op.factor[station.index], job.duration_s) if op is not None else job.duration_s
            shape = op.shape if op is not None else Shape(0)
            t = _work(slot, station, t, nominal * slot.times.multiplier(shape))
            finish_wall = epoch + t / self.speed
            # A simulated cell never hangs: it answers when the work is done, however long (a
            # 72 h burn-in at speed 600 is 7 min), so the dispatcher's answer timeout is not applied.
            await asyncio.sleep(max(0.0, finish_wall - time.time()))
        finally:
            slot.busy = False
        ok = op is None or op.fpy >= 1.0 or self.yields.uniform() < op.fpy
        result = JobResult(job.job_id, ok, "" if ok else f"failed inspection (first-pass yield {op.fpy:g})", started, finish_wall)
        self.executed[job.job_id] = result
        return result

    def _operation(self, job: CellJob):
        """The routing step a job is (from its unit's product, `PRODUCT#N`), and the product family."""
        product = str(job.params.get("job", "")).split("#", 1)[0]
        index = self.layout.product_index.get(product)
        if index is None:
            return None, None
        definition = self.layout.products[index]
        return next((o for o in definition.ops if o.id == job.operation), None), definition.family

    async def _status(self) -> dict[str, Any]:
        return {"cell": self.cell_id, "jobs_executed": len(self.executed), "speed": self.speed}


def _work(slot: _Slot, station: StationDef, t: float, work: float) -> float:
    """Plan time at which `work` seconds of the cell's time are done from `t`: stopped by planned
    windows and wall-clock failures, and by failures on the busy-time clock (repaired, then
    resumed), as the twin's cell runs (sim.floor.Floor._run)."""
    while work > _EPS:
        chunk = work
        if slot.calendar is not None:
            start, end, _ = slot.calendar.block(t)
            if start <= t:
                t = end
                continue
            chunk = min(chunk, start - t)
        if chunk < slot.ttf_left:
            t += chunk
            work -= chunk
            if slot.failures is not None:
                slot.ttf_left -= chunk
            continue
        chunk = slot.ttf_left
        repair = station.mttr * slot.failures.multiplier(Shape.of("gamma", station.repair_cv))
        t += chunk + repair
        work -= chunk
        slot.ttf_left = station.mttf * slot.failures.exponential()
    return t


def _layout(path: str | None) -> tuple[FactorySpec, Layout]:
    key: object = path if path is not None else id(_default_spec)
    if key not in _layouts:
        if path is not None:
            from plant import load_spec

            spec = load_spec(Path(path))
        elif _default_spec is not None:
            spec = _default_spec
        else:
            raise DriverError("sim:// cells need a spec: add spec=PATH to the URL (gwf dispatch passes the plan's own)")
        _layouts[key] = (spec, compile_layout(spec))  # one layout for all the cells of a floor
    return _layouts[key]
