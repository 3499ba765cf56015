"""Our protocol driver against the emulator on a real pty: results, duplicates, faults, timeouts, reconnects."""
from __future__ import annotations

import asyncio
import collections
import os

import pytest

from hardware.driver import CellJob, DriverError, DriverState, DriverTimeout, JobRejected
from hardware.registry import driver_for_url
from tests.hardware.conftest import journal_ids, run_emulator


def jobs(n: int, prefix: str = "J", duration: float = 0.0) -> list[CellJob]:
    return [CellJob(f"{prefix}{i:06d}", "cell-7", "insert_tray", duration) for i in range(n)]


def test_jobs_run_once_and_a_resent_id_is_answered_as_duplicate(journal_path):
    async def scenario(path: str) -> None:
        driver = driver_for_url(f"serial://{path}?baudrate=115200&window=4")
        async with driver:
            first = await driver.execute(CellJob("A1", "cell-7", "screw", 0.01), timeout=5)
            again = await driver.execute(CellJob("A1", "cell-7", "screw", 0.01), timeout=5)
            failed = await driver.execute(CellJob("A2", "cell-7", "screw", 0.0, {"fail": "torque out of range"}), timeout=5)
            status = await driver.status()
        assert first.ok and not first.duplicate
        assert again.ok and again.duplicate and again.started_at == first.started_at
        assert not failed.ok and failed.detail == "torque out of range"
        assert status["controller_state"] == "idle" and status["executed"] == 2
        assert driver.state is DriverState.CLOSED

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path, "--time-scale", "0.1") as path:
        asyncio.run(scenario(path))
    assert journal_ids(journal_path) == ["A1", "A2"]


def test_a_restarted_controller_still_recognises_journaled_ids(journal_path):
    async def run(path: str, batch: list[CellJob]) -> list:
        async with driver_for_url(f"serial://{path}") as driver:
            return await driver.execute_many(batch, timeout=10)

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path) as path:
        first = asyncio.run(run(path, jobs(20)))
    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path) as path:
        second = asyncio.run(run(path, jobs(25)))
    assert all(r.ok and not r.duplicate for r in first)
    assert [r.duplicate for r in second] == [True] * 20 + [False] * 5
    assert sorted(journal_ids(journal_path)) == [j.job_id for j in jobs(25)]


def faulty_run(journal_path: str, n: int, disconnect_every: int, seed: int) -> dict:
    async def scenario(path: str) -> dict:
        driver = driver_for_url(f"serial://{path}?window=8&retry=0.1")
        await driver.connect()
        outcomes = await driver.execute_many(jobs(n), timeout=60)
        status = await driver.status()
        await driver.close()
        return {"outcomes": outcomes, "status": status, "reconnects": driver.reconnects}

    args = ["--journal", journal_path, "--corrupt", "0.01", "--drop", "0.01", "--seed", str(seed),
            "--disconnect-every", str(disconnect_every), "--down", "0.05"]
    with run_emulator("hardware.cellproto.emulator", *args) as path:
        return asyncio.run(scenario(path))


def check_exactly_once(run: dict, journal_path: str, n: int, disconnect_every: int) -> None:
    assert all(getattr(r, "ok", False) for r in run["outcomes"]), [r for r in run["outcomes"] if not getattr(r, "ok", False)][:3]
    # Every id was asked for once: our own re-sends after lost frames must not come back as duplicates.
    assert not any(r.duplicate for r in run["outcomes"])
    counts = collections.Counter(journal_ids(journal_path))
    assert set(counts) == {j.job_id for j in jobs(n)}
    assert max(counts.values()) == 1
    assert run["reconnects"] >= n // disconnect_every - 1  # the emulator really went away and came back
    assert run["status"]["resent"] > 0  # the faults really happened and were repaired


def test_500_jobs_through_corruption_drops_and_disconnects_run_exactly_once(journal_path):
    run = faulty_run(journal_path, 500, disconnect_every=150, seed=1)
    check_exactly_once(run, journal_path, 500, 150)


@pytest.mark.slow
def test_10000_jobs_through_corruption_drops_and_disconnects_run_exactly_once(journal_path):
    run = faulty_run(journal_path, 10_000, disconnect_every=300, seed=2)
    check_exactly_once(run, journal_path, 10_000, 300)


def test_a_job_longer_than_its_timeout_raises_driver_timeout_and_the_link_recovers(journal_path):
    async def scenario(path: str) -> None:
        async with driver_for_url(f"serial://{path}?retry=0.05") as driver:
            with pytest.raises(DriverTimeout, match=r"job SLOW got no result within the timeout \(accepted, no result"):
                await driver.execute(CellJob("SLOW", "cell-7", "burn_in", 3600), timeout=0.3)
            assert driver.state in (DriverState.FAULTED, DriverState.RECOVERED)
            await driver.abort("SLOW")
            for _ in range(250):  # recovery checks the link with a heartbeat, without reopening it
                if driver.state is DriverState.RECOVERED:
                    break
                await asyncio.sleep(0.02)
            assert driver.state is DriverState.RECOVERED and driver.reconnects == 0
            while (await driver.status())["controller_state"] != "idle":  # the abort has reached the controller,
                await asyncio.sleep(0.02)  # and its RESULT for the first SLOW, sent before the STATUS, is in
            retried = await driver.execute(CellJob("SLOW", "cell-7", "burn_in", 0), timeout=5)
            assert retried.duplicate and not retried.ok and "aborted" in retried.detail

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path, "--time-scale", "1") as path:
        asyncio.run(scenario(path))


def test_abort_drops_queued_jobs():
    async def scenario(path: str) -> list:
        async with driver_for_url(f"serial://{path}") as driver:
            running = asyncio.ensure_future(driver.execute_many(jobs(4, "Q", duration=10), timeout=10))
            while (await driver.status())["queued"] < 3:  # one running, three waiting
                await asyncio.sleep(0.02)
            await driver.abort()
            return await running

    with run_emulator("hardware.cellproto.emulator", "--time-scale", "1") as path:
        outcomes = asyncio.run(scenario(path))
    assert [r.ok for r in outcomes] == [False] * 4
    assert outcomes[0].detail == "aborted while executing" and outcomes[-1].detail == "aborted before start"


def test_connect_to_a_silent_port_fails_with_a_clear_error():
    master, slave = os.openpty()
    try:
        driver = driver_for_url(f"serial://{os.ttyname(slave)}?connect_timeout=0.2")
        with pytest.raises(DriverError, match="no STATUS answer within 0.2s"):
            asyncio.run(driver.connect())
        assert driver.state is DriverState.FAULTED
    finally:
        os.close(master)
        os.close(slave)


def test_bad_jobs_and_urls_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="query field 'windw' unknown; valid: .*window"):
        driver_for_url("serial:///dev/ttyUSB0?windw=4")
    with pytest.raises(ValueError, match="parity='X' invalid: expected one of N, E, O, M, S"):
        driver_for_url("serial:///dev/ttyUSB0?parity=X")
    with pytest.raises(ValueError, match="unknown scheme 'seriall'"):
        driver_for_url("seriall:///dev/ttyUSB0")

    async def scenario(path: str) -> None:
        async with driver_for_url(f"serial://{path}") as driver:
            with pytest.raises(JobRejected, match="duration_s=-1"):
                await driver.execute(CellJob("N1", "cell-7", "screw", -1), timeout=1)
            with pytest.raises(JobRejected, match="job_id: 300 bytes"):
                await driver.execute(CellJob("x" * 300, "cell-7", "screw", 0), timeout=1)
            assert driver.state is DriverState.ACTIVE  # a refused job is not a link fault

    with run_emulator("hardware.cellproto.emulator") as path:
        asyncio.run(scenario(path))


def test_socket_transport_through_a_serial_gateway(journal_path):
    """socket://host:port, as with a serial-over-Ethernet gateway: a TCP relay in front of the emulator's pty.
    This is the threaded read path of hardware/link.py (pyserial URL handlers have no usable fd)."""

    async def scenario(path: str) -> list:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        import tty

        tty.setraw(fd)
        loop = asyncio.get_running_loop()

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            loop.add_reader(fd, lambda: writer.write(os.read(fd, 65536)))
            try:
                while data := await reader.read(65536):
                    os.write(fd, data)
            finally:
                loop.remove_reader(fd)

        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with driver_for_url(f"socket://127.0.0.1:{port}?window=8") as driver:
                return await driver.execute_many(jobs(100, "S"), timeout=10)
        finally:
            server.close()
            os.close(fd)

    with run_emulator("hardware.cellproto.emulator", "--journal", journal_path) as path:
        outcomes = asyncio.run(scenario(path))
    assert all(r.ok and not r.duplicate for r in outcomes)
    assert journal_ids(journal_path) == [j.job_id for j in jobs(100, "S")]


def test_loop_transport_echoes_and_is_not_mistaken_for_a_controller():
    """pyserial's loop:// sends our own frames back; JOB and STATUS_REQ are not answers, so connect must fail cleanly."""
    driver = driver_for_url("loop://?connect_timeout=0.3")
    with pytest.raises(DriverError, match="no STATUS answer"):
        asyncio.run(driver.connect())
