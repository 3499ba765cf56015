"""`gwf dispatch` as a controls engineer meets it: the plan's own spec, a dry run, one-line
errors (exit 2) for a port that does not open or a template that puts cells on one port, and
the release rule stated and kept."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from plant.demand import Order
from scheduler.problem import build_problem
from tests.helpers import serial_schedule

ROOT = Path(__file__).parents[2]


@pytest.fixture
def own_spec_plan(tmp_path, tiny_spec_path):
    """A plan made from a user's own spec, which it records by path (as `gwf schedule` does)."""
    folder = tmp_path / "small"
    folder.mkdir()
    shutil.copy(tiny_spec_path, folder / "my-floor.yaml")
    problem = build_problem(load_spec(folder / "my-floor.yaml"), [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(3)], 10**7)
    schedule = serial_schedule(problem)
    schedule.kpis["spec"] = "small/my-floor.yaml"  # relative to where the planner ran
    schedule.to_json(folder / "schedule.json")
    return folder / "schedule.json", schedule


def gwf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwf", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)


def test_the_plan_s_own_spec_is_used_from_anywhere(own_spec_plan, tmp_path):
    plan, schedule = own_spec_plan
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = gwf("dispatch", str(plan), "--journal", "j.sqlite", "--url", "mock://{id}", "--json", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"completed": len(schedule.assignments)} and summary["spec"].endswith("my-floor.yaml")


def test_dry_run_lists_cells_and_sends_nothing(own_spec_plan, tmp_path):
    plan, schedule = own_spec_plan
    listed = gwf("dispatch", str(plan), "--journal", "j.sqlite", "--dry-run", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    out = json.loads(listed.stdout)
    assert {c: r["jobs"] for c, r in out["cells"].items()} == {c: len(s) for c, s in schedule.by_cell().items()}
    assert all(r["url"] == f"mock://{c}" for c, r in out["cells"].items())
    assert "predecessors" in out["release"]
    assert not (tmp_path / "j.sqlite").exists()


@pytest.mark.parametrize("url, words", [
    ("serial:///dev/ttyUSB0", "sends cells"),  # no {id}: every cell on one port
    ("grbl+socket://127.0.0.1:9/{id}", "sends cells"),  # {id} only in the path: still one host and port for a socket
    ("serial:///dev/gwf-no-such-port-{id}", "cannot"),
])
def test_bad_urls_are_one_line_and_exit_2(own_spec_plan, tmp_path, url, words):
    plan, _ = own_spec_plan
    failed = gwf("dispatch", str(plan), "--journal", "j.sqlite", "--url", url, "--json", cwd=tmp_path)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gwf: error:") and words in lines[0], failed.stderr
    assert "Traceback" not in failed.stderr


def test_planned_release_never_sends_before_the_planned_start(own_spec_plan, tmp_path):
    plan, schedule = own_spec_plan
    speed = 40000.0  # plan seconds per wall second: the tiny plan's ~9 h in under a second
    done = gwf("dispatch", str(plan), "--journal", "j.sqlite", "--url", "mock://{id}", "--release", "planned",
               "--early", "0", "--speed", str(speed), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["release"] == "planned"
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        epoch = db.execute("SELECT epoch FROM runs").fetchone()[0]
        sent = dict(db.execute("SELECT j.job || '/' || j.op, MIN(t.at) FROM transitions t JOIN jobs j USING(job_id) "
                               "WHERE t.to_state='underway' GROUP BY t.job_id").fetchall())
    for a in schedule.assignments:
        assert sent[f"{a.job}/{a.op}"] >= epoch + a.start / speed - 1e-3
