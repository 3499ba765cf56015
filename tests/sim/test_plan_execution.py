"""The twin executes every plan the scheduler writes: a running floor (units carried in half
built, work running across the cut) or an empty one, any horizon, judged by what it delivers
by its horizon and as a weekly rate."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from plant.demand import WEEK_S
from plant.spec import deployable_gw
from scheduler.schedule import Assignment, Schedule
from sim import Twin

ROOT = Path(__file__).resolve().parents[2]
LOOP = ROOT / "tests" / "specs" / "loop.yaml"


def gwf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwf", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def plan(spec_path, horizon_s: int, from_empty: bool):
    from gwf.commands.schedule import plan_floor

    result = plan_floor(str(spec_path), horizon_s, horizon_s / 3600, time_limit=3, workers=1, seed=0, from_empty=from_empty)
    return result


@pytest.mark.parametrize("from_empty", [False, True])
@pytest.mark.parametrize("horizon_h", [8, 30])
def test_every_plan_runs_to_completion_and_is_judged_by_its_horizon(from_empty, horizon_h):
    result = plan(LOOP, horizon_h * 3600, from_empty)
    schedule = result["schedule"]
    if not from_empty and horizon_h == 30:
        assert result["carried_jobs"] > 0 and result["running_operations"] > 0  # the case users hit
    report = Twin(load_spec(str(LOOP)), replications=3, seed=2, control="repair").run(schedule)
    x = report.execution
    # What the plan promised, counted as scheduler.delivery counts it.
    assert x["planned_mw_by_category"] == pytest.approx({k: v for k, v in result["mw_by_category"].items()}, abs=1e-9)
    assert x["units_finished"]["mean"] == x["units"]  # every planned unit was built
    assert x["buffers_respected"]
    # GW/week is the horizon's delivery at the weekly rate, not the run length's.
    assert x["delivered_gw_per_week"]["mean"] == pytest.approx(x["delivered_gw_horizon"]["mean"] * WEEK_S / (horizon_h * 3600), rel=1e-3)
    assert report.gw_per_week.mean == pytest.approx(x["delivered_gw_per_week"]["mean"], rel=1e-3)
    rate = WEEK_S / (horizon_h * 3600)
    spec = load_spec(str(LOOP))
    assert x["planned_gw_per_week"] == pytest.approx(deployable_gw({k: v * rate for k, v in result["mw_by_category"].items()}, spec.target))


def test_cli_schedule_then_twin_reports_planned_and_delivered(tmp_path):
    made = gwf("schedule", str(LOOP), "--horizon", "1d", "--time-limit", "3", "--json", "--out-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    plan_path = tmp_path / "schedule.json"
    assert "-wip" in plan_path.read_text()  # a running floor's plan, with carried-in units
    ran = gwf("twin", str(LOOP), "--schedule", str(plan_path), "--replications", "2", "--control", "replan", "--json",
              "--report", str(tmp_path / "twin.html"))
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert set(report["planned_mw_by_category"]) == set(report["delivered_mw_by_category"]) == {"compute", "cooling"}
    assert report["execution"]["control"] == "replan"
    assert "delivered" in (tmp_path / "twin.html").read_text()


def test_a_plan_that_skips_work_in_the_middle_of_a_unit_is_refused():
    spec = load_spec(str(LOOP))
    rows = [Assignment("rack#00001", "frame", "arm-001", 0, 2400), Assignment("rack#00001", "power", "arm-001", 2400, 4200)]
    with pytest.raises(ValueError, match=r"rack#00001: operations cable, leak, soak are not planned, but cable comes after planned work"):
        Twin(spec, replications=2).run(Schedule(rows, horizon=86400))
    with pytest.raises(ValueError, match=r"control: 'wild' is not a control policy"):
        Twin(spec, replications=2, control="wild").run(Schedule(rows, horizon=86400))


@pytest.mark.xfail(strict=True, reason="known, not fixed: two units swapping between two stations without buffer "
                   "places block each other for ever (blocking after service); found by the property test, main too")
def test_two_units_swapping_stations_without_buffer_places_finish():
    from plant.loader import spec_from_dict
    from sim.replication import RunConfig, run_replication

    ops = [{"id": f"o{i}", "capability": cap, "duration": 600, "predecessors": [f"o{i - 1}"] if i else [],
            "variability": {"distribution": "lognormal", "cv": 0.3}} for i, cap in enumerate(["c0", "c2", "c0"])]
    spec = spec_from_dict({
        "name": "swap", "target": {"facility_gw": 0.001, "mw": {"compute": 1.0, "cooling": 1.0}},
        "demand": {"p0": 10, "p1": 10},
        "products": [{"name": "p0", "family": "f0", "category": "compute", "mw": 0.1, "routing": ops},
                     {"name": "p1", "family": "f1", "category": "cooling", "mw": 0.1, "routing": ops[:2]}],
        "cell_types": [{"name": "t0", "capabilities": {"c0": 1.0}, "buffer": 0},
                       {"name": "t2", "capabilities": {"c2": 1.0}, "buffer": 0}],
        "cells": [{"type": "t0", "count": 1}, {"type": "t2", "count": 1}]})
    # The plan swaps the units at 1200 s: p0 goes back from t2 to t0 while p1 goes from t0 to t2.
    rows = [Assignment("p0#00001", "o0", "t0-001", 0, 600), Assignment("p0#00001", "o1", "t2-001", 600, 1200),
            Assignment("p0#00001", "o2", "t0-001", 1200, 1800), Assignment("p1#00001", "o0", "t0-001", 600, 1200),
            Assignment("p1#00001", "o1", "t2-001", 1200, 1800)]
    config = RunConfig(spec, end_s=30 * 86400, bin_s=86400, seed=0, schedule=Schedule(rows, horizon=86400), control="blind")
    record = run_replication(config, 0).control
    assert record["units_finished"] == record["units"]
