"""Our cell-controller protocol (docs/protocol.md) over serial://, loop://, socket:// and rfc2217:// links.

Jobs are pipelined: up to `window` jobs are outstanding at once, so the controller always has
the next job queued and the line never waits for a round trip (a USB adapter's 16 ms latency
timer would otherwise cap a request/response loop at ~60 jobs/s). Losses are repaired by
re-sending the JOB frame, which is always safe because the controller recognises job ids:
  - a NAK(CRC) re-sends the oldest unacknowledged job, the one the damaged frame must have been;
  - the controller acknowledges and executes in order, so an ACK or RESULT for a later job
    proves the earlier job's ACK or RESULT was lost: it is re-sent at once (gap repair);
  - a ticker re-sends what saw no progress for `retry` seconds (tail losses), backing off
    for long jobs, and after a reconnect everything outstanding is re-sent.
"""
from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any

from hardware.cellproto import frames as f
from hardware.backoff import Backoff
from hardware.driver import CellJob, ControllerChanged, DriverError, DriverTimeout, JobRejected, JobResult
from hardware.link_driver import LinkDriver, _positive
from hardware.registry import register

POLL_BACKOFF_MAX_S = 2.0  # longest gap between re-sends while an accepted job runs


@dataclass(eq=False)
class _Outstanding:
    job: CellJob
    seq: int
    wire: bytes
    future: asyncio.Future[JobResult]
    # Loss repair compares transmission times: a frame sent before another reaches the controller first,
    # and the controller answers in arrival order. first_sent/last_sent are transmissions only.
    first_sent: float = 0.0
    last_sent: float = 0.0
    progress_at: float = 0.0  # last transmission or acknowledgement: what the ticker measures silence from
    acked: bool = False
    accepted: bool = False  # queued as new on our frame: its RESULT comes in queue order
    wait: Backoff = field(default_factory=Backoff)  # its delay: seconds without progress before the next re-send
    resends: int = 0
    queue_full: bool = False


@register("serial", "loop", "socket", "rfc2217")
class CellDriver(LinkDriver):
    """Driver for controllers speaking our framed protocol; see the module docstring for the loss repair."""

    idempotent_job_ids = True  # docs/protocol.md, rule 1: the job id is the idempotency key

    OPTIONS = {**LinkDriver.OPTIONS, "window": _positive(int), "retry": _positive(float)}
    DEFAULTS = {**LinkDriver.DEFAULTS, "window": 8, "retry": 0.25}

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        if self.settings["window"] > 128:
            raise ValueError(f"driver {url!r}: window={self.settings['window']}; at most 128 (half the 8-bit sequence space)")
        self.pipeline_depth = self.settings["window"]
        self._decoder = f.FrameDecoder()
        self._seq = 0
        self._by_id: dict[str, _Outstanding] = {}
        self._by_seq: dict[int, _Outstanding] = {}
        self._slots = asyncio.Semaphore(self.settings["window"])
        self._status_waiters: list[asyncio.Future[f.Status]] = []
        self._ticker: asyncio.Task[None] | None = None
        self.counters = {"resent": 0, "bad_frames": 0, "unexpected": 0, "naks": 0}
        self.executed_seen = 0  # highest `executed` count the controller reported (never goes down on one controller)
        # Jobs it ran successfully for this driver (our own submissions) since the first connect: it
        # executed at least that many, even if no STATUS has been asked since.
        self.ran_here = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def _connect(self) -> None:
        await super()._connect()
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await super()._close()
        for item in list(self._by_id.values()):
            if not item.future.done():
                item.future.set_exception(DriverError(f"{self.url}: closed while job {item.job.job_id} was outstanding"))

    async def _handshake(self) -> None:
        # A lone delimiter ends whatever half frame the controller's decoder holds from before.
        self._write(f.DELIMITER)
        status = await self._query_status(self.settings["connect_timeout"])
        if status is None:
            raise DriverError(f"{self.url}: no STATUS answer within {self.settings['connect_timeout']}s; is a cell controller there?")
        # Protocol version 1 has no identity message (docs/protocol.md). What it does give: STATUS
        # counts the jobs the controller ever executed, and a controller keeps that record (it is
        # what makes re-sending safe), so the count never goes down. After a reconnect, a lower
        # count is another controller, or one that lost its record: re-sending to either could
        # run a job twice. A controller with a higher count cannot be told from ours.
        seen = max(self.executed_seen, self.ran_here)
        if status.executed < seen:
            self.changed = (f"{self.url}: after a reconnect the controller reports {status.executed} executed jobs, fewer than the "
                            f"{seen} seen before: another controller, or one that lost its record of job ids; "
                            f"nothing re-sent: check the cable or device path, then decide what ran where")
            raise ControllerChanged(self.changed)
        self.executed_seen = status.executed

    def _on_controller_changed(self) -> None:
        for item in list(self._by_id.values()):
            if not item.future.done():
                item.future.set_exception(ControllerChanged(self.changed or f"{self.url}: another controller answers"))

    def _on_link_down(self) -> None:
        self._decoder = f.FrameDecoder()

    def _on_link_up(self) -> None:
        for item in list(self._by_id.values()):
            self._send(item)

    # --- jobs --------------------------------------------------------------------------

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        shared = self._by_id.get(job.job_id)
        if shared is not None:  # the same id already outstanding: one frame, one answer for both callers
            return await self._await(shared, deadline)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise DriverTimeout(f"{self.url}: job {job.job_id}: no free slot in the window of {self.settings['window']} within {timeout:.3f}s") from None
        try:
            item = self._outstanding(job, loop)
            self._by_id[job.job_id] = item
            if self._link_up.is_set():
                self._send(item)
            return await self._await(item, deadline)
        finally:
            gone = self._by_id.pop(job.job_id, None)
            if gone is not None:
                self._by_seq.pop(gone.seq, None)
                if not gone.future.done():
                    gone.future.cancel()  # the caller was cancelled: nobody is left to take the answer
            self._slots.release()

    def _outstanding(self, job: CellJob, loop: asyncio.AbstractEventLoop) -> _Outstanding:
        if job.duration_s < 0:
            raise JobRejected(f"{self.url}: job {job.job_id}: duration_s={job.duration_s}; must be >= 0")
        self._seq = (self._seq + 1) & 0xFF
        try:
            params = json.dumps(job.params, separators=(",", ":")).encode() if job.params else b""
            submission = random.getrandbits(32)
            wire = f.encode(f.Job(self._seq, job.job_id, job.operation, round(job.duration_s * 1000), params, submission))
        except (f.ProtocolError, TypeError) as exc:
            raise JobRejected(f"{self.url}: job {job.job_id} cannot be framed: {exc}") from None
        retry = self.settings["retry"]
        item = _Outstanding(job, self._seq, wire, loop.create_future(), wait=Backoff(retry, max(POLL_BACKOFF_MAX_S, retry)))
        stale = self._by_seq.get(self._seq)
        if stale is not None and not stale.future.done():
            raise JobRejected(f"{self.url}: sequence number {self._seq} still outstanding; lower the window")
        self._by_seq[self._seq] = item
        return item

    async def _await(self, item: _Outstanding, deadline: float) -> JobResult:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(asyncio.shield(item.future), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            where = "link down" if not self._link_up.is_set() else ("accepted, no result" if item.acked else "not acknowledged")
            self._trouble(f"job {item.job.job_id} timed out")
            if not item.future.done():
                item.future.cancel()
            raise DriverTimeout(
                f"{self.url}: job {item.job.job_id} got no result within the timeout ({where}, {item.resends} re-sends)"
            ) from None

    def _send(self, item: _Outstanding) -> None:
        now = asyncio.get_running_loop().time()
        item.first_sent = item.first_sent or now
        item.last_sent = item.progress_at = now
        self._write(item.wire)

    def _resend(self, item: _Outstanding) -> None:
        item.resends += 1
        self.counters["resent"] += 1
        self._send(item)

    # --- receive -----------------------------------------------------------------------

    def _on_bytes(self, data: bytes) -> None:
        for msg in self._decoder.feed(data):
            if isinstance(msg, f.Result):
                self._on_result(msg)
            elif isinstance(msg, f.Ack):
                self._on_ack(msg)
            elif isinstance(msg, f.Nak):
                self._on_nak(msg)
            elif isinstance(msg, f.Status):
                self.executed_seen = max(self.executed_seen, msg.executed)
                waiters, self._status_waiters = self._status_waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(msg)
            elif isinstance(msg, f.ProtocolError):
                # Damaged frames are not answered: whatever they carried is repaired by gap or timer re-sends.
                self.counters["bad_frames"] += 1
            else:
                self.counters["unexpected"] += 1  # a driver-bound type (JOB, ...): an echoing line, or a second driver

    def _on_ack(self, msg: f.Ack) -> None:
        item = self._by_seq.get(msg.acked_seq)
        if item is None or item.future.done() or item.acked:
            return
        item.acked = True
        item.accepted = msg.disposition is f.Disposition.ACCEPTED
        item.progress_at = asyncio.get_running_loop().time()
        for other in list(self._by_id.values()):
            # Its last transmission preceded every transmission of the acknowledged job, so its answer would
            # have come first: the frame or its ACK was lost. (Comparing with the acknowledged job's *first*
            # send keeps a late ACK to an earlier copy from condemning frames still on their way.)
            if not other.acked and other.last_sent < item.first_sent and not other.queue_full:
                self._resend(other)

    def _on_result(self, msg: f.Result) -> None:
        item = self._by_id.get(msg.job_id)
        if item is None or item.future.done():
            return
        item.future.set_result(JobResult(msg.job_id, msg.ok, msg.detail, msg.started_at, msg.finished_at, msg.duplicate))
        # Only a success proves execution: an ABORT answers queued jobs with a failed RESULT it never journals.
        self.ran_here += msg.ok and not msg.duplicate
        for other in list(self._by_id.values()):
            # Queued before this job (last sent before this one was first sent) and executed in order:
            # its RESULT, or the answer to its last re-send, would have come first. It was lost.
            if other.accepted and not other.future.done() and other.last_sent < item.first_sent:
                self._resend(other)

    def _on_nak(self, msg: f.Nak) -> None:
        self.counters["naks"] += 1
        if msg.reason is f.NakReason.CRC:
            # The controller answers frames in arrival order, so the damaged frame is the oldest one it had
            # not yet answered: the oldest unacknowledged job (or a STATUS_REQ, which is re-asked anyway).
            unacked = [item for item in self._by_id.values() if not item.acked and not item.future.done()]
            if unacked:
                self._resend(min(unacked, key=lambda item: item.last_sent))
            return
        item = self._by_seq.get(msg.nak_seq)
        if item is None or item.future.done():
            return
        if msg.reason is f.NakReason.QUEUE_FULL:
            item.queue_full = True  # the ticker tries again after `retry`
            return
        item.future.set_exception(
            JobRejected(f"{self.url}: controller rejected job {item.job.job_id} frame ({msg.reason.name.lower()})")
        )

    async def _tick(self) -> None:
        retry = self.settings["retry"]
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(retry / 2)
            if not self._link_up.is_set():
                continue
            now = loop.time()
            for item in list(self._by_id.values()):
                if item.future.done() or now - item.progress_at < item.wait.delay:
                    continue
                item.queue_full = False
                if item.acked:
                    # Accepted and running: ask again, less often the longer it runs.
                    item.wait.grow()
                self._resend(item)

    # --- status, heartbeat, abort ------------------------------------------------------

    async def _query_status(self, timeout: float) -> f.Status | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            waiter: asyncio.Future[f.Status] = loop.create_future()
            self._status_waiters.append(waiter)
            self._seq = (self._seq + 1) & 0xFF
            self._write(f.encode(f.StatusReq(self._seq)))
            try:
                return await asyncio.wait_for(waiter, min(self.settings["retry"], max(0.0, deadline - loop.time())))
            except asyncio.TimeoutError:
                continue  # request or answer lost on a noisy line: ask again until the deadline
        return None

    async def _status(self) -> dict[str, Any]:
        status = await self._query_status(self.settings["connect_timeout"]) if self._link_up.is_set() else None
        controller = (
            {"controller_state": status.state.name.lower(), "queued": status.queued, "executed": status.executed, "current_job": status.current_job}
            if status
            else {"controller_state": "unreachable"}
        )
        return {**controller, "outstanding": len(self._by_id), **self.counters, **self._link_stats()}

    async def _heartbeat(self) -> bool:
        return self._link is not None and await self._query_status(self.settings["connect_timeout"]) is not None

    async def _abort(self, job_id: str | None) -> None:
        """Drops the job (or every queued job) at the controller; their execute() calls end with ok=False."""
        self._seq = (self._seq + 1) & 0xFF
        self._write(f.encode(f.Abort(self._seq, job_id or "")))
