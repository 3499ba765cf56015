"""The twin executing a repaired plan (`STEM.repaired.json`) takes the repaired cell down for the
downtime the plan records (`kpis.down`): no operation runs on it then, under every control
policy, and the floor controller is told (it hands the cell nothing in the window)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from scheduler.schedule import Schedule
from sim.replication import RunConfig, run_replication

ROOT = Path(__file__).parents[2]
SPEC = ROOT / "tests" / "specs" / "chain.yaml"


@pytest.fixture(scope="module")
def repaired(tmp_path_factory) -> Path:
    from gwf.commands.schedule import plan_floor, repair_plan, write_outputs, write_repair

    folder = tmp_path_factory.mktemp("repaired")
    made = plan_floor(str(SPEC), 12 * 3600, 12.0, time_limit=3, workers=1, seed=0)
    plan = Path(write_outputs(folder, made["problem"], made["schedule"])["json"])
    fixed = repair_plan(plan, None, ["arm-001@2h+3h"], None)
    return Path(write_repair(plan, None, fixed["problem"], fixed["schedule"])["json"])


def _overlapping(schedule: Schedule, control: str, replication: int) -> list[tuple]:
    spec = load_spec(schedule.kpis["spec"])
    (cell, windows), = schedule.kpis["down"].items()
    trace = run_replication(RunConfig(spec, end_s=4 * schedule.horizon, bin_s=schedule.horizon, seed=1, schedule=schedule,
                                      record=True, control=control), replication)
    # An operation's record spans from when its cell took it up to its end; a cell that is down
    # neither takes work up nor works, so no record of it may touch the window.
    return [row for row in trace.executed if row[2].split("/")[0] == cell
            and any(row[3] < end and row[4] > start for start, end in windows)]


@pytest.mark.parametrize("control", ["blind", "repair", "replan"])
def test_the_down_cell_does_no_work_in_its_recorded_downtime(repaired: Path, control: str) -> None:
    schedule = Schedule.from_json(repaired)
    assert schedule.kpis["down"], "the repair should record its downtime"
    for replication in range(3):
        assert _overlapping(schedule, control, replication) == []


def test_without_the_record_the_twin_would_use_the_cell(repaired: Path) -> None:
    """The same plan with its downtime record removed: the controller's look-ahead hands the arm
    work inside the window (what the twin did with every repaired plan before it read kpis.down),
    so the test above is not passing by accident."""
    schedule = Schedule.from_json(repaired)
    forgetful = Schedule(schedule.assignments, schedule.horizon, schedule.status, schedule.objective,
                         kpis={**schedule.kpis, "down": {}}, name=schedule.name)
    spec = load_spec(schedule.kpis["spec"])
    (cell, windows), = schedule.kpis["down"].items()
    used = 0
    for replication in range(3):
        trace = run_replication(RunConfig(spec, end_s=4 * schedule.horizon, bin_s=schedule.horizon, seed=1, schedule=forgetful,
                                          record=True, control="repair"), replication)
        used += sum(1 for row in trace.executed if row[2].split("/")[0] == cell
                    and any(row[3] < end and row[4] > start for start, end in windows))
    assert used > 0


def test_gwf_twin_on_a_repaired_plan_reads_its_downtime(repaired: Path, tmp_path: Path) -> None:
    """The command line reaches the same replications and says so; a repaired plan whose
    downtime is damaged is refused in one line naming kpis.down."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run([sys.executable, "-m", "gwf", "twin", "--schedule", str(repaired), "--replications", "2", "--json"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["downtime"] == json.loads(repaired.read_text())["kpis"]["down"]
    data = json.loads(repaired.read_text())
    cell = next(iter(data["kpis"]["down"]))
    data["kpis"]["down"][cell] = [[5, 1]]
    damaged = tmp_path / "damaged.repaired.json"
    damaged.write_text(json.dumps(data))
    run = subprocess.run([sys.executable, "-m", "gwf", "twin", "--schedule", str(damaged), "--replications", "2", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and lines[-1].startswith("gwf: error:") and f"kpis.down.{cell}[0]" in lines[-1], run.stderr
    assert "Traceback" not in run.stderr
