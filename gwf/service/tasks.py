"""How a stored job becomes a call into `work`: each handler reads only the job's params and
payload (both in the database), so any server can run the job, again after a restart."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gwf.service import work
from gwf.service.jobs import Handler, JobWork, Progress
from gwf.service.models import DOWN_AFTER_S
from plant.loader import spec_from_dict
from plant.spec import FactorySpec

if TYPE_CHECKING:
    from gwf.service.state import Service


def handlers(svc: "Service") -> dict[str, Handler]:
    return {
        "schedule": lambda job, progress: _schedule(svc, job, progress),
        "twin": lambda job, progress: _twin(svc, job, progress),
        "dispatch": lambda job, progress: _dispatch(svc, job, progress),
    }


def _spec(svc: "Service", payload: dict[str, Any]) -> FactorySpec:
    """The request's spec as checked when the job was accepted, or the server's own."""
    return svc.spec if payload.get("spec") is None else spec_from_dict(payload["spec"], source="spec")


def _stored(svc: "Service", schedule_id: str) -> Any:
    stored = svc.store.get(schedule_id)
    if stored is None:
        raise ValueError(f"schedule_id: plan {schedule_id!r} is no longer stored")
    return stored


def _schedule(svc: "Service", job: JobWork, progress: Progress) -> dict[str, Any]:
    p = job.params
    spec = _spec(svc, job.payload)
    orders = work.orders_for_slice(spec, p["demand_hours"])
    return work.plan_schedule(
        svc.store, job.id, spec, orders, horizon_hours=p["horizon_hours"], demand_hours=p["demand_hours"],
        objective=p["objective"], mode=p["mode"], time_limit=p["time_limit"], workers=svc.settings.workers, seed=p["seed"],
        progress=progress, availability=p.get("availability", False),  # jobs stored before the option plan nominally
        in_child=svc.settings.plan_in_process,
    )


def _twin(svc: "Service", job: JobWork, progress: Progress) -> dict[str, Any]:
    p = job.params
    stored = _stored(svc, p["schedule_id"]) if p.get("schedule_id") else None
    spec = stored.spec if stored is not None else _spec(svc, job.payload)
    settings = svc.settings
    # Long runs go to the cluster when there is one: a worker thread here is for minutes, not hours.
    long_run = p["weeks"] * p["replications"] >= settings.dask_min_replication_weeks
    cluster = settings.dask_scheduler if long_run else None
    return work.run_twin(spec, weeks=p["weeks"], replications=p["replications"], seed=p["seed"], progress=progress,
                         stored=stored, cluster=cluster, control=p.get("control", "repair"))


def _dispatch(svc: "Service", job: JobWork, progress: Progress) -> dict[str, Any]:
    p = job.params
    # The server's own floor and its configured URLs: a request never chooses where cells are.
    return work.dispatch_schedule(
        _stored(svc, p["schedule_id"]), floor=svc.spec, url_template=svc.settings.dispatch_url, first=p["first"],
        timeout=p["timeout"], journal_path=svc.journal_path, progress=progress,
        # Jobs stored before these options existed run as the CLI's defaults.
        down_after=p.get("down_after", DOWN_AFTER_S), carry_in=p.get("carry_in", "skip"),
        publish=lambda data: svc.bus.publish("dispatch", data), run_id=job.id,
    )
