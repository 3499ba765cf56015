"""The long work behind each background job, as plain functions: plan a slice of demand,
run the twin, dispatch a stored plan to the fleet. No HTTP here."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from gwf.service.store import ScheduleStore, StoredSchedule
from gwf.service.views import jsonable, schedule_summary
from plant import Order, orders_for
from plant.spec import FactorySpec
from robots import Dispatcher, Fleet, Journal, plan_id
from robots.journal import TERMINAL
from robots.plans import problem_for_schedule, to_dispatch
from robots.rework import rework_sets
from scheduler.planning import Limits, plan
from scheduler.schedule import Schedule
from sim import Twin
from scheduler.steady import plan_horizon
from scheduler.validate import validate

Progress = Callable[[float, str], None]

# Dispatch transitions arrive per operation (tens of thousands); the live feed gets them in
# batches at most this often, with the latest few listed.
_DISPATCH_FLUSH_S = 0.25
_RECENT_TRANSITIONS = 25
PLANNER = "scheduler.plan"
TWIN = "sim.Twin"


def orders_for_slice(spec: FactorySpec, demand_hours: float) -> list[Order]:
    """The orders `demand_hours` of weekly demand make; ValueError on `demand_hours` when none."""
    orders = orders_for(spec, demand_hours)
    if not orders:
        raise ValueError(f"demand_hours: {demand_hours:g} h of demand is less than one unit of any product; ask for more hours")
    return orders


def plan_schedule(
    store: ScheduleStore, schedule_id: str, spec: FactorySpec, orders: list[Order], *, horizon_hours: float,
    demand_hours: float, objective: str, mode: str, time_limit: float, workers: int, seed: int, progress: Progress,
    availability: bool = False, in_child: bool = True,
) -> dict[str, Any]:
    """The orders (`demand_hours` of weekly demand) planned over `horizon_hours` on a running
    floor (work in progress carried in from a warm-up) or an empty one, validated, stored
    under `schedule_id`. `in_child`: the planning runs in a process of its own (planproc), so
    this server's event loop keeps answering; else in the calling thread."""
    options = dict(schedule_id=schedule_id, horizon_hours=horizon_hours, demand_hours=demand_hours, objective=objective, mode=mode,
                   time_limit=time_limit, workers=workers, seed=seed, availability=availability)
    if in_child:
        from gwf.service.planproc import plan_in_child

        schedule, summary = plan_in_child(spec, options, progress)
    else:
        schedule, summary = compute_plan(spec, progress=progress, **options)
    store.put(StoredSchedule(schedule_id, spec, schedule, summary["created"], summary=summary))
    return {"schedule_id": schedule_id, "planner": PLANNER, "mode": mode, "orders": len(orders), **summary}


def compute_plan(
    spec: FactorySpec, *, schedule_id: str, horizon_hours: float, demand_hours: float, objective: str, mode: str, time_limit: float,
    workers: int, seed: int, progress: Progress, availability: bool = False,
) -> tuple[Schedule, dict[str, Any]]:
    """The planning itself, with nothing shared with the server: the validated schedule and its summary."""
    progress(0.01, "warm-up: filling the pipeline" if mode == "steady-state" else "building problem")
    _, problem, result = plan_horizon(spec, int(round(horizon_hours * 3600)), demand_hours, mode, objective,
                                      Limits(time_limit, workers, seed), planner=plan, progress=progress,
                                      availability=availability)
    schedule = result.schedule
    progress(0.97, "validating")
    # Plans that maximise MW may leave units out; every other objective places every operation.
    validate(problem, schedule, complete=objective != "mw")
    stored = StoredSchedule(schedule_id, spec, schedule, _now(), problem_given=problem)
    return schedule, schedule_summary(stored, horizon_hours)


def run_twin(spec: FactorySpec, *, weeks: float, replications: int, seed: int, progress: Progress,
             stored: StoredSchedule | None = None, cluster: str | None = None, control: str = "repair") -> dict[str, Any]:
    """The twin's report (deployable GW/week and MW per category with 95% intervals, bottleneck,
    time shares) on the spec's own release policy, or executing a stored plan under the floor
    controller's `control` policy (docs/loop.md); on the Dask
    cluster at `cluster` when given."""
    # Without a cluster, one process: forking replication workers out of a threaded web server is not safe.
    twin = Twin(spec, weeks=weeks, replications=replications, seed=seed, workers=1, cluster=cluster, control=control,
                progress=lambda done, total: progress(done / total, f"replication {done}/{total}"))
    where = f" on the Dask cluster at {cluster}" if cluster else ""
    progress(0.0, f"running {replications} replications of {weeks:g} week(s){where}")
    report = twin.run(stored.schedule if stored is not None else None).to_dict()
    # Intervals over too few finished units are NaN; JSON has no NaN.
    return jsonable({**report, "schedule_id": stored.id if stored is not None else None})


def dispatch_schedule(
    stored: StoredSchedule, *, floor: FactorySpec, url_template: str | None, first: int | None, timeout: float,
    journal_path: Path, progress: Progress, publish: Callable[[dict[str, Any]], None], run_id: str,
    down_after: float = 60.0, carry_in: str = "skip",
) -> dict[str, Any]:
    """Send the stored plan (or its first N assignments) to the cells of `floor`, the server's
    own spec (at their URLs, or all at the operator-configured `url_template`), journaled;
    live counts and recent transitions go to `publish` in batches. As `gwf dispatch`: work
    carried in from a warm-up is skipped unless `carry_in` is "send"; a cell unreachable for
    `down_after` seconds has its queue moved to the other cells of its pool."""
    check_dispatchable(stored, floor)
    schedule, carried = to_dispatch(stored.schedule, carry_in, first)
    problem = problem_for_schedule(floor, schedule)
    validate(problem, schedule, complete=False)
    planned = {a.cell for a in schedule.assignments}
    # The other cells of each pool the plan uses are where a down cell's work can go.
    pools = {c.pool for c in problem.cells if c.id in planned}
    fleet = Fleet.from_spec(floor, cells={c.id for c in problem.cells if c.pool in pools}, url_template=url_template)
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path)
    total = len(schedule.assignments)
    feed = _DispatchFeed(run_id, stored.id, total, progress, publish)
    try:
        # Claims are keyed by the whole plan's content: a part of it, or another stored copy, shares them.
        report = asyncio.run(Dispatcher(fleet, journal, timeout=timeout, on_event=feed.on_event, rework=rework_sets(stored.spec),
                                        down_after=down_after, spec=floor).run(problem, schedule, content=plan_id(stored.schedule)))
        feed.counts = dict(report.counts)
        feed.flush()
    finally:
        journal.close()
    return {
        "schedule_id": stored.id, "plan": report.plan, "jobs": total, "counts": report.counts, "sent": report.sent,
        "duplicates": report.duplicates, "retries": report.retries, "seconds": round(report.seconds, 3),
        "all_terminal": report.all_terminal, "down_after": down_after,
        "carry_in": {"rule": carried.rule, "units": carried.units, "operations": carried.operations, "stated": carried.sentence()},
    }


def check_dispatchable(stored: StoredSchedule, floor: FactorySpec) -> None:
    """ValueError on `schedule_id` unless the plan was made for `floor` itself: a plan made for
    a spec sent with a request would carry that caller's cells, URLs and product names to the
    controllers."""
    if spec_digest(stored.spec) != spec_digest(floor):
        raise ValueError(f"schedule_id: plan {stored.id} was made for a spec sent with the request ({stored.spec.name!r}), "
                         f"not for this server's floor ({floor.name!r}); plan it on the server's spec to dispatch it")


def spec_digest(spec: FactorySpec) -> str:
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


class _DispatchFeed:
    """Turns per-operation dispatcher events into progress and batched live-feed messages."""

    def __init__(self, run_id: str, schedule_id: str, total: int, progress: Progress, publish: Callable[[dict[str, Any]], None]) -> None:
        self.run_id, self.schedule_id, self.total = run_id, schedule_id, total
        self.progress, self.publish = progress, publish
        self.counts: dict[str, int] = {"queued": total}
        self.state: dict[str, str] = {}
        self.recent: list[dict[str, Any]] = []
        self.finished = 0
        self.last_flush = 0.0

    def on_event(self, event: dict[str, Any]) -> None:
        previous = self.state.get(event["job_id"], "queued")
        self.counts[previous] = self.counts.get(previous, 0) - 1
        self.state[event["job_id"]] = event["state"]
        self.counts[event["state"]] = self.counts.get(event["state"], 0) + 1
        self.finished += event["state"] in TERMINAL and previous not in TERMINAL
        self.recent = (self.recent + [event])[-_RECENT_TRANSITIONS:]
        if time.monotonic() - self.last_flush >= _DISPATCH_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        self.progress(self.finished / self.total if self.total else 1.0, f"{self.finished}/{self.total} operations finished")
        self.publish({"dispatch_id": self.run_id, "schedule_id": self.schedule_id, "total": self.total,
                      "counts": {k: v for k, v in self.counts.items() if v}, "recent": self.recent})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
