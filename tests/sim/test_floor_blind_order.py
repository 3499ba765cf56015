"""Deadlocks that only the plan's strict order closes (blind: a free cell starts the head of its
sequence and nothing else), on small hand-made plans with deterministic work, as in
test_floor_places (whose checks they share): a random sweep of scheduler plans found them
standing for good under blind.
- A ready task behind its cell's head, whose unit waits on the cycle: the check counted the
  task as one that moves (its station has a free cell), but under blind that cell waits for the
  head, which arrives only with its unit (`Deadlocks._behind_head`).
- The same behind a head whose unit waits off the floor holding no place (a held-back release,
  or a parked unit): such a unit was not among the waits at all (`Deadlocks.wait_off_floor`).
- Two parked units off the floor, each holding the place the other waits for (its work there held
  back with it): no unit on a cell to park; one's held-back work is queued where it holds its
  place (`Deadlocks._queue_parked`)."""
import pytest

from scheduler.schedule import Assignment
from test_floor_places import _run_checked, _spec

# ---------------------------------------------------------------- a ready task behind a stuck head
BEHIND = {  # product -> its operations (capability, work s, predecessors)
    "px": [("ca", 500, []), ("cb", 600, ["o0"])],
    "py": [("cd", 100, []), ("ca", 600, ["o0"]), ("cc", 600, ["o0"])],  # o1 at ta, o2 at tc after o0
    "pz": [("cb", 300, []), ("ca", 600, ["o0"]), ("cc", 600, ["o0"])],  # o1 at ta, o2 at tc after o0
}
BEHIND_PLAN = [
    ("py#00001", "o0", "td-001", 0, 100),
    ("px#00001", "o0", "ta-001", 0, 500), ("py#00001", "o1", "ta-001", 500, 1100),
    ("pz#00001", "o1", "ta-001", 1100, 1700),
    ("pz#00001", "o0", "tb-001", 0, 300), ("px#00001", "o1", "tb-001", 500, 1100),
    ("pz#00001", "o2", "tc-001", 300, 900), ("py#00001", "o2", "tc-001", 900, 1500),
]
CLOSES_AT = 500.0  # px's o0 ends on ta-001


def _behind_plan():
    """ta: one cell and one buffer place (2 places); tb: one cell, no buffer place (1 place); tc:
    one cell and one buffer place; td: one cell.
      0    px enters ta (o0 on ta-001), pz tb (o0 on tb-001), py td (o0 on td-001);
      100  py finishes o0 and goes on to ta (for o1) and tc (for o2): ta is full; py's o2 is ready
           at tc, whose free cell tc-001 is planned to run pz's o2 first;
      300  pz finishes o0 and blocks tb-001 waiting for a ta place for o1; its o2 (tc's head) is
           held back with it, as a unit passes on once it has every place;
      500  px finishes o0 and blocks ta-001 waiting for tb's place (pz's); py's o1 is handed to
           ta-001, held by px.
    A cycle: px (ta) waits for tb, pz (tb) for ta, and py's ta place frees only once its o1 runs
    on ta-001, behind px. py's o2 is ready at tc, where a cell is free, so the check counted py
    as a unit that moves and the floor stood for good; but under blind tc-001 waits for its head,
    pz's o2, held back on the cycle. (Under repair the look-ahead starts py's o2 on tc-001 out
    of order, and the cycle closes when it ends, with nothing ready next: `Floor._finish`.)"""
    spec = _spec("behind a stuck head", BEHIND, {"a": 1, "b": 0, "c": 1, "d": 0}, {"a": 1, "b": 1, "c": 1, "d": 1})
    return spec, [Assignment(*row) for row in BEHIND_PLAN]


@pytest.mark.parametrize("control", ["blind", "repair"])
def test_a_ready_task_behind_a_head_held_back_on_the_cycle_is_stuck(monkeypatch, control):
    # Broken, not left standing (without the check the floor stops at 500 under blind: no unit finished).
    trace = _run_checked(monkeypatch, _behind_plan(), BEHIND, control)
    assert trace.control["deadlocks_resolved"] == 1
    if control == "blind":
        # Broken when it closed: no work waits past px's o0 ending (ta-001 takes py's o1 then).
        assert min(start for *_, start, _ in trace.executed if start > 0) == CLOSES_AT


# ---------------------------------------------------------------- a head held back off the floor, holding no place
OFF = {
    "px": BEHIND["px"],
    "py": BEHIND["py"],
    "pz": BEHIND["pz"][:2],  # o0 at tb, then o1 at ta
    "pw": [("ca", 600, []), ("cc", 600, [])],  # two roots in parallel: o0 at ta, o1 at tc
}
OFF_PLAN = [
    ("py#00001", "o0", "td-001", 0, 100),
    ("px#00001", "o0", "ta-001", 0, 500), ("py#00001", "o1", "ta-001", 500, 1100),
    ("pz#00001", "o1", "ta-001", 1100, 1700), ("pw#00001", "o0", "ta-001", 1700, 2300),
    ("pz#00001", "o0", "tb-001", 0, 300), ("px#00001", "o1", "tb-001", 500, 1100),
    ("pw#00001", "o1", "tc-001", 200, 800), ("py#00001", "o2", "tc-001", 900, 1500),
]


def _off_plan():
    """The stations of _behind_plan; pz's o2 goes, and tc's head is pw's o1 instead, a root of a
    unit released at 200 (its first planned start) to ta and tc.
      0    px enters ta (o0 on ta-001), pz tb (o0 on tb-001), py td (o0 on td-001);
      100  py goes on to ta (for o1) and tc (for o2): ta is full; py's o2 waits behind tc's head;
      200  pw is due, but ta is full: it waits off the floor for a ta place, holding none, and
           its o1 (tc's head) waits with it;
      300  pz finishes o0 and blocks tb-001 waiting for a ta place;
      500  px finishes o0 and blocks ta-001 waiting for tb's place (pz's).
    The cycle of the first case, with tc's head held back by a unit off the floor: the check did
    not count it among the waits at all (a unit holding no place cannot close a cycle, but under
    blind it can, through the cells waiting for its work)."""
    spec = _spec("behind a head off the floor", OFF, {"a": 1, "b": 0, "c": 1, "d": 0}, {"a": 1, "b": 1, "c": 1, "d": 1})
    return spec, [Assignment(*row) for row in OFF_PLAN]


def test_a_ready_task_behind_a_head_waiting_off_the_floor_is_stuck(monkeypatch):
    # Broken, not left standing (without the check the floor stops at 500: no unit finished).
    trace = _run_checked(monkeypatch, _off_plan(), OFF, "blind")
    assert trace.control["deadlocks_resolved"] == 1
    assert min(start for *_, start, _ in trace.executed if start > 0) == CLOSES_AT


# ---------------------------------------------------------------- two parked units, each holding the place the other waits for
PARKED = {
    "p0": [("ca", 500, []), ("cb", 300, ["o0"]), ("ca", 200, ["o0"])],  # after o0 at ta: o1 at tb, o2 at ta
    "p1": [("cb", 100, []), ("ca", 300, ["o0"]), ("cb", 100, ["o0"])],  # after o0 at tb: o1 at ta, o2 at tb
    "p2": [("ca", 100, []), ("ca", 300, ["o0"]), ("cb", 300, ["o1"])],
    "p3": [("cb", 200, []), ("cb", 300, ["o0"])],
    "p4": [("cb", 300, []), ("cb", 500, ["o0"]), ("cb", 300, ["o1"]), ("ca", 100, ["o1"])],
}
PARKED_PLAN = [
    ("p0#00001", "o0", "ta-001", 0, 500), ("p1#00001", "o1", "ta-001", 500, 800),
    ("p0#00001", "o2", "ta-001", 800, 1000), ("p4#00001", "o3", "ta-001", 1400, 1500),
    ("p2#00001", "o0", "ta-001", 1500, 1600), ("p2#00001", "o1", "ta-001", 1600, 1900),
    ("p1#00001", "o0", "tb-001", 0, 100), ("p4#00001", "o0", "tb-001", 100, 400),
    ("p3#00001", "o0", "tb-001", 400, 600), ("p3#00001", "o1", "tb-001", 600, 900),
    ("p4#00001", "o1", "tb-001", 900, 1400), ("p4#00001", "o2", "tb-001", 1400, 1700),
    ("p1#00001", "o2", "tb-001", 1700, 1800), ("p0#00001", "o1", "tb-001", 1800, 2100),
    ("p2#00001", "o2", "tb-001", 2100, 2400),
]
STOOD_AT = 1600.0  # p4's o2 ends on tb-001: the last work before the floor stood


def _parked_plan():
    """ta, tb: one cell each, no buffer place (one place each). (Found by a search of small
    random plans; each unit's work after its first operation is at both stations.)
      0    p0 o0 on ta-001, p1 o0 on tb-001;
      100  p1 blocks tb-001 waiting for a ta place (o1; its o2 keeps its tb place); p4, due, waits
           off the floor for a tb place;
      500  p0 blocks ta-001 waiting for tb: a cycle, broken by parking p1, whose tb place goes
           to the first in tb's line, p4; p1 waits off the floor in ta's line;
      1300 p4 blocks tb-001 waiting for ta (o3; its o2 keeps tb): p0 (ta) and p4 (tb) close a
           cycle; p0 is parked and its ta place goes to p1, which now waits off the floor for a tb
           place for o2, its o1 held back with it; then p4 is parked (its o2 queued on tb-001);
      1600 p4's o2 ends: tb's place goes to p0, which waits off the floor for a ta place for o2.
    p1 holds ta and waits for tb, p0 holds tb and waits for ta, both off the floor, their work
    held back with them: no cell holds a unit of the cycle, so parking one breaks nothing. The
    check found it but no unit to park: the floor stood for good."""
    spec = _spec("two parked units", PARKED, {"a": 0, "b": 0}, {"a": 1, "b": 1})
    return spec, [Assignment(*row) for row in PARKED_PLAN]


def test_two_parked_units_each_holding_the_place_the_other_waits_for_go_on(monkeypatch):
    trace = _run_checked(monkeypatch, _parked_plan(), PARKED, "blind")
    # Three units parked, then p1's held-back o1 queued at ta, where it holds its place.
    assert trace.control["deadlocks_resolved"] == 4
    assert ("p1#00001", "o1", "ta-001", STOOD_AT, STOOD_AT + 300) in trace.executed
