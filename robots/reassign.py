"""Where the queued work of a cell that is down for good goes: to the other cells of its pool.

This is the dispatcher's stand-in until the floor controller (scheduler/control, issue #10)
takes the decision: it asks `scheduler.repair` first (an operation the downtime would delay
drops into a gap another cell of the pool has at its planned time), and sends whatever the
repair left on the dead cell to the live cell of the pool with the least queued work. The
dispatcher only calls `moves()`, so the controller can replace this class behind the same call.
"""
from __future__ import annotations

from dataclasses import dataclass

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
