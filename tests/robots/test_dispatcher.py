"""Dispatcher: every job reaches a terminal state, order respects precedences, the journal
resumes, failures cancel dependents, and a SIGKILLed dispatcher neither loses nor repeats."""
from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest

from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from robots.packml import InvalidTransition, PackML, State
from scheduler.problem import build_problem
from tests.helpers import kill_mid_run_then_resume, serial_schedule

ROOT = Path(__file__).parents[2]


@pytest.fixture
def tiny(tiny_spec_path):
    spec = load_spec(tiny_spec_path)
    orders = [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(3)] + [Order("cdu#0", "cdu", 0, 10**7)]
    problem = build_problem(spec, orders, 10**7)
    return spec, problem, serial_schedule(problem)


def _dispatch(spec, problem, schedule, journal_path, url="mock://{id}", **kw):
    fleet = Fleet.from_spec(spec, url_template=url)
    journal = Journal(journal_path)
    try:
        return asyncio.run(Dispatcher(fleet, journal, **kw).run(problem, schedule)), journal.entries()
    finally:
        journal.close()


def test_every_job_completes_in_precedence_order(tiny, tmp_path):
    spec, problem, schedule = tiny
    report, entries = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite")
    assert report.counts == {"completed": len(schedule.assignments)}
    position = {jid.split(":", 1)[1]: i for i, jid in enumerate(report.completion_order)}
    for task in problem.tasks:
        job = problem.jobs[task.job].id
        for pred in task.predecessors:
            assert position[f"{job}/{problem.tasks[pred].op}"] < position[f"{job}/{task.op}"]
    assert all(e.attempts == 1 for e in entries)


def test_rerun_resumes_and_sends_nothing(tiny, tmp_path):
    spec, problem, schedule = tiny
    _dispatch(spec, problem, schedule, tmp_path / "j.sqlite")
    again, _ = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite")
    assert again.sent == 0
    assert again.counts == {"completed": len(schedule.assignments)}


def test_failed_job_cancels_its_dependents(tiny, tmp_path):
    spec, problem, schedule = tiny
    report, entries = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", url="mock://{id}?fail_every=3")
    assert report.all_terminal
    assert report.counts.get("failed", 0) >= 1 and report.counts.get("canceled", 0) >= 1
    state = {e.job + "/" + e.op: e.state for e in entries}
    for task in problem.tasks:
        job = problem.jobs[task.job].id
        if any(state[f"{job}/{problem.tasks[p].op}"] != "completed" for p in task.predecessors):
            assert state[f"{job}/{task.op}"] == "canceled"


def test_timeouts_are_retried_with_the_same_job_id(tiny, tmp_path):
    spec, problem, schedule = tiny
    # Instant mock jobs: any speed is right for them, and a high one keeps the answer timeout
    # (--timeout + 2 x the job's length at that speed) short.
    report, entries = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", url="mock://{id}?hang_every=4", timeout=0.05, speed=1e6)
    assert report.retries >= 1
    assert report.counts == {"completed": len(schedule.assignments)}
    assert max(e.attempts for e in entries) >= 2


def test_unreachable_controller_blocks_and_the_next_run_finishes_each_job_once(tiny, tmp_path):
    spec, problem, schedule = tiny
    ledger = tmp_path / "ledger.txt"
    first, entries = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", url=f"mock://{{id}}?hang_every=3&ledger={ledger}",
                               timeout=0.05, max_attempts=1, speed=1e6)
    assert not first.all_terminal and first.counts.get("blocked", 0) >= 1
    assert "failed" not in first.counts and "canceled" not in first.counts  # unknown outcome is never given up
    again, _ = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", url=f"mock://{{id}}?ledger={ledger}")
    assert again.counts == {"completed": len(schedule.assignments)}
    executed = Counter(line.split(" ", 1)[1] for line in ledger.read_text().splitlines())
    assert len(executed) == len(schedule.assignments) and set(executed.values()) == {1}


def test_packml_follows_the_standard():
    machine = PackML()
    machine.command("reset")
    assert machine.settle() == State.IDLE
    machine.command("start")
    machine.done()
    assert machine.state == State.EXECUTE
    machine.command("hold")
    machine.done()
    assert machine.state == State.HELD
    with pytest.raises(InvalidTransition):
        machine.command("start")
    machine.command("abort")
    assert machine.settle() == State.ABORTED
    with pytest.raises(InvalidTransition):
        machine.command("abort")
    machine.command("clear")
    assert machine.settle() == State.STOPPED


def test_sigkilled_dispatcher_neither_loses_nor_repeats(tiny, tmp_path, tiny_spec_path):
    spec, problem, schedule = tiny
    plan = tmp_path / "plan.json"
    schedule.to_json(plan)
    journal = tmp_path / "journal.sqlite"
    ledger = tmp_path / "ledger.txt"  # the controllers' own record of what they executed
    cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan), "--spec", str(tiny_spec_path), "--journal", str(journal),
           "--url", f"mock://{{id}}?time_scale=0.0002&ledger={ledger}", "--json"]
    summary = kill_mid_run_then_resume(cmd, ROOT, journal, kill_after=4, total=len(schedule.assignments))
    assert summary["counts"] == {"completed": len(schedule.assignments)}
    executed = Counter(line.split(" ", 1)[1] for line in ledger.read_text().splitlines())
    assert len(executed) == len(schedule.assignments)
    assert set(executed.values()) == {1}, "a job ran twice on a controller"
