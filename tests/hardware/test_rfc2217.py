"""rfc2217:// against pyserial's own RFC 2217 server code (tests/hardware/rfc2217_server.py) on 127.0.0.1, in
front of the emulators' ptys: the same fault tests as serial:// (corrupt and dropped frames, unplugged
device, a timeout), plus the gateway itself killed and restarted mid-run. Exactly once throughout."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from typing import Iterator

import pytest

from hardware.driver import CellJob, DriverState, DriverTimeout
from hardware.registry import driver_for_url
from tests.hardware.conftest import free_port, journal_ids, run_emulator
from tests.hardware.test_cell_driver import check_exactly_once, jobs


@contextlib.contextmanager
def gateway(device: str, port: int = 0) -> Iterator[tuple[str, subprocess.Popen]]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.hardware.rfc2217_server", device, "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        yield address, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()



def test_jobs_through_corruption_drops_and_unplugging_run_exactly_once_over_rfc2217(journal_path):
    n, every = 300, 100

    async def scenario(address: str) -> dict:
        driver = driver_for_url(f"rfc2217://{address}?window=8&retry=0.1")
        await driver.connect()
        outcomes = await driver.execute_many(jobs(n), timeout=60)
        status = await driver.status()
        await driver.close()
        return {"outcomes": outcomes, "status": status, "reconnects": driver.reconnects}

    args = ["--journal", journal_path, "--corrupt", "0.01", "--drop", "0.01", "--seed", "3",
            "--disconnect-every", str(every), "--down", "0.05"]
    with run_emulator("hardware.cellproto.emulator", *args) as device, gateway(device) as (address, _):
        run = asyncio.run(scenario(address))
    check_exactly_once(run, journal_path, n, every)


def test_a_gateway_killed_and_restarted_mid_run_loses_and_repeats_nothing(journal_path):
    port = free_port()

    async def scenario(device: str) -> list:
        with gateway(device, port) as (address, proc):
            driver = driver_for_url(f"rfc2217://{address}?window=8&retry=0.1")
            await driver.connect()
            running = asyncio.ensure_future(driver.execute_many(jobs(200, "K", duration=0.01), timeout=60))
            while len(journal_ids(journal_path)) < 50:
                await asyncio.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        with gateway(device, port):
            outcomes = await running
            reconnects = driver.reconnects
            await driver.close()
        assert reconnects >= 1
        return outcomes

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path, "--time-scale", "0.1") as device:
        outcomes = asyncio.run(scenario(device))
    assert all(r.ok for r in outcomes) and not any(r.duplicate for r in outcomes)
    assert sorted(journal_ids(journal_path)) == [j.job_id for j in jobs(200, "K")]


def test_a_timeout_over_rfc2217_raises_and_the_link_recovers(journal_path):
    async def scenario(address: str) -> None:
        async with driver_for_url(f"rfc2217://{address}?retry=0.05") as driver:
            with pytest.raises(DriverTimeout, match="job SLOW got no result within the timeout"):
                await driver.execute(CellJob("SLOW", "cell-7", "burn_in", 3600), timeout=0.3)
            await driver.abort("SLOW")
            for _ in range(250):
                if driver.state is DriverState.RECOVERED:
                    break
                await asyncio.sleep(0.02)
            assert driver.state is DriverState.RECOVERED
            assert (await driver.execute(CellJob("FAST", "cell-7", "screw", 0), timeout=5)).ok

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path, "--time-scale", "1") as device, \
            gateway(device) as (address, _):
        asyncio.run(scenario(address))


def test_grbl_over_rfc2217_streams_and_a_reset_is_not_a_success():
    async def scenario(address: str) -> None:
        async with driver_for_url(f"grbl+rfc2217://{address}") as driver:
            assert (await driver.execute(CellJob("G1", "gantry", "move", 0, {"gcode": ["G1 X1 F60000"]}), timeout=30)).ok
            running = asyncio.ensure_future(driver.execute(CellJob("G2", "gantry", "move", 0, {"gcode": ["G1 X100 F600"]}), timeout=60))
            await asyncio.sleep(0.5)
            driver.soft_reset()
            assert not (await running).ok
            assert (await driver.status())["machine_state"] == "Alarm" and driver.alarm == 3

    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as device, gateway(device) as (address, _):
        asyncio.run(scenario(address))
