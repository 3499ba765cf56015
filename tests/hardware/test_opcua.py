"""opcua:// against the OPC UA cell emulator (a real asyncua server on 127.0.0.1, in its own process): exactly
once through duplicates, a server killed with SIGKILL and restarted mid-run, timeouts and aborts."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from hardware.driver import CellJob, DriverError, DriverTimeout
from hardware.registry import driver_for_url
from tests.hardware.conftest import free_port, run_emulator


def jobs(n: int, prefix: str = "U", duration: float = 0.0) -> list[CellJob]:
    return [CellJob(f"{prefix}{i:05d}", "press-1", "press_fit", duration) for i in range(n)]


def url(endpoint: str, query: str = "") -> str:
    parts = urlsplit(endpoint)
    return f"opcua://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")


def executed(journal: str) -> list[str]:
    with open(journal, encoding="utf-8") as fh:
        return [json.loads(line)["id"] for line in fh]


def test_jobs_run_once_and_a_new_submission_of_an_id_is_a_duplicate(journal_path):
    async def scenario(endpoint: str) -> None:
        async with driver_for_url(url(endpoint)) as driver:
            assert driver.idempotent_job_ids  # the dispatcher may re-send after an unknown outcome
            results = await driver.execute_many(jobs(30), timeout=10)
            failed = await driver.execute(CellJob("F1", "press-1", "press_fit", 0, {"fail": "force out of range"}), timeout=10)
            status = await driver.status()
        async with driver_for_url(url(endpoint)) as again:  # a restarted dispatcher asks for the same ids
            repeated = await again.execute_many(jobs(30)[:5], timeout=10)
        assert all(r.ok and not r.duplicate for r in results)
        assert not failed.ok and failed.detail == "force out of range"
        assert all(r.duplicate and r.ok for r in repeated)
        assert status["processed"] == 30 and status["defective"] == 1 and status["packml_state"] == "Idle"

    with run_emulator("hardware.opcua.emulator", "--journal", journal_path, "--time-scale", "0.001") as endpoint:
        asyncio.run(scenario(endpoint))
    assert sorted(executed(journal_path)) == sorted([j.job_id for j in jobs(30)] + ["F1"])


def test_a_server_killed_and_restarted_mid_run_executes_every_job_exactly_once(journal_path):
    port = str(free_port())
    args = [sys.executable, "-m", "hardware.opcua.emulator", "--port", port, "--journal", journal_path, "--time-scale", "0.02"]

    def start() -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    async def scenario() -> tuple[list, int]:
        proc, endpoint = start()
        driver = driver_for_url(url(endpoint, "poll=0.2&reconnect_max=0.5"))
        try:
            await driver.connect()
            running = asyncio.ensure_future(driver.execute_many(jobs(60, "K", duration=0.5), timeout=120))
            while not os.path.exists(journal_path) or len(executed(journal_path)) < 10:
                await asyncio.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # mid-job: the running job never finished, the queue is lost
            proc.wait()
            await asyncio.sleep(0.5)
            proc, _ = start()
            outcomes = await running
            return outcomes, driver.reconnects
        finally:
            await driver.close()
            proc.terminate()
            proc.wait()

    outcomes, reconnects = asyncio.run(scenario())
    assert reconnects >= 1
    assert all(getattr(r, "ok", False) for r in outcomes), [r for r in outcomes if not getattr(r, "ok", False)][:3]
    assert not any(r.duplicate for r in outcomes)  # our own re-calls after the restart are not duplicates
    ids = executed(journal_path)
    assert sorted(ids) == [j.job_id for j in jobs(60, "K")] and len(ids) == len(set(ids))


def test_a_timeout_names_the_unit_state_and_abort_ends_the_job(journal_path):
    async def scenario(endpoint: str) -> None:
        async with driver_for_url(url(endpoint)) as driver:
            with pytest.raises(DriverTimeout, match=r"job LONG: no result within 0.300s \(unit state Execute\)"):
                await driver.execute(CellJob("LONG", "press-1", "burn_in", 3600), timeout=0.3)
            await driver.abort("LONG")
            result = await driver.execute(CellJob("LONG", "press-1", "burn_in", 3600), timeout=5)
            assert not result.ok and result.detail == "aborted while executing"
            assert (await driver.status())["current_job"] == ""

    with run_emulator("hardware.opcua.emulator", "--journal", journal_path, "--time-scale", "1") as endpoint:
        asyncio.run(scenario(endpoint))


def test_bad_urls_and_units_are_named():
    with pytest.raises(ValueError, match=r"query field 'units' unknown; valid: connect_timeout, poll, reconnect_max, unit"):
        driver_for_url("opcua://127.0.0.1:4840/gwf/?units=Cell")
    with pytest.raises(ValueError, match=r"query field poll='-1' invalid: must be > 0"):
        driver_for_url("opcua://127.0.0.1:4840/gwf/?poll=-1")
    with pytest.raises(ValueError, match=r"expected opcua://HOST:PORT/PATH"):
        driver_for_url("opcua:///gwf")

    async def scenario(endpoint: str) -> None:
        driver = driver_for_url(url(endpoint, "unit=Press9"))
        with pytest.raises(DriverError, match=r"cannot reach unit 'Press9'"):
            await driver.connect()

    with run_emulator("hardware.opcua.emulator") as endpoint:
        asyncio.run(scenario(endpoint))

