"""Sends a validated schedule's jobs to the fleet: each cell follows its planned sequence,
a job leaves when its predecessors are complete (or, with `release="planned"`, also not before
its planned start), every job is claimed in the journal before it is sent, and every
transition is journaled before and after it happens, so neither a crash nor a second
dispatcher ever loses or repeats a job."""
from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from hardware.driver import CellJob, ControllerChanged, DriverError, JobRejected, JobResult
from plant.spec import FactorySpec
from robots.fleet import CellHandle, Fleet
from robots.journal import (
    ATTENTION, BLOCKED, BUSY, CANCELED, COMPLETED, DONE, FAILED, HELD, REWORKED, SETTLED, TERMINAL, UNDERWAY, UNKNOWN,
    Journal, new_owner, owner_alive,
)
from robots.packml import State
from robots.plans import wait_out_downtime
from robots.rework import ReworkRounds
from scheduler.problem import Problem, recorded_downtime
from scheduler.schedule import Assignment, Schedule

EventSink = Callable[[dict], None]

RELEASE_RULES = {
    "predecessors": "a job leaves as soon as its predecessors are complete and its cell is free (planned times are not waited for)",
    "planned": "a job leaves when its predecessors are complete, its cell is free and its planned start has come (plan seconds / speed after the first dispatch)",
}


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
        spec: FactorySpec | None = None,
    ) -> None:
        """`down_after`: seconds a cell may stay unreachable before it is declared down and its
        queued work moves to other cells of its pool (None: never; its jobs wait, `blocked`).
        `rework`: (product, operation) -> operations to redo when a controller reports that the
        operation failed its check (robots.rework.rework_sets(spec)); without it a failure
        cancels the unit's remaining work. `spec`: the floor controller moves a down cell's work
        (robots.reassign.ControllerReassigner); without it, the pool rule alone."""
        if release not in RELEASE_RULES:
            raise ValueError(f"release: {release!r} is not a release rule; valid: {', '.join(RELEASE_RULES)}")
        if speed <= 0:
            raise ValueError(f"speed: must be > 0 plan seconds per wall second, got {speed}")
        if down_after is not None and down_after < 0:
            raise ValueError(f"down_after: must be >= 0 seconds, got {down_after}")
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
        self.spec = spec
        self.owner = new_owner()

    async def run(self, problem: Problem, schedule: Schedule, *, content: str | None = None) -> DispatchReport:
        """Dispatch every assignment of `schedule` (a plan for `problem`); resumable. `content`
        names the work for the journal's claims (default: `plan_id(schedule)`; pass the whole
        plan's when `schedule` is a part of it)."""
        started = time.monotonic()
        plan = content or plan_id(schedule)
        self.journal.enqueue(plan, [(job_id(plan, a), a.cell, a.job, a.op) for a in schedule.assignments])
        run = _Run(plan, self, problem, schedule)
        await self.fleet.connect_all(skip=run.down)
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
                              delivered)

    async def _renew_claims(self) -> None:
        # A claim outlives a long job only while its dispatcher lives: renewed well inside the lease.
        while True:
            await asyncio.sleep(self.lease_s / 3)
            self.journal.renew(self.owner, self.lease_s)


class _Run(ReworkRounds):
    """The state of one dispatch run: each cell's queue, completion events per job, counters."""

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
        self.done: dict[str, asyncio.Event] = {jid: asyncio.Event() for jid in self.assignment}
        self.state: dict[str, str] = {}
        self.sent = self.duplicates = self.retries = self.others = 0
        self.completion_order: list[str] = []
        self.epoch = self.journal.epoch(plan)
        self.downtime = recorded_downtime(schedule.kpis)  # a repaired plan's down cells get nothing inside their windows
        cells = {c.id: c for c in problem.cells}
        # Each cell's queue in planned order, on the cell the journal binds the job to now
        # (a job a decision moved, in this run or an earlier one, stays moved).
        bound = self.journal.cells(plan)
        self.cell_of = {jid: bound.get(jid, a.cell) for jid, a in self.assignment.items()}
        self.queues: dict[str, collections.deque[str]] = {cell: collections.deque() for cell in owner.fleet.handles}
        for jid in sorted(self.assignment, key=lambda j: (self.assignment[j].start, self.assignment[j].end)):
            self.queues.setdefault(self.cell_of[jid], collections.deque()).append(jid)
        self.capacity = {cell: max(1, cells[cell].capacity if cell in cells else 1,
                                    _capacity_of([self.assignment[j] for j in queue])) for cell, queue in self.queues.items()}
        self.changed = {cell: asyncio.Event() for cell in self.queues}
        self.taken: set[str] = set()  # handed to a sender in this process: never handed twice
        self.unsettled = len(self.assignment)
        self.all_settled = asyncio.Event()
        self.error: BaseException | None = None  # raised by an event observer (e.g. a cancelled job); ends the run
        self.unreachable_since: dict[str, float] = {}
        self.comebacks: dict[str, int] = collections.Counter()
        self.reassigner = None
        # Cells an earlier run declared down stay down (a restarted dispatcher does not retry them).
        self.down = {cell for kind, _, cell, _, _ in self.journal.decisions(plan) if kind == "cell-down"}
        self.latest: dict[str, str] = {}  # a job id -> its latest rework copy
        self.rounds: dict[str, int] = collections.Counter()  # unit -> rework rounds queued
        self._rebuild_rework(problem)
        for jid, state in self.journal.states(plan).items():
            if jid in self.done and (state in TERMINAL or state == ATTENTION):
                self._settle(jid, state)

    async def execute(self) -> None:
        if self.unsettled == 0:
            return
        for cell in sorted(self.down):
            self._move_queue(cell)  # a kill between the decision and its moves leaves them to do
        workers = [asyncio.ensure_future(self._guarded(self.cell_worker(cell))) for cell in self.queues if cell not in self.down]
        try:
            await self.all_settled.wait()
            if self.error is not None:
                raise self.error
            for event in self.changed.values():
                event.set()
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def cell_worker(self, cell: str) -> None:
        handle = self.owner.fleet[cell]
        queue = self.queues[cell]
        wake = self.changed[cell]
        capacity = asyncio.Semaphore(self.capacity[cell])
        running: set[asyncio.Task] = set()
        while not self.all_settled.is_set() and cell not in self.down:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            jid = queue[0]
            if self.done[jid].is_set() or jid in self.taken:
                queue.popleft()
                continue
            # Woken when a predecessor settles or the queue changes (work moved here may go first).
            if any(not self.done[p].is_set() for p in self.predecessors[jid]):
                wake.clear()
                await wake.wait()
                continue
            unfinished = [p for p in self.predecessors[jid] if self.state.get(p) != COMPLETED]
            if unfinished:
                queue.popleft()
                # A failed predecessor dooms this job; an unreachable one, or one waiting for a
                # person's decision, only postpones it.
                waiting = [p for p in unfinished if self.state.get(p) in (BLOCKED, ATTENTION)]
                state = BLOCKED if len(waiting) == len(unfinished) else CANCELED
                self._record(jid, cell, state, f"predecessor {unfinished[0]} did not complete")
                continue
            await self._release_gate(self.assignment[jid])
            await capacity.acquire()
            await wait_out_downtime(self.downtime.get(cell, ()), self.epoch, self.owner.speed, self.assignment[jid])
            if not queue or queue[0] != jid or cell in self.down:
                capacity.release()
                continue
            queue.popleft()
            self.taken.add(jid)
            task = asyncio.ensure_future(self._send(handle, jid, capacity))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    async def _release_gate(self, a: Assignment) -> None:
        if self.owner.release == "planned":
            wait = self.epoch + a.start / self.owner.speed - time.time()
            if wait > 0:
                await asyncio.sleep(wait)

    async def _guarded(self, work: Awaitable[None]) -> None:
        """Run `work`; an exception (an observer's, e.g. a cancelled service job) ends the whole
        run instead of dying unseen in a task while the other cells carry on."""
        try:
            await work
        except Exception as exc:
            if self.error is None:
                self.error = exc
            self.all_settled.set()

    async def _send(self, handle: CellHandle, jid: str, capacity: asyncio.Semaphore) -> None:
        try:
            await self._guarded(self._send_claimed(handle, jid))
        finally:
            capacity.release()

    async def _send_claimed(self, handle: CellHandle, jid: str) -> None:
        a, cell, owner = self.assignment[jid], handle.cell, self.owner
        # Work a plan carries in already running (start < 0) has only its remainder left to do.
        job = CellJob(jid, cell, a.op, float(a.end - max(a.start, 0)), {"job": a.job})
        last_error = "no attempt made"
        attempt = 0
        claimed = False
        while attempt < owner.max_attempts:
            attempt += 1
            try:
                # Connected before the claim: a job whose cell cannot be reached is never marked sent.
                await owner.fleet.ensure_connected(handle)
            except ControllerChanged as exc:  # another controller on the cell's link: nothing goes to it
                self._record(jid, cell, ATTENTION, str(exc))
                return
            except DriverError as exc:
                self.unreachable_since.setdefault(cell, time.monotonic())
                last_error = str(exc)
                continue
            if not claimed:
                outcome, seen = self.journal.claim(jid, owner.owner, owner.lease_s)
                if outcome == DONE or outcome == HELD:
                    self._settle(jid, seen if outcome == DONE else ATTENTION)
                    return
                if outcome == BUSY:
                    self.others += 1
                    if await self._follow(jid):
                        return
                    attempt = 0  # its holder is gone: the job is ours to finish
                    continue
                if outcome == UNKNOWN:
                    if not handle.driver.idempotent_job_ids:
                        self._record(jid, cell, ATTENTION, f"was {seen} when a dispatcher stopped; {_no_ids(handle)}")
                        return
                    self._record(jid, cell, UNDERWAY, f"was {seen}, outcome unknown: re-sent under the same id")
                claimed = True
            else:
                self._record(jid, cell, UNDERWAY, f"attempt {attempt}")
            self._packml(handle, "start")
            self.sent += 1
            try:
                result = await handle.driver.execute(job, owner.timeout)
            except ControllerChanged as exc:
                # A reconnect reached another controller: not re-sent there; what ran where is a person's call.
                self._packml(handle, "abort")
                self._record(jid, cell, ATTENTION, str(exc))
                return
            except JobRejected as exc:
                # Refused before it ran (bad parameters, interlock, alarm): not re-sent blindly.
                self._packml(handle, "abort")
                self._record(jid, cell, FAILED, f"rejected: {exc}")
                return
            except DriverError as exc:
                self._packml(handle, "abort")
                if not handle.driver.idempotent_job_ids:
                    # The job may have run in part; only a person (or a rework decision) may redo it.
                    self._record(jid, cell, ATTENTION, f"interrupted: {exc}; {_no_ids(handle)}")
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
            self._record(jid, cell, BLOCKED, f"controller unreachable, outcome unknown: {last_error}")
            return
        self.comebacks[jid] += 1
        if self.comebacks[jid] > owner.max_attempts:
            # The controller answers but never with this job's result: not a dead cell, a stuck job.
            self._record(jid, cell, BLOCKED, f"no result after {owner.max_attempts} rounds of retries on a live controller: {last_error}")
            return
        if await self._comes_back(handle):
            self.taken.discard(jid)
            self.queues[cell].appendleft(jid)  # sent again (same id) by its cell's worker
            self.changed[cell].set()
            return
        if claimed:
            # It may have run before the link died: moving it could run it twice.
            self._record(jid, cell, ATTENTION, f"outcome unknown: {cell} went down while it was underway ({last_error}); "
                                               f"not moved, it may have run there: decide rework or operator")
        else:
            self.taken.discard(jid)
            self.queues[cell].appendleft(jid)  # never left: it moves with the rest of the queue
        self._cell_down(cell, f"unreachable for {owner.down_after:g} s: {last_error}")

    async def _comes_back(self, handle: CellHandle) -> bool:
        """Whether the cell answers again (a slow job timing out is not a dead cell), trying
        until `down_after` seconds since it was first unreachable."""
        since = self.unreachable_since.setdefault(handle.cell, time.monotonic())
        while True:
            try:
                await self.owner.fleet.ensure_connected(handle)
            except DriverError:
                if time.monotonic() - since >= self.owner.down_after:
                    return False
                continue
            self.unreachable_since.pop(handle.cell, None)
            return True

    def _cell_down(self, cell: str, reason: str) -> None:
        if cell in self.down:
            return
        self.down.add(cell)
        # The decision first, in its own transaction: a restart that finds it moves the queue.
        self.journal.decide(self.plan, "cell-down", reason, cell=cell)
        self._move_queue(cell)

    def _move_queue(self, cell: str) -> None:
        """Move the down cell's unsent jobs to other cells of its pool, journaled in one transaction."""
        queue = self.queues.get(cell, collections.deque())
        queued = []
        for jid in queue:
            if self.done[jid].is_set() or jid in self.taken:
                continue
            if self.journal.holder(jid)[0] == BLOCKED and self.journal.attempts(jid):
                # Sent before and left blocked by an earlier run: it may have run there. (A job a
                # person sent back with --decide =redo is queued, and moves.)
                self._record(jid, cell, ATTENTION, f"outcome unknown: {cell} is down and this job was sent to it before; "
                                                   f"not moved, it may have run there: decide rework or operator")
                continue
            queued.append((jid, self.assignment[jid]))
        queue.clear()
        self.changed.setdefault(cell, asyncio.Event()).set()
        if not queued:
            return
        if self.reassigner is None:
            from robots.reassign import ControllerReassigner, PoolReassigner

            spec = self.owner.spec
            self.reassigner = (ControllerReassigner(spec, self.problem, self.horizon) if spec is not None
                               else PoolReassigner(self.problem, self.horizon))
        now = int((time.time() - self.epoch) * self.owner.speed)
        current = [Assignment(a.job, a.op, self.cell_of[jid], a.start, a.end) for jid, a in self.assignment.items()]
        alive = {c for c in self.owner.fleet.handles if c not in self.down}
        load: dict[str, float] = collections.Counter()
        for c, q in self.queues.items():
            load[c] = sum(self.assignment[j].end - self.assignment[j].start for j in q)
        latest = self.current()
        open_work = [Assignment(a.job, a.op, self.cell_of[jid], a.start, a.end) for jid, a in latest.items() if not self.done[jid].is_set()]
        running = {(latest[jid].job, latest[jid].op) for jid in self.taken if jid in latest and not self.done[jid].is_set()}
        extra = {"open_work": open_work, "running": running} if self.owner.spec is not None else {}
        moves = self.reassigner.moves(cell, now, queued, current, alive, load, **extra)
        self.journal.reassign(self.plan, [(m.job_id, m.source, m.target, m.reason) for m in moves if m.target is not None])
        for m in moves:
            if m.target is None:
                self._record(m.job_id, cell, ATTENTION, f"{cell} is down and {m.reason}: decide")
                continue
            self.cell_of[m.job_id] = m.target
            self._enqueue(m.job_id)
            self.owner.on_event({"job_id": m.job_id, "cell": m.target, "state": "queued", "detail": f"moved from {cell}: {m.reason}", "at": time.time()})

    def _finish(self, handle: CellHandle, jid: str, result: JobResult) -> None:
        self.duplicates += int(result.duplicate)
        if result.ok:
            self._packml(handle, "complete")
            self._record(jid, handle.cell, COMPLETED, "duplicate" if result.duplicate else "", result.finished_at)
            self.completion_order.append(jid)
            return
        self._packml(handle, "abort")
        # The controller ran it and it failed its check: the spec's rework routing, not a blind retry.
        detail = result.detail or "controller reported failure"
        redo = self._rework(jid, detail)
        if redo:
            self._record(jid, handle.cell, REWORKED, f"{detail}; rework: {', '.join(redo)}")
        else:
            self._record(jid, handle.cell, FAILED, detail)

    def _live_cell(self, cell: str) -> str:
        """The cell itself, or (when it is down) a live cell of its pool."""
        if cell not in self.down:
            return cell
        pool = next((p for p in self.problem.pools if any(self.problem.cells[k].id == cell for k in p.cells)), None)
        alive = [self.problem.cells[k].id for k in (pool.cells if pool else []) if self.problem.cells[k].id not in self.down
                 and self.problem.cells[k].id in self.queues]
        return alive[0] if alive else cell

    def _enqueue(self, jid: str) -> None:
        """Put a job into its cell's queue, keeping the queue in planned-start order: then the
        earliest unsettled job anywhere is at the head of its queue, so no sequence deadlocks."""
        target = self.queues.setdefault(self.cell_of[jid], collections.deque())
        target.append(jid)
        if len(target) > 1 and self._order(target[-2]) > self._order(jid):
            ordered = sorted(target, key=self._order)
            target.clear()
            target.extend(ordered)
        self.changed.setdefault(self.cell_of[jid], asyncio.Event()).set()

    def _order(self, jid: str) -> tuple[int, int, int]:
        a = self.assignment[jid]
        return a.start, a.end, jid.count("~r")

    async def _follow(self, jid: str) -> bool:
        """Another live dispatcher holds the job: wait for it to settle there (True), or for that
        dispatcher to vanish (False: the caller claims it)."""
        while True:
            await asyncio.sleep(self.owner.poll_s)
            state, holder, lease = self.journal.holder(jid)
            if state in SETTLED and state != BLOCKED:
                self._settle(jid, state)
                return True
            if state != UNDERWAY or lease < time.time() or not owner_alive(holder):
                return False

    def _record(self, jid: str, cell: str, state: str, detail: str, finished: float | None = None) -> None:
        self.journal.transition(jid, state, detail, finished)
        self.owner.on_event({"job_id": jid, "cell": cell, "state": state, "detail": detail, "at": time.time()})
        if state in SETTLED:  # settled for this run; BLOCKED resumes next run
            self._settle(jid, state)

    def _settle(self, jid: str, state: str) -> None:
        self.state[jid] = state
        if not self.done[jid].is_set():
            self.done[jid].set()
            self.unsettled -= 1
            for successor in self.successors.get(jid, ()):
                self.changed[self.cell_of[successor]].set()
            if self.unsettled == 0:
                self.all_settled.set()

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


def _capacity_of(sequence: list[Assignment]) -> int:
    """Most jobs the plan runs on this cell at once (burn-in bays run many)."""
    events = sorted([(a.start, 1) for a in sequence] + [(a.end, -1) for a in sequence], key=lambda e: (e[0], e[1]))
    load = peak = 0
    for _, delta in events:
        load += delta
        peak = max(peak, load)
    return peak


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
