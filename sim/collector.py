"""The garbage collector during a replication. A run builds a floor and a plan that live until
its end (on the 1 GW floor ~700,000 container objects with the spec and the plan) and then
allocates millions of short-lived ones (events, tasks, decisions). CPython's default settings
trace the long-lived ones again at every full collection: 0.6-0.9 s each on the 1 GW week plan
(measured at load 5-7), four of them in a run with cell-down repairs. Inside `quiet()` what
existed before is frozen out of the collector's generations (gc.freeze), young collections run
less often, and what the run left in cycles is collected once at the end, before unfreezing,
so nothing of it outlives the run. Results do not depend on any of this.

A run leaves nothing in cycles (measured at the end of one replication of the 1 GW week plan
with automatic collection off: 0 objects under rule, blind, repair and replan, and a week under
the dispatch rule; tests/sim/test_run_cycles keeps it so): its floor is taken apart
(`Floor.dismantle`) and everything else dies by reference counting. (The first re-plan in a
process leaves ~425 of numba's compiler, once.) Two cycles through the floor, a bound method of
its own kept by its deadlock check and the stations' idle cells, had left the whole floor to the
final collection: 56,000-216,000 objects, 0.17-0.23 CPU s of a week's run. So the final
collection only walks what outlives the run: its trace (~1 ms), and in the first run of a
process the plan's tables built lazily then (~120,000 objects, 0.03-0.05 s, once).

A young collection during a run finds nothing either and only walks the run's live objects: at
CPython's 700, or even 20,000, new objects that was ~60 ms of a 1.3 s week. The young threshold
is high enough that a week of the 1 GW floor runs without one and low enough to stay a safety
net, should some run make cycles after all (500,000 young objects, some tens of MB)."""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None
THRESHOLDS = (500_000, 20, 100)  # young / middle / old: CPython's are (700, 10, 10)


@contextmanager
def quiet():
    """Run a replication with the collector tuned as above; nests and overlaps across threads
    (the first in saves the settings, the last out restores them)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*THRESHOLDS)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.collect()  # the run's own cycles only: what existed before is still frozen
                gc.unfreeze()
                gc.set_threshold(*_saved)
