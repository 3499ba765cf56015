"""`gwf dispatch`: send a saved schedule's jobs to the cells' controllers, journaled in SQLite."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Optional

import typer

from gwf.progress import progress_bar
from plant import load_spec
from robots import Dispatcher, Fleet, Journal
from robots.plans import first_assignments, problem_for_schedule
from scheduler.schedule import Schedule
from scheduler.validate import validate


def dispatch(
    plan: Path = typer.Argument(..., help="schedule JSON written by `gwf schedule`"),
    spec: Optional[Path] = typer.Option(None, help="spec the plan was made for (default: the one it records, else the built-in 1 GW catalog)"),
    journal: Path = typer.Option(Path("out/journal.sqlite"), help="SQLite journal; re-running resumes from it"),
    url: Optional[str] = typer.Option(None, help="override every cell's driver URL, e.g. 'mock://{id}?time_scale=0.001'"),
    jobs: Optional[int] = typer.Option(None, help="dispatch only the first N assignments by start time"),
    timeout: float = typer.Option(30.0, help="seconds to wait for a controller's answer"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Dispatch a schedule to the fleet; every job ends completed, failed or canceled, never twice."""
    schedule = Schedule.from_json(plan)
    factory = load_spec(spec if spec is not None else (schedule.kpis or {}).get("spec"))
    if jobs is not None:
        schedule = first_assignments(schedule, jobs)
    problem = problem_for_schedule(factory, schedule)
    validate(problem, schedule, complete=False)
    journal.parent.mkdir(parents=True, exist_ok=True)
    fleet = Fleet.from_spec(factory, cells={a.cell for a in schedule.assignments}, url_template=url)
    store = Journal(journal)
    try:
        with progress_bar("dispatching", total=len(schedule.assignments)) as advance:  # stderr, also with --json
            def on_event(event: dict) -> None:
                if event["state"] in ("completed", "failed", "canceled"):
                    advance(1)

            report = asyncio.run(Dispatcher(fleet, store, timeout=timeout, on_event=on_event).run(problem, schedule))
    finally:
        store.close()
    summary = {"plan": report.plan, "jobs": len(schedule.assignments), "counts": report.counts, "sent": report.sent,
               "duplicates": report.duplicates, "retries": report.retries, "seconds": round(report.seconds, 3)}
    typer.echo(json.dumps(summary) if as_json else "  ".join(f"{k}={v}" for k, v in summary.items()))
    if not report.all_terminal or report.counts.get("failed") or report.counts.get("canceled"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch)
