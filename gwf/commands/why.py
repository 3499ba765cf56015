"""`gwf why PLAN [UNIT]`: why a unit is late or still open at the horizon — its critical chain,
which cell and which predecessor held each of its operations. Without UNIT: every late or open
unit, one line each."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("why")
    def why_command(
        plan: Path = typer.Argument(..., metavar="PLAN", help="schedule.json written by `gwf schedule`"),
        unit: str | None = typer.Argument(None, metavar="UNIT", help="unit id, e.g. rack#00042; omitted: list the late and open units"),
        spec: str | None = typer.Option(None, "--spec", help="spec the plan was made for (default: the one it records)"),
        start: str | None = typer.Option(None, "--start", help="wall-clock time of the plan's start, ISO-8601 with zone (default: recorded, else next Monday 00:00 UTC)"),
        limit: int = typer.Option(50, "--limit", help="most units listed without UNIT"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Why is this unit late or still open? Its critical chain through cells and predecessors."""
        from gwf.plans.loaded import load_plan
        from gwf.plans.why import describe, explain, explain_all

        loaded = load_plan(plan, spec, start)
        at = lambda s: loaded.at(s).isoformat(timespec="minutes")  # noqa: E731
        if unit is None:
            if limit < 1:
                raise ValueError(f"--limit: must be at least 1, got {limit}")
            explanations = explain_all(loaded.problem, loaded.schedule, limit=limit)
            if as_json:
                typer.echo(json.dumps({"units": [e.to_dict() for e in explanations]}))
                return
            if not explanations:
                typer.echo("no unit is late or open at the horizon")
            for e in explanations:
                first = describe(e.chain[0], at) if e.chain else "nothing of it is planned"
                typer.echo(f"{e.unit.id}: {_headline(e, at)}; last step {first}")
            return
        e = explain(loaded.problem, loaded.schedule, unit)
        if as_json:
            typer.echo(json.dumps(e.to_dict()))
            return
        typer.echo(f"{e.unit.id} ({e.unit.product}, {e.unit.category}, {e.unit.mw:g} MW): {_headline(e, at)}")
        if e.unplanned:
            typer.echo(f"  not planned: {', '.join(e.unplanned)}")
        if e.past_horizon:
            typer.echo(f"  planned past the horizon ({at(loaded.problem.horizon)}): {', '.join(e.past_horizon)}")
        if e.chain:
            typer.echo("  critical chain, latest first:")
            for link in e.chain:
                typer.echo(f"  - {describe(link, at)}")


def _headline(e, at) -> str:
    u = e.unit
    due = f"due {at(u.due)}" if u.due is not None else "no due date"
    if e.state == "late":
        return f"late by {u.lateness_s / 3600:.1f} h (finished {at(u.finish)}, {due})"
    if e.state == "open":
        return f"still open at the horizon ({u.planned_ops}/{u.total_ops} operations planned, {due})"
    return f"on time (finished {at(u.finish)}, {due})"
