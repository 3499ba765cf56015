"""The independent validator rejects hand-made invalid schedules and accepts valid ones."""
from __future__ import annotations

import dataclasses

import pytest

from plant import load_spec, orders_for
from plant.demand import Order
from scheduler.problem import build_problem
from scheduler.schedule import Assignment, Schedule
from scheduler.validate import InvalidSchedule, validate, violations
from tests.helpers import serial_schedule


@pytest.fixture
def problem(tiny_spec_path):
    spec = load_spec(tiny_spec_path)
    orders = [Order("rack#1", "rack", 0, 10**6), Order("rack#2", "rack", 0, 10**6), Order("cdu#1", "cdu", 600, 10**6)]
    return build_problem(spec, orders, 10**6)


def _replace(schedule: Schedule, job: str, op: str, **changes) -> Schedule:
    out = [dataclasses.replace(a, **changes) if (a.job, a.op) == (job, op) else a for a in schedule.assignments]
    return Schedule(out, schedule.horizon)


def test_serial_schedule_is_valid(problem):
    validate(problem, serial_schedule(problem))


def test_overlap_on_a_single_cell_is_rejected(problem):
    s = serial_schedule(problem)
    first = s.assignments[0]
    second = next(a for a in s.assignments if a.cell == first.cell and a is not first and a.job == first.job)
    bad = _replace(s, second.job, second.op, start=first.start + 1, end=first.start + 1 + (second.end - second.start))
    found = violations(problem, bad)
    assert any("overlaps" in v for v in found), found


def test_broken_precedence_is_rejected(problem):
    s = serial_schedule(problem)
    test_op = next(a for a in s.assignments if a.job == "rack#1" and a.op == "test")
    bad = _replace(s, "rack#1", "test", start=0, end=test_op.end - test_op.start)
    found = violations(problem, bad)
    assert any("before predecessor rack#1/cable" in v for v in found), found


def test_ineligible_cell_is_rejected(problem):
    s = serial_schedule(problem)
    bad = _replace(s, "rack#1", "frame", cell="cabler")
    assert any("not eligible" in v for v in violations(problem, bad))


def test_wrong_duration_is_rejected(problem):
    s = serial_schedule(problem)
    a = next(a for a in s.assignments if (a.job, a.op) == ("rack#1", "frame"))
    bad = _replace(s, "rack#1", "frame", end=a.end - 1)
    assert any("must be 600s" in v for v in violations(problem, bad))


def test_release_is_enforced(problem):
    s = serial_schedule(problem)
    a = next(a for a in s.assignments if (a.job, a.op) == ("cdu#1", "frame"))
    bad = _replace(s, "cdu#1", "frame", start=0, end=a.end - a.start)
    assert any("before its release 600" in v for v in violations(problem, bad))


def test_missing_and_duplicate_and_unknown_assignments(problem):
    s = serial_schedule(problem)
    missing = Schedule(s.assignments[1:], s.horizon)
    assert any("not scheduled" in v for v in violations(problem, missing))
    assert violations(problem, missing, complete=False) == [] or all("not scheduled" not in v for v in violations(problem, missing, complete=False))
    doubled = Schedule(s.assignments + [s.assignments[0]], s.horizon)
    assert any("more than once" in v for v in violations(problem, doubled))
    ghost = Schedule(s.assignments + [Assignment("rack#9", "frame", "arm-001", 0, 600)], s.horizon)
    assert any("no such operation" in v for v in violations(problem, ghost))


def test_setup_between_families_is_enforced(problem):
    # arm cells pay 5 min when switching from rack to cdu
    s = serial_schedule(problem)
    by_key = {(a.job, a.op): a for a in s.assignments}
    rack_frame = by_key[("rack#2", "frame")]
    cdu = by_key[("cdu#1", "frame")]
    tight = _replace(s, "cdu#1", "frame", cell=rack_frame.cell, start=rack_frame.end + 60, end=rack_frame.end + 60 + (cdu.end - cdu.start))
    found = violations(problem, tight, complete=True)
    assert any("setup" in v for v in found), found


def test_capacity_of_a_multi_job_cell(tiny_spec_path):
    # the bay holds 3 racks in test: four at once must be rejected, three accepted
    spec = load_spec(tiny_spec_path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**6) for k in range(4)], 10**6)
    four = Schedule([Assignment(f"rack#{k}", "test", "bay", 100_000, 100_000 + 7200) for k in range(4)], 10**6)
    assert any("4 jobs at time 100000, capacity 3" in v for v in violations(problem, four, complete=False))
    three = Schedule(four.assignments[:3], 10**6)
    assert not any("capacity" in v for v in violations(problem, three, complete=False))


def test_unavailability_window_is_enforced(tmp_path, tiny_spec_path):
    text = tiny_spec_path.read_text().replace("{name: cabler, capabilities: {cable: 1.0}}", "{name: cabler, capabilities: {cable: 1.0}, unavailable: [{start: 0, duration: 1h}]}")
    path = tmp_path / "w.yaml"
    path.write_text(text)
    spec = load_spec(path)
    problem = build_problem(spec, [Order("rack#1", "rack", 0, 10**6)], 10**6)
    s = serial_schedule(problem)
    bad = _replace(s, "rack#1", "cable", cell="cabler", start=600, end=600 + 1200)
    assert any("unavailability" in v for v in violations(problem, bad))


def test_an_empty_window_holds_no_time(problem):
    """[s, s) is no unavailability: work across s is valid (a re-plan's stopped cell back before
    its pinned work ends once made such a window, and the re-plan failed on it)."""
    s = serial_schedule(problem)
    a = next(a for a in s.assignments if a.end - a.start > 1)
    middle = (a.start + a.end) // 2
    cells = [dataclasses.replace(c, unavailable=[(middle, middle)]) if c.id == a.cell else c for c in problem.cells]
    assert violations(dataclasses.replace(problem, cells=cells), s) == []
    cells = [dataclasses.replace(c, unavailable=[(middle, middle + 1)]) if c.id == a.cell else c for c in problem.cells]
    assert any("unavailability" in v for v in violations(dataclasses.replace(problem, cells=cells), s))
    # An inverted one (end before start; no spec or repair makes one) holds no time either, as
    # the list scheduler and the CP-SAT model read it.
    cells = [dataclasses.replace(c, unavailable=[(a.end, a.start)]) if c.id == a.cell else c for c in problem.cells]
    assert violations(dataclasses.replace(problem, cells=cells), s) == []


def test_validate_raises_with_readable_message(problem):
    s = serial_schedule(problem)
    with pytest.raises(InvalidSchedule, match="not eligible"):
        validate(problem, _replace(s, "rack#1", "frame", cell="cabler"))


def test_default_week_builds_and_serial_slice_validates():
    spec = load_spec()
    orders = orders_for(spec, 1)
    problem = build_problem(spec, orders, 7 * 86400)
    assert problem.n_operations == sum(len(spec.product_index[o.product].routing) for o in orders)
    validate(problem, serial_schedule(problem))
