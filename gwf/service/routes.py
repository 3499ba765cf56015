"""The HTTP routes. Each one parses its input (pydantic), calls one function of the service's
domain, and returns a model; long work is handed to the job runner and answered with 202."""
from __future__ import annotations

import time
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from gwf.service import limits, sse, views, work
from gwf.service.answers import cached, to_json
from gwf.service.auth import Role
from gwf.service.auth_http import html_page, identity_of, public, require
from gwf.service.models import (
    AssignmentPage, DispatchRequest, Health, JobOut, Problem, ScheduleRequest, SpecOut, SpecSummary,
    TwinRequest, Utilisation,
)
from gwf.service.jobs import JobConflict, JobFinished
from gwf.service.state import Service
from gwf.service.store import StoredSchedule

# Answers any route may give: bad input (including business rules such as too little demand or
# a plan over the size limit), a body too large or of the wrong type, a client over its budget
# or a full job queue. Every one is a Problem, documented as JSON.
_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
COMMON: dict[int | str, dict[str, Any]] = {
    413: {"content": _PROBLEM, "description": "the body is larger than the server accepts"},
    415: {"content": _PROBLEM, "description": "a body of a type other than JSON (or YAML where accepted)"},
    422: {"content": _PROBLEM, "description": "bad input, by the schema or a business rule (demand, size limits): `field.path: what is wrong`"},
    429: {"content": _PROBLEM, "description": "too many requests from this client, or too many jobs waiting; see Retry-After",
          "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}},
}
router = APIRouter(prefix="/api", responses=COMMON)
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such id"},
    500: {"model": Problem, "description": "the stored plan is damaged (reported for that plan alone)"},
}
# Who may call what (gwf/service/auth.py): each route names its least role; a route without one stops the app.
PUBLIC, VIEWER, PLANNER, OPERATOR = [public()], [require(Role.viewer)], [require(Role.planner)], [require(Role.operator)]
# The same for a route that answers HTML: its errors are still JSON.
HTML_ERRORS = {code: {"content": _PROBLEM, "description": answer["description"]} for code, answer in ERRORS.items()}


async def service(request: Request) -> Service:
    # async: a plain function would be run on a worker thread, a hop per request for an attribute read.
    return request.app.state.service


def _schedule(svc: Service, schedule_id: str) -> StoredSchedule:
    stored = svc.store.get(schedule_id)
    if stored is None:
        raise HTTPException(404, f"schedule_id: no schedule {schedule_id!r}; GET /api/schedules lists them")
    return stored


def _spec_params(body: Any) -> str:
    """What a job's params say about its spec (the body itself can be megabytes)."""
    return "default" if body is None else "request"


def _payload(body: Any, spec: Any) -> dict[str, Any]:
    """What a worker needs besides the params: the request's spec as checked, or None for the server's."""
    return {"spec": None if body is None else spec.model_dump(mode="json")}


@router.get("/health", response_model=Health, dependencies=PUBLIC)
def health(svc: Service = Depends(service)) -> Health:
    try:
        version = metadata.version("gwfactory")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Health(version=version, spec=svc.spec_source, planner=work.PLANNER, twin=work.TWIN, gantt=True,
                  database=svc.db.dialect)


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
    raw = await request.body()  # bounded by the body-size limit while it arrives
    return SpecSummary(**await run_in_threadpool(_validate, svc, raw, request.headers.get("content-type", "")))


def _validate(svc: Service, raw: bytes, media_type: str) -> dict[str, Any]:
    """Parsing and checking a spec is CPU work: it runs on a worker thread, never on the event loop."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("spec: the body is not UTF-8 text") from None
    return views.spec_summary(svc.spec_from_text(text, media_type))


@router.post("/schedules", status_code=202, response_model=JobOut, responses=ERRORS, dependencies=PLANNER)
def start_schedule(body: ScheduleRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Plan a slice of demand in the background; the job's id is also the schedule's id."""
    spec = svc.spec_for(body.spec)
    demand_hours = body.demand_hours or body.horizon_hours
    limits.check_plan_size(spec, demand_hours, svc.settings.max_plan_operations)
    work.orders_for_slice(spec, demand_hours)  # too little demand is the caller's to fix: 422 now
    params = {**body.model_dump(exclude={"spec"}), "demand_hours": demand_hours, "spec": _spec_params(body.spec)}
    return svc.runner.submit("schedule", params, _payload(body.spec, spec))


@router.get("/schedules", response_model=list[dict[str, Any]], dependencies=VIEWER)
async def list_schedules(svc: Service = Depends(service)) -> Response:
    """Every stored plan's summary, oldest first."""
    # Reads are answered from kept bytes on the event loop; only a miss reads the database, on a worker thread.
    body = svc.store.answers.plan_list()
    if body is None:
        read_at = time.monotonic()
        body = to_json(list[dict[str, Any]], await run_in_threadpool(svc.store.summaries))
        svc.store.answers.keep_plan_list(body, read_at)
    return _json(body)


@router.get("/schedules/{schedule_id}", response_model=AssignmentPage, responses=ERRORS, dependencies=VIEWER)
async def get_schedule(
    schedule_id: str,
    cell: str | None = None, pool: str | None = None, job: str | None = None,
    start: int | None = Query(None, description="keep assignments that end after this second"),
    end: int | None = Query(None, description="keep assignments that start before this second"),
    offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10000),
    svc: Service = Depends(service),
) -> Response:
    def page() -> bytes:
        stored = _schedule(svc, schedule_id)
        found = views.assignment_page(stored, cell=cell, pool=pool, job=job, start=start, end=end, offset=offset, limit=limit)
        return to_json(AssignmentPage, {"schedule": views.schedule_summary(stored), **found})

    return _json(await _plan_answer(svc, schedule_id, ("page", cell, pool, job, start, end, offset, limit), page))


@router.get("/schedules/{schedule_id}/utilisation", response_model=Utilisation, responses=ERRORS, dependencies=VIEWER)
async def get_utilisation(schedule_id: str, buckets: int = Query(48, ge=1, le=1000), svc: Service = Depends(service)) -> Response:
    return _json(await _plan_answer(svc, schedule_id, ("utilisation", buckets),
                                    lambda: to_json(Utilisation, views.utilisation(_schedule(svc, schedule_id), buckets))))


async def _plan_answer(svc: Service, schedule_id: str, key: Any, compute: Any) -> bytes:
    """A view of a stored plan as the bytes sent: kept ones at once, others computed on a
    worker thread (a database read and a filter over the whole plan) and kept."""
    body = svc.store.answers.get(schedule_id, key)
    if body is None:
        body = await run_in_threadpool(cached, svc.store.answers, schedule_id, key, compute)
    return body


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/schedules/{schedule_id}/gantt", response_class=HTMLResponse, responses=HTML_ERRORS, dependencies=VIEWER)
def get_gantt(schedule_id: str, svc: Service = Depends(service)) -> HTMLResponse:
    # Its own policy: the page's one inline script, hashed (gwf/service/auth_http.py).
    return html_page(views.gantt_html(_schedule(svc, schedule_id)), inline_scripts=1)


@router.get("/jobs", response_model=list[JobOut], dependencies=VIEWER)
def list_jobs(kind: str | None = None, svc: Service = Depends(service)) -> list[dict[str, Any]]:
    return svc.runner.list(kind)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS, dependencies=VIEWER)
def get_job(job_id: str, svc: Service = Depends(service)) -> dict[str, Any]:
    job = svc.runner.get(job_id)
    if job is None:
        raise HTTPException(404, f"job_id: no job {job_id!r}; GET /api/jobs lists them")
    return job


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
    return job


@router.post("/twin", status_code=202, response_model=JobOut, responses=ERRORS, dependencies=PLANNER)
def start_twin(body: TwinRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Run the digital twin for `weeks` x `replications` in the background."""
    if body.schedule_id is not None and body.spec is not None:
        raise ValueError("spec: give a spec or a schedule_id (a plan brings its own spec), not both")
    limits.check_twin_size(body.weeks, body.replications, svc.settings.max_twin_replication_weeks)
    if body.schedule_id is not None:
        _schedule(svc, body.schedule_id)
    spec = svc.spec_for(body.spec)
    params = {**body.model_dump(exclude={"spec"}), "spec": _spec_params(body.spec)}
    return svc.runner.submit("twin", params, _payload(body.spec, spec))


@router.post("/dispatch", status_code=202, response_model=JobOut, responses={**ERRORS, 409: {"model": Problem, "description": "the plan is already being dispatched"}}, dependencies=OPERATOR)
def start_dispatch(body: DispatchRequest, svc: Service = Depends(service)) -> dict[str, Any]:
    """Send a stored plan's jobs to the cells' controllers in the background, journaled."""
    stored = _schedule(svc, body.schedule_id)
    work.check_dispatchable(stored, svc.spec)  # only plans of the configured floor reach its cells
    try:
        # Two runs of one plan at once would race for the same journal rows and controllers.
        return svc.runner.submit("dispatch", body.model_dump(), exclusive=f"dispatch:{stored.id}")
    except JobConflict as exc:
        holder = exc.holder["id"]
        raise HTTPException(409, f"schedule_id: plan {stored.id!r} is already being dispatched by job {holder}; wait for it or follow GET /api/jobs/{holder}") from None


# One event of the stream (`id:`, `event:`, `data:` lines): the data is JSON text holding the
# sequence number, kind, time and `data`, a job record (`job`) or a dispatch run's counts (`dispatch`).
_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "id": {"type": "string", "pattern": "^[0-9]+$"},
    "event": {"type": "string", "enum": ["job", "dispatch"]},
    "retry": {"type": "integer"},
    "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {
        "type": "object", "required": ["seq", "kind", "at", "data"], "properties": {
            "seq": {"type": "integer", "minimum": 1}, "kind": {"type": "string", "enum": ["job", "dispatch"]},
            "at": {"type": "string", "description": "ISO-8601 UTC"}, "data": {"type": "object"}}}}}}
# Declared by hand: a header is text, never `null`, which is what `int | None` would document.
_LAST_EVENT_ID = {"name": "last-event-id", "in": "header", "required": False, "description": "what browsers send on reconnect: replay after this",
                  "schema": {"type": "integer", "minimum": 0}}


@router.get("/events", response_class=StreamingResponse, openapi_extra={"parameters": [_LAST_EVENT_ID]},
            responses={200: {"content": {"text/event-stream": {"schema": _EVENT}}}}, dependencies=VIEWER)
async def events(
    request: Request,
    since: int | None = Query(None, ge=0, description="replay kept events after this sequence number"),
    limit: int | None = Query(None, ge=1, description="end the stream after this many events"),
    wait: float | None = Query(None, gt=0, le=3600, description="end the stream after this many seconds"),
    svc: Service = Depends(service),
) -> StreamingResponse:
    """Server-Sent Events: `job` (status and progress of every background job) and `dispatch`
    (counts per state and recent transitions of a dispatch run)."""
    last_event_id = _event_id(request.headers.get("last-event-id"))
    stream = sse.stream(svc.bus, since=last_event_id if last_event_id is not None else since, limit=limit, wait=wait,
                        disconnected=request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event_id(header: str | None) -> int | None:
    if header is None:
        return None
    if not header.strip().isdigit():
        raise ValueError(f"header.last-event-id: {header[:40]!r} is not an event number; send a whole number >= 0")
    return int(header)
