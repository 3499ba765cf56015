"""`opcua://HOST:PORT/PATH?unit=Cell`: cells whose controllers speak OPC UA (asyncua client).

A job is started by calling the unit's `StartJob(jobId, operation, durationS, params, submission)` method;
the controller de-duplicates by job id (hardware/opcua/emulator.py documents the contract), so calling it
again after a lost connection or a restarted server is always safe, and the only repair needed. Results
arrive by subscription to the unit's `LastResult`; the PackML state by subscription to
`BaseStateMachine/CurrentState`. A notification lost with a connection is covered by asking
`GetResult` every `poll` seconds for jobs still open, and by calling `StartJob` again after a reconnect.

Query fields: `unit` (browse name, default Cell), `connect_timeout` (s, default 2), `reconnect_max`
(s, longest backoff pause, default 2), `poll` (s, default 0.5).
"""
from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from asyncua import Client, ua

from hardware.backoff import Backoff
from hardware.driver import CellJob, ControllerChanged, Driver, DriverError, DriverState, DriverTimeout, JobRejected, JobResult
from hardware.link_driver import _positive
from hardware.opcua.packml import PACKML_NS
from hardware.registry import register


OPTIONS: dict[str, Callable[[str], Any]] = {
    "unit": str, "connect_timeout": _positive(float), "reconnect_max": _positive(float), "poll": _positive(float),
}
DEFAULTS: dict[str, Any] = {"unit": "Cell", "connect_timeout": 2.0, "reconnect_max": 2.0, "poll": 0.5}


@dataclass
class _Open:
    job: CellJob
    submission: int
    future: asyncio.Future[JobResult]
    waiters: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Subscription:
    """asyncua's subscription handler: hands data changes to the driver on the loop."""

    def __init__(self, driver: "OpcUaDriver") -> None:
        self.driver = driver

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.driver._on_change(node, value)

    def status_change_notification(self, status: Any) -> None:
        self.driver._lost(f"subscription status {status}")


@register("opcua")
class OpcUaDriver(Driver):
    pipeline_depth = 16  # StartJob only queues on the controller: many jobs may be open at once
    idempotent_job_ids = True  # StartJob de-duplicates by job id: re-calling it never runs a job twice

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"driver url {url!r}: expected opcua://HOST:PORT/PATH")
        settings: dict[str, Any] = dict(DEFAULTS)
        for key, value in [*parse_qsl(parts.query, keep_blank_values=True), *((k, str(v)) for k, v in options.items())]:
            convert = OPTIONS.get(key)
            if convert is None:
                raise ValueError(f"driver url {url!r}: query field {key!r} unknown; valid: {', '.join(sorted(OPTIONS))}")
            try:
                settings[key] = convert(value)
            except ValueError as exc:
                raise ValueError(f"driver url {url!r}: query field {key}={value!r} invalid: {exc}") from None
        self.settings = settings
        self.endpoint = f"opc.tcp://{parts.hostname}:{parts.port}{parts.path or '/'}"
        self.packml_state = ""
        self.reconnects = 0
        self.calls = 0
        self._client: Client | None = None
        self._nodes: dict[str, Any] = {}
        self._open: dict[str, _Open] = {}
        self._link_up = asyncio.Event()
        self._recovery: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._closing = False

    # --- connection ------------------------------------------------------------------------

    async def _open_client(self) -> None:
        client = Client(self.endpoint, timeout=self.settings["connect_timeout"])
        try:
            await asyncio.wait_for(client.connect(), self.settings["connect_timeout"])
            # Before anything subscribes: which server this is. ServerArray[0] is the server's own
            # ApplicationUri (OPC UA Part 5 §6.3.1), globally unique per application instance.
            uris = await client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerArray)).read_value()
            self.check_identity(str(uris[0]) if uris else None)
            ns = await client.get_namespace_index(PACKML_NS)
            unit = await client.nodes.objects.get_child([f"{ns}:{self.settings['unit']}"])
            nodes = {
                "unit": unit,
                "ns": ns,
                "last_result": await unit.get_child([f"{ns}:LastResult"]),
                "state": await unit.get_child([f"{ns}:BaseStateMachine", f"{ns}:CurrentState"]),
                "current_job": await unit.get_child([f"{ns}:Status", f"{ns}:CurrentJob"]),
                "processed": await unit.get_child([f"{ns}:Admin", f"{ns}:ProdProcessedCount"]),
                "defective": await unit.get_child([f"{ns}:Admin", f"{ns}:ProdDefectiveCount"]),
            }
            subscription = await client.create_subscription(50, _Subscription(self))
            await subscription.subscribe_data_change([nodes["last_result"], nodes["state"]])
        except Exception as exc:
            await self._discard(client)
            if isinstance(exc, (asyncio.CancelledError, ControllerChanged)):
                raise
            raise DriverError(f"{self.url}: cannot reach unit {self.settings['unit']!r} at {self.endpoint}: {exc or type(exc).__name__}") from exc
        self._client, self._nodes = client, nodes

    @staticmethod
    async def _discard(client: Client | None) -> None:
        if client is None:
            return
        try:
            await asyncio.wait_for(client.disconnect(), 1.0)
        except Exception:  # a dead server cannot be told goodbye; the socket is closed either way
            pass

    async def _connect(self) -> None:
        self._closing = False
        await self._open_client()
        self._link_up.set()
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _close(self) -> None:
        self._closing = True
        for task in (self._recovery, self._poller):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, DriverError):
                    pass
        self._link_up.clear()
        client, self._client = self._client, None
        await self._discard(client)

    def _accepting(self) -> bool:
        recovering = self._recovery is not None and not self._recovery.done()
        return super()._accepting() or (self.state is DriverState.FAULTED and recovering)

    def _lost(self, reason: str) -> None:
        if self._closing or (self._recovery is not None and not self._recovery.done()):
            return
        self._link_up.clear()
        self.state = DriverState.FAULTED
        self.last_fault = reason
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    def _check_link(self) -> None:
        """After a timeout: keep the link if it answers a heartbeat (the job was slow, not the link), else reconnect."""
        if self._closing or (self._recovery is not None and not self._recovery.done()):
            return

        async def check() -> None:
            if await self._heartbeat():
                self.state = DriverState.RECOVERED
            else:
                self._recovery = None
                self._lost("no heartbeat after a timeout")

        self._recovery = asyncio.get_running_loop().create_task(check())

    async def _recover(self) -> None:
        old, self._client = self._client, None
        await self._discard(old)
        backoff = Backoff(cap=self.settings["reconnect_max"])
        while not self._closing:
            try:
                await self._open_client()
                break
            except ControllerChanged as exc:
                # Not ours: stay FAULTED, call nothing on it, and end what waited for the old server.
                for item in list(self._open.values()):
                    if not item.future.done():
                        item.future.set_exception(exc)
                return
            except DriverError:
                await backoff.sleep()
        if self._closing:
            return
        self.reconnects += 1
        self.state = DriverState.RECOVERED
        self._link_up.set()
        for item in list(self._open.values()):  # notifications may have been lost with the link: ask again
            asyncio.get_running_loop().create_task(self._start(item))

    async def _call(self, method: str, *args: ua.Variant) -> list[Any]:
        client, nodes = self._client, self._nodes
        if client is None:
            raise ConnectionError("not connected")
        self.calls += 1
        try:
            result = await asyncio.wait_for(nodes["unit"].call_method(f"{nodes['ns']}:{method}", *args), self.settings["connect_timeout"])
        except ua.UaStatusCodeError as exc:
            if exc.code == ua.StatusCodes.BadInvalidArgument:
                raise JobRejected(f"{self.url}: {method} refused the arguments: {exc}") from None
            self._lost(f"{method}: {exc}")
            raise ConnectionError(str(exc)) from exc
        except (OSError, asyncio.TimeoutError, ConnectionError, ua.UaError) as exc:
            self._lost(f"{method}: {exc or type(exc).__name__}")
            raise ConnectionError(str(exc)) from exc
        return result if isinstance(result, list) else [result]

    # --- jobs ------------------------------------------------------------------------------

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        if job.duration_s < 0:
            raise JobRejected(f"{self.url}: job {job.job_id}: duration_s={job.duration_s}; must be >= 0")
        try:
            params = json.dumps(job.params)
        except (TypeError, ValueError) as exc:
            raise JobRejected(f"{self.url}: job {job.job_id}: params must be JSON: {exc}") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        item = self._open.get(job.job_id)
        if item is None:
            item = _Open(job, random.getrandbits(32), loop.create_future(), extra={"params": params})
            self._open[job.job_id] = item
        item.waiters += 1
        try:
            while not item.future.done():
                if not await self._wait_link(deadline):
                    raise DriverTimeout(f"{self.url}: job {job.job_id}: no connection to {self.endpoint} within {timeout:.3f}s")
                await self._start(item)
                if item.future.done():
                    break
                try:
                    return await asyncio.wait_for(asyncio.shield(item.future), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    self._check_link()
                    raise DriverTimeout(f"{self.url}: job {job.job_id}: no result within {timeout:.3f}s "
                                        f"(unit state {self.packml_state or 'unknown'})") from None
            return item.future.result()
        finally:
            item.waiters -= 1
            if item.waiters == 0 and item.future.done():
                self._open.pop(job.job_id, None)

    async def _start(self, item: _Open) -> None:
        """StartJob (idempotent by id); a `done` answer resolves the job at once."""
        job = item.job
        try:
            disposition, payload = await self._call(
                "StartJob",
                ua.Variant(job.job_id, ua.VariantType.String), ua.Variant(job.operation, ua.VariantType.String),
                ua.Variant(float(job.duration_s), ua.VariantType.Double), ua.Variant(item.extra["params"], ua.VariantType.String),
                ua.Variant(item.submission, ua.VariantType.UInt32),
            )
        except ConnectionError:
            return  # recovery calls StartJob again once the link is back
        except JobRejected as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        if disposition == "done":
            self._resolve(payload, item.submission)

    def _resolve(self, payload: str, submission: int | None = None) -> None:
        if not payload:
            return
        stored = json.loads(payload)
        item = self._open.get(stored["id"])
        if item is None or item.future.done():
            return
        duplicate = stored["submission"] != item.submission
        item.future.set_result(JobResult(stored["id"], stored["ok"], stored["detail"], stored["started"], stored["finished"], duplicate))

    def _on_change(self, node: Any, value: Any) -> None:
        if node == self._nodes.get("last_result"):
            self._resolve(value)
        elif node == self._nodes.get("state"):
            self.packml_state = getattr(value, "Text", str(value))

    async def _poll(self) -> None:
        """Covers a lost notification: ask GetResult for jobs open longer than one poll interval."""
        while True:
            await asyncio.sleep(self.settings["poll"])
            if not self._link_up.is_set():
                continue
            for item in list(self._open.values()):
                if item.future.done():
                    continue
                try:
                    disposition, payload = await self._call("GetResult", ua.Variant(item.job.job_id, ua.VariantType.String),
                                                            ua.Variant(item.submission, ua.VariantType.UInt32))
                except (ConnectionError, JobRejected):
                    break
                if disposition == "done":
                    self._resolve(payload)
                elif disposition == "unknown":
                    await self._start(item)  # the controller forgot a queued job (restart before it ran)

    async def _wait_link(self, deadline: float) -> bool:
        return await self._until_link(self._link_up, deadline)

    # --- status, heartbeat, abort ----------------------------------------------------------

    async def _status(self) -> dict[str, Any]:
        info: dict[str, Any] = {"endpoint": self.endpoint, "reconnects": self.reconnects, "open_jobs": len(self._open),
                                "calls": self.calls, "link": "up" if self._link_up.is_set() else "down"}
        if self._client is not None and self._link_up.is_set():
            try:
                state = await self._nodes["state"].read_value()
                info["packml_state"] = state.Text
                info["processed"] = await self._nodes["processed"].read_value()
                info["defective"] = await self._nodes["defective"].read_value()
                info["current_job"] = await self._nodes["current_job"].read_value()
            except Exception as exc:  # reading status must not raise on a dying link
                self._lost(f"status read: {exc}")
                info["packml_state"] = "unreachable"
        return info

    async def _heartbeat(self) -> bool:
        if self._client is None or not self._link_up.is_set():
            return False
        try:
            await asyncio.wait_for(self._nodes["state"].read_value(), self.settings["connect_timeout"])
        except Exception:
            return False
        return True

    async def _abort(self, job_id: str | None) -> None:
        try:
            await self._call("Abort", ua.Variant(job_id or "", ua.VariantType.String))
        except ConnectionError as exc:
            raise DriverError(f"{self.url}: abort not delivered: {exc}") from None
