"""`gwf fjsp solve PATH`: solve a public FJSPLIB instance, print one JSON line of results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from scheduler.fjsplib import machine_number, read_fjsp


ENGINE_ABOVE_OPERATIONS = 5_000  # larger instances go to the decomposition in scheduler.engine


def solve_fjsp(path: str | Path, *, time_limit: float = 10.0, workers: int = 2, seed: int = 0, out: str | Path | None = None) -> dict[str, Any]:
    """Read, solve for makespan, optionally write the assignments; the summary as a dict.
    The one function the command wraps, so another engine can be routed in here by size."""
    problem = read_fjsp(Path(path))
    if problem.n_operations > ENGINE_ABOVE_OPERATIONS:  # one CP-SAT model finds nothing at this size
        from scheduler.engine import plan

        schedule = plan(problem, objective="makespan", time_limit=time_limit, workers=workers, seed=seed)
    else:
        from scheduler.cpsat import solve  # OR-Tools loads only when a command solves

        schedule = solve(problem, objective="makespan", time_limit=time_limit, workers=workers, seed=seed)
    if out is not None:
        rows = [
            {"job": int(a.job), "op": int(a.op), "machine": machine_number(a.cell), "start": a.start, "end": a.end}
            for a in sorted(schedule.assignments, key=lambda a: (int(a.job), int(a.op)))
        ]
        Path(out).write_text(json.dumps(rows))
    return {
        "instance": problem.name,
        "makespan": schedule.makespan if schedule.assignments else None,
        "lower_bound": schedule.bound,
        "status": schedule.status,
        "seconds": round(schedule.seconds, 3),
        "gap": round(schedule.gap, 6),
        "operations": problem.n_operations,
    }


def register(app: typer.Typer) -> None:
    fjsp = typer.Typer(help="Public flexible job-shop benchmarks (FJSPLIB format).", no_args_is_help=True)

    @fjsp.command("solve")
    def solve_command(
        path: Path = typer.Argument(..., help="FJSPLIB instance file"),
        time_limit: float = typer.Option(10.0, "--time-limit", help="seconds for the solver"),
        workers: int = typer.Option(2, "--workers", help="CP-SAT search workers"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        out: Path | None = typer.Option(None, "--out", help="write assignments as JSON [{job, op, machine, start, end}]"),
    ) -> None:
        """Minimise the makespan; prints {instance, makespan, lower_bound, status, seconds}."""
        from gwf.cli import fail

        try:
            summary = solve_fjsp(path, time_limit=time_limit, workers=workers, seed=seed, out=out)
        except ValueError as exc:
            raise fail(str(exc).splitlines()[0]) from None
        typer.echo(json.dumps(summary))

    app.add_typer(fjsp, name="fjsp")
