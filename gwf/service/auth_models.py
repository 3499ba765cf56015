"""Request and response bodies of the identity routes."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gwf.service.models import Request

RoleName = Literal["viewer", "planner", "operator", "admin"]


class TokenRequest(Request):
    name: str = Field(min_length=1, max_length=64, description="who or what holds the token, e.g. 'line-2-planner'")
    role: RoleName


class TokenOut(BaseModel):
    id: str
    name: str
    role: RoleName
    created: str
    revoked: str | None
    last_used: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown once, stored only as its SHA-256")


class Me(BaseModel):
    name: str
    role: RoleName
    token_id: str | None
    mode: Literal["local", "token"]
    may: dict[str, bool]


class AuditOut(BaseModel):
    seq: int | None
    at: str
    who: str
    token_id: str | None
    role: str | None
    action: str
    target: str | None
    status: int
    outcome: str
    detail: str | None
    client: str | None


class AuditPage(BaseModel):
    total: int
    offset: int
    limit: int
    records: list[AuditOut]
