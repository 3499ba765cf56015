"""Independent search tasks (LNS neighbourhoods, tabu restarts) run here in this process, or as
tasks on a Dask cluster (the one the twin uses: `--cluster tcp://host:8786`, or a LocalCluster /
Client object). Each task is a plain function of picklable data (a Problem, a Schedule), so a
run on the cluster returns the same kind of result as a local one, only more of them per
round of wall time."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class Tasks:
    """Runs a round of independent calls; `width` is how many run at once (1 locally)."""

    def __init__(self, cluster: str | object | None = None) -> None:
        self.client, self._own = None, False
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

    def run(self, function: Callable[..., Any], calls: Sequence[tuple[tuple, dict]]) -> list[Any]:
        """function(*args, **kwargs) for each (args, kwargs), results in call order."""
        if self.client is None:
            return [function(*args, **kwargs) for args, kwargs in calls]
        # Through _call: the task's own keywords (CP-SAT's `workers`) must not reach submit().
        futures = [self.client.submit(_call, function, args, kwargs, pure=False) for args, kwargs in calls]
        return self.client.gather(futures)

    def close(self) -> None:
        if self._own and self.client is not None:
            self.client.close()
        self.client = None

    def __enter__(self) -> "Tasks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call(function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return function(*args, **kwargs)
