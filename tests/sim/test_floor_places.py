"""A unit's places at stations with finite buffers, where it has work in parallel at two stations
(its routing branches) or is parked off the floor to break a deadlock: four paths of the floor a
random sweep of scheduler plans found wrong, each on a small hand-made plan with deterministic
work, so every executed time is known in advance.
- A deadlock that closes when the unit's work at one station ends with nothing ready next: its
  place at another station, for work queued there, counted as one that could still free while
  that work went on (`Floor._finish` checks the stations it holds).
- Two branches of one unit waiting, blocked, for places at the same station: the second place
  granted is one too many (one unit, one place), and must go back (`Floor._pass_on`).
- A unit parked with a place kept for its next operation where it was: that operation is queued
  there at once (`Floor._queue_held`), not held back until the unit has its other places.
- A parked unit's wait for a place its unit has taken since (another branch): the wait leaves
  the station's line (`Floor._leave_line`), or the next place freed there is lost."""
import pytest

from plant.loader import spec_from_dict
from scheduler.schedule import Assignment
from sim.floor import Floor
from test_plan_execution import _run_plan

FIXED = {"distribution": "deterministic"}  # every executed time follows from the plan by hand


def _spec(name: str, routings: dict, buffers: dict[str, int], cells: dict[str, int]):
    """`routings`: product -> its operations (capability, work s, predecessors); cell type tX does
    capability cX, with `buffers[X]` buffer places and `cells[X]` cells."""
    return spec_from_dict({
        "name": name, "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}},
        "demand": {p: 10 for p in routings},
        "products": [{"name": p, "family": "f", "category": "compute", "mw": 0.1, "routing": [
            {"id": f"o{i}", "capability": cap, "duration": work, "predecessors": preds, "variability": FIXED}
            for i, (cap, work, preds) in enumerate(ops)]} for p, ops in routings.items()],
        "cell_types": [{"name": f"t{c}", "capabilities": {f"c{c}": 1.0}, "buffer": b} for c, b in buffers.items()],
        "cells": [{"type": f"t{c}", "count": n} for c, n in cells.items()]})


def _run_checked(monkeypatch, plan: tuple, routings: dict, control: str):
    """Run a hand-made plan (`plan`: its spec and rows) under `control`; check what every case here
    must hold: every unit finished, every planned operation ran once, each after its
    predecessors, one at a time per cell, no buffer over its places, and every place given back
    at the end (a lost place shows there, or only later). Returns the trace."""
    floors = []  # the run's floor, kept when it closes, to read its stations' places
    close = Floor.close

    def kept(self):
        floors.append(self)
        close(self)

    monkeypatch.setattr(Floor, "close", kept)
    spec, rows = plan
    trace = _run_plan(spec, rows, control)
    record = trace.control
    assert record["units_finished"] == record["units"] == len(routings)
    assert record.get("min_places_free", 0) >= 0  # (a plan run records it; the rule does not)
    assert_executed_as_planned(trace, rows, routings)
    assert all(station.places_free == station.places for station in floors[0].stations)
    return trace


def assert_executed_as_planned(trace, rows, routings) -> None:
    """Every planned operation ran once, each after its predecessors, one at a time per cell."""
    assert sorted((job, op) for job, op, *_ in trace.executed) == sorted((r.job, r.op) for r in rows)
    ends = {(job, op): (start, end) for job, op, _, start, end in trace.executed}
    for job, op, *_ in trace.executed:
        for pred in routings[job.split("#")[0]][int(op[1:])][2]:
            assert ends[(job, pred)][1] <= ends[(job, op)][0]
    by_cell = {}
    for _, _, cell, start, end in trace.executed:
        by_cell.setdefault(cell, []).append((start, end))
    for spans in by_cell.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


# ---------------------------------------------------------------- a deadlock closed by work ending elsewhere
CLOSING = {  # product -> its operations (capability, work s, predecessors)
    "px": [("ca", 500, []), ("cb", 600, ["o0"])],
    "py": [("cb", 300, []), ("ca", 600, ["o0"])],
    "pu": [("cc", 1200, []), ("ca", 600, [])],  # two roots in parallel: o0 at tc, o1 at ta
}
CLOSING_PLAN = [
    ("px#00001", "o0", "ta-001", 0, 500), ("py#00001", "o0", "tb-001", 0, 300),
    ("pu#00001", "o0", "tc-001", 0, 1200), ("pu#00001", "o1", "ta-001", 600, 1200),
    ("px#00001", "o1", "tb-001", 1200, 1800), ("py#00001", "o1", "ta-001", 1800, 2400),
]
CLOSES_AT = 1200.0  # pu's o0 ends on tc-001


def _closing_plan():
    """ta: one cell and one buffer place (2 places); tb, tc: one cell, no buffer place (1 each).
      0    px enters ta (o0 on ta-001), pu enters ta (for o1) and tc (o0 on tc-001): ta is full;
           py enters tb (o0 on tb-001);
      300  py finishes o0 and blocks tb-001 waiting for a ta place (px's and pu's);
      500  px finishes o0 and blocks ta-001 waiting for tb's place (py's);
      600  pu's o1 is handed to ta-001, held by px.
    A cycle: px (ta) waits for tb, py (tb) for ta, and pu's ta place frees only once its o1 runs
    on ta-001 behind px. Every check until now saw pu at work on tc (a unit at work moves: its
    place may free), so none found it. It closes at 1200, when pu's o0 ends with nothing ready
    next (its o1 waits in ta): pu is then only queued work, at a station whose cell holds a
    waiting unit. No place frees and no cell at ta or tb: only a check of the stations pu holds
    a place at (ta, where py waits for a place) sees it."""
    spec = _spec("closing", CLOSING, {"a": 1, "b": 0, "c": 0}, {"a": 1, "b": 1, "c": 1})
    return spec, [Assignment(*row) for row in CLOSING_PLAN]


@pytest.mark.parametrize("control", ["blind", "repair"])
def test_a_deadlock_that_closes_when_a_units_work_ends_elsewhere_is_broken_then(monkeypatch, control):
    finish = Floor._finish
    parked_in_finish = []  # (time, cell, unit) of each _finish whose deadlock checks parked a unit

    def watched(self, cell, task, started):
        before = self.deadlocks.resolved
        out = finish(self, cell, task, started)
        if self.deadlocks.resolved != before:
            parked_in_finish.append((self.env.now, cell.name, task.unit.name))
        return out

    monkeypatch.setattr(Floor, "_finish", watched)
    # Broken, not left standing (without the check the floor stops at 1200: no unit finished).
    trace = _run_checked(monkeypatch, _closing_plan(), CLOSING, control)
    assert trace.control["deadlocks_resolved"] == 1
    # Broken where and when it closed: pu's o0 ending on tc-001 at 1200.
    assert parked_in_finish == [(CLOSES_AT, "tc-001", "pu#00001")]
    # No work waits past the moment the cycle closed (then the floor moves again at once).
    assert min(start for *_, start, _ in trace.executed if start > 0) == CLOSES_AT


# ---------------------------------------------------------------- one unit, two places at one station
TWO = {
    "pb": [("cs", 1000, [])],
    "pc": [("cs", 1100, [])],
    "pu": [("ca", 600, []), ("cb", 700, []), ("cs", 600, ["o0"]), ("cs", 600, ["o1"])],  # two branches into ts
    "pd": [("cs", 600, [])],
    "pe": [("cs", 600, [])],
}
TWO_PLAN = [  # the plan; under blind, with deterministic work, what runs too
    ("pb#00001", "o0", "ts-001", 0, 1000), ("pc#00001", "o0", "ts-002", 0, 1100),
    ("pu#00001", "o0", "ta-001", 0, 600), ("pu#00001", "o1", "tb-001", 0, 700),
    ("pu#00001", "o2", "ts-001", 1000, 1600), ("pu#00001", "o3", "ts-002", 1100, 1700),
    ("pd#00001", "o0", "ts-001", 2000, 2600), ("pe#00001", "o0", "ts-002", 2000, 2600),
]


def _two_branches_plan():
    """ts: two cells, no buffer place (2 places), ta, tb: one cell each, no buffer place.
      0    pb and pc take both ts places (work on ts-001 until 1000, ts-002 until 1100); pu starts
           its two branches, o0 on ta-001 and o1 on tb-001, both followed by work at ts;
      600  pu's o0 ends: blocks ta-001 waiting for a ts place;
      700  pu's o1 ends: blocks tb-001 waiting for a ts place too (pu holds none there yet);
      1000 pb leaves: its place goes to pu's first wait, o2 runs on ts-001;
      1100 pc leaves: its place goes to pu's second wait, but pu holds a ts place already (for o2)
           and its o3 shares it: the second place must go back, or the last of the two to end
           gives back one place of the two pu took and ts keeps one place short for good;
      2000 pd and pe each need a ts place: both start as planned only with both places there."""
    spec = _spec("two branches", TWO, {"a": 0, "b": 0, "s": 0}, {"a": 1, "b": 1, "s": 2})
    return spec, [Assignment(*row) for row in TWO_PLAN]


@pytest.mark.parametrize("control", ["blind", "repair"])
def test_two_branches_granted_places_at_one_station_give_the_second_back(monkeypatch, control):
    trace = _run_checked(monkeypatch, _two_branches_plan(), TWO, control)  # the leak kept one of ts's two places
    # And the plan runs as written: pd and pe both at 2000 (with a ts place lost, pe waits for pd's).
    assert sorted(trace.executed) == sorted((job, op, cell, float(start), float(end)) for job, op, cell, start, end in TWO_PLAN)


# ---------------------------------------------------------------- a parked unit's kept place
KEEPING = {  # each unit's first operation is followed by one at its own station and one at the other's
    "pa": [("ca", 600, []), ("ca", 600, ["o0"]), ("cb", 600, ["o0"])],
    "pb": [("cb", 700, []), ("cb", 600, ["o0"]), ("ca", 600, ["o0"])],
}
KEEPING_PLAN = [
    ("pa#00001", "o0", "ta-001", 0, 600), ("pb#00001", "o0", "tb-001", 0, 700),
    ("pa#00001", "o1", "ta-001", 700, 1300), ("pb#00001", "o1", "tb-001", 700, 1300),
    ("pb#00001", "o2", "ta-001", 1300, 1900), ("pa#00001", "o2", "tb-001", 1300, 1900),
]


def _keeping_plan():
    """ta, tb: one cell each, no buffer place (one place each).
      600  pa finishes o0 on ta-001: o1 keeps its ta place, o2 waits for tb's (pb's);
      700  pb finishes o0 on tb-001: o1 keeps its tb place, o2 waits for ta's (pa's).
    A deadlock of two, broken by parking one of them, say pa: its cell is free, but not its place
    (o1 keeps it). Parked with o1 held back until it has its tb place too, it holds ta's only
    place for nothing: pb waits for it on tb-001, pa for pb's, off the floor, where no check can
    park it. Queued at once, o1 runs on the cell pa left; its end frees the place for pb."""
    spec = _spec("keeping", KEEPING, {"a": 0, "b": 0}, {"a": 1, "b": 1})
    return spec, [Assignment(*row) for row in KEEPING_PLAN]


@pytest.mark.parametrize("control", ["rule", "blind", "repair"])
def test_a_unit_parked_with_a_kept_place_has_its_work_there_queued(monkeypatch, control):
    trace = _run_checked(monkeypatch, _keeping_plan(), KEEPING, control)  # (before: stopped at 700, none finished)
    assert trace.control["deadlocks_resolved"] >= 1


# ---------------------------------------------------------------- a parked unit's wait left in the line
LINE = {
    "pz": [("cs", 500, []), ("cr", 600, ["o0"])],
    "px": [("cr", 100, []), ("cs", 600, ["o0"]), ("cq", 600, ["o1"])],
    "pu": [("cp", 200, []), ("cq", 300, []), ("cs", 600, ["o0"]), ("cs", 600, ["o1"])],  # two branches into ts
}
LINE_PLAN = [  # the plan; under blind, with deterministic work, what runs too
    ("pz#00001", "o0", "ts-001", 0, 500), ("pz#00001", "o1", "tr-001", 500, 1100),
    ("px#00001", "o0", "tr-001", 0, 100), ("px#00001", "o1", "ts-001", 500, 1100), ("px#00001", "o2", "tq-001", 1100, 1700),
    ("pu#00001", "o0", "tp-001", 0, 200), ("pu#00001", "o1", "tq-001", 0, 300),
    ("pu#00001", "o2", "ts-001", 1100, 1700), ("pu#00001", "o3", "ts-001", 1700, 2300),
]


def _line_plan():
    """ts: one cell and one buffer place (2 places); tp, tq, tr: one cell each, no buffer place.
      0    pz takes a ts place (o0 on ts-001 until 500); pu's two branches start, o0 on tp-001
           and o1 on tq-001, each followed by work at ts;
      100  px leaves tr-001 for ts's buffer place: ts is full;
      200  pu's o0 ends: blocks tp-001, first in ts's line;
      300  pu's o1 ends: blocks tq-001, second in ts's line (pu holds no ts place yet);
      500  pz leaves ts for tr: its place goes to pu's o0 branch; ts-001 takes px's o1, and pu's
           o2 waits behind it (the plan's order);
      1100 px ends on ts-001 and blocks, waiting for tq's place, held by pu's o1 branch, which
           waits for a ts place: px's or pu's own. The deadlock is broken by parking pu off
           tq-001; off the floor it has its ts place already (o2's, shared), so it waits no more,
           but its wait must leave ts's line: px, leaving ts for tq at once, frees a place that
           would go to that wait, to nobody, and ts would stay one place short for good."""
    spec = _spec("line", LINE, {"p": 0, "q": 0, "r": 0, "s": 1}, {"p": 1, "q": 1, "r": 1, "s": 1})
    return spec, [Assignment(*row) for row in LINE_PLAN]


@pytest.mark.parametrize("control", ["blind", "repair"])
def test_a_parked_wait_for_a_place_its_unit_holds_since_leaves_the_line(monkeypatch, control):
    trace = _run_checked(monkeypatch, _line_plan(), LINE, control)  # a ts place was lost
    assert trace.control["deadlocks_resolved"] == 1
    if control == "blind":  # the plan as written: the deadlock is broken as it closes
        assert sorted(trace.executed) == sorted((job, op, cell, float(start), float(end)) for job, op, cell, start, end in LINE_PLAN)
