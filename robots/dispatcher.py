"""Sends a validated schedule's jobs to the fleet under the floor controller
(scheduler.control, the code that runs the plan in the twin): it decides what each cell runs
next (the planned sequence with look-ahead, twin cells helping, rework first), moves a lost
cell's work, re-plans when the floor drifts, and sends a failed check to the spec's rework.
Every job is claimed in the journal before it is sent and every decision is journaled with its
reason in the transaction of its effect, so neither a crash nor a second dispatcher ever loses
or repeats a job (robots.floorcontrol hosts the controller; this module sends and journals)."""
from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from hardware.driver import CellJob, ControllerChanged, DriverError, JobRejected, JobResult
from robots.fleet import CellHandle, Fleet
from robots.floorcontrol import ControlledFloor, control_config
from robots.journal import (
    ATTENTION, BLOCKED, BUSY, CANCELED, CLAIMED, COMPLETED, DONE, FAILED, HELD, QUEUED, REWORKED, SETTLED, TERMINAL,
    UNDERWAY, UNKNOWN, Journal, new_owner, owner_alive,
)
from robots.packml import State
from robots.rework import ReworkRounds
from scheduler.control import ControlConfig
from scheduler.problem import Problem, recorded_downtime
from scheduler.schedule import Assignment, Schedule

EventSink = Callable[[dict], None]

RELEASE_RULES = {
    "predecessors": "a job leaves as soon as its predecessors are complete and the controller gives it a cell (planned times are not waited for)",
    "planned": "a job leaves when its predecessors are complete and its planned start, less the changeover it needs and the early allowance (--early; by default the control policy's, as in the twin: 2 h for repair/replan, none for blind), has come (plan seconds / speed after the first dispatch), as the twin runs a plan",
}
# A job may take this many times its planned length (at the run's speed) beyond --timeout before
# its controller counts as not answering: a 24 h burn-in is not a lost link at the 25th hour.
LENGTH_MARGIN = 2.0


@dataclass
class DispatchReport:
    plan: str
    counts: dict[str, int]
    seconds: float
    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    completion_order: list[str] = field(default_factory=list)
    others: int = 0  # jobs another dispatcher held that this one followed to their end instead of sending
    release: str = "predecessors"
    decisions: list[tuple] = field(default_factory=list)  # (kind, job_id, from cell, to cell, reason)
    # MW per category of units whose every operation completed by the plan's horizon (plan
    # seconds / speed after the first dispatch), by the controllers' own completion times.
    delivered_mw_by_category: dict[str, float] = field(default_factory=dict)
    controller: dict = field(default_factory=dict)  # the floor controller's decisions in this run, by kind and reason

    @property
    def all_terminal(self) -> bool:
        return set(self.counts) <= TERMINAL


def plan_id(schedule: Schedule) -> str:
    """The plan's content: which operations of which units it runs (product, unit, operation),
    not where or when, and not the id a store gave one copy of it. Two stored copies of a plan,
    or a plan and its repair, are the same work and share their journal claims."""
    digest = hashlib.sha256()
    for job, op in sorted({(a.job, a.op) for a in schedule.assignments}):
        digest.update(f"{job.rsplit('#', 1)[0]}\x1f{job}\x1f{op}\n".encode())
    return digest.hexdigest()[:12]


def job_id(plan: str, a: Assignment) -> str:
    return f"{plan}:{a.job}/{a.op}"


class Dispatcher:
    def __init__(
        self,
        fleet: Fleet,
        journal: Journal,
        *,
        timeout: float = 30.0,
        max_attempts: int = 3,
        on_event: EventSink | None = None,
        release: str = "predecessors",
        speed: float = 1.0,
        lease_s: float = 30.0,
        poll_s: float = 0.05,
        down_after: float | None = None,
        rework: dict[tuple[str, str], list[str]] | None = None,
        control: str | ControlConfig = "repair",
        replan_every_s: float | None = None,
        early_s: float | None = None,
        on_clock: Callable[[float], None] | None = None,
        downtime: dict[str, list[tuple[float, float]]] | None = None,
    ) -> None:
        """`timeout`: seconds to wait for a controller's answer beyond the job's own length
        (`answer_timeout`). `down_after`: seconds a cell may stay unreachable before it is
        declared down and the controller moves its work (None: never; its jobs wait, `blocked`).
        `rework`: (product, operation) -> operations redone when a check fails
        (robots.rework.rework_sets(spec)); without it a failed check fails the unit's remaining
        work. `control`: the floor controller's policy, blind | repair | replan (as `gwf twin
        --control`), or a ControlConfig; `replan_every_s` overrides the re-plan interval,
        `early_s` how long before its planned start a job may leave under release 'planned'.
        `on_clock(epoch)`: told the wall time of plan time 0 before the first job leaves (a
        simulated floor runs on the plan's clock: sim.driver.use_clock). `downtime`: cell ->
        (start, end) plan seconds it is planned down (a repaired plan's): the controller hears
        each stop as it begins and moves what it would delay."""
        if release not in RELEASE_RULES:
            raise ValueError(f"release: {release!r} is not a release rule; valid: {', '.join(RELEASE_RULES)}")
        if speed <= 0:
            raise ValueError(f"speed: must be > 0 plan seconds per wall second, got {speed}")
        if down_after is not None and down_after < 0:
            raise ValueError(f"down_after: must be >= 0 seconds, got {down_after}")
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        overrides = {name: value for name, value in (("replan_every_s", replan_every_s), ("early_s", early_s)) if value is not None}
        self.fleet = fleet
        self.journal = journal
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.on_event = on_event or (lambda event: None)
        self.release = release
        self.speed = speed
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.down_after = down_after
        self.rework = rework or {}
        self.control = control_config(control, release, **overrides)
        self.on_clock = on_clock
        self.downtime = downtime or {}
        self.owner = new_owner()

    def answer_timeout(self, duration_s: float) -> float:
        """Seconds to wait for the answer to a job planned to take `duration_s` plan seconds:
        `timeout` plus LENGTH_MARGIN times its length on the wall clock (at `speed`)."""
        return self.timeout + LENGTH_MARGIN * max(duration_s, 0.0) / self.speed

    async def run(self, problem: Problem, schedule: Schedule, *, content: str | None = None) -> DispatchReport:
        """Dispatch every assignment of `schedule` (a plan for `problem`); resumable. `content`
        names the work for the journal's claims (default: `plan_id(schedule)`; pass the whole
        plan's when `schedule` is a part of it)."""
        started = time.monotonic()
        plan = content or plan_id(schedule)
        try:
            self.journal.epoch(plan)
            fresh = False
        except KeyError:
            fresh = True
        self.journal.enqueue(plan, [(job_id(plan, a), a.cell, a.job, a.op) for a in schedule.assignments])
        run = _Run(plan, self, problem, schedule)
        await self.fleet.connect_all(skip=run.down)
        if fresh:  # plan time 0 is when the first job may leave, after building the run and connecting
            self.journal.start_clock(plan, time.time())
            run.epoch = self.journal.epoch(plan)
        if self.on_clock is not None:
            self.on_clock(run.epoch)
        renewer = asyncio.ensure_future(self._renew_claims())
        try:
            await run.execute()
        finally:
            renewer.cancel()
            await self.fleet.close_all()
        delivered = delivered_by_horizon(problem, run.current(), self.journal.finished(plan),
                                         self.journal.epoch(plan) + schedule.horizon / self.speed)
        return DispatchReport(plan, self.journal.counts(plan), time.monotonic() - started, run.sent, run.duplicates,
                              run.retries, run.completion_order, run.others, self.release, self.journal.decisions(plan),
                              delivered, run.controller_figures())

    async def _renew_claims(self) -> None:
        # A claim outlives a long job only while its dispatcher lives: renewed well inside the lease.
        while True:
            await asyncio.sleep(self.lease_s / 3)
            self.journal.renew(self.owner, self.lease_s)


class _Run(ReworkRounds, ControlledFloor):
    """The state of one dispatch run: the jobs and their graph, what settled, what is in flight
    and where each job is bound; the controller (ControlledFloor) decides what leaves when."""

    def __init__(self, plan: str, owner: Dispatcher, problem: Problem, schedule: Schedule) -> None:
        self.plan = plan
        self.owner = owner
        self.journal = owner.journal
        self.problem = problem
        self.horizon = schedule.horizon
        self.assignment = {job_id(plan, a): a for a in schedule.assignments}
        self.predecessors = _predecessor_ids(plan, problem, schedule)
        self.successors: dict[str, list[str]] = collections.defaultdict(list)
        for jid, preds in self.predecessors.items():
            for p in preds:
                self.successors[p].append(jid)
        self.state: dict[str, str] = {}  # settled in this run (or before it): the state it settled in
        self.sent = self.duplicates = self.retries = self.others = 0
        self.completion_order: list[str] = []
        self.epoch = self.journal.epoch(plan)
        # A repaired plan's downtime (kpis.down) and any given to the dispatcher: planned stops.
        self.downtime = {**recorded_downtime(schedule.kpis), **owner.downtime}
        # Where each job is bound now: the plan's cell, or where a decision (in this run or an
        # earlier one) moved it.
        bound = self.journal.cells(plan)
        self.cell_of = {jid: bound.get(jid, a.cell) for jid, a in self.assignment.items()}
        self.taken: set[str] = set()  # handed to a sender in this process: never handed twice
        self.target_of: dict[str, str] = {}  # the cell a sender was given the job for
        self.claimed: set[str] = set()  # claimed by this process
        self.failed_detail: dict[str, str] = {}
        self.unsettled = len(self.assignment)
        self.all_settled = asyncio.Event()
        self.error: BaseException | None = None  # raised by an event observer (e.g. a cancelled job); ends the run
        self.unreachable_since: dict[str, float] = {}
        # Cells an earlier run declared down stay down (a restarted dispatcher does not retry them).
        self.down = {cell for kind, _, cell, _, _ in self.journal.decisions(plan) if kind == "cell-down"}
        self.latest: dict[str, str] = {}  # a job id -> its latest rework copy
        self.rounds: dict[str, int] = collections.Counter()  # unit -> rework rounds queued
        self._rebuild_rework(problem)
        entries = [e for e in self.journal.entries(plan) if e.job_id in self.assignment]
        states = {e.job_id: e.state for e in entries}
        # Under way when the last dispatcher stopped (or under another one now): reported started.
        self.journal_underway = {e.job_id: e.state for e in entries if e.state == UNDERWAY}
        # Handed to a controller before and not settled: it may have run there, so it is only
        # ever sent again to that controller, and no decision moves it.
        self.sent_before = {e.job_id for e in entries if e.attempts and e.state not in TERMINAL}
        self.handed: set[str] = set()  # given to a driver by this process
        self.settling = False
        for jid, state in states.items():
            if jid in self.assignment and (state in TERMINAL or state == ATTENTION):
                self._settle(jid, state, quiet=True)
        self._setup_control(problem, schedule)
        # Work behind a job an earlier run left failed, blocked or waiting for a person settles
        # the same way now (ready work is handed to the controller when it is built).
        for jid in list(self.state):
            self._propagate(jid, ready=False)

    async def execute(self) -> None:
        if self.unsettled == 0:
            return
        ticker = asyncio.ensure_future(self._guarded(self._ticker()))
        windows = asyncio.ensure_future(self._guarded(self._windows()))
        self.senders: set[asyncio.Task] = set()
        try:
            self._build_controller()
            if self.unsettled:
                await self.all_settled.wait()
            if self.error is not None:
                raise self.error
            await asyncio.gather(*self.senders)
        finally:
            ticker.cancel()
            windows.cancel()
            for sender in self.senders:
                sender.cancel()

    def controller_figures(self) -> dict:
        """The controller's decision counts over the run (summed over rebuilds)."""
        summaries = self.controller_summaries + ([self.ctrl.summary()] if getattr(self, "ctrl", None) else [])
        out: dict = {"decisions": collections.Counter(), "reasons": collections.Counter(), "replans": 0, "replan_cpu_s": 0.0,
                     "controllers": len(summaries)}
        for s in summaries:
            out["decisions"].update(s["decisions"])
            out["reasons"].update(s["reasons"])
            out["replans"] += s["replans"]
            out["replan_cpu_s"] += s["replan_cpu_s"]
        out["decisions"], out["reasons"] = dict(out["decisions"]), dict(out["reasons"])
        return out

    def _spawn_send(self, jid: str, cell: str, reason: str, move: tuple[str, str] | None, claim: str | None = None) -> None:
        task = asyncio.ensure_future(self._guarded(self._send(self.owner.fleet[cell], jid, reason, move, claim)))
        self.senders.add(task)
        task.add_done_callback(self.senders.discard)

    async def _guarded(self, work: Awaitable[None]) -> None:
        """Run `work`; an exception (an observer's, e.g. a cancelled service job) ends the whole
        run instead of dying unseen in a task while the other cells carry on."""
        try:
            await work
        except Exception as exc:
            if self.error is None:
                self.error = exc
            self.all_settled.set()

    async def _send(self, handle: CellHandle, jid: str, reason: str, move: tuple[str, str] | None, claim: str | None) -> None:
        """Send one job the controller started on `handle`'s cell, claimed with its decision
        (`claim`: already, in the controller's batch, when the cell was connected; else here,
        once it is: a job whose cell cannot be reached is never marked sent), retried only as far
        as the driver can promise."""
        a, cell, owner = self.assignment[jid], handle.cell, self.owner
        # Work a plan carries in already running (start < 0) has only its remainder left to do.
        job = CellJob(jid, cell, a.op, float(a.end - max(a.start, 0)), {"job": a.job})
        answer_s = owner.answer_timeout(job.duration_s)
        last_error = "no attempt made"
        attempt = comebacks = 0
        claimed = claim == CLAIMED
        if claim == BUSY:
            if await self._follow(jid):
                self._ended_elsewhere(jid, cell, self.journal.holder(jid)[0])
                return
        while True:
            while attempt < owner.max_attempts:
                attempt += 1
                try:
                    await owner.fleet.ensure_connected(handle)
                except ControllerChanged as exc:  # another controller on the cell's link: nothing goes to it
                    self._end(jid, cell, ATTENTION, str(exc))
                    return
                except DriverError as exc:
                    self.unreachable_since.setdefault(cell, time.monotonic())
                    last_error = str(exc)
                    continue
                if not self._owns(jid, cell):
                    return  # handed back: its cell was declared down before the job left
                if not claimed:
                    outcome = self._claim(jid, cell, reason, move)
                    if outcome is None:
                        return
                    if outcome == BUSY:
                        if await self._follow(jid):
                            self._ended_elsewhere(jid, cell, self.journal.holder(jid)[0])
                            return
                        attempt = 0  # its holder is gone: the job is ours to finish
                        continue
                    if outcome == UNKNOWN and not handle.driver.idempotent_job_ids:
                        self._end(jid, cell, ATTENTION, f"was underway when a dispatcher stopped; {_no_ids(handle)}")
                        return
                    claimed = True
                elif jid in self.handed:
                    self._record(jid, cell, UNDERWAY, f"attempt {attempt}")
                self.handed.add(jid)
                self.sent_before.add(jid)  # from here on it may have run there
                self._packml(handle, "start")
                self.sent += 1
                try:
                    result = await handle.driver.execute(job, answer_s)
                except ControllerChanged as exc:
                    # A reconnect reached another controller: not re-sent there; what ran where is a person's call.
                    self._packml(handle, "abort")
                    self._end(jid, cell, ATTENTION, str(exc))
                    return
                except JobRejected as exc:
                    # Refused before it ran (bad parameters, interlock, alarm): not re-sent blindly.
                    self._packml(handle, "abort")
                    self._end(jid, cell, FAILED, f"rejected: {exc}")
                    return
                except DriverError as exc:
                    self._packml(handle, "abort")
                    if not handle.driver.idempotent_job_ids:
                        # The job may have run in part; only a person (or a rework decision) may redo it.
                        self._end(jid, cell, ATTENTION, f"interrupted: {exc}; {_no_ids(handle)}")
                        return
                    # Unknown outcome; re-sending the same job id is safe: the controller de-duplicates.
                    self.unreachable_since.setdefault(cell, time.monotonic())
                    self.retries += 1
                    last_error = str(exc)
                    continue
                self.unreachable_since.pop(cell, None)
                self._finish(handle, jid, result)
                return
            if owner.down_after is None:
                self._end(jid, cell, BLOCKED, f"controller unreachable, outcome unknown: {last_error}")
                return
            comebacks += 1
            if comebacks > owner.max_attempts:
                # The controller answers but never with this job's result: not a dead cell, a stuck job.
                self._end(jid, cell, BLOCKED, f"no result after {owner.max_attempts} rounds of retries on a live controller: {last_error}")
                return
            if await self._comes_back(handle):
                attempt = 0
                continue
            if not self._owns(jid, cell):
                return  # handed back meanwhile (another sender declared the cell down): the controller has it
            if jid in self.sent_before:
                # It may have run before the link died: moving it could run it twice.
                self._end(jid, cell, ATTENTION, f"outcome unknown: {cell} went down while it was underway ({last_error}); "
                                                f"not moved, it may have run there: decide rework or operator")
            else:
                self._hand_back(jid, cell)  # never left: the controller moves it with the rest of the cell's work
            self._cell_down(cell, f"unreachable for {owner.down_after:g} s: {last_error}")
            return

    def _owns(self, jid: str, cell: str) -> bool:
        """Whether the sender of `jid` for `cell` still holds it (not handed back, or started anew
        elsewhere after its cell was lost)."""
        return jid in self.taken and self.target_of.get(jid) == cell and jid not in self.state

    def _claim(self, jid: str, cell: str, reason: str, move: tuple[str, str] | None) -> str | None:
        """Claim the job with the decision that sends it (its reason, and the move when it leaves
        another cell than the one it was bound to) in one transaction. None: nothing to send
        (done, waiting for a person, or followed to its end under another dispatcher)."""
        with self.journal.atomic():
            outcome, seen = self.journal.claim(jid, self.owner.owner, self.owner.lease_s, f"start on {cell}: {reason}")
            if move is not None and outcome in (CLAIMED, UNKNOWN):
                self.journal.reassign(self.plan, [(jid, move[0], cell, move[1])])
        if move is not None and outcome in (CLAIMED, UNKNOWN):
            self.cell_of[jid] = cell
        if outcome == DONE:
            self._ended_elsewhere(jid, cell, seen)
            return None
        if outcome == HELD:
            self._end(jid, cell, ATTENTION, "waits for a decision", journal=False)
            return None
        if outcome == BUSY:
            self.others += 1
            return BUSY
        self.claimed.add(jid)
        if outcome == UNKNOWN:
            self._record(jid, cell, UNDERWAY, f"was {seen}, outcome unknown: re-sent under the same id")
        return outcome

    async def _comes_back(self, handle: CellHandle) -> bool:
        """Whether the cell answers again (a slow job timing out is not a dead cell), trying
        until `down_after` seconds since it was first unreachable."""
        since = self.unreachable_since.setdefault(handle.cell, time.monotonic())
        while handle.cell not in self.down:
            try:
                await self.owner.fleet.ensure_connected(handle)
            except DriverError:
                if time.monotonic() - since >= self.owner.down_after:
                    return False
                continue
            self.unreachable_since.pop(handle.cell, None)
            return True
        return False

    def _cell_down(self, cell: str, reason: str) -> None:
        """A cell lost for good: work decided for it but never sent goes back, and a controller
        rebuilt from the journal's state moves its open work (journaled with the cell-down
        decision in one transaction; a restart finds both or neither and decides again)."""
        if cell in self.down:
            return
        self.down.add(cell)
        for jid in [j for j in self.taken if self.target_of.get(j) == cell and j not in self.sent_before and j not in self.state]:
            self._hand_back(jid, cell)
        self._build_controller(("cell-down", cell, reason))

    def _hand_back(self, jid: str, cell: str) -> None:
        """A job given to a sender for `cell` that never reached it goes back to the controller
        (its claim, if it had one, released: it was never sent)."""
        if jid in self.claimed:
            self.claimed.discard(jid)
            self.journal.transition(jid, QUEUED, f"never sent: {cell} went down")
        self.taken.discard(jid)

    def _finish(self, handle: CellHandle, jid: str, result: JobResult) -> None:
        self.duplicates += int(result.duplicate)
        if result.ok:
            self._packml(handle, "complete")
            # The controller hears first (the cell is free, successors' predecessors done), then
            # the successors become ready: a free twin cell can take them at once.
            self._push_completed(jid, handle.cell)
            self._record(jid, handle.cell, COMPLETED, "duplicate" if result.duplicate else "", result.finished_at)
            self.completion_order.append(jid)
            self._drain()
            return
        self._packml(handle, "abort")
        # The controller ran it and it failed its check: the spec's rework routing, decided by the floor controller.
        detail = result.detail or "controller reported failure"
        self.failed_detail[jid] = detail
        if not self._failed_check(jid, handle.cell):
            self.failed_detail.pop(jid, None)
            self._end(jid, handle.cell, FAILED, detail)

    def _end(self, jid: str, cell: str, state: str, detail: str, journal: bool = True) -> None:
        """The job ends on `cell` without completing: journaled, its cell freed for the controller."""
        if journal:
            self._record(jid, cell, state, detail)
        else:
            self._settle(jid, state)
        self._free(jid, cell)

    def _ended_elsewhere(self, jid: str, cell: str, state: str) -> None:
        """Another dispatcher (or an earlier run) settled the job the controller started here."""
        if state == COMPLETED:
            self._push_completed(jid, cell)
            self._settle(jid, state)
            self._drain()
        else:
            self._end(jid, cell, state, "", journal=False)

    def _live_cell(self, cell: str) -> str:
        """The cell itself, or (when it is down) a live cell of its pool."""
        if cell not in self.down:
            return cell
        pool = next((p for p in self.problem.pools if any(self.problem.cells[k].id == cell for k in p.cells)), None)
        alive = [self.problem.cells[k].id for k in (pool.cells if pool else []) if self.problem.cells[k].id not in self.down
                 and self.problem.cells[k].id in self.owner.fleet.handles]
        return alive[0] if alive else cell

    async def _follow(self, jid: str) -> bool:
        """Another live dispatcher holds the job: wait for it to settle there (True), or for that
        dispatcher to vanish (False: the caller claims it)."""
        while True:
            await asyncio.sleep(self.owner.poll_s)
            state, holder, lease = self.journal.holder(jid)
            if state in SETTLED and state != BLOCKED:
                return True
            if state != UNDERWAY or lease < time.time() or not owner_alive(holder):
                return False

    def _record(self, jid: str, cell: str, state: str, detail: str, finished: float | None = None) -> None:
        if jid in self.state:
            raise AssertionError(f"{jid} is already {self.state[jid]}; not recording {state}")  # a bug, never a floor event
        self.journal.transition(jid, state, detail, finished)
        self.owner.on_event({"job_id": jid, "cell": cell, "state": state, "detail": detail, "at": time.time()})
        if state in SETTLED:  # settled for this run; BLOCKED resumes next run
            self._settle(jid, state)

    def _settle(self, jid: str, state: str, quiet: bool = False) -> None:
        """The job is settled for this run. A successor all of whose predecessors settled is
        ready when they all completed, else settled too: canceled when one failed, blocked when
        they only wait (unreachable, for a person, or reworked by another dispatcher)."""
        if jid in self.state:
            return
        self.state[jid] = state
        self.unsettled -= 1
        if self.unsettled == 0:
            self.all_settled.set()
        if not quiet:
            self._propagate(jid, ready=True)

    def _propagate(self, jid: str, ready: bool) -> None:
        for s in self.successors.get(jid, ()):
            preds = self.predecessors.get(s, ())
            if s in self.state or s in self.taken or any(p not in self.state for p in preds):
                continue
            unfinished = [p for p in preds if self.state[p] != COMPLETED]
            if not unfinished:
                if ready:
                    self._ready(s)
                continue
            waiting = [p for p in unfinished if self.state[p] in (BLOCKED, ATTENTION, REWORKED)]
            self._record(s, self.cell_of[s], BLOCKED if len(waiting) == len(unfinished) else CANCELED,
                         f"predecessor {unfinished[0]} did not complete")

    @staticmethod
    def _packml(handle: CellHandle, what: str) -> None:
        machine = handle.packml
        if what == "start" and machine.state == State.IDLE:
            machine.command("start")
            machine.done()  # Starting -> Execute
        elif what == "complete" and machine.state == State.EXECUTE:
            machine.done()
            machine.done()  # Completing -> Complete
            machine.command("reset")
            machine.settle()
        elif what == "abort" and machine.state not in (State.ABORTING, State.ABORTED):
            machine.command("abort")
            machine.settle()


def delivered_by_horizon(problem: Problem, current: dict[str, Assignment], finished: dict[str, float], deadline: float) -> dict[str, float]:
    """MW per category of the plan's units whose operations all completed by `deadline` (wall
    time); `current` holds each operation's job id once (its latest rework copy, if any)."""
    last: dict[str, float] = {}
    count: dict[str, int] = collections.Counter()
    for jid, a in current.items():
        at = finished.get(jid)
        if at is not None:
            last[a.job] = max(last.get(a.job, 0.0), at)
            count[a.job] += 1
    out = {job.category: 0.0 for job in problem.jobs if job.category}
    for job in problem.jobs:
        if job.category and job.tasks and count.get(job.id) == len(job.tasks) and last[job.id] <= deadline:
            out[job.category] += job.mw
    return out


def _no_ids(handle: CellHandle) -> str:
    return (f"{handle.driver.scheme or 'this'} driver has no idempotent job ids, so it is not re-sent: "
            f"decide rework or operator")


def _predecessor_ids(plan: str, problem: Problem, schedule: Schedule) -> dict[str, list[str]]:
    """For each scheduled job id, the job ids of its routing predecessors that are in the plan."""
    scheduled = {(a.job, a.op): a for a in schedule.assignments}
    out: dict[str, list[str]] = {}
    for task in problem.tasks:
        job = problem.jobs[task.job].id
        if (job, task.op) not in scheduled:
            continue
        preds = [problem.tasks[p] for p in task.predecessors]
        out[job_id(plan, scheduled[(job, task.op)])] = [
            job_id(plan, scheduled[(job, p.op)]) for p in preds if (job, p.op) in scheduled
        ]
    return out
