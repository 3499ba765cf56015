"""A two-finger Modbus RTU gripper on a pty: pymodbus's serial server plus a model of how the gripper moves.

    python -m hardware.modbus.emulator [--unit 9] [--baud 115200] [--time-scale X] [--object-at POS]

Prints the device path (for `modbus+serial://PATH?unit=9`) on its first line. pymodbus's server
opens its port by path, so it sits on one end of a PtyBridge and the driver opens the other.
The model: activation takes ACTIVATION_S; fingers travel the full 0-255 stroke in
STROKE_S at full speed (slower in proportion to rSP); with `--object-at P`, closing past P
stops at P with gOBJ=2 (a part is held). Times are multiplied by `--time-scale`.
"""
from __future__ import annotations

import argparse
import asyncio
import time

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hardware.modbus import gripper as gr
from hardware.pty_port import PtyBridge, announce_and_wait, device_path

# Orders of magnitude of the vendor's datasheet (85 mm stroke, 20-150 mm/s; activation ~ seconds),
# kept here because they shape only the emulator's timing, not any decision of the driver.
ACTIVATION_S = 1.0
STROKE_S = 0.6


class GripperModel:
    """Where the fingers are at a given moment, given the last command."""

    def __init__(self, time_scale: float, object_at: int | None) -> None:
        self.time_scale = time_scale
        self.object_at = object_at
        self.command = gr.Command(activate=False)
        self.activated_at: float | None = None
        self.move_from, self.move_to, self.move_start, self.move_seconds = 0, 0, 0.0, 0.0

    def on_command(self, command: gr.Command, now: float) -> None:
        if command.activate and not self.command.activate:
            self.activated_at = now + ACTIVATION_S * self.time_scale
        if not command.activate:
            self.activated_at = None
        if command.activate and command.go and (not self.command.go or command.position != self.command.position):
            self.move_from = self.position(now)
            self.move_to = self._stop_point(self.move_from, command.position)
            self.move_start = max(now, self.activated_at or now)
            speed = max(command.speed, 1) / 255
            self.move_seconds = abs(self.move_to - self.move_from) / 255 * STROKE_S / speed * self.time_scale
        self.command = command

    def _stop_point(self, start: int, target: int) -> int:
        if self.object_at is not None and start < self.object_at < target:
            return self.object_at
        return target

    def position(self, now: float) -> int:
        if self.move_seconds <= 0:
            return self.move_to
        done = min(1.0, max(0.0, (now - self.move_start) / self.move_seconds))
        return round(self.move_from + (self.move_to - self.move_from) * done)

    def status(self, now: float) -> gr.Status:
        ready = self.activated_at is not None and now >= self.activated_at
        activation = gr.Activation.COMPLETE if ready else (gr.Activation.IN_PROGRESS if self.command.activate else gr.Activation.RESET)
        position = self.position(now)
        if not (ready and self.command.go):
            detection = gr.ObjectDetection.MOVING
        elif now < self.move_start + self.move_seconds:
            detection = gr.ObjectDetection.MOVING
        elif self.move_to != self.command.position:
            closing = self.command.position > self.move_from
            detection = gr.ObjectDetection.CONTACT_CLOSING if closing else gr.ObjectDetection.CONTACT_OPENING
        else:
            detection = gr.ObjectDetection.AT_POSITION
        return gr.Status(self.command.activate, self.command.go, activation, detection, 0, self.command.position, position, 0)


def gripper_device(unit: int, model: GripperModel) -> SimDevice:
    async def action(function_code, start_address, address, count, registers, set_values):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if function_code == 16 and address == gr.COMMAND_ADDRESS and set_values is not None and len(set_values) == gr.REGISTERS:
            model.on_command(gr.Command.from_registers(list(set_values)), now)
        status_at = gr.STATUS_ADDRESS - start_address
        registers[status_at : status_at + gr.REGISTERS] = model.status(now).registers()
        return None

    blocks = [
        SimData(gr.COMMAND_ADDRESS, count=gr.REGISTERS, values=0, datatype=DataType.REGISTERS),
        SimData(gr.STATUS_ADDRESS, count=gr.REGISTERS, values=0, datatype=DataType.REGISTERS),
    ]
    return SimDevice(id=unit, simdata=blocks, action=action)


async def serve(args: argparse.Namespace) -> None:
    host_path = device_path(args.link, "gripper")
    bridge = PtyBridge(f"{host_path}.device-side", host_path, args.baud)
    bridge.open()
    model = GripperModel(args.time_scale, args.object_at)
    server = ModbusSerialServer(
        gripper_device(args.unit, model), framer=FramerType.RTU, port=bridge.device.path, baudrate=args.baud
    )
    task = asyncio.create_task(server.serve_forever())

    async def cleanup() -> None:
        await server.shutdown()
        task.cancel()
        bridge.close()

    await announce_and_wait(host_path, cleanup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hardware.modbus.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--unit", type=int, default=9)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--object-at", type=int, default=None, help="finger position where a part stops the closing")
    parser.add_argument("--link", default=None)
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
