"""Request and response bodies of the HTTP API. Requests forbid unknown fields so a typo
answers 422 naming it instead of being silently ignored."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A spec in a request: YAML text, a JSON object, or omitted for the server's default spec.
SpecBody = dict[str, Any] | str | None
# What the planning engine optimises: MW finished inside the horizon, or the makespan.
Objective = Literal["mw", "makespan"]
WEEK_H = 168.0
# A cell unreachable this long is declared down and its queue moves (as `gwf dispatch`'s default).
# Past an hour a dead cell would hold its whole queue back for most of a shift.
DOWN_AFTER_S = 60.0
DOWN_AFTER_RANGE = (0.0, 3600.0)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleRequest(Request):
    spec: SpecBody = Field(None, description="factory spec as YAML text or a JSON object; omitted = the server's spec")
    horizon_hours: float = Field(8.0, gt=0, le=4 * WEEK_H, description="length of the plan")
    demand_hours: float | None = Field(None, gt=0, le=4 * WEEK_H, description="hours of weekly demand to plan; default = horizon_hours")
    time_limit: float = Field(10.0, gt=0, le=3600, description="seconds the planner may search")
    objective: Objective = "mw"
    mode: Literal["steady-state", "from-empty"] = Field(
        "steady-state", description="plan a running floor (work in progress carried in from a warm-up) or an empty one")
    availability: bool = Field(False, description="plan at durations derated for the cells' MTTF/MTTR, as `gwf schedule --availability`")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class TwinRequest(Request):
    spec: SpecBody = None
    schedule_id: str | None = Field(None, min_length=1, max_length=64, description="run this stored plan on the twin (its own spec) instead of the release policy")
    control: Literal["blind", "repair", "replan", "rule"] = Field(
        "repair", description="executing a plan: the floor controller's policy (docs/loop.md); rule = the dispatch rule on the plan's units")
    weeks: float = Field(1.0, gt=0, le=52)
    replications: int = Field(5, ge=2, le=1000, description="independent runs; at least 2 for a confidence interval")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class DispatchRequest(Request):
    """Names a stored plan, never a target: its cells are reached at the URLs of the spec the
    server was started with (a caller choosing URLs could write files or scan the network)."""

    schedule_id: str = Field(min_length=1, max_length=64)
    first: int | None = Field(None, ge=1, description="dispatch only the first N assignments by start time")
    timeout: float = Field(30.0, gt=0, le=3600, description="seconds to wait for a controller's answer")
    down_after: float = Field(DOWN_AFTER_S, description=f"seconds a cell may stay unreachable before its queued work moves to "
                                                         f"other cells of its pool, {DOWN_AFTER_RANGE[0]:g} (at once) to {DOWN_AFTER_RANGE[1]:g}; `gwf dispatch --down-after`")
    carry_in: Literal["skip", "send"] = Field(
        "skip", description="a steady-state plan's units carried in from its warm-up (-wip): skip (already on the floor) or send; `gwf dispatch --carry-in`")

    @field_validator("down_after")
    @classmethod
    def _down_after_in_range(cls, value: float) -> float:
        low, high = DOWN_AFTER_RANGE
        if not low <= value <= high:  # NaN fails too
            raise ValueError(f"must be between {low:g} and {high:g} seconds (0: at once), got {value:g}")
        return value


class Problem(BaseModel):
    """Every error answer: one line naming the field path and what is wrong."""

    detail: str
    field: str | None = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    spec: str
    planner: str
    twin: str
    gantt: bool
    database: str = Field(description="sqlite or postgresql")


class SpecSummary(BaseModel):
    name: str
    products: int
    cells: int
    cells_per_type: dict[str, int]
    demand_mw: dict[str, float]
    target_mw: dict[str, float]
    facility_gw: float
    demand_deployable_gw: float
    operations_per_week: int


class SpecOut(BaseModel):
    source: str
    summary: SpecSummary
    spec: dict[str, Any]


class JobProgress(BaseModel):
    fraction: float
    message: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "interrupted", "cancelled"]
    progress: JobProgress
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created: str
    started: str | None
    finished: str | None


class AssignmentOut(BaseModel):
    job: str
    op: str
    cell: str
    pool: str | None
    start: int
    end: int


class AssignmentPage(BaseModel):
    schedule: dict[str, Any]
    total: int
    offset: int
    limit: int
    assignments: list[AssignmentOut]


class PoolUtilisation(BaseModel):
    name: str
    cells: list[str]
    capacity: int = Field(description="jobs the pool holds at once: cells x per_cell")
    per_cell: int = Field(description="jobs one cell holds at once (a burn-in bay holds many racks; it is still one bay)")
    busy: list[float]
    mean: float


class Utilisation(BaseModel):
    id: str
    span_s: float
    bucket_s: float
    buckets: int
    pools: list[PoolUtilisation]
