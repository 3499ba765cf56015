"""Every knob of the service in one pydantic-settings object, read from `GWF_*` variables."""
from __future__ import annotations

from pathlib import Path

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """`GWF_HOST`, `GWF_PORT`, `GWF_DATA_DIR`, `GWF_SPEC`, `GWF_WORKERS`, `GWF_JOB_THREADS`."""

    model_config = SettingsConfigDict(env_prefix="GWF_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(Path("out/service"), description="schedules and the dispatch journal live here")
    spec: Path | None = Field(None, description="default factory spec; None = the built-in 1 GW catalog")
    workers: int = Field(2, ge=1, description="solver threads one planning job may use")
    job_threads: int = Field(2, ge=1, description="background jobs that run at once; more wait queued")
    # Access (gwf/service/auth.py): names this server answers to, and token-only mode.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host names requests may carry (GWF_ALLOWED_HOSTS=a.example,b.example); empty = loopback names and GWF_HOST")
    require_tokens: bool = Field(False, description="require a token even on loopback with no token issued (no local-development mode)")
    dispatch_url: str | None = Field(None, description="driver URL template replacing every cell's URL, '{id}' = cell id (demos on mock cells); requests never choose URLs")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value
