"""The floor controller inside dispatch, on small hand-made floors with mock cells: look-ahead
past a late unit without breaking precedence, a failed check sent to the controller's rework,
a rolling re-plan whose rebinds are journaled with it, and answer timeouts that scale with a
job's planned length."""
from __future__ import annotations

import asyncio

import pytest

from hardware.mock.driver import MockDriver
from hardware.registry import register
from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from scheduler.problem import build_problem
from scheduler.schedule import Assignment, Schedule
from tests.helpers import serial_schedule

SCALE = 0.0002  # mock wall seconds per plan second
SPEED = 1 / SCALE


@pytest.fixture
def late_unit(tiny_spec_path):
    """rack#0's frame runs long on arm-001, so the cabler's first planned job (rack#0/cable)
    is late; its second (rack#1/cable) is ready early."""
    spec = load_spec(tiny_spec_path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(2)], 10**7)
    plan = [
        Assignment("rack#0", "frame", "arm-001", 0, 6000),
        Assignment("rack#0", "cable", "cabler", 6000, 7200),
        Assignment("rack#0", "power", "arm-001", 6000, 6300),
        Assignment("rack#0", "test", "bay", 7200, 14400),
        Assignment("rack#1", "frame", "arm-002", 0, 600),
        Assignment("rack#1", "cable", "cabler", 7200, 8400),
        Assignment("rack#1", "power", "arm-002", 600, 900),
        Assignment("rack#1", "test", "bay", 8400, 15600),
    ]
    return spec, problem, Schedule(plan, 16000, "hand-made")


def _dispatch(spec, problem, schedule, path, url=f"mock://{{id}}?time_scale={SCALE}", failing: str = "", **kw):
    fleet = Fleet({c.id: url.replace("{id}", c.id) + (f"&fail_every=2" if c.id == failing else "") for c in spec.all_cells})
    journal = Journal(path)
    try:
        report = asyncio.run(Dispatcher(fleet, journal, speed=kw.pop("speed", SPEED), **kw).run(problem, schedule))
        history = journal.db.execute("SELECT seq, job_id, to_state, detail FROM transitions ORDER BY seq").fetchall()
        return report, history
    finally:
        journal.close()


def _claims(history):
    return {jid.split(":", 1)[1]: (seq, detail) for seq, jid, to, detail in history if to == "underway"}


def _precedence_kept(problem, history):
    completed = {jid.split(":", 1)[1]: seq for seq, jid, to, _ in history if to == "completed"}
    for jid, (seq, _) in _claims(history).items():
        job, op = jid.split("/")
        task = next(t for t in problem.tasks if problem.jobs[t.job].id == job and t.op == op)
        for p in task.predecessors:
            assert completed[f"{job}/{problem.tasks[p].op}"] < seq, f"{jid} was sent before {problem.tasks[p].op} completed"


def test_look_ahead_takes_a_ready_later_job_instead_of_idling_behind_a_late_one(late_unit, tmp_path):
    spec, problem, schedule = late_unit
    report, history = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite")
    assert report.counts == {"completed": len(schedule.assignments)}
    claims = _claims(history)
    assert claims["rack#1/cable"][0] < claims["rack#0/cable"][0]
    assert "look-ahead: head rack#0/cable not ready" in claims["rack#1/cable"][1]
    _precedence_kept(problem, history)
    # Strictly the planned sequence (blind): the cabler waits for rack#0, as the plan says.
    blind, history = _dispatch(spec, problem, schedule, tmp_path / "blind.sqlite", control="blind")
    assert blind.counts == {"completed": len(schedule.assignments)}
    claims = _claims(history)
    assert claims["rack#0/cable"][0] < claims["rack#1/cable"][0]
    _precedence_kept(problem, history)


def test_a_failed_check_goes_to_the_controller_s_rework(late_unit, tmp_path):
    from robots.rework import rework_sets

    spec, problem, schedule = late_unit
    rework = {("rack", "test"): ["cable", "test"]}
    report, history = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", failing="bay", rework=rework)  # every 2nd test fails
    decided = [d for d in report.decisions if d[0] == "rework"]
    assert decided and all(d[4].startswith("controller: rework: test failed its check; redo 2 operation(s) from cable") for d in decided)
    assert report.controller["decisions"]["rework"] == len(decided)
    assert report.counts == {"completed": len(schedule.assignments) + len(decided), "reworked": len(decided)}  # two copies a round
    assert rework_sets(spec) == {}  # the tiny spec itself has no rework: the routing above is the test's
    # The reworked test's redo ran after its own redone cable (the copies' precedence).
    order = [jid.split(":", 1)[1] for _, jid, to, _ in history if to == "completed"]
    for jid in order:
        if jid.endswith("/test~r1"):
            assert order.index(jid.replace("/test~r1", "/cable~r1")) < order.index(jid)


def test_a_re_plan_is_journaled_with_every_rebind_it_makes(tiny_spec_path, tmp_path):
    spec = load_spec(tiny_spec_path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(4)], 10**7)
    schedule = serial_schedule(problem)  # every arm job planned on arm-001: a re-plan spreads them
    report, history = _dispatch(spec, problem, schedule, tmp_path / "j.sqlite", control="replan", replan_every_s=1800.0,
                                release="planned")
    assert report.counts == {"completed": len(schedule.assignments)}
    replans = [i for i, d in enumerate(report.decisions) if d[0] == "replan"]
    assert replans and report.controller["replans"] == len(replans)
    moved = [d for d in report.decisions if d[0] == "move" and "replan" in d[4]]
    assert moved and all(d[2] != d[3] for d in moved)
    _precedence_kept(problem, history)


@register("timeoutprobe")
class _Probe(MockDriver):
    seen: dict[str, tuple[float, float]] = {}

    async def _execute(self, job, timeout):
        _Probe.seen[job.job_id] = (job.duration_s, timeout)
        return await super()._execute(job, timeout)


@pytest.mark.parametrize("speed", [1.0, 600.0])
def test_the_answer_timeout_covers_the_job_s_planned_length(late_unit, tmp_path, speed):
    spec, problem, schedule = late_unit
    burn_in = Schedule([a if a.op != "test" else Assignment(a.job, a.op, a.cell, a.start, a.start + 24 * 3600)
                        for a in schedule.assignments], 200000, "hand-made")
    _Probe.seen.clear()
    report, _ = _dispatch(spec, problem, burn_in, tmp_path / "j.sqlite", url="timeoutprobe://{id}?x=1", timeout=30.0, speed=speed)
    assert report.counts == {"completed": len(schedule.assignments)}
    for duration, timeout in _Probe.seen.values():
        assert timeout >= 30.0 + duration / speed  # never given up before its own length (at the run's speed) has passed
    assert max(t for _, t in _Probe.seen.values()) >= 24 * 3600 / speed


def test_a_planned_stop_moves_the_work_it_would_delay_and_nothing_starts_inside_it(tiny_spec_path, tmp_path):
    spec = load_spec(tiny_spec_path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(4)], 10**7)
    schedule = serial_schedule(problem)  # arm work all on arm-001
    stop = (1000.0, 40000.0)  # plan seconds: long enough (> 2 h) for the controller to move work
    fleet = Fleet({c.id: f"mock://{c.id}?time_scale={SCALE}" for c in spec.all_cells})
    journal = Journal(tmp_path / "j.sqlite")
    try:
        report = asyncio.run(Dispatcher(fleet, journal, speed=SPEED, release="planned", downtime={"arm-001": [stop]})
                             .run(problem, schedule))
        epoch = journal.epoch(report.plan)
        claims = journal.db.execute("SELECT t.at, j.cell FROM transitions t JOIN jobs j ON j.job_id = t.job_id "
                                    "WHERE t.to_state = 'underway'").fetchall()
    finally:
        journal.close()
    assert report.counts == {"completed": len(schedule.assignments)}
    moved = [d for d in report.decisions if d[0] == "move" and d[2] == "arm-001"]
    assert all(d[3] == "arm-002" for d in moved) and any("repair: arm-001 down until 40000s" in d[4] for d in moved)
    # Plan time of each start on arm-001 (a little slack for the event loop's own delay).
    inside = [(at - epoch) * SPEED for at, cell in claims if cell == "arm-001" and stop[0] + 50 < (at - epoch) * SPEED < stop[1] - 50]
    assert not inside, f"started on arm-001 while it was planned down: {inside}"
