"""`modbus+serial://PATH?unit=9&baudrate=115200`: register-mapped Modbus RTU devices, here the two-finger gripper, via pymodbus.

A CellJob is one gripper move: `params` `position` (0 open … 255 closed, default 255),
`speed`, `force` (0..255) and `expect_part` (true: reaching the position without touching
a part is a failed job). The move is written with FC16 to 0x03E8 and followed with FC04
reads from 0x07D0 until the fingers stop. A move to an absolute position is idempotent, so
unlike GRBL a request cut off by a lost link is simply sent again after the reconnect.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from hardware.modbus import gripper as gr
from hardware.backoff import Backoff
from hardware.driver import CellJob, Driver, DriverError, DriverState, DriverTimeout, JobRejected, JobResult
from hardware.link import parse_endpoint
from hardware.link_driver import _positive
from hardware.registry import register

REQUEST_TIMEOUT_S = 0.3  # one transaction; a gripper answers within a few ms at 115200 baud


def _unit(value: str) -> int:
    unit = int(value)
    if not 1 <= unit <= 247:
        raise ValueError("Modbus device ids run 1..247")
    return unit


def _byte_param(job: CellJob, name: str, default: int) -> int:
    value = job.params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise JobRejected(f"job {job.job_id}: params.{name}={value!r}; must be an integer 0..255")
    return value


@register("modbus+serial")
class ModbusGripperDriver(Driver):
    idempotent_job_ids = True  # a move to an absolute position: repeating it lands in the same place
    OPTIONS = {
        "unit": _unit,
        "poll": _positive(float),  # seconds between status reads while the fingers move
        "connect_timeout": _positive(float),  # for opening and for activation, which takes seconds on the device
        "reconnect_max": _positive(float),
    }
    DEFAULTS: dict[str, Any] = {"unit": 9, "poll": 0.01, "connect_timeout": 10.0, "reconnect_max": 2.0}

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.endpoint = parse_endpoint(url, self.OPTIONS)
        self.settings = {**self.DEFAULTS, **self.endpoint.options, **options}
        self.unit: int = self.settings["unit"]
        self.last_status: gr.Status | None = None
        self.reconnects = 0
        self._client: AsyncModbusSerialClient | None = None
        self._last_command: gr.Command | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on an RTU line
        self.tx_frames: list[bytes] = []  # the last few frames sent, for diagnostics and wire tests

    # --- transport ---------------------------------------------------------------------

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self.tx_frames = [*self.tx_frames[-15:], bytes(data)]
        return data

    async def _open(self) -> None:
        settings = {k: v for k, v in self.endpoint.settings.items() if k in ("baudrate", "bytesize", "parity", "stopbits")}
        client = AsyncModbusSerialClient(
            self.endpoint.port_url,
            **{"baudrate": self.endpoint.baudrate, **settings},
            timeout=REQUEST_TIMEOUT_S,
            retries=0,  # retries are ours, so that every one is bounded by the job's deadline
            reconnect_delay=0,  # reconnects are ours too, with backoff and a state change
            trace_packet=self._trace,
        )
        if not await client.connect():
            client.close()
            raise DriverError(f"{self.url}: cannot open {self.endpoint.port_url}")
        self._client = client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _transaction(self, what: str, call: Callable[[AsyncModbusSerialClient], Awaitable[Any]], deadline: float) -> Any:
        """One request, repeated (reopening the port with backoff) until it is answered or `deadline` passes."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(cap=self.settings["reconnect_max"])
        last = "no attempt"
        async with self._lock:
            while loop.time() < deadline:
                try:
                    if self._client is None:
                        await self._open()
                        self.reconnects += 1
                        if self.state is DriverState.FAULTED:
                            self.state = DriverState.RECOVERED
                    reply = await asyncio.wait_for(call(self._client), max(0.001, deadline - loop.time()))  # type: ignore[arg-type]
                except (ModbusException, DriverError, OSError, asyncio.TimeoutError) as exc:
                    last = str(exc) or type(exc).__name__
                    if self.state in (DriverState.ACTIVE, DriverState.RECOVERED):
                        self.state = DriverState.FAULTED  # until the reopened port answers
                    self._drop()
                    await backoff.sleep(deadline)
                    continue
                if reply.isError():
                    raise DriverError(f"{self.url}: unit {self.unit} refused {what}: {reply}")
                return reply
        raise DriverTimeout(f"{self.url}: unit {self.unit} did not answer {what} before the deadline (last error: {last})")

    async def _read_status(self, deadline: float, count: int = gr.REGISTERS) -> gr.Status:
        reply = await self._transaction(
            "status read (FC04 0x07D0)",
            lambda c: c.read_input_registers(gr.STATUS_ADDRESS, count=count, device_id=self.unit),
            deadline,
        )
        self.last_status = gr.Status.from_registers(reply.registers)
        return self.last_status

    async def _write_command(self, command: gr.Command, deadline: float) -> None:
        await self._transaction(
            "command write (FC16 0x03E8)",
            lambda c: c.write_registers(gr.COMMAND_ADDRESS, command.registers(), device_id=self.unit),
            deadline,
        )
        self._last_command = command

    # --- lifecycle ---------------------------------------------------------------------

    def _accepting(self) -> bool:
        # Every transaction reopens the port itself when needed, so a faulted gripper driver may still try.
        return super()._accepting() or self.state is DriverState.FAULTED

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings["connect_timeout"]
        await self._open()
        # FC03 of one register: the vendor's documented "read status" frame, 09 03 07 D0 00 01 85 CF.
        reply = await self._transaction(
            "status read (FC03 0x07D0)",
            lambda c: c.read_holding_registers(gr.STATUS_ADDRESS, count=1, device_id=self.unit),
            deadline,
        )
        if gr.Status.from_registers(reply.registers).ready:
            return
        # Activation: clear the request (the vendor's "activate" frame of zeros), then set rACT and wait.
        await self._write_command(gr.Command.clear(), deadline)
        await self._write_command(gr.Command(activate=True), deadline)
        while not (await self._read_status(deadline)).ready:
            await asyncio.sleep(self.settings["poll"])

    async def _close(self) -> None:
        self._drop()

    async def _execute(self, job: CellJob, timeout: float) -> JobResult:
        command = gr.Command(
            activate=True,
            go=True,
            position=_byte_param(job, "position", 255),
            speed=_byte_param(job, "speed", 255),
            force=_byte_param(job, "force", 150),
        )
        deadline = asyncio.get_running_loop().time() + timeout
        started = time.time()
        last = self._last_command
        if last is not None and last.go and last.position == command.position:
            # The gripper starts a move on a change of request; clear rGTO so the same target moves again.
            await self._write_command(gr.Command(activate=True, go=False, position=command.position), deadline)
        await self._write_command(command, deadline)
        while True:
            status = await self._read_status(deadline)
            if status.fault:
                return JobResult(job.job_id, False, f"gripper fault {status.fault:#04x}", started, time.time())
            if status.requested == command.position and status.detection is not gr.ObjectDetection.MOVING:
                break
            await asyncio.sleep(self.settings["poll"])
        holding = status.detection in (gr.ObjectDetection.CONTACT_CLOSING, gr.ObjectDetection.CONTACT_OPENING)
        detail = f"part held at position {status.position}" if holding else f"at position {status.position}, no part touched"
        ok = holding or not job.params.get("expect_part", False)
        return JobResult(job.job_id, ok, detail, started, time.time())

    async def _status(self) -> dict[str, Any]:
        try:
            status = await self._read_status(asyncio.get_running_loop().time() + 1.0)
        except DriverError as exc:
            return {"gripper": "unreachable", "error": str(exc), "reconnects": self.reconnects}
        return {
            "gripper": "ready" if status.ready else "not activated",
            "position": status.position,
            "requested": status.requested,
            "detection": status.detection.name.lower(),
            "fault": status.fault,
            "reconnects": self.reconnects,
        }

    async def _heartbeat(self) -> bool:
        try:
            await self._read_status(asyncio.get_running_loop().time() + 1.0, count=1)
        except DriverError:
            return False
        return True

    async def _abort(self, job_id: str | None) -> None:
        """Clearing rGTO stops the fingers where they are."""
        position = self.last_status.position if self.last_status else 0
        await self._write_command(gr.Command(activate=True, go=False, position=position), asyncio.get_running_loop().time() + 1.0)
