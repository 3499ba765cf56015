"""Sends a validated schedule's jobs to the fleet: each cell follows its planned sequence,
a job leaves only when its predecessors are complete, and every transition is journaled
before and after it happens so a crash never loses or repeats a job."""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

from hardware.driver import CellJob, DriverError
from robots.fleet import CellHandle, Fleet
from robots.journal import CANCELED, COMPLETED, FAILED, TERMINAL, UNDERWAY, Journal
from robots.packml import State
from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule

EventSink = Callable[[dict], None]


@dataclass
class DispatchReport:
    plan: str
    counts: dict[str, int]
    seconds: float
    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    completion_order: list[str] = field(default_factory=list)

    @property
    def all_terminal(self) -> bool:
        return set(self.counts) <= TERMINAL


def plan_id(schedule: Schedule) -> str:
    """A stable id for a schedule's content, so a restarted dispatch finds its own journal rows."""
    digest = hashlib.sha256()
    for a in sorted(schedule.assignments, key=lambda a: (a.job, a.op)):
        digest.update(f"{a.job}\x1f{a.op}\x1f{a.cell}\x1f{a.start}\x1f{a.end}\n".encode())
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
    ) -> None:
        self.fleet = fleet
        self.journal = journal
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.on_event = on_event or (lambda event: None)

    async def run(self, problem: Problem, schedule: Schedule) -> DispatchReport:
        """Dispatch every assignment of `schedule` (a plan for `problem`); resumable."""
        started = time.monotonic()
        plan = plan_id(schedule)
        run = _Run(plan, self, problem, schedule)
        self.journal.enqueue(plan, [(job_id(plan, a), a.cell, a.job, a.op) for a in schedule.assignments])
        run.load_states(self.journal.states(plan))
        await self.fleet.connect_all()
        try:
            await asyncio.gather(*(run.cell_worker(self.fleet[cell], seq) for cell, seq in schedule.by_cell().items()))
        finally:
            await self.fleet.close_all()
        return DispatchReport(plan, self.journal.counts(plan), time.monotonic() - started, run.sent, run.duplicates, run.retries, run.completion_order)


class _Run:
    """The state of one dispatch run: completion events per job and counters."""

    def __init__(self, plan: str, owner: Dispatcher, problem: Problem, schedule: Schedule) -> None:
        self.plan = plan
        self.owner = owner
        self.predecessors = _predecessor_ids(plan, problem, schedule)
        self.done: dict[str, asyncio.Event] = {job_id(plan, a): asyncio.Event() for a in schedule.assignments}
        self.state: dict[str, str] = {}
        self.sent = self.duplicates = self.retries = 0
        self.completion_order: list[str] = []

    def load_states(self, states: dict[str, str]) -> None:
        self.state.update(states)
        for jid, state in states.items():
            if state in TERMINAL:
                self.done[jid].set()

    async def cell_worker(self, handle: CellHandle, sequence: list[Assignment]) -> None:
        capacity = asyncio.Semaphore(max(1, _capacity_of(handle, sequence)))
        running: list[asyncio.Task] = []
        for a in sequence:
            jid = job_id(self.plan, a)
            if self.done[jid].is_set():
                continue
            await asyncio.gather(*(self.done[p].wait() for p in self.predecessors[jid]))
            blocked = [p for p in self.predecessors[jid] if self.state.get(p) != COMPLETED]
            if blocked:
                self._record(jid, a.cell, CANCELED, f"predecessor {blocked[0]} did not complete")
                continue
            await capacity.acquire()
            running.append(asyncio.create_task(self._run_one(handle, a, jid, capacity)))
        await asyncio.gather(*running)

    async def _run_one(self, handle: CellHandle, a: Assignment, jid: str, capacity: asyncio.Semaphore) -> None:
        try:
            job = CellJob(jid, a.cell, a.op, float(a.end - a.start), {"job": a.job})
            for attempt in range(1, self.owner.max_attempts + 1):
                try:
                    await self.owner.fleet.ensure_connected(handle)
                    self._record(jid, a.cell, UNDERWAY, f"attempt {attempt}")
                    self._packml(handle, "start")
                    self.sent += 1
                    result = await handle.driver.execute(job, self.owner.timeout)
                except DriverError as exc:
                    # Unknown outcome: the controller may or may not have run it. Re-sending
                    # the same job id is safe because controllers de-duplicate by id.
                    self.retries += 1
                    self._packml(handle, "abort")
                    last_error = str(exc)
                    continue
                self.duplicates += int(result.duplicate)
                if result.ok:
                    self._packml(handle, "complete")
                    self._record(jid, a.cell, COMPLETED, "duplicate" if result.duplicate else "")
                    self.completion_order.append(jid)
                    return
                last_error = result.detail or "controller reported failure"
                self._packml(handle, "abort")
                break  # the controller ran it and it failed: a rework decision, not a blind retry
            self._record(jid, a.cell, FAILED, last_error)
        finally:
            capacity.release()

    def _record(self, jid: str, cell: str, state: str, detail: str) -> None:
        self.owner.journal.transition(jid, state, detail)
        self.state[jid] = state
        if state in TERMINAL:
            self.done[jid].set()
        self.owner.on_event({"job_id": jid, "cell": cell, "state": state, "detail": detail, "at": time.time()})

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


def _capacity_of(handle: CellHandle, sequence: list[Assignment]) -> int:
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
