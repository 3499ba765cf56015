"""Dispatcher overhead on the whole default week: every job of `gwf schedule --horizon 7d` sent
to mock drivers on all cells (instant jobs) under the floor controller (policy `repair`: it
decides every start, look-ahead and twin-cell help, each decision journaled), claimed in SQLite. The same jobs are
also run through the same mock drivers alone, in the same run; the difference per job is what
the dispatcher, its controller, its journal and claims cost. Target: <= 0.5 ms a job.

    python benchmarks/dispatch.py [--plan out/schedule.json] [--time-limit 60] [--jobs N]

Figures are process CPU time (one thread does all the work; CPU time is what a loaded machine
does not inflate); wall time is printed beside them. The last line is one JSON object with
`overhead_ms_per_job`, `cells` and `jobs`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from hardware.driver import CellJob  # noqa: E402
from hardware.registry import driver_for_url  # noqa: E402
from plant import load_spec  # noqa: E402
from robots import Dispatcher, Fleet, Journal  # noqa: E402
from robots.plans import first_assignments, problem_for_schedule  # noqa: E402
from robots.rework import rework_sets  # noqa: E402
from scheduler.schedule import Schedule  # noqa: E402
from scheduler.validate import validate  # noqa: E402


def make_week(folder: Path, time_limit: float) -> Path:
    cmd = [sys.executable, "-m", "gwf", "schedule", "--horizon", "7d", "--time-limit", str(time_limit), "--out-dir", str(folder), "--json"]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True, timeout=3600)
    return folder / "schedule.json"


def mocks_alone(schedule: Schedule) -> tuple[float, float]:
    """CPU and wall seconds the mock drivers take for the plan's jobs with no dispatcher: each
    cell runs its sequence, all cells at once, as the dispatcher drives them."""
    async def main() -> None:
        drivers = {cell: driver_for_url(f"mock://{cell}") for cell in schedule.by_cell()}
        for driver in drivers.values():
            await driver.connect()

        async def cell(name: str, sequence) -> None:
            for a in sequence:
                await drivers[name].execute(CellJob(f"x:{a.job}/{a.op}", name, a.op, float(a.end - a.start), {"job": a.job}), 30.0)

        await asyncio.gather(*(cell(name, seq) for name, seq in schedule.by_cell().items()))

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(main())
    return time.process_time() - cpu, time.perf_counter() - wall


def dispatched(spec, problem, schedule: Schedule, journal_path: Path, control: str) -> tuple[float, float, dict, dict]:
    fleet = Fleet.from_spec(spec, cells={a.cell for a in schedule.assignments}, url_template="mock://{id}")
    journal = Journal(journal_path)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        report = asyncio.run(Dispatcher(fleet, journal, control=control, rework=rework_sets(spec)).run(problem, schedule))
    finally:
        journal.close()
    return time.process_time() - cpu, time.perf_counter() - wall, report.counts, report.controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", type=Path, default=None, help="a week's schedule.json (default: make one)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="planning seconds when making the week")
    parser.add_argument("--jobs", type=int, default=None, help="only the first N jobs (a quick look)")
    parser.add_argument("--control", default="repair", help="floor controller policy: blind | repair | replan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plan_path = args.plan or make_week(Path(tmp), args.time_limit)
        schedule = Schedule.from_json(plan_path)
        spec = load_spec(schedule.kpis.get("spec"))
        if args.jobs is not None:
            schedule = first_assignments(schedule, args.jobs)
        problem = problem_for_schedule(spec, schedule)
        validate(problem, schedule, complete=False)
        jobs, cells = len(schedule.assignments), len(schedule.by_cell())
        base_cpu, base_wall = mocks_alone(schedule)
        cpu, wall, counts, controller = dispatched(spec, problem, schedule, Path(tmp) / "journal.sqlite", args.control)
    assert counts == {"completed": jobs}, counts
    overhead = (cpu - base_cpu) / jobs * 1000
    print(f"{jobs} jobs on {cells} cells: dispatcher {cpu:.2f} s CPU ({wall:.2f} s wall), "
          f"mock drivers alone {base_cpu:.2f} s CPU ({base_wall:.2f} s wall)")
    print(f"overhead {overhead:.3f} ms CPU a job ({(wall - base_wall) / jobs * 1000:.3f} ms wall); target 0.5 ms: "
          f"{overhead / 0.5:.2f} of it")
    print(json.dumps({"overhead_ms_per_job": round(overhead, 4), "cells": cells, "jobs": jobs,
                      "dispatch_cpu_s": round(cpu, 3), "mock_cpu_s": round(base_cpu, 3),
                      "overhead_wall_ms_per_job": round((wall - base_wall) / jobs * 1000, 4), "target_ms": 0.5,
                      "control": args.control, "controller_decisions": controller["decisions"],
                      "replans": controller["replans"], "replan_cpu_s": round(controller["replan_cpu_s"], 3)}))


if __name__ == "__main__":
    main()
