"""What a failed operation sends back through, and how many times each operation runs per good
unit on average: the one definition the spec limits, the spec check and the twin's capacity
figures share."""
from __future__ import annotations

import numpy as np


def graph(routing) -> tuple[dict[str, int], list[list[int]], list[list[int]]]:
    """Operation index by id, predecessors and successors by index (unknown ids skipped)."""
    index = {op.id: i for i, op in enumerate(routing)}
    preds = [[index[p] for p in dict.fromkeys(op.predecessors) if p in index] for op in routing]
    succs: list[list[int]] = [[] for _ in routing]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    return index, preds, succs


def reach(start: int, step: list[list[int]]) -> set[int]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in step[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def rework_set(routing, failed: int) -> list[int]:
    """Operations a unit redoes when operation `failed` fails and goes back to its rework_to:
    every operation on a path from the target to the failed one (both included), target first."""
    index, preds, succs = graph(routing)
    target_id = routing[failed].rework_to
    target = index.get(target_id, failed) if target_id is not None else failed
    between = (reach(target, succs) & reach(failed, preds)) | {target, failed}
    return [target] + sorted(between - {target})


def expected_visits(routing) -> list[float] | None:
    """Mean runs of each operation per good unit: every attempt at op i fails with probability
    1 - fpy_i and sends the unit back through i's rework set, so v = 1 + M^T v with
    M[i, o] = (1 - fpy_i) [o in rework(i)]. None when rework never ends on average (the
    system has no positive solution: the spectral radius of M is at least 1)."""
    n = len(routing)
    failing = [i for i, op in enumerate(routing) if op.first_pass_yield < 1.0]
    if not failing:
        return [1.0] * n
    m = np.zeros((n, n))
    for i in failing:
        for o in rework_set(routing, i):
            m[i, o] = 1.0 - routing[i].first_pass_yield
    try:
        with np.errstate(all="ignore"):
            v = np.linalg.solve(np.eye(n) - m.T, np.ones(n))
    except np.linalg.LinAlgError:
        return None
    # For M >= 0, a solution with every entry >= 1 exists exactly when the series sum M^k converges.
    if not np.all(np.isfinite(v)) or np.any(v < 1.0 - 1e-9):
        return None
    return [float(x) for x in v]
