"""Setup models measured: the exact circuit against family campaigns on one busy cell.

    PYTHONPATH=. python benchmarks/setups.py --sizes 20 40 80 160 --time-limit 5

For each size: n single-operation jobs of 3 families on one cell with a setup, random releases.
Prints, per model, the makespan found, the gap to our bound, the model's size (variables and
constraints after building), all from the same run."""
from __future__ import annotations

import argparse
import random

from scheduler import solve
from scheduler.cpsat import constraints
from scheduler.problem import Cell, Job, Pool, Problem, Task


def busy_cell(n: int, seed: int) -> Problem:
    rng = random.Random(seed)
    jobs = [Job(f"J{j}", family=rng.choice("xyz"), release=rng.randrange(0, 10 * n), tasks=[j]) for j in range(n)]
    tasks = [Task(j, "op", [(0, rng.randint(5, 30))], []) for j in range(n)]
    return Problem([Cell("C0", 0, 1, 20)], [Pool("P", [0])], jobs, tasks, 100 * n, f"busy{n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 80, 160])
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    default_limit = constraints.CIRCUIT_LIMIT
    print(f"{'n':>4} {'model':>9} {'makespan':>9} {'gap':>7} {'hint':>6} {'seconds':>7}")
    for n in args.sizes:
        problem = busy_cell(n, seed=n)
        for name, limit in (("circuit", n), ("campaigns", 0)):
            constraints.CIRCUIT_LIMIT = limit
            result = solve(problem, time_limit=args.time_limit, workers=args.workers)
            print(f"{n:4d} {name:>9} {result.value:9.0f} {100 * result.gap:6.2f}% {result.kpis['hint_value']:6.0f} {result.seconds:7.1f}")
    constraints.CIRCUIT_LIMIT = default_limit


if __name__ == "__main__":
    main()
