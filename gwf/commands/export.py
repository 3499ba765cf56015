"""`gwf export PLAN`: a saved plan as CSV and XLSX with real ISO-8601 times from `--start`."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        plan: Path = typer.Argument(..., metavar="PLAN", help="schedule.json written by `gwf schedule`"),
        spec: str | None = typer.Option(None, "--spec", help="spec the plan was made for (default: the one it records)"),
        start: str | None = typer.Option(None, "--start", help="wall-clock time of the plan's start, ISO-8601 with zone (default: recorded, else next Monday 00:00 UTC)"),
        out_dir: Path = typer.Option(Path("out"), "--out-dir", help="where schedule.csv, schedule.xlsx and gantt.html go"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object naming the files"),
    ) -> None:
        """Write a plan as CSV, XLSX and Gantt with dates, product, unit, category, MW and due date."""
        from gwf.gantt import write_gantt
        from gwf.plans.export import write_plan_files
        from gwf.plans.loaded import load_plan

        loaded = load_plan(plan, spec, start)
        files = write_plan_files(loaded, out_dir)
        files["gantt"] = str(out_dir / "gantt.html")
        write_gantt(loaded.problem, loaded.schedule, files["gantt"], loaded.start)
        if as_json:
            typer.echo(json.dumps({"start": loaded.start.isoformat(), "files": files}))
            return
        for kind, path in files.items():
            typer.echo(f"{kind}: {path}")
