"""A replication leaves (almost) nothing in reference cycles: its floor is taken apart at the end
(Floor.dismantle) and everything else dies by reference counting, so the collection that ends a
run (sim.collector.quiet) has nothing to free and walks only what outlives the run. A floor left
in cycles is all of it, streams, calendars and cells: 200-900 objects on these small floors,
~150,000 on the 1 GW week. Counted on the twin fixtures' runs (tests/sim/test_twin_fixtures:
rule, blind, repair, replan and the dispatch rules; bays, AGVs, parking, runs cut mid-operation)."""
from __future__ import annotations

import gc
from collections import Counter

import pytest

from sim.replication import RunConfig, run_replication
from tests.sim.test_twin_fixtures import CASES

LEFT_AT_MOST = 20  # objects: a few may be fine (a cycle inside a library); a floor is far more


def _left_in_cycles(config: RunConfig, replication: int) -> list:
    """What the collection at the end of the run found, with automatic collection off during it
    (so nothing was collected before)."""
    gc.collect()  # what came before, out of the count
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage, to count
    try:
        run_replication(config, replication)
    finally:
        gc.set_debug(0)
        if enabled:
            gc.enable()
    left = list(gc.garbage)
    gc.garbage.clear()
    return left


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_replication_leaves_almost_nothing_in_cycles(case):
    build, replication, _ = CASES[case]
    config = build()
    # The first re-plan in a process compiles (or loads) the controller's jitted code, and the
    # compiler leaves a few hundred objects in cycles of its own, once: the second run is counted.
    _left_in_cycles(config, replication)
    left = _left_in_cycles(config, replication)
    assert len(left) <= LEFT_AT_MOST, (f"{case}: the run left {len(left)} objects in cycles: "
                                       f"{Counter(type(o).__name__ for o in left).most_common(8)}")
