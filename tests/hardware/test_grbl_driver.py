"""The GRBL driver against the GRBL emulator on a pty, and its character counting against a scripted socket peer."""
from __future__ import annotations

import asyncio

import pytest

from hardware.driver import CellJob, DriverError, DriverState, JobRejected
from hardware.grbl.driver import GrblDriver
from hardware.registry import driver_for_url
from tests.hardware.conftest import run_emulator


def job(job_id: str, gcode: list[str] | None = None, duration: float = 0.0) -> CellJob:
    return CellJob(job_id, "gantry-2", "pick_place", duration, {"gcode": gcode} if gcode is not None else {})


def test_programs_stream_through_the_128_byte_buffer_and_errors_name_the_line():
    program = ["G21 G90 (mm, absolute)", "G1 X10 Y10 F60000"] + [f"G1 X{i % 13}.5 Y{i % 7}.25 Z{i % 3} ; row {i}" for i in range(60)]

    async def scenario(path: str) -> None:
        driver = driver_for_url(f"grbl+serial://{path}?time_scale=0.01")
        async with driver:
            dwell = await driver.execute(job("D1", duration=1.0), timeout=5)
            moves = await driver.execute(job("M1", program), timeout=20)
            bad = await driver.execute(job("B1", ["G1 X5", "hello", "G38.2 Z1", "G1 X1 Y1"]), timeout=5)
            status = await driver.status()
            with pytest.raises(JobRejected, match=r"params.gcode\[0\] has 81 characters"):
                await driver.execute(job("L1", ["G1X" + "1" * 78]), timeout=5)
        assert dwell.ok and moves.ok, moves.detail
        assert not bad.ok
        assert "line 2 'HELLO': error:2" in bad.detail and "line 3 'G38.2Z1': error:20" in bad.detail
        assert "line 4" not in bad.detail  # GRBL goes on after an error: the later line ran
        assert status["machine_state"] == "Idle" and status["parser_state"].startswith("G0 G54")
        assert status["mpos"] == (1.0, 1.0, 2.0)  # the last good move of B1 (Z stays from M1's last row: 61 % 3)

    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.001") as path:
        asyncio.run(scenario(path))


def test_feed_hold_resume_and_reset_alarm_unlock():
    slow = ["G1 X100 F600"]  # 10 s of emulated motion at --time-scale 1

    async def scenario(path: str) -> None:
        driver = driver_for_url(f"grbl+serial://{path}")
        assert isinstance(driver, GrblDriver)
        async with driver:
            running = asyncio.ensure_future(driver.execute(job("H1", slow), timeout=30))
            await asyncio.sleep(0.3)
            driver.feed_hold()
            await asyncio.sleep(0.1)
            held = await driver.status()
            assert held["machine_state"] == "Hold" and held["substate"] == 0
            driver.resume()
            await asyncio.sleep(0.3)
            driver.soft_reset()  # while moving: GRBL loses position and locks
            result = await running
            assert not result.ok and "controller reset (ALARM:3" in result.detail
            with pytest.raises(JobRejected, match=r"alarm 3; unlock \(\$X\)"):
                await driver.execute(job("H2", ["G1 X1 F600"]), timeout=5)
            await driver.unlock()
            assert driver.alarm is None and "Caution: Unlocked" in driver.messages
            after = await driver.execute(job("H3", ["G1 X1 F60000"]), timeout=5)
            assert after.ok
            assert driver.state is DriverState.ACTIVE

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_abort_stops_without_losing_position():
    async def scenario(path: str) -> None:
        async with driver_for_url(f"grbl+serial://{path}") as driver:
            running = asyncio.ensure_future(driver.execute(job("A1", ["G1 X100 F600"]), timeout=30))
            await asyncio.sleep(0.2)
            await driver.abort("A1")
            result = await running
            assert not result.ok and result.detail.startswith("controller reset at line")
            assert driver.alarm is None  # held before the reset: no ALARM:3
            assert (await driver.execute(job("A2", ["G1 X1 F60000"]), timeout=5)).ok

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_reconnect_rereads_state_and_never_replays_moves():
    async def scenario(path: str) -> tuple[int, int, int]:
        driver = driver_for_url(f"grbl+serial://{path}?time_scale=0.001")
        ok = lost = 0
        async with driver:
            for i in range(12):
                try:
                    result = await driver.execute(job(f"R{i}", [f"G1 X{i} F60000", f"G1 Y{i}"]), timeout=5)
                    ok += result.ok
                except DriverError as exc:
                    assert "not replayed" in str(exc)
                    lost += 1
                    while driver.state is DriverState.FAULTED:
                        await asyncio.sleep(0.05)
            assert driver.parser_state.startswith("G1 ")  # $G re-read after the reconnect shows the last modal motion
        return ok, lost, driver.reconnects

    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.01", "--disconnect-every", "7", "--down", "0.1") as path:
        ok, lost, reconnects = asyncio.run(scenario(path))
    assert reconnects >= 2 and lost >= 1 and ok + lost == 12


def test_character_counting_never_overfills_the_receive_buffer():
    """A scripted peer on socket:// withholds `ok` and records what arrives: at most 126 bytes unanswered."""

    async def scenario() -> None:
        received = bytearray()
        answer = asyncio.Event()

        async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            answered = 0
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(4096), 0.02)
                except asyncio.TimeoutError:
                    data = b" "  # nothing new: still answer what is due once `answer` is set
                if not data:
                    return
                if b"?" in data:
                    writer.write(b"<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n")
                data = data.replace(b"?", b"").replace(b" ", b"")
                received.extend(data)
                if b"$G\n" in data:
                    writer.write(b"[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]\r\nok\r\n")
                    answered += 1
                if answer.is_set():
                    lines = received.count(b"\n")
                    writer.write(b"ok\r\n" * (lines - answered))
                    answered = lines
                await writer.drain()

        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        driver = driver_for_url(f"grbl+socket://127.0.0.1:{port}")
        await driver.connect()
        lines = [f"G1 X{i}.000 Y{i}.000 F1000" for i in range(20)]  # 20 lines of ~22 bytes: 440 bytes
        running = asyncio.ensure_future(driver.execute(job("S1", lines), timeout=10))
        await asyncio.sleep(0.3)
        unanswered = len(received) - len(b"$G\n")
        assert 100 < unanswered < g_rx_limit()
        answer.set()
        result = await running
        assert result.ok
        await driver.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def g_rx_limit() -> int:
    from hardware.grbl.protocol import RX_BUFFER_SIZE

    return RX_BUFFER_SIZE - 1
