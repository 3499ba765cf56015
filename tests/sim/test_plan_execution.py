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


def _zero_buffer_spec(name: str, caps: list[str], routings: dict[str, list[str]]):
    """A floor of one zero-buffer cell per capability; each product runs its routing in a line."""
    from plant.loader import spec_from_dict

    def ops(route):
        return [{"id": f"o{i}", "capability": cap, "duration": 600, "predecessors": [f"o{i - 1}"] if i else [],
                 "variability": {"distribution": "lognormal", "cv": 0.3}} for i, cap in enumerate(route)]

    cats = ["compute", "cooling"]
    return spec_from_dict({
        "name": name, "target": {"facility_gw": 0.001, "mw": {c: 1.0 for c in cats}},
        "demand": {p: 10 for p in routings},
        "products": [{"name": p, "family": f"f{k}", "category": cats[k % 2], "mw": 0.1, "routing": ops(r)}
                     for k, (p, r) in enumerate(routings.items())],
        "cell_types": [{"name": f"t{c[1:]}", "capabilities": {c: 1.0}, "buffer": 0} for c in caps],
        "cells": [{"type": f"t{c[1:]}", "count": 1} for c in caps]})


def _run_plan(spec, rows, control: str):
    from sim.replication import RunConfig, run_replication

    config = RunConfig(spec, end_s=30 * 86400, bin_s=86400, seed=0, schedule=Schedule(rows, horizon=86400),
                       control=control, record=True)
    return run_replication(config, 0)


def _assert_executed_in_order(trace, capacity: int = 1) -> None:
    """Every unit's operations ran one after another, and no cell ran more than `capacity` at once."""
    by_job, by_cell = {}, {}
    for job, op, cell, start, end in trace.executed:
        by_job.setdefault(job, []).append((int(op[1:]), start, end))
        by_cell.setdefault(cell, []).append((start, end))
    for runs in by_job.values():
        runs.sort()
        assert all(a[2] <= b[1] + 1e-6 for a, b in zip(runs, runs[1:]))
    for spans in by_cell.values():
        load = 0
        for _, step in sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans]):
            load += step
            assert load <= capacity


def _swap():
    """Two units exchange two zero-buffer stations at 1200 s: p0 goes back from t2 to t0 while p1
    goes from t0 to t2 (a re-entrant routing c0 -> c2 -> c0)."""
    spec = _zero_buffer_spec("swap", ["c0", "c2"], {"p0": ["c0", "c2", "c0"], "p1": ["c0", "c2"]})
    rows = [Assignment("p0#00001", "o0", "t0-001", 0, 600), Assignment("p0#00001", "o1", "t2-001", 600, 1200),
            Assignment("p0#00001", "o2", "t0-001", 1200, 1800), Assignment("p1#00001", "o0", "t0-001", 600, 1200),
            Assignment("p1#00001", "o1", "t2-001", 1200, 1800)]
    return spec, rows


def _assert_finished_after_parking(trace, n_rows: int, units: int, capacity: int = 1) -> dict:
    """Every unit finished, every planned operation ran once, in order, within cell capacity,
    with at least one unit parked and no buffer over its places."""
    record = trace.control
    assert record["units_finished"] == record["units"] == units
    assert record["deadlocks_resolved"] >= 1
    assert record.get("min_places_free", 0) >= 0  # parking is off the floor, not an extra place (plan runs record it)
    assert len(trace.executed) == n_rows
    _assert_executed_in_order(trace, capacity)
    return record


@pytest.mark.parametrize("control", ["blind", "repair", "rule"])
def test_two_units_swapping_stations_without_buffer_places_finish(control):
    # A re-entrant routing c0 -> c2 -> c0 and zero buffers. The plan swaps the units at 1200 s:
    # p0 goes back from t2 to t0 while p1 goes from t0 to t2; each finishes and waits (blocking
    # after service) for the place the other holds. One is parked off the floor, then both finish.
    spec, rows = _swap()
    record = _assert_finished_after_parking(_run_plan(spec, rows, control), len(rows), units=2)
    assert record["deadlocks_resolved"] == 1


@pytest.mark.parametrize("control", ["blind", "repair", "rule"])
def test_three_units_rotating_through_three_stations_without_buffer_places_finish(control):
    # A cycle of three: at 1200 s unit a (on t1) goes to t2, b (on t2) to t0, c (on t0) to t1.
    # Each holds the only place the one before it wants.
    spec = _zero_buffer_spec("rotate", ["c0", "c1", "c2"], {
        "pa": ["c0", "c1", "c2"], "pb": ["c1", "c2", "c0"], "pc": ["c2", "c0", "c1"]})
    rows = []
    for job, cells in [("pa#00001", ["t0", "t1", "t2"]), ("pb#00001", ["t1", "t2", "t0"]), ("pc#00001", ["t2", "t0", "t1"])]:
        # o0 at 0 on its first cell, o1 at 600 on the next, o2 at 1200 on the last.
        rows += [Assignment(job, f"o{k}", f"{cell}-001", 600 * k, 600 * (k + 1)) for k, cell in enumerate(cells)]
    _assert_finished_after_parking(_run_plan(spec, rows, control), len(rows), units=3)


def test_no_deadlock_no_parking():
    # The same floor with the units in a line (no swap): nothing waits in a cycle, nothing is parked.
    spec = _zero_buffer_spec("line", ["c0", "c2"], {"p0": ["c0", "c2"], "p1": ["c0", "c2"]})
    rows = [Assignment("p0#00001", "o0", "t0-001", 0, 600), Assignment("p0#00001", "o1", "t2-001", 600, 1200),
            Assignment("p1#00001", "o0", "t0-001", 600, 1200), Assignment("p1#00001", "o1", "t2-001", 1200, 1800)]
    record = _run_plan(spec, rows, "blind").control
    assert record["units_finished"] == 2 and record["deadlocks_resolved"] == 0


@pytest.mark.parametrize("control", ["blind", "repair", "rule"])
def test_four_units_swapping_between_two_bays_without_buffer_places_finish(control):
    # Bays of two slots: two units of p0 go back from t2 to t0 while two of p1 go from t0 to t2.
    # Each bay is full of units waiting for the other: the deadlock holds only once every slot
    # of both bays waits, and parking one unit frees a place for the others, in turn.
    spec = _zero_buffer_spec("bays", ["c0", "c2"], {"p0": ["c0", "c2", "c0"], "p1": ["c0", "c2"]})
    spec = spec.model_copy(update={"cell_types": [t.model_copy(update={"capacity": 2}) for t in spec.cell_types]})
    rows = []
    for k in (1, 2):
        rows += [Assignment(f"p0#0000{k}", "o0", "t0-001", 0, 600), Assignment(f"p0#0000{k}", "o1", "t2-001", 600, 1200),
                 Assignment(f"p0#0000{k}", "o2", "t0-001", 1200, 1800), Assignment(f"p1#0000{k}", "o0", "t0-001", 600, 1200),
                 Assignment(f"p1#0000{k}", "o1", "t2-001", 1200, 1800)]
    _assert_finished_after_parking(_run_plan(spec, rows, control), len(rows), units=4, capacity=2)


def test_the_report_counts_the_deadlocks_broken():
    spec, rows = _swap()
    x = Twin(spec, replications=2, seed=0, control="repair").run(Schedule(rows, horizon=86400)).execution
    assert x["units_finished"]["mean"] == x["units"] == 2
    assert x["deadlocks_resolved_per_replication"] == 1.0
    assert x["buffers_respected"]
