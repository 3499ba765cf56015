"""`gwf fjsp solve PATH`: solve a public FJSPLIB instance, print one JSON line of results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from scheduler.fjsplib import machine_number, read_fjsp


def solve_fjsp(path: str | Path, *, time_limit: float = 10.0, workers: int = 2, seed: int = 0, out: str | Path | None = None,
               cluster: str | None = None) -> dict[str, Any]:
    """Read, plan for makespan through the front door (`scheduler.plan`, which routes by size),
    optionally write the assignments; the summary as a dict."""
    from scheduler.planning import Limits, plan  # OR-Tools loads only when a command solves

    problem = read_fjsp(Path(path))
    result = plan(problem, "makespan", Limits(time_limit, workers, seed, cluster))
    schedule = result.schedule
    if out is not None:
        rows = [
            {"job": int(a.job), "op": int(a.op), "machine": machine_number(a.cell), "start": a.start, "end": a.end}
            for a in sorted(schedule.assignments, key=lambda a: (int(a.job), int(a.op)))
        ]
        Path(out).write_text(json.dumps(rows))
    return {
        "instance": problem.name,
        "makespan": schedule.makespan if schedule.assignments else None,
        "lower_bound": result.bound,
        "status": result.status,
        "seconds": round(result.seconds, 3),
        "gap": None if result.gap is None else round(result.gap, 6),
        "operations": problem.n_operations,
        "method": result.method,
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
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler (tcp://host:8786) for independent search tasks"),
    ) -> None:
        """Minimise the makespan; prints {instance, makespan, lower_bound, status, seconds}."""
        from gwf.cli import fail

        try:
            summary = solve_fjsp(path, time_limit=time_limit, workers=workers, seed=seed, out=out, cluster=cluster)
        except ValueError as exc:
            raise fail(str(exc).splitlines()[0]) from None
        typer.echo(json.dumps(summary))

    app.add_typer(fjsp, name="fjsp")
