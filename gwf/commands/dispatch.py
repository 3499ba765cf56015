"""`gwf dispatch`: send a saved schedule's jobs to the cells' controllers, journaled in SQLite."""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer

from gwf.drivers import register_all
from gwf.plans.loaded import recorded_spec
from gwf.progress import progress_bar
from robots import Dispatcher, Fleet, Journal, plan_id
from robots.controlplan import controller_cells
from robots.dispatcher import RELEASE_RULES
from robots.plans import CarriedIn, problem_for_schedule, to_dispatch
from robots.rework import rework_sets
from scheduler.problem import recorded_downtime
from scheduler.schedule import Schedule
from scheduler.validate import validate


def dispatch(
    plan: Path = typer.Argument(..., help="schedule JSON written by `gwf schedule`"),
    spec: Optional[Path] = typer.Option(None, help="factory spec (default: the one the plan records)"),
    journal: Path = typer.Option(Path("out/journal.sqlite"), help="SQLite journal; re-running resumes from it"),
    url: Optional[str] = typer.Option(None, help="override every cell's driver URL, e.g. 'mock://{id}?time_scale=0.001'"),
    jobs: Optional[int] = typer.Option(None, help="dispatch only the first N assignments by start time"),
    timeout: float = typer.Option(30.0, help="seconds to wait for a controller's answer beyond the job's own length: a job may take --timeout + 2 x its planned length (at --speed) before its controller counts as not answering, so a 24 h burn-in never times out"),
    release: str = typer.Option("predecessors", help="release rule: 'predecessors' (as soon as predecessors are done) or 'planned' (also not before the planned start, less the changeover and --early)"),
    speed: Optional[float] = typer.Option(None, help="plan seconds per wall-clock second, for --release planned, a repaired plan's downtime and measuring delivery by the horizon (default: a sim:// URL's speed, 1/time_scale for a URL with one, else 1)"),
    control: str = typer.Option("repair", "--control", help="floor controller policy, as `gwf twin --control`: blind (each cell's planned sequence as written) | repair (look-ahead, twin cells help, a lost cell's work moved) | replan (repair + rolling re-plan)"),
    replan_every: Optional[str] = typer.Option(None, "--replan-every", help="with --control replan: re-plan interval, e.g. 8h (default 8h; a re-plan also comes when starts run 2 h late on average)"),
    early: Optional[str] = typer.Option(None, "--early", help="with --release planned: how long before its planned start a job may leave, e.g. 0 or 2h (default: the --control policy's, as in the twin: 2h for repair/replan, whose plans made for availability hold mean repair time as slack; 0 for blind)"),
    down_after: float = typer.Option(60.0, "--down-after", help="seconds a cell may stay unreachable before its queued work moves to other cells of its pool (0: at once)"),
    carry_in: str = typer.Option("skip", "--carry-in", help="a steady-state plan's units carried in from its warm-up (PRODUCT#N-wip): 'skip' (default: already on the floor, run by the plan that started them) or 'send' (a simulated floor that starts with exactly that work)"),
    decide: list[str] = typer.Option([], "--decide", help="JOB_ID=done|redo: a person's decision on a job waiting in 'attention' (repeatable)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go to which cell and controller; send nothing"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Dispatch a schedule to the fleet; every job ends completed, failed or canceled, never twice.

    Stated on every run (and by --dry-run): the release rule; what happens to work a steady-state
    plan carries in from its warm-up (-wip units: skipped unless --carry-in send); the downtime a
    repaired plan records (its cells get nothing inside it). A controller that answers after a
    reconnect but is not the one the driver talked to before gets nothing; its jobs wait in
    'attention' with the reason. Errors in options, the plan or a URL: one line, exit 2."""
    if release not in RELEASE_RULES:
        raise ValueError(f"--release: {release!r} is not a release rule; valid: {', '.join(RELEASE_RULES)}")
    if control not in ("blind", "repair", "replan"):
        raise ValueError(f"--control: {control!r} is not a control policy; valid: blind, repair, replan")
    replan_every_s = _replan_every(replan_every)
    early_s = _duration("--early", early, low=0.0)
    register_all()
    speed = speed if speed is not None else _url_speed(url)
    if down_after < 0:
        raise ValueError(f"--down-after: must be >= 0 seconds (0: at once), got {down_after:g}")
    if not timeout > 0:
        raise ValueError(f"--timeout: must be > 0 seconds, got {timeout:g}")
    if speed <= 0:
        raise ValueError(f"--speed: must be > 0 plan seconds per wall second, got {speed}")
    whole = Schedule.from_json(plan)
    factory, spec_source = recorded_spec(plan, whole, spec)
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs: must be >= 1, got {jobs}")
    schedule, carried = to_dispatch(whole, carry_in, jobs)
    problem = problem_for_schedule(factory, schedule)
    validate(problem, schedule, complete=False)
    fleet = Fleet.from_spec(factory, cells=controller_cells(problem, schedule), url_template=url)
    on_clock = None
    if any(h.url.startswith("sim:") for h in fleet.handles.values()):
        from sim.driver import use_clock, use_spec

        use_spec(factory)  # sim:// cells model the plan's floor
        on_clock = use_clock  # and run on the plan's clock
    content = plan_id(whole)
    rule = f"release: {release} — {RELEASE_RULES[release]}" + (f" at speed {speed:g}" if release == "planned" else "")
    stated = [rule, carried.sentence(), *_downtime_lines(whole)]
    if dry_run:
        _print_dry_run(schedule, fleet, content, spec_source, stated, carried, as_json)
        return
    journal.parent.mkdir(parents=True, exist_ok=True)
    store = Journal(journal)
    try:
        for item in decide:
            jid, _, outcome = item.partition("=")
            store.resolve(content, jid.strip(), outcome.strip())
        with progress_bar("dispatching", total=len(schedule.assignments)) as advance:  # stderr, also with --json
            def on_event(event: dict) -> None:
                if event["state"] in ("completed", "failed", "canceled"):
                    advance(1)

            dispatcher = Dispatcher(fleet, store, timeout=timeout, on_event=on_event, release=release, speed=speed,
                                    down_after=down_after, rework=rework_sets(factory), control=control,
                                    replan_every_s=replan_every_s, early_s=early_s, on_clock=on_clock)
            report = asyncio.run(dispatcher.run(problem, schedule, content=content))
    finally:
        store.close()
    summary = {"plan": report.plan, "spec": spec_source, "jobs": len(schedule.assignments), "counts": report.counts,
               "sent": report.sent, "duplicates": report.duplicates, "retries": report.retries,
               "followed": report.others, "release": release, "speed": speed, "carry_in": _carried_json(carried),
               "delivered_mw_by_category": {k: round(v, 6) for k, v in sorted(report.delivered_mw_by_category.items())},
               "decisions": dict(Counter(d[0] for d in report.decisions)), "control": control,
               "controller": report.controller, "seconds": round(report.seconds, 3)}
    if as_json:
        typer.echo(json.dumps({**summary, "release_rule": RELEASE_RULES[release]}))
    else:
        for line in stated:
            typer.echo(line)
        typer.echo("  ".join(f"{k}={v}" for k, v in summary.items()))
    if not report.all_terminal or report.counts.get("failed") or report.counts.get("canceled"):  # reworked is not a failure
        raise typer.Exit(1)


def _carried_json(carried: CarriedIn) -> dict[str, Any]:
    return {"rule": carried.rule, "units": carried.units, "operations": carried.operations}


def _downtime_lines(schedule: Schedule) -> list[str]:
    """One line per cell a repair took down (`kpis.down`): nothing is sent to it inside the window."""
    return [f"downtime: {cell} down {', '.join(f'{_hours(s).strip()}..{_hours(e).strip()}' for s, e in windows)} of plan time "
            f"(the repair's kpis.down): nothing is sent to it then"
            for cell, windows in sorted(recorded_downtime(schedule.kpis).items())]


def _print_dry_run(schedule: Schedule, fleet: Fleet, content: str, spec_source: str, stated: list[str], carried: CarriedIn,
                   as_json: bool) -> None:
    cells: dict[str, dict[str, Any]] = {}
    for cell, sequence in sorted(schedule.by_cell().items()):  # cells only standing by for moved work are not listed
        cells[cell] = {"url": fleet[cell].url, "jobs": len(sequence), "first_start_s": sequence[0].start,
                       "last_end_s": max(a.end for a in sequence), "first": f"{sequence[0].job}/{sequence[0].op}"}
    if as_json:
        typer.echo(json.dumps({"dry_run": True, "plan": content, "spec": spec_source, "jobs": len(schedule.assignments),
                               "release": stated[0], "carry_in": _carried_json(carried), "stated": stated, "cells": cells}))
        return
    typer.echo(f"plan {content} ({spec_source}): {len(schedule.assignments)} jobs on {len(cells)} cells; nothing sent")
    for line in stated:
        typer.echo(line)
    width = max((len(c) for c in cells), default=4)
    for cell, row in cells.items():
        typer.echo(f"{cell:<{width}}  {row['jobs']:>6} jobs  {_hours(row['first_start_s'])} .. {_hours(row['last_end_s'])}  "
                   f"first {row['first']}  -> {row['url']}")


def _url_speed(url: str | None) -> float:
    """The clock a --url template's cells run on, so planned release and delivery by the horizon
    are measured on it: a sim:// template's `speed`; a template with `time_scale=T` (mock://,
    grbl+…: wall seconds per plan second) runs at 1/T; otherwise (or T = 0, instant) real time."""
    if url is None:
        return 1.0
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(url.replace("{id}", "x")).query)

    def number(name: str, default: str) -> float:
        text = query.get(name, [default])[-1]
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--url: {name}={text!r} is not a number; write e.g. {name}=0.001") from None

    if url.startswith("sim:"):
        return number("speed", "1")
    scale = number("time_scale", "0")
    return 1.0 / scale if scale > 0 else 1.0


def _replan_every(text: str | None) -> float | None:
    return _duration("--replan-every", text, low=1.0)


def _duration(option: str, text: str | None, low: float) -> float | None:
    if text is None:
        return None
    from plant.units import parse_duration

    try:
        return parse_duration(text, low=low)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None


def _hours(seconds: int) -> str:
    return f"{seconds // 3600:>4}h{seconds % 3600 // 60:02d}"


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch)
