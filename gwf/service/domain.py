"""The one adapter between the service and engines still being built on other branches:
the planner's name (plans are made by the front door `scheduler.plan`), the twin (`sim`), the
Gantt renderer (`gwf.gantt`) and delivered-MW accounting. Each answers `Unavailable`
(HTTP 503) when this build lacks it, so the rest of the service never guesses."""
from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any, Callable

from scheduler.problem import Problem
from scheduler.schedule import Schedule

Progress = Callable[[float, str], None]


class Unavailable(RuntimeError):
    """A component this build does not contain yet."""


def _optional(module: str, name: str) -> Any | None:
    """`module.name`, or None when the module is not part of this build (other import errors
    are real bugs and propagate)."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    return getattr(found, name, None)


def planner_name() -> str | None:
    return "scheduler.plan" if _optional("scheduler.planning", "plan") else None


def plan(problem: Problem, **options: Any) -> Any:
    """The planner's front door `scheduler.plan` (a scheduler.result.Result)."""
    front = _optional("scheduler.planning", "plan")
    if front is None:
        raise Unavailable("planner not available in this build")
    return front(problem, **options)


def mw_by_category(problem: Problem, schedule: Schedule) -> dict[str, float] | None:
    """MW of the units the plan finishes inside its horizon, or None without the accounting module."""
    count = _optional("scheduler.delivery", "mw_by_category")
    return count(problem, schedule) if count is not None else None


def twin_name() -> str | None:
    return "sim.Twin" if _optional("sim", "Twin") else None


def run_twin(spec: Any, *, weeks: float, replications: int, seed: int, progress: Progress, schedule: Schedule | None = None) -> dict[str, Any]:
    """The twin's report (deployable GW/week and MW per category with 95% intervals, bottleneck,
    time shares) for the spec run under its release policy, or executing `schedule`."""
    twin_class = _optional("sim", "Twin")
    if twin_class is None:
        raise Unavailable("twin not available in this build")
    # One process: forking replication workers out of a threaded web server is not safe.
    twin = twin_class(spec, weeks=weeks, replications=replications, seed=seed, workers=1,
                      progress=lambda done, total: progress(done / total, f"replication {done}/{total}"))
    progress(0.0, f"running {replications} replications of {weeks:g} week(s)")
    return twin.run(schedule).to_dict()


def gantt_html(problem: Problem, schedule: Schedule) -> str | None:
    """The plan as the Gantt module's self-contained HTML page, or None without that module."""
    write_gantt = _optional("gwf.gantt", "write_gantt")
    if write_gantt is None:
        return None
    # The module writes files (what the CLI wants); a private temporary file turns that into text.
    with tempfile.TemporaryDirectory(prefix="gwf-gantt-") as folder:
        path = Path(folder) / "gantt.html"
        write_gantt(problem, schedule, path)
        return path.read_text(encoding="utf-8")


def has_gantt() -> bool:
    return _optional("gwf.gantt", "write_gantt") is not None
