"""The garbage collector during a replication. A run builds a floor and a plan that live until
its end (on the 1 GW floor ~700,000 container objects with the spec and the plan) and then
allocates millions of short-lived ones (events, tasks, decisions). CPython's default settings
trace the long-lived ones again at every full collection: 0.6-0.9 s each on the 1 GW week plan
(measured at load 5-7), four of them in a run with cell-down repairs. Inside `quiet()` what
existed before is frozen out of the collector's generations (gc.freeze), young collections run
less often, and what the run left in cycles is collected once at the end, before unfreezing,
so nothing of it outlives the run. Results do not depend on any of this."""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None
THRESHOLDS = (20_000, 20, 100)  # young / middle / old: CPython's are (700, 10, 10)


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
