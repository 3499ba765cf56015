"""What goes into the floor controller and what comes out: plain records, no behaviour, the
same for the twin (SimPy time) and the dispatcher (asyncio, wall-clock seconds since the
plan's start). Tasks and cells are the indices of a ControlPlan.

Not frozen: a week of the 1 GW floor builds ~250,000 of these, and a frozen dataclass costs
five times as much to build (every field through object.__setattr__). Treat them as read-only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Ready:
    """The unit is at the operation's station: its predecessors are done and it has arrived."""
    time: float
    task: int


@dataclass(slots=True)
class Started:
    """A cell reports it began a task (confirms a Start decision, or work a person started)."""
    time: float
    task: int
    cell: int


@dataclass(slots=True)
class Completed:
    """The task is done and passed its check; the cell takes new work."""
    time: float
    task: int
    cell: int


@dataclass(slots=True)
class Failed:
    """The task is done but failed its check: the unit follows the spec's rework routing."""
    time: float
    task: int
    cell: int


@dataclass(slots=True)
class CellDown:
    """The cell stopped; `expected_up` is when it should work again (a technician's or the
    fault code's estimate; the controller only moves work for long stops)."""
    time: float
    cell: int
    expected_up: float


@dataclass(slots=True)
class CellUp:
    time: float
    cell: int


@dataclass(slots=True)
class PoolFull:
    """A pool's input buffer is full and units wait to enter it (True), or no longer (False)."""
    time: float
    pool: int
    full: bool


@dataclass(slots=True)
class Tick:
    """Time passed: the host calls this at `controller.next_wake` (planned starts, re-plans)."""
    time: float


Event = Ready | Started | Completed | Failed | CellDown | CellUp | PoolFull | Tick

# Decision kinds
START = "start"  # a cell runs a task now
MOVE = "move"  # a task goes to another cell of its pool (repair, or a full buffer)
REWORK = "rework"  # a failed task's rework set goes back to the floor
REPLAN = "replan"  # the open work was planned again from the current state


@dataclass(slots=True)
class Decision:
    time: float
    kind: str
    reason: str
    task: int = -1
    cell: int = -1
    detail: Any = None  # kind-specific: moved-from cell, rework set, re-plan figures

    def to_dict(self, plan=None) -> dict[str, Any]:
        out: dict[str, Any] = {"time_s": round(self.time, 3), "kind": self.kind, "reason": self.reason}
        if self.task >= 0:
            out["task"] = plan.task_name(self.task) if plan is not None else self.task
        if self.cell >= 0:
            out["cell"] = plan.cell_ids[self.cell] if plan is not None else self.cell
        if self.detail is not None:  # a copy: a move's detail dict is shared by the moves from its cell
            out["detail"] = dict(self.detail) if type(self.detail) is dict else self.detail
        return out


class DecisionLog:
    """Every decision taken, oldest first, read back as Decisions (iterate, index, slice, len).
    Kept as plain tuples: a week of the 1 GW floor logs 80,000-140,000 decisions, and the
    garbage collector stops tracing a tuple of plain values after one look, while it would trace
    every Decision object at each collection."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []  # (time, kind, reason, task, cell, detail)

    def append(self, d: Decision) -> None:
        self.rows.append((d.time, d.kind, d.reason, d.task, d.cell, d.detail))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return (Decision(*row) for row in self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [Decision(*row) for row in self.rows[i]]
        return Decision(*self.rows[i])
