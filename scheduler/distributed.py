"""Independent search tasks (LNS neighbourhoods, tabu restarts) run here, in forked worker
processes of this machine, or as tasks on a Dask cluster (the one the twin uses:
`--cluster tcp://host:8786`, or a LocalCluster / Client object). Each task is a plain function
of picklable data (a Problem, a Schedule), so a run on the cluster returns the same kind of
result as a local one, only more of them per round of wall time.

Data every task of a round reads (the whole problem, the plan the round starts from: one object
passed to several calls) goes to the cluster once (`share`: scattered to every worker, tasks
get a reference), not once per task; callers need not ask for it.
"""
from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any


_SCALARS = (int, float, str, bytes, bool, type(None))


class Tasks:
    """Runs rounds of independent calls.

    `width` is how many run at once on the cluster (1 without one: the large route's LNS keeps
    one neighbourhood with all CP-SAT workers). `slots(workers)` is how many restarts a step
    that leaves CP-SAT's cores idle may run at once: the cluster's width, or locally `workers`
    forked processes (the tabu search runs on one core: one core per restart)."""

    def __init__(self, cluster: str | object | None = None) -> None:
        self.client, self._own = None, False
        self._shared: dict[int, Any] = {}
        if cluster is None:
            return
        from dask.distributed import Client

        if isinstance(cluster, Client):
            self.client = cluster
            return
        address = cluster if isinstance(cluster, str) else getattr(cluster, "scheduler_address", None)
        if address is None:
            raise ValueError(f"limits.cluster: {cluster!r} is neither a scheduler address (tcp://host:8786) nor a Dask cluster")
        try:
            self.client, self._own = Client(address, timeout="5s"), True
        except OSError as exc:
            raise ValueError(f"limits.cluster: cannot reach a Dask scheduler at {address} ({exc})") from None

    @property
    def width(self) -> int:
        if self.client is None:
            return 1
        return max(1, sum(self.client.nthreads().values()))

    def slots(self, workers: int) -> int:
        return self.width if self.client is not None else max(1, workers)

    def share(self, value: Any) -> Any:
        """`value` as tasks should receive it: on a cluster a reference to one copy scattered to
        every worker (kept for this object's life: each value is sent once), locally the value."""
        if self.client is None:
            return value
        key = id(value)
        if key not in self._shared:
            # Wrapped: Dask scatters a bare list or dict element by element (a list of futures).
            [future] = self.client.scatter([value], broadcast=True, hash=False)
            self._shared[key] = (value, future)
        return self._shared[key][1]

    def run(self, function: Callable[..., Any], calls: Sequence[tuple[tuple, dict]], *, processes: int = 1) -> list[Any]:
        """function(*args, **kwargs) for each (args, kwargs), results in call order: on the
        cluster, or locally in up to `processes` forked processes at once (in this process
        when 1 or a single call)."""
        if self.client is not None:
            calls = self._share_repeated(calls)
            # Through _call: the task's own keywords (CP-SAT's `workers`) must not reach submit().
            futures = [self.client.submit(_call, function, args, kwargs, pure=False) for args, kwargs in calls]
            return self.client.gather(futures)
        if processes <= 1 or len(calls) <= 1:
            return [function(*args, **kwargs) for args, kwargs in calls]
        # The first call runs here while forked children run the rest (one fork fewer).
        with ProcessPoolExecutor(min(processes, len(calls)) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_call, function, args, kwargs) for args, kwargs in calls[1:]]
            (args, kwargs) = calls[0]
            first = function(*args, **kwargs)
            return [first] + [f.result() for f in futures]

    def _share_repeated(self, calls: Sequence[tuple[tuple, dict]]) -> list[tuple[tuple, dict]]:
        """The calls with every argument that is one object passed to several of them (the whole
        problem, a round's start plan) replaced by its shared copy: sent once, not per task."""
        from dask.distributed import Future

        count = Counter(key for args, _ in calls for key in {id(a) for a in args})

        def swap(a: Any) -> Any:
            return self.share(a) if count[id(a)] > 1 and not isinstance(a, (*_SCALARS, Future)) else a
        return [(tuple(swap(a) for a in args), kwargs) for args, kwargs in calls]

    def close(self) -> None:
        if self.client is not None:
            for _, future in self._shared.values():
                future.release()
        self._shared.clear()
        if self._own and self.client is not None:
            self.client.close()
        self.client = None

    def __enter__(self) -> "Tasks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call(function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return function(*args, **kwargs)
