"""One replication: build the floor from the spec, run it, return its Trace. A plain function of
picklable inputs, so a process pool or a Dask worker runs exactly what a local loop runs."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import simpy

from plant.spec import FactorySpec
from scheduler.schedule import Assignment, Schedule
from sim.floor import Floor, Unit
from sim.layout import Layout, compile_layout
from sim.observer import Observer, Trace
from sim.release import start_plan_release, start_release
from sim.streams import Stream, stream_seed

POLICIES = ("fifo", "edd", "sq")


@dataclass(frozen=True)
class RunConfig:
    spec: FactorySpec
    end_s: float  # simulated length of each replication
    bin_s: float  # statistics bin (warm-up is cut at a bin edge)
    seed: int = 0
    policy: str = "fifo"
    schedule: Schedule | None = None
    record: bool = False  # keep every executed operation (job, op, cell, start, end) in the trace

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy: {self.policy!r} is not a dispatch policy; valid: {', '.join(POLICIES)}")
        if not self.end_s > 0 or not self.bin_s > 0:
            raise ValueError("run length and statistics bin must be > 0")


def run_replication(config: RunConfig, replication: int) -> Trace:
    started = time.perf_counter()
    cpu_started = time.process_time()
    spec = config.spec
    layout = compile_layout(spec)
    env = simpy.Environment()

    def streams(source: str) -> Stream:
        return Stream(stream_seed(config.seed, replication, source))

    observer = Observer(env, config.end_s, config.bin_s, [s.slots for s in layout.stations], len(layout.products))
    transport = (spec.transport.vehicles, spec.transport.travel_time, spec.transport.travel_cv)
    if config.schedule is None:
        floor = Floor(env, layout, observer, streams, config.policy, transport)
        floor.executed = [] if config.record else None
        start_release(env, floor, spec, layout, streams("arrivals"))
        env.run(until=config.end_s)
    else:
        plan, jobs = plan_from_schedule(config.schedule, layout, spec)
        floor = Floor(env, layout, observer, streams, "fifo", transport, plan)
        floor.executed = [] if config.record else None
        units = [floor.new_unit(product, math.inf, job) for product, _, job in jobs]
        start_plan_release(env, floor, [(release, unit) for (_, release, _), unit in zip(jobs, units)])
        # Run until every planned unit is finished (or the cap, if the floor cannot finish it).
        done = env.event()
        floor.on_finish = lambda _u: (floor.units_done == len(units) and not done.triggered and done.succeed())
        env.run(until=simpy.events.AnyOf(env, [done, env.timeout(config.end_s)]))
    floor.close()
    trace = observer.close(time.perf_counter() - started)
    trace.executed = floor.executed
    trace.cpu_s = time.process_time() - cpu_started
    return trace


def executed_schedule(trace: Trace, name: str = "twin") -> Schedule:
    """What a replication actually did, as a Schedule (integer seconds, as plans are)."""
    if trace.executed is None:
        raise ValueError("the replication was run without record=True")
    assignments = [Assignment(job, op, cell, int(round(start)), int(round(end))) for job, op, cell, start, end in trace.executed]
    return Schedule(assignments, horizon=int(math.ceil(trace.end_s)), status="simulated", name=name)


def plan_from_schedule(schedule: Schedule, layout: Layout, spec: FactorySpec):
    """The plan as {(unit key, op index): (cell, start)} and per unit (product index, release)."""
    cells = {c.id: c for c in spec.all_cells}
    by_job: dict[str, list] = {}
    for i, a in enumerate(schedule.assignments):
        if a.cell not in cells:
            raise ValueError(f"assignments[{i}].cell: {a.cell!r} is not a cell of spec {spec.name!r}")
        by_job.setdefault(a.job, []).append(a)
    plan: dict[tuple[int, int], tuple[str, float]] = {}
    ends: dict[tuple[int, int], float] = {}
    jobs: list[tuple[int, float, str]] = []
    for key, (job, assignments) in enumerate(by_job.items()):
        product = _product_of(job, {a.op for a in assignments}, layout)
        op_index = {op.id: op.index for op in layout.products[product].ops}
        for a in assignments:
            if a.op not in op_index:
                raise ValueError(f"schedule job {job}: operation {a.op!r} is not in the routing of {layout.products[product].name}")
            if cells[a.cell].type not in {layout.stations[s].name for s, _ in layout.products[product].ops[op_index[a.op]].options}:
                raise ValueError(f"schedule job {job}/{a.op}: cell {a.cell} cannot do {a.op}")
            plan[(key, op_index[a.op])] = (a.cell, float(a.start))
            ends[(key, op_index[a.op])] = float(a.end)
        missing = set(op_index) - {a.op for a in assignments}
        if missing:
            raise ValueError(f"schedule job {job}: operations {', '.join(sorted(missing))} are not planned; the twin executes whole units")
        # The unit arrives in time for its first cell's changeover, which the plan puts before the start.
        setup = {t.name: t.setup for t in spec.cell_types}
        jobs.append((product, float(min(a.start - setup[cells[a.cell].type] for a in assignments)), job))
    _spread_over_slots(plan, ends, layout, cells)
    return plan, jobs


def _spread_over_slots(plan: dict, ends: dict, layout: Layout, cells: dict) -> None:
    """A plan puts a unit on a bay, the twin on one of its slots: deal each bay's assignments to
    the first slot free at their start (the plan respects the bay's capacity, so they fit)."""
    capacity = {s.name: s.capacity for s in layout.stations}
    by_cell: dict[str, list] = {}
    for key, (cell, start) in plan.items():
        if capacity[cells[cell].type] > 1:
            by_cell.setdefault(cell, []).append((start, key))
    for cell, items in by_cell.items():
        items.sort()
        free_at = [0.0] * capacity[cells[cell].type]
        for start, key in items:
            slot = min(range(len(free_at)), key=lambda k: (free_at[k] > start, free_at[k]))
            free_at[slot] = ends[key]
            plan[key] = (f"{cell}/{slot + 1}", start)


def _product_of(job: str, ops: set[str], layout: Layout) -> int:
    """The product a planned job builds: its id prefix before '#' (plant.demand's naming), or
    else the one product whose routing has exactly these operations."""
    prefix = job.split("#", 1)[0]
    if prefix in layout.product_index:
        return layout.product_index[prefix]
    matches = [p.index for p in layout.products if {op.id for op in p.ops} == ops]
    if len(matches) != 1:
        raise ValueError(f"schedule job {job}: cannot tell which product it builds; name it 'PRODUCT#n' as plant.demand does")
    return matches[0]
