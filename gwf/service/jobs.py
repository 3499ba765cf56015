"""Background jobs: long work (planning, twin runs, dispatch) runs on a small thread pool and
is visible as a record with an id, a status, progress and a result. Every change is published
on the event bus. Knows nothing of HTTP."""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from gwf.service.events import EventBus

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED = ("done", "failed", "cancelled")
Progress = Callable[[float, str], None]
Work = Callable[[Progress], dict[str, Any]]

log = logging.getLogger("gwf.service")

# Progress events are throttled so a tight solver loop cannot flood the live feed.
_MIN_EVENT_INTERVAL_S = 0.1


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    status: Status = "queued"
    fraction: float = 0.0
    message: str = "queued"
    result: dict[str, Any] | None = None
    error: str | None = None
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    exclusive: str | None = None
    cancel_by: str | None = None  # set by cancel(); the work stops at its next progress report

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "status": self.status,
            "progress": {"fraction": self.fraction, "message": self.message},
            "params": self.params, "result": self.result, "error": self.error,
            "created": self.created, "started": self.started, "finished": self.finished,
        }


class JobConflict(RuntimeError):
    """Another job holds the same exclusive key (e.g. the same plan is already being dispatched)."""

    def __init__(self, holder: Job) -> None:
        self.holder = holder
        super().__init__(f"job {holder.id} ({holder.kind}) is still {holder.status}")


class JobCancelled(Exception):
    """Raised inside a job's work from its progress callback once someone cancelled it."""


class JobFinished(RuntimeError):
    """A job that has already ended cannot be cancelled."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(f"job_id: job {job.id} already ended ({job.status}); nothing to cancel")


class JobRunner:
    def __init__(self, bus: EventBus, threads: int = 2) -> None:
        self.bus = bus
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue()
        # Daemon threads: stopping the server abandons a running solve instead of waiting for
        # it (jobs live in memory; dispatch resumes from its journal).
        self._threads = [threading.Thread(target=self._worker, name=f"gwf-job-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, kind: str, work: Work, params: dict[str, Any], job_id: str | None = None, exclusive: str | None = None) -> Job:
        """Queue `work(progress)`; it returns the job's result or raises. Returns at once.
        Jobs sharing an `exclusive` key never run side by side: a second one raises JobConflict."""
        job = Job(job_id or new_job_id(), kind, params, exclusive=exclusive)
        with self._lock:
            if exclusive is not None:
                for other in self._jobs.values():
                    if other.exclusive == exclusive and other.status in ("queued", "running"):
                        raise JobConflict(other)
            self._jobs[job.id] = job
        self._publish(job)
        self._queue.put((job, work))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if kind is None or j.kind == kind]

    def cancel(self, job_id: str, by: str) -> Job | None:
        """A queued job never starts; a running one stops at its next progress report
        (cooperative: planning, twin replications and dispatch transitions all report).
        None for an unknown id; JobFinished when it already ended."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status in FINISHED:
                raise JobFinished(job)
            job.cancel_by = by
            if job.status == "queued":
                job.status, job.finished, job.message = "cancelled", _now(), f"cancelled by {by}"
            else:
                job.message = f"cancelling (asked by {by})"
        self._publish(job)
        return job

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _worker(self) -> None:
        while (item := self._queue.get()) is not None:
            self._run(*item)

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            if job.status == "cancelled":  # cancelled while it waited in the queue
                return
            job.status, job.started, job.message = "running", _now(), "started"
        self._publish(job)
        last = [0.0]

        def progress(fraction: float, message: str = "") -> None:
            if job.cancel_by is not None:
                raise JobCancelled(job.cancel_by)
            job.fraction = min(1.0, max(job.fraction, float(fraction)))  # progress never runs backwards
            changed = bool(message) and message != job.message
            job.message = message or job.message
            now = time.monotonic()
            if changed or now - last[0] >= _MIN_EVENT_INTERVAL_S:
                last[0] = now
                self._publish(job)

        try:
            result = work(progress)
        except JobCancelled as exc:
            job.status, job.message = "cancelled", f"cancelled by {exc}"
        except ValueError as exc:  # bad outside input found late (e.g. a schedule the validator rejects)
            job.status, job.error = "failed", _one_line(exc)
        except Exception as exc:  # a bug or an unavailable component: keep the server up, say what broke
            log.exception("job %s (%s) failed", job.id, job.kind)
            job.status, job.error = "failed", f"{exc.__class__.__name__}: {_one_line(exc)}"
        else:
            job.status, job.result, job.fraction, job.message = "done", result, 1.0, "done"
        job.finished = _now()
        if job.status == "failed":
            job.message = "failed"
        self._publish(job)

    def _publish(self, job: Job) -> None:
        self.bus.publish("job", job.to_dict())


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else exc.__class__.__name__
