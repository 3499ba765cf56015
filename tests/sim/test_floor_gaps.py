"""Two paths of the plan-mode floor no test pinned down before, each on a small hand-made plan
with deterministic work, so every executed time is known in advance:
- the deadlock check a cell runs when it frees without freeing a place (`Floor._finish`'s
  last check): a cycle that closes there, and only there, is broken at once;
- `PlanCells._begin`'s short way for a cell with a calendar (one event at now + work when the
  work ends before the cell's next window as last read), run for real against the same plan
  with that short way off (every operation through `_work_out`) and step by step."""
import math

import pytest

from plant.loader import spec_from_dict
from scheduler.schedule import Assignment
from sim import plancells
from sim.floor import Floor
from test_plan_execution import _assert_finished_after_parking, _run_plan

H = 3600
FIXED = {"distribution": "deterministic"}  # every executed time follows from the plan by hand


def _line(caps: list[str], durations: list[float] | None = None) -> list[dict]:
    durations = durations or [600] * len(caps)
    return [{"id": f"o{i}", "capability": cap, "duration": d, "predecessors": [f"o{i - 1}"] if i else [],
             "variability": FIXED} for i, (cap, d) in enumerate(zip(caps, durations))]


def _spec(name: str, products: dict[str, list[dict]], cell_types: list[dict], cells: dict[str, int], families: dict | None = None):
    return spec_from_dict({
        "name": name, "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}},
        "demand": {p: 10 for p in products},
        "products": [{"name": p, "family": (families or {}).get(p, "f"), "category": "compute", "mw": 0.1, "routing": r}
                     for p, r in products.items()],
        "cell_types": cell_types, "cells": [{"type": t, "count": n} for t, n in cells.items()]})


# ---------------------------------------------------------------- a deadlock closed by a cell freeing
def _kept_place_cycle():
    """Two zero-buffer cells of type ta (2 places) and one of tb (1 place). y (o0 on ta-001, then
    tb) finishes at 600 and blocks ta-001 waiting for tb, where z works; z (o0 on tb, then ta)
    finishes at 900 and blocks tb waiting for ta, full with y and x; x (o0 on ta-002, o1 on
    ta-001) finishes o0 at 1200 and keeps its place for o1, which the plan puts on ta-001, held
    by y. Every wait began while ta-002 still worked, so no check found the cycle then; it
    closes only when ta-002 frees at 1200 without freeing a place."""
    spec = _spec("kept place", {"px": _line(["ca", "ca"]), "py": _line(["ca", "cb"]), "pz": _line(["cb", "ca"])},
                 [{"name": "ta", "capabilities": {"ca": 1.0}, "buffer": 0}, {"name": "tb", "capabilities": {"cb": 1.0}, "buffer": 0}],
                 {"ta": 2, "tb": 1})
    rows = [Assignment("py#00001", "o0", "ta-001", 0, 600), Assignment("pz#00001", "o0", "tb-001", 300, 900),
            Assignment("px#00001", "o0", "ta-002", 600, 1200), Assignment("px#00001", "o1", "ta-001", 1200, 1800),
            Assignment("py#00001", "o1", "tb-001", 1800, 2400), Assignment("pz#00001", "o1", "ta-002", 1800, 2400)]
    return spec, rows


@pytest.mark.parametrize("control", ["blind", "repair"])
def test_a_deadlock_that_closes_when_a_cell_frees_without_a_place_is_broken_then(control):
    spec, rows = _kept_place_cycle()
    trace = _run_plan(spec, rows, control)
    # Broken, not left standing (without the check the floor stops there, no unit finished).
    assert _assert_finished_after_parking(trace, len(rows), units=3)["deadlocks_resolved"] == 1
    ran = sorted((job, op) for job, op, *_ in trace.executed)
    assert ran == sorted((r.job, r.op) for r in rows)  # every planned operation once
    # Broken when it closed: y is parked off ta-001 at 1200, so x's o1 starts there at once.
    assert ("px#00001", "o1", "ta-001", 1200.0, 1800.0) in trace.executed
    if control == "blind":  # the plan as written: nothing is late once the cycle is broken at once
        assert sorted(trace.executed) == sorted((r.job, r.op, r.cell, float(r.start), float(r.end)) for r in rows)


# ---------------------------------------------------------------- a calendar cell's short way in _begin
WINDOW = {"start": "2h", "duration": "1h", "every": "4h"}  # off 2-3 h, 6-7 h, 10-11 h, ...
REPAIR = 600.0  # repair_cv 0: every repair takes exactly the mean
SETUP = 300.0
TINY = 5e-10  # work below sim.entities.EPS is none: it ends as it starts
# Operations on one cell, as (job, planned start, work, executed start and end worked out by
# hand, whether _begin's short way takes it). pw's operations run in a line; blind starts each
# at its planned start once the cell is free. The plan keeps all work out of the windows.
CALENDAR_CASES = [
    ("pw", 0, 600, 0.0, 600.0, False),  # the cell's first operation: no window read yet
    ("pw", 1800, 1800, 1800.0, 3600.0, True),  # ends before the next window (2 h)
    ("pw", 5400, 1800, 5400.0, 7200.0, True),  # ends exactly as the window starts
    ("pw", 4 * H, 600, 4.0 * H, 4 * H + 600.0, False),  # the window read last (2 h) has passed: read again
    ("pw", 5 * H, 1800, 5.0 * H, 5 * H + 1800 + REPAIR, False),  # the busy-time failure falls due as the work ends
    ("pw", 5 * H + 1800, 1500, 5 * H + 1800 + REPAIR, 7 * H + 300.0, False),  # started late by that repair, it
    # meets the window at 6 h: 1200 s of work, the window's hour, the last 300 s
    ("pw", 9 * H, TINY, 9.0 * H, 9.0 * H, False),  # no work: done at once
    ("pv", 12 * H, 600, 12.0 * H, 12 * H + 600.0, False),  # another family: the cell changes over first
]
FAILS_AFTER = sum(case[2] for case in CALENDAR_CASES[:5])  # busy time until the planted failure


def _calendar_plan():
    lines = {job: [case[2] for case in CALENDAR_CASES if case[0] == job] for job in ("pw", "pv")}
    spec = _spec("calendar", {job: _line(["cw"] * len(works), works) for job, works in lines.items()},
                 [{"name": "tw", "capabilities": {"cw": 1.0}, "unavailable": [WINDOW], "setup": SETUP,
                   "mttf": "5000h", "mttr": REPAIR, "repair_cv": 0.0}], {"tw": 1}, families={"pv": "g"})
    ops = [case[0] for case in CALENDAR_CASES]
    rows = [Assignment(f"{job}#00001", f"o{ops[:k].count(job)}", "tw-001", start, start + max(1, math.ceil(work)))
            for k, (job, start, work, *_) in enumerate(CALENDAR_CASES)]
    return spec, rows


def _calendar_run(monkeypatch, way: str) -> tuple[list, list[int]]:
    """The executed operations of the calendar plan in the order they ran, and which of them
    (their index) went through `_work_out`. `way`: "short" as the floor runs, "work_out" with
    _begin's short ways off, "step" step by step (the reference way, sim.entities.CellRun.ahead)."""
    init, work_out = Floor.__init__, Floor._work_out
    spec, rows = _calendar_plan()
    index = {(row.job, row.op): k for k, row in enumerate(rows)}
    worked_out: list[int] = []

    def planted(self, *args, **kwargs):
        init(self, *args, **kwargs)
        (cell,) = self.cells.values()
        cell.ttf_left = float(FAILS_AFTER)  # whole seconds: the busy clock reaches 0 exactly at pw's o4's end
        cell.ahead = way != "step"

    def counted(self, cell, task, *args):
        worked_out.append(index[(task.unit.name, task.unit.product.ops[task.op].id)])
        return work_out(self, cell, task, *args)

    with monkeypatch.context() as m:
        m.setattr(Floor, "__init__", planted)
        m.setattr(Floor, "_work_out", counted)
        if way == "work_out":  # no work is above EPS for _begin's two short ways: all take _work_out
            m.setattr(plancells, "EPS", math.inf)
        trace = _run_plan(spec, rows, "blind")
    assert trace.control["units_finished"] == 2
    return sorted(trace.executed, key=lambda r: r[3]), worked_out


def test_a_calendar_cells_short_way_ends_work_where_work_out_does(monkeypatch):
    """Work on a cell with planned windows and busy-time failures ends where the hand, the floor
    with _begin's short way off and the step-by-step floor put it, and the short way ran."""
    runs = {way: _calendar_run(monkeypatch, way) for way in ("short", "work_out", "step")}
    executed, worked_out = runs["short"]
    # By hand (the start is the work's, after a changeover).
    assert [(start, end) for *_, start, end in executed] == [(start, end) for *_, start, end, _ in CALENDAR_CASES]
    # The same times, to the last bit, with the short way off and step by step.
    assert executed == runs["work_out"][0] == runs["step"][0]
    # The short way ran the work that ends before or as the next window starts, and only that.
    assert worked_out == [k for k, case in enumerate(CALENDAR_CASES) if not case[-1]]
    assert runs["work_out"][1] == list(range(len(CALENDAR_CASES)))
    assert runs["step"][1] == []
