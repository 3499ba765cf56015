"""Carrying a plan's unfinished work into the next horizon (scheduler/carryin.py) and planning a
running floor (scheduler/steady.py, `gwf schedule` without --from-empty)."""
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plant import load_spec, orders_for
from plant.spec import Window
from scheduler.capacity import capacity_bound, problem_capacity_bound
from scheduler.carryin import carry_in, plan_around
from scheduler.construct import RULES, list_schedule
from scheduler.delivery import finished_jobs, mw_by_category
from scheduler.planning import Limits, plan
from scheduler.problem import Problem, build_problem, expand_windows
from scheduler.steady import running_floor, warmup_problem
from scheduler.validate import validate
from tests.scheduler.scale_problems import random_problem

SPECS = Path(__file__).resolve().parents[1] / "specs"


def next_horizon(previous: Problem, cut: int, horizon: int, orders: bool) -> Problem:
    """The same floor from `cut` on: windows after the cut moved into the new time, and (when
    `orders`) the previous jobs again as new orders under other ids."""
    cells = [replace(c, unavailable=[(max(0, s - cut), e - cut) for s, e in c.unavailable if e > cut]) for c in previous.cells]
    jobs = [replace(j, id=f"next-{j.id}", tasks=list(j.tasks)) for j in previous.jobs] if orders else []
    tasks = [replace(t, predecessors=list(t.predecessors)) for t in previous.tasks] if orders else []
    return Problem(cells, previous.pools, jobs, tasks, horizon, name="next")


def with_products(problem: Problem) -> Problem:
    """Jobs of one family, category and MW become one product (their routings differ), so the
    capacity LP has to group units of a product with different operations left."""
    for job in problem.jobs:
        job.product = f"{job.family}/{job.category}/{job.mw}"
    return problem


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), jobs=st.integers(1, 10), cut_share=st.floats(0.0, 1.0), orders=st.booleans(), rule=st.sampled_from(RULES))
def test_carried_work_is_exactly_the_unfinished_part_and_plans_validly(seed, jobs, cut_share, orders, rule):
    previous = with_products(random_problem(seed, jobs, 3, horizon=600))
    before = list_schedule(previous, rule=rule)
    cut = int(cut_share * before.makespan)
    following = with_products(next_horizon(previous, cut, 400, orders))
    carried = carry_in(previous, before, cut, following)
    after = plan_around(carried, lambda p: list_schedule(p, rule=rule))
    validate(carried.problem, after)

    # No unit lost or duplicated: finished by the cut + carried = the previous plan's units.
    previous_ids = [j.id for j in previous.jobs]
    assert sorted(carried.finished_before_cut + list(carried.source.values())) == sorted(previous_ids)
    assert len(carried.source) == len(carried.carried_jobs)
    assert {carried.problem.jobs[j].id for j in carried.carried_jobs} == set(carried.source)
    assert carried.problem.n_operations == following.n_operations + carried.carried_operations

    by_key = {(a.job, a.op): a for a in after.assignments}
    carried_of = {old: new for new, old in carried.source.items()}
    for a in before.assignments:
        if a.job not in carried_of:
            assert a.end <= cut
            continue
        key = (carried_of[a.job], a.op)
        if a.end <= cut:  # finished work is history, never planned again
            assert key not in by_key
        elif a.start < cut:  # running work stays on its cell, its remaining part from time 0
            assert (by_key[key].cell, by_key[key].start, by_key[key].end) == (a.cell, 0, a.end - cut)
        else:
            assert by_key[key].start >= 0
    assert len(after.assignments) == carried.problem.n_operations


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
@example(seed=3)  # grouping by product alone charged carried units a full routing: bound < delivered
@example(seed=411)
def test_bound_of_a_carried_in_problem_covers_its_plans(seed):
    # Carried units of one product have different operations left: the LP must not charge
    # them a full routing, or the bound would fall below what a plan delivers.
    rng = random.Random(seed)
    previous = with_products(random_problem(seed, rng.randint(3, 12), 3, horizon=600))
    before = list_schedule(previous, rule="fifo")
    cut = int(rng.random() * before.makespan)
    following = with_products(next_horizon(previous, cut, rng.choice([100, 200, 300]), True))
    carried = carry_in(previous, before, cut, following)
    after = plan_around(carried, lambda p: list_schedule(p, rule=rng.choice(RULES)))
    bound = problem_capacity_bound(carried.problem)
    for category, mw in mw_by_category(carried.problem, after).items():
        assert mw <= bound.mw_by_category.get(category, 0.0) + 1e-6


@settings(max_examples=40, deadline=None)
@given(start=st.integers(0, 30), duration=st.integers(1, 9), every=st.sampled_from([None, 10, 24]), clock=st.integers(-60, 60), horizon=st.integers(1, 80))
def test_windows_keep_their_phase_on_the_floor_clock(start, duration, every, clock, horizon):
    # Drawn in minutes (the spec refuses windows repeating more often than once a minute),
    # checked at every minute: every window edge falls on one.
    m = 60
    window = Window(start=start * m, duration=duration * m, every=every and every * m)
    shifted = [(s / m, e / m) for s, e in expand_windows([window], horizon * m, clock * m)]
    # A repeating window runs every period from its start on and, before the week's start
    # (floor time < 0), back in time as well.
    if every is None:
        starts = [start]
    else:
        starts = [start + k * every for k in range(-20, 20) if k >= 0 or start + k * every + duration <= 0]

    def busy(t: int) -> bool:
        return any(s <= t < s + duration for s in starts)

    for t in range(horizon):
        assert busy(clock + t) == any(s <= t < e for s, e in shifted), (clock + t, shifted)


@pytest.mark.parametrize("spec_name,hours", [("pipeline.yaml", 8), ("pipeline.yaml", 20), ("tiny.yaml", 48)])
def test_running_floor_delivers_at_least_what_an_empty_floor_does(spec_name, hours):
    spec = load_spec(SPECS / spec_name)
    horizon = hours * 3600
    orders = orders_for(spec, hours)
    empty = build_problem(spec, orders, horizon)
    from_empty = plan(empty, "mw", Limits(2.0, 1)).schedule
    carried = running_floor(spec, orders, horizon, hours)
    result = plan(carried.problem, "mw", Limits(2.0, 1), pinned=carried.pinned, spec=spec)
    steady = result.schedule
    validate(carried.problem, steady)
    # The running work stays exactly where it runs.
    placed = {(a.job, a.op): (a.cell, a.start, a.end) for a in steady.assignments}
    for t, (c, s, e) in carried.pinned.items():
        task = carried.problem.tasks[t]
        assert placed[(carried.problem.jobs[task.job].id, task.op)] == (carried.problem.cells[c].id, s, e)
    delivered, before = mw_by_category(carried.problem, steady), mw_by_category(empty, from_empty)
    assert sum(delivered.values()) >= sum(before.values()) - 1e-9
    # Valid against the bound of the problem it was planned for; the empty floor's bound
    # charges pipeline fill, so the running floor may pass it.
    bound = problem_capacity_bound(carried.problem, None, spec)
    assert result.capacity == bound and result.bound == pytest.approx(sum(bound.mw_by_category.values()))
    for category, mw in delivered.items():
        assert mw <= bound.mw_by_category[category] + 1e-6
    assert sum(bound.mw_by_category.values()) >= sum(capacity_bound(spec, horizon, orders, availability=False).mw_by_category.values()) - 1e-6
    # The warm-up leaves work running at the cut, and some carried units finish in the horizon.
    if spec_name == "pipeline.yaml":
        assert carried.pinned and finished_jobs(carried.problem, steady) & set(carried.carried_jobs)


def gwf_json(monkeypatch, capsys, *args: str) -> dict:
    from gwf.cli import main

    monkeypatch.setattr(sys, "argv", ["gwf", *args, "--json"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    assert exit_info.value.code in (0, None), out.err
    return json.loads(out.out)


def test_schedule_command_says_which_mode_and_what_was_carried(tmp_path, monkeypatch, capsys):
    spec = str(SPECS / "pipeline.yaml")
    common = ("schedule", spec, "--horizon", "10h", "--time-limit", "2", "--workers", "1")
    steady = gwf_json(monkeypatch, capsys, *common, "--out-dir", str(tmp_path / "steady"))
    empty = gwf_json(monkeypatch, capsys, *common, "--from-empty", "--out-dir", str(tmp_path / "empty"))
    assert steady["mode"] == "steady-state" and empty["mode"] == "from-empty"
    assert steady["carried_jobs"] > 0 and steady["carried_operations"] >= steady["carried_jobs"]
    assert 0 < steady["running_operations"] <= steady["carried_operations"]
    assert empty["carried_jobs"] == empty["carried_operations"] == empty["running_operations"] == empty["carried_mw_delivered"] == 0
    assert 0 < steady["carried_mw_delivered"] <= sum(steady["mw_by_category"].values()) + 1e-6
    assert steady["open_jobs_at_end"] > 0  # a 6 h burn-in: the floor hands work on to the next horizon
    assert steady["operations"] == empty["operations"] + steady["carried_operations"]
    assert steady["warmup_h"] >= 10 and empty["warmup_h"] == 0
    for summary in (steady, empty):
        for category, mw in summary["mw_by_category"].items():
            assert mw <= summary["bound_mw_by_category"][category] + 1e-6
        assert 0.0 <= summary["gap_to_bound"] <= 1.0
    assert steady["deployable_gw"] >= empty["deployable_gw"]
    # The written plan holds the running work (the Gantt shows it) and says how it was made.
    written = json.loads((tmp_path / "steady" / "schedule.json").read_text())
    assert written["kpis"]["mode"] == "steady-state"
    assert sum(1 for a in written["assignments"] if a["start"] == 0 and a["job"].endswith("-wip")) >= steady["running_operations"]
    # Dispatch and repair rebuild the problem the plan was made for from what it records.
    from robots.plans import first_assignments, problem_for_schedule
    from scheduler.schedule import Schedule

    saved = Schedule.from_json(tmp_path / "steady" / "schedule.json")
    validate(problem_for_schedule(load_spec(spec), saved), saved)
    shift = first_assignments(saved, 15)
    validate(problem_for_schedule(load_spec(spec), shift), shift, complete=False)
    repaired = gwf_json(monkeypatch, capsys, "schedule", "--repair", str(tmp_path / "steady" / "schedule.json"), "--down", "arm-001@1h+2h", "--now", "1h", "--out-dir", str(tmp_path / "repaired"))
    assert 0 <= repaired["moved"] <= repaired["unstarted"]


@pytest.mark.parametrize("spec_name", ["pipeline.yaml", "tiny.yaml"])
@pytest.mark.parametrize("warmup_h,hours", [(14, 8), (20, 20), (37, 5)])
def test_warmup_calendar_lines_up_with_the_week(spec_name, warmup_h, hours):
    # Work the warm-up leaves running at the cut must avoid the week's windows: the warm-up's
    # cells see the same windows, at the same floor times, from the cut on.
    spec = load_spec(SPECS / spec_name)
    warmup, horizon = warmup_h * 3600, hours * 3600
    before = warmup_problem(spec, [], warmup, horizon)
    week = build_problem(spec, [], horizon)
    for early, late in zip(before.cells, week.cells):
        assert [(max(0, s - warmup), e - warmup) for s, e in early.unavailable if e > warmup] == late.unavailable


def test_warmup_of_a_floor_with_very_long_routings_stays_bounded():
    import yaml

    from plant.spec import FactorySpec
    from scheduler.steady import MAX_FILL_S, warmup_length

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "specs" / "tiny.yaml").read_text())
    for step in raw["products"][0]["routing"]:
        step["duration"] = "1w"  # a unit takes weeks: two critical paths exceed the cap
    spec = FactorySpec.model_validate(raw)
    assert warmup_length(spec, 8 * 3600) == MAX_FILL_S
    assert warmup_length(spec, 2 * MAX_FILL_S) == 2 * MAX_FILL_S  # never shorter than the horizon
