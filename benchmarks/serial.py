"""Jobs per second through the cell emulator at 115200 baud, against the line-rate ceiling measured in the same run.

    python benchmarks/serial.py [--jobs 3000] [--window 8] [--latency 0.016] [--faults] [--grbl-lines 2000]

The ceiling is the reference's: frame bytes both ways per job ÷ (baud / 10) bytes per second,
with the bytes counted on the link during the run (so re-sends and framing overhead count).
Driver CPU is `time.process_time` of this process; the emulator runs as a subprocess so its
CPU is not counted. `--faults` adds 1 % corrupted and 1 % dropped frames and a disconnect
every 300 jobs, and checks that the emulator's journal holds every job id exactly once.

GRBL streaming: short motion-free lines (`G90`, `M5`, …, each answered `ok`) through the GRBL driver's
character counting, against a send-and-wait loop (write a line, read its `ok`) on the same emulator and
line, and against the line's ceiling (bytes of line and reply ÷ 11,520 bytes/s).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

# Run as a script, this file's folder is sys.path[0], and this file's name would shadow pyserial's
# `serial` package: put the project root there instead.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from hardware.driver import CellJob  # noqa: E402
from hardware.registry import driver_for_url  # noqa: E402

BAUD = 115200


async def drive(path: str, n: int, window: int) -> dict:
    driver = driver_for_url(f"serial://{path}?baudrate={BAUD}&window={window}")
    await driver.connect()
    before = await driver.status()
    jobs = [CellJob(f"J{i:06d}", "cell-1", "insert_tray", 0.0) for i in range(n)]
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = await driver.execute_many(jobs, timeout=30)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = await driver.status()
    await driver.close()
    failed = [o for o in outcomes if not getattr(o, "ok", False)]
    if failed:
        raise SystemExit(f"{len(failed)} jobs failed, first: {failed[0]!r}")
    moved = (after["bytes_in"] + after["bytes_out"]) - (before["bytes_in"] + before["bytes_out"])
    return {"wall": wall, "cpu": cpu, "bytes": moved, "reconnects": after["reconnects"], "resent": after["resent"]}


def run(n: int, window: int, faults: bool, latency: float = 0.0) -> dict:
    journal = os.path.join(tempfile.mkdtemp(prefix="gwf-bench-"), "journal.tsv")
    args = [sys.executable, "-m", "hardware.cellproto.emulator", "--baud", str(BAUD), "--journal", journal, "--delay", str(latency)]
    if faults:
        args += ["--corrupt", "0.01", "--drop", "0.01", "--disconnect-every", "300", "--down", "0.05", "--seed", "7"]
    emulator = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        path = emulator.stdout.readline().strip()  # type: ignore[union-attr]
        measured = asyncio.run(drive(path, n, window))
    finally:
        emulator.terminate()
        emulator.wait()
    with open(journal, encoding="utf-8") as lines:
        counts = collections.Counter(line.split("\t", 1)[0] for line in lines)
    jobs_per_s = n / measured["wall"]
    row = {
        "benchmark": "serial_faults" if faults else "serial",
        "jobs": n,
        "window": window,
        "latency_ms": latency * 1000,
        "jobs_per_s": round(jobs_per_s, 1),
        "cpu_ms_per_job": round(measured["cpu"] / n * 1000, 3),
        "journal_exactly_once": len(counts) == n and max(counts.values()) == 1,
        "resent": measured["resent"],
    }
    if not faults:
        # Byte counts are per link and restart on a reconnect, so the ceiling is only measured on a clean line.
        bytes_per_job = measured["bytes"] / n
        ceiling = BAUD / 10 / bytes_per_job
        row.update(bytes_per_job=round(bytes_per_job, 1), ceiling_jobs_per_s=round(ceiling, 1), ratio=round(jobs_per_s / ceiling, 3))
    else:
        row["reconnects"] = measured["reconnects"]
    return row


GRBL_LINES = ["G90", "G21", "G94", "M5", "M9", "G17", "G54", "G91", "G90.0", "M5"]  # motion-free, each `ok`


def grbl_stream(n: int, latency: float) -> dict:
    import serial

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [sys.executable, "-m", "hardware.grbl.emulator", "--baud", str(BAUD), "--delay", str(latency)]
    emulator = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=root)
    lines = [GRBL_LINES[i % len(GRBL_LINES)] for i in range(n)]
    try:
        path = emulator.stdout.readline().strip()  # type: ignore[union-attr]

        async def streamed() -> float:
            driver = driver_for_url(f"grbl+serial://{path}?baudrate={BAUD}")
            await driver.connect()
            wall = time.perf_counter()
            result = await driver.execute(CellJob("S1", "gantry", "stream", 0.0, {"gcode": lines}), timeout=600)
            wall = time.perf_counter() - wall
            await driver.close()
            if not result.ok:
                raise SystemExit(f"GRBL stream failed: {result.detail}")
            return wall

        driver_wall = asyncio.run(streamed())
        waited = lines[: max(50, min(n, int(2.0 / max(latency, 0.001))))]  # ~2 s of the slow loop is enough
        with serial.Serial(path, BAUD, timeout=1) as port:
            port.reset_input_buffer()
            wall = time.perf_counter()
            for line in waited:
                port.write(f"{line}\n".encode())
                if port.read_until(b"ok\r\n") [-4:] != b"ok\r\n":
                    raise SystemExit(f"send-and-wait: no ok for {line!r}")
            wait_wall = time.perf_counter() - wall
    finally:
        emulator.terminate()
        emulator.wait()
    sent = n + 1  # the driver's closing G4P0
    bytes_per_line = sum(len(line) + 1 + len("ok\r\n") for line in lines) / n
    ceiling = BAUD / 10 / bytes_per_line
    streamed_rate, waited_rate = sent / driver_wall, len(waited) / wait_wall
    return {"benchmark": "grbl_stream", "lines": n, "latency_ms": latency * 1000,
            "driver_lines_per_s": round(streamed_rate, 1), "send_wait_lines_per_s": round(waited_rate, 1),
            "speedup": round(streamed_rate / waited_rate, 2), "ceiling_lines_per_s": round(ceiling, 1),
            "ratio": round(streamed_rate / ceiling, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the emulator holds every frame (FTDI: 0.016)")
    parser.add_argument("--faults", action="store_true", help="also run 10,000 jobs through injected faults")
    parser.add_argument("--grbl-lines", type=int, default=2000, help="lines for the GRBL streaming figure (0: skip)")
    args = parser.parse_args()
    print(json.dumps(run(args.jobs, args.window, faults=False, latency=args.latency)), flush=True)
    if args.grbl_lines:
        print(json.dumps(grbl_stream(args.grbl_lines, args.latency)), flush=True)
    if args.faults:
        print(json.dumps(run(10_000, args.window, faults=True)), flush=True)


if __name__ == "__main__":
    main()
