"""The one interface every cell controller is driven through, whatever the wire: lifecycle and job calls."""
from __future__ import annotations

import abc
import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import Any

from hardware.backoff import wait_until


# While a link is down, how often a waiting job looks whether recovery found another controller.
CHANGE_POLL_S = 0.1


class DriverState(str, enum.Enum):
    """Lifecycle of a driver (after ros2_control): configured -> active -> faulted -> recovered -> active."""

    CONFIGURED = "configured"
    ACTIVE = "active"
    FAULTED = "faulted"
    RECOVERED = "recovered"
    CLOSED = "closed"


class DriverError(RuntimeError):
    """A controller could not be reached or answered outside its protocol."""


class DriverTimeout(DriverError):
    """A controller did not answer within the allowed time (never returned as short data)."""


class JobRejected(DriverError):
    """The controller refused the job (bad parameters, interlock, alarm)."""


class ControllerChanged(DriverError):
    """After a reconnect the link reached another controller than the one this driver was talking
    to (a stale device path, a swapped cable, a gateway port re-assigned): nothing is sent to it,
    now or later, and whatever was in flight is not re-sent. A person decides what ran where."""


@dataclass(frozen=True)
class CellJob:
    """One scheduled operation sent to one cell: the id is what makes a re-send idempotent."""

    job_id: str
    cell: str
    operation: str
    duration_s: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    job_id: str
    ok: bool
    detail: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float = field(default_factory=time.time)
    duplicate: bool = False  # the controller had already executed this job id and did not run it again


class Driver(abc.ABC):
    """Async driver for one controller. Subclasses implement the underscore hooks; the
    public methods keep the lifecycle honest so that every driver behaves the same."""

    scheme: str = ""
    pipeline_depth: int = 1  # jobs execute_many keeps in flight; pipelining drivers raise it
    # What the driver can promise about a job whose outcome is unknown (a lost link, a timeout):
    # True when the controller recognises a re-sent job id and never runs it twice, so the
    # dispatcher may re-send; False (the safe default, e.g. GRBL) means a re-send could replay
    # work already done in part, so such a job is reported for a decision instead.
    idempotent_job_ids: bool = False

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self.state = DriverState.CONFIGURED
        # What the controller said it is at the first connect (protocol-specific: GRBL's `$I`, an
        # OPC UA server's ApplicationUri); None when the device offers nothing to tell it apart.
        self.identity: str | None = None
        self.changed: str | None = None  # why this driver no longer sends: a reconnect reached another controller

    def check_identity(self, found: str | None) -> None:
        """Compare what a (re)connected controller says it is with the first answer; raises
        ControllerChanged (and keeps refusing every job from then on) when they differ."""
        if found is None:
            return
        if self.identity is None:
            self.identity = found
            return
        if found != self.identity:
            self.changed = (f"{self.url}: after a reconnect another controller answers ({found!r}, not {self.identity!r}); "
                            f"nothing sent to it: check the cable or device path, then decide what ran where")
            raise ControllerChanged(self.changed)

    async def connect(self) -> None:
        if self.changed is not None:  # reopening the same path would reach the same wrong controller
            raise ControllerChanged(self.changed)
        try:
            await self._connect()
        except Exception:
            self.state = DriverState.FAULTED
            raise
        self.state = DriverState.ACTIVE if self.state != DriverState.FAULTED else DriverState.RECOVERED

    async def close(self) -> None:
        await self._close()
        self.state = DriverState.CLOSED

    async def _until_link(self, link_up: asyncio.Event, deadline: float) -> bool:
        """Wait until `link_up` is set or the loop clock passes `deadline`; whether it is set.
        ControllerChanged as soon as a reconnect found another controller (looked at every
        CHANGE_POLL_S while the link is down, so a waiting job does not sit out its timeout)."""
        loop = asyncio.get_running_loop()
        while not link_up.is_set() and self.changed is None and loop.time() < deadline:
            await wait_until(link_up, min(deadline, loop.time() + CHANGE_POLL_S))
        if self.changed is not None:
            raise ControllerChanged(self.changed)
        return link_up.is_set()

    async def execute(self, job: CellJob, timeout: float) -> JobResult:
        if self.changed is not None:
            raise ControllerChanged(self.changed)
        if not self._accepting():
            raise DriverError(f"{self.url}: cannot execute in state {self.state.value}")
        try:
            return await self._execute(job, timeout)
        except DriverTimeout:
            self.state = DriverState.FAULTED
            raise
        except (JobRejected, ControllerChanged):
            raise
        except DriverError:
            self.state = DriverState.FAULTED
            raise

    async def execute_many(self, jobs: list[CellJob], timeout: float) -> list[JobResult | DriverError]:
        """Runs `jobs` with up to `pipeline_depth` in flight, so a driver with a window of frames can
        pipeline them; `timeout` counts for each job from when it is handed to the driver, not from
        the call. Each entry is the job's result or the DriverError it ended with, in the order given."""
        depth = asyncio.Semaphore(self.pipeline_depth)

        async def one(job: CellJob) -> JobResult:
            async with depth:
                return await self.execute(job, timeout)

        outcomes = await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, DriverError):
                raise outcome
        return outcomes  # type: ignore[return-value]

    async def status(self) -> dict[str, Any]:
        return {"url": self.url, "state": self.state.value, **(await self._status())}

    async def abort(self, job_id: str | None = None) -> None:
        await self._abort(job_id)

    async def heartbeat(self) -> bool:
        return await self._heartbeat()

    async def __aenter__(self) -> "Driver":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def _connect(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _execute(self, job: CellJob, timeout: float) -> JobResult: ...

    def _accepting(self) -> bool:
        """Whether execute() may be called now; drivers that reconnect on their own also accept while recovering."""
        return self.state in (DriverState.ACTIVE, DriverState.RECOVERED)

    async def _status(self) -> dict[str, Any]:
        return {}

    async def _abort(self, job_id: str | None) -> None:
        return None

    async def _heartbeat(self) -> bool:
        return self.state in (DriverState.ACTIVE, DriverState.RECOVERED)
