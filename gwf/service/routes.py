"""The HTTP routes. Each one parses its input (pydantic), calls one function of the service's
domain, and returns a model; long work is handed to the job runner and answered with 202."""
from __future__ import annotations

from importlib import metadata
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from gwf.service import domain, sse, views, work
from gwf.service.auth import Role
from gwf.service.auth_http import html_page, identity_of, public, require
from gwf.service.models import (
    AssignmentPage, DispatchRequest, Health, JobOut, Problem, ScheduleRequest, SpecOut, SpecSummary,
    TwinRequest, Utilisation,
)
from gwf.service.jobs import JobConflict, JobFinished, new_job_id
from gwf.service.state import Service
from gwf.service.store import StoredSchedule

router = APIRouter(prefix="/api")
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such id"},
    422: {"model": Problem, "description": "bad input: `field.path: what is wrong`"},
}
# Who may call what (gwf/service/auth.py): each route names its least role; a route without one stops the app.
PUBLIC, VIEWER, PLANNER, OPERATOR = [public()], [require(Role.viewer)], [require(Role.planner)], [require(Role.operator)]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": Problem, "description": "component not in this build"}}


def service(request: Request) -> Service:
    return request.app.state.service


def _schedule(svc: Service, schedule_id: str) -> StoredSchedule:
    stored = svc.store.get(schedule_id)
    if stored is None:
        raise HTTPException(404, f"schedule_id: no schedule {schedule_id!r}; GET /api/schedules lists them")
    return stored


def _spec_params(body: Any) -> str:
    """What a job's params say about its spec (the body itself can be megabytes)."""
    return "default" if body is None else "request"


@router.get("/health", response_model=Health, dependencies=PUBLIC)
def health(svc: Service = Depends(service)) -> Health:
    try:
        version = metadata.version("gwfactory")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Health(version=version, spec=svc.spec_source, planner=domain.planner_name(), twin=domain.twin_name(),
                  gantt=domain.has_gantt())


@router.get("/spec", response_model=SpecOut, dependencies=VIEWER)
def get_spec(svc: Service = Depends(service)) -> SpecOut:
    return SpecOut(source=svc.spec_source, summary=SpecSummary(**views.spec_summary(svc.spec)), spec=svc.spec.model_dump(mode="json"))


@router.post(
    "/spec/validate", response_model=SpecSummary, responses=ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/yaml": {"schema": {"type": "string"}, "example": "name: tiny\nproducts: [...]"},
        "application/json": {"schema": {"type": "object"}},
    }}},
    dependencies=PLANNER,
)
async def validate_spec(request: Request, svc: Service = Depends(service)) -> SpecSummary:
    """Body: a spec as YAML or JSON text. 200 with its summary, or 422 with the first problem."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("spec: the body is not UTF-8 text") from None
    return SpecSummary(**views.spec_summary(svc.spec_from_text(text, request.headers.get("content-type", ""))))


@router.post("/schedules", status_code=202, response_model=JobOut, responses={**ERRORS, **UNAVAILABLE}, dependencies=PLANNER)
def start_schedule(body: ScheduleRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Plan a slice of demand in the background; the job's id is also the schedule's id."""
    spec = svc.spec_for(body.spec)  # a bad spec is the caller's to fix whatever this build holds
    if domain.planner_name() is None:
        raise domain.Unavailable("planner not available in this build")
    demand_hours = body.demand_hours or body.horizon_hours
    orders = work.orders_for_slice(spec, demand_hours)
    params = {**body.model_dump(exclude={"spec"}), "demand_hours": demand_hours, "spec": _spec_params(body.spec)}

    schedule_id = new_job_id()

    def job(progress: work.Progress) -> dict[str, Any]:
        return work.plan_schedule(
            svc.store, schedule_id, spec, orders, horizon_hours=body.horizon_hours, demand_hours=demand_hours,
            objective=body.objective, mode=body.mode, time_limit=body.time_limit, workers=svc.settings.workers, seed=body.seed,
            progress=progress,
        )

    return svc.runner.submit("schedule", job, params, job_id=schedule_id).to_dict()


@router.get("/schedules", response_model=list[dict[str, Any]], dependencies=VIEWER)
def list_schedules(svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """Every stored plan's summary, oldest first."""
    return [views.schedule_summary(stored) for stored in map(svc.store.get, svc.store.ids()) if stored is not None]


@router.get("/schedules/{schedule_id}", response_model=AssignmentPage, responses=ERRORS, dependencies=VIEWER)
def get_schedule(
    schedule_id: str,
    cell: str | None = None, pool: str | None = None, job: str | None = None,
    start: int | None = Query(None, description="keep assignments that end after this second"),
    end: int | None = Query(None, description="keep assignments that start before this second"),
    offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10000),
    svc: Service = Depends(service),
) -> dict[str, Any]:
    stored = _schedule(svc, schedule_id)
    page = views.assignment_page(stored, cell=cell, pool=pool, job=job, start=start, end=end, offset=offset, limit=limit)
    return {"schedule": views.schedule_summary(stored), **page}


@router.get("/schedules/{schedule_id}/utilisation", response_model=Utilisation, responses=ERRORS, dependencies=VIEWER)
def get_utilisation(schedule_id: str, buckets: int = Query(48, ge=1, le=1000), svc: Service = Depends(service)) -> dict[str, Any]:
    return views.utilisation(_schedule(svc, schedule_id), buckets)


@router.get("/schedules/{schedule_id}/gantt", response_class=HTMLResponse, responses=ERRORS, dependencies=VIEWER)
def get_gantt(schedule_id: str, svc: Service = Depends(service)) -> HTMLResponse:
    # Its own policy: the page's one inline script, hashed (gwf/service/auth_http.py).
    return html_page(views.gantt_html(_schedule(svc, schedule_id)), inline_scripts=1)


@router.get("/jobs", response_model=list[JobOut], dependencies=VIEWER)
def list_jobs(kind: str | None = None, svc: Service = Depends(service)) -> list[dict[str, Any]]:
    return [job.to_dict() for job in svc.runner.list(kind)]


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, dependencies=VIEWER)
def get_job(job_id: str, svc: Service = Depends(service)) -> dict[str, Any]:
    job = svc.runner.get(job_id)
    if job is None:
        raise HTTPException(404, f"job_id: no job {job_id!r}; GET /api/jobs lists them")
    return job.to_dict()


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, dependencies=OPERATOR,
             responses={**ERRORS, 409: {"model": Problem, "description": "the job already ended"}})
def cancel_job(job_id: str, request: Request, svc: Service = Depends(service)) -> dict[str, Any]:
    """Cancel a job: a queued one never starts, a running one stops at its next progress step
    (status `cancelled`; a dispatch leaves its journal to resume from)."""
    who = identity_of(request)
    try:
        job = svc.runner.cancel(job_id, by=who.name if who else "anonymous")
    except JobFinished as exc:
        raise HTTPException(409, str(exc)) from None
    if job is None:
        raise HTTPException(404, f"job_id: no job {job_id!r}; GET /api/jobs lists them")
    return job.to_dict()


@router.post("/twin", status_code=202, response_model=JobOut, responses={**ERRORS, **UNAVAILABLE}, dependencies=PLANNER)
def start_twin(body: TwinRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Run the digital twin for `weeks` x `replications` in the background."""
    if body.schedule_id is not None and body.spec is not None:
        raise ValueError("spec: give a spec or a schedule_id (a plan brings its own spec), not both")
    stored = _schedule(svc, body.schedule_id) if body.schedule_id is not None else None
    spec = stored.spec if stored is not None else svc.spec_for(body.spec)
    if domain.twin_name() is None:
        raise domain.Unavailable("twin not available in this build")
    params = {**body.model_dump(exclude={"spec"}), "spec": _spec_params(body.spec)}
    job = svc.runner.submit("twin", lambda progress: work.run_twin(
        spec, weeks=body.weeks, replications=body.replications, seed=body.seed, progress=progress, stored=stored), params)
    return job.to_dict()


@router.post("/dispatch", status_code=202, response_model=JobOut, responses={**ERRORS, 409: {"model": Problem, "description": "the plan is already being dispatched"}}, dependencies=OPERATOR)
def start_dispatch(body: DispatchRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Send a stored plan's jobs to the cells' controllers in the background, journaled."""
    stored = _schedule(svc, body.schedule_id)
    work.check_dispatchable(stored, svc.spec)  # only plans of the configured floor reach its cells
    dispatch_id = new_job_id()

    def job(progress: work.Progress) -> dict[str, Any]:
        return work.dispatch_schedule(
            stored, floor=svc.spec, url_template=svc.settings.dispatch_url, first=body.first, timeout=body.timeout, journal_path=svc.journal_path,
            progress=progress, publish=lambda data: svc.bus.publish("dispatch", data), run_id=dispatch_id,
        )

    try:
        # Two runs of one plan at once would race for the same journal rows and controllers.
        submitted = svc.runner.submit("dispatch", job, body.model_dump(), job_id=dispatch_id, exclusive=f"dispatch:{stored.id}")
    except JobConflict as exc:
        raise HTTPException(409, f"schedule_id: plan {stored.id!r} is already being dispatched by job {exc.holder.id}; wait for it or follow GET /api/jobs/{exc.holder.id}") from None
    return submitted.to_dict()


@router.get("/events", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}}, dependencies=VIEWER)
async def events(
    request: Request,
    since: int | None = Query(None, ge=0, description="replay kept events after this sequence number"),
    limit: int | None = Query(None, ge=1, description="end the stream after this many events"),
    wait: float | None = Query(None, gt=0, le=3600, description="end the stream after this many seconds"),
    last_event_id: int | None = Header(None, ge=0),
    svc: Service = Depends(service),
) -> StreamingResponse:
    """Server-Sent Events: `job` (status and progress of every background job) and `dispatch`
    (counts per state and recent transitions of a dispatch run)."""
    stream = sse.stream(svc.bus, since=last_event_id if last_event_id is not None else since, limit=limit, wait=wait,
                        disconnected=request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
