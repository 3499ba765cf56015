"""Background jobs: long work (planning, twin runs, dispatch) kept as rows in the database and
run by a few worker threads. A job is visible with an id, a status, progress and a result;
every change is published on the event bus. Knows nothing of HTTP.

Nothing is lost on restart: a job is claimed from the database (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several servers on one database each run a job exactly once) and its server
renews a lease while it runs. A job whose server died is taken over: re-queued up to
`attempts` times, then marked `interrupted` with the reason."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from sqlalchemy import func, or_, select, update

from gwf.service.db import Database
from gwf.service.db.tables import JobRow
from gwf.service.events import EventBus

Status = Literal["queued", "running", "done", "failed", "interrupted", "cancelled"]
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class JobWork:
    """What a worker needs to run a job: its id, the params it shows and the payload it keeps."""

    id: str
    kind: str
    params: dict[str, Any]
    payload: dict[str, Any]


Handler = Callable[[JobWork, Progress], dict[str, Any]]

log = logging.getLogger("gwf.service")

# Progress is published at most this often (a tight solver loop must not flood the live feed)
# and written to the database at most this often (other servers and restarts read it there).
_MIN_EVENT_INTERVAL_S = 0.1
_MIN_WRITE_INTERVAL_S = 0.5
_IDLE_POLL_S = 0.5  # how often an idle worker looks for jobs queued by another server
ACTIVE = ("queued", "running")


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def to_dict(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "status": row.status,
        "progress": {"fraction": row.fraction, "message": row.message},
        "params": row.params, "result": row.result, "error": row.error,
        "created": row.created, "started": row.started, "finished": row.finished,
    }


class JobConflict(RuntimeError):
    """Another job holds the same exclusive key (e.g. the same plan is already being dispatched)."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        super().__init__(f"job {holder['id']} ({holder['kind']}) is still {holder['status']}")


class QueueFull(RuntimeError):
    """Too many jobs are waiting; the caller should come back after `retry_after` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"{waiting} jobs are already waiting; retry in {retry_after} s")


class JobCancelled(Exception):
    """Raised inside a job's work from its progress callback once someone cancelled it."""


class JobFinished(RuntimeError):
    """A job that has already ended cannot be cancelled."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        super().__init__(f"job_id: job {job['id']} already ended ({job['status']}); nothing to cancel")


class JobRunner:
    def __init__(self, db: Database, bus: EventBus, handlers: dict[str, Handler], *, threads: int = 2,
                 max_queued: int = 16, retry_after_s: int = 5, lease_s: float = 30.0, attempts: int = 2) -> None:
        self.db, self.bus, self.handlers = db, bus, handlers
        self.max_queued, self.retry_after_s, self.lease_s, self.attempts = max_queued, retry_after_s, lease_s, attempts
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._submit_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._cancelled: dict[str, str] = {}  # job id -> who asked, for jobs running here (seen at every progress step)
        self._threads = [threading.Thread(target=self._worker, name=f"gwf-job-{i}", daemon=True) for i in range(threads)]
        self._threads.append(threading.Thread(target=self._keep_leases, name="gwf-job-lease", daemon=True))

    def start(self) -> None:
        """Take over the jobs of servers that died, then start working."""
        self.recover()
        for thread in self._threads:
            thread.start()

    # -- the API's side -------------------------------------------------------------------

    def submit(self, kind: str, params: dict[str, Any], payload: dict[str, Any] | None = None, *, job_id: str | None = None,
               exclusive: str | None = None) -> dict[str, Any]:
        """Queue a job of `kind` (its handler runs it). Returns its record at once. QueueFull
        when too many wait; JobConflict when a job with the same `exclusive` key is active."""
        row = JobRow(id=job_id or new_job_id(), kind=kind, status="queued", fraction=0.0, message="queued", params=params,
                     payload=payload or {}, created=_now(), exclusive=exclusive, attempts=0)
        with self._submit_lock, self.db.session() as session:
            if exclusive is not None:
                holder = session.scalars(select(JobRow).where(JobRow.exclusive == exclusive, JobRow.status.in_(ACTIVE)).limit(1)).first()
                if holder is not None:
                    raise JobConflict(to_dict(holder))
            waiting = session.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == "queued")) or 0
            if waiting >= self.max_queued:
                raise QueueFull(waiting, self.retry_after_s)
            session.add(row)
        record = to_dict(row)
        self.bus.publish("job", record)
        with self._wake:
            self._wake.notify()
        return record

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            row = session.get(JobRow, job_id)
            return to_dict(row) if row is not None else None

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = select(JobRow).order_by(JobRow.created, JobRow.id)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        with self.db.session() as session:
            return [to_dict(row) for row in session.scalars(query)]

    def cancel(self, job_id: str, by: str) -> dict[str, Any] | None:
        """A queued job never starts; a running one stops at its next progress report
        (cooperative: planning, twin replications and dispatch transitions all report), on
        whichever server runs it (it reads the row's `cancel_by` when it writes progress).
        None for an unknown id; JobFinished when it already ended."""
        with self.db.session() as session:
            row = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
            if row is None:
                return None
            if row.status not in ACTIVE:
                raise JobFinished(to_dict(row))
            row.cancel_by = by
            if row.status == "queued":
                row.status, row.finished, row.message = "cancelled", _now(), f"cancelled by {by}"
            else:
                row.message = f"cancelling (asked by {by})"
                self._cancelled[job_id] = by
            record = to_dict(row)
        self.bus.publish("job", record)
        return record

    def shutdown(self) -> None:
        """Stop taking jobs. Running ones are abandoned (daemon threads): the next server to
        start re-queues them."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()

    # -- restart survival -------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Jobs left `running` by a server that is gone: re-queued, or `interrupted` after
        `attempts` tries. A server is gone when its lease ran out, or at once when it was a
        process on this host that no longer exists."""
        now = time.time()
        taken: list[str] = []
        with self.db.session() as session:
            rows = session.scalars(select(JobRow).where(JobRow.status == "running").with_for_update(skip_locked=True)).all()
            for row in rows:
                if row.owner == self.owner or not _gone(row.owner, row.heartbeat, now, self.lease_s):
                    continue
                taken.append(row.id)
                if row.cancel_by is not None:  # its server died while it was being cancelled: done with it
                    row.status, row.finished, row.owner = "cancelled", _now(), None
                    row.message = f"cancelled by {row.cancel_by}"
                elif row.attempts < self.attempts:
                    row.status, row.fraction, row.owner, row.heartbeat = "queued", 0.0, None, None
                    row.message = f"re-queued: the server running it stopped (attempt {row.attempts} of {self.attempts})"
                else:
                    row.status, row.finished, row.owner = "interrupted", _now(), None
                    row.message = "interrupted"
                    row.error = (f"interrupted: the server running it stopped during each of {row.attempts} attempts; "
                                 "submit it again")
        for job_id in taken:
            log.warning("job %s: its server stopped; taken over by %s", job_id, self.owner)
            record = self.get(job_id)
            if record is not None:
                self.bus.publish("job", record)
        return taken

    def _keep_leases(self) -> None:
        while not self._stopping.wait(self.lease_s / 3):
            try:
                with self.db.session() as session:
                    session.execute(update(JobRow).where(JobRow.owner == self.owner, JobRow.status == "running")
                                    .values(heartbeat=time.time()))
                if self.recover():
                    with self._wake:
                        self._wake.notify_all()
            except Exception:  # the database is away for a moment: try again next round
                log.warning("renewing job leases failed", exc_info=True)

    # -- the workers' side ------------------------------------------------------------------

    def claim(self) -> JobWork | None:
        """The oldest queued job, now running here; None when there is none. The row is locked
        and skipped by other servers while it is claimed, and the update checks the status
        again, so a job is claimed by exactly one worker."""
        with self.db.session() as session:
            query = (select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created, JobRow.id)
                     .limit(1).with_for_update(skip_locked=True))
            job_id = session.scalar(query)
            if job_id is None:
                return None
            claimed = session.execute(
                update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued")
                .values(status="running", owner=self.owner, heartbeat=time.time(), started=_now(), message="started",
                        attempts=JobRow.attempts + 1)
            ).rowcount
            if claimed != 1:
                return None
            row = session.get(JobRow, job_id)
            assert row is not None
            session.refresh(row)
            work, record = JobWork(row.id, row.kind, row.params, row.payload or {}), to_dict(row)
        self.bus.publish("job", record)
        return work

    def _worker(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                work = self.claim()
                failures = 0
            except Exception:  # the database is away: say so once, then wait longer each time
                if failures == 0:
                    log.exception("claiming a job failed; retrying")
                failures += 1
                work = None
            if work is None:
                with self._wake:
                    self._wake.wait(min(_IDLE_POLL_S * 2 ** failures, 30.0))
                continue
            self.run(work)

    def run(self, work: JobWork) -> None:
        state = {"fraction": 0.0, "message": "started", "event": 0.0, "write": 0.0}

        def progress(fraction: float, message: str = "") -> None:
            if work.id in self._cancelled:
                raise JobCancelled(self._cancelled[work.id])
            state["fraction"] = min(1.0, max(state["fraction"], float(fraction)))  # progress never runs backwards
            changed = bool(message) and message != state["message"]
            state["message"] = message or state["message"]
            now = time.monotonic()
            if changed or now - state["event"] >= _MIN_EVENT_INTERVAL_S:
                state["event"] = now
                write = now - state["write"] >= _MIN_WRITE_INTERVAL_S
                if write:
                    state["write"] = now
                self._update(work.id, write, fraction=state["fraction"], message=state["message"])
                if write:  # a cancel asked of another server sharing the database
                    self._check_cancelled(work.id)

        handler = self.handlers.get(work.kind)
        try:
            if handler is None:
                raise RuntimeError(f"no handler for jobs of kind {work.kind!r} in this server")
            result = handler(work, progress)
        except JobCancelled as exc:
            values = {"status": "cancelled", "message": f"cancelled by {exc}"}
        except ValueError as exc:  # bad outside input found late (e.g. a schedule the validator rejects)
            values = {"status": "failed", "error": _one_line(exc), "message": "failed"}
        except Exception as exc:  # a bug: keep the server up, say what broke
            log.exception("job %s (%s) failed", work.id, work.kind)
            values = {"status": "failed", "error": f"{exc.__class__.__name__}: {_one_line(exc)}", "message": "failed"}
        else:
            values = {"status": "done", "result": result, "fraction": 1.0, "message": "done"}
        try:
            self._update(work.id, True, finished=_now(), **values)
        except Exception:  # the outcome cannot be written: the lease runs out and another server re-runs it
            log.exception("job %s: writing its outcome (%s) failed", work.id, values["status"])
        self._cancelled.pop(work.id, None)

    def _check_cancelled(self, job_id: str) -> None:
        with self.db.session() as session:
            by = session.scalar(select(JobRow.cancel_by).where(JobRow.id == job_id))
        if by is not None:
            self._cancelled[job_id] = by
            raise JobCancelled(by)

    def _update(self, job_id: str, write: bool, **values: Any) -> None:
        """Publish the job's new state; also write it when `write` (always for the outcome).
        Writes only while this server still owns the job: one taken over is not overwritten."""
        with self.db.session() as session:
            if write:
                session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.owner == self.owner)
                                .values(heartbeat=time.time(), **values))
                row = session.get(JobRow, job_id)
                record = to_dict(row) if row is not None else None
            else:
                row = session.get(JobRow, job_id)
                record = {**to_dict(row), "progress": {"fraction": values["fraction"], "message": values["message"]}} if row else None
        if record is not None:
            self.bus.publish("job", record)


def _gone(owner: str | None, heartbeat: float | None, now: float, lease_s: float) -> bool:
    if owner is None or heartbeat is None or now - heartbeat > lease_s:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else exc.__class__.__name__


__all__ = ["ACTIVE", "Handler", "JobCancelled", "JobConflict", "JobFinished", "JobRunner", "JobWork", "Progress", "QueueFull", "Status", "new_job_id", "to_dict"]
