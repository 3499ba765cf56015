"""The plan as the floor controller reads it: every operation of every planned unit as an
indexed task (job-major, routing order, so a host maps (unit, routing index) to a task by one
addition), its planned cell and start, predecessors, successors and yield/rework set, plus the
scheduler Problem of the planned operations that repair and re-plan work on.

Built from the spec and a Schedule alone, so it reads any plan the scheduler writes: a unit
carried in from a running floor (`-wip`) lists only its open operations; the ones missing are
taken as done before the plan starts, which is only sound when no planned operation waits for
a missing one. An operation running across the cut is planned shorter than its nominal time:
its planned/nominal ratio is the share of work left, and it stays on its cell.
A unit whose missing operations come after planned ones is refused (the twin executes units).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from plant.rework import rework_set
from plant.spec import FactorySpec
from scheduler.problem import Job, Problem, Task, build_problem, with_recorded_downtime
from scheduler.schedule import Schedule
from scheduler.validate import validate


@dataclass
class ControlPlan:
    schedule: Schedule
    problem: Problem  # the planned operations only; time 0 is the plan's start
    horizon: int
    cell_ids: list[str]
    cell_pool: list[int]
    cell_capacity: list[int]
    cell_setup: list[float]
    pool_names: list[str]
    pool_cells: list[list[int]]
    jobs: list[str]
    job_product: list[str]
    job_category: list[str]
    job_mw: list[float]
    job_first: list[int]  # task id of the job's first routing operation
    t_job: list[int] = field(default_factory=list)
    t_op: list[str] = field(default_factory=list)
    t_index: list[int] = field(default_factory=list)  # routing index inside the product
    t_family: list[str] = field(default_factory=list)
    t_pools: list[list[int]] = field(default_factory=list)  # eligible pools, fastest first
    t_preds: list[list[int]] = field(default_factory=list)
    t_succs: list[list[int]] = field(default_factory=list)
    t_rework: list[list[int]] = field(default_factory=list)  # redone when this one fails; first is the target
    t_cell: list[int] = field(default_factory=list)  # planned cell, -1 when not planned (done before the plan)
    t_start: list[float] = field(default_factory=list)
    t_end: list[float] = field(default_factory=list)
    t_done: list[bool] = field(default_factory=list)  # done before the plan starts
    t_scale: list[float] = field(default_factory=list)  # share of the nominal work left (< 1 for work running at the cut)
    t_problem: list[int] = field(default_factory=list)  # task index in `problem`, -1 when not planned
    _keys: dict | None = field(default=None, repr=False)
    start_state: tuple | None = field(default=None, repr=False)  # the controller's state at time 0, built once per plan
    stop_calendars: list | None = field(default=None, repr=False)  # per cell, its recorded stops (controller._recorded_stops)
    # Tables derived from the plan's lists, made once per plan (see `derived`), each kept as
    # (the lists it was made from, the table):
    routable: tuple | None = field(default=None, repr=False)  # from t_pools: per task 1 when it has more than one eligible pool (controller)
    by_start: tuple | None = field(default=None, repr=False)  # from t_start, t_problem: the planned tasks by planned start (controller.open_before)
    first_starts: tuple | None = field(default=None, repr=False)  # from t_scale: per task 1, or 2 when it runs across the cut (sim.execution's bridge)
    planned_starts: tuple | None = field(default=None, repr=False)  # from t_start: the planned starts as doubles, read only (sim.execution's bridge)

    def derived(self, name: str, sources: tuple, make):
        """The table in field `name`, made by `make()` from the plan's lists `sources` once per
        plan and kept with them: a plan copied with other lists (dataclasses.replace) makes its own."""
        kept = getattr(self, name)
        if kept is None or len(kept[0]) != len(sources) or any(a is not b for a, b in zip(kept[0], sources)):
            kept = (sources, make())
            setattr(self, name, kept)
        return kept[1]

    @property
    def n_tasks(self) -> int:
        return len(self.t_job)

    def task_of(self, job: str, op: str) -> int:
        """The task id of operation `op` of job `job`."""
        if self._keys is None:
            self._keys = {(self.jobs[self.t_job[t]], self.t_op[t]): t for t in range(self.n_tasks)}
        return self._keys[(job, op)]

    def task_name(self, t: int) -> str:
        return f"{self.jobs[self.t_job[t]]}/{self.t_op[t]}"

    def planned_mw_by_category(self, horizon: float | None = None) -> dict[str, float]:
        """MW per category of the units the plan finishes by the horizon (scheduler.delivery's rule)."""
        end = self.horizon if horizon is None else horizon
        out: dict[str, float] = {}
        last: dict[int, float] = {}
        for t in range(self.n_tasks):
            if not self.t_done[t]:
                last[self.t_job[t]] = max(last.get(self.t_job[t], 0.0), self.t_end[t])
        for j, cat in enumerate(self.job_category):
            out.setdefault(cat, 0.0)
            if last.get(j, 0.0) <= end:
                out[cat] += self.job_mw[j]
        return out


_CACHE: list = []  # (schedule, spec, plan) of the last few plans built in this process


def cached_control_plan(spec: FactorySpec, schedule: Schedule) -> ControlPlan:
    """control_plan, built once per (spec, schedule) object in a process: each replication and
    each policy of a benchmark reads the same plan (the controller copies what it changes)."""
    for sched, sp, plan in _CACHE:
        if sched is schedule and sp is spec:
            return plan
    plan = control_plan(spec, schedule)
    _CACHE.insert(0, (schedule, spec, plan))
    del _CACHE[4:]
    return plan


def product_of(spec: FactorySpec, job: str, ops: set[str]) -> str:
    """The product a planned job builds: its id prefix before '#' (plant.demand's naming, kept
    by carried units), or else the one product whose routing has exactly these operations."""
    prefix = job.split("#", 1)[0]
    if prefix in spec.product_index:
        return prefix
    matches = [p.name for p in spec.products if {op.id for op in p.routing} == ops]
    if len(matches) != 1:
        raise ValueError(f"schedule job {job}: cannot tell which product it builds; name it 'PRODUCT#n' as plant.demand does")
    return matches[0]


def control_plan(spec: FactorySpec, schedule: Schedule) -> ControlPlan:
    """Index a plan of `spec` for the controller; ValueError names what does not fit the spec."""
    horizon = int(schedule.kpis.get("horizon_s", schedule.horizon) or schedule.horizon or schedule.makespan)
    # Cell windows up to the horizon, as the planner saw them (work it put beyond the horizon
    # may cross a later window; the floor pauses it there).
    # and the downtime a repaired plan was made around (kpis.down): moved work keeps off it.
    floor = with_recorded_downtime(build_problem(spec, [], max(horizon, 1)), schedule.kpis)
    cell_index = {c.id: i for i, c in enumerate(floor.cells)}
    pool_index = {p.name: i for i, p in enumerate(floor.pools)}
    ctypes = {t.name: t for t in spec.cell_types}
    by_job: dict[str, dict[str, object]] = {}
    for i, a in enumerate(schedule.assignments):
        if a.cell not in cell_index:
            raise ValueError(f"assignments[{i}].cell: {a.cell!r} is not a cell of spec {spec.name!r}")
        if a.op in by_job.setdefault(a.job, {}):
            raise ValueError(f"assignments[{i}]: {a.job}/{a.op} is planned more than once")
        by_job[a.job][a.op] = a
    cp = ControlPlan(schedule, floor, horizon, [c.id for c in floor.cells], [c.pool for c in floor.cells],
                     [c.capacity for c in floor.cells], [float(c.setup) for c in floor.cells], [p.name for p in floor.pools],
                     [list(p.cells) for p in floor.pools], [], [], [], [], [])
    jobs: list[Job] = []
    tasks: list[Task] = []
    for job_id, planned in by_job.items():
        product = spec.product_index[product_of(spec, job_id, set(planned))]
        routing = product.routing
        index = {op.id: k for k, op in enumerate(routing)}
        for op_id in planned:
            if op_id not in index:
                raise ValueError(f"schedule job {job_id}: operation {op_id!r} is not in the routing of {product.name}")
        missing = [op.id for op in routing if op.id not in planned]
        # Missing operations are taken as done before the plan: none may wait for a planned one.
        after_planned = [op.id for op in routing if op.id in missing and any(p in planned for p in op.predecessors)]
        if after_planned:
            raise ValueError(f"schedule job {job_id}: operations {', '.join(missing)} are not planned, but {after_planned[0]} comes "
                             "after planned work; a plan lists every operation of a unit, or (a unit carried in) every one still open")
        j = len(cp.jobs)
        first = len(cp.t_job)
        cp.jobs.append(job_id)
        cp.job_product.append(product.name)
        cp.job_category.append(product.category)
        cp.job_mw.append(product.mw)
        cp.job_first.append(first)
        starts = [a.start for a in planned.values()]
        job = Job(job_id, product.name, product.family, product.category, product.mw, min(starts) if starts else 0)
        preds = [[index[p] for p in op.predecessors] for op in routing]
        rework = [rework_set(routing, k) for k in range(len(routing))]
        for k, op in enumerate(routing):
            t = first + k
            pools = [pool_index[tn] for tn, _ in sorted(((tn, ctypes[tn].capabilities[op.capability]) for tn in pool_index
                                                            if op.capability in ctypes[tn].capabilities and floor.pools[pool_index[tn]].cells),
                                                           key=lambda x: x[1])]
            cp.t_job.append(j)
            cp.t_op.append(op.id)
            cp.t_index.append(k)
            cp.t_family.append(product.family)
            cp.t_pools.append(pools)
            cp.t_preds.append([first + p for p in preds[k]])
            cp.t_succs.append([])
            cp.t_rework.append([first + r for r in rework[k]])
            a = planned.get(op.id)
            if a is None:
                cp.t_cell.append(-1)
                cp.t_start.append(0.0)
                cp.t_end.append(0.0)
                cp.t_done.append(True)
                cp.t_scale.append(1.0)
                cp.t_problem.append(-1)
                continue
            cell = cell_index[a.cell]
            ctype = floor.cells[cell].pool
            factor = ctypes[cp.pool_names[ctype]].capabilities.get(op.capability)
            if factor is None:
                raise ValueError(f"schedule job {job_id}/{op.id}: cell {a.cell} cannot do {op.id}")
            nominal = max(1, int(round(op.duration * factor)))
            ratio = (a.end - a.start) / nominal
            if ratio < 1 and a.start != 0:
                raise ValueError(f"schedule job {job_id}/{op.id}: planned {a.end - a.start}s on {a.cell}, shorter than its "
                                 f"{nominal}s (only work carried in, running at time 0, may be shorter)")
            if ratio < 1:  # running across the cut: the rest of its work, on its own cell
                modes = [(ctype, a.end - a.start)]
            else:
                modes = [(ctype, a.end - a.start)] + [
                    (p, max(1, int(round(op.duration * ctypes[cp.pool_names[p]].capabilities[op.capability] * ratio))))
                    for p in pools if p != ctype]
            cp.t_cell.append(cell)
            cp.t_start.append(float(a.start))
            cp.t_end.append(float(a.end))
            cp.t_done.append(False)
            # A plan may hold longer times than nominal (planned for availability): the floor
            # still works at its own speed; only shorter ones (work left at the cut) scale it.
            cp.t_scale.append(min(1.0, ratio))
            cp.t_problem.append(len(tasks))
            job.tasks.append(len(tasks))
            tasks.append(Task(len(jobs), op.id, modes, [], op.capability))
        for k, op in enumerate(routing):
            t = first + k
            for p in cp.t_preds[t]:
                cp.t_succs[p].append(t)
            if cp.t_problem[t] >= 0:
                tasks[cp.t_problem[t]].predecessors = [cp.t_problem[p] for p in cp.t_preds[t] if cp.t_problem[p] >= 0]
        jobs.append(job)
    cp.problem = Problem(floor.cells, floor.pools, jobs, tasks, horizon, name=f"{spec.name}/plan")
    validate(cp.problem, schedule)
    return cp
