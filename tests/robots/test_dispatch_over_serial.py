"""The dispatcher against emulated cell controllers on real ptys, through our serial protocol,
with a noisy line: a dispatcher SIGKILLed mid-run and restarted still executes every job on
its controller exactly once (the controllers' own journals are the judge)."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from plant import load_spec
from plant.demand import Order
from scheduler.problem import build_problem
from tests.helpers import cell_controllers, executed_by_controllers, kill_mid_run_then_resume, serial_schedule

ROOT = Path(__file__).parents[2]


def test_killed_dispatcher_over_noisy_serial_lines_runs_each_job_once(tmp_path, tiny_spec_path):
    raw = yaml.safe_load(tiny_spec_path.read_text())
    cells = ["arm-a", "arm-b", "cabler", "bay"]
    noisy = ["--corrupt", "0.01", "--drop", "0.01", "--seed", "7"]
    with cell_controllers(tmp_path, {cell: noisy for cell in cells}, ROOT) as devices:
        raw["cells"] = [
            {"type": "arm", "prefix": "arm-a", "url": f"serial://{devices['arm-a'][0]}?baudrate=115200"},
            {"type": "arm", "prefix": "arm-b", "url": f"serial://{devices['arm-b'][0]}?baudrate=115200"},
            {"type": "cabler", "prefix": "cabler", "url": f"serial://{devices['cabler'][0]}?baudrate=115200"},
            {"type": "bay", "prefix": "bay", "url": f"serial://{devices['bay'][0]}?baudrate=115200"},
        ]
        spec_path = tmp_path / "serial.yaml"
        spec_path.write_text(yaml.safe_dump(raw))
        spec = load_spec(spec_path)
        problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(4)] + [Order("cdu#0", "cdu", 0, 10**7)], 10**7)
        schedule = serial_schedule(problem)
        plan = tmp_path / "plan.json"
        schedule.to_json(plan)
        journal = tmp_path / "dispatch.sqlite"
        cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan), "--spec", str(spec_path), "--journal", str(journal), "--timeout", "20", "--json"]
        summary = kill_mid_run_then_resume(cmd, ROOT, journal, kill_after=5, total=len(schedule.assignments))
        assert summary["counts"] == {"completed": len(schedule.assignments)}
        executed = executed_by_controllers(devices)
        assert len(executed) == len(schedule.assignments)
        assert set(executed.values()) == {1}, "a controller executed a job twice"
