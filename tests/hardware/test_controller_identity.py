"""After a reconnect a driver checks that it reached the controller it was talking to before:
a stale device path (a USB adapter re-enumerated, a pty number reused, a gateway port moved)
can lead to another controller, which must get nothing. Real emulators on real ptys (and an
OPC UA server on a TCP port): the first controller is SIGKILLed, the path is pointed at a second.
What each protocol offers to tell controllers apart:
- GRBL: `$I` (the VER line carries the build-info string `$I=` stores in EEPROM, set per machine);
- our protocol: no identity message in version 1, only STATUS's count of executed jobs, which
  never goes down on one controller (a fresh controller reports fewer);
- OPC UA: the server's ApplicationUri (ServerArray[0])."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from grbl_talk import Talk
from hardware.driver import CellJob, ControllerChanged, DriverError
from hardware.registry import driver_for_url
from conftest import emulator_process as emulator
from conftest import free_port, journal_ids


def point(link: Path, target: str) -> None:
    """Point the stable device path at `target`, atomically (as udev re-creates a by-id link)."""
    fresh = link.with_suffix(".new")
    os.symlink(os.path.realpath(target), fresh)
    os.replace(fresh, link)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def name_board(path: str, build_info: str) -> None:
    """Commissioning: store the machine's name in GRBL's EEPROM build info (`$I=…`, system.c; GRBL
    upper-cases every line it reads, protocol.c, so names are written upper-case)."""
    with serial.Serial(path, 115200, timeout=0.1) as port:
        talk = Talk(port)
        assert talk.reply(f"$I={build_info}") == "ok"
        assert any(build_info in line for line in talk.send("$I"))


async def refusal(driver, job: CellJob, tries: int = 3) -> ControllerChanged:
    """Send `job` as a dispatcher would until the driver refuses it: a job already on its way
    when the link died may end with the lost link (not replayed); the next must be refused."""
    for _ in range(tries):
        try:
            await driver.execute(job, timeout=20)
        except ControllerChanged as exc:
            return exc
        except DriverError as exc:
            assert "link lost" in str(exc) or "timed out" in str(exc) or "got no result" in str(exc), exc
            continue
        raise AssertionError(f"job {job.job_id} ran after a reconnect to another controller")
    raise AssertionError(f"job {job.job_id}: no refusal in {tries} tries")


def grbl_job(job_id: str, gcode: list[str]) -> CellJob:
    return CellJob(job_id, "gantry-1", "pick_place", 0.0, {"gcode": gcode})


def machine_position(path: str) -> str:
    with serial.Serial(path, 115200, timeout=0.1) as port:
        report = Talk(port).status()
    return report.split("MPos:", 1)[1].split("|", 1)[0]


def test_grbl_reconnected_to_another_board_sends_it_nothing(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM-gantry"
    with emulator("hardware.grbl.emulator", "--time-scale", "0.01") as (first, path_a), \
            emulator("hardware.grbl.emulator", "--time-scale", "0.01") as (_, path_b):
        name_board(path_a, "GANTRY-A")
        name_board(path_b, "GANTRY-B")
        point(link, path_a)

        async def scenario() -> tuple[str, str]:
            driver = driver_for_url(f"grbl+serial://{link}?reconnect_max=0.2")
            await driver.connect()
            try:
                assert "GANTRY-A" in (driver.identity or "")
                assert (await driver.execute(grbl_job("J1", ["G91", "G0 X1"]), timeout=10)).ok
                point(link, path_b)  # the stable path now leads to the other board
                kill(first)  # the first board's adapter is gone: the driver's reads fail, it reconnects
                refused = await refusal(driver, grbl_job("J2", ["G91", "G0 X5"]))
                with pytest.raises(ControllerChanged):  # and stays refused: nothing ever goes to it
                    await driver.execute(grbl_job("J3", ["G91", "G0 X5"]), timeout=10)
                return str(refused), driver.identity or ""
            finally:
                await driver.close()

        reason, identity = asyncio.run(scenario())
        assert "another controller" in reason and "GANTRY-B" in reason and "GANTRY-A" in reason
        assert len(reason.splitlines()) == 1 and "GANTRY-A" in identity
        assert machine_position(path_b) == "0.000,0.000,0.000"  # the second board never moved


def test_grbl_reconnected_to_the_same_board_goes_on(tmp_path: Path) -> None:
    # Every 9 answered lines the board's adapter drops (3 for naming it, 2 for each connect, 3 a job).
    with emulator("hardware.grbl.emulator", "--time-scale", "0.001", "--disconnect-every", "9", "--down", "0.1") as (_, path):
        name_board(path, "GANTRY-A")

        async def scenario() -> tuple[int, int]:
            ok = 0
            driver = driver_for_url(f"grbl+serial://{path}?reconnect_max=0.2")
            async with driver:
                for i in range(12):
                    try:
                        ok += (await driver.execute(grbl_job(f"S{i}", ["G91", "G1 X0.1 F60000"]), timeout=10)).ok
                    except ControllerChanged:
                        raise
                    except DriverError:  # a job cut by the lost link is not replayed (GRBL has no job ids)
                        await asyncio.sleep(0.3)
            return ok, driver.reconnects

        ok, reconnects = asyncio.run(scenario())
        assert reconnects >= 1 and ok >= 6


def cell_job(job_id: str) -> CellJob:
    return CellJob(job_id, "press-1", "press", 0.01)


def test_cell_protocol_reconnected_to_a_controller_with_a_shorter_record_sends_it_nothing(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-press"
    journal_a, journal_b = str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")
    with emulator("hardware.cellproto.emulator", "--journal", journal_a, "--time-scale", "0.01") as (first, path_a), \
            emulator("hardware.cellproto.emulator", "--journal", journal_b, "--time-scale", "0.01") as (_, path_b):
        point(link, path_a)

        async def scenario() -> str:
            driver = driver_for_url(f"serial://{link}?reconnect_max=0.2")
            await driver.connect()
            try:
                for i in range(3):
                    assert (await driver.execute(cell_job(f"P{i}"), timeout=10)).ok
                point(link, path_b)
                kill(first)
                # Re-sending is this protocol's whole repair: after the reconnect it must not reach B.
                return str(await refusal(driver, cell_job("P3")))
            finally:
                await driver.close()

        reason = asyncio.run(scenario())
        assert "fewer than the 3 seen before" in reason and len(reason.splitlines()) == 1
        time.sleep(0.2)
        assert not os.path.exists(journal_b) or journal_ids(journal_b) == []  # the second controller ran nothing
        assert journal_ids(journal_a) == ["P0", "P1", "P2"]


def test_opc_ua_server_replaced_on_the_same_port_gets_nothing(tmp_path: Path) -> None:
    port = str(free_port())
    journal_a, journal_b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    base = [sys.executable, "-m", "hardware.opcua.emulator", "--port", port, "--time-scale", "0.01"]

    def start(journal: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([*base, "--journal", journal], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    async def scenario() -> tuple[str, str]:
        proc, endpoint = start(journal_a)
        driver = driver_for_url(f"opcua://{endpoint.removeprefix('opc.tcp://')}?poll=0.2&reconnect_max=0.2")
        try:
            await driver.connect()
            first = driver.identity or ""
            assert (await driver.execute(cell_job("U1"), timeout=20)).ok
            kill(proc)
            proc, _ = start(journal_b)  # another controller (its own journal, its own ApplicationUri) on the port
            return str(await refusal(driver, cell_job("U2"))), first
        finally:
            await driver.close()
            proc.terminate()
            proc.wait()

    reason, first = asyncio.run(scenario())
    assert first.startswith("urn:gwfactory:cell-emulator:") and first in reason and len(reason.splitlines()) == 1
    assert not os.path.exists(journal_b)  # the second server ran nothing
