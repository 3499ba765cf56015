"""A controller-reported failure follows the spec's rework routing: the unit's rework set is
queued again (journaled with the decision), the failed operation's successors wait for its
redo, and every unit still completes; a restarted dispatcher finds the rework queued before."""
from __future__ import annotations

import asyncio

import pytest
import yaml

import gwf.drivers
from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from robots.rework import MAX_ROUNDS, rework_sets
from scheduler.problem import build_problem
from tests.helpers import serial_schedule


def _floor(tmp_path, tiny_spec_path, cable_yield=1.0):
    raw = yaml.safe_load(tiny_spec_path.read_text())
    rack = raw["products"][0]["routing"]
    rack[3].update(first_pass_yield=0.6, rework_to="cable")  # test fails often: cable and test again
    rack[1].update(first_pass_yield=cable_yield)  # cable's own check: cable again
    path = tmp_path / "rework.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(8)], 10**7)
    return path, spec, problem, serial_schedule(problem)


def _dispatch(spec, path, problem, schedule, journal, seed=5):
    gwf.drivers.register_all()
    fleet = Fleet.from_spec(spec, url_template=f"sim://{{id}}?speed=1000000&seed={seed}&spec={path}")
    store = Journal(journal)
    try:
        return asyncio.run(Dispatcher(fleet, store, rework=rework_sets(spec)).run(problem, schedule)), store.entries(), store.decisions(
            store.entries()[0].plan)
    finally:
        store.close()


def test_rework_sets_follow_the_routing(tmp_path, tiny_spec_path):
    _, spec, _, _ = _floor(tmp_path, tiny_spec_path)
    assert rework_sets(spec) == {("rack", "test"): ["cable", "test"]}  # power is not on a path from cable to test


def test_a_failed_check_is_reworked_and_every_unit_completes(tmp_path, tiny_spec_path):
    path, spec, problem, schedule = _floor(tmp_path, tiny_spec_path)
    report, entries, decisions = _dispatch(spec, path, problem, schedule, tmp_path / "j.sqlite")
    reworked = [e for e in entries if e.state == "reworked"]
    assert reworked, "with a first-pass yield of 0.5 some test must fail"
    assert "canceled" not in report.counts
    by_unit: dict[str, list] = {}
    for e in entries:
        by_unit.setdefault(e.job, []).append(e)
    delivered = 0
    for unit, rows in by_unit.items():
        rounds = sum(1 for r in rows if r.state == "reworked")
        # Each failure queued one round of (cable, test), up to MAX_ROUNDS; then it is a person's.
        assert len(rows) == 4 + 2 * rounds and rounds <= MAX_ROUNDS
        tests = [r.state for r in rows if r.op == "test"]
        if "failed" in tests:
            assert rounds == MAX_ROUNDS and tests.count("failed") == 1
        else:
            assert tests.count("completed") == 1
            delivered += 1
    assert sum(1 for d in decisions if d[0] == "rework") == len(reworked)
    # A unit is delivered when its latest copies all completed.
    assert delivered > 0 and report.delivered_mw_by_category["compute"] == pytest.approx(0.1 * delivered)


def test_a_restart_finds_the_rework_an_earlier_run_queued(tmp_path, tiny_spec_path):
    path, spec, problem, schedule = _floor(tmp_path, tiny_spec_path)
    first, entries, _ = _dispatch(spec, path, problem, schedule, tmp_path / "j.sqlite")
    again, entries_again, _ = _dispatch(spec, path, problem, schedule, tmp_path / "j.sqlite", seed=6)
    assert again.sent == 0 and again.counts == first.counts
    assert len(entries_again) == len(entries)



def test_two_checks_of_one_unit_failing_in_turn_each_get_their_own_round(tmp_path, tiny_spec_path):
    path, spec, problem, schedule = _floor(tmp_path, tiny_spec_path, cable_yield=0.6)
    report, entries, _ = _dispatch(spec, path, problem, schedule, tmp_path / "j.sqlite", seed=11)
    assert report.all_terminal  # before rounds were counted per unit, a second failure reused a copy's id and hung
    assert len({e.job_id for e in entries}) == len(entries)
    for unit in {e.job for e in entries}:
        rows = [e for e in entries if e.job == unit]
        rounds = sorted({int(e.job_id.rsplit("~r", 1)[1]) for e in rows if "~r" in e.job_id})
        assert rounds == list(range(1, len(rounds) + 1))  # one failed check per round, numbered per unit
        if any(e.state in ("failed", "canceled") for e in rows):
            assert len(rounds) == MAX_ROUNDS
