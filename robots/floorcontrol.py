"""The floor controller inside a dispatch run (robots.dispatcher._Run mixes this in), as the
twin hosts it in sim.execution.ControlBridge: dispatch happenings become controller events,
the controller's decisions become sends and journal rows.

- Events in: `Started` for work already under way when a controller is built, `Ready` when
  every predecessor of a job has completed (the journal is the judge), `Completed` / `Failed`
  from the cells' answers, `CellDown` for a cell lost for good, `Tick` at the controller's
  `next_wake` on the plan clock (plan seconds = wall seconds since the plan's first dispatch x
  speed). A job that ends without completing (blocked, waiting for a person, failed for good)
  is reported `Completed` to free its cell: the controller never sends its successors, because
  only the dispatcher says `Ready`.
- Decisions out, each journaled with its reason in the transaction of its effect: a START is
  the job's claim (the reason is the claim's transition detail; a START on another cell than
  the job's is also a `move`), a MOVE that is not a start rebinds the job, a REWORK adds the
  rework copies and marks the failed job `reworked`, a REPLAN writes itself and every rebind it
  makes, a `cell-down` writes itself and the moves it causes.
- The controller is built from the journal's state (what is done, what runs, where each open
  job is bound), so a restarted dispatcher continues where the floor is; a cell lost for good
  rebuilds it the same way, which hands back work decided for that cell but never sent.
"""
from __future__ import annotations

import asyncio
import collections
import math
import time

from hardware.driver import DriverState
from robots.controlplan import dispatch_control_plan, restored
from robots.journal import ATTENTION, BLOCKED, COMPLETED, REWORKED, UNDERWAY
from scheduler.control import CellDown, CellUp, Completed, ControlConfig, Failed, FloorController, Ready, Started, Tick
from scheduler.control.events import MOVE, REPLAN, REWORK, START

_FOREVER_HORIZONS = 10  # a cell lost for good is down this many plan horizons: past any work
_LIVE = (DriverState.ACTIVE, DriverState.RECOVERED)


class ControlledFloor:
    """Controller state of one dispatch run. Expects from the run: plan, journal, owner (the
    Dispatcher), assignment, predecessors, successors, state, cell_of, taken, down, latest, epoch."""

    def _setup_control(self, problem, schedule) -> None:
        self.cp = dispatch_control_plan(problem, schedule, self.owner.rework)
        self.cell_index = {c: i for i, c in enumerate(self.cp.cell_ids)}
        self.task_of: dict[str, int] = {}
        self.original_of: list[str | None] = [None] * self.cp.n_tasks
        for jid, a in self.assignment.items():
            if "~r" not in jid:
                t = self.cp.task_of(a.job, a.op)
                self.task_of[jid] = t
                self.original_of[t] = jid
        self.events: collections.deque = collections.deque()
        self.draining = False
        self.ctrl: FloorController | None = None
        self.wake_changed = asyncio.Event()
        self.tick_at = math.inf
        self.controller_summaries: list[dict] = []
        self.ctrl_cell: dict[str, str] = {}  # job -> the cell the controller started it on
        self.cause: tuple | None = None  # a decision row to journal with the next moves (cell-down)

    # ------------------------------------------------------------------ clock and mapping
    def _now(self) -> float:
        """Plan seconds since the plan's first dispatch (the controller's clock)."""
        return (time.time() - self.epoch) * self.owner.speed

    def _job_of(self, t: int) -> str | None:
        original = self.original_of[t]
        return None if original is None else self.latest.get(original, original)

    def _task(self, jid: str) -> int:
        return self.task_of[jid.split("~r", 1)[0]]

    # ------------------------------------------------------------------ building
    def _build_controller(self, cause: tuple | None = None) -> None:
        """A controller for the floor as the run knows it now (the journal's state): settled
        jobs are done, open ones sit on their bound cells, jobs in flight are reported started,
        lost cells down, ready jobs ready. `cause`: a decision row (kind, cell, reason) to
        journal with the moves this causes."""
        if self.ctrl is not None:
            self.controller_summaries.append(self.ctrl.summary())
        self._hold_lost_work()
        done, cells = set(), {}
        for t in range(self.cp.n_tasks):
            jid = self._job_of(t)
            if jid is None:
                continue
            if jid in self.state:
                done.add(t)
            else:
                cells[t] = self.cell_index[self.cell_of[jid]]
        self.ctrl = FloorController(restored(self.cp, done, cells), self.owner.control)
        self.tick_at = math.inf
        now = self._now()
        self.ctrl_cell = {}
        for jid in sorted(self.taken - set(self.state)):
            self._push(Started(now, self._task(jid), self.cell_index[self.target_of[jid]]))
        for jid in sorted(self.journal_underway):
            if jid not in self.taken and jid not in self.state:
                self._push(Started(now, self._task(jid), self.cell_index[self.cell_of[jid]]))
        self.journal_underway = {}
        # Cells without a controller in this fleet are never given work (marked down, nothing moved).
        for c, cell in enumerate(self.cp.cell_ids):
            if cell not in self.owner.fleet.handles:
                self._push(CellDown(now, c, now))
        self._drain()
        forever = now + _FOREVER_HORIZONS * max(self.cp.horizon, 1)
        new = cause[1] if cause is not None else None
        for cell in sorted(self.down - {new}) + ([new] if new is not None else []):
            self.cause = cause if cell == new else None
            self._push(CellDown(now, self.cell_index[cell], forever))
            self._drain()
        self.cause = None
        for cell, spans in self.downtime.items():  # planned stops under way now (later ones: _windows)
            for s, e in spans:
                if s <= now < e and cell in self.cell_index:
                    self._push(CellDown(now, self.cell_index[cell], e))
        self._drain()
        for t in range(self.cp.n_tasks):
            jid = self._job_of(t)
            if jid is not None and jid not in self.state and jid not in self.taken and self._preds_completed(jid):
                self._push(Ready(now, t))
        self._drain()
        self._strand_unmovable()

    def _hold_lost_work(self) -> None:
        """A job bound to a lost cell that was sent there before (under way or blocked when a
        dispatcher stopped) may have run there: it is never moved, a person decides."""
        for jid, cell in self.cell_of.items():
            if cell in self.down and jid not in self.state and jid not in self.taken and self.journal.attempts(jid) \
                    and self.journal.holder(jid)[0] in (UNDERWAY, BLOCKED):  # (one a person sent back with =redo moves)
                self._record(jid, cell, ATTENTION, f"outcome unknown: {cell} is down and this job was sent to it before; "
                                                   f"not moved, it may have run there: decide rework or operator")

    def _preds_completed(self, jid: str) -> bool:
        return all(self.state.get(p) == COMPLETED for p in self.predecessors.get(jid, ()))

    def _strand_unmovable(self) -> None:
        """Open work bound to a lost cell that nothing will move (no live cell in its pool, or a
        policy without twin-cell help) waits for a person instead of for ever."""
        if not self.down:
            return
        pools = self.cp.pool_cells
        for t in range(self.cp.n_tasks):
            jid = self._job_of(t)
            if jid is None or jid in self.state or jid in self.taken:
                continue
            cell = self.cp.cell_ids[self.ctrl.cell[t]] if self.ctrl.cell[t] >= 0 else self.cell_of[jid]
            if cell not in self.down and cell in self.owner.fleet.handles:
                continue
            pool = self.cp.cell_pool[self.cell_index[cell]]
            live = [c for c in pools[pool] if self.cp.cell_ids[c] not in self.down and self.cp.cell_ids[c] in self.owner.fleet.handles]
            if not live:
                self._record(jid, cell, ATTENTION, f"{cell} is down and no other cell of pool {self.cp.pool_names[pool]} is up: decide")
            elif not self.owner.control.pool_help:
                self._record(jid, cell, ATTENTION, f"{cell} is down and control without twin-cell help moves nothing: decide")

    # ------------------------------------------------------------------ events
    def _push(self, event) -> None:
        self.events.append(event)

    def _drain(self) -> None:
        """Hand queued events to the controller one at a time and carry out its decisions
        (decisions may queue more events: a rework's copies become ready)."""
        if self.draining or self.ctrl is None:
            return
        self.draining = True
        try:
            with self.journal.atomic():  # the batch's decisions, claims and moves: one commit
                while self.events:
                    self._apply(self.ctrl.handle(self.events.popleft()))
        finally:
            self.draining = False
        wake = self.ctrl.next_wake
        if wake < self.tick_at:
            self.tick_at = wake
            self.wake_changed.set()

    def _push_completed(self, jid: str, cell: str) -> None:
        self._push(Completed(self._now(), self._task(jid), self.cell_index[self.ctrl_cell.get(jid, cell)]))

    def _free(self, jid: str, cell: str) -> None:
        """The job ended here without completing: its cell is free (its successors are never ready)."""
        self._push_completed(jid, cell)
        self._drain()

    async def _ticker(self) -> None:
        """Tick the controller at its `next_wake` (planned starts, re-plans) on the plan clock."""
        while not self.all_settled.is_set():
            self.wake_changed.clear()
            self.tick_at = self.ctrl.next_wake
            if self.tick_at == math.inf:
                await self.wake_changed.wait()
                continue
            delay = (self.epoch + self.tick_at / self.owner.speed) - time.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self.wake_changed.wait(), delay)
                    continue
                except asyncio.TimeoutError:
                    pass
            self._push(Tick(max(self._now(), self.tick_at)))
            self._drain()

    async def _windows(self) -> None:
        """Planned stops (a repaired plan's downtime, plan seconds): the controller hears each as
        it begins, with its end, and moves what it would delay (as the twin's calendar watcher
        tells it of a bay's long stops), and hears when it ends."""
        downtime = self.downtime
        events = sorted([(s, 0, cell, e) for cell, spans in downtime.items() for s, e in spans if cell in self.cell_index]
                        + [(e, 1, cell, e) for cell, spans in downtime.items() for s, e in spans if cell in self.cell_index])
        begun = self._now()  # stops under way when the controller was built were told then
        for at, is_end, cell, end in events:
            if not is_end and at <= begun:
                continue
            if at / self.owner.speed + self.epoch > time.time():
                await asyncio.sleep(at / self.owner.speed + self.epoch - time.time())
            if end <= self._now() and not is_end:
                continue  # over before the run reached it
            if is_end and end <= begun:
                continue
            c = self.cell_index[cell]
            self._push(CellUp(self._now(), c) if is_end else CellDown(self._now(), c, end))
            self._drain()

    # ------------------------------------------------------------------ decisions
    def _apply(self, decisions) -> None:
        moved: dict[int, str] = {}
        starts = []
        replanned = None
        for d in decisions:
            kind = d.kind
            if kind is START:
                starts.append(d)
            elif kind is MOVE:
                if d.task >= 0:
                    moved[d.task] = d.reason
                else:  # nothing moved, and why (a repair the planner could not make)
                    self.journal.decide(self.plan, "move", f"controller: {d.reason}", cell=self.cp.cell_ids[d.cell])
            elif kind is REWORK:
                self._rework_decided(d)
            elif kind is REPLAN:
                replanned = d
        started = {d.task for d in starts}
        rebinds = []
        for t, reason in moved.items():
            if t not in started:
                rebinds += self._rebind(t, f"controller: {reason}")
        if replanned is not None:
            for t in range(self.cp.n_tasks):
                if t not in moved and t not in started:
                    rebinds += self._rebind(t, f"controller: {replanned.reason}")
        cause, self.cause = self.cause, None
        if rebinds or replanned is not None or cause is not None:
            with self.journal.atomic():
                if cause is not None:
                    self.journal.decide(self.plan, cause[0], cause[2], cell=cause[1])
                if replanned is not None:
                    figures = ", ".join(f"{k} {v}" for k, v in (replanned.detail or {}).items())
                    self.journal.decide(self.plan, "replan", f"{replanned.reason} ({figures})")
                self.journal.reassign(self.plan, rebinds)
            for jid, _, target, _ in rebinds:
                self.cell_of[jid] = target
        for d in starts:
            self._start(d.task, self.cp.cell_ids[d.cell], d.reason, moved.get(d.task))

    def _rebind(self, t: int, reason: str) -> list[tuple[str, str, str, str]]:
        """The journal row for an open, unsent job whose controller cell changed."""
        jid = self._job_of(t)
        c = self.ctrl.cell[t]
        if jid is None or c < 0 or jid in self.state or jid in self.taken or jid in self.sent_before:
            return []
        target = self.cp.cell_ids[c]
        return [] if target == self.cell_of[jid] else [(jid, self.cell_of[jid], target, reason)]

    def _start(self, t: int, cell: str, reason: str, move_reason: str | None) -> None:
        jid = self._job_of(t)
        if jid is None or jid in self.state or jid in self.taken:
            return  # already on its way (a controller rebuilt around work in flight)
        # The controller's cell for this start: its completion is reported there, whichever
        # controller runs it (its own bookkeeping stays whole).
        self.ctrl_cell[jid] = cell
        move = None
        if jid in self.sent_before:
            cell = self.cell_of[jid]  # it may have run there: only that controller can tell (same id)
        elif cell != self.cell_of[jid]:
            move = (self.cell_of[jid], f"controller: {move_reason or reason}")
        self.taken.add(jid)
        self.target_of[jid] = cell
        if jid not in self.sent_before and self.owner.fleet[cell].driver.state in _LIVE:
            # Claimed here, in the batch's transaction (one commit for a burst of starts).
            claim = self._claim(jid, cell, reason, move)
            if claim is not None:
                self._spawn_send(jid, cell, reason, None, claim)
            return
        self._spawn_send(jid, cell, reason, move)

    def _rework_decided(self, d) -> None:
        """The controller's rework decision for a failed check: the rework set's copies are
        queued, the decision journaled and the failed job marked `reworked`, in one transaction."""
        failed = self._job_of(d.task)
        a = self.assignment[failed]
        n = self.rounds[a.job] + 1
        ops = list(d.detail or [])
        with self.journal.atomic():
            rows = self._add_rework_copies(a.job, a.op, n, ops, None)
            reason = f"controller: {d.reason} ({a.job}, round {n})"
            self.journal.add_rework(self.plan, rows, reason, failed)
            self.journal.transition(failed, REWORKED, f"{self.failed_detail.pop(failed, 'failed its check')}; rework: "
                                                      f"{', '.join(new for new, *_ in rows)}")
        self.owner.on_event({"job_id": failed, "cell": self.cp.cell_ids[d.cell], "state": REWORKED, "detail": reason, "at": time.time()})
        self._settle(failed, REWORKED)
        for new, *_ in rows:
            if self._preds_completed(new):
                self._ready(new)

    def _failed_check(self, jid: str, cell: str) -> bool:
        """A controller reported that the job failed its check: True when the controller's rework
        takes it (the spec has a rework routing and the unit has rounds left)."""
        from robots.rework import MAX_ROUNDS

        a = self.assignment[jid]
        if (a.job.rsplit("#", 1)[0], a.op) not in self.owner.rework or self.rounds[a.job] + 1 > MAX_ROUNDS:
            return False
        self._push(Failed(self._now(), self._task(jid), self.cell_index[self.ctrl_cell.get(jid, cell)]))
        self._drain()
        return True

    def _ready(self, jid: str) -> None:
        """Every predecessor of the job completed: the controller may start it."""
        if self._job_of(self._task(jid)) == jid:  # (a job a rework copied is not sent again)
            self._push(Ready(self._now(), self._task(jid)))


def control_config(name: str | ControlConfig, release: str, **overrides) -> ControlConfig:
    """The controller's configuration for a dispatch run: a policy by name (blind | repair |
    replan, as the twin's `--control`) and the release rule: `planned` gates each start at its
    planned start less the changeover it needs and the policy's early allowance (the twin's
    rule); `predecessors` does not wait for planned times at all."""
    config = name if isinstance(name, ControlConfig) else ControlConfig.policy(name, **overrides)
    if release == "predecessors":
        from dataclasses import replace

        config = replace(config, early_s=math.inf)
    return config

