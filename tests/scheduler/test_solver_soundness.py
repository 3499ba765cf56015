"""Guards the pinned CP-SAT release: OR-Tools 9.15 presolve proves a wrong optimum (4) on this
three-operation flexible job, whose hand-checked optimum is 3 (op0 on P0 [0,1), op1 and op2 on
P1 [1,2) and [2,3)). Both models must prove 3; an upgrade that brings the bug back fails here."""
from __future__ import annotations

import pytest

from scheduler import solve
from scheduler.cpsat.reference import solve_reference
from scheduler.problem import Cell, Job, Pool, Problem, Task


def three_operation_job() -> Problem:
    cells = [Cell(f"P{p}.0", p) for p in range(3)]
    pools = [Pool(f"P{p}", [p]) for p in range(3)]
    tasks = [Task(0, "op0", [(0, 1), (1, 2)], []), Task(0, "op1", [(1, 1), (0, 4)], [0]), Task(0, "op2", [(1, 1)], [0])]
    return Problem(cells, pools, [Job("J0", tasks=[0, 1, 2])], tasks, 40, "presolve-regression")


@pytest.mark.parametrize("model", [solve, solve_reference])
def test_both_models_prove_the_hand_checked_optimum(model):
    result = model(three_operation_job(), time_limit=5.0, workers=1)
    assert (result.status, result.value) == ("optimal", 3.0)
