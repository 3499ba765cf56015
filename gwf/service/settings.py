"""Every knob of the service in one pydantic-settings object, read from `GWF_*` variables."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """`GWF_HOST`, `GWF_PORT`, `GWF_DATA_DIR`, `GWF_SPEC`, `GWF_WORKERS`, `GWF_JOB_THREADS`,
    `GWF_DATABASE_URL`, `GWF_DASK_SCHEDULER` and the limits below."""

    model_config = SettingsConfigDict(env_prefix="GWF_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(Path("out/service"), description="the SQLite database and the dispatch journal live here")
    spec: Path | None = Field(None, description="default factory spec; None = the built-in 1 GW catalog")
    workers: int = Field(2, ge=1, description="solver threads one planning job may use")
    job_threads: int = Field(2, ge=1, description="background jobs that run at once; more wait queued")
    plan_in_process: bool = Field(True, description="plan in a child process, so the server keeps answering while it plans "
                                                    "(False: in a job thread of the server, e.g. for tests that replace the planner)")
    # Access (gwf/service/auth.py): names this server answers to, and token-only mode.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host names requests may carry (GWF_ALLOWED_HOSTS=a.example,b.example); empty = loopback names and GWF_HOST")
    require_tokens: bool = Field(False, description="require a token even on loopback with no token issued (no local-development mode)")
    dispatch_url: str | None = Field(None, description="driver URL template replacing every cell's URL, '{id}' = cell id (demos on mock cells); requests never choose URLs")
    database_url: str | None = Field(None, description="SQLAlchemy URL (postgresql+psycopg://...); None = DATA_DIR/gwf.sqlite")
    dask_scheduler: str | None = Field(None, description="tcp://host:8786 of a Dask cluster for long twin runs; None = run here")

    # Hostile input is cheap to refuse: every limit below is checked before any work is done.
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest request body; larger ones answer 413 while still arriving")
    max_queued_jobs: int = Field(16, ge=1, description="jobs waiting to run; beyond this a new job answers 429")
    retry_after_s: int = Field(5, ge=1, description="Retry-After of a 429")
    client_rate: float = Field(5.0, gt=0, description="state-changing requests per second one client (token or address) may make")
    client_burst: int = Field(20, ge=1, description="how many of them at once")
    max_plan_operations: int = Field(300_000, ge=1, description="operations one plan may hold (a week at 1 GW is ~70,000)")
    max_twin_replication_weeks: float = Field(260.0, gt=0, description="weeks x replications one twin job may simulate")
    dask_min_replication_weeks: float = Field(20.0, gt=0, description="twin jobs at least this long go to the Dask cluster when one is set")
    job_lease_s: float = Field(30.0, gt=0, description="a running job whose server has not renewed it for this long is taken over")
    job_attempts: int = Field(2, ge=1, description="times a job interrupted by a server dying is re-queued before it is marked interrupted")
    plan_cache: int = Field(4, ge=1, description="parsed plans kept in memory; the rest are read from the database on demand")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value
