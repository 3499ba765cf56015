"""Tiny hand-made problems for the core-model tests: one operation per job unless told."""
from __future__ import annotations

from scheduler.problem import Cell, Job, Pool, Problem, Task


def one_cell_problem(
    durations: list[int],
    *,
    families: list[str] | None = None,
    capacity: int = 1,
    setup: int = 0,
    unavailable: list[tuple[int, int]] | None = None,
    releases: list[int] | None = None,
    dues: list[int | None] | None = None,
    weights: list[float] | None = None,
    mw: list[float] | None = None,
    cells: int = 1,
    horizon: int = 1_000,
) -> Problem:
    """len(durations) single-operation jobs on one pool of `cells` identical cells."""
    n = len(durations)
    cell_list = [Cell(f"C{k}", 0, capacity, setup, list(unavailable or [])) for k in range(cells)]
    jobs, tasks = [], []
    for j, d in enumerate(durations):
        jobs.append(
            Job(
                f"J{j}",
                family=(families or ["f"] * n)[j],
                release=(releases or [0] * n)[j],
                due=(dues or [None] * n)[j],
                weight=(weights or [1.0] * n)[j],
                mw=(mw or [0.0] * n)[j],
                tasks=[j],
            )
        )
        tasks.append(Task(j, "op", [(0, d)], []))
    return Problem(cell_list, [Pool("P", list(range(cells)))], jobs, tasks, horizon, "tiny")
