"""Where the queued work of a cell that is down for good goes: to the other cells of its pool.

With the spec at hand the floor controller decides (`ControllerReassigner`: scheduler.control,
the same code that moves a down cell's work in the twin). `PoolReassigner` is the rule without
it, and the controller's fallback: `scheduler.repair` first (an operation the downtime would
delay drops into a gap another cell of the pool has at its planned time), then the live cell of
the pool with the least queued work for whatever the repair left on the dead cell. The
dispatcher only calls `moves()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from plant.spec import FactorySpec
from scheduler.problem import Problem
from scheduler.repair import Downtime, repair
from scheduler.schedule import Assignment, Schedule


@dataclass(frozen=True)
class Move:
    job_id: str
    source: str
    target: str | None  # None: no live cell of the pool can take it
    reason: str


class PoolReassigner:
    def __init__(self, problem: Problem, horizon: int) -> None:
        self.problem = problem
        self.horizon = horizon
        self.pool_cells = {c.id: [problem.cells[k].id for k in problem.pools[c.pool].cells] for c in problem.cells}
        self.pool_name = {c.id: problem.pools[c.pool].name for c in problem.cells}

    def moves(self, down: str, now: int, queued: list[tuple[str, Assignment]], current: list[Assignment],
              alive: set[str], load: dict[str, float]) -> list[Move]:
        """Moves for the `queued` (job id, assignment) of cell `down`, at plan time `now`;
        `current` is every assignment as the floor runs it now, `load` the queued seconds per cell."""
        siblings = [c for c in self.pool_cells.get(down, []) if c != down and c in alive]
        repaired = self._repaired(down, now, current) if siblings else {}
        load = dict(load)
        out = []
        for jid, a in queued:
            duration = a.end - a.start
            target = repaired.get((a.job, a.op))
            if target in siblings:
                reason = f"repair: {target} has room at the planned time ({a.start / 3600:.2f} h)"
            elif siblings:
                target = min(siblings, key=lambda c: (load.get(c, 0.0), c))
                reason = f"pool {self.pool_name[down]}: {target} has the least queued work ({load.get(target, 0.0) / 3600:.2f} h)"
            else:
                out.append(Move(jid, down, None, f"no other cell of pool {self.pool_name.get(down, '?')} is up"))
                continue
            load[target] = load.get(target, 0.0) + duration
            out.append(Move(jid, down, target, reason))
        return out

    def _repaired(self, down: str, now: int, current: list[Assignment]) -> dict[tuple[str, str], str]:
        """The cell scheduler.repair gives each operation when `down` is out from `now` to well
        past the horizon; empty if the floor has drifted from any plan repair can read."""
        plan = Schedule(current, self.horizon, "dispatching")
        try:
            result = repair(self.problem, plan, [Downtime(down, now, 10 * max(self.horizon, now + 1))], now, time_limit=0)
        except ValueError:
            return {}  # work already moved overlaps on a cell: repair needs a valid plan; the pool rule decides alone
        return {(a.job, a.op): a.cell for a in result.schedule.assignments}


class ControllerReassigner:
    """The floor controller's decision for a cell that stopped for good: the open work as the
    floor runs it now becomes a ControlPlan (finished operations are absent, so they count as
    done), work under way is reported started, and `CellDown` returns the controller's MOVE
    decisions. What it leaves on the dead cell (outside its repair window, or when the open work
    is not a plan it can read) goes by the pool rule."""

    def __init__(self, spec: FactorySpec, problem: Problem, horizon: int) -> None:
        self.spec = spec
        self.horizon = horizon
        self.pool = PoolReassigner(problem, horizon)

    def moves(self, down: str, now: int, queued: list[tuple[str, Assignment]], current: list[Assignment],
              alive: set[str], load: dict[str, float], *, open_work: list[Assignment] | None = None,
              running: set[tuple[str, str]] = frozenset()) -> list[Move]:
        decided = self._controller(down, now, open_work or [], alive, running)
        by_op = {(a.job, a.op): jid for jid, a in queued}
        out = [Move(by_op[key], down, target, reason) for key, (target, reason) in decided.items() if key in by_op]
        moved = {m.job_id for m in out}
        left = [(jid, a) for jid, a in queued if jid not in moved]
        return out + (self.pool.moves(down, now, left, current, alive, load) if left else [])

    def _controller(self, down: str, now: int, open_work: list[Assignment], alive: set[str],
                    running: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        from scheduler.control import CellDown, ControlConfig, FloorController, Started, control_plan
        from scheduler.control.events import MOVE

        try:
            plan = control_plan(self.spec, Schedule(open_work, self.horizon, "dispatching", kpis={"horizon_s": self.horizon}))
        except ValueError:
            return {}
        # Every open operation may move (a cell down for good has no expected return).
        forever = float(now + 10 * max(self.horizon, 1))
        controller = FloorController(plan, ControlConfig(move_threshold_s=0.0, repair_window_s=forever))
        cell = {c: i for i, c in enumerate(plan.cell_ids)}
        for job, op in running:
            try:
                t = plan.task_of(job, op)
            except KeyError:
                continue
            if plan.t_cell[t] >= 0:
                controller.handle(Started(float(now), t, plan.t_cell[t]))
        for other in plan.cell_ids:
            if other not in alive and other != down:
                controller.handle(CellDown(float(now), cell[other], forever))
        out = {}
        for decision in controller.handle(CellDown(float(now), cell[down], forever)):
            if decision.kind == MOVE and decision.task >= 0 and plan.cell_ids[decision.cell] in alive:
                key = (plan.jobs[plan.t_job[decision.task]], plan.t_op[decision.task])
                out[key] = (plan.cell_ids[decision.cell], f"controller: {decision.reason}")
        return out
