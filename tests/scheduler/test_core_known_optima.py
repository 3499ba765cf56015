"""Bounds against the public instances whose optimum is known (bks.csv status "closed"): our own
bound and the bound the front door reports (ours or CP-SAT's) never exceed the optimum, and no
plan beats it."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scheduler.fjsplib import read_fjsp
from scheduler.planning import Limits, plan, plan_bound
from scheduler.validate import validate

ROOT = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "fjsp",
                         Path("/work/shared/benchmarks/fjsp")) if p.is_dir()), None)


def _closed() -> dict[str, int]:
    if ROOT is None or not (ROOT / "bks.csv").is_file():
        return {}
    with open(ROOT / "bks.csv") as f:
        return {row["path"]: int(row["best_known_makespan"]) for row in csv.DictReader(f) if row["status"] == "closed"}


CLOSED = _closed()
pytestmark = pytest.mark.skipif(not CLOSED, reason="public FJSP instances not found beside the repository")


def test_our_bound_never_exceeds_a_known_optimum():
    checked = 0
    for rel, optimum in CLOSED.items():
        if (ROOT / rel).is_file():
            assert plan_bound(read_fjsp(ROOT / rel), "makespan") <= optimum, rel
            checked += 1
    assert checked >= 50


@pytest.mark.parametrize("rel", ["Brandimarte1993/mk01.txt", "HurinkJurischThole1994/edata/ft06.txt", "HurinkJurischThole1994/edata/car5.txt"])
def test_reported_bound_and_plan_bracket_the_optimum(rel):
    assert rel in CLOSED, f"{rel} is not closed in bks.csv"
    problem = read_fjsp(ROOT / rel)
    result = plan(problem, "makespan", Limits(3.0, 2))
    validate(problem, result.schedule)
    assert result.bound <= CLOSED[rel] <= result.value
    assert (result.status == "optimal") == (result.value == result.bound)
