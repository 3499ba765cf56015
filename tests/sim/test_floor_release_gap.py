"""The deadlock check `Floor._release` runs when a blocked cell, its unit passed on at last,
frees without freeing a place (its unit still holds the place for other work there): a cycle
that closes there, and only there, is broken at once. A small hand-made plan with deterministic
work, so every executed time is known in advance (the same check in `Floor._finish`, on the
short path, is test_floor_gaps')."""
import pytest

from plant.loader import spec_from_dict
from scheduler.schedule import Assignment
from sim.floor import Floor
from test_floor_places import assert_executed_as_planned
from test_plan_execution import _run_plan

FIXED = {"distribution": "deterministic"}  # every executed time follows from the plan by hand
ROUTINGS = {  # product -> its operations (capability, work s, predecessors)
    "pw": [("ca", 500, []), ("cc", 600, ["o0"])],
    "pu": [("ca", 600, []), ("ca", 600, []), ("cb", 600, ["o0"])],  # o0 and o1 in parallel at ta: one place
    # (`kept`: o1 after o0 instead, so o0's end keeps pu's place for o1 while it waits for a tb place for o2)
    "pz": [("cb", 300, []), ("ca", 600, ["o0"])],
    "pr": [("cc", 400, []), ("ca", 600, ["o0"])],
    "pv": [("cb", 1200, [])],
}
PLAN = [  # (job, op, cell, start, end): the plan, in plan order
    ("pw#00001", "o0", "ta-001", 0, 500), ("pw#00001", "o1", "tc-001", 500, 1100),
    ("pu#00001", "o0", "ta-002", 0, 600), ("pu#00001", "o1", "ta-001", 500, 1100), ("pu#00001", "o2", "tb-001", 600, 1200),  # o1 at 600 with `kept`
    ("pz#00001", "o0", "tb-001", 0, 300), ("pz#00001", "o1", "ta-002", 600, 1200),
    ("pr#00001", "o0", "tc-001", 0, 400), ("pr#00001", "o1", "ta-002", 1200, 1800),
    ("pv#00001", "o0", "tb-002", 0, 1200),
]
BROKEN_AT = 1200.0  # pv leaves tb-002: pu's wait for a tb place ends, ta-002 frees, the cycle closes
# What runs, worked out by hand: pw, parked off ta-001 at 1200, frees the place it held there; pz
# takes it (its o1 on ta-002 at once), tb-001 frees and takes pu's o2, ta-001 pu's o1. At 1800
# pu's and pz's ends free ta places: pr leaves tc-001 for ta-002, and pw (parked, first in line
# for tc) gets tc-001.
EXECUTED = [
    ("pw#00001", "o0", "ta-001", 0.0, 500.0), ("pu#00001", "o0", "ta-002", 0.0, 600.0),
    ("pz#00001", "o0", "tb-001", 0.0, 300.0), ("pr#00001", "o0", "tc-001", 0.0, 400.0),
    ("pv#00001", "o0", "tb-002", 0.0, 1200.0),
    ("pu#00001", "o1", "ta-001", 1200.0, 1800.0), ("pu#00001", "o2", "tb-001", 1200.0, 1800.0),
    ("pz#00001", "o1", "ta-002", 1200.0, 1800.0),
    ("pr#00001", "o1", "ta-002", 1800.0, 2400.0), ("pw#00001", "o1", "tc-001", 1800.0, 2400.0),
]


def _routings(kept: bool) -> dict:
    if not kept:
        return ROUTINGS
    return {**ROUTINGS, "pu": [ROUTINGS["pu"][0], ("ca", 600, ["o0"]), ROUTINGS["pu"][2]]}


def _held_place_cycle(kept: bool):
    """Zero-buffer cells: ta-001, ta-002 (2 places), tb-001, tb-002 (2 places), tc-001 (1).
    pu holds one ta place for two parallel operations: o0 on ta-002, o1 planned on ta-001
    (`kept`: o1 after o0, so o0's end keeps pu's place for it: `_pass_on`'s kept place).
      300  pz finishes o0 on tb-001 and blocks there waiting for ta (full: pw, pu);
      400  pr finishes o0 on tc-001 and blocks waiting for ta;
      500  pw finishes o0 on ta-001 and blocks waiting for tc (pr); pu's o1 is handed to
           ta-001, queued behind pw (`kept`: at 1200, when pu is passed on; ta is full then, so
           every free ta cell of the controller's may take it, and ta-001 is asked first);
      600  pu finishes o0 on ta-002 and blocks waiting for tb (pz, pv); its o2 goes to tb-001;
      1200 pv leaves tb-002: pu gets its tb place, its o2 is queued behind pz on tb-001, and
           ta-002 frees, keeping pu's place (its o1 still holds it).
    Every wait began while a cell still worked (pu's own ta-002 until 1200), so no check found
    the cycle then: pw (ta) -> tc (pr) -> ta; pz (tb) -> ta; pu's work waits behind pw and pz.
    It closes only when ta-002 frees at 1200, in `_release` (pu passed on off the generator)."""
    routings = _routings(kept)
    spec = spec_from_dict({
        "name": "held place", "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}},
        "demand": {p: 10 for p in routings},
        "products": [{"name": p, "family": "f", "category": "compute", "mw": 0.1, "routing": [
            {"id": f"o{i}", "capability": cap, "duration": work, "predecessors": preds, "variability": FIXED}
            for i, (cap, work, preds) in enumerate(ops)]} for p, ops in routings.items()],
        "cell_types": [{"name": f"t{c}", "capabilities": {f"c{c}": 1.0}, "buffer": 0} for c in "abc"],
        "cells": [{"type": "ta", "count": 2}, {"type": "tb", "count": 2}, {"type": "tc", "count": 1}]})
    plan = [(job, op, cell, 600, 1200) if kept and (job, op) == ("pu#00001", "o1") else (job, op, cell, start, end)
            for job, op, cell, start, end in PLAN]
    return spec, [Assignment(*row) for row in plan]


@pytest.mark.parametrize("kept", [False, True], ids=["parallel", "kept"])
@pytest.mark.parametrize("control", ["blind", "repair"])
def test_a_deadlock_that_closes_when_a_blocked_cell_frees_without_a_place_is_broken_then(monkeypatch, control, kept):
    release = Floor._release
    kept_at_release = []  # (unit, kept) of each _release: which way pu's place stayed at ta
    parked_in_release = []  # (time, cell, unit) of each _release whose deadlock check parked a unit

    def watched(self, cell, task, keeps):
        before = self.deadlocks.resolved
        kept_at_release.append((task.unit.name, keeps))
        release(self, cell, task, keeps)
        if self.deadlocks.resolved != before:
            parked_in_release.append((self.env.now, cell.name, task.unit.name))

    monkeypatch.setattr(Floor, "_release", watched)
    spec, rows = _held_place_cycle(kept)
    trace = _run_plan(spec, rows, control)
    record = trace.control
    # Broken, not left standing (without the check the floor stops at 1200, pv alone finished).
    assert record["units_finished"] == record["units"] == len(ROUTINGS)
    assert record["deadlocks_resolved"] == 1
    # Broken where and when it closed: ta-002 freeing pu's o0 at 1200, in _release.
    assert parked_in_release == [(BROKEN_AT, "ta-002", "pu#00001")]
    assert kept_at_release[0] == ("pu#00001", kept)  # the place stayed by the way this case means
    assert record["min_places_free"] >= 0  # no buffer over its places: parking is off the floor, not an extra place
    assert_executed_as_planned(trace, rows, _routings(kept))
    # The exact times: no work waits past the moment the cycle closed.
    assert sorted(trace.executed) == sorted(EXECUTED)
    assert min(start for *_, start, _ in trace.executed if start > 0) == BROKEN_AT


# ---------------------------------------------------------------- found on the way: a victim off the cycle
# (sim.deadlock parked the first stuck unit whose leaving frees a place, here pz, whose tb place
# no stuck unit wanted: the ta <-> tc cycle stayed and the floor stopped at 1500 under blind)
def test_a_deadlock_found_from_a_station_off_its_cycle_is_broken_on_the_cycle():
    """The same floor, pu's o2 planned at 1500 (blind holds it back until then): ta-002 frees at
    1200 with o2 not yet handed to a cell, so nothing is stuck there yet; the cycle closes at 1500,
    when o2 is queued behind pz on tb-001, and the check runs from tb. The first stuck unit whose
    leaving frees a place is pz, on tb-001; parking it frees a tb place nobody waits for and lets
    pu's o2 run, but pw (ta-001) still waits for tc, pr (tc-001) for ta, and pu's place at ta for
    its o1, queued on ta-001 behind pw. Parking pw (its ta place is wanted) breaks it: the check
    must choose it over pz."""
    spec, rows = _held_place_cycle(False)
    rows = [Assignment(r.job, r.op, r.cell, 1500, 2100) if (r.job, r.op) == ("pu#00001", "o2") else r for r in rows]
    record = _run_plan(spec, rows, "blind").control
    assert record["deadlocks_resolved"] >= 1
    assert record["units_finished"] == record["units"] == len(ROUTINGS)
