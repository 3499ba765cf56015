"""`gwf demo` end to end on a small floor: every stage runs and the numbers hang together."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from plant import deployable_gw, load_spec

ROOT = Path(__file__).parents[2]


def test_demo_on_a_small_floor_reports_plan_twin_and_dispatch(tmp_path, tiny_spec_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gwf", "demo", "--spec", str(tiny_spec_path), "--out-dir", str(tmp_path),
         "--replications", "3", "--workers", "1", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    # the plan's second week delivers something, and never more than a week of demand
    spec = load_spec(tiny_spec_path)
    assert 0 < result["planned_gw"] <= deployable_gw(spec.demand_mw(), spec.target) + 1e-12
    low, high = result["twin_ci"]
    assert low <= result["twin_gw"] <= high
    assert result["verdict"].split()[0] in {"MEETS", "AT", "SHORT"}
    assert result["dispatch_counts"] == {"completed": result["dispatched"]}
    assert (tmp_path / "demo-schedule.json").exists() and (tmp_path / "demo-journal.sqlite").exists()
