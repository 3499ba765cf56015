"""A cell controller that speaks OPC UA (asyncua server on 127.0.0.1), for testing the `opcua://` driver.

    python -m hardware.opcua.emulator [--port N] [--unit Cell] [--journal PATH] [--time-scale X]

Prints its endpoint (`opc.tcp://127.0.0.1:N/gwf/`) on the first line. One PackML unit (hardware/opcua/packml.py)
with the job methods a dispatcher needs, all idempotent by job id:

    StartJob(jobId, operation, durationS, params, submission) -> (disposition, resultJson)
        disposition: accepted (queued now), in_progress (already queued or running), done (already executed:
        resultJson is its stored result, `duplicate` true when another submission ran it)
    GetResult(jobId, submission) -> (disposition, resultJson)      disposition also `unknown`
    Abort(jobId) -> ()                                             "" aborts the running job and the queue
    LastResult                                                     String JSON of the last finished job (subscribe)

Jobs run one at a time in arrival order, taking durationS × time-scale; params `{"fail": "why"}` makes one fail.
The journal (JSON lines) keeps every executed id with its result and is reloaded on start, as a controller's
memory outlives a restart: a job id is never executed twice.

Its ApplicationUri (also ServerArray[0]) names this controller instance, as OPC UA requires of every
application instance (globally unique): `urn:gwfactory:cell-emulator:UNIT:ID`, ID fixed by the journal's path
(a restarted controller with its memory is the same controller), or new per process without a journal.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import time
import uuid
from dataclasses import asdict, dataclass

from asyncua import Server, ua

from hardware.opcua.packml import PACKML_NS, UnitNodes, add_unit


@dataclass
class Stored:
    id: str
    ok: bool
    detail: str
    started: float
    finished: float
    submission: int


@dataclass
class Queued:
    id: str
    operation: str
    duration_s: float
    params: dict
    submission: int


class CellServer:
    def __init__(self, port: int, unit: str, journal: str | None, time_scale: float) -> None:
        self.port = port
        self.unit_name = unit
        self.journal = journal
        self.time_scale = time_scale
        self.done: dict[str, Stored] = {}
        self.queue: collections.deque[Queued] = collections.deque()
        self.running: Queued | None = None
        self.processed = self.defective = 0
        self._work = asyncio.Event()
        self._abort_running = asyncio.Event()
        self.server = Server()
        self.nodes: UnitNodes | None = None
        self.last_result = None
        self._instance = uuid.uuid4()  # without a journal: a new controller every process
        if journal and os.path.exists(journal):
            with open(journal, encoding="utf-8") as fh:
                for line in fh:
                    stored = Stored(**json.loads(line))
                    self.done[stored.id] = stored
                    self.processed += stored.ok
                    self.defective += not stored.ok

    @property
    def application_uri(self) -> str:
        instance = uuid.uuid5(uuid.NAMESPACE_URL, os.path.abspath(self.journal)) if self.journal else self._instance
        return f"urn:gwfactory:cell-emulator:{self.unit_name}:{instance}"

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/gwf/"

    async def start(self) -> None:
        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        self.server.set_server_name("gwfactory OPC UA cell emulator")
        await self.server.set_application_uri(self.application_uri)
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await self.server.register_namespace(PACKML_NS)
        self.nodes = await add_unit(self.server.nodes.objects, ns, self.unit_name, state="Idle")
        await self.nodes.publish(processed=self.processed, defective=self.defective)
        unit = self.nodes.unit
        self.last_result = await unit.add_variable(ns, "LastResult", ua.Variant("", ua.VariantType.String))
        string, double, uint32 = ua.VariantType.String, ua.VariantType.Double, ua.VariantType.UInt32
        await unit.add_method(ns, "StartJob", self._start_job, [string, string, double, string, uint32], [string, string])
        await unit.add_method(ns, "GetResult", self._get_result, [string, uint32], [string, string])
        await unit.add_method(ns, "Abort", self._abort, [string], [])
        await self.server.start()
        asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        await self.server.stop()

    # --- methods -------------------------------------------------------------------------

    def _stored_json(self, stored: Stored, submission: int) -> str:
        return json.dumps({**asdict(stored), "duplicate": stored.submission != submission})

    def _disposition(self, job_id: str, submission: int) -> list[ua.Variant] | None:
        if job_id in self.done:
            return [ua.Variant("done", ua.VariantType.String), ua.Variant(self._stored_json(self.done[job_id], submission), ua.VariantType.String)]
        if (self.running and self.running.id == job_id) or any(q.id == job_id for q in self.queue):
            return [ua.Variant("in_progress", ua.VariantType.String), ua.Variant("", ua.VariantType.String)]
        return None

    async def _start_job(self, parent: ua.NodeId, job_id: ua.Variant, operation: ua.Variant, duration: ua.Variant,
                         params: ua.Variant, submission: ua.Variant) -> list[ua.Variant]:
        known = self._disposition(job_id.Value, submission.Value)
        if known is not None:
            return known
        try:
            parsed = json.loads(params.Value) if params.Value else {}
        except json.JSONDecodeError:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadInvalidArgument) from None
        if duration.Value < 0 or not job_id.Value:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadInvalidArgument)
        self.queue.append(Queued(job_id.Value, operation.Value, duration.Value, parsed, submission.Value))
        self._work.set()
        return [ua.Variant("accepted", ua.VariantType.String), ua.Variant("", ua.VariantType.String)]

    async def _get_result(self, parent: ua.NodeId, job_id: ua.Variant, submission: ua.Variant) -> list[ua.Variant]:
        known = self._disposition(job_id.Value, submission.Value)
        return known or [ua.Variant("unknown", ua.VariantType.String), ua.Variant("", ua.VariantType.String)]

    async def _abort(self, parent: ua.NodeId, job_id: ua.Variant) -> list[ua.Variant]:
        target = job_id.Value
        for queued in [q for q in self.queue if not target or q.id == target]:
            self.queue.remove(queued)
            await self._finish(queued, False, "aborted before start", time.time())
        if self.running is not None and (not target or self.running.id == target):
            self._abort_running.set()
        return []

    # --- execution -----------------------------------------------------------------------

    async def _worker(self) -> None:
        assert self.nodes is not None
        while True:
            if not self.queue:
                self._work.clear()
                await self._work.wait()
                continue
            job = self.queue.popleft()
            self.running = job
            self._abort_running.clear()
            started = time.time()
            await self.nodes.publish(state="Starting", current_job=job.id)
            await self.nodes.publish(state="Execute")
            try:
                await asyncio.wait_for(self._abort_running.wait(), job.duration_s * self.time_scale)
                ok, detail = False, "aborted while executing"
            except asyncio.TimeoutError:
                fail = job.params.get("fail")
                ok, detail = not fail, str(fail or "")
            await self.nodes.publish(state="Completing")
            await self._finish(job, ok, detail, started)
            self.running = None
            await self.nodes.publish(state="Complete", current_job="")
            await self.nodes.publish(state="Resetting")
            await self.nodes.publish(state="Idle")

    async def _finish(self, job: Queued, ok: bool, detail: str, started: float) -> None:
        assert self.nodes is not None and self.last_result is not None
        stored = Stored(job.id, ok, detail, started, time.time(), job.submission)
        if self.journal:
            with open(self.journal, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(stored)) + "\n")
                fh.flush()
                os.fsync(fh.fileno())  # a controller's memory survives its own crash
        self.done[job.id] = stored
        self.processed += ok
        self.defective += not ok
        await self.nodes.publish(processed=self.processed, defective=self.defective)
        await self.last_result.write_value(ua.Variant(self._stored_json(stored, job.submission), ua.VariantType.String))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def serve(args: argparse.Namespace) -> None:
    cell = CellServer(args.port or free_port(), args.unit, args.journal, args.time_scale)
    await cell.start()
    print(cell.endpoint, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await cell.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hardware.opcua.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--unit", default="Cell")
    parser.add_argument("--journal", default=None)
    parser.add_argument("--time-scale", type=float, default=1.0)
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
