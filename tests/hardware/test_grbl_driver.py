"""The GRBL driver against the GRBL emulator on a pty, and its character counting against a scripted socket peer."""
from __future__ import annotations

import asyncio
import time

import pytest
import serial

from hardware.driver import CellJob, DriverError, DriverState, DriverTimeout, JobRejected
from hardware.grbl import protocol as g
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
            bad = await driver.execute(job("B1", ["G1 X5", "hello", "G5 X1", "G1 X1 Y1"]), timeout=5)
            status = await driver.status()
            longest = await driver.execute(job("L0", ["G4P" + "0" * 76]), timeout=5)  # 79 characters
            with pytest.raises(JobRejected, match=r"params.gcode\[0\] has 80 characters .*at most 79 \(its line buffer is 80 bytes"):
                await driver.execute(job("L1", ["G4P" + "0" * 77]), timeout=5)
        assert dwell.ok and moves.ok, moves.detail
        assert longest.ok
        assert not bad.ok
        assert "line 2 'HELLO': error:2" in bad.detail and "line 3 'G5X1': error:20" in bad.detail
        assert "line 4" not in bad.detail  # GRBL goes on after an error: the later line ran
        assert status["machine_state"] == "Idle" and status["parser_state"].startswith("G0 G54")  # as read by $G at connect
        assert status["mpos"] == (1.0, 1.0, 2.0)  # the last good move of B1 (Z stays from M1's last row: 61 % 3)

    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.001") as path:
        asyncio.run(scenario(path))


async def moving(driver: GrblDriver, job_id: str, seconds: float = 0.9) -> asyncio.Future:
    """Start a 100 mm move (12 s at $110) and wait until it runs at full speed."""
    running = asyncio.ensure_future(driver.execute(job(job_id, ["G1 X100 F600"]), timeout=60))
    await asyncio.sleep(seconds)
    return running


def test_a_reset_during_motion_is_never_a_success_even_with_the_late_ok():
    """GRBL prints `ok` for the sync line after ALARM:3 (protocol.c); the job still failed."""

    async def scenario(path: str) -> None:
        driver = driver_for_url(f"grbl+serial://{path}")
        assert isinstance(driver, GrblDriver)
        assert not driver.idempotent_job_ids  # GRBL has no job ids: a re-send would replay motion
        async with driver:
            running = await moving(driver, "R1")
            driver.soft_reset()
            result = await running
            assert not result.ok and "soft reset sent by the driver" in result.detail
            with pytest.raises(JobRejected, match=r"alarm 3 \(Reset while in motion.*unlock \(\$X\)"):
                await driver.execute(job("R2", ["G1 X1 F600"]), timeout=5)
            await driver.unlock()
            assert driver.alarm is None and "Caution: Unlocked" in driver.messages
            # A reset the driver did not send (a pendant, another program): ALARM:3 arrives, then the late `ok`.
            running = await moving(driver, "R3")
            driver._write(g.SOFT_RESET)
            result = await running
            assert not result.ok and "ALARM:3" in result.detail
            assert driver.counters["stray_replies"] == 0  # the late `ok` was matched to its (failed) line
            await driver.unlock()
            assert (await driver.execute(job("R4", ["G1 X1 F60000"]), timeout=30)).ok
            assert driver.state is DriverState.ACTIVE

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_abort_fails_the_job_and_stops_without_losing_position():
    async def scenario(path: str) -> None:
        async with driver_for_url(f"grbl+serial://{path}") as driver:
            running = await moving(driver, "A1")
            await driver.abort("A1")
            result = await running
            assert not result.ok and "aborted by the driver" in result.detail
            assert driver.alarm is None  # held to Hold:0 before the reset: no ALARM:3
            first = (await driver.status())["mpos"]
            await asyncio.sleep(0.3)
            assert (await driver.status())["mpos"] == first  # stopped
            assert (await driver.execute(job("A2", ["G1 X1 F60000"]), timeout=30)).ok

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_an_abort_whose_hold_does_not_settle_in_time_still_fails_the_job():
    async def scenario(path: str) -> None:
        async with driver_for_url(f"grbl+serial://{path}?stop_timeout=0.05") as driver:
            running = await moving(driver, "S1")
            await driver.abort("S1")  # resets while the hold is still decelerating: ALARM:3, then a late `ok`
            result = await running
            assert not result.ok
            assert driver.alarm == 3
            assert any("reset anyway" in m for m in driver.messages)

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_resume_waits_for_the_hold_to_settle():
    async def scenario(path: str) -> None:
        async with driver_for_url(f"grbl+serial://{path}") as driver:
            running = await moving(driver, "H1")
            driver.feed_hold()
            with pytest.raises(DriverTimeout, match=r"hold still decelerating \(Hold:1"):
                await driver.resume(timeout=0.1)
            report = await driver.resume(timeout=5)  # waits for Hold:0, then `~`
            assert report.state == "Run"
            await driver.abort()
            assert not (await running).ok
            nothing = await driver.resume(timeout=1)
            assert nothing.state == "Idle"  # nothing held: nothing sent

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_a_timeout_stops_the_machine_and_says_what_it_was_doing():
    async def scenario(path: str) -> None:
        async with driver_for_url(f"grbl+serial://{path}") as driver:
            with pytest.raises(DriverTimeout, match=r"machine was Run at MPos [0-9.]+,0.000,0.000; stopped with feed hold and soft reset"):
                await driver.execute(job("T1", ["G1 X100 F600"]), timeout=1.0)
            while driver.state is DriverState.FAULTED:
                await asyncio.sleep(0.05)
            first = await driver.status()
            await asyncio.sleep(0.3)
            second = await driver.status()
            assert first["machine_state"] == "Idle" and second["mpos"] == first["mpos"]  # not moving: a retry adds no motion
            assert driver.alarm is None  # stopped before the reset

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def raw(path: str, data: bytes, settle: float = 0.3) -> None:
    """Another program on the port before us: writes, waits, closes."""
    with serial.Serial(path, 115200, timeout=0.1) as port:
        port.write(data)
        time.sleep(settle)


def test_connect_recovers_a_held_controller_and_explains_an_alarmed_one():
    async def connect(path: str) -> GrblDriver:
        driver = driver_for_url(f"grbl+serial://{path}?connect_timeout=5")
        assert isinstance(driver, GrblDriver)
        await driver.connect()
        return driver

    async def held(path: str) -> None:
        raw(path, b"G1 X100 F600\n", settle=1.0)
        raw(path, b"!", settle=0.1)  # left in a feed hold: GRBL takes no lines until `~` or a reset
        driver = await connect(path)
        assert "Hold" in driver.connect_note and "cancelled it with a soft reset" in driver.connect_note
        assert driver.alarm is None and (await driver.status())["machine_state"] == "Idle"
        assert (await driver.execute(job("C1", ["G1 X1 F600"]), timeout=30)).ok
        await driver.close()

    async def alarmed(path: str) -> None:
        raw(path, b"G1 X100 F600\n", settle=0.5)
        raw(path, b"\x18", settle=0.1)  # reset while moving: ALARM:3 before we connect
        driver = await connect(path)
        assert "controller in Alarm" in driver.connect_note and "unlock() ($X)" in driver.connect_note
        assert (await driver.status())["connect_note"] == driver.connect_note
        with pytest.raises(JobRejected, match=r"alarm \(code not seen\); unlock"):
            await driver.execute(job("C2", ["G1 X1 F600"]), timeout=5)
        await driver.unlock()
        assert (await driver.execute(job("C3", ["G1 X1 F600"]), timeout=30)).ok
        await driver.close()

    async def checking(path: str) -> None:
        raw(path, b"$C\n")
        driver = await connect(path)
        assert "check mode" in driver.connect_note
        assert (await driver.status())["machine_state"] == "Idle"
        await driver.close()

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path:
        asyncio.run(held(path))
        asyncio.run(alarmed(path))
        asyncio.run(checking(path))


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
                if b"$I\n" in data:  # the driver asks which controller this is (report.c, report_build_info)
                    writer.write(b"[VER:1.1h.20190825:]\r\n[OPT:V,15,128]\r\nok\r\n")
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
        unanswered = len(received) - len(b"$G\n$I\n")
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
