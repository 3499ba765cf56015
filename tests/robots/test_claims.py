"""Claims: a job is claimed in the journal by the plan's content before it is sent, so two
dispatcher processes on one journal, or two stored copies of one plan, run every job once
(the mock controllers' ledgers are the judge); a claim held by a dead process is taken over."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from plant import load_spec
from plant.demand import Order
from robots import Journal, plan_id
from robots.journal import BUSY, CLAIMED, DONE, UNKNOWN
from scheduler.problem import build_problem
from scheduler.schedule import Schedule
from tests.helpers import serial_schedule

ROOT = Path(__file__).parents[2]


@pytest.fixture
def plan(tiny_spec_path, tmp_path):
    spec = load_spec(tiny_spec_path)
    orders = [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(6)] + [Order(f"cdu#{k}", "cdu", 0, 10**7) for k in range(2)]
    schedule = serial_schedule(build_problem(spec, orders, 10**7))
    path = tmp_path / "plan.json"
    schedule.to_json(path)
    return schedule, path


def _start(plan_path: Path, spec: Path, journal: Path, ledger: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan_path), "--spec", str(spec), "--journal", str(journal),
           "--url", f"mock://{{id}}?time_scale=0.0005&ledger={ledger}", "--json"]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _executed(ledger: Path) -> Counter:
    return Counter(line.split(" ", 1)[1] for line in ledger.read_text().splitlines())


def _both(first: subprocess.Popen, second: subprocess.Popen) -> list[dict]:
    out = []
    for proc in (first, second):
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_two_dispatchers_on_one_journal_run_each_job_once(plan, tiny_spec_path, tmp_path):
    schedule, path = plan
    journal, ledger = tmp_path / "journal.sqlite", tmp_path / "ledger.txt"
    summaries = _both(_start(path, tiny_spec_path, journal, ledger), _start(path, tiny_spec_path, journal, ledger))
    executed = _executed(ledger)
    assert len(executed) == len(schedule.assignments)
    assert set(executed.values()) == {1}, "a job ran twice"
    for summary in summaries:
        assert summary["counts"] == {"completed": len(schedule.assignments)}
    # Between them they sent each job once; the rest they followed to its end.
    assert sum(s["sent"] for s in summaries) == len(schedule.assignments)


def test_two_stored_copies_of_one_plan_run_each_job_once(plan, tiny_spec_path, tmp_path):
    schedule, path = plan
    raw = json.loads(path.read_text())
    raw["name"] = "a copy stored under another id"
    raw["assignments"].reverse()  # same content, another order on disk
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(raw))
    assert plan_id(Schedule.from_json(copy)) == plan_id(schedule)
    journal, ledger = tmp_path / "journal.sqlite", tmp_path / "ledger.txt"
    _both(_start(path, tiny_spec_path, journal, ledger), _start(copy, tiny_spec_path, journal, ledger))
    executed = _executed(ledger)
    assert len(executed) == len(schedule.assignments) and set(executed.values()) == {1}


def test_a_claim_is_exclusive_while_its_owner_lives_and_taken_over_when_it_is_gone(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.enqueue("p", [("p:a/x", "cell-1", "a", "x")])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = f"{os.uname().nodename}/{dead.stdout.strip()}/0000"
    assert journal.claim("p:a/x", gone, 60.0) == (CLAIMED, "queued")
    assert journal.claim("p:a/x", "me", 60.0) == (UNKNOWN, "underway")  # its owner exited: in doubt, now mine
    assert journal.claim("p:a/x", f"{os.uname().nodename}/{os.getpid()}/other", 60.0)[0] == BUSY  # I live
    journal.transition("p:a/x", "completed")
    assert journal.claim("p:a/x", "me", 60.0) == (DONE, "completed")
    journal.close()
