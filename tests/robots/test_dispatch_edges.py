"""The edges a controls engineer meets dispatching real plans: the warm-up's carried-in work of a
steady-state plan is not sent as if it were real jobs (unless asked), and a repaired plan's
recorded downtime holds in dispatch (the rebuilt problem, the release of work on the down cell)."""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from robots.plans import problem_for_schedule, to_dispatch
from scheduler.carryin import CARRIED_MARK
from scheduler.problem import build_problem
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import violations
from tests.helpers import serial_schedule

ROOT = Path(__file__).parents[2]
SPECS = ROOT / "tests" / "specs"


def gwf(*args: str, cwd: Path, columns: str = "100") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwf", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": columns},
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def steady_plan(tmp_path_factory) -> Path:
    """`gwf schedule` in its default mode (a running floor): the pipeline floor's plan opens on
    units carried in from the warm-up."""
    folder = tmp_path_factory.mktemp("steady")
    made = gwf("schedule", str(SPECS / "pipeline.yaml"), "--horizon", "8h", "--time-limit", "3", "--out-dir", str(folder), cwd=folder)
    assert made.returncode == 0, made.stderr
    plan = folder / "schedule.json"
    assert Schedule.from_json(plan).kpis["mode"] == "steady-state"
    return plan


def _journal_jobs(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT job_id FROM jobs")]


def test_carried_in_work_is_not_sent_unless_asked(steady_plan, tmp_path):
    whole = Schedule.from_json(steady_plan)
    carried = [a for a in whole.assignments if a.job.endswith(CARRIED_MARK)]
    own = [a for a in whole.assignments if not a.job.endswith(CARRIED_MARK)]
    assert carried and own, "the fixture must carry work in"

    listed = gwf("dispatch", str(steady_plan), "--url", "mock://{id}", "--dry-run", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    dry = json.loads(listed.stdout)
    assert dry["jobs"] == len(own)
    assert dry["carry_in"] == {"rule": "skip", "units": len({a.job for a in carried}), "operations": len(carried)}
    assert any(line.startswith("carry-in: skip") for line in dry["stated"])

    done = gwf("dispatch", str(steady_plan), "--url", "mock://{id}", "--journal", "skip.sqlite", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sent = _journal_jobs(tmp_path / "skip.sqlite")
    assert len(sent) == len(own) and not [j for j in sent if CARRIED_MARK + "/" in j]
    assert json.loads(done.stdout)["counts"] == {"completed": len(own)}

    everything = gwf("dispatch", str(steady_plan), "--url", "mock://{id}", "--journal", "send.sqlite", "--carry-in", "send", "--json", cwd=tmp_path)
    assert everything.returncode == 0, everything.stderr
    assert len(_journal_jobs(tmp_path / "send.sqlite")) == len(whole.assignments)


def test_plain_output_and_help_state_the_carry_in_rule(steady_plan, tmp_path):
    shown = gwf("dispatch", str(steady_plan), "--url", "mock://{id}", "--dry-run", cwd=tmp_path)
    assert shown.returncode == 0 and "carry-in: skip" in shown.stdout and "--carry-in send" in shown.stdout
    helped = gwf("dispatch", "--help", cwd=tmp_path, columns="200")
    for words in ("--carry-in", "-wip", "--down-after", "downtime", "attention", "exit 2"):
        assert words in helped.stdout, words


@pytest.mark.parametrize("option, value, words", [
    ("--carry-in", "maybe", "skip, send"),
    ("--down-after", "-1", ">= 0 seconds"),
    ("--timeout", "0", "> 0 seconds"),
    ("--jobs", "0", ">= 1"),
    ("--early", "-2h", "cannot be negative"),
    ("--early", "soon", "not a duration"),
])
def test_bad_options_are_one_line_naming_the_option_and_exit_2(steady_plan, tmp_path, option, value, words):
    bad = gwf("dispatch", str(steady_plan), "--url", "mock://{id}", "--journal", "j.sqlite", option, value, cwd=tmp_path)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert lines[0].startswith(f"gwf: error: {option}:") and words in lines[0], lines[0]
    assert not (tmp_path / "j.sqlite").exists()  # refused before anything is journaled


def test_first_n_counts_only_what_is_sent(steady_plan):
    whole = Schedule.from_json(steady_plan)
    part, info = to_dispatch(whole, "skip", 5)
    assert len(part.assignments) == 5 and not any(a.job.endswith(CARRIED_MARK) for a in part.assignments)
    assert info.operations == sum(a.job.endswith(CARRIED_MARK) for a in whole.assignments)


# ----------------------------------------------------------------- a repaired plan's downtime

@pytest.fixture(scope="module")
def repaired_plan(steady_plan) -> Path:
    made = gwf("schedule", "--repair", str(steady_plan), "--down", "arm-001@2h+2h", cwd=steady_plan.parent)
    assert made.returncode == 0, made.stderr
    return steady_plan.parent / "schedule.repaired.json"


def test_a_repaired_plan_is_rebuilt_with_its_downtime(repaired_plan, tmp_path):
    repaired = Schedule.from_json(repaired_plan)
    (cell, windows), = repaired.kpis["down"].items()
    problem = problem_for_schedule(load_spec(repaired.kpis["spec"]), repaired)
    on = next(c for c in problem.cells if c.id == cell)
    assert all(tuple(w) in on.unavailable for w in windows)
    # Work put back into the window (a hand edit, a stale tool) is refused before anything is sent.
    start, end = windows[0]
    tampered = next(a for a in repaired.assignments if a.cell == cell and a.start >= end and not a.job.endswith(CARRIED_MARK))
    shift = tampered.start - start
    repaired.assignments = [Assignment(a.job, a.op, a.cell, a.start - shift, a.end - shift) if a.job == tampered.job else a
                            for a in repaired.assignments]
    assert violations(problem_for_schedule(load_spec(repaired.kpis["spec"]), repaired), repaired, complete=False)
    path = tmp_path / "tampered.json"
    repaired.to_json(path)
    refused = gwf("dispatch", str(path), "--url", "mock://{id}", "--dry-run", cwd=tmp_path)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and lines[0].startswith("gwf: error:"), refused.stderr


def test_dry_run_states_the_downtime(repaired_plan, tmp_path):
    shown = gwf("dispatch", str(repaired_plan), "--url", "mock://{id}", "--dry-run", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    cell = next(iter(Schedule.from_json(repaired_plan).kpis["down"]))
    assert any(line.startswith(f"downtime: {cell} down") for line in json.loads(shown.stdout)["stated"])


def test_no_work_reaches_the_down_cell_inside_its_window(tiny_spec_path, tmp_path):
    """Released as soon as predecessors are done, the unit's first operation would go at once;
    its cell is down for the plan's first 600 s, so it waits for the window's end."""
    spec = load_spec(tiny_spec_path)
    base = build_problem(spec, [Order("rack#0", "rack", 0, 10**6)], 10**6)
    plan = serial_schedule(base)
    down_cell = plan.assignments[0].cell
    window = (0, 600)
    shifted = [Assignment(a.job, a.op, a.cell, a.start + window[1], a.end + window[1]) for a in plan.assignments]
    repaired = Schedule(shifted, plan.horizon + window[1], "heuristic", kpis={"down": {down_cell: [list(window)]}})
    problem = problem_for_schedule(spec, repaired)
    assert not violations(problem, repaired)
    speed = 400.0  # plan seconds per wall second: the window lasts 1.5 s
    fleet = Fleet.from_spec(spec, cells={a.cell for a in repaired.assignments}, url_template="mock://{id}")
    journal = Journal(tmp_path / "j.sqlite")
    try:
        report = asyncio.run(Dispatcher(fleet, journal, speed=speed).run(problem, repaired))
        epoch, finished, cells = journal.epoch(report.plan), journal.finished(report.plan), journal.cells(report.plan)
    finally:
        journal.close()
    assert report.counts == {"completed": len(shifted)}
    on_down = [jid for jid in finished if cells.get(jid, down_cell) == down_cell and jid.split(":", 1)[1] in
               {f"{a.job}/{a.op}" for a in shifted if a.cell == down_cell}]
    assert on_down
    assert all((finished[jid] - epoch) * speed >= window[1] for jid in on_down)
