"""Modbus RTU: our frames and CRC against the vendor's known-good bytes, and the gripper driver against pymodbus's server on a pty."""
from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.modbus import gripper as gr
from tests.hardware import modbus_rtu as rtu
from hardware.driver import CellJob, DriverError, DriverTimeout, JobRejected
from hardware.modbus.driver import ModbusGripperDriver
from hardware.registry import driver_for_url
from tests.hardware.conftest import run_emulator

ACTIVATE = bytes.fromhex("09 10 03 E8 00 03 06 00 00 00 00 00 00 73 30")
READ_STATUS = bytes.fromhex("09 03 07 D0 00 01 85 CF")
STATUS_REPLY = bytes.fromhex("09 03 02 31 00 4C 15")


def test_our_frames_equal_the_vendors_known_good_bytes():
    assert rtu.write_registers(9, gr.COMMAND_ADDRESS, gr.Command.clear().registers()) == ACTIVATE
    assert rtu.read_registers(9, gr.STATUS_ADDRESS, 1) == READ_STATUS
    registers = rtu.parse_read_reply(STATUS_REPLY, 9)
    status = gr.Status.from_registers(registers)
    assert registers == [0x3100] and status.ready and status.activated


@given(st.binary(min_size=2, max_size=64), st.integers(0, 63), st.integers(0, 7))
def test_crc_catches_every_single_bit_flip(body, pos, bit):
    frame = bytearray(rtu.with_crc(body))
    frame[pos % len(frame)] ^= 1 << bit
    with pytest.raises(ValueError, match="CRC"):
        rtu.check_crc(bytes(frame))


def test_frame_builders_name_the_bad_field():
    with pytest.raises(ValueError, match="unit: 0"):
        rtu.read_registers(0, 0x07D0, 1)
    with pytest.raises(ValueError, match="values"):
        rtu.write_registers(9, 0x03E8, [70000])
    with pytest.raises(ValueError, match="gripper force: 300"):
        gr.Command(activate=True, force=300)


@given(st.booleans(), st.booleans(), st.sampled_from([0, 1, 3]), st.sampled_from(gr.ObjectDetection), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_status_registers_round_trip(act, go, sta, obj, fault, pos, cur):
    status = gr.Status(act, go, sta, obj, fault, pos, pos, cur)
    assert gr.Status.from_registers(status.registers()) == status


def test_gripper_activates_grips_a_part_and_releases():
    async def scenario(path: str) -> None:
        driver = driver_for_url(f"modbus+serial://{path}?unit=9&baudrate=115200")
        assert isinstance(driver, ModbusGripperDriver)
        async with driver:
            # pymodbus put exactly the vendor's bytes on the wire for activation
            assert driver.tx_frames[0] == READ_STATUS and ACTIVATE in driver.tx_frames
            grip = await driver.execute(CellJob("G1", "gripper-3", "grip_tray", 1.0, {"position": 255, "expect_part": True}), timeout=5)
            release = await driver.execute(CellJob("G2", "gripper-3", "release", 1.0, {"position": 0, "speed": 128}), timeout=5)
            again = await driver.execute(CellJob("G3", "gripper-3", "release", 1.0, {"position": 0}), timeout=5)
            status = await driver.status()
            with pytest.raises(JobRejected, match=r"params.position=300; must be an integer 0..255"):
                await driver.execute(CellJob("G4", "gripper-3", "grip", 1.0, {"position": 300}), timeout=5)
        assert grip.ok and grip.detail == "part held at position 200"
        assert release.ok and release.detail == "at position 0, no part touched"
        assert again.ok
        assert status["gripper"] == "ready" and status["position"] == 0

    with run_emulator("hardware.modbus.emulator", "--time-scale", "0.05", "--object-at", "200") as path:
        asyncio.run(scenario(path))


def test_missing_part_fails_the_job_when_one_is_expected():
    async def scenario(path: str):
        async with driver_for_url(f"modbus+serial://{path}") as driver:
            return await driver.execute(CellJob("G1", "gripper-3", "grip_tray", 1.0, {"expect_part": True}), timeout=5)

    with run_emulator("hardware.modbus.emulator", "--time-scale", "0.05") as path:
        result = asyncio.run(scenario(path))
    assert not result.ok and result.detail == "at position 255, no part touched"


def test_a_silent_line_times_out_with_a_clear_message():
    master, slave = os.openpty()
    try:
        driver = driver_for_url(f"modbus+serial://{os.ttyname(slave)}?unit=17&connect_timeout=0.5")
        with pytest.raises(DriverTimeout, match=r"unit 17 did not answer status read \(FC03 0x07D0\) before the deadline"):
            asyncio.run(driver.connect())
    finally:
        os.close(master)
        os.close(slave)


def test_an_exception_reply_is_reported_not_retried():
    async def scenario(path: str) -> None:
        driver = driver_for_url(f"modbus+serial://{path}?unit=17&connect_timeout=2")
        # pymodbus's server answers an unknown id with exception 4 (a bus device would stay silent)
        with pytest.raises(DriverError, match=r"unit 17 refused status read \(FC03 0x07D0\): .*exception_code=4"):
            await driver.connect()
        await driver.close()

    with run_emulator("hardware.modbus.emulator") as path:
        asyncio.run(scenario(path))


def test_the_driver_reconnects_when_the_gripper_comes_back(tmp_path):
    link = str(tmp_path / "gripper")
    job = CellJob("R1", "gripper-3", "grip", 1.0, {"position": 100})

    async def scenario() -> None:
        with run_emulator("hardware.modbus.emulator", "--time-scale", "0.05", "--link", link):
            driver = driver_for_url(f"modbus+serial://{link}")
            await driver.connect()
            assert (await driver.execute(job, timeout=5)).ok
        # the device is gone (unplugged); it returns while the next job waits within its timeout
        returning = asyncio.get_running_loop().run_in_executor(None, restart_later, link)
        result = await driver.execute(CellJob("R2", "gripper-3", "grip", 1.0, {"position": 50}), timeout=10)
        await returning
        assert result.ok and result.detail == "at position 50, no part touched"
        assert driver.reconnects >= 1 and driver.state.value == "recovered"
        await driver.close()

    asyncio.run(scenario())


def restart_later(link: str) -> None:
    import time

    time.sleep(0.3)
    with run_emulator("hardware.modbus.emulator", "--time-scale", "0.05", "--link", link):
        time.sleep(1.0)
