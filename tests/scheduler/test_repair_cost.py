"""`gwf schedule --repair` says what the repair cost against the original plan (MW and GW per
category, units now late, operations moved, value/bound/gap of the repaired plan), writes it
beside the original without touching it, and a downtime the plan cannot feel is a notice."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from scheduler.delivery import mw_by_category
from scheduler.repair import Downtime, repair
from scheduler.repair_cost import repair_cost
from scheduler.schedule import Schedule
from scheduler.steady import recorded_problem

ROOT = Path(__file__).parents[2]


def gwf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwf", *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def plan(tmp_path_factory, ) -> Path:
    out = tmp_path_factory.mktemp("plan")
    spec = ROOT / "tests" / "specs" / "tiny.yaml"
    made = gwf("schedule", str(spec), "--horizon", "12h", "--demand-hours", "672", "--from-empty", "--time-limit", "5",
               "--out-dir", str(out), "--json")
    assert made.returncode == 0, made.stderr
    return out / "schedule.json"


def test_a_downtime_on_the_only_test_bay_costs_what_the_plans_say(plan):
    original = plan.read_bytes()
    done = gwf("schedule", "--repair", str(plan), "--down", "bay@20m+12h", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert plan.read_bytes() == original, "the original plan was overwritten"
    written = Path(out["files"]["json"])
    assert written.parent == plan.parent and written != plan
    repaired = Schedule.from_json(written)
    before, after = out["mw_before_by_category"], out["mw_after_by_category"]
    for cat, lost in out["mw_lost_by_category"].items():
        assert lost == pytest.approx(before[cat] - after[cat])
    assert sum(out["mw_lost_by_category"].values()) > 0  # the bay tests every unit: what it held is lost
    assert out["units_now_late"] >= 1 and out["moved"] >= 1
    assert out["deployable_gw_before"] - out["deployable_gw_after"] == pytest.approx(out["gw_lost"])
    # The written plan carries its own result, computed from the repaired problem, not the original's.
    assert repaired.value == pytest.approx(out["value_mw"]) == pytest.approx(sum(after.values()))
    assert repaired.bound == pytest.approx(out["bound_mw"])
    assert out["bound_mw"] <= out["bound_mw_without_downtime"] + 1e-9
    assert out["value_mw"] <= out["bound_mw"] + 1e-9


def test_the_cost_agrees_with_the_delivery_of_both_plans(plan):
    spec = load_spec(ROOT / "tests" / "specs" / "tiny.yaml")
    original = Schedule.from_json(plan)
    problem = recorded_problem(spec, original.kpis)
    result = repair(problem, original, [Downtime("arm-002", 300, 6 * 3600)], 300)
    cost = repair_cost(spec, problem, original, result)
    assert cost.mw_before == {**dict.fromkeys(spec.target.mw, 0.0), **mw_by_category(problem, original)}
    assert cost.mw_after == {**dict.fromkeys(spec.target.mw, 0.0), **mw_by_category(result.problem, result.schedule)}
    assert cost.moved == result.moved and cost.unstarted == result.unstarted


def test_a_downtime_after_the_horizon_is_a_one_line_notice(plan):
    done = gwf("schedule", "--repair", str(plan), "--down", "bay@2d+4h", "--json")
    assert done.returncode == 0
    assert done.stderr.strip().count("\n") == 0 and "after the plan's horizon" in done.stderr
    out = json.loads(done.stdout)
    assert out["repaired"] is False and out["files"] == {}
