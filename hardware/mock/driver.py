"""`mock://NAME`: an in-process stand-in for a robot cell, behind the same Driver face as real ones."""
from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hardware.driver import CellJob, Driver, DriverError, DriverTimeout, JobResult
from hardware.registry import register


@register("mock")
class MockDriver(Driver):
    """Runs a job by sleeping its duration times `time_scale` (default 0: instant).

    Query options: `time_scale=0.001`, `fail_every=N` (every Nth job reports failure),
    `hang_every=N` (every Nth job never answers, to exercise timeouts), `ledger=PATH` (an
    append-only file of executed job ids that outlives the process, as a real controller's
    memory outlives a crashed dispatcher). Executed job ids are remembered, so a re-sent job
    is recognised and not run twice, like a real controller speaking our protocol.
    """

    idempotent_job_ids = True

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        merged = {**query, **options}
        self.name = urlsplit(url).netloc or urlsplit(url).path.lstrip("/")
        self.time_scale = float(merged.get("time_scale", 0.0))
        self.fail_every = int(merged.get("fail_every", 0))
        self.hang_every = int(merged.get("hang_every", 0))
        self.ledger = merged.get("ledger")
        self.pipeline_depth = 64  # an in-process mock has no window; let execute_many overlap its sleeps
        self.executed: dict[str, JobResult] = {}
        self.count = 0
        self._connected = False

    async def _connect(self) -> None:
        if self.ledger:
            try:
                with open(self.ledger, encoding="utf-8") as fh:
                    for line in fh:
                        ok, _, job_id = line.rstrip("\n").partition(" ")
                        if job_id:
                            self.executed[job_id] = JobResult(job_id, ok == "ok")
            except FileNotFoundError:
                pass
        self._connected = True

    async def _close(self) -> None:
        self._connected = False

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        if not self._connected:
            raise DriverError(f"{self.url}: not connected")
        if job.job_id in self.executed:
            previous = self.executed[job.job_id]
            return JobResult(job.job_id, previous.ok, previous.detail, previous.started_at, previous.finished_at, duplicate=True)
        self.count += 1
        number = self.count  # taken before the await: concurrent jobs move self.count meanwhile
        started = time.time()
        if self.hang_every and number % self.hang_every == 0:
            await asyncio.sleep(timeout)
            raise DriverTimeout(f"{self.url}: job {job.job_id} got no answer within {timeout:.3f}s")
        await asyncio.sleep(job.duration_s * self.time_scale)
        ok = not (self.fail_every and number % self.fail_every == 0)
        result = JobResult(job.job_id, ok, "" if ok else "mock fault", started, time.time())
        self.executed[job.job_id] = result
        if self.ledger:
            with open(self.ledger, "a", encoding="utf-8") as fh:
                fh.write(f"{'ok' if ok else 'fail'} {job.job_id}\n")
        return result

    async def _status(self) -> dict[str, Any]:
        return {"name": self.name, "jobs_executed": len(self.executed)}
