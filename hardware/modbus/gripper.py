"""Register map of the widely used two-finger Modbus RTU gripper: commands in, status out, pure.

Layout (vendor manual, and the frames in shared/reference/controllers.md): three command
registers from 0x03E8 and three status registers from 0x07D0, each holding two bytes,
high byte first.
  command  0x03E8: action request (bit0 rACT activate, bit3 rGTO go to, bit4 rATR auto-release) | reserved
           0x03E9: reserved | position request rPR (0 open … 255 closed)
           0x03EA: speed rSP | force rFR
  status   0x07D0: gripper status (bit0 gACT, bit3 gGTO, bits4-5 gSTA, bits6-7 gOBJ) | reserved
           0x07D1: fault gFLT | position request echo gPR
           0x07D2: position gPO | motor current gCU
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

COMMAND_ADDRESS = 0x03E8
STATUS_ADDRESS = 0x07D0
REGISTERS = 3

ACT = 0x01
GTO = 0x08


class Activation(enum.IntEnum):  # gSTA
    RESET = 0
    IN_PROGRESS = 1
    COMPLETE = 3


class ObjectDetection(enum.IntEnum):  # gOBJ
    MOVING = 0
    CONTACT_OPENING = 1  # stopped by an object while opening
    CONTACT_CLOSING = 2  # stopped by an object while closing: a part is held
    AT_POSITION = 3  # reached the requested position, nothing in the way


@dataclass(frozen=True)
class Command:
    activate: bool
    go: bool = False
    position: int = 0
    speed: int = 255
    force: int = 150

    def __post_init__(self) -> None:
        for name in ("position", "speed", "force"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"gripper {name}: {value!r}; must be an integer 0..255")

    @classmethod
    def clear(cls) -> "Command":
        """All command registers zero: the first half of activation, and the vendor's "activate" frame."""
        return cls(activate=False, go=False, position=0, speed=0, force=0)

    def registers(self) -> list[int]:
        action = (ACT if self.activate else 0) | (GTO if self.go else 0)
        return [action << 8, self.position, (self.speed << 8) | self.force]

    @classmethod
    def from_registers(cls, registers: list[int]) -> "Command":
        action = registers[0] >> 8
        return cls(bool(action & ACT), bool(action & GTO), registers[1] & 0xFF, registers[2] >> 8, registers[2] & 0xFF)


@dataclass(frozen=True)
class Status:
    activated: bool
    going: bool
    activation: int  # gSTA raw: 0, 1 or 3 per Activation (2 is unused by the device)
    detection: ObjectDetection
    fault: int
    requested: int
    position: int
    current: int

    @property
    def ready(self) -> bool:
        return self.activation == Activation.COMPLETE

    def registers(self) -> list[int]:
        status = int(self.activated) | (GTO if self.going else 0) | (self.activation << 4) | (self.detection << 6)
        return [status << 8, (self.fault << 8) | self.requested, (self.position << 8) | self.current]

    @classmethod
    def from_registers(cls, registers: list[int]) -> "Status":
        if len(registers) < 1:
            raise ValueError("gripper status: no registers")
        registers = [*registers, 0, 0][:REGISTERS]
        status = registers[0] >> 8
        return cls(
            activated=bool(status & ACT),
            going=bool(status & GTO),
            activation=(status >> 4) & 0x3,
            detection=ObjectDetection((status >> 6) & 0x3),
            fault=registers[1] >> 8,
            requested=registers[1] & 0xFF,
            position=registers[2] >> 8,
            current=registers[2] & 0xFF,
        )
