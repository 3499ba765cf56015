"""A saved plan (schedule.json) together with the spec and problem it was made for, and the
wall-clock instant its time 0 stands for: what every reader of a plan file needs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from plant.spec import FactorySpec
from scheduler.problem import Problem, with_recorded_downtime  # noqa: F401 (readers of plan files import it here)
from scheduler.schedule import Schedule


@dataclass
class LoadedPlan:
    path: str
    spec: FactorySpec
    problem: Problem
    schedule: Schedule
    start: datetime  # wall-clock time of the plan's second 0, with its time zone

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=float(seconds))


def parse_start(text: str, what: str = "--start") -> datetime:
    """An ISO-8601 instant with a time zone ('2026-12-07T06:00+01:00', '...Z'); a bare date is
    midnight UTC. A time without a zone is refused: a plan shipped to another site would shift."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an ISO-8601 time; write e.g. 2026-12-07T06:00+01:00 or 2026-12-07") from None
    if value.tzinfo is None:
        if len(raw) == 10:  # a date alone
            return value.replace(tzinfo=timezone.utc)
        raise ValueError(f"{what}: {text!r} has no time zone; add one, e.g. {raw}Z or {raw}+01:00")
    return value


def default_start(now: datetime | None = None) -> datetime:
    """The coming Monday 00:00 UTC: the week a plan made today is usually for."""
    now = now or datetime.now(timezone.utc)
    monday = (now + timedelta(days=(7 - now.weekday()) % 7 or 7)).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)


def plan_start(schedule: Schedule, start: str | None) -> datetime:
    """--start if given, else the start the plan records (`gwf schedule --start`), else the
    coming Monday."""
    if start is not None:
        return parse_start(start)
    recorded = (schedule.kpis or {}).get("start_at")
    if recorded:
        return parse_start(str(recorded), "kpis.start_at")
    return default_start()


def recorded_spec_path(plan_path: str | Path, schedule: Schedule) -> Path | None:
    """The spec file a saved plan records (`kpis.spec`), tried as written, then beside the plan,
    then by its name beside the plan (a plan and its spec moved together); None when the plan
    was made for the built-in catalog. ValueError when the file is nowhere to be found."""
    recorded = (schedule.kpis or {}).get("spec")
    if recorded is None:
        return None
    folder = Path(plan_path).parent
    for candidate in (Path(recorded), folder / recorded, folder / Path(recorded).name):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{plan_path}: kpis.spec names {recorded!r}, which is not found here or beside the plan; pass --spec PATH")


def recorded_spec(plan_path: str | Path, schedule: Schedule, override: str | Path | None = None) -> tuple[FactorySpec, str]:
    """The spec a saved plan was made for and where it came from: `override` if given, else the
    one it records. Every command that reads a plan finds its spec here, so none disagree."""
    from plant import load_spec

    path = override if override is not None else recorded_spec_path(plan_path, schedule)
    return load_spec(path), "built-in catalog" if path is None else str(path)


def spec_to_record(spec_path: str | Path | None) -> str | None:
    """What a new plan records as its spec: the file's absolute path, so the plan can be read
    from any directory (None: the built-in catalog)."""
    return None if spec_path is None else str(Path(spec_path).resolve())


def downtime_added(base: Problem, repaired: Problem) -> dict[str, list[list[int]]]:
    """The unavailability windows a repair added to `base`'s cells, per cell id: what a repaired
    plan records (`kpis.down`) so the problem it was made for can be rebuilt, and a later repair
    of it still keeps off a cell that is down."""
    added: dict[str, list[list[int]]] = {}
    for before, after in zip(base.cells, repaired.cells):
        extra = [list(w) for w in after.unavailable if tuple(w) not in {tuple(x) for x in before.unavailable}]
        if extra:
            added[after.id] = extra
    return added


def load_plan(path: str | Path, spec_path: str | Path | None = None, start: str | None = None) -> LoadedPlan:
    """Read a plan and rebuild the problem it was made for from what it records (spec, mode,
    horizon, demand, warm-up; `gwf schedule` writes them). ValueError when it cannot."""
    from scheduler.steady import recorded_problem

    schedule = Schedule.from_json(path)
    kpis = schedule.kpis or {}
    spec, _ = recorded_spec(path, schedule, spec_path)
    horizon = int(kpis.get("horizon_s", schedule.horizon))
    # Plans written before modes existed were all made from an empty floor.
    recorded = {"mode": "from-empty", "demand_hours": horizon / 3600, **kpis, "horizon_s": horizon}
    problem = recorded_problem(spec, recorded)
    if problem is None:
        raise ValueError(f"{path}: kpis.mode {kpis.get('mode')!r} is not one this version can rebuild (steady-state, from-empty)")
    problem = with_recorded_downtime(problem, kpis)
    known = {(job.id, problem.tasks[t].op) for job in problem.jobs for t in job.tasks}
    for i, a in enumerate(schedule.assignments):
        if (a.job, a.op) not in known:
            raise ValueError(f"{path}: assignments[{i}] ({a.job}/{a.op}) is not an operation of the problem this plan "
                             f"records (spec {kpis.get('spec')!r}); pass the spec it was made for")
    return LoadedPlan(str(path), spec, problem, schedule, plan_start(schedule, start))
