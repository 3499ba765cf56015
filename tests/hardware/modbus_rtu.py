"""Modbus RTU frames and CRC-16/MODBUS, pure: the bytes a request must have, to check pymodbus and devices against.

The driver talks through pymodbus; this module exists so that the wire bytes are pinned by
our own independent encoder, and tests compare both with the known-good frames a gripper
vendor publishes (docs: shared/reference/controllers.md).
"""
from __future__ import annotations

import struct

READ_HOLDING_REGISTERS = 0x03
READ_INPUT_REGISTERS = 0x04
WRITE_MULTIPLE_REGISTERS = 0x10


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1  # 0xA001: 0x8005 reflected
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(pdu: bytes) -> bytes:
    """Append the CRC low byte first, as RTU sends it."""
    return pdu + struct.pack("<H", crc16_modbus(pdu))


def check_crc(frame: bytes) -> bytes:
    """The frame without its CRC; ValueError if the CRC does not match."""
    if len(frame) < 4:
        raise ValueError(f"rtu frame: {len(frame)} bytes, at least 4 (id, function, crc) needed")
    body, crc = frame[:-2], struct.unpack("<H", frame[-2:])[0]
    if crc16_modbus(body) != crc:
        raise ValueError(f"rtu frame: CRC {crc:#06x} does not match computed {crc16_modbus(body):#06x}")
    return body


def _check(unit: int, address: int, count: int, limit: int) -> None:
    if not 1 <= unit <= 247:
        raise ValueError(f"unit: {unit}; Modbus device ids run 1..247")
    if not 0 <= address <= 0xFFFF:
        raise ValueError(f"address: {address:#x}; must fit 16 bits")
    if not 1 <= count <= limit:
        raise ValueError(f"count: {count}; must be 1..{limit}")


def read_registers(unit: int, address: int, count: int, function: int = READ_HOLDING_REGISTERS) -> bytes:
    _check(unit, address, count, 125)
    return with_crc(struct.pack(">BBHH", unit, function, address, count))


def write_registers(unit: int, address: int, values: list[int]) -> bytes:
    _check(unit, address, len(values), 123)
    if any(not 0 <= v <= 0xFFFF for v in values):
        raise ValueError(f"values: {values}; each register holds 0..65535")
    head = struct.pack(">BBHHB", unit, WRITE_MULTIPLE_REGISTERS, address, len(values), 2 * len(values))
    return with_crc(head + struct.pack(f">{len(values)}H", *values))


def parse_read_reply(frame: bytes, unit: int, function: int = READ_HOLDING_REGISTERS) -> list[int]:
    """Register values from a read reply, after checking CRC, id, function and byte count."""
    body = check_crc(frame)
    if body[0] != unit or body[1] != function:
        raise ValueError(f"rtu reply: id {body[0]} function {body[1]:#04x}, expected id {unit} function {function:#04x}")
    if len(body) < 3 or body[2] != len(body) - 3 or body[2] % 2:
        raise ValueError(f"rtu reply: byte count {body[2] if len(body) > 2 else None} does not match {len(body) - 3} data bytes")
    return list(struct.unpack(f">{body[2] // 2}H", body[3:]))
